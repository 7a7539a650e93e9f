"""The reasoning graph: one LangGraph state machine for every search strategy.

    decompose -> select -> propose -> verify -> (revise -> verify)* -> select -> ... -> finalize

* ``decompose`` sets up the tree and (optionally) asks the policy for sub-goals.
* ``select`` folds the last scored children into the strategy (``update``), checks the budget
  and the strategy's ``done``, then asks the strategy which nodes to expand (``select``). A
  selection that is not a child of the last expanded node is a *backtrack*.
* ``propose`` asks the policy for ``k`` candidate next steps per selected node, concurrently.
* ``verify`` scores new steps with the reward model.
* ``revise`` rewrites steps scoring below the strategy's ``revise_below`` using the verifier's
  critique; the rewrite becomes a sibling (``revised_from`` points at the original).
* ``finalize`` picks the answer (``strategy.best``) and builds the ``Result``. It always answers:
  a path without a stated answer gets one short "final answer" call, or, when the budget is
  spent, the answer read leniently from the path.

State is a TypedDict whose ``tree``, ``usage`` and ``events`` channels have reducers (see
``ReasoningState``), so checkpoints, streaming, resume and fork come from LangGraph. Policy,
reward model and strategy are closed over by the node functions: they are not state.

Live progress: every node emits ``stream_mode="custom"`` events (dicts with a ``kind`` key, the
same kinds as the trace) through LangGraph's stream writer.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from ._aio import PerLoop
from .errors import ConfigError
from .parsing import extract_answer, last_number, lenient_answer, parse_step
from .policies.base import Completion, CompletionRequest, Policy, derive_seed
from .prompts import PromptSet, load_prompts
from .rewards.base import RewardModel, ScoreRequest, Verdict
from .schema import (
    Budget,
    Node,
    Result,
    Step,
    ToolCall,
    Trace,
    TraceEvent,
    Tree,
    Usage,
    add_usage,
    merge_tree,
)
from .search.base import Expansion, SearchStrategy, make_strategy

logger = logging.getLogger(__name__)


class ReasoningState(TypedDict, total=False):
    """State of one reasoning run.

    Reducers: ``tree`` merges node updates by id (a node function returns only the nodes it
    created or changed); ``usage`` adds up; ``events`` appends. Every other key is replaced.
    """

    question: str
    run_id: str
    subgoals: list[str]
    tree: Annotated[Tree, merge_tree]
    usage: Annotated[Usage, add_usage]
    events: Annotated[list[TraceEvent], operator.add]
    search: dict[str, Any]
    expansions: list[dict[str, Any]]
    pending: list[str]
    last_expanded: str | None
    route: Literal["propose", "finalize"]
    exhausted_by: str | None
    result: Result | None


def _steps_for_prompt(path: list[Node]) -> list[dict[str, Any]]:
    return [{"title": n.step.title, "text": n.step.text, "raw": n.step.raw} for n in path]


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def _end_if_repeated(step: Step, parent: Node) -> Step:
    """A step that repeats its parent word for word means the model is looping: more steps would
    repeat it again. End the chain there, with the answer the repeated step states."""
    if step.is_final or not step.raw.strip() or _normalised(step.raw) != _normalised(parent.step.raw):
        return step
    return step.model_copy(update={"is_final": True, "answer": step.answer or lenient_answer(step.raw)})


def _answer_from_path(step: Step, path: Sequence[Node]) -> Step:
    """A final step that states no number of its own ("Provide the final answer", a repeated title)
    takes the last number its path worked out, e.g. the calculator's output two steps up.

    Why: SmolLM2 often ends a chain with a bare step title after the work is done; reading that
    title as the answer threw away a correct result already on the path. Explicitly stated
    answers are never overridden, and the question (the root) is not read.
    """
    if not step.is_final or extract_answer(step.raw) is not None:
        return step
    if step.answer is not None and last_number(step.answer) is not None:
        return step
    text = "\n".join([*(n.step.raw for n in path if n.depth > 0), step.raw])
    num = last_number(text)
    return step if num is None else step.model_copy(update={"answer": num})


def _token_counts(node: Node) -> dict[str, int]:
    """A node's tokens as trace events record them."""
    return {"prompt": node.prompt_tokens, "completion": node.completion_tokens, "reused": node.reused_tokens}


def _usage_of(outs: list[Completion]) -> Usage:
    u = Usage()
    for o in outs:
        u = u + Usage(
            prompt_tokens=o.prompt_tokens,
            completion_tokens=o.completion_tokens,
            reused_tokens=o.reused_tokens,
            dollars=o.dollars,
            calls=1 if o.prompt_tokens or o is outs[0] else 0,
        )
    return u


class _Events:
    """Collects trace events for one node function and mirrors them to the custom stream."""

    def __init__(self, state: ReasoningState) -> None:
        self.run_id = state.get("run_id", "")
        self.seq = len(state.get("events", []))
        self.items: list[TraceEvent] = []
        try:
            self._writer = get_stream_writer()
        except Exception:  # called outside a runnable context (unit tests of helpers)
            self._writer = None

    def add(self, kind: Any, node: Node | None = None, **fields: Any) -> None:
        if node is not None:
            fields.setdefault("node_id", node.id)
            fields.setdefault("parent_id", node.parent_id)
            fields.setdefault("depth", node.depth)
            fields.setdefault("data", {})["node"] = node.model_dump(mode="json")
        ev = TraceEvent(run_id=self.run_id, seq=self.seq + len(self.items), kind=kind, **fields)
        self.items.append(ev)
        if self._writer is not None:
            payload = ev.model_dump(mode="json", exclude={"prompt"})
            payload.get("data", {}).pop("node", None)
            if node is not None:
                payload["title"] = node.step.title
                payload["text"] = node.step.raw
                payload["score"] = node.score
                payload["status"] = node.status
                payload["answer"] = node.step.answer
            self._writer(payload)


def step_text(ev: dict[str, Any]) -> str | None:
    """One line of reasoning for a custom stream event, or ``None`` for events not worth showing.

    The shared rendering of live reasoning for the OpenAI-compatible server's
    ``reasoning_content`` deltas and the LangChain model's streamed chunks.
    """
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
        score = (ev.get("scores") or {}).get("score")
        return None if score is None else f"[score {node}: {score:.2f}]\n"
    if kind == "backtrack":
        return f"[backtrack from {(ev.get('data') or {}).get('from')} to {node}]\n"
    if kind == "budget":
        return f"[budget spent: {(ev.get('data') or {}).get('exhausted_by')}]\n"
    return None


def build_reasoning_graph(
    policy: Policy,
    reward_model: RewardModel | None = None,
    *,
    strategy: SearchStrategy | str = "dfs",
    budget: Budget | None = None,
    prompts: PromptSet | str = "g1",
    checkpointer: Any = None,
    decompose: bool = False,
    seed: int | None = 0,
    concurrency: int = 4,
    interrupt_before_finalize: bool = False,
    tools: Sequence[Any] | None = None,
    max_tool_rounds: int = 4,
    name: str = "o1agent",
) -> Any:
    """Compile the reasoning graph. Invoke it with ``{"question": ...}``; the final state's
    ``result`` holds the ``Result``.

    ``decompose=False`` keeps the decompose node but skips the sub-goal call (a small model's plan
    tends to mislead it); ``seed`` makes proposals reproducible; ``concurrency`` caps concurrent
    backend calls inside one node.
    """
    strat = make_strategy(strategy)
    budget = budget or Budget()
    prompt_set = load_prompts(prompts) if isinstance(prompts, str) else prompts
    cfg = strat.config
    if concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    sem = PerLoop(lambda: asyncio.Semaphore(concurrency))
    tool_table: dict[str, Any] = {}
    if tools:
        from .tools import make_tools

        tool_table = make_tools(list(tools))

    # ---- helpers -----------------------------------------------------------------------------

    async def _complete(req: CompletionRequest) -> list[Completion]:
        async with sem.get():
            return await policy.complete(req)

    def _exhausted(state: ReasoningState) -> str | None:
        return budget.exhausted(state.get("usage") or Usage())

    # ---- nodes -------------------------------------------------------------------------------

    async def decompose_node(state: ReasoningState) -> dict[str, Any]:
        question = state["question"]
        ev = _Events(state)
        tree = Tree.new(question)
        usage = Usage(started_at=time.time())
        ev.add("start", tree.root, output=question, data={"strategy": strat.name, "model": policy.name})
        subgoals: list[str] = list(state.get("subgoals") or [])
        if decompose and not subgoals:
            messages, prefix = prompt_set.render("decompose", question=question)
            t0 = time.perf_counter()
            outs = await _complete(
                CompletionRequest(
                    messages=messages,
                    assistant_prefix=prefix,
                    max_tokens=96,
                    temperature=0.0,
                    seed=derive_seed(seed, "decompose"),
                    metadata={"purpose": "decompose"},
                )
            )
            text = (prefix + outs[0].text) if prefix.strip().startswith("-") else outs[0].text
            subgoals = [
                ln.strip().lstrip("-*• ").strip() for ln in text.splitlines() if ln.strip().lstrip("-*• ")
            ][:4]
            usage = usage + _usage_of(outs)
            ev.add("decompose", output=text, data={"subgoals": subgoals}, seconds=time.perf_counter() - t0)
        return {
            "tree": tree,
            "usage": usage,
            "events": ev.items,
            "subgoals": subgoals,
            "search": strat.init_state(tree),
            "pending": [],
            "expansions": [],
            "last_expanded": None,
            "exhausted_by": None,
            "result": None,
        }

    def select_node(state: ReasoningState) -> dict[str, Any]:
        tree = state["tree"]
        search = state["search"]
        ev = _Events(state)
        out: dict[str, Any] = {"pending": []}
        changed: dict[str, Node] = {}
        pending = state.get("pending") or []
        if pending:
            upd = strat.update(tree, search, pending)
            search = upd.state
            for nid in upd.pruned:
                node = tree.get(nid).model_copy(update={"status": "pruned"})
                changed[nid] = node
                ev.add("prune", node)
            tree = tree.merged(changed)
        exhausted = _exhausted(state)
        if exhausted:
            ev.add("budget", data={"exhausted_by": exhausted})
            out.update(route="finalize", exhausted_by=exhausted)
        elif strat.done(tree, search):
            out.update(route="finalize")
        else:
            sel = strat.select(tree, search)
            search = sel.state
            if not sel.expansions:
                out.update(route="finalize")
            else:
                for x in sel.expansions:
                    data = {"k": x.k, "note": sel.note}
                    if x.mode != "propose":
                        data["mode"] = x.mode
                    ev.add("select", tree.get(x.node_id), data=data)
                if sel.backtrack_from is not None:
                    ev.add(
                        "backtrack",
                        tree.get(sel.expansions[0].node_id),
                        data={"from": sel.backtrack_from, "note": sel.note},
                    )
                out.update(route="propose", expansions=[x.__dict__ for x in sel.expansions])
        out.update(search=search, events=ev.items)
        if changed:
            out["tree"] = changed
        return out

    tool_text = ""
    tool_stops: list[str] = []
    if tool_table:
        from .tools import stop_sequences, tool_descriptions

        tool_text = tool_descriptions(tool_table)
        tool_stops = stop_sequences(tool_table)

    async def _propose_with_tools(
        base: CompletionRequest, parent: Node, x: Expansion, prefix: str
    ) -> tuple[list[Completion], list[list[ToolCall]]]:
        """k candidates, each generated in rounds: pause at a tool call, run it, continue."""
        from .tools import generate_with_tools

        async def one(i: int) -> tuple[Completion, list[ToolCall]]:
            greedy = x.greedy or base.temperature == 0.0 or (i == 0 and x.k > 1 and cfg.greedy_first)

            async def complete(so_far: str) -> Completion:
                # After an observation block a small model tends to emit empty fences forever;
                # starting the next sentence with "So" (as the prompt's example does) makes it
                # state the result instead. The cue is part of the step text.
                cue = "So" if so_far.rstrip().endswith("```") else ""
                req = base.model_copy(
                    update={
                        "n": 1,
                        "temperature": 0.0 if greedy else base.temperature,
                        "assistant_prefix": prefix + so_far + cue,
                        "seed": derive_seed(seed, parent.id, len(parent.children), i),
                        "stop": [*base.stop, "```\n```"],
                    }
                )
                out = (await _complete(req))[0]
                return out.model_copy(update={"text": cue + out.text}) if cue else out

            loop = await generate_with_tools(complete, tool_table, max_rounds=max_tool_rounds)
            parts = loop.completions
            merged = Completion(
                text=loop.text,
                finish_reason=loop.finish_reason,
                prompt_tokens=sum(c.prompt_tokens for c in parts),
                completion_tokens=sum(c.completion_tokens for c in parts),
                reused_tokens=sum(c.reused_tokens for c in parts),
                dollars=sum(c.dollars for c in parts),
                seconds=sum(c.seconds for c in parts),
                seed=parts[0].seed if parts else None,
                logprobs=[t for c in parts for t in (c.logprobs or [])] or None,
                rendered_prompt=parts[0].rendered_prompt if parts else "",
            )
            return merged, loop.tool_calls

        results = [await one(i) for i in range(x.k)]
        return [r[0] for r in results], [r[1] for r in results]

    async def _expand(tree: Tree, state: ReasoningState, x: Expansion) -> tuple[list[Node], Node, Usage]:
        parent = tree.get(x.node_id)
        path = tree.path(parent.id)
        messages, prefix = prompt_set.render(
            "propose",
            question=state["question"],
            subgoals=state.get("subgoals") or [],
            steps=_steps_for_prompt(path),
            tools=tool_text,
        )
        step_no = len(path) + 1
        base = CompletionRequest(
            messages=messages,
            assistant_prefix=prefix,
            max_tokens=cfg.step_tokens,
            temperature=0.0 if x.greedy else cfg.temperature,
            n=x.k,
            seed=derive_seed(seed, parent.id, len(parent.children)),
            stop=[f"Step {step_no + 1}:", f"\nStep {step_no + 1} ", *tool_stops],
            logprobs=True,
            metadata={"purpose": "propose", "node_id": parent.id},
        )
        t0 = time.perf_counter()
        tool_records: list[list[ToolCall]] = []
        if tool_table:
            outs, tool_records = await _propose_with_tools(base, parent, x, prefix)
        elif x.k == 1 or not cfg.greedy_first or base.temperature == 0.0:
            outs = await _complete(base)
        else:
            # First candidate greedy, the rest sampled: the greedy path is always in the tree.
            greedy_out = await _complete(base.model_copy(update={"n": 1, "temperature": 0.0}))
            sampled = await _complete(base.model_copy(update={"n": x.k - 1, "seed": (base.seed or 0) + 1}))
            outs = [*greedy_out, *sampled]
        elapsed = time.perf_counter() - t0
        children: list[Node] = []
        child_ids = list(parent.children)
        prompt_text = outs[0].rendered_prompt if outs else ""
        for i, out in enumerate(outs):
            step = parse_step(out.text, finish_reason=out.finish_reason)
            if tool_records:
                step = step.model_copy(update={"tool_calls": tool_records[i]})
            step = _answer_from_path(_end_if_repeated(step, parent), path)
            nid = f"{parent.id}.{len(child_ids)}"
            child_ids.append(nid)
            empty = not step.raw.strip()
            children.append(
                Node(
                    id=nid,
                    parent_id=parent.id,
                    depth=parent.depth + 1,
                    step=step,
                    status="failed" if empty else ("terminal" if step.is_final else "open"),
                    score=0.0 if empty else None,
                    critique="the backend returned an empty step" if empty else None,
                    verify=(x.verify is True or (x.verify == "final" and step.is_final)) and not empty,
                    prompt=prompt_text if i == 0 else "",
                    raw_output=out.text,
                    finish_reason=out.finish_reason,
                    mean_logprob=out.mean_logprob,
                    seed=out.seed,
                    prompt_tokens=out.prompt_tokens,
                    completion_tokens=out.completion_tokens,
                    reused_tokens=out.reused_tokens,
                    seconds=out.seconds or elapsed / max(1, len(outs)),
                )
            )
        new_parent = parent.model_copy(
            update={
                "children": child_ids,
                "status": "expanded" if not parent.step.is_final else parent.status,
            }
        )
        usage = _usage_of(outs) + Usage(nodes=len(children), tool_calls=sum(len(r) for r in tool_records))
        return children, new_parent, usage

    async def propose_node(state: ReasoningState) -> dict[str, Any]:
        tree = state["tree"]
        ev = _Events(state)
        expansions = [Expansion(**x) for x in state.get("expansions") or []]
        rewrites = [x for x in expansions if x.mode == "revise"]
        expansions = [x for x in expansions if x.mode != "revise"]
        # A strategy may also ask for specific nodes to be rewritten (hybrid's kept beams).
        olds = [tree.get(x.node_id) for x in rewrites]
        results, revised = await asyncio.gather(
            asyncio.gather(*(_expand(tree, state, x) for x in expansions)),
            asyncio.gather(*(_revise_one(tree, state, n) for n in olds)),
        )
        changed: dict[str, Node] = {}
        usage = Usage()
        pending: list[str] = []
        for children, parent, u in results:
            changed[parent.id] = parent
            usage = usage + u
            for c in children:
                changed[c.id] = c
                pending.append(c.id)
                for call in c.step.tool_calls:
                    ev.add(
                        "tool",
                        c,
                        output=call.output if call.error is None else f"error: {call.error}",
                        seconds=call.seconds,
                        data={
                            "tool": call.name,
                            "input": next(iter(call.arguments.values()), ""),
                            "output": call.output,
                            "error": call.error,
                        },
                    )
                ev.add(
                    "propose",
                    c,
                    prompt=c.prompt or None,
                    output=c.raw_output,
                    step=c.step,
                    tokens=_token_counts(c),
                    seconds=c.seconds,
                )
        # Rewrites take their ids after the new children, so a parent expanded in the same round
        # keeps every child id unique.
        for old, (new, u) in zip(olds, revised, strict=True):
            pending.append(_attach_revision(tree, changed, old, new, ev))
            usage = usage + u
        last = expansions[-1].node_id if expansions else (rewrites[-1].node_id if rewrites else None)
        return {
            "tree": changed,
            "usage": usage,
            "events": ev.items,
            "pending": pending,
            "last_expanded": last,
        }

    async def verify_node(state: ReasoningState) -> dict[str, Any]:
        tree = state["tree"]
        ev = _Events(state)
        todo = [tree.get(i) for i in state.get("pending") or []]
        todo = [n for n in todo if n.score is None and n.verify and n.status != "failed"]
        if not todo or reward_model is None:
            return {"events": ev.items}
        requests = []
        for n in todo:
            siblings = [
                tree.get(s).step
                for s in (tree.get(n.parent_id).children if n.parent_id else [])
                if s != n.id and s in tree.nodes
            ]
            requests.append(
                ScoreRequest(
                    question=state["question"],
                    previous=[p.step for p in tree.path(n.parent_id or tree.root_id)],
                    candidate=n.step,
                    siblings=siblings,
                    mean_logprob=n.mean_logprob,
                    node_id=n.id,
                )
            )
        t0 = time.perf_counter()
        verdicts: list[Verdict] = await reward_model.score(requests)
        elapsed = time.perf_counter() - t0
        changed: dict[str, Node] = {}
        usage = Usage()
        for n, v in zip(todo, verdicts, strict=True):
            upd: dict[str, Any] = {"critique": v.rationale or None}
            if v.kind == "outcome":
                upd["outcome_score"] = v.score
            else:
                upd["step_score"] = v.score
            upd["score"] = v.score
            node = n.model_copy(update=upd)
            changed[n.id] = node
            usage = usage + v.usage
            ev.add("verify", node, scores={"score": v.score}, output=v.rationale, seconds=elapsed / len(todo))
        return {"tree": changed, "usage": usage, "events": ev.items}

    def _needs_revision(state: ReasoningState) -> list[Node]:
        # A strategy that picks what to revise itself (Expansion(mode="revise")) turns this off.
        if cfg.revise_below is None or cfg.max_revisions <= 0 or not getattr(strat, "graph_revision", True):
            return []
        tree = state["tree"]
        out = []
        for nid in state.get("pending") or []:
            n = tree.get(nid)
            if n.status in ("revised", "failed", "pruned") or n.score is None:
                continue
            if n.score < cfg.revise_below and n.revisions < cfg.max_revisions:
                out.append(n)
        return out

    async def _revise_one(tree: Tree, state: ReasoningState, node: Node) -> tuple[Node, Usage]:
        parent = tree.get(node.parent_id or tree.root_id)
        path = tree.path(parent.id)
        messages, prefix = prompt_set.render(
            "revise",
            question=state["question"],
            steps=_steps_for_prompt(path),
            candidate=node.step.raw,
            critique=node.critique or "this step may be wrong; check it.",
        )
        step_no = len(path) + 1
        t0 = time.perf_counter()
        outs = await _complete(
            CompletionRequest(
                messages=messages,
                assistant_prefix=prefix,
                max_tokens=cfg.step_tokens,
                temperature=cfg.temperature,
                seed=derive_seed(seed, node.id, "revise", node.revisions),
                stop=[f"Step {step_no + 1}:", f"\nStep {step_no + 1} "],
                metadata={"purpose": "revise", "node_id": node.id},
            )
        )
        out = outs[0]
        step = _answer_from_path(parse_step(out.text, finish_reason=out.finish_reason), path)
        return (
            Node(
                id="",  # assigned by the caller, which owns the parent's child numbering
                parent_id=parent.id,
                depth=node.depth,
                step=step,
                status="terminal" if step.is_final else "open",
                revised_from=node.id,
                revisions=node.revisions + 1,
                verify=node.verify,
                prompt=out.rendered_prompt,
                raw_output=out.text,
                finish_reason=out.finish_reason,
                mean_logprob=out.mean_logprob,
                seed=out.seed,
                prompt_tokens=out.prompt_tokens,
                completion_tokens=out.completion_tokens,
                reused_tokens=out.reused_tokens,
                seconds=out.seconds or (time.perf_counter() - t0),
            ),
            _usage_of(outs) + Usage(nodes=1),
        )

    async def revise_node(state: ReasoningState) -> dict[str, Any]:
        tree = state["tree"]
        ev = _Events(state)
        weak = _needs_revision(state)
        results = await asyncio.gather(*(_revise_one(tree, state, n) for n in weak))
        changed: dict[str, Node] = {}
        usage = Usage()
        pending = list(state.get("pending") or [])
        for old, (new, u) in zip(weak, results, strict=True):
            nid = _attach_revision(tree, changed, old, new, ev)
            pending[pending.index(old.id)] = nid
            usage = usage + u
        return {"tree": changed, "usage": usage, "events": ev.items, "pending": pending}

    def _attach_revision(tree: Tree, changed: dict[str, Node], old: Node, new: Node, ev: _Events) -> str:
        """Give a rewrite of ``old`` its id (next child of the same parent), mark ``old`` revised,
        record the event. Returns the new id."""
        parent = changed.get(new.parent_id or "") or tree.get(new.parent_id or tree.root_id)
        nid = f"{parent.id}.{len(parent.children)}"
        new = new.model_copy(update={"id": nid})
        changed[parent.id] = parent.model_copy(update={"children": [*parent.children, nid]})
        changed[old.id] = old.model_copy(update={"status": "revised"})
        changed[nid] = new
        ev.add(
            "revise",
            new,
            prompt=new.prompt,
            output=new.raw_output,
            step=new.step,
            tokens=_token_counts(new),
            data={"revised_from": old.id, "critique": old.critique},
        )
        return nid

    async def finalize_node(state: ReasoningState) -> dict[str, Any]:
        tree = state["tree"]
        ev = _Events(state)
        usage = Usage()
        best_id = strat.best(tree, state["search"])
        path = tree.path(best_id) if best_id else []
        best = tree.get(best_id) if best_id else None
        answer = best.step.answer if best is not None and best.step.is_final else None
        exhausted_by = state.get("exhausted_by") or _exhausted(state)
        if answer is None and path and not exhausted_by:
            # The chosen path stopped without a stated answer: ask for one, briefly.
            messages, prefix = prompt_set.render(
                "finalize", question=state["question"], steps=_steps_for_prompt(path)
            )
            try:
                outs = await _complete(
                    CompletionRequest(
                        messages=messages,
                        assistant_prefix=prefix,
                        max_tokens=32,
                        temperature=0.0,
                        seed=derive_seed(seed, "finalize"),
                        stop=["\n"],
                        metadata={"purpose": "finalize"},
                    )
                )
                usage = usage + _usage_of(outs)
                answer = lenient_answer(outs[0].text)
            except Exception as exc:  # answering from the path beats losing the run
                logger.warning("finalize call failed (%s); reading the answer from the path", exc)
        if answer is None:
            text = "\n".join(n.step.raw for n in path)
            answer = lenient_answer(text) or ""
        total = (state.get("usage") or Usage()) + usage
        result = Result(
            question=state["question"],
            answer=answer,
            score=best.score if best is not None else None,
            best_path=path,
            tree=tree,
            usage=total,
            budget_exhausted=exhausted_by is not None,
            exhausted_by=exhausted_by,
            strategy=strat.name,
            model=policy.name,
            run_id=state.get("run_id", ""),
            seconds=(time.time() - total.started_at) if total.started_at else 0.0,
        )
        ev.add(
            "finalize",
            best,
            output=answer,
            data={
                "answer": answer,
                "path": [n.id for n in path],
                "budget_exhausted": exhausted_by is not None,
            },
            scores={"score": result.score},
        )
        result = result.model_copy(update={"trace": Trace(events=[*state.get("events", []), *ev.items])})
        return {"result": result, "usage": usage, "events": ev.items}

    # ---- routers -----------------------------------------------------------------------------

    def route_after_select(state: ReasoningState) -> Literal["propose", "finalize"]:
        return state.get("route", "finalize")

    def route_after_verify(state: ReasoningState) -> Literal["revise", "select"]:
        if _needs_revision(state) and not _exhausted(state):
            return "revise"
        return "select"

    # ---- wiring ------------------------------------------------------------------------------

    builder = StateGraph(ReasoningState)
    builder.add_node("decompose", decompose_node)
    builder.add_node("select", select_node)
    builder.add_node("propose", propose_node)
    builder.add_node("verify", verify_node)
    builder.add_node("revise", revise_node)
    builder.add_node("finalize", finalize_node)
    builder.add_edge(START, "decompose")
    builder.add_edge("decompose", "select")
    builder.add_conditional_edges("select", route_after_select, ["propose", "finalize"])
    builder.add_edge("propose", "verify")
    builder.add_conditional_edges("verify", route_after_verify, ["revise", "select"])
    builder.add_edge("revise", "verify")
    builder.add_edge("finalize", END)
    return builder.compile(
        checkpointer=checkpointer,
        interrupt_before=["finalize"] if interrupt_before_finalize else None,
        name=name,
    )


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]
