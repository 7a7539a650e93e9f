"""``SelfConsistency``: an outcome reward from agreement between final answers (majority vote as a
grader, after Wang et al. 2022).

A final candidate scores the fraction of final answers — its siblings' (``ScoreRequest.siblings``)
plus, with ``remember=True``, every final answer this grader has already seen for the same
question — that are equivalent to its own (``answers_equivalent``: math-verify, so "1/2", "0.5"
and "\\frac{1}{2}" agree). The candidate counts itself, so a lone answer scores ``1/1``; with
``min_votes`` finals not reached the verdict is "no opinion" (``None``) rather than a fake 1.0.

What this is not: a correctness check. Agreement among samples of a weak model is evidence, not
proof; it is most useful blended with a verifier or a judge.
"""

from __future__ import annotations

import asyncio
import logging

from ..parsing import lenient_answer
from ..schema import Step
from .answer import _normalise, answers_equivalent
from .base import RewardKind, ScoreRequest, Verdict
from .compose import Composable

logger = logging.getLogger(__name__)


def final_answer(step: Step) -> str | None:
    """The answer a final step states (read leniently), or ``None`` for an open step."""
    if not step.is_final:
        return None
    ans = step.answer or lenient_answer(step.raw or step.text)
    return ans.strip() if ans and ans.strip() else None


class SelfConsistency(Composable):
    kind: RewardKind = "outcome"

    def __init__(
        self, *, remember: bool = True, min_votes: int = 2, timeout: float = 5.0, name: str = "consistency"
    ) -> None:
        self.remember = remember
        self.min_votes = max(1, min_votes)
        self.timeout = timeout
        self.name = name
        self._seen: dict[str, dict[str, tuple[str, str]]] = {}  # question -> {node key: (text, answer)}
        self._eq: dict[tuple[str, str], bool] = {}

    async def _equiv(self, a: str, b: str) -> bool:
        if _normalise(a) == _normalise(b):
            return True
        key = (a, b) if a <= b else (b, a)
        if key not in self._eq:
            try:
                self._eq[key] = await asyncio.wait_for(
                    asyncio.to_thread(answers_equivalent, a, b), self.timeout
                )
            except Exception as exc:  # a slow or failing comparison counts as "different"
                logger.debug("equivalence check failed for %r vs %r: %s", a, b, exc)
                self._eq[key] = False
        return self._eq[key]

    async def _one(self, req: ScoreRequest) -> Verdict:
        mine = final_answer(req.candidate)
        if not req.candidate.is_final:
            return Verdict(score=None, kind="outcome", rationale="not a final step")
        if mine is None:
            return Verdict(score=0.0, kind="outcome", rationale="no answer could be extracted")
        others = [a for a in (final_answer(s) for s in req.siblings) if a is not None]
        if self.remember:
            text = req.candidate.raw or req.candidate.text
            key = req.node_id or text
            seen = self._seen.setdefault(req.question, {})
            sib_texts = {s.raw or s.text for s in req.siblings}
            # Siblings were counted above; a re-scored node must not vote for itself twice.
            others += [a for k, (t, a) in seen.items() if k != key and t not in sib_texts and t != text]
            seen[key] = (text, mine)
        votes = 1 + len(others)
        if votes < self.min_votes:
            return Verdict(
                score=None, kind="outcome", rationale=f"only {votes} final answer(s) so far: no opinion"
            )
        agree = 1 + sum(await asyncio.gather(*(self._equiv(mine, o) for o in others)))
        return Verdict(
            score=agree / votes,
            kind="outcome",
            rationale=f"{agree} of {votes} final answers agree with {mine!r}",
        )

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        # In order, not concurrently: with remember=True each answer should see the earlier ones.
        return [await self._one(r) for r in requests]
