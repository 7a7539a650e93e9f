"""The ``o1agent eval`` command: one command per evaluation, with a live progress bar.

Registered into the main typer app by ``register(app)`` (``o1agent/cli.py`` calls it). It parses
options into an ``EvalConfig``, runs ``run_eval`` with a rich progress bar showing the running
accuracy and ETA, and prints the table. Ctrl-C or SIGTERM stop it between rows; the same command
resumes. What this is not: the evaluation logic itself (``runner.py``).
"""

from __future__ import annotations

import logging
import shlex
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..errors import O1AgentError, UserError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(p) for p in _csv(text)]
    except ValueError:
        raise UserError(f"{what} expects comma-separated integers, got {text!r}") from None


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    # Route SIGTERM through whatever handles SIGINT now (asyncio.run's handler cancels the run
    # cleanly between rows); outside asyncio, a plain KeyboardInterrupt does the same.
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not _sigterm_as_interrupt:
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


def eval_command(
    dataset: Annotated[
        str, typer.Option(help="reasoning_gym:NAME, human_eval, or jsonl:PATH (question/answer per line).")
    ],
    out: Annotated[Path, typer.Option(help="Output folder (items.jsonl, summary.md, scaling.png, traces/).")],
    config: Annotated[
        str | None, typer.Option("--config", help="Dataset config, key=value[,key=value] (reasoning-gym).")
    ] = None,
    n: Annotated[
        int | None, typer.Option(help="Number of items (default: all; 100 for procedural sets).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the dataset and of every run.")] = 0,
    strategy: Annotated[
        str,
        typer.Option(
            help="Comma-separated methods: registered strategies (NAME or NAME:REWARD), direct, direct_sc, "
            "default, default_calculator; the direct, direct_sc, greedy, self_consistency, best_of_n and "
            "blind baselines are added."
        ),
    ] = "greedy",
    max_tokens: Annotated[str, typer.Option(help="Comma-separated token budgets per item.")] = "1024",
    model: Annotated[
        str,
        typer.Option(help="'embedded', a .gguf path, a LiteLLM model string, or py:module:attr (a Policy)."),
    ] = "embedded",
    reward: Annotated[
        str, typer.Option(help="Reward model the search uses (never sees gold answers).")
    ] = "judge",
    prompts: Annotated[str, typer.Option(help="Prompt style name or folder.")] = "g1",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Strategy config: key=value (all methods) or method.key=value (one)."),
    ] = None,
    max_nodes: Annotated[
        int | None, typer.Option(help="Node bound per item, besides the token budget.")
    ] = 64,
    sample_tokens: Annotated[
        int, typer.Option(help="Tokens per sample for sampling baselines: n = budget // this (2..16).")
    ] = 512,
    baselines: Annotated[
        bool,
        typer.Option(
            help="Add the direct / direct-sc / greedy / self-consistency / best-of-N / blind baselines."
        ),
    ] = True,
    blind_strategy: Annotated[
        str | None,
        typer.Option(
            help="Search the blind control runs (default: the first listed strategy, else best_of_n)."
        ),
    ] = None,
    reuse: Annotated[
        bool,
        typer.Option(
            help="Copy a budget-independent method's row from a smaller budget where its seeded run "
            "finished inside that budget (needs a backend that reproduces seeded runs)."
        ),
    ] = False,
    verifier: Annotated[
        str, typer.Option(help="Grader for jsonl datasets: math (math-verify) or exact.")
    ] = "math",
    executor: Annotated[str, typer.Option(help="local, or ray (items as Ray tasks).")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: a local Ray).")
    ] = None,
    concurrency: Annotated[
        int, typer.Option(help="Items in flight at once (local executor, served models).")
    ] = 1,
    api_base: Annotated[str | None, typer.Option(help="Base URL of an OpenAI-compatible server.")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="O1AGENT_API_KEY", help="API key for the backend.")
    ] = None,
    plot: Annotated[bool, typer.Option(help="Draw scaling.png.")] = True,
    unsafe_local: Annotated[
        bool,
        typer.Option(
            help="Where bwrap is missing, grade code (human_eval) as a plain local process: not contained."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Log debug output.")] = False,
) -> None:
    """Evaluate strategies × token budgets on a dataset: accuracy with 95 % intervals, tokens,
    time, nodes; resumable (rerun the same command after an interruption)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    from ..options import parse_key_values
    from .runner import EvalConfig, ProgressEvent, run_eval

    try:
        cfg = EvalConfig(
            dataset=dataset,
            out=out,
            dataset_config=parse_key_values(config, option="--config"),
            n=n,
            seed=seed,
            strategies=_csv(strategy),
            budgets=_ints(max_tokens, "--max-tokens"),
            model=model,
            reward=reward,
            prompts=prompts,
            overrides=parse_key_values(set_, option="--set"),
            max_nodes=max_nodes,
            sample_tokens=sample_tokens,
            baselines=baselines,
            blind_strategy=blind_strategy,
            reuse_unexhausted=reuse,
            verifier=verifier,  # type: ignore[arg-type]
            executor=executor,  # type: ignore[arg-type]
            ray_address=ray_address,
            concurrency=concurrency,
            api_base=api_base,
            api_key=api_key,
            command=shlex.join(["o1agent", *sys.argv[1:]]),
            plot=plot,
            unsafe_local=unsafe_local,
        )
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    bar: dict[str, Any] = {}

    def on_progress(ev: ProgressEvent) -> None:
        if "id" not in bar:
            bar["id"] = progress.add_task("starting", total=ev.total)
            if ev.resumed:
                progress.console.print(
                    f"[dim]resuming: {ev.resumed} rows already in {out / 'items.jsonl'}[/]"
                )
        last = f" · last {ev.row['strategy']}@{ev.row['max_tokens']}" if ev.row else ""
        desc = f"accuracy {100 * ev.accuracy:.1f}% ({ev.correct}/{ev.finished}){last}"
        progress.update(bar["id"], completed=ev.done, description=desc)

    old_term = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        with progress:
            summary = run_eval(cfg, on_progress=on_progress)
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]interrupted:[/] finished rows are in {out / 'items.jsonl'}; rerun the same command to resume"
        )
        raise typer.Exit(130) from None
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except O1AgentError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        signal.signal(signal.SIGTERM, old_term)

    console.print(results_table(summary.stats))
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(
        f"[dim]{summary.new_rows} new rows, {summary.resumed_rows} resumed · {summary.seconds:.1f}s · "
        f"{summary.summary_path}[/]"
    )


def results_table(stats: list[Any]) -> Table:
    """The summary table for the terminal (summary.md holds the full markdown version)."""
    table = Table(show_edge=False, header_style="bold")
    for col in (
        "strategy",
        "budget",
        "n",
        "acc %",
        "95 % CI",
        "tokens",
        "p90 tok",
        "s/item",
        "nodes",
        "exh %",
    ):
        # The strategy name must stay readable on a narrow terminal; numbers may wrap instead.
        table.add_column(
            col, justify="left" if col == "strategy" else "right", no_wrap=col in ("strategy", "95 % CI")
        )
    for s in sorted(stats, key=lambda s: (s.max_tokens, s.strategy)):
        table.add_row(
            s.strategy,
            str(s.max_tokens),
            str(s.n),
            f"{100 * s.accuracy:.1f}",
            f"{100 * s.ci_low:.0f}–{100 * s.ci_high:.0f}",
            f"{s.mean_tokens:.0f}",
            f"{s.p90_tokens:.0f}",
            f"{s.mean_seconds:.2f}",
            f"{s.mean_nodes:.1f}",
            f"{100 * s.exhausted_rate:.0f}",
        )
    return table


def register(app: typer.Typer) -> None:
    """Add ``o1agent eval`` to the main app."""
    app.command("eval")(eval_command)
