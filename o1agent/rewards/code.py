"""``CodeTests``: an outcome reward that runs a candidate program against unit tests in the sandbox.

HumanEval-style: the program is ``prompt + completion + test + check(entry_point)``, where the
completion is the last fenced ``python`` block of the final step (or the whole step when it has no
block). A completion that redefines ``def entry_point(`` is used whole (the prompt's own stub is
then shadowed); one that does not is taken as the function body continuing the prompt.

Score: 1.0 when every test passes, else 0.0; with ``partial=True``, the fraction of the
``assert`` statements in ``check`` that pass (each is run on its own, so one failure does not hide
the rest). Everything runs in ``o1agent.tools.sandbox``: no network, bounded time and memory.
Tests that ran and failed (or timed out, or found no program) score 0; a sandbox that cannot start
is no verdict on the code: the grader logs a warning and returns ``Verdict(score=None,
error="tests failed: ...")``. Where bwrap cannot contain code at all, construction raises
``SandboxUnavailableError`` (so an evaluation stops before its first item), unless
``unsafe_local=True``.

What this is not: a judge of code quality, or a safe place for code outside the sandbox.
"""

from __future__ import annotations

import ast
import logging
import re
from typing import Any

from ..errors import ConfigError
from .base import RewardKind, ScoreRequest, Verdict
from .compose import Composable

logger = logging.getLogger(__name__)

# Possessive space runs (``*+``): two adjacent ``[ \t]*`` backtrack quadratically on a long run
# of spaces. "python3" is tried first so no label needs backtracking into.
_BLOCK = re.compile(r"```[ \t]*+(?:python3|python|py)?[ \t]*+\r?\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
#: Code blocks are read from the last this many characters of a step.
MAX_PROGRAM_CHARS = 131_072


def extract_program(text: str) -> str:
    """The last fenced code block of ``text`` (``python``-labelled or bare), else ``text`` itself.
    Blocks are looked for in the last ``MAX_PROGRAM_CHARS`` characters."""
    blocks = [b for b in _BLOCK.findall((text or "")[-MAX_PROGRAM_CHARS:]) if b.strip()]
    return (blocks[-1] if blocks else (text or "")).strip("\n")


def _partial_check(test: str) -> str | None:
    """``test`` with each top-level ``assert`` of ``check`` counted instead of raised; ``None``
    when ``check`` cannot be found (then the run is all-or-nothing)."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            body: list[ast.stmt] = []
            n = 0
            for stmt in node.body:
                if isinstance(stmt, ast.Assert):
                    n += 1
                    body.append(
                        ast.parse(
                            "try:\n    pass\nexcept Exception:\n    _o1_failed.append(1)\nelse:\n    _o1_passed.append(1)"
                        ).body[0]
                    )
                    body[-1].body = [stmt]  # type: ignore[attr-defined]
                else:
                    body.append(stmt)
            if n == 0:
                return None
            node.body = body
            ast.fix_missing_locations(tree)
            return "_o1_passed = []\n_o1_failed = []\n" + ast.unparse(tree)
    return None


class CodeTests(Composable):
    """Outcome reward from unit tests (see the module docstring). Build it from a HumanEval
    problem with ``CodeTests.from_problem(problem)``."""

    kind: RewardKind = "outcome"

    def __init__(
        self,
        test: str,
        entry_point: str,
        *,
        prompt: str = "",
        partial: bool = False,
        timeout: float = 10.0,
        memory_mb: int = 512,
        name: str = "tests",
        unsafe_local: bool = False,
    ) -> None:
        from ..tools.sandbox import check_sandbox

        if not test.strip() or not entry_point.strip():
            raise ConfigError("CodeTests needs test code and an entry_point name")
        if not entry_point.isidentifier():
            raise ConfigError(f"entry_point must be a Python identifier, got {entry_point!r}")
        check_sandbox(unsafe_local=unsafe_local)
        self.test = test
        self.entry_point = entry_point
        self.prompt = prompt
        self.partial = partial
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.name = name
        self.unsafe_local = unsafe_local

    @classmethod
    def from_problem(cls, problem: dict[str, Any], **kwargs: Any) -> CodeTests:
        """From a HumanEval-format problem: ``prompt``, ``test``, ``entry_point``."""
        missing = [k for k in ("prompt", "test", "entry_point") if k not in problem]
        if missing:
            raise ConfigError(f"problem lacks {missing}")
        return cls(problem["test"], problem["entry_point"], prompt=problem["prompt"], **kwargs)

    def program(self, completion: str) -> str:
        """The full program run for ``completion`` (prompt + completion + tests + check call)."""
        # Leading blanks without newlines: "^\s*" retried at each of many blank lines is quadratic.
        redefines = re.search(
            rf"^[^\S\n]*+(?:async\s++)?def\s++{re.escape(self.entry_point)}\s*+\(", completion, re.M
        )
        head = self.prompt + ("\n" if redefines else "") + completion
        if self.partial and (test := _partial_check(self.test)) is not None:
            tail = (
                f"\n\n{test}\n\ncheck({self.entry_point})\n"
                "print(f'O1_TESTS {len(_o1_passed)} {len(_o1_passed) + len(_o1_failed)}')\n"
            )
        else:
            tail = f"\n\n{self.test}\n\ncheck({self.entry_point})\nprint('O1_TESTS 1 1')\n"
        return head + tail

    async def run(self, completion: str) -> Verdict:
        """Grade one completion (already extracted)."""
        from ..tools.sandbox import arun_python

        res = await arun_python(
            self.program(completion),
            timeout=self.timeout,
            cpu_seconds=self.timeout,
            memory_mb=self.memory_mb,
            unsafe_local=self.unsafe_local,
        )
        if res.exit_code is None and not res.timed_out:
            # The interpreter never ran (the sandbox returns this rather than raising): nothing was
            # tested, so there is no verdict on the code.
            logger.warning("%s could not run: %s", self.name, res.error)
            error = f"{self.name} failed: the sandbox did not start: {res.error}"
            return Verdict(score=None, kind="outcome", rationale=error, error=error)
        m = re.search(r"O1_TESTS (\d+) (\d+)", res.stdout)
        if res.ok and m:
            passed, total = int(m.group(1)), int(m.group(2))
            score = passed / total if total else 0.0
            if not self.partial:
                score = 1.0 if passed == total else 0.0
            return Verdict(score=score, kind="outcome", rationale=f"{passed}/{total} tests passed")
        why = res.error or "the tests did not report a result"
        return Verdict(score=0.0, kind="outcome", rationale=f"tests failed: {why}")

    async def _one(self, req: ScoreRequest) -> Verdict:
        if not req.candidate.is_final:
            return Verdict(score=None, kind="outcome", rationale="not a final step")
        code = extract_program(req.candidate.raw or req.candidate.text)
        if not code.strip():
            return Verdict(score=0.0, kind="outcome", rationale="no program found in the step")
        try:
            return await self.run(code)
        except Exception as exc:  # the sandbox failing to start says nothing about the code: mark it
            logger.warning("%s could not run: %s: %s", self.name, type(exc).__name__, exc)
            return Verdict.failed(self.name, exc, kind="outcome")

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        # Sequential: each run is a subprocess, and the machines here have two cores.
        return [await self._one(r) for r in requests]
