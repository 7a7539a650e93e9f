"""Durable, resumable, forkable runs on LangGraph checkpoints: SQLite by default, PostgreSQL for
production.

* ``open_checkpointer(url)`` — an async context manager giving an ``AsyncSqliteSaver`` (a path,
  ``sqlite:///path``), an ``AsyncPostgresSaver`` (``postgresql://...``) or an in-memory saver
  (``None`` / ``":memory:"``), set up and with a serializer that allows o1agent's schema types
  (so no "unregistered type" warnings today and no breakage under ``LANGGRAPH_STRICT_MSGPACK``).
* ``resume(reasoner, thread_id)`` — continue an interrupted run from its last checkpoint. LangGraph
  semantics: invoking a thread *with input* starts the graph again from START (decompose resets
  the tree); continuing needs ``graph.astream(None, config)``, which is what this does. Nodes
  completed before the interruption are neither lost nor recomputed: each superstep's writes are
  checkpointed when it finishes, and a node that was mid-flight when the process died is rerun
  (with the same seed, so it produces the same nodes).
* ``fork(reasoner, thread_id, checkpoint_id=... | at_node=...)`` — rerun from an earlier checkpoint
  with another Reasoner (a bigger budget, another strategy config or strategy) on a new branch of
  the same thread; the original history stays intact. A different strategy re-initialises its
  frontier from the checkpointed tree (its own search state cannot be translated).
* Human in the loop: build the Reasoner's graph with ``interrupt_before_finalize=True`` (see
  ``with_review``); ``pending_review`` shows the answer the search would give, ``approve``
  finalizes it, ``reject`` prunes that answer and lets the search go on (it stops again before
  the next finalize).

This module does not manage database servers or migrations beyond the savers' own ``setup()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError, RunError, UserError
from ..graph.answer import Answer, choose_answer, full_result
from ..schema import Result
from ..serde import serializer

RECURSION_LIMIT = 1_000_000


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "postgresql+psycopg://"))


@asynccontextmanager
async def open_checkpointer(url: str | Path | None = None) -> AsyncIterator[Any]:
    """Open (and set up) a checkpoint saver from a URL or path; close it on exit.

    ``None`` or ``":memory:"`` → in-memory; ``postgresql://user@host:port/db`` → Postgres;
    ``sqlite:///runs.sqlite`` or any other string/path → a SQLite file (created if missing).
    """
    serde = serializer()
    if url is None or str(url) == ":memory:":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver(serde=serde)
        return
    text = str(url)
    if _is_postgres(text):
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
            from psycopg import AsyncConnection
            from psycopg.rows import dict_row
        except ImportError:
            raise ConfigError("Postgres checkpoints need: pip install 'o1agent[server]'") from None
        conn_url = text.replace("postgresql+psycopg://", "postgresql://", 1)
        try:
            conn: Any = await AsyncConnection.connect(
                conn_url,
                autocommit=True,
                prepare_threshold=0,
                row_factory=dict_row,  # type: ignore[arg-type]  # psycopg's stubs are generic over the row type
            )
        except Exception as exc:
            raise CheckpointError(f"cannot connect to Postgres at {_redact(conn_url)}: {exc}") from None
        async with conn:
            saver = AsyncPostgresSaver(conn, serde=serde)
            await saver.setup()
            yield saver
        return
    try:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    except ImportError:
        raise ConfigError("SQLite checkpoints need: pip install 'o1agent[server]'") from None
    path = text.removeprefix("sqlite:///").removeprefix("sqlite://")
    if path != ":memory:":
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise CheckpointError(f"the folder for the checkpoint file {path!r} does not exist")
    async with aiosqlite.connect(path) as conn:
        saver = AsyncSqliteSaver(conn, serde=serde)
        await saver.setup()
        yield saver


def _redact(url: str) -> str:
    # Never echo a password from a connection string into an error message or a log.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def thread_config(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    # checkpoint_ns "" is the top-level graph; AsyncSqliteSaver.aput needs the key present.
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf, "recursion_limit": RECURSION_LIMIT}


def _graph(reasoner_or_graph: Any) -> Any:
    graph = getattr(reasoner_or_graph, "graph", reasoner_or_graph)
    if getattr(graph, "checkpointer", None) is None:
        raise CheckpointError("this graph has no checkpointer: build the Reasoner with checkpointer=...")
    return graph


async def _drive(
    reasoner: Any,
    inputs: Any,
    config: dict[str, Any],
    on_event: Callable[[dict[str, Any]], None] | None,
) -> AsyncIterator[dict[str, Any]]:
    from ..reasoner import as_run_error, run_scope

    graph = _graph(reasoner)
    ctx = reasoner.context
    state: dict[str, Any] = {}
    try:
        async with run_scope(ctx) as run_ctx:  # reproducible, as Reasoner.astream is
            async for mode, chunk in graph.astream(
                inputs, config, context=run_ctx, stream_mode=["custom", "values"]
            ):
                if mode == "values":
                    state = chunk
                else:
                    if on_event is not None:
                        on_event(chunk)
                    yield chunk
    except Exception as exc:
        # As Reasoner.astream does: a failed run's RunError carries what was done (``.partial``).
        err = as_run_error(exc, state, ctx)
        if err is exc:
            raise
        raise err from exc
    # The thread's newest checkpoint (a fork's config names an old one, which must not be read).
    snap = await graph.aget_state(thread_config(config["configurable"]["thread_id"]))
    if snap.next == ("finalize",) and not state.get("result"):
        yield {"kind": "interrupt", "next": list(snap.next), "review": review_of(snap.values, ctx.strategy)}
        return
    result = full_result(state) or full_result(snap.values)
    if result is None:
        raise RunError("the run ended without a result")
    yield {"kind": "result", "result": result}


async def astream_resume(
    reasoner: Any, thread_id: str, *, on_event: Callable[[dict[str, Any]], None] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Continue ``thread_id`` from its last checkpoint, yielding events like ``Reasoner.astream``
    (the last is ``{"kind": "result"}``, or ``{"kind": "interrupt"}`` when stopped for review)."""
    graph = _graph(reasoner)
    config = thread_config(thread_id)
    snap = await graph.aget_state(config)
    if not snap.values:
        raise CheckpointError(f"no checkpoint for thread {thread_id!r}: nothing to resume")
    if not snap.next:
        result = full_result(snap.values)
        if result is None:
            raise CheckpointError(f"thread {thread_id!r} ended without a result")
        yield {"kind": "result", "result": result}  # already finished: nothing is recomputed
        return
    async for ev in _drive(reasoner, None, config, on_event):
        yield ev


async def resume(
    reasoner: Any, thread_id: str, *, on_event: Callable[[dict[str, Any]], None] | None = None
) -> Result:
    """Continue an interrupted run to its end and return its ``Result``."""
    last: dict[str, Any] = {}
    async for ev in astream_resume(reasoner, thread_id, on_event=on_event):
        last = ev
    if last.get("kind") != "result":
        raise RunError(f"thread {thread_id!r} stopped for review before finalize: call approve() or reject()")
    return last["result"]


async def find_checkpoint(reasoner: Any, thread_id: str, at_node: str) -> str:
    """Id of the earliest checkpoint, about to ``select``, whose tree holds ``at_node`` scored."""
    graph = _graph(reasoner)
    found: str | None = None
    async for snap in graph.aget_state_history(thread_config(thread_id)):  # newest first
        tree = snap.values.get("tree")
        if snap.next == ("select",) and tree is not None and at_node in tree.nodes:
            found = snap.config["configurable"]["checkpoint_id"]
    if found is None:
        raise CheckpointError(f"thread {thread_id!r} has no checkpoint after node {at_node!r} was scored")
    return found


async def fork(
    reasoner: Any,
    thread_id: str,
    *,
    checkpoint_id: str | None = None,
    at_node: str | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Result:
    """Rerun ``thread_id`` from an earlier checkpoint with ``reasoner`` (its budget, strategy and
    config), on a new branch of the same thread. ``reasoner`` must share the checkpointer."""
    graph = _graph(reasoner)
    if (checkpoint_id is None) == (at_node is None):
        raise UserError("fork needs exactly one of checkpoint_id or at_node")
    if checkpoint_id is None:
        checkpoint_id = await find_checkpoint(reasoner, thread_id, at_node or "")
    config = thread_config(thread_id, checkpoint_id)
    snap = await graph.aget_state(config)
    if not snap.values:
        raise CheckpointError(f"no checkpoint {checkpoint_id!r} in thread {thread_id!r}")
    strat = reasoner.strategy
    search = snap.values.get("search") or {}
    reset: dict[str, Any] = {}
    if not _search_fits(strat, search):
        # Another strategy: its frontier starts over from the checkpointed tree.
        reset = {"search": strat.init_state(snap.values["tree"]), "pending": [], "revise_next": False}
    if snap.values.get("exhausted_by"):
        reset["exhausted_by"] = None  # the old budget's verdict; the fork brings its own budget
    if reset:
        config = await graph.aupdate_state(config, reset, as_node="verify")
    last: dict[str, Any] = {}
    async for ev in _drive(reasoner, None, {**config, "recursion_limit": RECURSION_LIMIT}, on_event):
        last = ev
    if last.get("kind") != "result":
        raise RunError("the fork stopped for review before finalize: call approve() or reject()")
    return last["result"]


def _search_fits(strategy: Any, search: dict[str, Any]) -> bool:
    # A strategy's state keys are fixed by its init_state; mismatching keys mean another strategy.
    from ..schema import Tree

    return set(strategy.init_state(Tree.new("?"))) == set(search)


def with_review(reasoner: Any) -> Any:
    """Make ``reasoner``'s graph stop before ``finalize`` (human approval); returns the reasoner.

    The compiled graph is copied with the interrupt added, so every other setting (tools,
    decompose, concurrency, checkpointer) is kept.
    """
    graph = _graph(reasoner)
    before = list(getattr(graph, "interrupt_before_nodes", None) or [])
    if "finalize" not in before:
        reasoner.graph = graph.copy(update={"interrupt_before_nodes": [*before, "finalize"]})
    return reasoner


def review_of(values: dict[str, Any], strategy: Any = None) -> dict[str, Any]:
    """What finalize would answer from this state: node, answer, score and path."""
    tree = values.get("tree")
    if tree is None:
        return {}
    if strategy is None:
        from ..search.base import default_best

        choice = default_best(tree)
        ans = Answer(choice, tree.path(choice.node_id), choice.answer) if choice else Answer(None)
    else:
        ans = choose_answer(tree, values.get("search"), strategy)
    if ans.choice is None:
        return {"node_id": None, "answer": None, "score": None, "path": []}
    return {
        "node_id": ans.choice.node_id,
        "answer": ans.stated,
        "score": ans.choice.score,
        "path": [n.id for n in ans.path],
    }


async def pending_review(reasoner: Any, thread_id: str) -> dict[str, Any]:
    """The answer waiting for approval on ``thread_id`` (empty if the run is not at review)."""
    graph = _graph(reasoner)
    snap = await graph.aget_state(thread_config(thread_id))
    if snap.next != ("finalize",):
        return {}
    return review_of(snap.values, strategy=reasoner.strategy)


async def approve(reasoner: Any, thread_id: str) -> Result:
    """Let a run stopped before finalize finish with the answer it found."""
    if not await pending_review(reasoner, thread_id):
        raise CheckpointError(f"thread {thread_id!r} is not waiting for review")
    return await resume(reasoner, thread_id)


async def reject(reasoner: Any, thread_id: str, *, reason: str = "rejected by a reviewer") -> dict[str, Any]:
    """Prune the proposed answer and let the search continue; returns the next event
    (``interrupt`` with a new review, or ``result`` if the search ended)."""
    graph = _graph(reasoner)
    review = await pending_review(reasoner, thread_id)
    if not review or review.get("node_id") is None:
        raise CheckpointError(f"thread {thread_id!r} is not waiting for review")
    snap = await graph.aget_state(thread_config(thread_id))
    node = snap.values["tree"].get(review["node_id"])
    pruned = node.model_copy(update={"status": "pruned", "score": 0.0, "critique": reason})
    # A strategy may remember its chosen answer in its state (dfs: "found"); forget it. This is
    # a heuristic over plain state values: a strategy with deeper references needs its own reset.
    search = {k: (None if v == node.id else v) for k, v in (snap.values.get("search") or {}).items()}
    # As if verify had just scored it 0: the router sends the run back to select.
    await graph.aupdate_state(
        thread_config(thread_id),
        {"tree": {node.id: pruned}, "pending": [], "search": search, "revise_next": False},
        as_node="verify",
    )
    last: dict[str, Any] = {}
    async for ev in _drive(reasoner, None, thread_config(thread_id), None):
        last = ev
    return last


async def arun_durable(
    question: str,
    *,
    store: str | Path | None,
    thread_id: str,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    **reasoner_kwargs: Any,
) -> Result:
    """Solve ``question`` on ``thread_id`` with checkpoints in ``store``; if the thread holds an
    unfinished run, continue it instead of starting over. For the CLI's ``--checkpoint/--resume``.
    """
    from ..reasoner import Reasoner, validate_question

    q = validate_question(question)
    async with open_checkpointer(store) as saver:
        reasoner = Reasoner(checkpointer=saver, **reasoner_kwargs)
        try:
            snap = await reasoner.graph.aget_state(thread_config(thread_id))
            if snap.values and snap.next:
                if snap.values.get("question") != q:
                    raise CheckpointError(
                        f"thread {thread_id!r} holds an unfinished run of another question: "
                        f"{snap.values.get('question')!r}"
                    )
                return await resume(reasoner, thread_id, on_event=on_event)
            return await reasoner.asolve(q, thread_id=thread_id, on_event=on_event)
        finally:
            await reasoner.aclose()
