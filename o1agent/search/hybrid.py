"""Hybrid: beam search whose candidates get revision rounds, one budget for both axes.

Snell et al. (2024) find the best split between parallel search and sequential revision depends on
the question's difficulty; this strategy spends one budget on both. It is ``beam`` (width ``width``,
``k`` candidates per beam, path scores aggregated by ``aggregate``) plus critique-and-rewrite of
weak steps (score below ``revise_below``, at most ``rounds`` rewrites per step, stopping once the
verifier is satisfied). Which steps get rewritten is ``revise``:

* ``"candidates"`` (default): every freshly proposed candidate below the threshold is revised
  *before* the beam ranks it, so a good idea with a fixable slip is repaired instead of pruned.
  Costs a rewrite per weak candidate (``width * k`` per round at most).
* ``"kept"``: the beam ranks first; only the steps it keeps (its ``width`` beams and the finals it
  collected) are revised, through the graph's ``Expansion(mode="revise")``, and the rewrite takes
  the original's place in the beam. At most ``width`` rewrites per round: cheaper, but a weak
  candidate the beam dropped is never given a second chance.

``revises`` is True with ``revise="kept"`` (the strategy asks for its rewrites, and the graph's
own revise-after-verify loop is off) and False with ``"candidates"`` (that loop does the work).
It is fixed when the strategy is built, from the config given then.

The answer is the collected final with the best path score, in its best-scored version
(``keep_best``, as in ``revision``). What it is not: no backtracking (pruned candidates stay
pruned), and no adaptive split of the budget between the two axes per question.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..config import GenerationConfig
from ..schema import Tree
from .base import register_strategy
from .beam import BeamConfig, BeamSearch
from .picks import choice_of
from .revision import best_version, rounds_to_max_revisions
from .types import Choice, Expansion, Selection, Update


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
    revise: Literal["candidates", "kept"] = Field(
        default="candidates",
        description="revise every weak new candidate before ranking, or only the steps the beam keeps",
    )

    @model_validator(mode="before")
    @classmethod
    def _rounds_are_max_revisions(cls, data: Any) -> Any:
        return rounds_to_max_revisions(data, cls.model_fields["rounds"].default)


class Hybrid(BeamSearch):
    name = "hybrid"

    config_class = HybridConfig

    def __init__(
        self, config: HybridConfig | None = None, generation: GenerationConfig | None = None
    ) -> None:
        super().__init__(config, generation)
        cfg: HybridConfig = self.config  # type: ignore[assignment]
        # An instance attribute, read by the graph and by this class alike, so both agree on who
        # revises even if the config object is changed later.
        self.revises = cfg.revise == "kept"

    def _to_revise(self, tree: Tree, state: dict[str, Any]) -> list[str]:
        if not self.revises:
            return []
        cfg: HybridConfig = self.config  # type: ignore[assignment]
        if cfg.revise_below is None:
            return []
        out = []
        for nid in [*state.get("beams", []), *state.get("finals", [])]:
            node = tree.nodes.get(nid)
            if node is None or nid == tree.root_id or node.status in ("revised", "failed", "pruned"):
                continue
            if (
                node.score is not None
                and node.score < cfg.revise_below
                and node.revisions < cfg.max_revisions
            ):
                out.append(nid)
        return out

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        weak = self._to_revise(tree, state)
        if weak:
            return Selection(
                [Expansion(nid, mode="revise") for nid in weak], state, note=f"revise {len(weak)} kept"
            )
        return super().select(tree, state)

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        rewrites = [tree.get(n) for n in new_ids if self.revises and tree.get(n).revised_from]
        if not rewrites or len(rewrites) != len(new_ids):
            return super().update(tree, state, new_ids)
        # The rewrite takes its original's place: among the beams, or among the finals.
        beams, finals = list(state.get("beams", [])), list(state.get("finals", []))
        for new in rewrites:
            old = new.revised_from or ""
            beams = [b for b in beams if b != old]
            finals = [f for f in finals if f != old]
            if new.status != "failed":
                (finals if new.step.is_final else beams).append(new.id)
        return Update({**state, "beams": beams, "finals": finals})

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        return not self._to_revise(tree, state) and super().done(tree, state)

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        chosen = super().best(tree, state)
        if chosen is None or not self.config.keep_best:  # type: ignore[attr-defined]
            return chosen
        return choice_of(tree.get(best_version(tree, chosen.node_id)))


@register_strategy("hybrid", HybridConfig)
def make_hybrid(config: HybridConfig, generation: GenerationConfig) -> Hybrid:
    return Hybrid(config, generation)
