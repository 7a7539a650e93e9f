"""kill -9 in the middle of a durable run, then resume: are finished nodes lost or recomputed?

A worker process solves a question on the embedded model with checkpoints (SQLite file or
PostgreSQL), printing each proposed node; it is killed with SIGKILL after ``kill_after``
proposals. A second worker resumes the thread. Compared with an uninterrupted run of the same
seed:

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
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from o1agent import Reasoner
    from o1agent.integrations.checkpoint import open_checkpointer, resume

    url, thread, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    Q = "Tom has 3 boxes with 5 pens in each box. How many pens does Tom have?"

    def emit(ev):
        if ev.get("kind") in ("propose", "verify"):
            print(json.dumps({"kind": ev["kind"], "node_id": ev["node_id"]}), flush=True)

    async def main():
        async with open_checkpointer(None if url == "-" else url) as saver:
            r = Reasoner(model="embedded", strategy="dfs", reward="none", seed=0, checkpointer=saver,
                         strategy_config={"k": 1, "step_tokens": 48, "max_depth": 4}, budget={"max_nodes": 4})
            if mode == "resume":
                res = await resume(r, thread, on_event=emit)
            else:
                res = await r.asolve(Q, thread_id=thread, on_event=emit)
            print(json.dumps({"kind": "tree", "nodes": sorted([n.id, n.step.raw] for n in res.tree.nodes.values())}), flush=True)

    asyncio.run(main())
    """
)


@dataclass
class KillResume:
    checkpointed: int
    lost_nodes: int
    recomputed_nodes: int
    same_tree: bool


def run_worker(
    script: Path, url: str, thread: str, mode: str, *, kill_after_proposals: int | None = None
) -> list[dict]:
    """Run the worker; with ``kill_after_proposals`` SIGKILL it once that many nodes were proposed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(script), url, thread, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[dict] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(json.loads(line))
            if (
                kill_after_proposals is not None
                and sum(e["kind"] == "propose" for e in lines) >= kill_after_proposals
            ):
                # Give the superstep that emitted it time to checkpoint, then die without cleanup
                # (48-token steps: the two left take longer than this, even on a quiet machine).
                time.sleep(0.5)
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    if kill_after_proposals is None and proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
    if kill_after_proposals is not None and proc.returncode != -signal.SIGKILL:
        raise RuntimeError(f"worker ended before the kill ({proc.returncode})")
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


def kill_and_resume(url: str, workdir: Path, *, kill_after: int = 2, thread: str = "crash") -> KillResume:
    """Kill a checkpointed run on ``url`` after ``kill_after`` proposals, resume it, compare."""
    script = workdir / "kill_resume_worker.py"
    script.write_text(WORKER)
    full_tree = run_worker(script, "-", "x", "solve")[-1]["nodes"]
    run_worker(script, url, thread, "solve", kill_after_proposals=kill_after)
    kept = asyncio.run(checkpointed_nodes(url, thread))
    resumed = run_worker(script, url, thread, "resume")
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
