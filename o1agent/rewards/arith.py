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

import re

from ..tools.calculator import CalculatorError, calculate
from .base import ScoreRequest, Verdict
from .compose import Composable

# An expression: numbers joined by operators (at least one operator), optional parentheses.
_NUM = r"\d[\d,]*(?:\.\d+)?"
_OP = r"\s*[-+*/×÷x^]\s*"
_CLAIM = re.compile(
    rf"(?P<expr>\(?\s*-?{_NUM}\s*\)?(?:{_OP}\(?\s*-?{_NUM}\s*\)?)+)\s*=\s*(?P<value>-?{_NUM})(?![\d.]*\s*[-+*/×÷^]\s*\d)"
)


_PN = r"(-?\d[\d,]*(?:\.\d+)?)"
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
    (re.compile(rf"(?<![\d.]){_PN}\s+plus\s+{_PN}{_GETS}{_PN}", re.I), "+"),
    (re.compile(rf"(?<![\d.]){_PN}\s+minus\s+{_PN}{_GETS}{_PN}", re.I), "-"),
    (re.compile(rf"(?<![\d.]){_PN}\s+(?:times|multiplied by)\s+{_PN}{_GETS}{_PN}", re.I), "*"),
    (re.compile(rf"(?<![\d.]){_PN}\s+divided by\s+{_PN}{_GETS}{_PN}", re.I), "/"),
]


def prose_claims(text: str) -> list[tuple[str, str]]:
    """``(expression, claimed value)`` pairs stated in words (see the module docstring)."""
    out: list[tuple[str, str]] = []
    for pattern, op in _PROSE:
        for m in pattern.finditer(text or ""):
            nums = [g.replace(",", "") for g in m.groups() if g is not None]
            *operands, value = nums
            if op == "from":  # "subtract a from b" is b - a
                expr = f"{operands[1]} - {operands[0]}"
            else:
                expr = f" {op} ".join(operands)
            out.append((expr, value))
    return out


def find_claims(text: str) -> list[tuple[str, str]]:
    """``(expression, claimed value)`` pairs in ``text``; chains like ``a = b + c = d`` give each
    link whose left side is an expression; prose claims (``prose_claims``) come after."""
    out: list[tuple[str, str]] = []
    for m in _CLAIM.finditer(text or ""):
        expr = m.group("expr").strip()
        # "x" as multiplication only between numbers ("3 x 4"); a stray letter is not arithmetic.
        expr = re.sub(r"(?<=\d)\s*x\s*(?=\d)", "*", expr)
        if expr.count("(") != expr.count(")"):
            expr = expr.strip("()")
        out.append((expr, m.group("value").replace(",", "")))
    return out + prose_claims(text)


def _close(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a.strip() == b.strip()
    return abs(x - y) <= 1e-6 * max(1.0, abs(x), abs(y)) or (round(x, 2) == round(y, 2) and "." in b)


def check_claims(text: str) -> tuple[int, int, list[str]]:
    """``(correct, total, notes)`` over the arithmetic claims of ``text``."""
    correct = total = 0
    notes: list[str] = []
    for expr, value in find_claims(text):
        try:
            actual = calculate(expr)
        except CalculatorError:
            continue  # not something we can check (e.g. "1/0"): no opinion on it
        total += 1
        if _close(actual, value):
            correct += 1
        else:
            notes.append(f"{expr} = {actual}, not {value}")
    return correct, total, notes


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
        return Verdict(score=score, rationale=why, critique=claims_critique(notes))

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return [self._score_one(r) for r in requests]
