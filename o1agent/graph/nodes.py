"""The reasoning graph's nodes and routers: small module-level functions over the run context.

    decompose -> select -> propose -> verify -> (revise -> verify)* -> select -> ... -> finalize

Each node reads ``runtime.context`` (a ``RunContext``: policy, strategy, reward, budget,
prompts, generation, tools, seed) and returns a partial state update for the reducers in
``state.py``. They hold no state of their own, so one compiled graph serves every run.

* ``decompose`` starts the run: a fresh tree, usage and events (even on a reused thread), and
  sub-goals when asked for.
* ``select`` folds the last scored children into the strategy (``update``), checks the budget
  and ``done``, then asks the strategy what to expand, clipped to the node budget left. A
  selection the strategy marks as leaving a branch (``backtrack_from``) is recorded as one.
* ``propose`` decodes the candidates of every selected node concurrently (and rewrites the
  nodes a strategy asked to revise), as one batch call on a policy that batches.
* ``verify`` scores new steps; a grader that cannot judge marks the node with its error.
* ``revise`` rewrites steps scoring below the strategy's ``revise_below`` from their critique
  (unless the strategy revises by itself).
* ``finalize`` takes the strategy's choice and builds the ``Result`` and the full trace. A
  choice that ends in an external tool call is the run's outcome as it is (``Result.tool_calls``);
  under ``tool_choice="required"`` a choice without one gets one forced call (``actions``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from ..errors import ConfigError
from ..parsing import lenient_answer, usable_answer
from ..policies.base import RUN_KEY, RUN_TASKS, join_run, usage_of
from ..rewards.base import ScoreRequest, Verdict
from ..schema import Node, Trace, Tree, Usage
from ..search.base import Expansion, choice_of
from .actions import force_call
from .answer import Answer, build_result, choose_answer
from .context import RunContext
from .events import Events, token_counts
from .expand import ask, attach_revision, expand, gather_round, rewrite, steps_for_prompt
from .meter import Meter, metering, unrecorded_usage
from .state import ReasoningState

logger = logging.getLogger(__name__)

#: ``configurable`` key of a graph bound to one context (``bind_context``). Private (``__``): LangChain
#: and LangGraph copy other configurable keys into run and checkpoint metadata, and a platform's
#: checkpointer would then try to pickle the context (langgraph dev failed on its model's weakref).
CONTEXT_KEY = "__o1agent_context"


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


#: Turns a run's JSON settings (a platform's ``context``) into its ``RunContext``; it must give the
#: same context for the same settings (every node of a run asks again).
ContextResolver = Callable[[Mapping[str, Any]], RunContext]


def bind_context(graph: Any, ctx: RunContext | ContextResolver) -> Any:
    """``graph`` with ``ctx`` as the context of runs that pass none: for a subgraph (a parent
    graph cannot pass our context down) or a deployed graph (a platform cannot send Python
    objects). ``ctx`` may be a resolver of the JSON settings a run passes as its context
    (``o1agent.deploy``). Bound to that graph object only, never process-wide."""
    return graph.with_config({"configurable": {CONTEXT_KEY: ctx}})


def _bound_context(given: Any) -> RunContext:
    """The context bound to the graph (``bind_context``) for a run that passed ``given``: none, or
    JSON settings for a bound resolver."""
    try:
        bound = get_config().get("configurable", {}).get(CONTEXT_KEY)
    except RuntimeError:  # outside a runnable context
        bound = None
    if given is None and isinstance(bound, RunContext):
        return bound
    if callable(bound) and (given is None or isinstance(given, Mapping)):
        ctx = bound(given or {})
        if isinstance(ctx, RunContext):
            return ctx
    raise ConfigError(
        "the reasoning graph needs a RunContext: graph.ainvoke(inputs, context=make_context(policy=...))"
    )


def context_of(runtime: Runtime[RunContext]) -> RunContext:
    """The run's context; also marks this node's task as working for the run (``RUN_KEY``), so
    an exclusively held policy lets its calls through."""
    given: Any = runtime.context
    ctx = given if isinstance(given, RunContext) else _bound_context(given)
    # Each node runs in a task of its own: this set lasts for the node and what it spawns.
    RUN_KEY.set(ctx.run_key)
    # The run cancels and awaits its tasks when it is cancelled (o1agent.reasoner.run_scope).
    RUN_TASKS.set(ctx.run_tasks)
    join_run()
    return ctx


def _usage(state: ReasoningState) -> Usage:
    return state.get("usage") or Usage()


# ---- decompose ---------------------------------------------------------------------------------


async def decompose(state: ReasoningState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    question = state["question"]
    # A finished run on this thread left its id behind: a new question is a new run.
    run_id = state.get("run_id") or ""
    if not run_id or state.get("result") is not None:
        run_id = new_run_id()
    ev = Events(run_id, 0)
    tree = Tree.new(question, state.get("prior_steps") or [])
    usage = Usage(started_at=time.time())
    data: dict[str, Any] = {"strategy": ctx.strategy.name, "model": ctx.policy.name}
    if tree.prior:
        data["prior"] = [s.model_dump(mode="json") for s in tree.prior]
    ev.add("start", tree.root, output=question, data=data)
    subgoals = list(state.get("subgoals") or [])
    if ctx.decompose and not subgoals:
        t0 = time.perf_counter()
        with metering(ctx.budget, usage):
            outs, prefix = await ask(ctx, "decompose", max_tokens=96, question=question)
        reply = outs[0].text if outs else ""
        text = (prefix + reply) if prefix.strip().startswith("-") else reply
        lines = (ln.strip().lstrip("-*• ").strip() for ln in text.splitlines())
        subgoals = [ln for ln in lines if ln][:4]
        usage = usage + usage_of(outs)
        ev.add("decompose", output=text, data={"subgoals": subgoals}, seconds=time.perf_counter() - t0)
    return {
        "run_id": run_id,
        "tree": Overwrite(tree),
        "usage": Overwrite(usage),
        "events": Overwrite(ev.items),
        "subgoals": subgoals,
        "search": ctx.strategy.init_state(tree),
        "pending": [],
        "expansions": [],
        "exhausted_by": None,
        "result": None,
    }


# ---- select ------------------------------------------------------------------------------------


def clip_to_budget(expansions: list[Expansion], room: int | None) -> list[Expansion]:
    """Expansions that fit in ``room`` new nodes (``None``: no node bound). A propose costs k
    nodes, a rewrite one; the last that does not fit gets a smaller k."""
    if room is None:
        return expansions
    out: list[Expansion] = []
    for x in expansions:
        cost = 1 if x.mode == "revise" else x.k
        if room <= 0:
            break
        if cost > room:
            if x.mode == "revise":
                break
            x = dataclasses.replace(x, k=room)
            cost = room
        out.append(x)
        room -= cost
    return out


def select(state: ReasoningState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    strat = ctx.strategy
    tree, search = state["tree"], state["search"]
    ev = Events.of(state)
    out: dict[str, Any] = {"pending": []}
    # Duplicates (``mark_duplicates``) are never a strategy's to keep: they repeat a sibling.
    if state.get("pending"):
        fresh = [i for i in state["pending"] if tree.get(i).status != "duplicate"]
        upd = strat.update(tree, search, fresh)
        search = upd.state
        pruned = {nid: tree.get(nid).model_copy(update={"status": "pruned"}) for nid in upd.pruned}
        for node in pruned.values():
            ev.add("prune", node)
        if pruned:
            tree = tree.merged(pruned)
            out["tree"] = pruned
    usage = _usage(state)
    # A node whose call the budget refused (see meter.py) ended the run as surely as usage did.
    exhausted = state.get("exhausted_by") or ctx.budget.exhausted(usage)
    expansions: list[Expansion] = []
    if exhausted:
        ev.add("budget", data={"exhausted_by": exhausted})
        out["exhausted_by"] = exhausted
    elif not strat.done(tree, search):
        sel = strat.select(tree, search)
        search = sel.state
        room = None if ctx.budget.max_nodes is None else ctx.budget.max_nodes - usage.nodes
        expansions = clip_to_budget(sel.expansions, room)
        for x in expansions:
            data: dict[str, Any] = {"k": x.k, "note": sel.note}
            if x.mode != "propose":
                data["mode"] = x.mode
            ev.add("select", tree.get(x.node_id), data=data)
        if sel.backtrack_from is not None and expansions:
            node = tree.get(expansions[0].node_id)
            ev.add("backtrack", node, data={"from": sel.backtrack_from, "note": sel.note})
    out.update(
        route="propose" if expansions else "finalize",
        expansions=[x.__dict__ for x in expansions],
        search=search,
        events=ev.items,
    )
    return out


def route_after_select(state: ReasoningState) -> Literal["propose", "finalize"]:
    return state.get("route", "finalize")


# ---- propose -----------------------------------------------------------------------------------


def _record_child(ev: Events, c: Node) -> None:
    for call in c.step.tool_calls:
        data: dict[str, Any] = {
            # An external call's arguments go out as JSON: show them so.
            "input": json.dumps(call.arguments) if call.external else next(iter(call.arguments.values()), ""),
            "tool": call.name,
            "output": call.output,
            "error": call.error,
        }
        if call.pending:
            data.update(pending=True, id=call.id)
        ev.add(
            "tool",
            c,
            output=call.output if call.error is None else f"error: {call.error}",
            seconds=call.seconds,
            data=data,
        )
    ev.add("propose", c, output=c.raw_output, tokens=token_counts(c), seconds=c.seconds)


def _record_revision(ev: Events, old: Node, new: Node) -> None:
    data = {"revised_from": old.id, "critique": old.critique}
    ev.add("revise", new, output=new.raw_output, tokens=token_counts(new), data=data)


async def propose(state: ReasoningState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    tree, question = state["tree"], state["question"]
    ev = Events.of(state)
    xs = [Expansion(**x) for x in state.get("expansions") or []]
    fresh = [x for x in xs if x.mode != "revise"]
    # A strategy may also ask for specific nodes to be rewritten (hybrid's kept beams).
    olds = [tree.get(x.node_id) for x in xs if x.mode == "revise"]
    subgoals = state.get("subgoals") or []
    with metering(ctx.budget, _usage(state)) as meter:
        # One round: every expansion's and rewrite's calls reach the policy together.
        done: list[Any] = await gather_round(
            ctx,
            *(expand(ctx, tree, question, subgoals, x) for x in fresh),
            *(rewrite(ctx, tree, question, n) for n in olds),
        )
    expanded: list[tuple[list[Node], Node, Usage]] = done[: len(fresh)]
    rewritten: list[tuple[Node, Usage]] = done[len(fresh) :]
    changed: dict[str, Node] = {}
    usage = Usage()
    pending: list[str] = []
    for children, parent, u in expanded:
        changed[parent.id] = parent
        usage = usage + u
        for c in children:
            changed[c.id] = c
            pending.append(c.id)
            _record_child(ev, c)
    # Rewrites take their ids after the new children, so a parent expanded in the same round
    # keeps every child id unique.
    for old, (new, u) in zip(olds, rewritten, strict=True):
        if new is None:  # the budget refused it
            continue
        new = attach_revision(tree, changed, old, new)
        pending.append(new.id)
        _record_revision(ev, old, new)
        usage = usage + u
    return {**_refusal(meter), "tree": changed, "usage": usage, "events": ev.items, "pending": pending}


def _refusal(meter: Meter) -> dict[str, Any]:
    """The state update of a node whose meter refused a call: the run ends at the next select."""
    return {"exhausted_by": meter.refused} if meter.refused else {}


# ---- verify ------------------------------------------------------------------------------------


def _score_request(tree: Tree, question: str, n: Node) -> ScoreRequest:
    sibling_ids = tree.get(n.parent_id).children if n.parent_id else []
    return ScoreRequest(
        question=question,
        previous=tree.steps_to(n.parent_id or tree.root_id),
        candidate=n.step,
        siblings=[tree.get(s).step for s in sibling_ids if s != n.id and s in tree.nodes],
        mean_logprob=n.mean_logprob,
        node_id=n.id,
    )


def _apply_verdict(n: Node, v: Verdict) -> Node:
    if v.error is not None:
        return n.model_copy(update={"verify_error": v.error})
    field = "outcome_score" if v.kind == "outcome" else "step_score"
    # A grounded check's finding is what a rewrite needs; the rationale (a judge's P(yes)) is
    # what there is otherwise.
    critique, source = (v.critique, "check") if v.critique else (v.rationale or None, "verdict")
    return n.model_copy(
        update={
            "critique": critique,
            "critique_source": source if critique else None,
            "repair": v.repair,
            field: v.score,
            "score": v.score,
        }
    )


async def verify(state: ReasoningState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    tree = state["tree"]
    ev = Events.of(state)
    todo = [tree.get(i) for i in state.get("pending") or []]
    todo = [n for n in todo if n.score is None and n.verify and n.status != "failed"]
    if not todo or ctx.reward is None:
        return {"events": ev.items, "revise_next": False}
    t0 = time.perf_counter()
    try:
        verdicts = await ctx.reward.score([_score_request(tree, state["question"], n) for n in todo])
    except Exception as exc:  # a grader's failure is marked on each node, never a made-up score
        logger.warning(
            "reward model %s failed: %s: %s", getattr(ctx.reward, "name", "?"), type(exc).__name__, exc
        )
        why = f"{getattr(ctx.reward, 'name', 'reward')} failed: {type(exc).__name__}: {exc}"
        verdicts = [Verdict(score=None, error=why) for _ in todo]
    share = (time.perf_counter() - t0) / len(todo)
    changed: dict[str, Node] = {}
    usage = Usage()
    for n, v in zip(todo, verdicts, strict=True):
        node = changed[n.id] = _apply_verdict(n, v)
        usage = usage + v.usage
        if node.verify_error is not None:
            logger.warning("node %s was not scored: %s", n.id, node.verify_error)
            ev.add("verify", node, output=v.rationale, seconds=share, data={"error": node.verify_error})
        else:
            ev.add("verify", node, scores={"score": v.score}, output=v.rationale, seconds=share)
    # Decided here, not in the router: routers see only state (``update_state`` runs them too).
    after = {**state, "tree": tree.merged(changed), "usage": _usage(state) + usage}
    revise_next = bool(needs_revision(after, ctx)) and not ctx.budget.exhausted(after["usage"])  # type: ignore[arg-type]
    return {"tree": changed, "usage": usage, "events": ev.items, "revise_next": revise_next}


def needs_revision(state: ReasoningState, ctx: RunContext) -> list[Node]:
    """Pending nodes scoring below ``revise_below`` with revisions left (graph-driven revision)."""
    cfg = ctx.strategy.config
    if getattr(ctx.strategy, "revises", False) or cfg.revise_below is None or cfg.max_revisions <= 0:
        return []
    tree = state["tree"]
    weak = []
    for nid in state.get("pending") or []:
        n = tree.get(nid)
        if n.status in ("revised", "failed", "pruned") or n.score is None:
            continue
        if n.score < cfg.revise_below and n.revisions < cfg.max_revisions:
            weak.append(n)
    return weak


def route_after_verify(state: ReasoningState) -> Literal["revise", "select"]:
    return "revise" if state.get("revise_next") else "select"


# ---- revise ------------------------------------------------------------------------------------


async def revise(state: ReasoningState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    tree = state["tree"]
    ev = Events.of(state)
    weak = needs_revision(state, ctx)
    spent = _usage(state)
    if ctx.budget.max_nodes is not None:  # a rewrite is a node: the node budget bounds them too
        weak = weak[: max(0, ctx.budget.max_nodes - spent.nodes)]
    with metering(ctx.budget, spent) as meter:
        results = await gather_round(ctx, *(rewrite(ctx, tree, state["question"], n) for n in weak))
    changed: dict[str, Node] = {}
    usage = Usage()
    pending = list(state.get("pending") or [])
    for old, (new, u) in zip(weak, results, strict=True):
        if new is None:  # the budget refused it
            continue
        new = attach_revision(tree, changed, old, new)
        if new.status == "failed":
            pending.append(new.id)  # the original stays pending, its attempt counted
        else:
            pending[pending.index(old.id)] = new.id
        _record_revision(ev, old, new)
        usage = usage + u
    return {**_refusal(meter), "tree": changed, "usage": usage, "events": ev.items, "pending": pending}


# ---- finalize ----------------------------------------------------------------------------------


async def _ask_final_answer(
    ctx: RunContext, question: str, tree: Tree, node: Node, spent: Usage
) -> tuple[str | None, Usage, str | None]:
    """One short call for the answer of a path that stated none: (answer, usage, error)."""
    try:
        steps = steps_for_prompt(tree.steps_to(node.id))
        with metering(ctx.budget, spent) as meter:
            outs, _ = await ask(ctx, "finalize", max_tokens=32, stop=["\n"], question=question, steps=steps)
    except Exception as exc:  # answering from the path beats losing the run; the event says so
        logger.warning("finalize call failed (%s); reading the answer from the path", exc)
        return None, unrecorded_usage(exc) or Usage(), f"{type(exc).__name__}: {exc}"
    if not outs:
        return None, Usage(), f"the budget ({meter.refused}) left no room for the answer call"
    return lenient_answer(outs[0].text), usage_of(outs), None


async def finalize(state: ReasoningState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    tree = state["tree"]
    ev = Events.of(state)
    ans: Answer = choose_answer(tree, state.get("search"), ctx.strategy)
    exhausted_by = state.get("exhausted_by") or ctx.budget.exhausted(_usage(state))
    # A stated non-answer ("Final answer:", "\\boxed{}") counts as none: ask, then read the path.
    usage, error, text = Usage(), None, usable_answer(ans.stated)
    out: dict[str, Any] = {}
    if ctx.tool_choice == "required" and (ans.node is None or not ans.node.pending_calls):
        # The budget does not waive the rule: the outcome must be a call, or an error saying why not.
        made, usage, error = await force_call(
            ctx, tree, state["question"], state.get("subgoals") or [], ans.node
        )
        if made:
            tree = tree.merged({n.id: n for n in made})
            out["tree"] = {n.id: n for n in made}
            ans = Answer(choice_of(made[0]), tree.path(made[0].id), made[0].step.answer)
            _record_child(ev, made[0])
    pending = ans.node.pending_calls if ans.node is not None else []
    if pending:
        text = None  # the outcome is the action (Result.tool_calls), not an answer
    else:
        if text is None and ans.path and not exhausted_by and error is None:
            text, more, error = await _ask_final_answer(
                ctx, state["question"], tree, ans.path[-1], _usage(state) + usage
            )
            usage = usage + more
            text = usable_answer(text)
        text = text if text is not None else ans.from_path()
    data: dict[str, Any] = {
        "answer": text,
        "path": [n.id for n in ans.path],
        "budget_exhausted": exhausted_by is not None,
    }
    if pending:
        data["tool_calls"] = [c.model_dump(mode="json") for c in pending]
    if error is not None:
        data["finalize_error"] = error
    score = ans.choice.score if ans.choice is not None else None
    ev.add("finalize", ans.node, output=text, data=data, scores={"score": score})
    # The state keeps a slim result (the tree and events are its own channels); readers complete
    # it with ``full_result``, so a checkpoint never stores the tree twice.
    result = build_result(
        state,
        ans,
        text,
        strategy=ctx.strategy.name,
        model=ctx.policy.name,
        usage=_usage(state) + usage,
        trace=Trace(),
        exhausted_by=exhausted_by,
        slim=True,
    )
    return {**out, "result": result, "usage": usage, "events": ev.items}
