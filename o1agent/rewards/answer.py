"""``AnswerVerifier``: outcome reward from a reference answer or a scorer callback.

With ``reference=`` it extracts the candidate's final answer leniently and checks equivalence
with ``math-verify`` (so "1/2", "0.5" and "\\frac{1}{2}" agree), falling back to a normalised
string/number comparison when math-verify cannot parse either side. With ``scorer=`` it defers to
any callable ``(answer_text, question) -> float`` — e.g. a reasoning-gym dataset's
``score_answer``. Non-final steps get ``score=None``: an outcome grader has no opinion on them.

It never uses gold answers unless the caller passes them; evaluation code passes them only to
score, never to the policy.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from ..parsing import lenient_answer
from .base import ScoreRequest, Verdict
from .compose import Composable

logger = logging.getLogger(__name__)

Scorer = Callable[[str, str], float]


def _normalise(ans: str) -> str:
    ans = ans.strip().lower().rstrip(".")
    ans = re.sub(r"\s+", " ", ans)
    ans = ans.replace(",", "") if re.fullmatch(r"-?[\d,]+(\.\d+)?", ans) else ans
    try:
        f = float(ans)
        return repr(int(f)) if f.is_integer() else repr(f)
    except ValueError:
        return ans


def answers_equivalent(gold: str, pred: str, *, timeout: float = 5.0) -> bool:
    """True when ``pred`` states the same answer as ``gold`` (math-verify, then plain compare).

    math-verify's own timeouts use ``signal.alarm``, which fails off the main thread, so they are
    disabled here; callers in async code run this in a worker thread and bound it with
    ``asyncio.wait_for``.
    """
    if _normalise(gold) == _normalise(pred):
        return True
    try:
        from math_verify import parse, verify

        g = parse(gold, parsing_timeout=None)  # type: ignore[arg-type]
        p = parse(pred, parsing_timeout=None)  # type: ignore[arg-type]
        if g and p:
            return bool(verify(g, p, timeout_seconds=None))  # type: ignore[arg-type]
    except Exception as exc:  # math-verify raises assorted errors on odd input; treat as "not equal"
        logger.debug("math-verify failed on %r vs %r: %s", gold, pred, exc)
    return False


class AnswerVerifier(Composable):
    """Outcome reward: 1.0 when the final answer matches ``reference`` (or ``scorer`` says so)."""

    kind = "outcome"

    def __init__(
        self,
        reference: str | None = None,
        *,
        scorer: Scorer | None = None,
        timeout: float = 10.0,
        name: str = "answer",
    ) -> None:
        if reference is None and scorer is None:
            from ..errors import ConfigError

            raise ConfigError("AnswerVerifier needs reference= (the gold answer) or scorer= (a callback)")
        self.reference = reference
        self.scorer = scorer
        self.timeout = timeout
        self.name = name

    async def _score_one(self, req: ScoreRequest) -> Verdict:
        step = req.candidate
        if not step.is_final:
            return Verdict(score=None, kind="outcome", rationale="not a final step")
        answer = step.answer or lenient_answer(step.raw or step.text) or ""
        if not answer:
            return Verdict(score=0.0, kind="outcome", rationale="no answer could be extracted")
        try:
            if self.scorer is not None:
                val: Any = await asyncio.wait_for(
                    asyncio.to_thread(self.scorer, answer, req.question), self.timeout
                )
                score = float(val)
                return Verdict(
                    score=max(0.0, min(1.0, score)),
                    kind="outcome",
                    rationale=f"scorer gave {score:g} for {answer!r}",
                )
            assert self.reference is not None
            ok = await asyncio.wait_for(
                asyncio.to_thread(answers_equivalent, self.reference, answer), self.timeout
            )
        except TimeoutError:
            return Verdict(
                score=0.0, kind="outcome", rationale=f"verification timed out after {self.timeout}s"
            )
        except Exception as exc:  # a user scorer may raise on odd answers: grade low, keep going
            return Verdict(score=0.0, kind="outcome", rationale=f"scorer raised {type(exc).__name__}: {exc}")
        return Verdict(
            score=1.0 if ok else 0.0,
            kind="outcome",
            rationale=f"answer {answer!r} {'matches' if ok else 'does not match'} the reference",
        )

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return list(await asyncio.gather(*(self._score_one(r) for r in requests)))
