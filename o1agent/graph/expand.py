"""Pure-ish helpers behind ``propose`` and ``revise``: requests, candidates, and new nodes.

``make_child`` is the one way a completion becomes a tree node (used by proposals and rewrites
alike), so an empty rewrite fails exactly as an empty proposal does. ``mark_duplicates`` is the
one place a candidate repeating a sibling's step is caught, for every strategy: it stays in the
tree (its tokens were spent and are counted) with status ``duplicate`` and ``duplicate_of``, and
is neither scored nor expanded. ``candidates`` decodes the
k candidates of one expansion — greedy-first, sampled, or in tool rounds — and ``rewrite`` one
revision. They call the policy only through ``complete`` / ``complete_many``, which hold the
run's concurrency limit; on a policy that batches natively, ``gather_round`` makes the calls of
concurrent expansions, rewrites and tool loops one batch call per round (see ``rounds``).
Nothing here touches LangGraph state: callers return the nodes as state updates.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine, Sequence
from functools import partial
from typing import Any, Literal, TypeVar

from .._aio import gather_settled
from ..parsing import parse_step
from ..policies.base import (
    Completion,
    CompletionRequest,
    batch_complete,
    batches_natively,
    derive_seed,
    usage_of,
)
from ..rewards.confidence import token_confidences
from ..schema import Node, Step, ToolCall, Tree, Usage
from ..search.base import Expansion
from . import rounds
from .actions import as_action
from .context import RunContext
from .meter import metered_many

T = TypeVar("T")

EMPTY_STEP = "the backend returned an empty step"
#: ``finish_reason`` of the stand-in for a tool round the budget did not pay for.
REFUSED = "budget"

#: Completion fields a node keeps under the same name.
_FROM_COMPLETION = ("finish_reason", "seed", "prompt_tokens", "completion_tokens", "reused_tokens")


async def complete(ctx: RunContext, req: CompletionRequest) -> list[Completion]:
    """The policy's completions for ``req``, within the run's concurrency limit and the node's
    budget meter: fewer than ``req.n`` (or none) when the budget cannot pay for them."""
    return (await complete_many(ctx, [req]))[0]


async def complete_many(ctx: RunContext, reqs: Sequence[CompletionRequest]) -> list[list[Completion]]:
    """The completions of every request, from one batch call (joined with the rest of the
    round inside ``gather_round``), each request admitted and clipped by the node's budget
    meter first (a refused one gets ``[]``)."""
    if not batches_natively(ctx.policy):
        # One metered call per request, admitted once it holds its concurrency slot (so it sees
        # what the calls before it really cost), and one that fails leaves the others' usage on
        # the meter.
        async def one(r: CompletionRequest) -> list[Completion]:
            async with ctx.limiter.get():
                return (await metered_many(ctx.policy, [r], partial(_policy_call, ctx)))[0]

        return await gather_settled(*(one(r) for r in reqs))
    return await metered_many(ctx.policy, reqs, partial(rounds.submit, partial(_batch_call, ctx)))


async def _policy_call(ctx: RunContext, reqs: list[CompletionRequest]) -> list[list[Completion]]:
    return await batch_complete(ctx.policy, reqs, limit=ctx.concurrency)


async def _batch_call(ctx: RunContext, reqs: list[CompletionRequest]) -> list[list[Completion]]:
    async with ctx.limiter.get():
        return await _policy_call(ctx, reqs)


async def gather_round(ctx: RunContext, *coros: Coroutine[Any, Any, T]) -> list[T]:
    """``asyncio.gather`` of ``coros``; on a policy that batches natively their calls reach it
    as one batch call per round (a backend making one call per request gains nothing there)."""
    if not batches_natively(ctx.policy):
        # Every candidate ends (and settles its usage) before a failure leaves the node.
        return await gather_settled(*coros)
    return await rounds.gather(partial(_batch_call, ctx), *coros)


async def ask(
    ctx: RunContext,
    template: str,
    *,
    max_tokens: int,
    temperature: float = 0.0,
    seed_parts: Sequence[object] | None = None,
    stop: Sequence[str] = (),
    node_id: str | None = None,
    **variables: Any,
) -> tuple[list[Completion], str]:
    """Render ``template`` with ``variables`` and make one call for it (its purpose is the
    template's name; its seed derives from the run's seed and ``seed_parts``, by default the
    name). Returns
    the completions and the assistant prefix they continue. Proposals build their own request:
    they ask for k candidates."""
    messages, prefix = ctx.prompts.render(template, **variables)
    metadata: dict[str, Any] = {"purpose": template}
    if node_id is not None:
        metadata["node_id"] = node_id
    req = CompletionRequest(
        messages=messages,
        assistant_prefix=prefix,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=derive_seed(ctx.seed, *(seed_parts if seed_parts is not None else (template,))),
        stop=list(stop),
        metadata=metadata,
    )
    return await complete(ctx, req), prefix


def steps_for_prompt(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """Steps as the templates read them (``tree.steps_to(node_id)``: prior steps, then the path)."""
    return [{"title": s.title, "text": s.text, "raw": s.raw} for s in steps]


def step_stops(path_len: int) -> list[str]:
    """Stop before the model starts the step after the one it is writing."""
    nxt = path_len + 2
    return [f"Step {nxt}:", f"\nStep {nxt} "]


def make_child(
    ctx: RunContext,
    parent: Node,
    path: Sequence[Node],
    out: Completion,
    *,
    node_id: str,
    depth: int,
    verify: bool | Literal["final"],
    tool_calls: Sequence[ToolCall] = (),
    prompt: str = "",
    seconds: float = 0.0,
    **extra: Any,
) -> Node:
    """The node for one completion: parsed, cleaned up for the model's habits, marked failed when
    empty. ``verify="final"`` scores it only if it is final after clean-up (a repeated step
    becomes final there). ``extra`` sets revision fields (``revised_from``, ``revisions``).
    A step ending in an external call is an action (final; see ``actions.as_action``)."""
    step: Step = parse_step(out.text, finish_reason=out.finish_reason)
    if tool_calls:
        step = step.model_copy(update={"tool_calls": list(tool_calls)})
    step = ctx.cleanup.apply(step, parent, path)
    step = as_action(step, required=ctx.tool_choice == "required")
    empty = not step.raw.strip()
    k = int(getattr(ctx.strategy, "top_logprobs", 0) or 0)
    return Node(
        id=node_id,
        parent_id=parent.id,
        depth=depth,
        step=step,
        status="failed" if empty else ("terminal" if step.is_final else "open"),
        # An empty step is worth nothing (not a grader's guess): strategies rank it last.
        score=0.0 if empty else None,
        critique=EMPTY_STEP if empty else None,
        verify=not empty and (step.is_final if verify == "final" else bool(verify)),
        prompt=prompt,
        raw_output=out.text,
        mean_logprob=out.mean_logprob,
        token_confidence=token_confidences(out.logprobs, k) if k else None,
        seconds=out.seconds or seconds,
        **{f: getattr(out, f) for f in _FROM_COMPLETION},
        **extra,
    )


def propose_request(
    ctx: RunContext, question: str, subgoals: list[str], tree: Tree, x: Expansion, parent: Node
) -> CompletionRequest:
    gen = ctx.generation
    steps = tree.steps_to(parent.id)
    messages, prefix = ctx.prompts.render(
        "propose",
        question=question,
        subgoals=subgoals,
        steps=steps_for_prompt(steps),
        tools=ctx.tool_text,
        tool_example=ctx.tool_example,
    )
    return CompletionRequest(
        messages=messages,
        assistant_prefix=prefix,
        max_tokens=gen.step_tokens,
        temperature=0.0 if x.greedy else gen.temperature,
        n=x.k,
        seed=derive_seed(ctx.seed, parent.id, len(parent.children)),
        stop=[*step_stops(len(steps)), *ctx.tool_stops],
        logprobs=True,
        top_logprobs=int(getattr(ctx.strategy, "top_logprobs", 0) or 0),
        metadata={"purpose": "propose", "node_id": parent.id},
    )


async def candidates(
    ctx: RunContext, base: CompletionRequest, parent: Node, x: Expansion
) -> tuple[list[Completion], list[list[ToolCall]]]:
    """The k completions of one expansion, and each one's tool calls."""
    if ctx.tools:
        # Each candidate loops generate → tool → continue; the loops advance in lockstep.
        found = await gather_round(ctx, *(_with_tools(ctx, base, parent, x, i) for i in range(x.k)))
        pairs = [p for p in found if p is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    if x.k == 1 or not (ctx.generation.greedy_first and x.greedy_first) or base.temperature == 0.0:
        return await complete(ctx, base), [[] for _ in range(x.k)]
    # First candidate greedy, the rest sampled: the greedy path is always in the tree.
    greedy, sampled = await complete_many(
        ctx,
        [
            base.model_copy(update={"n": 1, "temperature": 0.0}),
            # The sampled ones take the next seed (None stays None: unseeded means unseeded).
            base.model_copy(update={"n": x.k - 1, "seed": None if base.seed is None else base.seed + 1}),
        ],
    )
    outs = [*greedy, *sampled]
    return outs, [[] for _ in outs]


def _is_greedy(ctx: RunContext, base: CompletionRequest, x: Expansion, i: int) -> bool:
    first = i == 0 and x.k > 1 and ctx.generation.greedy_first and x.greedy_first
    return x.greedy or base.temperature == 0.0 or first


async def _with_tools(
    ctx: RunContext, base: CompletionRequest, parent: Node, x: Expansion, i: int
) -> tuple[Completion, list[ToolCall]] | None:
    """One candidate generated in rounds: pause at a tool call, run it, continue. ``None`` when
    the budget refused its first round."""
    from ..tools import generate_with_tools

    greedy = _is_greedy(ctx, base, x, i)
    prefix = base.assistant_prefix

    async def step(so_far: str) -> Completion:
        cue = ctx.cleanup.cue_after(so_far)
        req = base.model_copy(
            update={
                "n": 1,
                "temperature": 0.0 if greedy else base.temperature,
                "assistant_prefix": prefix + so_far + cue,
                "seed": derive_seed(ctx.seed, parent.id, len(parent.children), i),
                "stop": [*base.stop, "```\n```"],
            }
        )
        outs = await complete(ctx, req)
        if not outs:  # the budget refused this round: the step ends here
            return Completion(text="", finish_reason=REFUSED)
        out = outs[0]
        return out.model_copy(update={"text": cue + out.text}) if cue else out

    loop = await generate_with_tools(step, dict(ctx.tools), max_rounds=ctx.max_tool_rounds)
    parts = [c for c in loop.completions if c.finish_reason != REFUSED]
    if not parts:
        return None
    merged = Completion(
        text=loop.text,
        finish_reason=parts[-1].finish_reason,
        prompt_tokens=sum(c.prompt_tokens for c in parts),
        completion_tokens=sum(c.completion_tokens for c in parts),
        reused_tokens=sum(c.reused_tokens for c in parts),
        dollars=sum(c.dollars for c in parts),
        seconds=sum(c.seconds for c in parts),
        seed=parts[0].seed,
        logprobs=[t for c in parts for t in (c.logprobs or [])] or None,
        rendered_prompt=parts[0].rendered_prompt,
    )
    return merged, loop.tool_calls


async def expand(
    ctx: RunContext, tree: Tree, question: str, subgoals: list[str], x: Expansion
) -> tuple[list[Node], Node, Usage]:
    """Propose ``x.k`` children of ``x.node_id``; return them, the updated parent, and usage.

    A parent whose every candidate came back empty is marked ``failed`` so no strategy selects
    it again (an empty expansion must not loop forever).
    """
    parent = tree.get(x.node_id)
    path = tree.path(parent.id)
    base = propose_request(ctx, question, subgoals, tree, x, parent)
    t0 = time.perf_counter()
    outs, tool_records = await candidates(ctx, base, parent, x)
    share = (time.perf_counter() - t0) / max(1, len(outs))
    first = len(parent.children)
    children = [
        make_child(
            ctx,
            parent,
            path,
            out,
            node_id=f"{parent.id}.{first + i}",
            depth=parent.depth + 1,
            verify=x.verify,
            tool_calls=tool_records[i],
            prompt=out.rendered_prompt if i == 0 else "",
            seconds=share,
        )
        for i, out in enumerate(outs)
    ]
    # verify="final" must follow the *cleaned* step (a repeated step becomes final there).
    if x.verify == "final":
        children = [
            c.model_copy(update={"verify": c.step.is_final and c.status != "failed"}) for c in children
        ]
    children = mark_duplicates(tree.children(parent.id), children)
    update: dict[str, Any] = {"children": [*parent.children, *(c.id for c in children)]}
    if not parent.step.is_final:
        update["status"] = "expanded"
    if children and all(c.status == "failed" for c in children):
        update.update(status="failed", critique="every proposal from this node was empty")
    usage = usage_of(outs) + Usage(nodes=len(children), tool_calls=sum(len(r) for r in tool_records))
    return children, parent.model_copy(update=update), usage


def step_key(step: Step) -> str:
    """What makes two candidate steps the same: their text, case and spacing aside."""
    return " ".join((step.raw or f"{step.title} {step.text}").split()).casefold()


def mark_duplicates(siblings: Sequence[Node], children: list[Node]) -> list[Node]:
    """``children`` with each one that repeats an earlier sibling's step (or an earlier child's)
    marked ``duplicate`` of it: not verified, never expanded. Failed, revised and duplicate
    siblings are no originals (a rewrite that repeats a rejected version is new again)."""
    seen = {step_key(s.step): s.id for s in siblings if s.status not in ("failed", "revised", "duplicate")}
    out: list[Node] = []
    for c in children:
        key = step_key(c.step)
        if c.status != "failed" and key in seen:
            c = c.model_copy(
                update={
                    "status": "duplicate",
                    "duplicate_of": seen[key],
                    "verify": False,
                    "critique": f"repeats sibling {seen[key]}",
                }
            )
        elif c.status != "failed":
            seen[key] = c.id
        out.append(c)
    return out


#: What a rewrite is told when its step has no critique at all.
NO_CRITIQUE = "this step may be wrong; check it."


async def critique_for(
    ctx: RunContext, question: str, steps: Sequence[Step], node: Node
) -> tuple[str, str, Usage]:
    """``(critique, source, usage)`` a rewrite of ``node`` is shown: a grounded check's finding
    as it is; otherwise, with the strategy's ``critique="generated"``, one the model writes
    (one short call, counted); otherwise the grader's rationale (a judge's P(yes)). With
    ``critique="none"`` only that the step may be wrong (the control)."""
    mode = getattr(ctx.strategy.config, "critique", "verdict")
    if mode == "none":
        return NO_CRITIQUE, "verdict", Usage()
    if node.critique_source == "check" and node.critique:
        return node.critique, "check", Usage()
    if mode == "generated":
        outs, _ = await ask(
            ctx,
            "critique",
            max_tokens=64,
            seed_parts=(node.id, "critique", node.revisions),
            node_id=node.id,
            stop=["\n\n"],
            question=question,
            steps=steps_for_prompt(steps),
            candidate=node.step.raw,
        )
        text = outs[0].text.strip() if outs else ""  # no outs: the budget refused the call
        if text:
            return text, "generated", usage_of(outs)
        return node.critique or NO_CRITIQUE, node.critique_source or "verdict", usage_of(outs)
    return node.critique or NO_CRITIQUE, node.critique_source or "verdict", Usage()


async def rewrite(ctx: RunContext, tree: Tree, question: str, node: Node) -> tuple[Node | None, Usage]:
    """A rewrite of ``node`` from its critique, as a sibling (id assigned by the caller);
    ``None`` when the budget refused the call.

    When a grounded check offered a ``repair`` (the step up to its first wrong claim, with the
    checked value in its place), the rewrite is the step continued greedily from that corrected
    prefix (Verify-and-Edit): the template then renders the proposal prompt ending in the
    repair, so a model too weak to act on a critique still writes from a true statement."""
    parent = tree.get(node.parent_id or tree.root_id)
    path = tree.path(parent.id)
    steps = tree.steps_to(parent.id)
    t0 = time.perf_counter()
    critique, source, critique_usage = await critique_for(ctx, question, steps, node)
    repair = node.repair if source == "check" else None
    outs, _ = await ask(
        ctx,
        "revise",
        max_tokens=ctx.generation.step_tokens,
        temperature=0.0 if repair else ctx.generation.temperature,
        seed_parts=(node.id, "revise", node.revisions),
        node_id=node.id,
        stop=step_stops(len(steps)),
        question=question,
        steps=steps_for_prompt(steps),
        candidate=node.step.raw,
        critique=critique,
        critique_source=source,
        repair=repair,
        subgoals=[],
        tools=ctx.tool_text,
        # A repair continues in the proposal prompt, which shows the tools' example step.
        tool_example=ctx.tool_example,
    )
    if not outs:
        # The budget refused the rewrite; a generated critique was still paid for.
        return None, critique_usage
    out = outs[0]
    if repair:
        # The step is the corrected prefix and what the model wrote after it.
        out = out.model_copy(update={"text": repair + out.text})
    new = make_child(
        ctx,
        parent,
        path,
        out,
        node_id="",
        depth=node.depth,
        verify=node.verify,
        prompt=out.rendered_prompt,
        seconds=time.perf_counter() - t0,
        revised_from=node.id,
        revisions=node.revisions + 1,
    )
    return new, critique_usage + usage_of(outs) + Usage(nodes=1)


def attach_revision(tree: Tree, changed: dict[str, Node], old: Node, new: Node) -> Node:
    """Give a rewrite of ``old`` its id (the parent's next child), mark ``old`` revised, and
    record both in ``changed``. An empty rewrite is a failed node, as an empty proposal is;
    ``old`` then stays live, with the attempt counted so it is not rewritten forever."""
    parent = changed.get(new.parent_id or "") or tree.get(new.parent_id or tree.root_id)
    new = new.model_copy(update={"id": f"{parent.id}.{len(parent.children)}"})
    changed[parent.id] = parent.model_copy(update={"children": [*parent.children, new.id]})
    if new.status == "failed":
        changed[old.id] = old.model_copy(update={"revisions": old.revisions + 1})
    else:
        changed[old.id] = old.model_copy(update={"status": "revised"})
    changed[new.id] = new
    return new
