"""Adaptive self-consistency: sample until the vote is settled, not a fixed n.

Adaptive-Consistency (Aggarwal et al. 2023) and early-stopping self-consistency (Li et al. 2024):
draw a first wave of ``first`` solutions (``o1agent.search.chains``), then one wave of ``wave``
at a time, and after each wave ask whether more samples could still change the majority:

* ``rule="beta"`` — the two leading answers' counts ``v1 ≥ v2``: with a uniform prior the
  leader's share of the two is ``p ~ Beta(v1 + 1, v2 + 1)``, and the vote is settled when
  ``P(p > 1/2) ≥ threshold``. For integer counts that is exactly
  ``P(Binomial(v1 + v2 + 1, 1/2) ≤ v1)``: no sampling.
* ``rule="dirichlet"`` — every answer's count plus one answer not seen yet: the shares are
  ``Dirichlet(v + 1)`` and the vote is settled when the probability that the leader's share is
  the largest is ``≥ threshold``, estimated from ``draws`` samples of a generator seeded by the
  counts (the same counts always give the same decision).

Sampling stops when the vote is settled or ``max_samples`` were drawn; the run's budget is the
hard cap over both. The answer is the majority (ties to the group holding the highest score), and
``Result.allocation`` reports the samples drawn, the counts, the posterior and why it stopped.
Counts include repeated samples (a duplicate votes with its original). Run it with
``reward="none"``: the rule needs no grader.

What it is not: a confidence filter (that is ``deepconf``) or a difficulty-aware allocator that
also weighs how confident the samples are (``adaptive``).
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from ..config import GenerationConfig
from ..schema import Tree
from .base import StrategyConfig, register_strategy
from .chains import ChainSampler

Rule = Literal["beta", "dirichlet"]


def beta_settled(v1: int, v2: int) -> float:
    """``P(p > 1/2)`` for ``p ~ Beta(v1 + 1, v2 + 1)``: the probability that the leading answer
    (``v1`` votes) beats the runner-up (``v2``) given the votes so far, uniform prior."""
    n = v1 + v2 + 1
    return sum(math.comb(n, j) for j in range(v1 + 1)) / 2.0**n


def dirichlet_settled(counts: Sequence[int], *, draws: int = 2000) -> float:
    """The probability that the leader (``counts[0]``, the largest) has the largest share under
    ``Dirichlet(counts + 1)`` with one more answer not seen yet (count 0), by Monte Carlo with a
    generator seeded by the counts."""
    alphas = [c + 1.0 for c in counts] + [1.0]
    rng = random.Random(zlib.crc32(",".join(map(str, counts)).encode()))
    wins = 0
    for _ in range(draws):
        g = [rng.gammavariate(a, 1.0) for a in alphas]
        wins += g[0] >= max(g)
    return wins / draws


def stop_reason(posterior: float, threshold: float, drawn: int) -> str:
    """Why sampling stopped: the vote settled (``posterior >= threshold``) or the cap was hit."""
    if posterior >= threshold:
        return f"settled: P(leader stays ahead) = {posterior:.3f} >= {threshold}"
    return f"cap: {drawn} samples drawn, P(leader stays ahead) = {posterior:.3f}"


def settled(counts: Sequence[int], rule: Rule, *, draws: int = 2000) -> float:
    """How settled a vote with ``counts`` (largest first) is under ``rule``; 0 with no votes."""
    if not counts:
        return 0.0
    if rule == "beta":
        return beta_settled(counts[0], counts[1] if len(counts) > 1 else 0)
    return dirichlet_settled(counts, draws=draws)


class AdaptiveSCConfig(StrategyConfig):
    first: int = Field(default=3, ge=1, le=64, description="solutions sampled before the rule is first asked")
    wave: int = Field(default=1, ge=1, le=64, description="solutions sampled per later wave")
    max_samples: int = Field(
        default=16, ge=1, le=64, description="most solutions sampled (the budget caps too)"
    )
    rule: Rule = Field(
        default="beta", description="stopping rule: 'beta' (two leading answers) or 'dirichlet' (all)"
    )
    threshold: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="stop once the vote is settled with this probability"
    )
    draws: int = Field(
        default=2000, ge=100, le=100_000, description="Monte Carlo draws of the Dirichlet rule"
    )

    @model_validator(mode="after")
    def _first_fits(self) -> AdaptiveSCConfig:
        if self.first > self.max_samples:
            raise ValueError(f"first ({self.first}) must not exceed max_samples ({self.max_samples})")
        return self


class AdaptiveSC(ChainSampler[AdaptiveSCConfig]):
    name = "adaptive_sc"
    config_class = AdaptiveSCConfig

    def first_wave(self) -> int:
        return self.config.first

    def posterior(self, tree: Tree, state: dict[str, Any]) -> float:
        """How settled the vote is now (see the module docstring)."""
        return settled(list(self.counts(tree, state).values()), self.config.rule, draws=self.config.draws)

    def is_settled(self, tree: Tree, state: dict[str, Any]) -> bool:
        return self.posterior(tree, state) >= self.config.threshold

    def more(self, tree: Tree, state: dict[str, Any]) -> int:
        drawn = self.drawn(tree)
        if drawn >= self.config.max_samples or self.is_settled(tree, state):
            return 0
        return min(self.config.wave, self.config.max_samples - drawn)

    def stop_reason(self, tree: Tree, state: dict[str, Any]) -> str | None:
        if not state.get("started") or self.running(tree, state):
            return None
        return stop_reason(self.posterior(tree, state), self.config.threshold, self.drawn(tree))

    def allocation(self, tree: Tree, state: dict[str, Any]) -> dict[str, Any] | None:
        report = super().allocation(tree, state)
        if report is not None:
            report["posterior"] = round(self.posterior(tree, state), 4)
            report["rule"] = self.config.rule
        return report


@register_strategy("adaptive_sc", AdaptiveSCConfig)
def make_adaptive_sc(config: AdaptiveSCConfig, generation: GenerationConfig) -> AdaptiveSC:
    return AdaptiveSC(config, generation)
