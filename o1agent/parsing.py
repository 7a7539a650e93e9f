"""Lenient parsing of model output: steps, final answers, judge verdicts.

Small models rarely follow an output format exactly, so every function here accepts anything and
returns its best reading; none raises on malformed text. What is *not* here: tool-call parsing
(``o1agent.tools``) and answer equivalence (``o1agent.rewards``).
"""

from __future__ import annotations

import re

from .schema import Step

_FINAL = re.compile(
    r"(?:final\s+answer|the\s+answer\s+is|answer\s*:|therefore,?\s+the\s+(?:total|answer|result)\s+is)\s*[:=]?\s*(?P<ans>[^\n]*)",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed\{(?P<ans>(?:[^{}]|\{[^{}]*\})*)\}")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_STEP_LABEL = re.compile(r"^\s*(?:step\s*\d+\s*[:.)-]\s*)", re.IGNORECASE)


def _clean_answer(ans: str) -> str:
    # "```" after "final answer" opens a code block, it is not the answer.
    ans = ans.strip().strip("*`").strip()
    ans = re.sub(r"^[\s:=]+", "", ans)
    ans = ans.rstrip(" .;,")
    # "$12$" / "**12**" / "12 sheep." -> keep the text, the verifier compares leniently.
    ans = ans.strip("$").strip()
    return ans


def extract_answer(text: str) -> str | None:
    """The final answer stated in ``text``: boxed, then "final answer"-style phrases. ``None``
    when the text states no answer explicitly (use ``last_number`` as a fallback)."""
    if not text:
        return None
    boxed = _BOXED.findall(text)
    if boxed:
        return _clean_answer(boxed[-1])
    matches = list(_FINAL.finditer(text))
    for m in reversed(matches):
        ans = _clean_answer(m.group("ans"))
        if ans:
            return ans
    return None


def last_number(text: str) -> str | None:
    nums = _NUMBER.findall(text or "")
    return nums[-1].replace(",", "") if nums else None


def lenient_answer(text: str, *, last_line: bool = True) -> str | None:
    """Explicit answer if stated, else the last number in the text, else (with ``last_line``)
    the last line. ``last_line=False`` is for counting votes: a line of prose is not an answer."""
    ans = extract_answer(text)
    if ans:
        # "12 sheep" -> "12" keeps answers comparable; leave non-numeric answers intact.
        return _shorten(ans)
    num = last_number(text)
    if num is not None:
        return num
    if not last_line:
        return None
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else None


_ENDS_IN_VALUE = re.compile(
    r"(?:\bis|=|\bequals)\s*(?P<num>-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\s*\.?\s*$", re.IGNORECASE
)


_STARTS_WITH_VALUE = re.compile(r"(?:is|=|equals)\s*(?P<num>-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\b", re.IGNORECASE)


def _shorten(ans: str) -> str:
    """A numeric answer phrase → its number ("12 sheep" → "12"; "the sum of the numbers is 10" →
    "10"); any other answer is kept as stated."""
    num = last_number(ans)
    if num is None or not _is_number_phrase(ans):
        return ans
    if len(ans) <= 40:
        return num
    # A long sentence counts only when it states its value up front ("is 18, which is the sum of
    # 8 and 5") or at the end ("... the sum of the numbers is 10").
    m = _STARTS_WITH_VALUE.match(ans) or _ENDS_IN_VALUE.search(ans)
    return m.group("num").replace(",", "") if m else ans


def _is_number_phrase(ans: str) -> bool:
    # "12", "12 sheep", "x = 12" are numeric answers; "3/4 of the pens" or "yes, 12" too. An
    # expression like "3*4=12" should still give 12 (the last number).
    return bool(_NUMBER.search(ans)) and not re.search(r"\\[a-z]+|[a-z]\s*\^", ans)


def parse_step(raw: str, *, finish_reason: str | None, eos_means_final: bool = True) -> Step:
    """Parse one generated step. ``raw`` is the text after the "Step N:" label.

    A step is final when it states an answer, or (``eos_means_final``) when the model ended its
    turn instead of stopping at the next step label — the solution is then complete and its answer
    is read leniently.
    """
    text = (raw or "").strip()
    text = _STEP_LABEL.sub("", text, count=1)
    lines = text.splitlines()
    if len(lines) > 1 and len(lines[0]) <= 100:
        title, body = lines[0].strip().strip("*#: "), "\n".join(lines[1:]).strip()
    else:
        title, body = "", text
    answer = extract_answer(text)
    ended = eos_means_final and finish_reason in ("eos", "end_turn") and answer is None
    is_final = answer is not None or ended
    if is_final and answer is None:
        answer = lenient_answer(text)
    if answer is not None:
        answer = _shorten(answer)
    return Step(title=title, text=body, raw=(raw or "").strip(), answer=answer, is_final=is_final)


_YES = re.compile(r"\b(yes|correct|right|true|valid)\b", re.IGNORECASE)
_NO = re.compile(r"\b(no|incorrect|wrong|false|invalid|not correct)\b", re.IGNORECASE)
_SCORE = re.compile(r"(?:score|rating)\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?", re.IGNORECASE)


def parse_verdict(text: str) -> tuple[float | None, str]:
    """Read a judge's reply: a yes/no or a "score: x/10". ``None`` when unreadable."""
    t = (text or "").strip()
    if not t:
        return None, "empty judge output"
    m = _SCORE.search(t)
    if m:
        val = float(m.group(1))
        scale = float(m.group(2)) if m.group(2) else (10.0 if val > 1 else 1.0)
        if scale > 0:
            return max(0.0, min(1.0, val / scale)), f"parsed score {m.group(0)!r}"
    first = t.split(None, 1)[0].strip(".,!:*").lower() if t.split() else ""
    if first in ("yes", "correct", "right", "true"):
        return 1.0, f"judge said {first!r}"
    if first in ("no", "incorrect", "wrong", "false"):
        return 0.0, f"judge said {first!r}"
    has_no, has_yes = _NO.search(t), _YES.search(t)
    if has_no and not has_yes:
        return 0.0, "judge said no"
    if has_yes and not has_no:
        return 1.0, "judge said yes"
    return None, f"unreadable judge output {t[:60]!r}"
