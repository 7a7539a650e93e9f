"""Does a trained PRM guide search better than the model judging itself? Beam + PRM vs beam + judge.

Run: ``python examples/prm_vs_judge.py --traces runs/iterate/round_0/traces.jsonl`` (or without
``--traces`` to run the training-time search first). On a reasoning-gym task (default
``chain_sum``, 2 one-digit terms — the task of ``o1agent train iterate``):

1. **data** — DFS traces on *training* items (seed 1), each final answer graded by the dataset's
   ``score_answer`` (training-time search may use gold answers; evaluation never does). Reused
   from ``--traces`` when given, e.g. round 0 of ``o1agent train iterate``.
2. **PRM** — Math-Shepherd labels from those trees (a step's value is the share of graded
   rollouts below it that are correct), fitted by ``o1agent.learn.train.train_prm``: a value head
   on the frozen base LM. Written to ``WORKDIR/prm`` (usable as ``reward="prm:WORKDIR/prm"``).
3. **search** — on held-out items (seed 10001, the iterate evaluation seed), the embedded model
   solves each question three ways under the *same* token budget:

   * ``greedy``      — one chain, no reward (the baseline every search must beat);
   * ``beam+judge``  — beam search scored by ``LLMJudge`` (SmolLM2 asked "is this step correct?");
   * ``beam+prm``    — the same beam scored by the trained PRM;
   * ``beam+arith``  — (with ``--configs``) the same beam scored by ``ArithmeticCheck``, which
     re-computes the step's arithmetic claims: a grounded signal that needs no training;
   * ``beam+blind``  — (with ``--configs``) the same beam with every score 0.5: the control that
     shows what the beam gives without any signal.

   The budget counts every token any model reads or writes: the judge's prompts, and the PRM's
   inputs (``LearnedPRM`` reports them as prompt tokens), so "equal tokens" is an equal bound on
   all compute, not only the policy's.

Every solved item is appended to ``WORKDIR/rows.jsonl`` at once and a re-run skips what is there;
the report (accuracy with 95 % Wilson intervals, mean tokens and seconds) is printed and written
to ``--out``. Gold answers are read only to score, after the solve.

What this is not: a tuned comparison (one beam shape, one budget, a 135M model, tens of items —
read the intervals before the differences).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from o1agent import Reasoner
from o1agent.errors import RunError
from o1agent.evaluation.stats import wilson_interval
from o1agent.learn.data import read_jsonl as read_rows  # a torn last line is skipped

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "prm_vs_judge_results.md"
TASK_CONFIG = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}
CONFIGS = ("greedy", "beam+judge", "beam+prm")
# Not run by default: the same beam with the grounded arithmetic check (no model, no training),
# the blind control, and best-of-N (--bon-n chains) picked by majority vote or by the PRM-weighted
# vote. The two best-of-N configs sample the same seeded chains: only the pick differs.
EXTRA_CONFIGS = ("beam+arith", "beam+blind", "bon+majority", "bon+prm")


# Same beam for both rewards: "last" ranks a path by its newest step, which is what a
# Math-Shepherd value estimates (the chance this prefix still ends right).
BEAM = {"width": 2, "k": 2, "max_depth": 4, "aggregate": "last"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def training_traces(workdir: Path, task: str, train_items: int) -> Path:
    """DFS traces on training items with the dataset's scorer as verifier (iterate's search stage)."""
    from o1agent.learn.iterate import IterateConfig, Iteration, RoundResult

    it = Iteration(
        IterateConfig(task=task, task_config=TASK_CONFIG, train_items=train_items),
        workdir / "search",
        progress=log,
    )
    path = workdir / "search" / "round_0" / "traces.jsonl"
    if not path.exists():
        it.search("embedded", RoundResult(round=0, policy="embedded"))
    return path


def train_prm(
    workdir: Path, traces: list[Path], steps: int, labels_file: Path | None = None, prompts: str = "g1"
) -> dict[str, Any]:
    """The PRM head, fitted to the step labels of search trees (``traces``) or to Monte-Carlo
    labels from ``o1agent train label`` (``labels_file``); reused when the workdir has it."""
    from o1agent.learn.data import load_trees, prm_labels
    from o1agent.learn.model import load_tokenizer
    from o1agent.learn.shepherd import read_labels
    from o1agent.learn.train import TrainConfig
    from o1agent.learn.train import train_prm as fit

    out = workdir / "prm"
    info_path = workdir / "prm_info.json"
    if (out / "prm_config.json").exists() and info_path.exists():
        return json.loads(info_path.read_text())
    if labels_file is not None:
        labels, source = read_labels(labels_file), str(labels_file)
    else:
        labels = prm_labels(load_trees(traces), chat_template=load_tokenizer("base").chat_template)
        source = ", ".join(map(str, traces))
    log(f"PRM: {len(labels)} step labels from {source}")
    rep = fit(
        labels,
        TrainConfig(output=out, base="base", max_steps=steps, batch_size=16, prm_lr=1e-3, prompts=prompts),
    )
    info = {
        "labels": len(labels),
        "positive_share": round(sum(lab.hard for lab in labels) / len(labels), 3),
        "mean_soft": round(sum(lab.soft for lab in labels) / len(labels), 3),
        "train_hard_accuracy": rep.extra.get("train_hard_accuracy"),
        "loss": [round(rep.first_loss or 0.0, 3), round(rep.last_loss or 0.0, 3)],
        "cpu_minutes": round(rep.cpu_seconds / 60, 2),
        "traces": source,
        "prompts": prompts,
    }
    info_path.write_text(json.dumps(info, indent=2))
    return info


def step_accuracy(workdir: Path, path: Path) -> str:
    """ProcessBench-style accuracy of the PRM on held-out labelled steps (the report's last part)."""
    from o1agent.learn.shepherd import first_error_metrics, read_labels
    from o1agent.learn.train import PRMHead

    labels = read_labels(path)
    head = PRMHead.load(workdir / "prm")
    texts = [lab.prompt + lab.step for lab in labels]
    probs = [p for i in range(0, len(texts), 16) for p in head.predict(texts[i : i + 16])]
    m = first_error_metrics(labels, probs)
    (workdir / "step_accuracy.json").write_text(json.dumps(m, indent=2))
    return (
        "\n## Step accuracy on held-out labelled steps (ProcessBench-style)\n\n"
        f"From `{path}`: {m['solutions']} solutions, {m['steps']} steps. A solution's reference first "
        "error is its first step no Monte-Carlo completion finished right from (hard label 0; none: "
        "the solution is correct); the PRM's is its first step with P(correct) < 0.5.\n\n"
        "| measure | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in m.items())
    )


async def solve_all(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    from o1agent.gym import GymTask
    from o1agent.policies.llamacpp import LlamaCppPolicy
    from o1agent.rewards import make_reward

    task = GymTask.from_spec(args.task, args.task_config)
    items = task.items(args.eval_items, args.eval_seed)
    policy = LlamaCppPolicy("embedded", n_threads=2)
    rewards = {
        "greedy": None,
        "beam+judge": make_reward("judge", policy),
        "beam+prm": make_reward(f"prm:{workdir / 'prm'}", policy),
        "beam+arith": make_reward("arith", policy),
        "beam+blind": make_reward("blind", policy),
        "bon+majority": None,
        "bon+prm": make_reward(f"prm:{workdir / 'prm'}", policy),
    }
    jsonl = workdir / "rows.jsonl"
    done = {(r["config"], r["index"], r["max_tokens"]): r for r in read_rows(jsonl)}
    rows = []
    # Item by item, all configs each: a partial run compares configs on the same items.
    for i, item in enumerate(items):
        for label in args.configs:
            key = (label, i, args.max_tokens)
            if key in done:
                rows.append(done[key])
                continue
            if label == "greedy":
                strategy, scfg = "greedy", {"max_depth": BEAM["max_depth"]}
            elif label.startswith("bon+"):
                pick = "majority" if label == "bon+majority" else "weighted_vote"
                strategy, scfg = (
                    "best_of_n",
                    {"n": args.bon_n, "select_by": pick, "max_depth": BEAM["max_depth"]},
                )
            else:
                strategy, scfg = "beam", dict(BEAM)
            reasoner = Reasoner(
                model=policy,
                strategy=strategy,
                strategy_config=scfg,
                reward=rewards[label],
                budget={"max_tokens": args.max_tokens, "max_nodes": 40},
                prompts=args.prompts,
                seed=i,
            )
            t0 = time.perf_counter()
            try:
                res = await reasoner.asolve(str(item["question"]))
            except RunError as exc:
                res = exc.partial
            answer = (res.answer if res is not None else "") or ""
            ok = task.score(answer, item) >= 1.0  # gold read here, after the solve
            row = {
                "config": label,
                "index": i,
                "max_tokens": args.max_tokens,
                "question": item["question"],
                "gold": str(item["answer"]),
                "answer": answer,
                "correct": ok,
                "tokens": res.usage.total_tokens if res is not None else 0,
                "completion_tokens": res.usage.completion_tokens if res is not None else 0,
                "nodes": res.usage.nodes if res is not None else 0,
                "exhausted_by": res.exhausted_by if res is not None else None,
                "seconds": round(time.perf_counter() - t0, 2),
            }
            with jsonl.open("a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
            log(
                f"#{i:<3} {label:<11} {'ok' if ok else 'no'} answer={answer!r} gold={row['gold']} tok={row['tokens']}"
            )
    return rows


def report(
    rows: Sequence[dict[str, Any]], configs: Sequence[str], *, command: str, prm: dict[str, Any]
) -> str:
    lines = [
        "# Beam search guided by a trained PRM vs by LLMJudge, at equal tokens",
        "",
        f"Command: `{command}`  ",
        f"Date: {_dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {os.cpu_count()} CPUs, "
        f"load at report {os.getloadavg()[0]:.1f}",
        "",
        f"PRM: {prm.get('labels')} Math-Shepherd step labels (share with a correct rollout below: "
        f"{prm.get('positive_share')}), loss {prm.get('loss')}, from `{prm.get('traces')}`; "
        f"prompt style {prm.get('prompts', 'g1')}.",
        "",
        "| config | correct | accuracy | 95% Wilson | mean tokens (all models) | mean policy completion tokens | budget hit | mean s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in configs:
        rs = [r for r in rows if r["config"] == c]
        if not rs:
            continue
        k, n = sum(r["correct"] for r in rs), len(rs)
        lo, hi = wilson_interval(k, n)
        lines.append(
            f"| {c} | {k}/{n} | {k / n:.2f} | [{lo:.2f}, {hi:.2f}] | {sum(r['tokens'] for r in rs) / n:.0f} | "
            f"{sum(r['completion_tokens'] for r in rs) / n:.0f} | "
            f"{sum(1 for r in rs if r['exhausted_by']) / n:.0%} | {sum(r['seconds'] for r in rs) / n:.1f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--task", default="reasoning_gym:chain_sum")
    p.add_argument("--task-config", type=json.loads, default=dict(TASK_CONFIG), help="task config as JSON")
    p.add_argument(
        "--labels",
        type=Path,
        help="Monte-Carlo PRM labels (o1agent train label's labels.jsonl) instead of traces",
    )
    p.add_argument(
        "--step-labels",
        type=Path,
        help="held-out labelled steps (train label on another seed): report the PRM's step accuracy",
    )
    p.add_argument("--bon-n", type=int, default=4, help="chains per best-of-N config")
    p.add_argument(
        "--prompts",
        help="prompt style every config searches in (default: --labels' summary.json, else g1)",
    )
    p.add_argument(
        "--traces", type=Path, nargs="+", help="training-time search trace files (else searched here)"
    )
    p.add_argument("--train-items", type=int, default=64)
    p.add_argument("--eval-items", type=int, default=50)
    p.add_argument("--eval-seed", type=int, default=10_001)
    p.add_argument("--max-tokens", type=int, default=3000, help="the one token budget every config gets")
    p.add_argument("--prm-steps", type=int, default=200)
    p.add_argument("--configs", type=lambda s: [c for c in s.split(",") if c], default=list(CONFIGS))
    p.add_argument("--workdir", type=Path, default=Path("runs/prm_vs_judge"))
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    bad = [c for c in args.configs if c not in (*CONFIGS, *EXTRA_CONFIGS)]
    if bad:
        p.error(f"unknown config(s) {bad}: choose from {', '.join((*CONFIGS, *EXTRA_CONFIGS))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [str(Path(sys.argv[0])), *(argv or sys.argv[1:])])
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.labels is not None:
        traces = []
    else:
        traces = args.traces or [training_traces(args.workdir, args.task, args.train_items)]
    missing = [t for t in (*traces, *([args.labels] if args.labels else [])) if not t.exists()]
    if missing:
        raise SystemExit(f"no traces or labels at {', '.join(map(str, missing))}")
    if args.prompts is None:
        # Search in the style the labels were written in: the PRM was trained on that text.
        info = args.labels.parent / "summary.json" if args.labels is not None else None
        args.prompts = (json.loads(info.read_text()).get("prompts") if info and info.exists() else None) or "g1"
    prm = train_prm(args.workdir, traces, args.prm_steps, args.labels, args.prompts)
    steps_text = step_accuracy(args.workdir, args.step_labels) if args.step_labels else ""
    asyncio.run(solve_all(args, args.workdir))
    # The report covers every config solved on these items at this budget, from earlier runs too.
    rows = [
        r
        for r in read_rows(args.workdir / "rows.jsonl")
        if r["max_tokens"] == args.max_tokens and r["index"] < args.eval_items
    ]
    shown = [c for c in (*CONFIGS, *EXTRA_CONFIGS) if any(r["config"] == c for r in rows)]
    text = report(rows, shown, command=command, prm=prm) + steps_text
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
