"""Server load: N concurrent small requests against ``o1agent serve`` on the embedded model.

Starts ``o1agent serve`` with its default settings (8 runs at once, a line of 256, a 600 s run
timeout counted from when a run starts) in a subprocess on a free loopback port, sends
``--requests`` requests at once (half of them streamed), each a different one-digit sum with a
tiny budget, and prints, last, one ``name: value`` line per figure:

    load_requests, load_ok (HTTP 200 with an answer), load_p50_s, load_p95_s (seconds from
    sending to the whole reply), load_wall_s, rss_before_mb / rss_after_mb (the server's resident
    memory before the burst and after it), loop_lag_max_ms (the server's own event-loop monitor).

    python benchmarks/reliability/load.py --requests 100

What it does not measure: throughput under a real model's budgets (the runs here are tiny on
purpose, so the figures are about queueing and the server, not about search).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def small_request(i: int, *, max_tokens: int, stream: bool) -> dict:
    a, b = i % 10, (i * 7 + 3) % 10
    return {
        "model": "embedded",
        "messages": [{"role": "user", "content": f"What is {a} + {b}?"}],
        "strategy": "greedy",
        "reward": "none",
        "strategy_config": {"step_tokens": 24, "max_depth": 1},
        "budget": {"max_tokens": max_tokens, "max_nodes": 1},
        "stream": stream,
    }


async def one(client: httpx.AsyncClient, url: str, payload: dict) -> tuple[bool, float]:
    t0 = time.monotonic()
    try:
        if payload["stream"]:
            # A streamed run that failed still says 200 (sent first): it ends with an error event.
            lines: list[str] = []
            async with client.stream("POST", url, json=payload) as r:
                lines = [line async for line in r.aiter_lines() if line.startswith("data: ")]
            failed = any('"error"' in json.loads(line[6:]) for line in lines[:-1])
            ok = r.status_code == 200 and lines[-1:] == ["data: [DONE]"] and not failed
        else:
            r = await client.post(url, json=payload)
            ok = r.status_code == 200 and "choices" in r.json()
    except httpx.HTTPError:
        ok = False
    return ok, time.monotonic() - t0


async def burst(base: str, n: int, max_tokens: int) -> list[tuple[bool, float]]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=httpx.Timeout(1800.0), limits=limits) as client:
        url = f"{base}/v1/chat/completions"
        jobs = [
            one(client, url, small_request(i, max_tokens=max_tokens, stream=i % 2 == 1)) for i in range(n)
        ]
        return await asyncio.gather(*jobs)


def wait_up(base: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not come up (exit code {proc.poll()})")
        time.sleep(0.3)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=100, help="concurrent requests (default 100)")
    ap.add_argument("--max-tokens", type=int, default=400, help="each request's token budget")
    args = ap.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "o1agent.cli", "serve", "--model", "embedded", "--port", str(port)]
    # A file, not a pipe: a chatty server must never block on its own output.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            try:
                wait_up(base, proc)
            except SystemExit:
                log.seek(0)
                print(log.read().decode(errors="replace")[-4000:], file=sys.stderr)
                raise
            rss_before = rss_mb(proc.pid)
            t0 = time.monotonic()
            results = asyncio.run(burst(base, args.requests, args.max_tokens))
            wall = time.monotonic() - t0
            rss_after = rss_mb(proc.pid)
            health = httpx.get(f"{base}/health", timeout=10).json()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    latencies = [s for _, s in results]
    print(f"server runs: {health['runs']}", file=sys.stderr)
    print(f"load_requests: {args.requests}")
    print(f"load_ok: {sum(ok for ok, _ in results)}")
    print(f"load_p50_s: {statistics.median(latencies):.2f}")
    print(f"load_p95_s: {percentile(latencies, 0.95):.2f}")
    print(f"load_wall_s: {wall:.1f}")
    print(f"rss_before_mb: {rss_before:.0f}")
    print(f"rss_after_mb: {rss_after:.0f}")
    print(f"loop_lag_max_ms: {health['loop_lag']['max_ms']}")


if __name__ == "__main__":
    main()
