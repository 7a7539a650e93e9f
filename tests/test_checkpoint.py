"""Durable runs: resume after a crash (kill -9 on the embedded model, SQLite and PostgreSQL), fork
with another budget, human approval before finalize, and the checkpoint serializer."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import TableReward, step_responder

from o1agent import Reasoner
from o1agent.errors import BackendError, RunError
from o1agent.integrations.checkpoint import (
    CheckpointError,
    approve,
    find_checkpoint,
    fork,
    open_checkpointer,
    pending_review,
    resume,
    with_review,
)
from o1agent.policies import ScriptedPolicy

SCRIPT = {
    "0": ["Bad start\nwrong idea", "Good start\nmultiply 3 by 4"],
    "0.0": ["Dead end\nnonsense", "Dead end again\nnonsense"],
    # Two different answers (identical ones would be one answer and a duplicate of it).
    "0.1": ["Finish\n3*4 = 12\nFinal answer: 12", "Finish another way\n4*3 = 12\nFinal answer: 12"],
}
TABLE = {"Bad": 0.6, "Good": 0.55, "Dead": 0.1, "Finish": 0.9}
DFS = {"k": 2, "threshold": 0.5, "greedy_first": False}
QUESTION = "A farmer has 3 pens with 4 sheep in each. How many sheep?"


def reasoner(saver: Any, *, fail_after: int | None = None, **kw: Any) -> Reasoner:
    respond = step_responder(SCRIPT)
    calls = {"n": 0}

    def maybe_fail(req):
        calls["n"] += 1
        if fail_after is not None and calls["n"] > fail_after:
            raise BackendError("simulated crash")
        return respond(req)

    policy = ScriptedPolicy(maybe_fail)
    kw.setdefault("strategy_config", DFS)
    return Reasoner(model=policy, strategy="dfs", reward=TableReward(TABLE), checkpointer=saver, **kw)


def tree_sig(tree) -> list[tuple[str, str]]:
    return sorted((n.id, n.step.raw) for n in tree.nodes.values())


async def test_resume_continues_without_recomputing(tmp_path):
    baseline = await reasoner(None).asolve(QUESTION)
    async with open_checkpointer(tmp_path / "runs.sqlite") as saver:
        with pytest.raises(RunError):
            await reasoner(saver, fail_after=2).asolve(QUESTION, thread_id="t1")  # dies in the 2nd expansion
        r = reasoner(saver)
        before = (await r.graph.aget_state({"configurable": {"thread_id": "t1"}})).values["tree"]
        assert 1 < len(before) < len(baseline.tree)
        proposed: list[str] = []
        result = await resume(
            r, "t1", on_event=lambda ev: proposed.append(ev["node_id"]) if ev["kind"] == "propose" else None
        )
    assert result.answer == "12"
    assert not set(proposed) & set(before.nodes), "a checkpointed node was recomputed"
    assert set(proposed) == set(baseline.tree.nodes) - set(before.nodes)
    assert tree_sig(result.tree) == tree_sig(baseline.tree)
    # No parent that already had children in the checkpoint was asked to propose again.
    asked = [q.metadata.get("node_id") for q in r.policy.requests]  # type: ignore[attr-defined]
    assert asked and not [nid for nid in asked if before.nodes.get(nid) and before.nodes[nid].children]


async def test_resume_of_a_finished_thread_returns_its_result_without_calls(tmp_path):
    async with open_checkpointer(f"sqlite:///{tmp_path / 'r.sqlite'}") as saver:
        first = await reasoner(saver).asolve(QUESTION, thread_id="done")
        r = reasoner(saver)
        again = await resume(r, "done")
        assert again.run_id == first.run_id and again.answer == "12"
        assert r.policy.requests == []  # type: ignore[attr-defined]
        with pytest.raises(CheckpointError, match="nothing to resume"):
            await resume(r, "no-such-thread")


async def test_schema_types_are_allow_listed(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    async with open_checkpointer(tmp_path / "w.sqlite") as saver:
        await reasoner(saver).asolve(QUESTION, thread_id="w")
        snap = await reasoner(saver).graph.aget_state({"configurable": {"thread_id": "w"}})
        assert snap.values["result"].answer == "12"
    assert "unregistered type" not in caplog.text


async def test_fork_from_a_checkpoint_with_a_bigger_budget(tmp_path):
    async with open_checkpointer(tmp_path / "f.sqlite") as saver:
        small = await reasoner(saver, budget={"max_nodes": 2}).asolve(QUESTION, thread_id="f")
        assert small.budget_exhausted and small.answer != "12"
        big = reasoner(saver, budget={"max_nodes": 20})
        cid = await find_checkpoint(big, "f", "0.1")
        forked = await fork(big, "f", checkpoint_id=cid)
        assert forked.answer == "12" and not forked.budget_exhausted
        # The fork kept the first run's nodes as they were and only added new ones.
        for nid in ("0.0", "0.1"):
            assert forked.tree.get(nid).step.raw == small.tree.get(nid).step.raw
        assert len(big.policy.requests) == 2  # type: ignore[attr-defined]  (0.0 and 0.1 expanded; no recompute)
        # The original branch is still in the history.
        finals = [
            s.values["result"].answer
            async for s in big.graph.aget_state_history({"configurable": {"thread_id": "f"}})
            if s.values.get("result") is not None
        ]
        assert sorted(finals) == sorted([small.answer, "12"])
        # Another strategy: its frontier restarts from the checkpointed tree.
        greedy = Reasoner(
            model=ScriptedPolicy(step_responder(SCRIPT)),
            strategy="greedy",
            reward=TableReward(TABLE),
            checkpointer=saver,
        )
        other = await fork(greedy, "f", at_node="0.1")
        assert other.strategy == "greedy" and {"0.0", "0.1"} <= set(other.tree.nodes)


async def test_human_approves_before_finalize(tmp_path):
    async with open_checkpointer(tmp_path / "h.sqlite") as saver:
        r = with_review(reasoner(saver))
        events = [
            ev
            async for ev in r.graph.astream(
                {"question": QUESTION, "run_id": "h"},
                {"configurable": {"thread_id": "h"}, "recursion_limit": 1000},
                context=r.context,
                stream_mode="custom",
            )
        ]
        assert "finalize" not in [e["kind"] for e in events]
        review = await pending_review(r, "h")
        assert review["answer"] == "12" and review["node_id"] == "0.1.0" and review["score"] == 0.9
        result = await approve(r, "h")
        assert result.answer == "12" and [n.id for n in result.best_path] == review["path"]
        assert await pending_review(r, "h") == {}
        with pytest.raises(CheckpointError):
            await approve(r, "h")


# ---- crash with kill -9 on the embedded model (benchmarks/reliability/kill_resume.py) -----------


def _kill_resume():
    spec = importlib.util.spec_from_file_location(
        "reliability_kill_resume", Path(__file__).parent.parent / "benchmarks/reliability/kill_resume.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["reliability_kill_resume"] = mod  # dataclasses resolve annotations through it
    spec.loader.exec_module(mod)
    return mod


def _kill_and_resume(url: str, tmp_path: Path) -> None:
    report = _kill_resume().kill_and_resume(url, tmp_path)
    assert report.checkpointed >= 3, "the first expansions were not checkpointed before the kill"
    assert report.recomputed_nodes == 0, "nodes checkpointed before the kill were recomputed"
    assert report.lost_nodes == 0, "a completed node was lost"
    assert report.same_tree, "the resumed tree differs from an uninterrupted run with the same seed"


@pytest.mark.slow
def test_kill_9_and_resume_sqlite(tmp_path):
    _kill_and_resume(str(tmp_path / "crash.sqlite"), tmp_path)


# ---- PostgreSQL (the postgres_url fixture: conftest.py, tests/postgres_server.py) ---------------


@pytest.mark.slow
async def test_postgres_resume_and_approve(postgres_url):
    async with open_checkpointer(postgres_url) as saver:
        with pytest.raises(RunError):
            await reasoner(saver, fail_after=2).asolve(QUESTION, thread_id="pg1")
        r = reasoner(saver)
        result = await resume(r, "pg1")
        assert result.answer == "12"
        h = with_review(reasoner(saver))
        async for _ in h.graph.astream(
            {"question": QUESTION, "run_id": "pgh"},
            {"configurable": {"thread_id": "pgh"}, "recursion_limit": 1000},
            context=h.context,
        ):
            pass
        assert (await pending_review(h, "pgh"))["answer"] == "12"
        assert (await approve(h, "pgh")).answer == "12"


@pytest.mark.slow
def test_kill_9_and_resume_postgres(postgres_url, tmp_path):
    _kill_and_resume(postgres_url, tmp_path)


async def test_bad_postgres_url_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    with pytest.raises(CheckpointError, match=r"cannot connect to Postgres at postgresql://u:\*\*\*@127"):
        async with open_checkpointer(f"postgresql://u:secret@127.0.0.1:{port}/db"):
            pass


async def test_arun_durable_continues_an_unfinished_thread(tmp_path):
    from o1agent.integrations.checkpoint import arun_durable

    store = tmp_path / "d.sqlite"
    async with open_checkpointer(store) as saver:
        with pytest.raises(RunError):
            await reasoner(saver, fail_after=2).asolve(QUESTION, thread_id="d")
    policy = ScriptedPolicy(step_responder(SCRIPT))
    kw = {"model": policy, "strategy": "dfs", "strategy_config": DFS, "reward": TableReward(TABLE)}
    with pytest.raises(CheckpointError, match="another question"):
        await arun_durable("What is 2+2?", store=store, thread_id="d", **kw)
    result = await arun_durable(QUESTION, store=store, thread_id="d", **kw)
    assert result.answer == "12"
    # Continued, not restarted: the root was not expanded again.
    assert "0" not in [q.metadata.get("node_id") for q in policy.requests]


async def test_human_rejects_an_answer_then_approves_the_next(tmp_path):
    from o1agent.integrations.checkpoint import reject

    async with open_checkpointer(None) as saver:
        r = with_review(reasoner(saver))
        cfg = {"configurable": {"thread_id": "rj"}, "recursion_limit": 1000}
        async for _ in r.graph.astream({"question": QUESTION, "run_id": "rj"}, cfg, context=r.context):
            pass
        assert (await pending_review(r, "rj"))["node_id"] == "0.1.0"
        ev = await reject(r, "rj", reason="show the other path")
        assert ev["kind"] == "interrupt" and ev["review"]["node_id"] == "0.1.1"
        assert (await pending_review(r, "rj"))["node_id"] == "0.1.1"
        result = await approve(r, "rj")
        assert [n.id for n in result.best_path] == ["0.1", "0.1.1"]
        rejected = result.tree.get("0.1.0")
        assert rejected.status == "pruned" and rejected.critique == "show the other path"


_STRICT_RESUME = textwrap.dedent(
    """
    import asyncio, logging, sys
    sys.path.insert(0, {tests!r})
    from helpers import TableReward, step_responder
    from langgraph.checkpoint.memory import InMemorySaver
    from o1agent import Reasoner
    from o1agent.errors import BackendError
    from o1agent.integrations.checkpoint import resume
    from o1agent.policies import ScriptedPolicy

    SCRIPT = {script!r}
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    async def main():
        saver = InMemorySaver()  # the user's own checkpointer: o1agent registers its types
        respond, calls = step_responder(SCRIPT), {{"n": 0}}

        def flaky(req):
            calls["n"] += 1
            if calls["n"] == 3:
                raise BackendError("simulated crash")
            return respond(req)

        r = Reasoner(model=ScriptedPolicy(flaky), strategy="dfs", strategy_config={dfs!r},
                     reward=TableReward({table!r}), checkpointer=saver)
        try:
            await r.asolve("q?", thread_id="t")
        except Exception as exc:
            print("crashed:", type(exc).__name__)
        res = await resume(r, "t")
        print("answer:", res.answer, type(res.tree).__name__, type(res.usage).__name__,
              type(res.trace.events[0]).__name__)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("strict", ["true", None])
def test_resume_with_a_plain_checkpointer_strict_or_not(tmp_path, strict):
    # LANGGRAPH_STRICT_MSGPACK is read at import: run in a fresh interpreter. Permissive mode
    # warns "Deserializing unregistered type" for any type not registered; strict blocks it.
    code = _STRICT_RESUME.format(tests=str(Path(__file__).parent), script=SCRIPT, dfs=DFS, table=TABLE)
    env = {k: v for k, v in os.environ.items() if k != "LANGGRAPH_STRICT_MSGPACK"}
    if strict:
        env["LANGGRAPH_STRICT_MSGPACK"] = strict
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "crashed: BackendError" in out.stdout
    assert "answer: 12 Tree Usage TraceEvent" in out.stdout, out.stdout + out.stderr
    assert "unregistered" not in out.stderr and "Blocked deserialization" not in out.stderr
