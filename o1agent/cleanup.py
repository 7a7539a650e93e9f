"""Model-specific repairs of parsed steps, chosen by prompt style.

The graph parses what a policy wrote into a ``Step``; a few habits of small models then make a
correct chain read wrong or never end. Each rule here names the behaviour it is for, so a prompt
style written for a stronger model can turn the rules off instead of inheriting them:

* ``end_if_repeated`` — SmolLM2 loops: a step that repeats its parent word for word would be
  repeated again by every later step. The chain ends there, with the answer that step states.
* ``answer_from_path`` — SmolLM2 often ends a chain with a bare step title ("Provide the final
  answer") after the work is done. Reading that title as the answer threw away a correct result
  already on the path, so a final step that states no number of its own takes the last number
  its path worked out (never a number from the question; an explicit answer is never replaced).
* ``tool_cue`` — after a tool's observation block SmolLM2 tends to emit empty code fences
  forever; starting the next sentence with "So" (as the prompt's example does) makes it state
  the result instead. The cue becomes part of the step text.

This module is pure: no model calls, no I/O. It does not parse steps (that is ``parsing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ConfigError
from .parsing import extract_answer, last_number, lenient_answer
from .schema import Node, Step


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class StepCleanup:
    """Which repairs apply to a parsed step. ``StepCleanup.none()`` applies none."""

    end_if_repeated: bool = True
    answer_from_path: bool = True
    tool_cue: bool = True

    @classmethod
    def none(cls) -> StepCleanup:
        return cls(end_if_repeated=False, answer_from_path=False, tool_cue=False)

    def apply(self, step: Step, parent: Node, path: Sequence[Node]) -> Step:
        """``step`` (a child of ``parent``, whose path from the root is ``path``) after the rules."""
        if self.end_if_repeated:
            step = end_if_repeated(step, parent)
        if self.answer_from_path:
            step = answer_from_path(step, path)
        return step

    def cue_after(self, so_far: str) -> str:
        """Text to start the model's next words with, given the step text so far."""
        return "So" if self.tool_cue and so_far.rstrip().endswith("```") else ""


def end_if_repeated(step: Step, parent: Node) -> Step:
    """A step repeating its parent word for word ends the chain with the answer it states."""
    if step.is_final or not step.raw.strip() or _normalised(step.raw) != _normalised(parent.step.raw):
        return step
    return step.model_copy(update={"is_final": True, "answer": step.answer or lenient_answer(step.raw)})


def answer_from_path(step: Step, path: Sequence[Node]) -> Step:
    """A final step stating no number of its own takes the last number its path worked out."""
    if not step.is_final or extract_answer(step.raw) is not None:
        return step
    if step.answer is not None and last_number(step.answer) is not None:
        return step
    text = "\n".join([*(n.step.raw for n in path if n.depth > 0), step.raw])
    num = last_number(text)
    return step if num is None else step.model_copy(update={"answer": num})


#: Rules per shipped prompt style. Both styles are tuned for the embedded SmolLM2-135M, so both
#: keep every rule; a user folder gets them too unless the caller passes ``cleanup=``.
STYLE_CLEANUP: dict[str, StepCleanup] = {
    "g1": StepCleanup(),
    "thinking": StepCleanup(),
    "stepwise": StepCleanup(),
}


def make_cleanup(spec: StepCleanup | str | None, style: str) -> StepCleanup:
    """Resolve ``cleanup=``: an object, ``"none"``, ``"default"``/``None`` (the style's rules)."""
    if isinstance(spec, StepCleanup):
        return spec
    if spec is None or spec == "default":
        return STYLE_CLEANUP.get(style, StepCleanup())
    if spec == "none":
        return StepCleanup.none()
    raise ConfigError(f"unknown cleanup {spec!r}: use 'default', 'none' or a StepCleanup")
