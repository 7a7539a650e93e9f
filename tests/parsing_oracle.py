"""The parsers as they were before issue 13 (quadratic on adversarial text), kept as an oracle.

``tests/test_parsing_linear.py`` checks that the linear-time parsers give the same readings as
these on ordinary text (and only on small inputs: these take seconds on a few kB of the wrong
text). Not imported by the library; do not use them elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from o1agent.schema import Step
from o1agent.tools.protocol import OUTPUT_LABEL, ParsedCall, _labels
from o1agent.tools.registry import Tool

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


_NUM = r"\d[\d,]*(?:\.\d+)?"
_OP = r"\s*[-+*/×÷x^]\s*"
_CLAIM = re.compile(
    rf"(?P<expr>\(?\s*-?{_NUM}\s*\)?(?:{_OP}\(?\s*-?{_NUM}\s*\)?)+)\s*=\s*(?P<value>-?{_NUM})(?![\d.]*\s*[-+*/×÷^]\s*\d)"
)


def find_claims(text: str) -> list[tuple[str, str]]:
    """``(expression, claimed value)`` pairs in ``text``; chains like ``a = b + c = d`` give each
    link whose left side is an expression."""
    out: list[tuple[str, str]] = []
    for m in _CLAIM.finditer(text or ""):
        expr = m.group("expr").strip()
        # "x" as multiplication only between numbers ("3 x 4"); a stray letter is not arithmetic.
        expr = re.sub(r"(?<=\d)\s*x\s*(?=\d)", "*", expr)
        if expr.count("(") != expr.count(")"):
            expr = expr.strip("()")
        out.append((expr, m.group("value").replace(",", "")))
    return out


_FENCE_OPEN = re.compile(r"```[ \t]*([A-Za-z_][\w-]{0,30})[ \t]*\r?\n")
_FENCE_CLOSE = re.compile(r"```")
_OUTPUT_AFTER = re.compile(r"[ \t]*\r?\n?[ \t]*\r?\n?```[ \t]*" + OUTPUT_LABEL + r"\b")
_GSM = re.compile(r"<<([^<>\n]{1,500}?)(?:>>|$)")
_INLINE = re.compile(r"\b(?:calc|calculate|calculator)\(", re.IGNORECASE)
_ALREADY = re.compile(r"[ \t]*=[ \t]*\S")


def _fenced(text: str, labels: dict[str, str]) -> tuple[list[ParsedCall], list[tuple[int, int]]]:
    calls: list[ParsedCall] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = _FENCE_OPEN.search(text, pos)
        if m is None:
            # A bare ``` opens a block too (no label: not a call, but skip its contents).
            bare = text.find("```", pos)
            if bare >= 0:
                close = text.find("```", bare + 3)
                spans.append((bare, len(text) if close < 0 else close + 3))
            break
        bare = text.find("```", pos)
        if 0 <= bare < m.start():
            # An unlabelled block before the next labelled one: skip over it.
            close = text.find("```", bare + 3)
            end = len(text) if close < 0 else close + 3
            spans.append((bare, end))
            pos = end
            continue
        close = _FENCE_CLOSE.search(text, m.end())
        body_end = close.start() if close else len(text)
        end = close.end() if close else len(text)
        spans.append((m.start(), end))
        label = m.group(1).lower()
        name = labels.get(label)
        if name is not None:
            body = text[m.end() : body_end]
            has_output = bool(close) and _OUTPUT_AFTER.match(text, end) is not None
            calls.append(
                ParsedCall(
                    name=name,
                    body=body.strip("\n"),
                    start=m.start(),
                    end=end,
                    closed=close is not None,
                    has_output=has_output,
                )
            )
        pos = end
    return calls, spans


def _inside(i: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= i < b for a, b in spans)


def _inline(text: str, spans: list[tuple[int, int]]) -> list[ParsedCall]:
    out: list[ParsedCall] = []
    for m in _GSM.finditer(text):
        if _inside(m.start(), spans):
            continue
        expr = m.group(1).split("=", 1)[0].strip()
        if expr and re.search(r"\d", expr):
            out.append(
                ParsedCall(
                    name="calc",
                    body=expr,
                    start=m.start(),
                    end=m.end(),
                    form="gsm8k",
                    closed=m.group(0).endswith(">>"),
                )
            )
    for m in _INLINE.finditer(text):
        if _inside(m.start(), spans):
            continue
        depth, i = 1, m.end()
        limit = min(len(text), m.end() + 500)
        while i < limit and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        if depth:
            continue  # unbalanced: not a call we can read
        body = text[m.end() : i - 1].strip()
        if body:
            out.append(
                ParsedCall(
                    name="calc",
                    body=body,
                    start=m.start(),
                    end=i,
                    form="inline",
                    has_output=bool(_ALREADY.match(text, i)),
                )
            )
    return out


def parse_tool_calls(text: str, tools: Mapping[str, Tool] | None = None) -> list[ParsedCall]:
    """Every tool call in ``text``, in order. ``tools`` limits the labels to those tools (default:
    the built-ins ``calc`` and ``python``). Never raises: unreadable text yields no calls."""
    try:
        if not isinstance(text, str) or ("```" not in text and "<<" not in text and "(" not in text):
            return []
        labels = _labels(tools)
        calls, spans = _fenced(text, labels)
        if "calc" in labels.values():
            calls += _inline(text, spans)
        calls.sort(key=lambda c: c.start)
        for c in calls:
            tool = tools.get(c.name) if tools is not None else None
            c.arguments = tool.arguments_from_text(c.body) if tool is not None else {"input": c.body}
        # Overlapping inline matches (a GSM annotation containing calc(...)): keep the first.
        kept: list[ParsedCall] = []
        for c in calls:
            if kept and c.start < kept[-1].end:
                continue
            kept.append(c)
        return kept
    except Exception:  # a parser bug must not lose a step: no calls is a safe reading
        return []
