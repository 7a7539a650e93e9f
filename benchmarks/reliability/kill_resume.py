"""kill -9 in the middle of a durable run, then resume: are finished nodes lost or recomputed?

A worker process solves a question on the embedded model with checkpoints (SQLite file or
PostgreSQL), printing each proposed node; it kills itself with SIGKILL shortly after the first checkpoint
holding ``kill_at`` nodes is written, while the next node is still being decoded (a fixed point:
a kill timed from outside could land after the run had finished). A second worker resumes the
thread. Compared with an uninterrupted run of the same seed:

* lost nodes — nodes checkpointed before the kill that are missing (or changed) after the resume;
* recomputed nodes — nodes checkpointed before the kill that the resume proposed again;
* whether the resumed tree equals the uninterrupted one.

    python benchmarks/reliability/kill_resume.py [--backends sqlite,postgres]

Postgres runs on a throwaway cluster (``tests/postgres_server.py``; needs the ``postgresql``
package, installed by ``make sysdeps``). The last lines are ``lost_nodes_sqlite``,
``lost_nodes_postgres`` (and ``recomputed_nodes_*``, ``same_tree_*``) as ``name: value``.
``kill_and_resume(url, workdir)`` is the same for one store, as a function (the checkpoint tests
call it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys, threading
    from o1agent import Reasoner
    from o1agent.integrations.checkpoint import open_checkpointer, resume
    from o1agent.policies.llamacpp import LlamaCppPolicy

    url, thread, mode, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    Q = "Tom has 3 boxes with 5 pens in each box. How many pens does Tom have?"

    proposed = 0

    def emit(ev):
        global proposed
        if ev.get("kind") in ("propose", "verify"):
            proposed += ev["kind"] == "propose"
            print(json.dumps({"kind": ev["kind"], "node_id": ev["node_id"]}), flush=True)

    def crash_after(saver):
        # kill -9 from inside, at a fixed point rather than after a delay the parent guesses: just
        # after the checkpoint that holds the root and ``kill_at - 1`` proposed nodes is written,
        # while the next step is still decoding (48 tokens take well over 50 ms on any CPU).
        put = saver.aput
        async def aput(config, checkpoint, metadata, new_versions):
            out = await put(config, checkpoint, metadata, new_versions)
            if proposed >= kill_at - 1:
                threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGKILL)).start()
                saver.aput = put
            return out
        saver.aput = aput

    async def main():
        async with open_checkpointer(None if url == "-" else url) as saver:
            if mode == "crash":
                crash_after(saver)
            # No prefix snapshots: llama.cpp's logits depend on how a prompt was split between
            # cached and new tokens, so a resumed run (cold cache) could part from the
            # uninterrupted one at a near-tie; without the cache both evaluate every prompt whole.
            model = LlamaCppPolicy("embedded", state_cache_bytes=0)
            r = Reasoner(model=model, strategy="dfs", reward="none", seed=0, checkpointer=saver,
                         strategy_config={"k": 1, "step_tokens": 48, "max_depth": 4}, budget={"max_nodes": 4})
            if mode == "resume":
                res = await resume(r, thread, on_event=emit)
            else:
                res = await r.asolve(Q, thread_id=thread, on_event=emit)
            nodes = sorted([n.id, n.step.raw] for n in res.tree.nodes.values())
            print(json.dumps({"kind": "tree", "nodes": nodes}), flush=True)

    asyncio.run(main())
    """
)


@dataclass
class KillResume:
    checkpointed: int
    lost_nodes: int
    recomputed_nodes: int
    same_tree: bool


def run_worker(script: Path, url: str, thread: str, mode: str, *, kill_at: int = 0) -> list[dict]:
    """Run the worker and return its JSON lines. ``mode="crash"``: it SIGKILLs itself shortly
    after the first checkpoint holding ``kill_at`` nodes, mid-run; anything else must exit 0."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(script), url, thread, mode, str(kill_at)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if mode == "crash":
        if proc.returncode != -signal.SIGKILL:
            raise RuntimeError(
                f"worker was not killed mid-run (exit {proc.returncode}): {proc.stderr[-2000:]}"
            )
        if any(e["kind"] == "tree" for e in lines):
            raise RuntimeError("worker finished its run before the kill: nothing was interrupted")
    elif proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}): {proc.stderr[-4000:]}")
    return lines


async def checkpointed_nodes(url: str, thread: str) -> dict[str, str]:
    """The nodes of ``thread``'s newest checkpoint (id -> step text)."""
    from o1agent import Reasoner
    from o1agent.integrations.checkpoint import open_checkpointer
    from o1agent.policies import ScriptedPolicy

    async with open_checkpointer(url) as saver:
        r = Reasoner(model=ScriptedPolicy(["unused"]), strategy="dfs", reward=None, checkpointer=saver)
        snap = await r.graph.aget_state({"configurable": {"thread_id": thread}})
        tree = snap.values.get("tree")
        return {n.id: n.step.raw for n in tree.nodes.values()} if tree is not None else {}


def kill_and_resume(url: str, workdir: Path, *, kill_at: int = 3, thread: str = "crash") -> KillResume:
    """Kill a checkpointed run on ``url`` once ``kill_at`` nodes are checkpointed, resume it, compare."""
    script = workdir / "kill_resume_worker.py"
    script.write_text(WORKER)
    full_tree = run_worker(script, "-", "x", "solve")[-1]["nodes"]
    run_worker(script, url, thread, "crash", kill_at=kill_at)
    kept = asyncio.run(checkpointed_nodes(url, thread))
    resumed = run_worker(script, url, thread, "resume")
    if not resumed or resumed[-1]["kind"] != "tree":
        raise RuntimeError(f"the resumed run printed no result: {resumed}")
    final = resumed[-1]["nodes"]
    recomputed = {e["node_id"] for e in resumed if e["kind"] == "propose"} & set(kept)
    lost = [nid for nid, text in kept.items() if [nid, text] not in final]
    return KillResume(
        checkpointed=len(kept),
        lost_nodes=len(lost),
        recomputed_nodes=len(recomputed),
        same_tree=final == full_tree,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="sqlite,postgres")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    results: dict[str, KillResume] = {}
    with tempfile.TemporaryDirectory(prefix="o1agent-kill-") as tmp:
        work = Path(tmp)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if backend == "sqlite":
                results[backend] = kill_and_resume(str(work / "crash.sqlite"), work)
            elif backend == "postgres":
                from postgres_server import running_postgres

                with running_postgres() as url:
                    results[backend] = kill_and_resume(url, work)
            else:
                raise SystemExit(f"unknown backend {backend!r}: sqlite or postgres")
    for name, r in results.items():
        print(f"checkpointed_nodes_{name}: {r.checkpointed}")
        print(f"recomputed_nodes_{name}: {r.recomputed_nodes}")
        print(f"same_tree_{name}: {r.same_tree}")
    for name, r in results.items():
        print(f"lost_nodes_{name}: {r.lost_nodes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
