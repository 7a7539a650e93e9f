"""The ``RewardModel`` protocol and the typed ``Verdict`` every grader returns.

A reward model scores candidate steps in context. ``kind`` says what its score means:

* ``"process"`` — how likely this step is correct / leads to a correct answer (a PRM, a judge);
* ``"outcome"`` — whether a final answer is right (a verifier, a test suite, a task scorer);
  outcome graders return ``score=None`` ("no opinion") for steps that are not final.

Two ways a grader can come back without a number, and they mean different things:

* ``score=None, error=None`` — no opinion (an outcome grader on an open step);
* ``score=None, error="<grader> failed: <Type>: <message>"`` — the grader could not judge: its
  backend, model or sandbox failed. It logs a warning and marks the verdict instead of making up a
  score, so a search can tell "the judge said no" from "the judge was down" (``Verdict.failed``).
  A non-finite score (NaN from NaN logprobs) is such a failure too: ``Verdict`` turns it into one.

A real verdict is always a score: malformed model output (an unparsable judge reply), tests that
ran and failed, or a step with no program are scored low, with the reason in ``rationale``.
Graders never raise for either case. A grounded grader that found something wrong also says
what, in ``critique`` (the revise step is shown it instead of the score's rationale). They are async and batch-first: ``score(requests)`` takes a
list so backends can batch.

What this is not: the graders themselves (one module each) or their composition (``compose``).
"""

from __future__ import annotations

import logging
import math
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field, model_validator

from ..schema import Step, Usage

logger = logging.getLogger(__name__)

RewardKind = Literal["process", "outcome"]


class ScoreRequest(BaseModel):
    """One candidate step to grade, with the question and the steps before it."""

    question: str
    previous: list[Step] = Field(default_factory=list)
    candidate: Step
    siblings: list[Step] = Field(default_factory=list, description="other candidates of the same parent")
    mean_logprob: float | None = Field(
        default=None, description="policy's mean token logprob of the candidate, if known"
    )
    node_id: str | None = None


class Verdict(BaseModel):
    """A grader's judgement of one candidate."""

    score: float | None = Field(
        description="in [0, 1]; None means no opinion (e.g. outcome grader, open step)"
    )
    kind: RewardKind = "process"
    step_scores: list[float] = Field(
        default_factory=list, description="per-step scores along the path, if computed"
    )
    rationale: str = ""
    critique: str | None = Field(
        default=None,
        description="what a grounded check found wrong, in words a rewrite can act on (the claim that "
        "failed with its correct value, the tool error, the failing example); None when the grader "
        "checked nothing it could name (a judge's P(yes) is a rationale, not a critique)",
    )
    repair: str | None = Field(
        default=None,
        description="the candidate step up to its first failed check with the checked value in its place "
        "(a rewrite continues from it, Verify-and-Edit style); None when the grader has no fix to offer",
    )
    usage: Usage = Field(default_factory=Usage)
    error: str | None = Field(
        default=None,
        description="the grader could not judge — a backend, model or sandbox failure; score is then None",
    )

    @model_validator(mode="after")
    def _no_score_with_an_error(self) -> Verdict:
        # A failed grader has no number to give; a score beside an error would be a made-up one.
        if self.error is not None and self.score is not None:
            raise ValueError(
                f"a Verdict with an error has no score (got score={self.score}, error={self.error!r})"
            )
        if self.score is not None and not math.isfinite(self.score):
            # NaN (e.g. from NaN logprobs) is a grader that could not judge, not a score: it would
            # sort arbitrarily in a search and is not JSON. Marked here, for every grader.
            logger.warning("a grader gave a non-finite score (%s): marked as its failure", self.score)
            self.error = f"the grader gave a non-finite score ({self.score})"
            self.rationale = f"{self.rationale}; {self.error}" if self.rationale else self.error
            self.score = None
        return self

    @classmethod
    def failed(cls, grader: str, exc: BaseException, *, kind: RewardKind = "process") -> Verdict:
        """The verdict of a grader that could not judge because ``exc`` was raised."""
        error = f"{grader} failed: {type(exc).__name__}: {exc}"
        return cls(score=None, kind=kind, rationale=error, error=error)


@runtime_checkable
class RewardModel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str:
        """``"process"`` or ``"outcome"`` (a RewardKind)."""
        ...

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        """One verdict per request, in order."""
        ...
