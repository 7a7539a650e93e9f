"""The suite's report: per task a table and an accuracy-versus-tokens plot (Wilson intervals, the
Pareto front highlighted), the generated ``benchmarks/results/suite/README.md``, the issue's target
lines, and a wall-time estimate of the full run from the seconds the rows measured.

Everything is computed from the slim rows the runner copies into the results folder
(``SEED/TASK.rows.jsonl``), so the report can be rebuilt from a fresh clone. Statistics come from
``o1agent.evaluation.stats``. What this is not: a runner — it never calls a model.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o1agent.evaluation.report import headless_pyplot, machine_description
from o1agent.evaluation.stats import MethodStats, summarize

from .spec import TOOL_METHODS, Suite

logger = logging.getLogger(__name__)

#: Row fields kept in the committed rows files (the runs folder holds everything, traces too).
SLIM = (
    "item_id",
    "strategy",
    "max_tokens",
    "seed",
    "gold",
    "answer",
    "correct",
    "score",
    "tokens",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
    "nodes",
    "calls",
    "budget_exhausted",
    "strategy_name",
    "strategy_config",
    "reward",
    "kind",
    "tools",
    "reused_from",
    "allocation",  # what an adaptive strategy spent on the item, and why
    "error",
)
MISSING = "missing"


def slim(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in SLIM if k in row}


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@dataclass
class Point:
    """One (method, budget) of one task: its stats, k, and whether it is on the Pareto front."""

    stats: MethodStats
    k: int | None
    tools: bool
    pareto: bool = False

    @property
    def method(self) -> str:
        return self.stats.strategy

    @property
    def label(self) -> str:
        k = f"@{self.k}" if self.k else ""
        return f"{self.method}{k} ({self.stats.max_tokens})"


def common_items(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The rows of the items every (method, budget) has finished — methods are compared on the
    same items only — and how many items were left out for it."""
    sets: dict[tuple[str, int], set[str]] = {}
    for r in rows:
        sets.setdefault((r["strategy"], int(r["max_tokens"])), set()).add(str(r["item_id"]))
    if not sets:
        return [], 0
    common = set.intersection(*sets.values())
    every = set.union(*sets.values())
    return [r for r in rows if str(r["item_id"]) in common], len(every - common)


def points(rows: list[dict[str, Any]]) -> list[Point]:
    ks: dict[tuple[str, int], int | None] = {}
    tools: dict[str, bool] = {}
    for r in rows:
        ks[(r["strategy"], int(r["max_tokens"]))] = (r.get("strategy_config") or {}).get("n")
        tools[r["strategy"]] = bool(r.get("tools"))
    out = [
        Point(s, ks.get((s.strategy, s.max_tokens)), tools.get(s.strategy, False)) for s in summarize(rows)
    ]
    mark_pareto(out)
    return out


def mark_pareto(pts: list[Point]) -> None:
    """A point is on the front when no other point is at least as accurate for at most as many
    tokens, and strictly better in one of the two."""
    for p in pts:
        a, t = p.stats.accuracy, p.stats.mean_tokens
        p.pareto = not any(
            (q.stats.accuracy >= a and q.stats.mean_tokens <= t)
            and (q.stats.accuracy > a or q.stats.mean_tokens < t)
            for q in pts
            if q is not p
        )


def direct_point(pts: list[Point]) -> Point | None:
    """``direct`` is one greedy call: its rows are the same at every budget; the smallest stands."""
    ds = sorted((p for p in pts if p.method == "direct"), key=lambda p: p.stats.max_tokens)
    return ds[0] if ds else None


def table(pts: list[Point]) -> str:
    ref = direct_point(pts)
    head = (
        "| method | budget | k | n | accuracy | 95 % Wilson | mean tokens | × direct tokens | s / item "
        "| exhausted | Pareto |\n|---|---:|---:|---:|---:|---|---:|---:|---:|---:|:-:|\n"
    )
    lines = []
    for p in sorted(pts, key=lambda p: (p.stats.max_tokens, p.stats.mean_tokens)):
        s = p.stats
        ratio = f"{s.mean_tokens / ref.stats.mean_tokens:.1f}" if ref and ref.stats.mean_tokens else "–"
        lines.append(
            f"| {s.strategy} | {s.max_tokens} | {p.k or ''} | {s.n} | {100 * s.accuracy:.1f} % "
            f"| {100 * s.ci_low:.0f}–{100 * s.ci_high:.0f} | {s.mean_tokens:.0f} | {ratio} | {s.mean_seconds:.1f} "
            f"| {100 * s.exhausted_rate:.0f} % | {'★' if p.pareto else ''} |"
        )
    return head + "\n".join(lines) + "\n"


def plot(pts: list[Point], path: Path, *, title: str) -> bool:
    """Accuracy vs mean tokens: one line per method over its budgets, Wilson bars, the Pareto
    front as a thick step line with its points ringed. False without matplotlib or points."""
    if not pts:
        return False
    plt = headless_pyplot()
    if plt is None:
        logger.warning("matplotlib is missing: no plot %s", path)
        return False
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    by: dict[str, list[Point]] = {}
    for p in pts:
        by.setdefault(p.method, []).append(p)
    for name, ps in sorted(by.items()):
        ps.sort(key=lambda p: p.stats.max_tokens)
        xs = [max(p.stats.mean_tokens, 1.0) for p in ps]
        ys = [p.stats.accuracy for p in ps]
        err = [
            [max(0.0, p.stats.accuracy - p.stats.ci_low) for p in ps],
            [max(0.0, p.stats.ci_high - p.stats.accuracy) for p in ps],
        ]
        ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, capsize=2, lw=1, alpha=0.85, label=name)
    front = sorted((p for p in pts if p.pareto), key=lambda p: p.stats.mean_tokens)
    if front:
        fx = [max(p.stats.mean_tokens, 1.0) for p in front]
        fy = [p.stats.accuracy for p in front]
        ax.step(fx, fy, where="post", color="black", lw=2.5, alpha=0.35, label="Pareto front", zorder=0)
        ax.scatter(fx, fy, s=120, facecolors="none", edgecolors="black", lw=1.5, zorder=5)
    xs_all = [max(p.stats.mean_tokens, 1.0) for p in pts]
    if max(xs_all) / min(xs_all) > 4:
        ax.set_xscale("log")
    ax.set_xlabel("measured mean tokens per item (prompt + completion)")
    ax.set_ylabel("accuracy (95 % Wilson interval)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# -- targets ------------------------------------------------------------------------------------


def _best(pts: Iterable[Point]) -> Point | None:
    pts = list(pts)
    return max(pts, key=lambda p: (p.stats.accuracy, -p.stats.mean_tokens)) if pts else None


def _at_k(pts: list[Point], method: str, k: int) -> Point | None:
    return next((p for p in pts if p.method == method and p.k == k), None)


def targets(by_task: dict[str, list[Point]], suite: Suite) -> list[tuple[str, str]]:
    """The issue's target lines as ``(name, value)``; a method a line needs that is not in the
    results gives ``missing (...)`` instead of a number."""
    lines: list[tuple[str, str]] = []
    default_deltas: list[float] = []
    default_missing: list[str] = []
    for task, pts in by_task.items():
        ref = direct_point(pts)
        if ref is None:
            lines.append((f"{task}.best_no_tool_minus_direct_pts", f"{MISSING} (no direct rows)"))
            continue
        d_acc, d_tok = ref.stats.accuracy, ref.stats.mean_tokens
        # 1. The best configuration without tools, at <= 3x direct's tokens, against direct.
        cands = [p for p in pts if not p.tools and p.method != "direct" and p.stats.mean_tokens <= 3 * d_tok]
        best = _best(cands)
        if best is None:
            lines.append(
                (f"{task}.best_no_tool_minus_direct_pts", f"{MISSING} (no method within 3x direct's tokens)")
            )
        else:
            gain = 100 * (best.stats.accuracy - d_acc)
            verdict = "met" if gain >= 10 else "missed"
            lines.append(
                (
                    f"{task}.best_no_tool_minus_direct_pts",
                    f"{gain:+.1f} ({best.label}, {best.stats.mean_tokens / d_tok:.1f}x direct tokens; target +10: {verdict})",
                )
            )
        # 2. The adaptive method against self-consistency@8 (direct and step protocol).
        adaptive = [p for p in pts if p.method in suite.adaptive]
        for sc in ("direct_sc", "self_consistency"):
            ref8 = _at_k(pts, sc, 8)
            name = f"{task}.adaptive_vs_{sc}8"
            if not adaptive:
                lines.append((name, f"{MISSING} (no adaptive method: looked for {suite.adaptive})"))
            elif ref8 is None:
                lines.append((name, f"{MISSING} (no {sc} at k=8)"))
            else:
                a = _best(adaptive)
                assert a is not None
                ratio = (
                    a.stats.mean_tokens / ref8.stats.mean_tokens if ref8.stats.mean_tokens else float("inf")
                )
                ok = a.stats.accuracy >= ref8.stats.accuracy and ratio <= 0.5
                lines.append(
                    (
                        name,
                        f"{100 * (a.stats.accuracy - ref8.stats.accuracy):+.1f} pts at {ratio:.2f}x tokens "
                        f"({a.label}; target >= 0 at <= 0.5x: {'met' if ok else 'missed'})",
                    )
                )
        # 3./4. The default (at the largest budget), without and with the calculator.
        top = max(p.stats.max_tokens for p in pts)
        default = next((p for p in pts if p.method == "default" and p.stats.max_tokens == top), None)
        if default is None:
            default_missing.append(task)
            lines.append((f"{task}.default_minus_direct_pts", f"{MISSING} (no default rows)"))
        else:
            delta = 100 * (default.stats.accuracy - d_acc)
            default_deltas.append(delta)
            lines.append((f"{task}.default_minus_direct_pts", f"{delta:+.1f} ({default.label}; target >= 0)"))
        if suite.tasks[task].tools:
            calc = next((p for p in pts if p.method in TOOL_METHODS and p.stats.max_tokens == top), None)
            if calc is None:
                lines.append(
                    (f"{task}.default_calculator_minus_direct_pts", f"{MISSING} (no default_calculator rows)")
                )
            else:
                delta = 100 * (calc.stats.accuracy - d_acc)
                lines.append(
                    (
                        f"{task}.default_calculator_minus_direct_pts",
                        f"{delta:+.1f} ({calc.label}; target +25: {'met' if delta >= 25 else 'missed'})",
                    )
                )
    if default_missing or not default_deltas:
        lines.append(("default_minus_direct_mean_pts", f"{MISSING} (no default rows on {default_missing})"))
    else:
        mean = sum(default_deltas) / len(default_deltas)
        ok = mean >= 5 and min(default_deltas) >= 0
        over = f"over {len(default_deltas)} of {len(suite.tasks)} tasks"
        lines.append(
            (
                "default_minus_direct_mean_pts",
                f"{mean:+.1f} ({over}, min {min(default_deltas):+.1f}; target >= +5, every task >= 0: "
                f"{'met' if ok else 'missed'})",
            )
        )
    return lines


# -- timing -------------------------------------------------------------------------------------


def estimate_seconds(
    by_task: dict[str, list[dict[str, Any]]], suite: Suite, methods: list[str]
) -> tuple[float, dict[str, float]]:
    """Wall seconds of the full run (every task of the spec × ``methods`` × budgets × ``suite.n``
    items), from the measured seconds per row; a copied row (``reused_from``) cost nothing, so
    the measured share of copies carries over. A (method, budget) never measured on a task takes
    its mean over the tasks that measured it. Returns (total, per method)."""
    cost: dict[tuple[str, str, int], list[float]] = {}
    for task, rows in by_task.items():
        for r in rows:
            cost.setdefault((task, r["strategy"], int(r["max_tokens"])), []).append(
                0.0 if r.get("reused_from") else float(r.get("seconds") or 0.0)
            )
    mean = {k: sum(v) / len(v) for k, v in cost.items()}
    per_method: dict[str, float] = {}
    total = 0.0
    for task in suite.tasks.values():
        for m in task.methods(methods):
            for b in suite.budgets:
                sec = mean.get((task.name, m, b))
                if sec is None:
                    others = [v for (t, mm, bb), v in mean.items() if mm == m and bb == b]
                    if not others:
                        continue
                    sec = sum(others) / len(others)
                per_method[m] = per_method.get(m, 0.0) + sec * suite.n
                total += sec * suite.n
    return total, per_method


# -- the README -------------------------------------------------------------------------------

BEGIN, END = "<!-- suite-results:begin -->", "<!-- suite-results:end -->"
#: Columns of the main README's summary: one method each, at the largest budget.
SUMMARY = (
    "direct",
    "direct_sc",
    "greedy",
    "self_consistency",
    "best_of_n",
    "blind",
    "default",
    "default_calculator",
)


def summary_table(by_task: dict[str, list[Point]]) -> str:
    """Per task, each summary method at the largest budget (direct at its one): accuracy and
    measured mean tokens."""
    head = "| task | n | " + " | ".join(SUMMARY) + " |\n|---|---:|" + "---|" * len(SUMMARY) + "\n"
    lines = []
    for task, pts in by_task.items():
        top = max(p.stats.max_tokens for p in pts)
        cells = []
        for m in SUMMARY:
            p = (
                direct_point(pts)
                if m == "direct"
                else next((q for q in pts if q.method == m and q.stats.max_tokens == top), None)
            )
            if p is None:
                cells.append("–")
                continue
            k = f" (k={p.k})" if p.k else ""
            star = " ★" if p.pareto else ""
            cells.append(f"{100 * p.stats.accuracy:.0f} % · {p.stats.mean_tokens:,.0f} tok{k}{star}")
        n = max(p.stats.n for p in pts)
        lines.append(f"| {task} | {n} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def update_main_readme(readme: Path, text: str) -> bool:
    """Replace what stands between the suite markers of ``readme`` with ``text``; False (and a
    warning) when the markers are missing."""
    body = readme.read_text(encoding="utf-8")
    if BEGIN not in body or END not in body:
        logger.warning("%s has no %s ... %s section: not updated", readme, BEGIN, END)
        return False
    pre, rest = body.split(BEGIN, 1)
    _, post = rest.split(END, 1)
    readme.write_text(f"{pre}{BEGIN}\n{text.strip()}\n{END}{post}", encoding="utf-8")
    return True


def write_report(
    suite: Suite, results: Path, commands: list[str], *, seconds_note: str = "", readme: Path | None = None
) -> list[tuple[str, str]]:
    """Per task (for every seed with rows under ``results``): ``SEED/TASK.md`` and ``TASK.png``;
    then ``README.md``, and (``readme``) the summary section of the project README. Returns the
    target lines of the dev seed (the test seed's when only it has rows)."""
    sections: list[str] = []
    target_lines: list[tuple[str, str]] = []
    summaries: list[str] = []
    for seed_name in ("dev", "test"):
        folder = results / seed_name
        rows_by_task = {t: read_rows(folder / f"{t}.rows.jsonl") for t in suite.tasks}
        rows_by_task = {t: r for t, r in rows_by_task.items() if r}
        if not rows_by_task:
            continue
        seed = suite.seeds[seed_name]
        sections.append(f"## {seed_name} seed ({seed})\n")
        by_task: dict[str, list[Point]] = {}
        for task, all_rows in rows_by_task.items():
            rows, left_out = common_items(all_rows)
            pts = points(rows)
            by_task[task] = pts
            spec = suite.tasks[task]
            n_items = len({r["item_id"] for r in rows})
            title = f"{task}: {spec.dataset} {spec.config} · {seed_name} seed {seed} · {n_items} items"
            plot(pts, folder / f"{task}.png", title=title)
            partial = (
                f" ({left_out} more items not finished by every method are left out)" if left_out else ""
            )
            md = (
                f"### {task}\n\n`{spec.dataset}` config `{spec.config}`, grounded reward `{spec.reward}`, "
                f"{n_items} items, the same for every row{partial}.\n\n"
            )
            md += table(pts) + f"\n![{task}]({seed_name}/{task}.png)\n"
            (folder / f"{task}.md").write_text(md.replace(f"]({seed_name}/", "]("), encoding="utf-8")
            sections.append(md)
        lines = targets(by_task, suite)
        if seed_name == "dev" or not target_lines:
            target_lines = lines
        block = "\n".join(f"{k}: {v}" for k, v in lines)
        summaries.append(f"**{seed_name} seed ({seed})**\n\n{summary_table(by_task)}\n```\n{block}\n```\n")
        sections.append(
            f"### Targets ({seed_name} seed)\n\n```\n" + "\n".join(f"{k}: {v}" for k, v in lines) + "\n```\n"
        )
    head = [
        "# o1agent dev suite — generated by `make suite` (benchmarks/suite/run.py); do not edit\n",
        f"- generated: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: {machine_description()}",
        f"- spec: `benchmarks/suite/tasks.toml` — model `{suite.model}`, budgets {suite.budgets}, "
        f"k = budget // {suite.sample_tokens} for sampling methods, seeds {suite.seeds}",
        "- accuracy: the task's own scorer (reasoning-gym `score_answer`) after each solve; gold answers never "
        "reach the policy or a search reward. Tokens: prompt + completion as the policy reports them, judge "
        "calls included. ★ = on the Pareto front (no other point is as accurate for fewer tokens).",
        "- `direct` is one greedy chat call (no step protocol), `direct_sc` its self-consistency over k samples, "
        "`greedy` / `self_consistency` the step protocol, `best_of_n` best-of-N picked by the task's grounded "
        "reward, `blind` the same best-of-N with every score 0.5 (it then keeps the first, greedy, sample), "
        "`default` solve()'s default search and reward, `default_calculator` the same with the calculator.",
    ]
    if seconds_note:
        head.append(f"- {seconds_note}")
    head += ["", "## Commands\n", "```", *commands, "```", ""]
    if not sections:
        sections = ["_no results yet: run `make suite`_\n"]
    (results / "README.md").write_text("\n".join(head) + "\n" + "\n".join(sections), encoding="utf-8")
    if readme is not None:
        intro = (
            "Generated by `make suite` from `benchmarks/results/suite/` (full tables, plots, commands: "
            "[benchmarks/results/suite/README.md](benchmarks/results/suite/README.md)). Each cell: accuracy · "
            "measured mean tokens per item at the largest budget; ★ = on that task's Pareto front."
            + (f" {seconds_note[0].upper()}{seconds_note[1:]}." if seconds_note else "")
        )
        update_main_readme(readme, intro + "\n\n" + ("\n".join(summaries) or "_no suite results yet_\n"))
    return target_lines
