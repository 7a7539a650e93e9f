"""DeepConf (Fu et al. 2025, "Deep Think with Confidence", arXiv 2508.15260): confidence-filtered,
confidence-weighted voting over sampled solutions, offline or with online early stopping.

The signal is the policy's own: the token confidence ``C_i`` (mean negative log-probability of the
``top_k`` most likely tokens at position ``i``, ``o1agent.rewards.confidence.token_confidences``),
kept on each node because this strategy asks the graph for top logprobs (``top_logprobs``). Over
the concatenated tokens of a chain's path:

* *group confidence* — the mean ``C`` over a sliding window of ``window`` tokens (the whole trace
  when it is shorter);
* the *trace confidence* (``measure``) — ``"lowest_group"`` (default: the weakest stretch of the
  reasoning), ``"bottom10"`` (mean of the lowest 10 % of groups), ``"tail"`` (mean ``C`` of the
  last ``tail`` tokens, where the answer is written) or ``"mean"`` (over all tokens).

Offline (``online=False``): ``n`` chains (``o1agent.search.chains``), then only the top ``eta`` %
by trace confidence vote, each weighted by its confidence (DeepConf-low is ``eta=10``, -high
``eta=90``). Online: a warm-up wave of ``warmup`` chains runs to the end; the threshold is the
(100 − ``eta``)-th percentile of their confidences; further waves of ``wave`` chains follow, and
a chain whose lowest group confidence so far falls below the threshold is stopped (pruned; it
does not vote). Sampling ends at ``n`` chains, or as soon as the leading answer holds
``consensus`` of the confidence-weighted vote. The warm-up chains at or above the threshold and
the later chains that were never stopped vote, weighted by confidence.

Granularity: the graph decodes a step at a time, so a chain is stopped at the end of the step in
which its confidence fell, not at the token (that step's tokens are spent and counted). Without
token confidences (a backend that returns no top logprobs) every trace weighs 1 — a plain majority
— and ``allocation`` says so. Run it with ``reward="none"``: the vote needs no grader.

What it is not: a verifier — a model can be confidently wrong; see ``verified_vote``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from ..config import GenerationConfig
from ..schema import Tree
from .base import StrategyConfig, register_strategy
from .chains import ChainSampler, Vote, tally

Measure = Literal["lowest_group", "bottom10", "tail", "mean"]


def path_confidences(tree: Tree, node_id: str) -> list[float]:
    """The token confidences of the path from the root's child to ``node_id``, in order (steps
    without them contribute none)."""
    return [c for n in tree.path(node_id) for c in (n.token_confidence or ())]


def group_confidences(conf: Sequence[float], window: int) -> list[float]:
    """Mean confidence of every ``window``-token stretch (stride 1); one group when shorter."""
    if not conf:
        return []
    if len(conf) <= window:
        return [sum(conf) / len(conf)]
    run = sum(conf[:window])
    out = [run / window]
    for i in range(window, len(conf)):
        run += conf[i] - conf[i - window]
        out.append(run / window)
    return out


def trace_confidence(conf: Sequence[float], measure: Measure, *, window: int, tail: int) -> float | None:
    """One trace's confidence under ``measure`` (see the module docstring); ``None`` without
    token confidences."""
    if not conf:
        return None
    if measure == "mean":
        return sum(conf) / len(conf)
    if measure == "tail":
        last = conf[-tail:]
        return sum(last) / len(last)
    groups = group_confidences(conf, window)
    if measure == "lowest_group":
        return min(groups)
    low = sorted(groups)[: max(1, math.ceil(0.1 * len(groups)))]
    return sum(low) / len(low)


class DeepConfConfig(StrategyConfig):
    n: int = Field(default=8, ge=1, le=64, description="most solutions sampled (offline: exactly this many)")
    eta: float = Field(
        default=90.0,
        gt=0.0,
        le=100.0,
        description="keep the top eta % of traces by confidence (10: -low, 90: -high)",
    )
    measure: Measure = Field(
        default="lowest_group",
        description="trace confidence: 'lowest_group', 'bottom10' (mean of the lowest 10 % of groups), 'tail' or 'mean'",
    )
    window: int = Field(default=32, ge=1, le=4096, description="tokens per sliding-window group")
    tail: int = Field(default=32, ge=1, le=4096, description="tokens of the tail confidence")
    top_k: int = Field(default=20, ge=1, le=20, description="top logprobs per token the confidence averages")
    online: bool = Field(
        default=False, description="warm up, then stop traces whose confidence falls below the threshold"
    )
    warmup: int = Field(
        default=4, ge=1, le=64, description="online: traces run to the end to set the threshold"
    )
    wave: int = Field(default=2, ge=1, le=64, description="online: traces sampled per later wave")
    consensus: float | None = Field(
        default=0.95,
        gt=0.5,
        le=1.0,
        description="online: stop sampling once the leading answer holds this share of the weighted vote",
    )

    @model_validator(mode="after")
    def _warmup_fits(self) -> DeepConfConfig:
        if self.online and self.warmup > self.n:
            raise ValueError(f"warmup ({self.warmup}) must not exceed n ({self.n})")
        return self


class DeepConf(ChainSampler[DeepConfConfig]):
    name = "deepconf"
    config_class = DeepConfConfig

    def __init__(
        self, config: DeepConfConfig | None = None, generation: GenerationConfig | None = None
    ) -> None:
        super().__init__(config, generation)
        # Read by the graph: ask for this many top logprobs and keep token confidences on nodes.
        self.top_logprobs = self.config.top_k

    # ---- confidence ---------------------------------------------------------------------------

    def confidence(self, tree: Tree, node_id: str) -> float | None:
        cfg = self.config
        return trace_confidence(
            path_confidences(tree, node_id), cfg.measure, window=cfg.window, tail=cfg.tail
        )

    def running_confidence(self, tree: Tree, node_id: str) -> float | None:
        """Online stopping reads the lowest group so far, whatever the final ``measure``."""
        conf = path_confidences(tree, node_id)
        return min(group_confidences(conf, self.config.window)) if conf else None

    def threshold(self, tree: Tree, state: dict[str, Any]) -> float | None:
        """Online: the (100 − eta)-th percentile of the finished warm-up traces' confidences
        (each counted once per sample it stands for); ``None`` until the warm-up has ended or
        without token confidences."""
        if not self.config.online or not state.get("started"):
            return None
        warm = [c for c in state.get("chains", []) if self.wave(state, c) == 1]
        if not warm or any(self.chain_live(tree, state, c) for c in warm):
            return None
        confs: list[float] = []
        for b in self.ballots(tree, state):
            if self.wave(state, b.node.id) == 1 and (c := self.confidence(tree, b.node.id)) is not None:
                confs += [c] * b.count
        # The one percentile of the package (numpy's linear interpolation), a pure function.
        from ..evaluation.stats import percentile

        return percentile(confs, 100.0 - self.config.eta) if confs else None

    def kept(self, tree: Tree, state: dict[str, Any]) -> dict[str, float] | None:
        """Confidence of each ballot's chain that votes (tip id → confidence); ``None`` when no
        trace has token confidences (then every ballot votes with weight 1)."""
        ballots = self.ballots(tree, state)
        conf = {b.node.id: self.confidence(tree, b.node.id) for b in ballots}
        known = {k: v for k, v in conf.items() if v is not None}
        if not known:
            return None
        if self.config.online:
            s = self.threshold(tree, state)
            return {
                b.node.id: known[b.node.id]
                for b in ballots
                if b.node.id in known
                and (s is None or self.wave(state, b.node.id) > 1 or known[b.node.id] >= s)
            }
        # Offline: the top eta % of traces, counting each ballot once per sample it stands for.
        ranked = sorted(
            (v for b in ballots if (v := known.get(b.node.id)) is not None for _ in range(b.count)),
            reverse=True,
        )
        cutoff = ranked[max(1, math.ceil(self.config.eta / 100.0 * len(ranked))) - 1]
        return {k: v for k, v in known.items() if v >= cutoff}

    # ---- chains hooks -------------------------------------------------------------------------

    def first_wave(self) -> int:
        return self.config.warmup if self.config.online else self.config.n

    def votes(self, tree: Tree, state: dict[str, Any]) -> list[Vote]:
        kept = self.kept(tree, state)
        ballots = self.ballots(tree, state)
        if kept is None:
            return [(b, 1.0) for b in ballots]
        return [(b, kept[b.node.id]) for b in ballots if b.node.id in kept]

    def share(self, tree: Tree, state: dict[str, Any]) -> float:
        """The leading answer's share of the (confidence-weighted) vote; 0 with no votes."""
        _, totals = tally(self.votes(tree, state))
        whole = sum(totals.values())
        return max(totals.values()) / whole if totals and whole > 0 else 0.0

    def stop_chain(self, tree: Tree, state: dict[str, Any], tip: str) -> bool:
        if not self.config.online or self.wave(state, tip) == 1:
            return False
        s = self.threshold(tree, state)
        c = self.running_confidence(tree, tip)
        return s is not None and c is not None and c < s

    def more(self, tree: Tree, state: dict[str, Any]) -> int:
        cfg = self.config
        drawn = self.drawn(tree)
        if not cfg.online or drawn >= cfg.n:
            return 0
        if cfg.consensus is not None and self.share(tree, state) >= cfg.consensus:
            return 0
        return min(cfg.wave, cfg.n - drawn)

    def stop_reason(self, tree: Tree, state: dict[str, Any]) -> str | None:
        if not state.get("started") or self.running(tree, state):
            return None
        cfg = self.config
        if cfg.online and self.drawn(tree) < cfg.n:
            return f"consensus: the leading answer holds {self.share(tree, state):.2f} of the weighted vote"
        return f"all {self.drawn(tree)} samples drawn"

    def allocation(self, tree: Tree, state: dict[str, Any]) -> dict[str, Any] | None:
        report = super().allocation(tree, state)
        if report is None:
            return None
        kept = self.kept(tree, state)
        if kept is None:
            report["note"] = "no token confidences (no top logprobs from the backend): unweighted majority"
            return report
        s = self.threshold(tree, state)
        report.update(
            kept=len(kept),
            confidence={k: round(v, 3) for k, v in kept.items()},
            threshold=None if s is None else round(s, 3),
        )
        return report


@register_strategy("deepconf", DeepConfConfig)
def make_deepconf(config: DeepConfConfig, generation: GenerationConfig) -> DeepConf:
    return DeepConf(config, generation)
