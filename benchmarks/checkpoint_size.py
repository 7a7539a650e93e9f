"""Bytes a checkpointed run stores per search node.

A 64-node beam search (width 3, 4 candidates per beam: 4 + 5 rounds of 12) with a zero-latency ``ScriptedPolicy``
whose steps never finish, reward "none", checkpointed to an ``AsyncSqliteSaver`` on a temp file.
After the run the stored bytes are summed with SQL — every checkpoint and its metadata, and every
pending write — and divided by the nodes the run created (``result.usage.nodes``). The file size
is printed too (it includes SQLite's page slack and indexes). The last line is
``checkpoint_bytes_per_node: X``.

It measures what o1agent puts in LangGraph's state per superstep (the tree, usage, events, the
strategy's state), not SQLite's speed and not a model.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
from itertools import count
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

import o1agent
from o1agent import Reasoner
from o1agent.policies import ScriptedPolicy

NODES = 64
QUESTION = "A farmer has 3 pens with 4 sheep in each. How many sheep?"
STEPS = [
    "Count the pens\nThere are 3 pens on the farm.",
    "Count the sheep per pen\nEach pen holds 4 sheep.",
    "Combine\nThe pens and the sheep per pen give the total.",
    "Check the total\nMultiplying pens by sheep per pen is the way.",
]


async def run(path: Path) -> int:
    n = count()
    # Never final, and every step differs from its parent (a repeated step ends its chain).
    policy = ScriptedPolicy(lambda req: f"{STEPS[(i := next(n)) % len(STEPS)]} (note {i})")
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        reasoner = Reasoner(
            model=policy,
            strategy="beam",
            strategy_config={"width": 3, "k": 4, "max_depth": 16},
            budget={"max_nodes": NODES, "max_tokens": None},
            reward="none",
            checkpointer=saver,
        )
        result = await reasoner.asolve(QUESTION, thread_id="t")
        await reasoner.aclose()
    return result.usage.nodes


def stored_bytes(path: Path) -> tuple[int, int, int, int]:
    with sqlite3.connect(path) as db:
        checkpoints, ckpt_bytes = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) FROM checkpoints"
        ).fetchone()
        writes, write_bytes = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM writes"
        ).fetchone()
    return checkpoints, ckpt_bytes, writes, write_bytes


def main() -> None:
    print(f"o1agent: {o1agent.__file__}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.sqlite"
        nodes = asyncio.run(run(path))
        checkpoints, ckpt_bytes, writes, write_bytes = stored_bytes(path)
        file_bytes = path.stat().st_size
    if nodes < NODES:
        raise SystemExit(f"the search built only {nodes} nodes; the benchmark needs {NODES}")
    total = ckpt_bytes + write_bytes
    print(
        f"checkpoints: {checkpoints} ({ckpt_bytes} bytes), writes: {writes} ({write_bytes} bytes)",
        file=sys.stderr,
    )
    print(f"nodes: {nodes}")
    print(f"checkpoint_bytes_total: {total}")
    print(f"sqlite_file_bytes: {file_bytes}")
    print(f"checkpoint_bytes_per_node: {total / nodes:.0f}")


if __name__ == "__main__":
    main()
