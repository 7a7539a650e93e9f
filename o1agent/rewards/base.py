"""The ``RewardModel`` protocol and the typed ``Verdict`` every grader returns.

A reward model scores candidate steps in context. ``kind`` says what its score means:

* ``"process"`` — how likely this step is correct / leads to a correct answer (a PRM, a judge);
* ``"outcome"`` — whether a final answer is right (a verifier, a test suite, a task scorer);
  outcome graders return ``score=None`` ("no opinion") for steps that are not final.

Graders never raise on malformed model output: they score it low and say why in ``rationale``.
They are async and batch-first: ``score(requests)`` takes a list so backends can batch.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ..schema import Step, Usage

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
    usage: Usage = Field(default_factory=Usage)


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
