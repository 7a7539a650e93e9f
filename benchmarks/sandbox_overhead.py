"""Startup cost of one sandboxed run: ``run_python("pass")`` from call to result.

Measured side by side, in turn, so that machine load hits every variant alike: the bare
interpreter (``python -I -S -c pass`` as a subprocess, the floor), the bubblewrap sandbox, the
same call with ``unsafe_local=True`` where bwrap is hidden (PATH without it: a plain local
process with rlimits, pids cgroup and timeout), and with ``--before REF`` the sandbox module as it
was at git revision REF (e.g. the audit-hook sandbox before bubblewrap), loaded beside the current
one. ``first_call_ms`` is the one-time cost of a process's first sandboxed run (the interpreter's
layout, an ldd pass over its extension modules, one probe run of bwrap).

The last lines are ``name: value``; ``sandbox_run_ms`` is the median. It measures startup, not the
program: a program's own run time is the same inside (same interpreter, no emulation).

    python benchmarks/sandbox_overhead.py [--runs 30] [--before d9e79ed]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import logging

from o1agent.tools import sandbox

logging.getLogger("o1agent.tools.sandbox").setLevel(logging.ERROR)  # the unsafe_local warning, once per run

REPO = Path(__file__).resolve().parents[1]


def _module_at(ref: str) -> Any:
    """``o1agent/tools/sandbox.py`` as it was at ``ref``, imported beside the current one."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:o1agent/tools/sandbox.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="o1agent-bench-") as tmp:
        path = Path(tmp) / "sandbox_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("o1agent.tools._sandbox_before", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # its relative imports (..errors) resolve inside o1agent.tools
        spec.loader.exec_module(mod)
    return mod


async def _plain() -> None:
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    proc = await asyncio.create_subprocess_exec(exe, "-I", "-S", "-c", "pass")
    await proc.wait()


async def _unsafe() -> None:
    path = os.environ["PATH"]
    os.environ["PATH"] = "/nonexistent"  # no bwrap: unsafe_local is what runs
    try:
        r = await sandbox.arun_python("pass", unsafe_local=True)
    finally:
        os.environ["PATH"] = path
    assert r.ok and r.isolation[0] == "unsafe-local", r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--before", help="git revision whose sandbox module to measure beside this one")
    args = parser.parse_args()

    t0 = time.perf_counter()
    layers = sandbox.check_sandbox()
    first_ms = 1000 * (time.perf_counter() - t0)
    print(f"layers: {' '.join(layers)}")

    async def current() -> None:
        r = await sandbox.arun_python("pass")
        assert r.ok, r.error

    variants: dict[str, Callable[[], Any]] = {
        "plain_python": _plain,
        "sandbox_run": current,
        "unsafe_local_run": _unsafe,
    }
    if args.before:
        before = _module_at(args.before)

        async def old() -> None:
            r = await before.arun_python("pass")
            assert r.ok, r.error

        variants["before_run"] = old

    async def measure() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {k: [] for k in variants}
        for run in variants.values():  # warm-up: probes, caches, imports
            await run()
        for _ in range(args.runs):
            for name, run in variants.items():
                t = time.perf_counter()
                await run()
                times[name].append(1000 * (time.perf_counter() - t))
        return times

    times = asyncio.run(measure())
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=10)
        print(
            f"{name}: median {statistics.median(ts):.1f} ms, p10 {q[0]:.1f}, p90 {q[-1]:.1f} ({len(ts)} runs)"
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"first_call_ms: {first_ms:.0f}")
    print(f"plain_python_ms: {med['plain_python']:.1f}")
    print(f"unsafe_local_run_ms: {med['unsafe_local_run']:.1f}")
    if "before_run" in med:
        print(f"before_run_ms: {med['before_run']:.1f}")
        print(f"sandbox_over_before: {med['sandbox_run'] / med['before_run']:.2f}")
    print(f"sandbox_overhead_ms: {med['sandbox_run'] - med['plain_python']:.1f}")
    print(f"sandbox_run_ms: {med['sandbox_run']:.1f}")


if __name__ == "__main__":
    main()
