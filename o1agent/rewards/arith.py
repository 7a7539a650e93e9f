"""``ArithmeticCheck``: a grounded process reward — re-compute every arithmetic claim in a step.

A step that writes ``3 * 4 = 13`` is wrong whatever a judge model thinks. This grader finds claims
of the form ``<expression> = <number>`` (``×``, ``÷``, ``^`` and thousands separators accepted)
and their prose forms ("Add 21 and 81 to get 160", "subtract 5 from 9 to get 4", "6 times 7 is
42", "the sum of 3 and 4 is 7"),
evaluates the expression with the safe calculator (``o1agent.tools.calculator``, no ``eval``) and
scores the step by the fraction of claims that hold. It is an *executable check*: it needs no gold
answer and no model, costs microseconds, and is exactly the kind of signal a weak model cannot
give about itself (SmolLM2-135M as a judge scores right and wrong products alike: 5/12 pairwise).

What it is not: a solver. It never evaluates the question, only what the step claims, so it
cannot tell a correct computation of the wrong quantity from the right one. Steps with no claim
get ``no_claim_score`` (neutral by default) — it has no opinion on prose.
"""

from __future__ import annotations

import asyncio
import re
from typing import NamedTuple

from ..tools.calculator import CalculatorError, calculate
from .base import ScoreRequest, Verdict
from .compose import Composable

#: Claims are read from the first this many characters of a text (a step is at most a few
#: thousand tokens; a path of them, with ``include_previous``, a few times that).
MAX_CLAIM_CHARS = 65_536

# An expression: numbers joined by operators, optional parentheses. Every repetition is
# possessive (``*+``): a claim's parts are separated by characters the part before cannot take,
# so backtracking never finds another reading, and without it "1+1+…" took seconds per kB.
_NUM = r"\d[\d,]*+(?:\.\d++)?+"
_OP = r"\s*+[-+*/×÷x^]\s*+"
# A term starts at "(", a sign or a digit: a leading "\s*" would let every space of a long run
# start a scan of the rest of the run (the old regex's expression was stripped of it anyway).
_TERM = rf"(?:\(\s*+)?-?+{_NUM}\s*+\)?+"
# A run of terms joined by operators (one term is a run too): what an ``=`` may follow.
_RUN = re.compile(rf"{_TERM}(?:{_OP}{_TERM})*+")
_ONE_TERM = re.compile(_TERM)
# What must follow an expression for it to be a claim: ``= value``...
_EQUALS_VALUE = re.compile(rf"\s*+=\s*+(?P<value>-?{_NUM})")
# ... the value not the start of a longer expression ("= 5 + 1" claims nothing about 5).
_CONTINUES = re.compile(r"[\d.]*+\s*+[-+*/×÷^]\s*+\d")
_TIMES = re.compile(r"(?<=\d)\s*+x\s*+(?=\d)")


def _claimed_value(text: str, at: int) -> tuple[str, int] | None:
    r"""The value claimed by ``= value`` at ``at`` and where it ends, or ``None``.

    A value followed by an operator and a number is the start of a longer expression. Its digits
    before the last thousands comma still count ("= 1,5 + 2" claims 1): the reading of the
    regex this replaces, whose lookahead ``(?![\d.]*\s*[op]\s*\d)`` backtracked into the value —
    one character at a time, quadratic on a long run of digits.
    """
    m = _EQUALS_VALUE.match(text, at)
    if m is None:
        return None
    value = m.group("value")
    if _CONTINUES.match(text, m.end()) is None:
        return value, m.end()
    integer = value.split(".", 1)[0]
    comma = integer.rfind(",")
    if comma < 1 or not integer[:comma].lstrip("-"):
        return None
    return value[:comma], m.start("value") + comma


# Possessive like the equation's parts; a number starts after no digit, dot or comma, so the
# starts inside one long run of digits and commas do not each rescan it.
_PN = r"(-?+\d[\d,]*+(?:\.\d++)?+)"
_GETS = r"\s*(?:,\s*)?(?:to get|to give|gives?|get|is|equals?|makes|results? in|=|:)\s*"
# Prose claims small models write instead of equations; each builds the expression it states.
_PROSE: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(rf"\badd(?:ing)?\s+{_PN}\s+(?:and|to|plus)\s+{_PN}(?:\s+and\s+{_PN})?{_GETS}{_PN}", re.I),
        "+",
    ),
    (re.compile(rf"\bsubtract(?:ing)?\s+{_PN}\s+from\s+{_PN}{_GETS}{_PN}", re.I), "from"),
    (re.compile(rf"\bmultiply(?:ing)?\s+{_PN}\s+(?:by|and|with)\s+{_PN}{_GETS}{_PN}", re.I), "*"),
    (re.compile(rf"\bdivid(?:e|ing)\s+{_PN}\s+by\s+{_PN}{_GETS}{_PN}", re.I), "/"),
    (re.compile(rf"\bthe sum of\s+{_PN}\s*,?\s+and\s+{_PN}(?:\s+and\s+{_PN})?{_GETS}{_PN}", re.I), "+"),
    (re.compile(rf"\bthe product of\s+{_PN}\s+and\s+{_PN}{_GETS}{_PN}", re.I), "*"),
    (re.compile(rf"\bthe difference (?:between|of)\s+{_PN}\s+and\s+{_PN}{_GETS}{_PN}", re.I), "-"),
    (re.compile(rf"(?<![\d.,]){_PN}\s+plus\s+{_PN}{_GETS}{_PN}", re.I), "+"),
    (re.compile(rf"(?<![\d.,]){_PN}\s+minus\s+{_PN}{_GETS}{_PN}", re.I), "-"),
    (re.compile(rf"(?<![\d.,]){_PN}\s+(?:times|multiplied by)\s+{_PN}{_GETS}{_PN}", re.I), "*"),
    (re.compile(rf"(?<![\d.,]){_PN}\s+divided by\s+{_PN}{_GETS}{_PN}", re.I), "/"),
]


class Claim(NamedTuple):
    """One arithmetic claim: the expression, the value claimed, and where that value is written."""

    expr: str
    value: str
    start: int
    end: int


def _prose(text: str) -> list[Claim]:
    out: list[Claim] = []
    for pattern, op in _PROSE:
        for m in pattern.finditer(text):
            idx = [i for i in range(1, len(m.groups()) + 1) if m.group(i) is not None]
            nums = [m.group(i).replace(",", "") for i in idx]
            *operands, value = nums
            # "subtract a from b" is b - a
            expr = f"{operands[1]} - {operands[0]}" if op == "from" else f" {op} ".join(operands)
            out.append(Claim(expr, value, m.start(idx[-1]), m.end(idx[-1])))
    return out


def _equations(text: str) -> list[Claim]:
    """The ``expression = value`` claims of ``text``; chains like ``a = b + c = d`` give each
    link whose left side is an expression.

    Linear time: each run of terms is scanned once. A claim cannot start inside a run that is not
    one: every start inside it reaches the same end, so the same ``=`` (or its absence).
    """
    out: list[Claim] = []
    pos = 0
    while True:
        run = _RUN.search(text, pos)
        if run is None:
            return out
        claimed = _claimed_value(text, run.end())
        # An expression has at least one operator: a run that is one term is not one.
        if claimed is None or _ONE_TERM.fullmatch(text, run.start(), run.end()):
            pos = run.end()
            continue
        # "x" as multiplication only between numbers ("3 x 4"); a stray letter is not arithmetic.
        expr = _TIMES.sub("*", run.group().strip())
        if expr.count("(") != expr.count(")"):
            expr = expr.strip("()")
        value, pos = claimed
        out.append(Claim(expr, value.replace(",", ""), pos - len(value), pos))


def claims(text: str) -> list[Claim]:
    """Every claim in the first ``MAX_CLAIM_CHARS`` characters of ``text``: the ``expression =
    value`` ones in the order written, then the prose ones."""
    text = (text or "")[:MAX_CLAIM_CHARS]
    return _equations(text) + _prose(text)


def prose_claims(text: str) -> list[tuple[str, str]]:
    """``(expression, claimed value)`` pairs stated in words (see the module docstring)."""
    return [(c.expr, c.value) for c in _prose((text or "")[:MAX_CLAIM_CHARS])]


def find_claims(text: str) -> list[tuple[str, str]]:
    """``(expression, claimed value)`` pairs in ``text`` (``claims`` without positions): the
    ``expression = value`` ones first, then the prose ones."""
    return [(c.expr, c.value) for c in claims(text)]


def _close(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a.strip() == b.strip()
    return abs(x - y) <= 1e-6 * max(1.0, abs(x), abs(y)) or (round(x, 2) == round(y, 2) and "." in b)


def _actual(claim: Claim) -> str | None:
    """The calculator's value of the claim's expression; ``None`` when it cannot be computed
    (e.g. "1/0"): no opinion on that claim."""
    try:
        return calculate(claim.expr)
    except CalculatorError:
        return None


def check_claims(text: str) -> tuple[int, int, list[str]]:
    """``(correct, total, notes)`` over the arithmetic claims of ``text``."""
    correct = total = 0
    notes: list[str] = []
    for c in claims(text):
        actual = _actual(c)
        if actual is None:
            continue
        total += 1
        if _close(actual, c.value):
            correct += 1
        else:
            notes.append(f"{c.expr} = {actual}, not {c.value}")
    return correct, total, notes


def repair_of(text: str) -> str | None:
    """``text`` up to its first wrong claim, with the calculator's value written in its place
    (Verify-and-Edit, Zhao et al. 2023: a rewrite continues from the corrected prefix instead of
    being asked to find the fix itself); ``None`` when every claim holds."""
    for c in sorted(claims(text), key=lambda c: c.start):
        actual = _actual(c)
        if actual is not None and not _close(actual, c.value):
            return text[: c.start] + actual
    return None


def claims_critique(notes: list[str]) -> str | None:
    """The critique a rewrite is shown for failed claims (``check_claims`` notes): each claim with
    the value the calculator computed; ``None`` when every claim held."""
    if not notes:
        return None
    return "A calculator re-checked the arithmetic: " + "; ".join(notes[:3]) + "."


class ArithmeticCheck(Composable):
    """Process reward: fraction of a step's arithmetic claims that the calculator confirms.

    ``strict=True`` scores any wrong claim 0 (one slip ruins a calculation); otherwise the score is
    the fraction correct. ``include_previous`` also re-checks the earlier steps of the path, so a
    path score reflects every claim on it.
    """

    kind = "process"

    def __init__(
        self,
        *,
        strict: bool = True,
        no_claim_score: float | None = 0.5,
        include_previous: bool = False,
        name: str = "arith",
    ) -> None:
        self.strict = strict
        self.no_claim_score = no_claim_score
        self.include_previous = include_previous
        self.name = name

    def _score_one(self, req: ScoreRequest) -> Verdict:
        texts = [s.raw or s.text for s in req.previous] if self.include_previous else []
        texts.append(req.candidate.raw or f"{req.candidate.title}\n{req.candidate.text}")
        correct, total, notes = check_claims("\n".join(texts))
        if total == 0:
            return Verdict(score=self.no_claim_score, rationale="no arithmetic claim to check")
        if self.strict:
            score = 1.0 if correct == total else 0.0
        else:
            score = correct / total
        why = f"{correct}/{total} arithmetic claims hold"
        if notes:
            why += "; wrong: " + "; ".join(notes[:3])
        own = req.candidate.raw or f"{req.candidate.title}\n{req.candidate.text}"
        return Verdict(score=score, rationale=why, critique=claims_critique(notes), repair=repair_of(own))

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        # Re-computing thousands of claims is CPU work: in a worker thread, so a server's event
        # loop keeps serving other runs meanwhile.
        return await asyncio.to_thread(lambda: [self._score_one(r) for r in requests])
