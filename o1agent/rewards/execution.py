"""``ExecutionCheck``: verify a solution by executing what can be executed — its arithmetic claims,
its tool calls, and for code the question's own docstring examples run in the sandbox.

Checks, by step:

* **arithmetic** — every ``expression = value`` claim re-computed by the calculator
  (``o1agent.rewards.arith.check_claims``);
* **tool observations** — a tool call that errored (the calculator refused the expression, the
  sandbox run failed) is a failed check: the step built on something that did not work;
* **docstring examples** (final steps only) — when the question holds doctest examples
  (``>>> call`` and the expected output, as HumanEval prompts do) and the final step holds a
  program that defines a function (``o1agent.rewards.code.extract_program``), each example is run
  against it in ``o1agent.tools.sandbox`` (the question's import lines first) and its output
  compared with the expected one (whitespace aside; an expected traceback matches on the
  exception type).

An open step is checked on its own; a final step on its whole path (every earlier step too) plus
the examples, so the score of a finished solution covers everything it claims. Score: 1.0 when
every check that ran held, 0.0 when any failed, ``no_check_score`` (neutral 0.5) when nothing was
checkable. A failure is also the verdict's ``critique`` — the claim with its correct value, the
tool error, the example with what it returned — which the revise step is shown instead of a score.

Only the question and the steps are read: no gold answer, no hidden test ever reaches this grader
(the examples are part of what the user asked). A sandbox that cannot start is no verdict on the
code: the verdict is then failed (``Verdict.error``), as ``CodeTests``' is.
"""

from __future__ import annotations

import doctest
import json
import logging
import re
from dataclasses import dataclass, field

from ..schema import Step
from .arith import check_claims, repair_of
from .base import RewardKind, ScoreRequest, Verdict
from .code import extract_program
from .compose import Composable

logger = logging.getLogger(__name__)

_IMPORT = re.compile(r"^(?:from\s+\S+\s+import\s+.+|import\s+.+)$", re.MULTILINE)
_DEFINES = re.compile(r"^\s*(?:async\s+)?def\s+\w+\s*\(", re.MULTILINE)
_MARK = "O1_EXAMPLE "
_QUOTES = re.compile("\"\"\"|'''")

_RUNNER = """
import contextlib as _cl, io as _io, json as _json
_g = dict(globals())
for _src, _want in _O1_EXAMPLES:
    _buf = _io.StringIO()
    try:
        with _cl.redirect_stdout(_buf):
            exec(compile(_src, "<example>", "single"), _g)
        _got = _buf.getvalue()
    except Exception as _e:
        _got = "Traceback (most recent call last):\\n" + type(_e).__name__ + ": " + str(_e) + "\\n"
    print("O1_EXAMPLE " + _json.dumps({"source": _src, "want": _want, "got": _got[:400]}))
"""


def examples_of(question: str) -> list[tuple[str, str]]:
    """The question's doctest examples as ``(source, expected output)``; none when it has none
    or they do not parse."""
    try:
        found = doctest.DocTestParser().get_examples(question)
    except ValueError:
        return []
    # The question is the docstring's source, not its text: a closing quote line that follows
    # the last example is not part of its expected output.
    return [(e.source, _QUOTES.split(e.want, 1)[0].rstrip() + "\n") for e in found]


def _same_output(want: str, got: str) -> bool:
    if want.lstrip().startswith("Traceback"):
        kind = want.strip().splitlines()[-1].split(":", 1)[0].strip()
        return got.lstrip().startswith("Traceback") and got.strip().splitlines()[-1].startswith(kind)
    return " ".join(want.split()) == " ".join(got.split())


@dataclass
class Findings:
    """What the checks of one request found."""

    passed: int = 0
    failed: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, ok: bool, note: str = "") -> None:
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if ok:
            self.passed += 1
        else:
            self.failed.append(note)


class ExecutionCheck(Composable):
    """Grounded process reward by execution (see the module docstring)."""

    kind: RewardKind = "process"

    def __init__(
        self,
        *,
        no_check_score: float | None = 0.5,
        examples: bool = True,
        timeout: float = 10.0,
        memory_mb: int = 512,
        name: str = "exec",
    ) -> None:
        self.no_check_score = no_check_score
        self.examples = examples
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.name = name

    @staticmethod
    def check_steps(steps: list[Step], found: Findings) -> None:
        """Arithmetic claims and tool calls of ``steps``, into ``found``."""
        for s in steps:
            correct, _, notes = check_claims(s.raw or f"{s.title}\n{s.text}")
            for _ in range(correct):
                found.add("arithmetic", True)
            for note in notes:
                found.add("arithmetic", False, note)
            for call in s.tool_calls:
                if call.error is not None:
                    arg = next(iter(call.arguments.values()), "")
                    found.add(
                        "tool", False, f"the {call.name} tool failed on {str(arg)[:60]!r}: {call.error}"
                    )
                elif call.output is not None:
                    found.add("tool", True)

    async def run_examples(self, question: str, step: Step, found: Findings) -> str | None:
        """Run the question's examples against the step's program; the sandbox's error when it
        could not run at all."""
        examples = examples_of(question) if self.examples else []
        program = extract_program(step.raw or step.text)
        if not examples or not _DEFINES.search(program):
            return None
        from ..tools.sandbox import arun_python

        imports = "\n".join(m.group(0) for m in _IMPORT.finditer(question))
        code = f"{imports}\n{program}\n\n_O1_EXAMPLES = {examples!r}\n{_RUNNER}"
        res = await arun_python(
            code, timeout=self.timeout, cpu_seconds=self.timeout, memory_mb=self.memory_mb
        )
        if res.exit_code is None and not res.timed_out:
            return f"the sandbox did not start: {res.error}"
        rows = [json.loads(ln[len(_MARK) :]) for ln in res.stdout.splitlines() if ln.startswith(_MARK)]
        for row in rows:
            ok = _same_output(row["want"], row["got"])
            got = row["got"].strip() or "nothing"
            found.add("example", ok, f"{row['source'].strip()} gave {got}, expected {row['want'].strip()}")
        if len(rows) < len(examples):
            # The program itself failed before (or while) the examples ran: that is a failed check.
            why = res.error or "the program stopped before every example ran"
            found.add("example", False, f"running the examples failed: {why}")
        return None

    async def _one(self, req: ScoreRequest) -> Verdict:
        found = Findings()
        final = req.candidate.is_final
        self.check_steps([*req.previous, req.candidate] if final else [req.candidate], found)
        if final:
            try:
                error = await self.run_examples(req.question, req.candidate, found)
            except Exception as exc:  # the sandbox failing says nothing about the code: mark it
                logger.warning("%s could not run the examples: %s: %s", self.name, type(exc).__name__, exc)
                return Verdict.failed(self.name, exc)
            if error is not None:
                logger.warning("%s could not run the examples: %s", self.name, error)
                msg = f"{self.name} failed: {error}"
                return Verdict(score=None, rationale=msg, error=msg)
        checked = ", ".join(f"{n} {k}" for k, n in found.kinds.items())
        if not found.kinds:
            return Verdict(score=self.no_check_score, rationale="nothing checkable by execution")
        if not found.failed:
            return Verdict(score=1.0, rationale=f"every check held ({checked})")
        critique = "Checked by execution: " + "; ".join(found.failed[:3]) + "."
        own = req.candidate.raw or f"{req.candidate.title}\n{req.candidate.text}"
        return Verdict(
            repair=repair_of(own),
            score=0.0,
            rationale=f"{len(found.failed)} of {found.passed + len(found.failed)} checks failed ({checked})",
            critique=critique,
        )

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        # Sequential: each example run is a subprocess, and the machines here have two cores.
        return [await self._one(r) for r in requests]
