"""``make reliability``: every reliability figure of o1agent in one command, resumable.

Runs each part below as its own process (one part cannot take the next one down with it), keeps
its whole output in ``OUT/<part>.txt`` and prints, last, one ``name: value`` line per figure:

* ``fuzz``    — ``fuzz.py``: malformed model output across every strategy, with and without tools
  (crashes, hangs, empty answers, unserialisable results);
* ``faults``  — ``faults.py``: short runs through a real ``llama_cpp.server`` behind a proxy that
  breaks ~30 % of calls (finished runs, budget overshoot, accounting, ``.partial``);
* ``kill``    — ``kill_resume.py``: kill -9 mid-run then resume, on SQLite and PostgreSQL (lost
  and recomputed nodes);
* ``escapes`` — ``escapes.py``: the sandbox escape suite against real bubblewrap;
* ``load``    — ``load.py``: concurrent small requests against ``o1agent serve`` (p50/p95, RSS).

    python benchmarks/reliability/run.py             # full figures (~40 min on 2 cores)
    python benchmarks/reliability/run.py --short     # what CI runs (~3 min)
    python benchmarks/reliability/run.py --fresh --parts fuzz,load

Resumable: a part whose output file exists, ran the same command and exited 0 is not run again
(the file records the commit it was measured at, and the summary repeats it); ``--fresh`` reruns.
A part that fails is marked ``FAILED`` in the summary with its exit status and the exit status of
this script is 1; its figures are never guessed. What it is not: a pass/fail gate on the figures'
values (the tests assert those); it only gathers and prints them.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "reliability"

_FIGURE = re.compile(r"^([a-z][a-z0-9_]*): (.+)$")


@dataclass(frozen=True)
class Part:
    script: str
    full: tuple[str, ...]
    short: tuple[str, ...]
    figures: tuple[str, ...]  # the lines of its output that go in the summary, in order


PARTS: dict[str, Part] = {
    "fuzz": Part(
        "fuzz.py",
        ("--runs", "10000"),
        ("--runs", "300"),
        ("fuzz_runs", "crashes", "hangs", "empty_answers", "unserialisable"),
    ),
    "faults": Part(
        "faults.py",
        ("--runs", "50"),
        ("--runs", "4"),
        (
            "fault_runs",
            "faults_injected",
            "finished",
            "max_overshoot_tokens",
            "accounting_mismatches",
            "errors_without_partial",
        ),
    ),
    "kill": Part(
        "kill_resume.py",
        (),
        (),
        ("lost_nodes_sqlite", "recomputed_nodes_sqlite", "lost_nodes_postgres", "recomputed_nodes_postgres"),
    ),
    "escapes": Part("escapes.py", (), (), ("escapes_contained",)),
    "load": Part(
        "load.py",
        ("--requests", "100"),
        ("--requests", "10"),
        (
            "load_requests",
            "load_ok",
            "load_p50_s",
            "load_p95_s",
            "rss_before_mb",
            "rss_after_mb",
            "loop_lag_max_ms",
        ),
    ),
}


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _header(path: Path) -> dict[str, str]:
    """The ``# key: value`` lines a part's output file starts with (empty when there is none)."""
    head: dict[str, str] = {}
    if not path.exists():
        return head
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        head[key] = value
    return head


def figures(text: str) -> dict[str, str]:
    """Every ``name: value`` line of a part's output; a later line wins (the figures come last)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _FIGURE.match(line.strip())
        if m:
            found[m.group(1)] = m.group(2)
    return found


def run_part(
    name: str, part: Part, *, short: bool, out: Path, fresh: bool, timeout: float
) -> tuple[int, str]:
    """Run one part unless its output is already there; return (exit status, its output file's text)."""
    args = part.short if short else part.full
    command = [sys.executable, str(HERE / part.script), *args]
    shown = " ".join(["python", f"benchmarks/reliability/{part.script}", *args])
    path = out / f"{name}.txt"
    head = _header(path)
    if not fresh and head.get("command") == shown and head.get("exit") == "0":
        print(f"[{name}] kept from {head.get('commit', '?')} ({path})", file=sys.stderr, flush=True)
        return 0, path.read_text(errors="replace")
    print(f"[{name}] {shown}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    try:
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        code, body = (
            proc.returncode,
            proc.stdout + ("\n# stderr (tail)\n" + proc.stderr[-4000:] if proc.returncode else ""),
        )
    except subprocess.TimeoutExpired as exc:
        code = 124
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        body = partial + f"\n# timed out after {timeout:.0f} s\n"
    seconds = time.monotonic() - t0
    text = (
        f"# command: {shown}\n# commit: {_commit()}\n# exit: {code}\n# seconds: {seconds:.0f}\n"
        f"# date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n{body}"
    )
    path.write_text(text)
    print(f"[{name}] exit {code} in {seconds:.0f} s", file=sys.stderr, flush=True)
    return code, text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="the small version CI runs")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default {DEFAULT_OUT.relative_to(REPO)}[/short])",
    )
    ap.add_argument("--fresh", action="store_true", help="rerun parts whose output is already there")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds one part may run")
    args = ap.parse_args(argv)
    names = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    out = args.out or (DEFAULT_OUT / "short" if args.short else DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    summary: list[str] = []
    failed = False
    for name in names:
        part = PARTS[name]
        code, text = run_part(name, part, short=args.short, out=out, fresh=args.fresh, timeout=args.timeout)
        found = figures(text)
        missing = [f for f in part.figures if f not in found]
        head = _header(out / f"{name}.txt")
        if code != 0 or missing:
            failed = True
            why = f"exit {code}" if code else f"no {', '.join(missing)} in its output"
            summary.append(f"{name}: FAILED ({why}; see {out / (name + '.txt')})")
            continue
        summary.append(f"# {name}: {head.get('command')} at {head.get('commit')}, {head.get('seconds')} s")
        summary.extend(f"{f}: {found[f]}" for f in part.figures)
    (out / "summary.txt").write_text("\n".join(summary) + "\n")
    print("\n".join(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
