"""Adaptive allocation: spend little where the first samples agree confidently, more where they do
not, up to the user's cap (Snell et al. 2024's compute-optimal idea, decided per question).

How hard a question is, is read from the first samples — never from a gold answer:

1. **warm-up** — ``first`` solutions (``o1agent.search.chains``; greedy decoding is one of them);
2. **easy** — they all state the same answer and each one's trace confidence (DeepConf's lowest
   group confidence, ``o1agent.search.deepconf``) is at least ``confident``: stop there;
3. **otherwise** — ``wave`` more solutions at a time until the vote is settled under
   ``adaptive_sc``'s Beta / Dirichlet rule (``threshold``), or ``max_samples`` were drawn;
4. **the answer** — DeepConf's vote: the top ``eta`` % of traces by confidence, each weighted by
   its confidence (a plain majority when the backend gives no top logprobs).

``Result.allocation`` says, per question, what was spent and why: ``samples``, ``waves``,
``difficulty`` (``"easy"``: stopped after the warm-up; ``"settled"``: the rule stopped it;
``"hard"``: the cap or the budget did), the stopping reason, the posterior and the confidences.

Why a strategy and not ``budget="auto"``: a ``Budget`` is a hard cap that means the same for
every strategy (and stays the user's: the run never spends past it, whatever this decides); where
to spend under it is a search decision, so it lives with the other strategies and composes their
pieces. ``confident`` is in DeepConf units (mean negative top-k logprob, top 20); it and
``threshold`` were chosen for SmolLM2 on a dev seed by ``benchmarks/adaptive_calibration.py``
(README, "Grounded and adaptive strategies") — set them for another model, or ``confident=None``
to stop on agreement alone. Below a threshold of 0.875 a unanimous warm-up of two is settled
whatever its confidence; above it, only a confident one stops there. Run it with ``reward="none"``: nothing here needs a grader.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..config import GenerationConfig
from ..schema import Tree
from .adaptive_sc import AdaptiveSC, AdaptiveSCConfig
from .base import register_strategy
from .chains import Vote
from .deepconf import DeepConf, DeepConfConfig, Measure


class AdaptiveConfig(AdaptiveSCConfig):
    first: int = Field(default=2, ge=1, le=64, description="warm-up solutions sampled first")
    max_samples: int = Field(
        default=8, ge=1, le=64, description="most solutions sampled (the budget caps too)"
    )
    threshold: float = Field(
        default=0.8, gt=0.5, lt=1.0, description="stop once the vote is settled with this probability"
    )
    confident: float | None = Field(
        default=6.0,
        ge=0.0,
        description="a unanimous warm-up whose every trace confidence is at least this stops there (None: "
        "agreement alone)",
    )
    eta: float = Field(
        default=90.0, gt=0.0, le=100.0, description="the top eta % of traces by confidence vote"
    )
    measure: Measure = Field(default="lowest_group", description="trace confidence (see deepconf)")
    window: int = Field(default=32, ge=1, le=4096, description="tokens per sliding-window group")
    tail: int = Field(default=32, ge=1, le=4096, description="tokens of the tail confidence")
    top_k: int = Field(default=20, ge=1, le=20, description="top logprobs per token the confidence averages")


class Adaptive(AdaptiveSC):
    name = "adaptive"
    config_class = AdaptiveConfig

    def __init__(
        self, config: AdaptiveConfig | None = None, generation: GenerationConfig | None = None
    ) -> None:
        super().__init__(config, generation)
        cfg: AdaptiveConfig = self.config  # type: ignore[assignment]
        # The confidence half is DeepConf's own (offline: filter and weigh), over the same chains.
        self.conf = DeepConf(
            DeepConfConfig(
                n=cfg.max_samples,
                eta=cfg.eta,
                measure=cfg.measure,
                window=cfg.window,
                tail=cfg.tail,
                top_k=cfg.top_k,
            ),
            self.generation,
        )
        self.top_logprobs = cfg.top_k

    def warm_confidences(self, tree: Tree, state: dict[str, Any]) -> list[float | None]:
        return [self.conf.confidence(tree, c) for c in state.get("chains", []) if self.wave(state, c) == 1]

    def easy(self, tree: Tree, state: dict[str, Any]) -> bool:
        """The warm-up alone answered: one answer from every sample, each confident enough."""
        cfg: AdaptiveConfig = self.config  # type: ignore[assignment]
        if int(state.get("waves", 0)) != 1:
            return False
        counts = self.counts(tree, state)
        samples = len([c for c in tree.children(tree.root_id) if c.revised_from is None])
        if len(counts) != 1 or sum(counts.values()) < samples:
            return False
        if cfg.confident is None:
            return True
        confs = self.warm_confidences(tree, state)
        return bool(confs) and all(c is not None and c >= cfg.confident for c in confs)

    def more(self, tree: Tree, state: dict[str, Any]) -> int:
        return 0 if self.easy(tree, state) else super().more(tree, state)

    def votes(self, tree: Tree, state: dict[str, Any]) -> list[Vote]:
        return self.conf.votes(tree, state)

    def difficulty(self, tree: Tree, state: dict[str, Any]) -> str | None:
        if not state.get("started") or self.running(tree, state):
            return None
        if self.easy(tree, state):
            return "easy"
        return "settled" if self.is_settled(tree, state) else "hard"

    def stop_reason(self, tree: Tree, state: dict[str, Any]) -> str | None:
        if self.difficulty(tree, state) == "easy":
            return f"the {self.drawn(tree)} warm-up samples agree, each confident enough"
        return super().stop_reason(tree, state)

    def allocation(self, tree: Tree, state: dict[str, Any]) -> dict[str, Any] | None:
        report = super().allocation(tree, state)
        if report is None:
            return None
        confs = [c for c in self.warm_confidences(tree, state) if c is not None]
        report.update(
            difficulty=self.difficulty(tree, state),
            warmup_confidence=round(min(confs), 3) if confs else None,
        )
        kept = self.conf.kept(tree, state)
        if kept is None:
            report["note"] = "no token confidences (no top logprobs from the backend): unweighted majority"
        else:
            report["confidence"] = {k: round(v, 3) for k, v in kept.items()}
        return report


@register_strategy("adaptive", AdaptiveConfig)
def make_adaptive(config: AdaptiveConfig, generation: GenerationConfig) -> Adaptive:
    return Adaptive(config, generation)
