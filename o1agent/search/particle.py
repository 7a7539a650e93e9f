"""Particle filtering over reasoning steps (Puri et al. 2025, arXiv 2502.01618; its_hub's
``ParticleFiltering``).

A population of ``particles`` partial solutions advances one step per round: every unfinished
particle is extended by one sampled step (a particle held ``m`` times is expanded into ``m``
sampled children, so its copies diverge), every new step is scored, and the whole population is
then resampled in proportion to the particles' weights. A finished particle (a final answer, or
``max_depth``) is not extended but stays in the population with its last weight, as in its_hub,
so a good answer can claim more copies and a poor one can lose its place. The search ends when
every particle has finished.

Weights (``weights``) come from a particle's score (``signal``):

* ``signal="reward"`` — the process reward of its path, aggregated ``last`` / ``min`` / ``prod``
  as in ``beam`` (an unscored step counts as neutral 0.5);
* ``signal="confidence"`` — DeepConf's lowest group confidence of its path
  (``o1agent.search.deepconf``; this strategy then asks the graph for top logprobs).

``"softmax"`` normalises ``exp(z / temperature)`` where ``z`` is the logit of the reward (its_hub's
inverse sigmoid) or the confidence itself; ``"linear"`` normalises the scores as they are.
Resampling is ``"multinomial"`` or ``"systematic"`` (lower variance) from a generator seeded by
``seed``, the round and the population's step texts, so a seeded run (same texts) resamples the
same way and an unseeded one does not. Particles that were not resampled are pruned. A duplicate
step (``mark_duplicates``) is the same particle as its original: its copy follows the original.

The answer (``select_by``): the finished particle of highest weight (``"weight"``, its_hub's
argmax) or the weighted vote of the finished population (``"vote"``); a population that never
finished answers leniently from its best path. What it is not: particle Gibbs (no reference
particle, one iteration).
"""

from __future__ import annotations

import math
import random
import zlib
from typing import Any, Literal

from pydantic import Field

from ..config import GenerationConfig
from ..schema import Tree
from .base import Strategy, StrategyConfig, register_strategy
from .beam import Aggregate, path_score
from .chains import ballot_of, tally
from .deepconf import group_confidences, path_confidences
from .picks import choice_of, default_best, is_blank
from .types import Choice, Expansion, Selection, Update

Weights = Literal["softmax", "linear"]
Resample = Literal["multinomial", "systematic"]


def normalised_weights(scores: list[float], how: Weights, *, temperature: float, logit: bool) -> list[float]:
    """Weights summing to 1 from particle scores. ``softmax``: ``exp(z / temperature)`` with
    ``z = logit(score)`` when ``logit`` (scores in [0, 1]) else the score; ``linear``: the scores
    themselves (uniform when they sum to 0)."""
    if not scores:
        return []
    if how == "linear":
        vals = [max(0.0, s) for s in scores]
        total = sum(vals)
        return [v / total for v in vals] if total > 0 else [1.0 / len(vals)] * len(vals)
    eps = 1e-6
    zs = [
        math.log(min(1 - eps, max(eps, s)) / (1 - min(1 - eps, max(eps, s)))) if logit else s for s in scores
    ]
    top = max(zs)
    exps = [math.exp((z - top) / temperature) for z in zs]
    total = sum(exps)
    return [e / total for e in exps]


def resample(items: list[str], weights: list[float], how: Resample, rng: random.Random) -> list[str]:
    """``len(items)`` draws from ``items`` in proportion to ``weights``, in population order."""
    n = len(items)
    if n == 0:
        return []
    if how == "multinomial":
        picks = rng.choices(range(n), weights=weights, k=n)
        return [items[i] for i in sorted(picks)]
    # Systematic: one uniform offset, n evenly spaced pointers through the cumulative weights.
    start = rng.random() / n
    out: list[str] = []
    cum, i = weights[0], 0
    for j in range(n):
        u = start + j / n
        while u > cum and i < n - 1:
            i += 1
            cum += weights[i]
        out.append(items[i])
    return out


class ParticleConfig(StrategyConfig):
    particles: int = Field(default=4, ge=1, le=64, description="population size (N)")
    signal: Literal["reward", "confidence"] = Field(
        default="reward",
        description="what weighs a particle: its path's process reward or its token confidence",
    )
    aggregate: Aggregate = Field(
        default="last", description="reward signal: path score 'last', 'min' or 'prod'"
    )
    weights: Weights = Field(default="softmax", description="'softmax' (of the reward's logit) or 'linear'")
    temperature: float = Field(default=1.0, gt=0.0, le=100.0, description="softmax temperature")
    resample: Resample = Field(default="systematic", description="'multinomial' or 'systematic' resampling")
    select_by: Literal["weight", "vote"] = Field(
        default="weight",
        description="answer: the finished particle of highest weight, or their weighted vote",
    )
    seed: int = Field(default=0, description="mixed into the resampling generator's seed")
    window: int = Field(default=32, ge=1, le=4096, description="confidence signal: tokens per group")
    top_k: int = Field(default=20, ge=1, le=20, description="confidence signal: top logprobs per token")


class ParticleFilter(Strategy[ParticleConfig]):
    name = "particle"
    config_class = ParticleConfig

    def __init__(
        self, config: ParticleConfig | None = None, generation: GenerationConfig | None = None
    ) -> None:
        super().__init__(config, generation)
        self.top_logprobs = self.config.top_k if self.config.signal == "confidence" else 0

    # ---- weights ------------------------------------------------------------------------------

    def score(self, tree: Tree, node_id: str) -> float:
        if self.config.signal == "confidence":
            conf = path_confidences(tree, node_id)
            return min(group_confidences(conf, self.config.window)) if conf else 0.0
        return path_score(tree, node_id, self.config.aggregate)

    def weights_of(self, tree: Tree, population: list[str]) -> list[float]:
        cfg = self.config
        scores = [self.score(tree, p) for p in population]
        return normalised_weights(
            scores, cfg.weights, temperature=cfg.temperature, logit=cfg.signal == "reward"
        )

    # ---- the filter ---------------------------------------------------------------------------

    def init_state(self, tree: Tree) -> dict[str, Any]:
        return {"started": False, "particles": [], "round": 0}

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        if not state.get("started"):
            if not self.can_expand(tree.root):
                return Selection([], state, note="the question cannot be expanded")
            k = self.config.particles
            return Selection(
                [Expansion(tree.root_id, k=k, verify=True)], {**state, "started": True}, note=f"{k} particles"
            )
        held: dict[str, int] = {}
        for p in state.get("particles", []):
            if self.live(tree, p):
                held[p] = held.get(p, 0) + 1
        # A particle held m times is extended into m sampled steps (its greedy one may exist).
        xs = [Expansion(p, k=m, verify=True, greedy_first=False) for p, m in held.items()]
        return Selection(
            xs, state, note=f"round {int(state.get('round', 0)) + 1}: {len(held)} live particles"
        )

    def _advance(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> list[str]:
        """The population after this round's steps, before resampling: each expanded particle's
        slots go to its new children (a duplicate to its original; empty steps lose their slot)."""
        if not state.get("particles"):
            kids = [tree.get(i) for i in new_ids if tree.get(i).parent_id == tree.root_id]
            base = [c.id for c in kids if c.status not in ("failed", "revised")]
            dups = [c.duplicate_of for c in tree.children(tree.root_id) if c.duplicate_of]
            return base + [d for d in dups if d in base]
        fresh = set(new_ids)
        out: list[str] = []
        taken: set[str] = set()
        for p in state.get("particles", []):
            kids = [c for c in tree.children(p) if c.id in fresh or c.duplicate_of in fresh]
            if not kids:
                out.append(p)  # finished (or not expanded this round): stays as it is
                continue
            if p in taken:
                continue  # its children were given to its first slot, one per copy
            taken.add(p)
            for c in kids:
                if c.status in ("failed", "revised"):
                    continue
                out.append(c.duplicate_of or c.id)
        return out

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        before = list(state.get("particles", []))
        population = self._advance(tree, state, new_ids)
        rnd = int(state.get("round", 0)) + 1
        if not population:
            return Update({**state, "particles": before, "round": rnd})
        weights = self.weights_of(tree, population)
        key = ":".join(
            [str(self.config.seed), str(rnd), *population, *(tree.get(p).step.raw for p in population)]
        )
        rng = random.Random(zlib.crc32(key.encode()))
        kept = resample(population, weights, self.config.resample, rng)
        survivors = set(kept)
        pruned = [
            p for p in dict.fromkeys(population) if p not in survivors and tree.get(p).status != "pruned"
        ]
        return Update({**state, "particles": kept, "round": rnd}, pruned=pruned)

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        if not state.get("started"):
            return not self.can_expand(tree.root)
        return not any(self.live(tree, p) for p in state.get("particles", []))

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        population = [p for p in state.get("particles", []) if p in tree.nodes and not is_blank(tree.get(p))]
        if not population:
            return default_best(tree)
        finals = [p for p in population if tree.get(p).step.is_final]
        pool = finals or population
        weights = dict(zip(pool, self.weights_of(tree, pool), strict=True))
        if self.config.select_by == "vote":
            ballots = [b for p in pool if (b := ballot_of(tree, tree.get(p))) is not None]
            winner, _ = tally([(b, weights[b.node.id]) for b in ballots])
            if winner is not None:
                return Choice(winner.node.id, winner.answer, winner.node.score)
        top = max(enumerate(pool), key=lambda q: (weights[q[1]], -q[0]))[1]
        node = tree.get(top)
        if not node.step.is_final and (b := ballot_of(tree, node)) is not None:
            return Choice(node.id, b.answer, node.score)
        return choice_of(node)

    def allocation(self, tree: Tree, state: dict[str, Any]) -> dict[str, Any] | None:
        if not state.get("started"):
            return None
        population = [p for p in state.get("particles", []) if p in tree.nodes]
        return {
            "particles": self.config.particles,
            "rounds": int(state.get("round", 0)),
            "finished": sum(1 for p in population if tree.get(p).step.is_final),
            "distinct": len(set(population)),
            "stop": None if any(self.live(tree, p) for p in population) else "every particle finished",
        }


@register_strategy("particle", ParticleConfig)
def make_particle(config: ParticleConfig, generation: GenerationConfig) -> ParticleFilter:
    return ParticleFilter(config, generation)
