"""Hybrid: beam search whose candidates get revision rounds, one budget for both axes.

Snell et al. (2024) find the best split between parallel search and sequential revision depends on
the question's difficulty; this strategy spends one budget on both. It is ``beam`` (width ``width``,
``k`` candidates per beam, path scores aggregated by ``aggregate``) with the graph's revision
turned on: a freshly proposed candidate scoring below ``revise_below`` is critiqued and rewritten
up to ``rounds`` times (stopping once the verifier is satisfied) *before* the beam ranks it, so a
good idea with a fixable slip is repaired instead of pruned. The answer is the collected final
with the best path score, in its best-scored version (``keep_best``, as in ``revision``).

Limitation, on purpose: with the current graph a strategy cannot ask for the revision of one
particular existing node, only set the threshold under which *new* candidates are revised. So
revision rounds go to every weak candidate, not only to the leaves the beam keeps; the cost is
bounded by ``rounds`` and the shared ``Budget``. (A graph-level ``Expansion(mode="revise")`` would
let this revise just the kept leaves; see the issue-3 report.)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ..schema import Tree
from .base import register_strategy
from .beam import BeamConfig, BeamSearch
from .revision import best_version, rounds_to_max_revisions


class HybridConfig(BeamConfig):
    width: int = Field(default=2, ge=1, le=32, description="beams kept after each round (W)")
    rounds: int = Field(
        default=2, ge=0, le=8, description="revision rounds allowed per candidate (R); sets max_revisions"
    )
    revise_below: float | None = Field(
        default=0.5, ge=0.0, le=1.0, description="a candidate scoring below this is critiqued and revised"
    )
    keep_best: bool = Field(
        default=True, description="answer with the best-scored version of the chosen final step"
    )

    @model_validator(mode="before")
    @classmethod
    def _rounds_are_max_revisions(cls, data: Any) -> Any:
        return rounds_to_max_revisions(data, cls.model_fields["rounds"].default)


class Hybrid(BeamSearch):
    name = "hybrid"

    def __init__(self, config: HybridConfig | None = None) -> None:
        super().__init__(config or HybridConfig())

    def best(self, tree: Tree, state: dict[str, Any]) -> str | None:
        chosen = super().best(tree, state)
        if chosen is None or not self.config.keep_best:  # type: ignore[attr-defined]
            return chosen
        return best_version(tree, chosen)


@register_strategy("hybrid", HybridConfig)
def make_hybrid(config: HybridConfig) -> Hybrid:
    return Hybrid(config)
