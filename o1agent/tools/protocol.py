"""A text protocol for tool calls, for models without native function calling (the embedded one).

The protocol, as the prompts describe it (``tool_descriptions``):

* **Fenced block** — the canonical form. The fence label names the tool, the body is its input::

      ```calc
      37*48+12
      ```

      ```python
      print(sum(range(10)))
      ```

  The result is appended right after the block, always in this form (errors too)::

      ```output
      1788
      ```

  A block already followed by an ``output`` block has run and is not run again. A fence left
  open at the end of the text (the model stopped inside it) is still run, and closed first.
  A body that is a JSON object is taken as the tool's arguments when the tool has several.
* **Inline, lenient** — for a small model that writes arithmetic inline:
  ``calc(37*48+12)`` gets `` = 1788`` appended (skipped when the model already wrote ``= ...``),
  and GSM8K's calculator annotation ``<<37*48+12>>`` / ``<<37*48+12=1790>>`` becomes
  ``<<37*48+12=1788>>`` (the computed value replaces whatever the model claimed). Inline forms
  call the ``calc`` tool only, and never inside a fenced block (``<<`` is a shift in Python).

Integration with a generation loop: pass ``stop_sequences(tools)`` as extra stop strings so the
model pauses when it starts to write an ``output`` block itself, then ``execute_tool_calls`` and
continue generating from the text with the real observation. ``generate_with_tools`` is that loop,
written once: the caller supplies a ``complete(text_so_far)`` coroutine.

**External tools** (``Tool.external``: the caller runs them, e.g. an OpenAI client's functions)
are called with the same fenced block, its body the JSON arguments. Such a call is not run: its
arguments are checked against the tool's schema, and a valid call *ends the step* right after
its block (what the model wrote after it had no observation to stand on), recorded as a
``ToolCall`` with ``pending=True`` and a fresh id. Invalid arguments are never handed out: they
are a tool error (an ``Error: ...`` observation), and the model may try again in the same step.
``call_block`` writes a call with its result, as a prior step continuing after the caller ran it.

Nothing here raises on model output: ``parse_tool_calls`` reads anything, and tool failures become
``ToolCall.error`` plus an ``Error: ...`` observation. Parsing is linear in the text and reads at
most ``MAX_PARSE_CHARS`` characters: calls are found by scanning forward once, never by
re-searching the rest of the text per block.
"""

from __future__ import annotations

import bisect
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..policies.base import Completion
from ..schema import ToolCall
from .registry import OUTPUT_LABEL, Tool, make_tools

MAX_OBSERVATION = 2000
#: Calls are read from the first this many characters of a step (a step with tool rounds is a
#: few thousand tokens plus observations of at most ``MAX_OBSERVATION`` characters each).
MAX_PARSE_CHARS = 65_536
#: An inline ``calc(...)`` closes within this many characters, or it is not read as a call.
MAX_INLINE_CALL = 500
_DEFAULT_LABELS = {
    "calc": "calc",
    "calculator": "calc",
    "calculate": "calc",
    "python": "python",
    "py": "python",
}

# Opening fence: ``` + label at line start (or anywhere: small models do not always break lines).
# Labels as long as OpenAI's function names (64 characters). Runs of spaces are possessive
# (``*+``): two adjacent ``[ \t]*`` that can share characters backtrack quadratically.
_FENCE_OPEN = re.compile(r"```[ \t]*+([A-Za-z0-9_][\w-]{0,63})[ \t]*+\r?\n")
_OUTPUT_AFTER = re.compile(r"[ \t]*+\r?\n?[ \t]*+\r?\n?```[ \t]*+" + OUTPUT_LABEL + r"\b")
_GSM = re.compile(r"<<([^<>\n]{1,500}?)(?:>>|$)")
_INLINE = re.compile(r"\b(?:calc|calculate|calculator)\(", re.IGNORECASE)
_ALREADY = re.compile(r"[ \t]*+=[ \t]*+\S")
_PAREN = re.compile(r"[()]")
_DIGIT = re.compile(r"\d")

CallForm = Literal["fenced", "inline", "gsm8k"]


@dataclass
class ParsedCall:
    """One tool call found in text. ``start:end`` is the span of the call itself."""

    name: str
    body: str
    start: int
    end: int
    form: CallForm = "fenced"
    closed: bool = True
    has_output: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)


def _labels(tools: Mapping[str, Tool] | None) -> dict[str, str]:
    if tools is None:
        return dict(_DEFAULT_LABELS)
    return {label.lower(): t.name for t in tools.values() for label in t.labels}


def _fenced(text: str, labels: dict[str, str]) -> tuple[list[ParsedCall], list[tuple[int, int]]]:
    calls: list[ParsedCall] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    # The next labelled fence at or after ``pos``, searched again only once ``pos`` has passed
    # it: searching from ``pos`` after every unlabelled block re-read the rest of the text.
    m = _FENCE_OPEN.search(text)
    while True:
        if m is not None and m.start() < pos:
            m = _FENCE_OPEN.search(text, pos)
        if m is None:
            # A bare ``` opens a block too (no label: not a call, but skip its contents).
            bare = text.find("```", pos)
            if bare >= 0:
                close = text.find("```", bare + 3)
                spans.append((bare, len(text) if close < 0 else close + 3))
            break
        bare = text.find("```", pos, m.start() + 2)  # a ``` starting before the labelled one
        if bare >= 0:
            # An unlabelled block before the next labelled one: skip over it.
            close = text.find("```", bare + 3)
            end = len(text) if close < 0 else close + 3
            spans.append((bare, end))
            pos = end
            continue
        close = text.find("```", m.end())
        body_end = close if close >= 0 else len(text)
        end = close + 3 if close >= 0 else len(text)
        spans.append((m.start(), end))
        label = m.group(1).lower()
        name = labels.get(label)
        if name is not None:
            body = text[m.end() : body_end]
            has_output = close >= 0 and _OUTPUT_AFTER.match(text, end) is not None
            calls.append(
                ParsedCall(
                    name=name,
                    body=body.strip("\n"),
                    start=m.start(),
                    end=end,
                    closed=close >= 0,
                    has_output=has_output,
                )
            )
        pos = end
    return calls, spans


class _Spans:
    """Sorted, disjoint spans (the fenced blocks), for "is this position inside one?" in log time."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]

    def __contains__(self, i: int) -> bool:
        k = bisect.bisect_right(self.starts, i) - 1
        return k >= 0 and i < self.ends[k]


def _closing_parens(text: str) -> dict[int, int]:
    """For each ``(`` of ``text``, the index of the ``)`` that closes it (one pass, a stack)."""
    closes: dict[int, int] = {}
    opened: list[int] = []
    for p in _PAREN.finditer(text):
        if p.group() == "(":
            opened.append(p.start())
        elif opened:
            closes[opened.pop()] = p.start()
    return closes


def _inline(text: str, spans: list[tuple[int, int]]) -> list[ParsedCall]:
    out: list[ParsedCall] = []
    fenced = _Spans(spans)
    for m in _GSM.finditer(text):
        if m.start() in fenced:
            continue
        expr = m.group(1).split("=", 1)[0].strip()
        if expr and _DIGIT.search(expr):
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
    closes: dict[int, int] | None = None
    for m in _INLINE.finditer(text):
        if m.start() in fenced:
            continue
        if closes is None:
            closes = _closing_parens(text)
        close = closes.get(m.end() - 1)
        if close is None or close - m.end() >= MAX_INLINE_CALL:
            continue  # unbalanced (within reach): not a call we can read
        end = close + 1
        body = text[m.end() : close].strip()
        if body:
            out.append(
                ParsedCall(
                    name="calc",
                    body=body,
                    start=m.start(),
                    end=end,
                    form="inline",
                    has_output=bool(_ALREADY.match(text, end)),
                )
            )
    return out


def parse_tool_calls(text: str, tools: Mapping[str, Tool] | None = None) -> list[ParsedCall]:
    """Every tool call in ``text``, in order. ``tools`` limits the labels to those tools (default:
    the built-ins ``calc`` and ``python``). Never raises: unreadable text yields no calls. Reads
    the first ``MAX_PARSE_CHARS`` characters; a call reaching past them is not read."""
    try:
        if not isinstance(text, str) or ("```" not in text and "<<" not in text and "(" not in text):
            return []
        cut = len(text) > MAX_PARSE_CHARS
        text = text[:MAX_PARSE_CHARS]
        labels = _labels(tools)
        calls, spans = _fenced(text, labels)
        if "calc" in labels.values():
            calls += _inline(text, spans)
        if cut:
            calls = [c for c in calls if c.end < len(text)]
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


def _clip(s: str) -> str:
    s = s.strip("\n")
    return s if len(s) <= MAX_OBSERVATION else s[:MAX_OBSERVATION] + "\n... (truncated)"


def _observation(output: str | None, error: str | None) -> str:
    return f"Error: {error}" if error is not None else (output or "")


def call_block(name: str, body: str, *, output: str | None = None, error: str | None = None) -> str:
    """A fenced call of ``name`` with ``body`` followed by its observation: how a call the caller
    ran reads in a prior step."""
    return f"```{name}\n{body.strip()}\n```\n```{OUTPUT_LABEL}\n{_observation(output, error)}\n```\n"


def new_call_id() -> str:
    """A fresh id for a call handed to the caller (OpenAI's ``call_...`` form)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def format_observation(call: ParsedCall, call_text: str, output: str | None, error: str | None) -> str:
    """The text that replaces ``call``'s span (``call_text``): the call and its observation."""
    shown = _observation(output, error)
    if call.form == "fenced":
        block = call_text if call.closed else call_text.rstrip() + "\n```"
        return f"{block}\n```{OUTPUT_LABEL}\n{shown}\n```\n"
    first = shown.strip().splitlines()[0] if shown.strip() else ""
    if call.form == "gsm8k":
        return f"<<{call.body}={first}>>"
    return f"{call_text} = {first}"


async def _run_one(tool: Tool, call: ParsedCall) -> ToolCall:
    t0 = time.perf_counter()
    try:
        out = await tool.run(call.arguments or call.body)
        return ToolCall(
            name=tool.name, arguments=call.arguments, output=_clip(str(out)), seconds=time.perf_counter() - t0
        )
    except Exception as exc:  # any tool failure is an observation for the model, not a crash
        msg = str(exc).strip() or type(exc).__name__
        return ToolCall(
            name=tool.name, arguments=call.arguments, error=_clip(msg), seconds=time.perf_counter() - t0
        )


async def execute_tool_calls(
    step_text: str,
    tools: Mapping[str, Tool] | Iterable[Any],
    *,
    start: int = 0,
) -> tuple[str, list[ToolCall]]:
    """Run the calls in ``step_text`` (those beginning at or after ``start`` that have no output
    yet), in order, and return the text with observations inserted plus the ``ToolCall`` records.

    Fenced calls get an ```` ```output ```` block after them; inline ones are annotated in place
    (see the module docstring). Never raises: a failing tool yields ``ToolCall.error`` and an
    ``Error: ...`` observation. A valid call of an external tool is not run: the text ends after
    its block and the last record is that call, ``pending``.
    """
    try:
        table = tools if isinstance(tools, Mapping) else make_tools(tools)
    except Exception as exc:
        return step_text, [ToolCall(name="?", error=f"invalid tools: {exc}")]
    if not isinstance(step_text, str):
        return "", []
    calls = [
        c
        for c in parse_tool_calls(step_text, table)
        if c.start >= start and not c.has_output and c.name in table
    ]
    records: list[ToolCall] = []
    pieces: list[str] = []
    pos = 0
    for call in calls:
        tool = table[call.name]
        if tool.external:
            problem = tool.check_arguments(call.arguments)
            if problem is None:
                # The step ends at the call: the caller runs it, the next run continues from it.
                block = step_text[call.start : call.end]
                pieces.append(step_text[pos : call.start])
                pieces.append(block if call.closed else block.rstrip() + "\n```")
                records.append(
                    ToolCall(
                        name=tool.name,
                        arguments=call.arguments,
                        id=new_call_id(),
                        external=True,
                        pending=True,
                    )
                )
                return "".join(pieces) + "\n", records
            rec = ToolCall(name=tool.name, arguments=call.arguments, error=problem, external=True)
        else:
            rec = await _run_one(tool, call)
        records.append(rec)
        pieces.append(step_text[pos : call.start])
        pieces.append(format_observation(call, step_text[call.start : call.end], rec.output, rec.error))
        pos = call.end
        if call.form == "fenced" and step_text.startswith("\n", pos):
            pos += 1  # the observation block already ends the line
    pieces.append(step_text[pos:])
    return "".join(pieces), records


def stop_sequences(tools: Mapping[str, Tool] | Iterable[Any] | None) -> list[str]:
    """Extra stop strings for generation with tools: the model is stopped when it starts writing
    an ``output`` block itself (it would invent the result), right after its call closed."""
    if not tools:
        return []
    return [f"```{OUTPUT_LABEL}"]


def tool_descriptions(
    tools: Mapping[str, Tool] | Iterable[Any] | None, *, require_external: bool = False
) -> str:
    """Text for the prompts' ``{{ tools }}`` variable: each tool with an example call, and how
    results come back. Empty when there are no tools (the templates then omit the section).
    ``require_external``: the run must end by calling one of the external tools, and says so."""
    if not tools:
        return ""
    table = tools if isinstance(tools, Mapping) else make_tools(tools)
    lines = []
    for t in table.values():
        example = t.example or (
            "{" + ", ".join(f'"{k}": ...' for k in t.parameters.get("properties", {})) + "}"
        )
        lines.append(f"- {t.name}: {t.description}\n```{t.name}\n{example}\n```")
    lines.append(
        f"Write the block and stop; its result appears below it in an ```{OUTPUT_LABEL} block. "
        "Use the result in your next sentence."
    )
    external = [t.name for t in table.values() if t.external]
    if external and require_external:
        lines.append(f"You must finish by calling {' or '.join(external)}: write its block last.")
    return "\n".join(lines)


# The example step the prompts show when the calculator is among the tools (the embedded model's
# calculator figures were measured with exactly this text).
_CALC_EXAMPLE = (
    "Step 1: Compute the total\n```calc\n6*7\n```\n```output\n42\n```\nSo the total is 42.\nFinal answer: 42"
)


def tool_example(tools: Mapping[str, Tool] | Iterable[Any] | None) -> str:
    """The example step for the prompts' ``{{ tool_example }}``: a calculator step when ``calc``
    is a tool, else a call of the first tool (an external one ends its step at the call: its
    result comes back later). Empty without tools."""
    if not tools:
        return ""
    table = tools if isinstance(tools, Mapping) else make_tools(tools)
    if "calc" in table:
        return _CALC_EXAMPLE
    t = next(iter(table.values()))
    block = f"```{t.name}\n{t.example or '...'}\n```"
    if t.external:
        return f"Step 1: Ask {t.name}\n{block}"
    return f"Step 1: Use {t.name}\n{block}\n```{OUTPUT_LABEL}\n...\n```\nSo the result is ..."


def has_pending_call(text: str, tools: Mapping[str, Tool] | None = None, *, start: int = 0) -> bool:
    """True when ``text`` ends with a tool call that has not run yet (generation paused on it)."""
    last = len(text.rstrip())  # only whitespace after a call that ends at or after this
    for c in reversed(parse_tool_calls(text, tools)):
        if c.start < start:
            return False
        if not c.has_output and (c.form == "fenced" or not c.closed) and c.end >= last:
            return True
    return False


@dataclass
class ToolLoopResult:
    """The outcome of ``generate_with_tools``: the full step text (observations included), the
    tool calls made, and every completion (sum their usage)."""

    text: str
    tool_calls: list[ToolCall]
    completions: list[Completion]

    @property
    def finish_reason(self) -> str | None:
        return self.completions[-1].finish_reason if self.completions else None


async def generate_with_tools(
    complete: Callable[[str], Awaitable[Completion]],
    tools: Mapping[str, Tool] | Iterable[Any],
    *,
    max_rounds: int = 4,
) -> ToolLoopResult:
    """Generate one step, pausing at each tool call to insert the real observation.

    ``complete(text_so_far)`` must continue the step from ``text_so_far`` (the caller appends it
    to its assistant prefix) with ``stop_sequences(tools)`` among its stop strings. After at most
    ``max_rounds`` tool rounds the step ends; calls left in the final text are still executed, so
    every call in the step has an observation.
    """
    table = tools if isinstance(tools, Mapping) else make_tools(tools)
    text = ""
    processed = 0
    records: list[ToolCall] = []
    completions: list[Completion] = []
    for round_no in range(max_rounds + 1):
        out = await complete(text)
        completions.append(out)
        text += out.text
        paused = has_pending_call(text, table, start=processed)
        if not paused or round_no == max_rounds:
            break
        text, recs = await execute_tool_calls(text, table, start=processed)
        records += recs
        if recs and recs[-1].pending:  # handed to the caller: the step ends at its call
            return ToolLoopResult(text=text, tool_calls=records, completions=completions)
        processed = len(text)
        if not text.endswith("\n"):
            text += "\n"
    # Calls written mid-step (the model did not pause on them) still get their observations.
    text, recs = await execute_tool_calls(text, table, start=processed)
    records += recs
    return ToolLoopResult(text=text, tool_calls=records, completions=completions)
