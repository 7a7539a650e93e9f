"""Chat-facing shaping of runs, shared by the OpenAI-compatible server and the LangChain model.

* ``question_from_messages`` — a chat transcript (role, text) → the question: the last user
  turn, with earlier system / developer / user / assistant turns as context above it. Tool
  turns and empty turns are dropped (the search cannot act on them).
* ``continue_from_turns`` — a transcript with tool calls (``Turn``) → the question and the
  *prior steps*: each assistant turn after the last user turn (an external tool's call the
  caller ran) becomes one step, its call followed by the result the caller sent back, so the
  next run continues after it. Stateless: everything comes from the messages, as OpenAI clients
  expect; no server-side session is needed or kept.
* ``step_text`` — one line of live reasoning for a custom stream event (``reasoning_content``).
* ``reasoning_of`` — the chosen path as text, for a non-streamed reply.
* ``answer_or_why`` — the answer, or "no answer: <reason>" for a run that has none (where text
  must be shown: the CLI, a tool's reply).

Each adapter maps its own message type to ``(role, text)`` pairs with ``text_of`` and these
role names; the rules live here once. This module does no I/O and calls no model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidQuestionError
from .schema import Result, Step, ToolCall

#: Turns that are context for the question (others, e.g. tool results, are dropped).
CONTEXT_ROLES = ("system", "developer", "user", "assistant")

#: LangChain message types → OpenAI roles.
LANGCHAIN_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a content list (images
    and audio are ignored: the search is text-only)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p if isinstance(p, str) else str(p.get("text", ""))
            for p in content
            if isinstance(p, str) or (isinstance(p, dict) and p.get("type") == "text")
        )
    return str(content)


def question_from_messages(messages: Iterable[tuple[str, str]]) -> str:
    """The last user turn is the question; earlier context turns are given above it.

    Raises ``InvalidQuestionError`` when there is no user turn or the last one is empty.
    """
    turns = [(role, text.strip()) for role, text in messages]
    last = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=None)
    if last is None:
        raise InvalidQuestionError("the messages hold no user message (the question)")
    question = turns[last][1]
    if not question:
        raise InvalidQuestionError("the last user message is empty")
    context = [f"{role}: {text}" for role, text in turns[:last] if text and role in CONTEXT_ROLES]
    if context:
        return "Context:\n" + "\n".join(context) + "\n\nQuestion: " + question
    return question


@dataclass(frozen=True)
class Turn:
    """One chat message as o1agent reads it. ``tool_calls``: an assistant turn's calls (id, name,
    arguments); ``tool_call_id``: which call a tool turn answers."""

    role: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


def continue_from_turns(turns: Sequence[Turn]) -> tuple[str, list[Step]]:
    """The question and the prior steps of a transcript (see the module docstring).

    Raises ``InvalidQuestionError`` when a call after the question has no result, or a tool
    turn answers no call (OpenAI rejects both too)."""
    from .tools import call_block

    question = question_from_messages((t.role, t.text) for t in turns)
    last = max(i for i, t in enumerate(turns) if t.role == "user")
    later = turns[last + 1 :]
    results: dict[str, str] = {}
    calls = [c for t in later if t.role == "assistant" for c in t.tool_calls]
    known = {c.id for c in calls}
    unanswered = [c.id for c in calls]
    for t in later:
        if t.role != "tool":
            continue
        # A tool turn without an id answers the one call left unanswered, if there is just one.
        cid = t.tool_call_id or (unanswered[0] if len(unanswered) == 1 else None)
        if cid not in known:
            raise InvalidQuestionError(f"a tool message answers {cid!r}, which no assistant tool call made")
        results[cid] = t.text  # type: ignore[index]
        unanswered = [u for u in unanswered if u != cid]
    steps: list[Step] = []
    for t in later:
        if t.role != "assistant" or not (t.text.strip() or t.tool_calls):
            continue
        parts = [t.text.strip()] if t.text.strip() else [f"Call {', '.join(c.name for c in t.tool_calls)}"]
        done: list[ToolCall] = []
        for c in t.tool_calls:
            if c.id not in results:
                raise InvalidQuestionError(
                    f"the tool call {c.id!r} ({c.name}) has no tool message with its result"
                )
            parts.append(call_block(c.name, json.dumps(c.arguments), output=results[c.id]).rstrip("\n"))
            done.append(c.model_copy(update={"output": results[c.id], "pending": False, "external": True}))
        raw = "\n".join(parts)
        title, _, body = raw.partition("\n")
        steps.append(Step(title=title.strip(), text=body.strip(), raw=raw, tool_calls=done))
    return question, steps


def reasoning_of(result: Result) -> str:
    """The chosen path, one ``[Step id] text`` line per step."""
    return "".join(f"[Step {n.id}] {n.step.raw.strip()}\n" for n in result.best_path)


def answer_or_why(result: Result) -> str:
    """The run's answer, or "no answer: <why>" when it has none."""
    return result.answer if result.answer is not None else f"no answer: {result.no_answer_reason}"


def step_text(ev: dict[str, Any]) -> str | None:
    """One line of reasoning for a custom stream event, or ``None`` for events not worth showing."""
    kind = ev.get("kind")
    node = ev.get("node_id") or ""
    if kind in ("propose", "revise"):
        label = "Revised step" if kind == "revise" else "Step"
        return f"[{label} {node}] {(ev.get('text') or ev.get('title') or '').strip()}\n"
    if kind == "tool":
        data = ev.get("data") or {}
        if data.get("pending"):
            return f"[tool call {data.get('tool')}({data.get('input', '')}): handed to the caller]\n"
        out = data.get("output") if data.get("error") is None else f"error: {data.get('error')}"
        return f"[tool {data.get('tool')}({data.get('input', '')}) → {out}]\n"
    if kind == "verify":
        error = (ev.get("data") or {}).get("error")
        if error:
            return f"[not scored {node}: {error}]\n"
        score = (ev.get("scores") or {}).get("score")
        return None if score is None else f"[score {node}: {score:.2f}]\n"
    if kind == "backtrack":
        return f"[backtrack from {(ev.get('data') or {}).get('from')} to {node}]\n"
    if kind == "budget":
        return f"[budget spent: {(ev.get('data') or {}).get('exhausted_by')}]\n"
    return None
