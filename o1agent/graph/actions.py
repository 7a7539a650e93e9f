"""External tool calls in the reasoning graph: steps that end in one, and ``tool_choice``.

A step that calls an external tool (one the caller runs) ends at that call
(``o1agent.tools.protocol``). Here it becomes an *action node*: final, because the path cannot go
on before the caller answers, with the call written canonically as its answer
(``action_text``), so every strategy ranks, collects and votes on it like an answer without
knowing about tools (identical calls vote together). ``finalize`` turns the chosen action node
into ``Result.tool_calls``; the caller's result comes back as a prior step of the next run
(``Tree.prior``).

``tool_choice="required"``: a final answer that calls no external tool is no outcome. It is kept
as an ordinary step (``as_action``) and the search goes on from it; when the chosen path still
ends without a call, ``force_call`` asks the model once for the call (the block's label written
for it when there is one external tool) and validates the arguments. Nothing invalid is ever
handed out: a call that does not fit its schema is an error, not a guess.

This module does not parse or run tool calls (``o1agent.tools``) or talk HTTP (the server).
"""

from __future__ import annotations

import json
import time

from ..policies.base import derive_seed
from ..schema import Node, Step, ToolCall, Tree, Usage
from ..search.types import Expansion
from .context import RunContext


def action_text(call: ToolCall) -> str:
    """The canonical text of a call (``name({"arg": 1})``, keys sorted): an action node's answer."""
    return f"{call.name}({json.dumps(call.arguments, sort_keys=True, default=str)})"


def as_action(step: Step, *, required: bool) -> Step:
    """``step`` as the run's outcome rules read it: a step ending in a pending external call is
    final, answering with that call; under ``required`` a final answer with no such call is an
    ordinary step (the search must go on to a call)."""
    pending = [c for c in step.tool_calls if c.pending]
    if pending:
        return step.model_copy(update={"is_final": True, "answer": action_text(pending[-1])})
    if required and step.is_final:
        return step.model_copy(update={"is_final": False, "answer": None})
    return step


def external_names(ctx: RunContext) -> list[str]:
    return [t.name for t in ctx.tools.values() if getattr(t, "external", False)]


async def force_call(
    ctx: RunContext, tree: Tree, question: str, subgoals: list[str], node: Node | None
) -> tuple[list[Node], Usage, str | None]:
    """One greedy step below ``node`` (the root when ``None``) that must call an external tool.

    Returns the new nodes (the action node and its updated parent; none on failure), the usage,
    and why no valid call came back (``None`` on success)."""
    # expand builds every node through make_child, which applies ``as_action`` from here.
    from ..policies.base import usage_of
    from ..tools import execute_tool_calls
    from .expand import complete, make_child, propose_request

    parent = node or tree.root
    path = tree.path(parent.id)
    names = external_names(ctx)
    # With one tool the label is written for the model; otherwise it names the tool itself.
    lead = f"```{names[0]}\n" if len(names) == 1 else "```"
    base = propose_request(ctx, question, subgoals, tree, Expansion(parent.id, k=1, greedy=True), parent)
    req = base.model_copy(
        update={
            "assistant_prefix": base.assistant_prefix + " " + lead,
            "stop": ["```"],
            "logprobs": False,
            "seed": derive_seed(ctx.seed, parent.id, "force_call"),
            "metadata": {"purpose": "force_call", "node_id": parent.id},
        }
    )
    t0 = time.perf_counter()
    out = (await complete(ctx, req))[0]
    usage = usage_of([out])
    text = f"{lead}{out.text.rstrip()}\n```\n"
    externals = {n: ctx.tools[n] for n in names}
    text, calls = await execute_tool_calls(text, externals)
    pending = [c for c in calls if c.pending]
    if not pending:
        why = next((c.error for c in calls if c.error), None) or f"it wrote no call of {' or '.join(names)}"
        return [], usage, f"tool_choice='required' but the model made no valid call: {why}"
    child = make_child(
        ctx,
        parent,
        path,
        out.model_copy(update={"text": text}),
        node_id=tree.next_child_id(parent.id),
        depth=parent.depth + 1,
        verify=False,
        tool_calls=calls,
        prompt=out.rendered_prompt,
        seconds=time.perf_counter() - t0,
    )
    updated = parent.model_copy(update={"children": [*parent.children, child.id]})
    return [child, updated], usage + Usage(nodes=1), None
