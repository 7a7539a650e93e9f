r"""Lenient parsing of model output: steps, final answers, judge verdicts.

Small models rarely follow an output format exactly, so every function here accepts anything and
returns its best reading; none raises on malformed text. What is *not* here: tool-call parsing
(``o1agent.tools``) and answer equivalence (``o1agent.rewards``).

Every function runs in time linear in what it reads and reads a bounded part of its input:
answers are read from the last ``MAX_ANSWER_CHARS`` characters (where a text states them), judge
verdicts from the first ``MAX_VERDICT_CHARS``. Model text is adversarial input: a step can be
4,096 tokens of one repeated character, and these run on the server's event loop. So the
regexes are written without ambiguous repetition (possessive ``*+``, no two adjacent ``\s*``
that can share characters), and patterns anchored at the end of the text are replaced by a
backward scan, since a regex search retries every start position.
"""

from __future__ import annotations

import re

from .sanitize import strip_controls
from .schema import Step

#: Answers are stated at the end: only this many trailing characters are read for one.
MAX_ANSWER_CHARS = 32_768
#: A judge's verdict comes first: only this many leading characters are read.
MAX_VERDICT_CHARS = 8_192

# "final answer" is a label only with a separator, "is", or the answer right after it: in
# "Final answer: 42 ... This is the final answer to the question" the answer is 42, not "to".
_FINAL = re.compile(
    r"(?:final\s+answer(?=\s*+(?:[:=]|is\b|[-$\\\d*]))|answer\s*+:)"
    r"\s*+[:=]?+\s*+(?P<ans>[^\n]*)",
    re.IGNORECASE,
)
# Prose phrases state an answer only where no label does: in "Final answer: 5 ... where the answer
# is not based on ..." (SmolLM2 rambles on after its answer) the answer is 5.
_PROSE_FINAL = re.compile(
    r"(?:the\s+answer\s+is|therefore,?\s+the\s+(?:total|answer|result)\s+is)"
    r"\s*+[:=]?+\s*+(?P<ans>[^\n]*)",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed\{(?P<ans>(?:[^{}]|\{[^{}]*+\})*+)\}")
_NUMBER_PATTERN = r"-?\d[\d,]*+(?:\.\d++)?+(?:/\d++)?+"
_NUMBER = re.compile(_NUMBER_PATTERN)
_STEP_LABEL = re.compile(r"\s*+step\s*+\d++\s*+[:.)-]\s*+", re.IGNORECASE)
_LEADING_MARKS = re.compile(r"[\s:=]++")
# A label with nothing after it ("Final answer:", "**Answer:**", "\boxed{}") states no answer.
_BARE_LABEL = re.compile(
    r"(?:final\s++answer|(?:the\s++)?(?:final\s++)?answer(?:\s++is)?|therefore,?\s++the\s++(?:total|answer|result)\s++is"
    r"|\\boxed(?:\{\s*+\})?)",
    re.IGNORECASE,
)
#: Characters that are markup or punctuation around an answer, not an answer themselves.
_MARKS = " \t\r\n*_`$#:=.,;!?~-\"'()[]{}<>"
_MARKS_RUN = re.compile(f"[{re.escape(_MARKS)}]*+")


def _tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text``, starting at a line boundary when one is near
    (so the cut does not leave half a number or half a phrase to be read as an answer)."""
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    nl = tail.find("\n", 0, 1024)
    return tail[nl + 1 :] if nl >= 0 else tail


def _clean_answer(ans: str) -> str:
    # "```" after "final answer" opens a code block, it is not the answer.
    ans = ans.strip().strip("*`").strip()
    m = _LEADING_MARKS.match(ans)
    if m:
        ans = ans[m.end() :]
    ans = ans.rstrip(" .;,")
    # "$12$" / "**12**" / "12 sheep." -> keep the text, the verifier compares leniently.
    ans = ans.strip("$").strip()
    return ans


def usable_answer(text: str | None) -> str | None:
    """``text`` as a run's final answer, or ``None`` when it states none.

    Control characters are removed and whitespace stripped; what is left must be more than
    punctuation, markup and a bare label: "", "Final answer:", "**Answer:**" and an empty
    ``\\boxed{}`` are not answers.
    """
    if text is None:
        return None
    ans = strip_controls(text).strip()
    core = ans.strip(_MARKS)
    if len(core) > 200:  # longer than any run of labels a model writes: there is something
        return ans
    pos = 0
    while pos < len(core):
        m = _BARE_LABEL.match(core, pos)
        if m is None:
            break
        pos = _MARKS_RUN.match(core, m.end()).end()  # type: ignore[union-attr]  # always matches
    return ans if pos < len(core) else None


def extract_answer(text: str) -> str | None:
    """The final answer stated in ``text``: boxed, then "final answer"-style phrases. ``None``
    when the text states no answer explicitly (use ``last_number`` as a fallback). An empty
    ``\\boxed{}`` states nothing. Reads the last ``MAX_ANSWER_CHARS`` characters."""
    if not text:
        return None
    text = _tail(text, MAX_ANSWER_CHARS)
    # A stated non-answer ("\\boxed{}", "Final answer: \\boxed{}") states nothing: look further.
    for boxed in reversed(_BOXED.findall(text)):
        ans = _clean_answer(boxed)
        if usable_answer(ans) is not None:
            return ans
    for pattern in (_FINAL, _PROSE_FINAL):
        for m in reversed(list(pattern.finditer(text))):
            ans = _clean_answer(m.group("ans"))
            if usable_answer(ans) is not None:
                return ans
    return None


def last_number(text: str) -> str | None:
    nums = _NUMBER.findall(_tail(text or "", MAX_ANSWER_CHARS))
    return nums[-1].replace(",", "") if nums else None


def lenient_answer(text: str, *, last_line: bool = True) -> str | None:
    """Explicit answer if stated, else the last number in the text, else (with ``last_line``)
    the last line that is more than a bare label. ``last_line=False`` is for counting votes: a
    line of prose is not an answer."""
    ans = extract_answer(text)
    if ans:
        # "12 sheep" -> "12" keeps answers comparable; leave non-numeric answers intact.
        return _shorten(ans)
    num = last_number(text)
    if num is not None:
        return num
    if not last_line:
        return None
    for line in reversed(_tail(text or "", MAX_ANSWER_CHARS).splitlines()):
        if line.strip(_MARKS) and usable_answer(line) is not None:  # the cheap test first
            return line.strip()
    return None


# Not possessive: the number may give back a trailing comma to reach the word boundary ("18,").
_STARTS_WITH_VALUE = re.compile(r"(?:is|=|equals)\s*+(?P<num>-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\b", re.IGNORECASE)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _ends_in_value(ans: str) -> str | None:
    """The number ending ``ans`` when it is stated as a value ("... is 10", "... = 10.", "...
    equals 10"), else ``None``. A backward scan: a regex anchored at the end would be retried
    from every start position, which is quadratic on a long run of digits."""
    s = ans.rstrip()
    if s.endswith("."):
        s = s[:-1].rstrip()
    i = len(s)
    while i > 0 and s[i - 1] in "0123456789,./-":
        i -= 1
    if i == len(s) or not re.fullmatch(_NUMBER_PATTERN, s[i:]):
        return None
    head = s[:i].rstrip()
    low = head[-6:].lower()
    if head.endswith("="):
        return s[i:]
    for word in ("equals", "is"):
        if low.endswith(word) and (len(head) == len(word) or not _is_word_char(head[-len(word) - 1])):
            return s[i:]
    return None


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
    m = _STARTS_WITH_VALUE.match(ans)
    value = m.group("num") if m else _ends_in_value(ans)
    return value.replace(",", "") if value is not None else ans


_NOT_A_NUMBER = re.compile(r"\\[a-z]|[a-z]\s*+\^")


def _is_number_phrase(ans: str) -> bool:
    # "12", "12 sheep", "x = 12" are numeric answers; "3/4 of the pens" or "yes, 12" too. An
    # expression like "3*4=12" should still give 12 (the last number).
    return bool(_NUMBER.search(ans)) and not _NOT_A_NUMBER.search(ans)


def parse_step(raw: str, *, finish_reason: str | None, eos_means_final: bool = True) -> Step:
    """Parse one generated step. ``raw`` is the text after the "Step N:" label.

    A step is final when it states an answer, or (``eos_means_final``) when the model ended its
    turn instead of stopping at the next step label — the solution is then complete and its answer
    is read leniently.
    """
    text = (raw or "").strip()
    label = _STEP_LABEL.match(text)
    if label:
        text = text[label.end() :]
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
# One optional separator between the label and the number: "\s*[:=]?\s*" would let the two runs
# of spaces share characters, and "score" + 20,000 spaces took 6.5 s.
_SCORE = re.compile(r"(?:score|rating)\s*+(?:[:=]\s*+)?(\d++(?:\.\d++)?+)\s*+(?:/\s*+(\d++))?", re.IGNORECASE)


def parse_verdict(text: str) -> tuple[float | None, str]:
    """Read a judge's reply: a yes/no or a "score: x/10". ``None`` when unreadable. Reads the
    first ``MAX_VERDICT_CHARS`` characters."""
    t = (text or "")[:MAX_VERDICT_CHARS].strip()
    if not t:
        return None, "empty judge output"
    m = _SCORE.search(t)
    if m:
        val = float(m.group(1))
        scale = float(m.group(2)) if m.group(2) else (10.0 if val > 1 else 1.0)
        if scale > 0:
            return max(0.0, min(1.0, val / scale)), f"parsed score {m.group(0)!r}"
    first = t.split(None, 1)[0].strip(".,!:*").lower()
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
