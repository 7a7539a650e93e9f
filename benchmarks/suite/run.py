"""Run the o1agent dev suite (``make suite``): every task of ``tasks.toml`` × methods × budgets.

Each task runs through ``o1agent.evaluation.run_eval`` into its own resumable folder
``OUT/SEED/TASK`` (rerun the same command after an interruption: finished rows are kept), with
budget-independent rows copied from a smaller budget where the run stayed inside it
(``reuse_unexhausted``; ``--no-reuse`` turns it off). Slim rows, per-task tables and plots and
the generated README go to ``RESULTS`` (default ``benchmarks/results/suite``); the issue's target
lines and a wall-time estimate of the full run are printed last, as ``name: value`` lines.

    python benchmarks/suite/run.py                         # the full dev seed (hours on 2 cores)
    python benchmarks/suite/run.py --limit 10 --tasks chain_sum,products_1d
    python benchmarks/suite/run.py --extra adaptive_sc,particle_filter:arith   # more strategies
    python benchmarks/suite/run.py --seed test             # once, for the report
    python benchmarks/suite/run.py --report-only           # rebuild the report from RESULTS

``--extra`` takes any registered strategy name (``NAME`` searches with the task's grounded
reward, ``NAME:REWARD`` with its own), so new strategies plug in without editing the suite.
``--workers N`` runs N tasks at once in separate processes (each loads its own model: worth it
only with cores to spare). What this is not: an evaluation engine of its own (see
``o1agent.evaluation``) or a place that reads the test seed to choose anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.suite.report import estimate_seconds, read_rows, slim, write_report  # noqa: E402
from benchmarks.suite.spec import SPEC, Suite, load_suite  # noqa: E402

DEFAULT_OUT = ROOT / "runs" / "suite"
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "suite"


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def task_config(suite: Suite, task_name: str, args: argparse.Namespace, command: str) -> Any:
    from o1agent.evaluation import EvalConfig

    task = suite.tasks[task_name]
    methods = task.methods(args.methods_list) + [m for m in args.extra_list if m not in args.methods_list]
    return EvalConfig(
        dataset=task.dataset,
        dataset_config=task.config,
        n=args.limit or suite.n,
        seed=suite.seeds[args.seed],
        strategies=methods,
        baselines=False,
        budgets=suite.budgets,
        sample_tokens=suite.sample_tokens,
        model=suite.model,
        reward=task.reward,
        blind_strategy=suite.blind_strategy,
        reuse_unexhausted=not args.no_reuse,
        out=args.out / args.seed / task_name,
        command=command,
        plot=False,  # the suite draws its own plot, with the Pareto front
    )


def run_task(suite: Suite, task_name: str, args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Run (or resume) one task; returns a few figures for the log line."""
    from o1agent.evaluation import run_eval

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    cfg = task_config(suite, task_name, args, command)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(ev: Any) -> None:
        now = time.perf_counter()
        if ev.row is not None and (now - last[0] > 30 or ev.done == ev.total):
            last[0] = now
            print(
                f"[{task_name}] {ev.done}/{ev.total} rows ({ev.resumed} resumed) · accuracy so far "
                f"{100 * ev.accuracy:.0f}% · {now - t0:.0f}s",
                file=sys.stderr,
                flush=True,
            )

    s = run_eval(cfg, on_progress=progress)
    return {
        "task": task_name,
        "rows": s.rows,
        "new": s.new_rows,
        "resumed": s.resumed_rows,
        "seconds": s.seconds,
    }


def _worker(payload: tuple[Path, str, dict[str, Any], str]) -> dict[str, Any]:
    spec_path, task_name, ns, command = payload
    return run_task(load_suite(spec_path), task_name, argparse.Namespace(**ns), command)


def export_rows(suite: Suite, args: argparse.Namespace, tasks: list[str]) -> None:
    """Copy each task's rows, slimmed, into RESULTS/SEED/TASK.rows.jsonl (the report's input)."""
    folder = args.results / args.seed
    folder.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        rows = read_rows(args.out / args.seed / task / "items.jsonl")
        if rows:
            text = "".join(json.dumps(slim(r), ensure_ascii=False, default=str) + "\n" for r in rows)
            (folder / f"{task}.rows.jsonl").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=SPEC)
    ap.add_argument("--seed", choices=("dev", "test"), default="dev")
    ap.add_argument("--tasks", help="comma-separated task names (default: all in the spec)")
    ap.add_argument("--methods", help="comma-separated methods (default: the spec's list)")
    ap.add_argument("--extra", help="extra strategies, NAME or NAME:REWARD, comma-separated")
    ap.add_argument("--limit", type=int, help="items per task (default: the spec's n)")
    ap.add_argument("--workers", type=int, default=1, help="tasks run at once, one process each")
    ap.add_argument("--no-reuse", action="store_true", help="rerun budget-independent rows at every budget")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="run folders (resumable)")
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="tables, plots, README")
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from RESULTS")
    ap.add_argument(
        "--readme", type=Path, help="also refresh this README's suite section (make suite: README.md)"
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    suite = load_suite(args.spec)
    args.out, args.results = args.out.resolve(), args.results.resolve()
    tasks = _csv(args.tasks) or list(suite.tasks)
    unknown = [t for t in tasks if t not in suite.tasks]
    if unknown:
        ap.error(f"unknown tasks {unknown}: the spec has {list(suite.tasks)}")
    args.methods_list = _csv(args.methods) or suite.methods
    args.extra_list = _csv(args.extra)
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    command = shlex.join(["python", "benchmarks/suite/run.py", *(argv if argv is not None else sys.argv[1:])])
    log = args.results / "commands.log"
    if not args.report_only:
        if args.seed == "test":
            print(
                "note: the test seed is for the report, run once; choose settings on --seed dev",
                file=sys.stderr,
            )
        # Check every task's methods before the first solve: a typo must not cost hours.
        from o1agent.evaluation import resolve_methods

        for t in tasks:
            cfg = task_config(suite, t, args, command)
            resolve_methods(
                cfg.strategies,
                reward=cfg.reward,
                overrides={},
                baselines=False,
                blind_strategy=cfg.blind_strategy,
            )
        args.results.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M')}  {command}\n")
        try:
            if args.workers == 1 or len(tasks) == 1:
                for t in tasks:
                    info = run_task(suite, t, args, command)
                    print(
                        f"[{t}] {info['rows']} rows ({info['new']} new) in {info['seconds']:.0f}s",
                        file=sys.stderr,
                    )
            else:
                ns = {k: v for k, v in vars(args).items()}
                spawn = multiprocessing.get_context("spawn")  # no model or thread state inherited
                with ProcessPoolExecutor(max_workers=args.workers, mp_context=spawn) as pool:
                    for info in pool.map(_worker, [(args.spec, t, ns, command) for t in tasks]):
                        print(
                            f"[{info['task']}] {info['rows']} rows ({info['new']} new) in {info['seconds']:.0f}s",
                            file=sys.stderr,
                        )
        except KeyboardInterrupt:
            print("interrupted: finished rows are kept; rerun the same command to resume", file=sys.stderr)
            export_rows(suite, args, tasks)
            return 130
        export_rows(suite, args, tasks)
    commands = [line.rstrip("\n") for line in log.open(encoding="utf-8")] if log.exists() else []
    rows_by_task = {t: read_rows(args.results / args.seed / f"{t}.rows.jsonl") for t in suite.tasks}
    rows_by_task = {t: r for t, r in rows_by_task.items() if r}
    total, per_method = estimate_seconds(rows_by_task, suite, args.methods_list + args.extra_list)
    note = ""
    if rows_by_task:
        note = (
            f"estimated wall time of the full {args.seed} run ({len(suite.tasks)} tasks × {suite.n} items × "
            f"{len(suite.budgets)} budgets), from the seconds these rows measured: {total / 3600:.1f} h"
        )
    lines = write_report(suite, args.results, commands, seconds_note=note, readme=args.readme)
    print(f"report: {args.results / 'README.md'}")
    for method, sec in sorted(per_method.items(), key=lambda kv: -kv[1]):
        print(f"estimated_full_run_hours.{method}: {sec / 3600:.2f}")
    print(f"estimated_full_run_hours: {total / 3600:.1f}")
    for name, value in lines:
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
