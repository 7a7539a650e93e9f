"""The one data schema of o1agent: steps, nodes, the search tree, budgets, usage, results, traces.

Everything here is a pydantic model, so it round-trips through JSON, LangGraph checkpoints and
trace files unchanged. Nodes are linked by id (``parent_id`` / ``children``), never by object
reference, so a tree can live in LangGraph state and be merged by a reducer.

Node ids are paths ("0", "0.1", "0.1.2"): deterministic, readable in traces, and stable across a
resumed or replayed run.

This module holds data and small pure helpers only: no model calls, no I/O beyond JSONL helpers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from .errors import ConfigError
from .sanitize import dumps, json_safe

NodeStatus = Literal["open", "expanded", "terminal", "pruned", "revised", "failed", "duplicate"]
"""``duplicate``: a candidate whose text repeats a sibling's (``Node.duplicate_of``): its tokens
were spent and are counted, but it is neither scored nor expanded (``o1agent.graph.expand``)."""


class ToolCall(BaseModel):
    """One tool invocation made inside a step, with what it returned.

    A call to an *external* tool (one the caller runs, e.g. an OpenAI client's function) is not
    run here: it ends its step with ``pending=True`` and no output, and the run's outcome is that
    call (``Result.tool_calls``). Its result comes back as a prior step of the next run.
    """

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    error: str | None = None
    seconds: float = 0.0
    id: str | None = Field(default=None, description="call id an external caller answers by")
    external: bool = False
    pending: bool = Field(default=False, description="handed to the caller, no result yet")


class Step(BaseModel):
    """What a policy proposed, parsed: a titled piece of reasoning, maybe a final answer."""

    title: str = ""
    text: str = ""
    raw: str = Field(default="", description="the text exactly as generated (prompts reuse it verbatim)")
    answer: str | None = None
    is_final: bool = False
    tool_calls: list[ToolCall] = Field(default_factory=list)


class Node(BaseModel):
    """One node of the search tree: the root (the question) or one reasoning step.

    ``score`` is the value the search uses; ``step_score`` is the process reward of this step and
    ``outcome_score`` the outcome reward of a final answer, kept apart so learning can read both.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    parent_id: str | None = None
    depth: int = 0
    step: Step = Field(default_factory=Step)
    children: list[str] = Field(default_factory=list)
    status: NodeStatus = "open"
    score: float | None = None
    step_score: float | None = None
    outcome_score: float | None = None
    critique: str | None = None
    critique_source: Literal["check", "verdict", "generated"] | None = Field(
        default=None,
        description="where ``critique`` came from: a grounded check's finding ('check'), the grader's "
        "rationale ('verdict', e.g. a judge's P(yes)) or a critique the model wrote ('generated')",
    )
    repair: str | None = Field(
        default=None,
        description="a grounded check's fix: the step up to its first failed claim, the checked value in "
        "its place; a rewrite of the step continues from it",
    )
    verify_error: str | None = Field(
        default=None, description="why the grader could not score this node (its score stays None)"
    )
    revised_from: str | None = None
    duplicate_of: str | None = Field(
        default=None, description="the sibling whose step this one repeats (status 'duplicate')"
    )
    revisions: int = 0
    verify: bool = True
    prompt: str = ""
    raw_output: str = ""
    finish_reason: str | None = None
    mean_logprob: float | None = None
    token_confidence: list[float] | None = Field(
        default=None,
        description="per-token confidence (DeepConf: mean negative top-k logprob), kept only when the "
        "strategy asks for it (``top_logprobs``)",
    )
    seed: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reused_tokens: int = 0
    seconds: float = 0.0
    created_at: float = Field(default_factory=time.time)

    @property
    def terminal(self) -> bool:
        return self.step.is_final

    @property
    def pending_calls(self) -> list[ToolCall]:
        """External calls this step ends in, waiting for the caller's results."""
        return [c for c in self.step.tool_calls if c.pending]


class Tree(BaseModel):
    """The search tree: nodes by id, rooted at ``root_id``. Plain data; helpers are pure.

    ``prior`` are steps taken before this search (a tool call and the result its caller sent
    back): every path continues after them, so prompts show them first; they are not nodes (the
    search neither scores nor revisits them).
    """

    nodes: dict[str, Node] = Field(default_factory=dict)
    root_id: str = "0"
    prior: list[Step] = Field(default_factory=list)

    @classmethod
    def new(cls, question: str, prior: Iterable[Step] = ()) -> Tree:
        root = Node(id="0", step=Step(title="Question", text=question), status="open")
        return cls(nodes={"0": root}, prior=list(prior))

    @property
    def root(self) -> Node:
        return self.nodes[self.root_id]

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def children(self, node_id: str) -> list[Node]:
        return [self.nodes[c] for c in self.nodes[node_id].children if c in self.nodes]

    def path(self, node_id: str) -> list[Node]:
        """Nodes from the root's first child down to ``node_id`` (the root itself excluded)."""
        out: list[Node] = []
        cur: str | None = node_id
        while cur is not None and cur != self.root_id:
            node = self.nodes[cur]
            out.append(node)
            cur = node.parent_id
        out.reverse()
        return out

    def ancestors(self, node_id: str) -> list[str]:
        out: list[str] = []
        cur = self.nodes[node_id].parent_id
        while cur is not None:
            out.append(cur)
            cur = self.nodes[cur].parent_id
        return out

    def leaves(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.children]

    def terminals(self) -> list[Node]:
        # A duplicate repeats a sibling's answer: that sibling stands for both.
        return [
            n for n in self.nodes.values() if n.step.is_final and n.status not in ("revised", "duplicate")
        ]

    def next_child_id(self, node_id: str) -> str:
        # Children are numbered from 0 in creation order; revised siblings get numbers too.
        return f"{node_id}.{len(self.nodes[node_id].children)}"

    def merged(self, update: Tree | dict[str, Node]) -> Tree:
        nodes = update.nodes if isinstance(update, Tree) else update
        return Tree(nodes={**self.nodes, **nodes}, root_id=self.root_id, prior=self.prior)

    def steps_to(self, node_id: str) -> list[Step]:
        """The steps a prompt shows before ``node_id``'s children: the prior steps, then the path."""
        return [*self.prior, *(n.step for n in self.path(node_id))]


def _revived(value: Any) -> Any:
    # A checkpointer whose serializer does not revive o1agent's classes (langgraph dev's in-memory
    # one) hands back a Tree as its fields; node ids are paths, never "nodes" or "root_id".
    if isinstance(value, dict) and "nodes" in value and "root_id" in value:
        return Tree.model_validate(value)
    return value


def merge_tree(left: Tree | None, right: Tree | dict[str, Node] | None) -> Tree:
    """LangGraph reducer for the ``tree`` channel: node updates replace nodes by id. (A run
    starts its tree with LangGraph's ``Overwrite``, which bypasses this reducer.) Nodes or trees
    replayed from a checkpoint as plain dicts are validated back into the models."""
    left, right = _revived(left), _revived(right)
    if left is None:
        if right is None:
            return Tree()
        return right if isinstance(right, Tree) else Tree(nodes=dict(right))
    if right is None:
        return left
    return left.merged(right)


class Budget(BaseModel):
    """Bounds on one run. ``None`` means unbounded; at least one bound is usually wise.

    When any bound is reached the run stops expanding and returns the best answer so far with
    ``budget_exhausted=True``.
    """

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(
        default=4000, description="prompt + completion tokens, as the backend reports them"
    )
    max_dollars: float | None = Field(default=None, description="dollar cost as LiteLLM reports it")
    max_seconds: float | None = Field(
        default=None, description="wall-clock seconds from the start of the run"
    )
    max_nodes: int | None = Field(default=64, description="nodes created (the root excluded)")

    def __init__(self, **data: Any) -> None:
        # A budget is user input: report a bad one as ConfigError naming the field, not a
        # pydantic ValidationError from deep inside.
        try:
            super().__init__(**data)
        except ValidationError as exc:
            errs = "; ".join(f"Budget.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(
                f"invalid budget: {errs} (use a positive number, or None for no bound)"
            ) from None

    @model_validator(mode="after")
    def _positive(self) -> Budget:
        for name in ("max_tokens", "max_dollars", "max_seconds", "max_nodes"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be positive or None, got {v}")
        return self

    def within(self, ceiling: Budget) -> tuple[Budget, dict[str, dict[str, float | None]]]:
        """This budget clipped to ``ceiling``, and what was clipped.

        Every bound the ceiling sets is a maximum: a larger value, or ``None`` (unbounded), is
        replaced by the ceiling's; a smaller one is kept. The second value maps each clipped
        field to ``{"requested": ..., "allowed": ...}`` (empty when nothing was clipped)."""
        changes: dict[str, Any] = {}
        clipped: dict[str, dict[str, float | None]] = {}
        for name in ("max_tokens", "max_dollars", "max_seconds", "max_nodes"):
            cap, asked = getattr(ceiling, name), getattr(self, name)
            if cap is not None and (asked is None or asked > cap):
                changes[name] = cap
                clipped[name] = {"requested": asked, "allowed": cap}
        return (self.model_copy(update=changes) if changes else self), clipped

    def exhausted(self, usage: Usage, *, now: float | None = None) -> str | None:
        """Name of the first bound that ``usage`` has reached, or ``None``."""
        if self.max_tokens is not None and usage.total_tokens >= self.max_tokens:
            return "tokens"
        if self.max_dollars is not None and usage.dollars >= self.max_dollars:
            return "dollars"
        if self.max_nodes is not None and usage.nodes >= self.max_nodes:
            return "nodes"
        elapsed = (now if now is not None else time.time()) - (usage.started_at or 0.0)
        if self.max_seconds is not None and usage.started_at is not None and elapsed >= self.max_seconds:
            return "seconds"
        return None


class Usage(BaseModel):
    """Compute spent by a run. Added together by the ``usage`` reducer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reused_tokens: int = Field(default=0, description="prompt tokens served from a KV/prefix cache")
    dollars: float = 0.0
    calls: int = 0
    nodes: int = 0
    tool_calls: int = 0
    started_at: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens

    def __add__(self, other: Usage) -> Usage:
        starts = [s for s in (self.started_at, other.started_at) if s is not None]
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            reused_tokens=self.reused_tokens + other.reused_tokens,
            dollars=self.dollars + other.dollars,
            calls=self.calls + other.calls,
            nodes=self.nodes + other.nodes,
            tool_calls=self.tool_calls + other.tool_calls,
            started_at=min(starts) if starts else None,
        )


def add_usage(left: Usage | None, right: Usage | None) -> Usage:
    """LangGraph reducer for the ``usage`` channel."""
    return (left or Usage()) + (right or Usage())


TraceEventKind = Literal[
    "start",
    "decompose",
    "select",
    "backtrack",
    "propose",
    "tool",
    "verify",
    "revise",
    "prune",
    "finalize",
    "budget",
]


def _safe_in_json_mode(data: Any, info: SerializationInfo) -> Any:
    # JSON mode (``model_dump(mode="json")``, ``model_dump_json``) goes through ``sanitize``: a
    # model's NaN logprob or an odd tool's lone surrogate must not make a result unwritable.
    # Python mode (checkpoints) keeps the data as it is.
    return json_safe(data) if info.mode_is_json() else data


class TraceEvent(BaseModel):
    """One record of the trace: something that happened to a node. One JSON line each."""

    run_id: str
    seq: int = 0
    kind: TraceEventKind
    node_id: str | None = None
    parent_id: str | None = None
    depth: int | None = None
    prompt: str | None = None
    output: str | None = None
    step: Step | None = None
    scores: dict[str, float | None] = Field(default_factory=dict)
    tokens: dict[str, int] = Field(default_factory=dict)
    seconds: float | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    ts: float = Field(default_factory=time.time)

    @model_serializer(mode="wrap")
    def _json_safe(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        return _safe_in_json_mode(handler(self), info)


class Trace(BaseModel):
    """All events of one run, in order. ``write_jsonl`` / ``read_jsonl`` use one event per line."""

    events: list[TraceEvent] = Field(default_factory=list)

    def __iter__(self) -> Iterator[TraceEvent]:  # type: ignore[override]
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def write_jsonl(self, path: str | Path, *, append: bool = False) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w", encoding="utf-8") as fh:
            fh.write(self.jsonl())
        return path

    def jsonl(self) -> str:
        """One JSON line per event, valid whatever the model wrote (``sanitize``)."""
        return "".join(event_json(ev) + "\n" for ev in self.events)

    @classmethod
    def read_jsonl(cls, path: str | Path) -> Trace:
        return cls(events=list(iter_trace(path)))

    def run_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for ev in self.events:
            seen.setdefault(ev.run_id, None)
        return list(seen)

    def tree(self, run_id: str | None = None) -> Tree:
        """Rebuild the final tree of a run from its events (the last event per node wins)."""
        return tree_from_events(e for e in self.events if run_id is None or e.run_id == run_id)


def event_json(event: TraceEvent) -> str:
    """One trace event as a JSON line: no NaN, no lone surrogate (JSON mode is sanitised)."""
    return event.model_dump_json()


def iter_trace(path: str | Path) -> Iterator[TraceEvent]:
    with Path(path).open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield TraceEvent.model_validate_json(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{i} is not a trace event: {exc}") from None


def tree_from_events(events: Iterable[TraceEvent]) -> Tree:
    tree = Tree()
    for ev in events:
        if ev.kind == "start" and ev.node_id is not None:
            tree = Tree.new(ev.output or "", [Step.model_validate(s) for s in ev.data.get("prior") or []])
        node_data = ev.data.get("node")
        if node_data is not None:
            node = Node.model_validate(node_data)
            tree = tree.merged({node.id: node})
    # Events carry each new node but not its parent's updated ``children``: link by parent_id.
    linked = dict(tree.nodes)
    for node in tree.nodes.values():
        parent = linked.get(node.parent_id or "")
        if parent is not None and node.id not in parent.children:
            linked[parent.id] = parent.model_copy(update={"children": [*parent.children, node.id]})
    return Tree(nodes=linked, root_id=tree.root_id, prior=tree.prior)


class Result(BaseModel):
    """What a run returns: the answer, how good the search thinks it is, and how it got there.

    ``answer`` is a real answer or ``None``; a run without one says why in ``no_answer_reason``
    (never an empty string, a bare "Final answer:" label or an empty ``\\boxed{}``).

    When the chosen path ends in a call to an external tool, the outcome is that action:
    ``tool_calls`` holds it (``pending``, with its id and validated arguments), ``answer`` is
    ``None`` and ``no_answer_reason`` names the call. Run the call and continue with its result
    as a prior step (``prior_steps=``).
    """

    question: str
    answer: str | None = None
    no_answer_reason: str | None = Field(
        default=None, description="why the run has no answer (None when it has one)"
    )
    tool_calls: list[ToolCall] = Field(default_factory=list)
    score: float | None = None
    best_path: list[Node] = Field(default_factory=list)
    tree: Tree = Field(default_factory=Tree)
    usage: Usage = Field(default_factory=Usage)
    budget_exhausted: bool = False
    exhausted_by: str | None = None
    strategy: str = ""
    model: str = ""
    run_id: str = ""
    seconds: float = 0.0
    allocation: dict[str, Any] | None = Field(
        default=None,
        description="what an adaptive strategy spent and why (samples drawn, stopping reason, "
        "confidence), from its ``allocation``; None for strategies that do not report one",
    )
    trace: Trace = Field(default_factory=Trace)

    @model_serializer(mode="wrap")
    def _json_safe(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        return _safe_in_json_mode(handler(self), info)

    @model_validator(mode="after")
    def _an_answer_or_a_reason(self) -> Result:
        # Whoever builds a Result, an empty answer is no answer, and no answer comes with a reason.
        if self.answer is not None and not self.answer.strip():
            self.answer = None
        if self.answer is None and self.no_answer_reason is None:
            self.no_answer_reason = "the run gave no answer"
        return self

    @property
    def steps(self) -> list[Step]:
        return [n.step for n in self.best_path]

    def to_json(self, *, indent: int | None = None) -> str:
        """The result (without its trace) as JSON: valid whatever the model wrote (``sanitize``)."""
        return dumps(self.model_dump(mode="json", exclude={"trace"}), indent=indent)
