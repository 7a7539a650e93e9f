"""Chat-facing shaping of runs, shared by the OpenAI-compatible server and the LangChain model.

* ``question_from_messages`` — a chat transcript (role, text) → the question: the last user
  turn, with earlier system / developer / user / assistant turns as context above it. Tool
  turns and empty turns are dropped (the search cannot act on them).
* ``step_text`` — one line of live reasoning for a custom stream event (``reasoning_content``).
* ``reasoning_of`` — the chosen path as text, for a non-streamed reply.
* ``answer_or_why`` — the answer, or "no answer: <reason>" for a run that has none (where text
  must be shown: the CLI, a tool's reply).

Each adapter maps its own message type to ``(role, text)`` pairs with ``text_of`` and these
role names; the rules live here once. This module does no I/O and calls no model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import InvalidQuestionError
from .schema import Result

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
