"""Reports of an evaluation: ``summary.md`` (the table, the exact command, date, machine, run time)
and ``scaling.png`` (accuracy against mean tokens per item, one line per strategy, Wilson bars).

Reads ``EvalSummary`` / ``MethodStats``; writes files only. matplotlib is imported lazily with the
Agg backend (no display needed); without it the plot is skipped with a note. What this is not: a
place that computes statistics (``stats.py``) or runs anything.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .stats import MethodStats

if TYPE_CHECKING:
    from .runner import EvalConfig, EvalSummary, MethodSpec

logger = logging.getLogger(__name__)


def machine_description() -> str:
    mem = ""
    try:
        gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem = f", {gib:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):  # not every platform exposes these
        pass
    return (
        f"{platform.node() or 'unknown host'}: {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs{mem}, Python {sys.version.split()[0]}"
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def table_markdown(stats: list[MethodStats]) -> str:
    head = (
        "| strategy | max tokens | n | accuracy % | 95 % Wilson | 95 % bootstrap | mean score | mean tokens "
        "| p90 tokens | s / item | nodes / item | budget exhausted % | errors |\n"
        "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {s.strategy} | {s.max_tokens} | {s.n} | {_pct(s.accuracy)} | {_pct(s.ci_low)}–{_pct(s.ci_high)} "
        f"| {_pct(s.boot_low)}–{_pct(s.boot_high)} | {s.mean_score:.3f} | {s.mean_tokens:.0f} | {s.p90_tokens:.0f} "
        f"| {s.mean_seconds:.2f} | {s.mean_nodes:.1f} | {_pct(s.exhausted_rate)} | {s.errors} |"
        for s in sorted(stats, key=lambda s: (s.max_tokens, s.strategy))
    ]
    return head + "\n".join(lines) + "\n"


def summary_markdown(
    summary: EvalSummary,
    cfg: EvalConfig,
    *,
    dataset_name: str,
    n_items: int,
    methods: list[MethodSpec],
    plot_written: bool,
) -> str:
    from .runner import model_identity

    status = (
        "**interrupted — partial results; rerun the same command to resume**"
        if summary.interrupted
        else "complete"
    )
    item_seconds = sum(s.mean_seconds * s.n for s in summary.stats)
    parts = [
        f"# o1agent evaluation: {dataset_name}\n",
        "```\n" + (cfg.command or "run_eval(EvalConfig(...))") + "\n```\n",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: {machine_description()}",
        f"- executor: {cfg.executor}" + (f" ({cfg.ray_address})" if cfg.ray_address else ""),
        f"- run time: {summary.seconds:.1f} s this invocation; {item_seconds:.1f} s of solving across all "
        f"rows ({summary.new_rows} new, {summary.resumed_rows} resumed)",
        f"- status: {status}",
        f"- model: {model_identity(cfg.model)} · search reward: {cfg.reward} · prompts: {cfg.prompts} · "
        f"seed: {cfg.seed} · items: {n_items}"
        + (f" · dataset config: {cfg.dataset_config}" if cfg.dataset_config else ""),
        "",
        "## Results\n",
        table_markdown(summary.stats) if summary.stats else "_no finished rows yet_\n",
        "Accuracy counts full credit from the grader (reasoning-gym's `score_answer`, unit tests, or "
        "math-verify against the gold answer), applied after each solve; gold answers never reach the "
        "policy or the search reward. A failed run counts as wrong. Tokens are prompt + completion tokens "
        "as the backend reports them (judge calls included); a run may pass its budget by the last round "
        "it started. Compare methods at equal *measured* tokens (the plot's x axis), not only at equal "
        "budgets.\n",
        "## Methods\n",
    ]
    for m in methods:
        ns = ""
        if m.auto_n:
            ns = " · n per budget: " + ", ".join(
                f"{b}→{m.config_for(b, cfg.sample_tokens)['n']}" for b in cfg.budgets
            )
        what = (
            "direct answering (one chat call per sample, no step protocol)"
            if m.kind == "direct"
            else f"strategy `{m.strategy}`, reward `{m.reward}`"
        )
        extra = (f", tools `{m.tools}`" if m.tools else "") + (
            f", prompts `{m.prompts}`" if m.prompts else ""
        )
        parts.append(
            f"- **{m.label}**{' (baseline)' if m.baseline else ''}: {what}, config `{m.config}`{extra}{ns}"
        )
    notes = list(summary.notes)
    if not plot_written and cfg.plot:
        notes.append("scaling.png was not written (matplotlib missing or no finished rows)")
    if notes:
        parts += ["", "## Notes\n", *[f"- {n}" for n in notes]]
    return "\n".join(parts) + "\n"


def headless_pyplot() -> Any | None:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), or None when matplotlib is
    not installed (it comes with the ``eval`` extra): every plot in the package starts here."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_scaling(stats: list[MethodStats], path: Path, *, title: str = "") -> bool:
    """Accuracy vs mean tokens per item, one line per strategy, Wilson error bars. False when
    matplotlib is missing or there is nothing to plot."""
    if not stats:
        return False
    plt = headless_pyplot()
    if plt is None:
        logger.warning("matplotlib is not installed: skipping %s (pip install 'o1agent[eval]')", path)
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    by: dict[str, list[MethodStats]] = {}
    for s in stats:
        by.setdefault(s.strategy, []).append(s)
    xs_all: list[float] = []
    for name, ss in sorted(by.items()):
        ss = sorted(ss, key=lambda s: s.max_tokens)
        xs = [max(s.mean_tokens, 1.0) for s in ss]
        ys = [s.accuracy for s in ss]
        err = [[max(0.0, s.accuracy - s.ci_low) for s in ss], [max(0.0, s.ci_high - s.accuracy) for s in ss]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name)
        xs_all += xs
    if xs_all and max(xs_all) / min(xs_all) > 4:
        ax.set_xscale("log")
    ax.set_xlabel("mean tokens per item (prompt + completion)")
    ax.set_ylabel("accuracy (95 % Wilson interval)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_reports(
    summary: EvalSummary,
    cfg: EvalConfig,
    *,
    dataset_name: str,
    n_items: int,
    methods: list[MethodSpec],
) -> None:
    """Write ``summary.md`` and (unless ``cfg.plot`` is off) ``scaling.png`` into ``summary.out``."""
    from .runner import PLOT, SUMMARY

    plot_written = False
    if cfg.plot:
        try:
            plot_written = plot_scaling(summary.stats, summary.out / PLOT, title=dataset_name)
        except Exception as exc:  # a plotting failure must not hide the results table
            logger.warning("could not draw %s: %s", summary.out / PLOT, exc)
    text = summary_markdown(
        summary, cfg, dataset_name=dataset_name, n_items=n_items, methods=methods, plot_written=plot_written
    )
    (summary.out / SUMMARY).write_text(text, encoding="utf-8")
