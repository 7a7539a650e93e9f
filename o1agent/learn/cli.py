"""``o1agent train ...``: the learning commands (data, sft, dpo, prm, label, grpo, ttrl, export, iterate).

Registered on the main app by ``register(app)`` (``o1agent.cli`` imports this module and calls it;
if typer's optional learning deps are missing the group still registers, and a command fails with
a clear message only when run). Progress and reports are printed with rich here — the library
modules only log. Training shows a bar of optimiser steps with elapsed time and ETA (the trainers'
``on_step`` hook); ``train iterate`` one bar per search, training and evaluation stage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ExportError, LearnError, O1AgentError

console = Console(stderr=True)
train_app = typer.Typer(no_args_is_help=True, help="Train a local policy from its own search traces.")

TracesArg = Annotated[list[Path], typer.Argument(help="trace JSONL files (or folders of them)")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="output folder")]


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


def _report(rep: Any) -> None:
    table = Table(title=f"{rep.kind} run", show_header=False)
    for key in (
        "output",
        "examples",
        "steps",
        "first_loss",
        "last_loss",
        "weight_delta",
        "seconds",
        "cpu_seconds",
    ):
        val = getattr(rep, key)
        table.add_row(key, f"{val:.4g}" if isinstance(val, float) else str(val))
    for key, val in rep.extra.items():
        table.add_row(key, json.dumps(val)[:80])
    console.print(table)
    console.print(
        f"metrics: {Path(rep.output) / 'metrics.json'}  loss curve: {Path(rep.output) / 'loss.png'}"
    )


def _config(out: Path, **kw: Any) -> Any:
    from .train import TrainConfig

    return TrainConfig(output=out, **{k: v for k, v in kw.items() if v is not None})


def _trees(traces: list[Path]) -> Any:
    from .data import load_trees

    trees = load_trees(traces)
    console.print(f"{len(trees)} runs read from {len(traces)} source(s)")
    return trees


def _template(base: str) -> str | None:
    from .model import load_tokenizer

    return load_tokenizer(base).chat_template


_TITLES = {
    "sft": "SFT on {n} solutions",
    "dpo": "DPO on {n} pairs",
    "prm": "PRM on {n} step labels",
}


def _progress() -> Any:
    """The one progress display of the learning commands: what, bar, done/total and its unit,
    elapsed time, ETA (rich estimates it from the recent rate)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@contextmanager
def _step_bar(title: str) -> Iterator[Callable[[int, int], None]]:
    """A bar of optimiser steps; yields the ``on_step(done, total)`` hook the trainers call. Until
    the first step (the model is loading) it says so."""
    with _progress() as progress:
        task = progress.add_task(f"{title}: loading the model", total=None, unit="steps")

        def on_step(done: int, total: int) -> None:
            # A step takes seconds: draw it now rather than at rich's next 10 Hz refresh, which a
            # busy machine can delay past a short run's end.
            progress.update(task, description=title, completed=done, total=total, refresh=True)

        yield on_step


def _train_on_traces(
    kind: str, build: Callable[..., Sequence[Any]], traces: list[Path], out: Path, **cfg: Any
) -> None:
    """The body of ``train sft|dpo|prm``: ``build(trees, chat_template=...)`` makes the examples from
    the traces in the chat template of ``cfg["base"]``, ``kind``'s trainer fits them with
    ``TrainConfig(output=out, **cfg)`` under a step bar, and the run's report is printed. A
    library error ends the command (exit status 2)."""
    from .train import TRAINERS

    try:
        examples = build(_trees(traces), chat_template=_template(cfg["base"]))
        with _step_bar(_TITLES[kind].format(n=len(examples))) as on_step:
            rep = TRAINERS[kind](examples, _config(out, **cfg), on_step=on_step)
    except O1AgentError as exc:
        _fail(exc)
    _report(rep)


@train_app.command("data")
def data_cmd(
    traces: TracesArg,
    out: OutOpt = Path("learn-data"),
    threshold: float = typer.Option(1.0, help="outcome score that counts as verified correct"),
    margin: float = typer.Option(0.5, help="minimum value gap of a DPO pair"),
) -> None:
    """Write sft.jsonl, dpo.jsonl and prm.jsonl from traces (no model needed)."""
    from .data import preference_pairs, prm_labels, sft_rows, write_jsonl

    try:
        trees = _trees(traces)
        n_sft = len(rows := sft_rows(trees, threshold=threshold))
        write_jsonl(rows, out / "sft.jsonl")
        n_dpo = len(pairs := preference_pairs(trees, margin=margin, threshold=threshold))
        write_jsonl(pairs, out / "dpo.jsonl")
        n_prm = len(labels := prm_labels(trees, threshold=threshold))
        write_jsonl(labels, out / "prm.jsonl")
    except O1AgentError as exc:
        _fail(exc)
    console.print(f"{out}: {n_sft} SFT rows, {n_dpo} DPO pairs, {n_prm} PRM labels")


@train_app.command("sft")
def sft_cmd(
    traces: TracesArg,
    out: OutOpt = Path("runs/sft"),
    base: str = typer.Option(
        "base", help="'base' (SmolLM2 from the bundled GGUF), a model or adapter folder"
    ),
    steps: int = typer.Option(50, help="optimiser steps"),
    batch_size: int = 4,
    lr: float = 2e-4,
    lora_r: int = 16,
    max_length: int = 384,
    threshold: float = typer.Option(1.0, help="outcome score that counts as verified correct"),
) -> None:
    """LoRA SFT on the best verified path per problem."""
    from .data import sft_rows

    cfg = dict(base=base, max_steps=steps, batch_size=batch_size, learning_rate=lr, max_length=max_length)
    _train_on_traces(
        "sft",
        partial(sft_rows, threshold=threshold),
        traces,
        out,
        **cfg,
        lora_r=lora_r,
        lora_alpha=2 * lora_r,
    )


@train_app.command("dpo")
def dpo_cmd(
    traces: TracesArg,
    out: OutOpt = Path("runs/dpo"),
    base: str = typer.Option("base", help="'base', a model folder, or an SFT adapter to start from"),
    steps: int = 30,
    batch_size: int = 4,
    lr: float = 5e-5,
    beta: float = 0.1,
    margin: float = typer.Option(0.5, help="minimum value gap between chosen and rejected"),
    max_length: int = 384,
) -> None:
    """Step-level DPO on sibling steps whose values differ by at least --margin."""
    from .data import preference_pairs

    cfg = dict(base=base, max_steps=steps, batch_size=batch_size, learning_rate=lr, max_length=max_length)
    _train_on_traces("dpo", partial(preference_pairs, margin=margin), traces, out, **cfg, beta=beta)


@train_app.command("prm")
def prm_cmd(
    traces: Annotated[
        list[Path] | None, typer.Argument(help="trace JSONL files (or folders of them); or use --labels")
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="a PRM label JSONL (train label's labels.jsonl) instead of traces"),
    ] = None,
    out: OutOpt = Path("runs/prm"),
    base: str = "base",
    steps: int = 200,
    batch_size: int = 16,
    lr: float = 1e-3,
    prompts: str | None = typer.Option(
        None,
        help="prompt style the labels were written in (default: --labels' summary.json, else g1); saved with the PRM",
    ),
) -> None:
    """Fit a process reward model (value head on the frozen base) to Math-Shepherd labels: those
    of search trees (traces), or Monte-Carlo ones from ``train label`` (--labels)."""
    from .data import prm_labels
    from .train import train_prm

    if prompts is None and labels is not None and (labels.parent / "summary.json").exists():
        prompts = json.loads((labels.parent / "summary.json").read_text()).get("prompts")
    cfg = dict(base=base, max_steps=steps, batch_size=batch_size, prm_lr=lr, prompts=prompts or "g1")
    if bool(traces) == (labels is not None):
        _fail(LearnError("give trace files or --labels FILE (one of the two)"))
    if traces:
        _train_on_traces("prm", prm_labels, traces, out, **cfg)
        return
    from .shepherd import read_labels

    try:
        rows = read_labels(labels)  # type: ignore[arg-type]  # checked above
        with _step_bar(_TITLES["prm"].format(n=len(rows))) as on_step:
            rep = train_prm(rows, _config(out, **cfg), on_step=on_step)
    except O1AgentError as exc:
        _fail(exc)
    _report(rep)


@train_app.command("label")
def label_cmd(
    workdir: Annotated[
        Path, typer.Option("--workdir", "--out", "-o", help="labels.jsonl + problems.jsonl (rerun resumes)")
    ] = Path("runs/shepherd"),
    task: str = typer.Option("reasoning_gym:chain_sum", help="reasoning_gym:NAME"),
    config: str = typer.Option(
        '{"min_terms": 3, "max_terms": 3, "min_digits": 2, "max_digits": 2}', help="task config as JSON"
    ),
    problems: int = typer.Option(500, help="training problems labelled"),
    seed: int = typer.Option(1, help="the training items' seed (never an evaluation seed)"),
    model: str = typer.Option("embedded", help="the policy that writes and completes solutions (a GGUF)"),
    solutions: int = typer.Option(2, help="solutions per problem (the first greedy)"),
    rollouts: int = typer.Option(4, help="completions per step prefix"),
    temperature: float = 0.8,
    max_tokens: int = 192,
    max_steps: int = 6,
    concurrency: int = typer.Option(4, help="problems in flight at once (they share batched decoding)"),
    threads: int | None = typer.Option(None, help="llama.cpp threads (default: all cores)"),
    prompts: str = typer.Option(
        "stepwise", help="prompt style or folder the solutions are written in (search must use the same)"
    ),
) -> None:
    """Math-Shepherd step labels by Monte-Carlo completion: each step of a solution is completed
    --rollouts times and graded by the task's scorer; the share that end right is its label."""
    import asyncio
    import os

    from pydantic import ValidationError

    from ..gym import GymTask, task_name
    from ..policies.llamacpp import LlamaCppPolicy
    from ..prompts import load_prompts
    from .shepherd import Labeler, ShepherdConfig, label_items, read_labels, summary

    try:
        cfg = ShepherdConfig(
            solutions=solutions,
            rollouts=rollouts,
            temperature=temperature,
            max_tokens=max_tokens,
            max_steps=max_steps,
            concurrency=concurrency,
            seed=seed,
        )
        gym = GymTask(task_name(task), json.loads(config))
        style = load_prompts(prompts)  # a bad style fails here, before the model loads
    except (ValidationError, json.JSONDecodeError, O1AgentError) as exc:
        _fail(exc)
    items = gym.items(problems, seed)
    try:
        policy = LlamaCppPolicy(model, n_threads=threads or os.cpu_count() or 1, seed=seed)
        labeler = Labeler(
            policy,
            lambda a, item: a is not None and gym.score(a, item) >= 1.0,
            cfg,
            prompts=style,
            chat_template=_template("base"),
        )
        with _progress() as progress:
            bar = progress.add_task("labelling steps", total=len(items), unit="problems")

            def tick(done: int, total: int, rec: Any) -> None:
                progress.update(bar, completed=done, total=total)

            records = asyncio.run(label_items(labeler, items, workdir, on_problem=tick))
        info = {**summary(records, read_labels(workdir / "labels.jsonl")), "prompts": prompts}
    except O1AgentError as exc:
        _fail(exc)
    (workdir / "summary.json").write_text(json.dumps(info, indent=2))
    table = Table(title=f"{task}: Math-Shepherd labels", show_header=False)
    for key, val in info.items():
        table.add_row(key, str(val))
    console.print(table)
    console.print(f"labels: {workdir / 'labels.jsonl'}  (train them: o1agent train prm --labels ...)")


def _rl_with_bars(cfg: Any, workdir: Path) -> Any:
    """Run an RL run with a bar per stage; the training bar shows each step's reward, KL and accuracy."""
    from .grpo import run_rl

    bars: dict[str, Any] = {}
    titles = {
        "base": "held-out eval (base)",
        "train": f"{cfg.mode.upper()} steps",
        "eval": "held-out eval (trained)",
    }
    with _progress() as progress:

        def on_tick(stage: str, done: int, total: int, figures: dict[str, float]) -> None:
            if stage not in bars:
                unit = "steps" if stage == "train" else "items"
                bars[stage] = progress.add_task(titles.get(stage, stage), total=total, unit=unit)
            desc = titles.get(stage, stage)
            if figures:
                desc += "  " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items())
            progress.update(bars[stage], completed=done, description=desc)

        return run_rl(cfg, workdir, progress=progress.console.print, tick=on_tick)


def _rl_cmd(mode: Literal["grpo", "ttrl"], workdir: Path, config: str, **kw: Any) -> None:
    from pydantic import ValidationError

    from .grpo import RLConfig

    try:
        cfg = RLConfig(
            mode=mode, task_config=json.loads(config), **{k: v for k, v in kw.items() if v is not None}
        )
    except (ValidationError, json.JSONDecodeError) as exc:  # a bad option value
        _fail(exc)
    try:
        state = _rl_with_bars(cfg, workdir)
    except O1AgentError as exc:
        _fail(exc)
    table = Table(title=f"{cfg.task}: held-out greedy accuracy ({mode})")
    for col in ("policy", "accuracy", "95% Wilson", "unseen questions"):
        table.add_column(col)
    for name, h in (("base", state.base), ("trained", state.trained)):
        if h is not None:
            table.add_row(
                name,
                f"{h.correct}/{h.total} = {h.accuracy:.3f}",
                f"[{h.wilson[0]:.3f}, {h.wilson[1]:.3f}]",
                f"{h.unseen_correct}/{h.unseen_total}",
            )
    console.print(table)
    console.print(f"report: {workdir / 'report.md'}")


_RL_CONFIG = '{"min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 1}'
WorkdirOpt = Annotated[
    Path,
    typer.Option("--workdir", "--out", "-o", help="state, per-step log, checkpoints, report (rerun resumes)"),
]


@train_app.command("grpo")
def grpo_cmd(
    workdir: WorkdirOpt = Path("runs/grpo"),
    task: str = typer.Option("reasoning_gym:chain_sum", help="reasoning_gym:NAME"),
    config: str = typer.Option(_RL_CONFIG, help="task config as JSON"),
    steps: int = 45,
    prompts_per_step: int = 2,
    generations: int = typer.Option(8, help="samples per prompt (the GRPO group)"),
    max_completion: int = 96,
    lr: float = 1e-4,
    kl: float = typer.Option(0.0, help="KL coefficient (beta); > 0 also logs the KL"),
    arith_weight: float = typer.Option(0.0, help="weight of the arithmetic-claims process bonus"),
    train_items: int = 256,
    eval_items: int = 100,
    threads: int | None = typer.Option(None, help="torch and llama.cpp threads (default: all cores)"),
) -> None:
    """GRPO (Dr. GRPO loss) from the base, rewarded by the task's scorer; held-out greedy before and after."""
    _rl_cmd(
        "grpo",
        workdir,
        config,
        task=task,
        steps=steps,
        prompts_per_step=prompts_per_step,
        generations=generations,
        max_completion=max_completion,
        learning_rate=lr,
        kl_coef=kl,
        arith_weight=arith_weight,
        train_items=train_items,
        eval_items=eval_items,
        threads=threads,
    )


@train_app.command("ttrl")
def ttrl_cmd(
    workdir: WorkdirOpt = Path("runs/ttrl"),
    task: str = typer.Option("reasoning_gym:chain_sum", help="reasoning_gym:NAME"),
    config: str = typer.Option(_RL_CONFIG, help="task config as JSON"),
    steps: int = 45,
    prompts_per_step: int = 2,
    generations: int = typer.Option(8, help="samples per question; their majority is the label"),
    max_completion: int = 96,
    lr: float = 1e-4,
    kl: float = typer.Option(0.0, help="KL coefficient (beta); > 0 also logs the KL"),
    train_items: int = typer.Option(256, help="unlabeled questions trained on"),
    eval_items: int = 100,
    threads: int | None = typer.Option(None, help="torch and llama.cpp threads (default: all cores)"),
) -> None:
    """Test-time RL without labels: reward = agreement with the majority of the policy's own samples."""
    _rl_cmd(
        "ttrl",
        workdir,
        config,
        task=task,
        steps=steps,
        prompts_per_step=prompts_per_step,
        generations=generations,
        max_completion=max_completion,
        learning_rate=lr,
        kl_coef=kl,
        train_items=train_items,
        eval_items=eval_items,
        threads=threads,
    )


@train_app.command("export")
def export_cmd(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="gguf: the adapter or model folder ('base' for the untrained model); verl/openrlhf/trl: "
            "trace JSONL files, folders of them, or `o1agent eval` output folders (their items.jsonl gives gold)"
        ),
    ],
    format_: Annotated[
        str,
        typer.Option("--format", "-f", help="gguf (a model for llama.cpp), verl, openrlhf or trl (datasets)"),
    ] = "gguf",
    to: Annotated[
        Path | None,
        typer.Option("--to", "--out", "-o", help="output .gguf path (gguf) or folder (datasets)"),
    ] = None,
    type_: Annotated[str, typer.Option("--type", help="gguf: f16, q8_0 or f32")] = "f16",
    gold: Annotated[
        list[Path] | None,
        typer.Option(
            "--gold", help="JSONL with question + gold/answer (an eval run's items.jsonl); repeatable"
        ),
    ] = None,
    what: Annotated[
        str | None,
        typer.Option("--what", help="comma list of sft, preference, prm, rl (default: all the format takes)"),
    ] = None,
    chat_template: Annotated[
        str,
        typer.Option(
            "--chat-template", help="template of text fields: embedded, a .gguf, a tokenizer folder or Jinja"
        ),
    ] = "embedded",
    threshold: float = typer.Option(1.0, help="outcome score that counts as verified correct"),
    margin: float = typer.Option(0.5, help="minimum value gap of a preference pair"),
    data_source: str = typer.Option("o1agent", help="verl: the data_source column"),
) -> None:
    """Export for elsewhere: a GGUF the embedded llama.cpp backend runs (--format gguf, the default),
    or the traces as verl / OpenRLHF / TRL datasets (SFT, preferences, PRM labels, RL prompts)."""
    if format_ != "gguf":
        _export_dataset(sources, format_, to, gold, what, chat_template, threshold, margin, data_source)
        return
    from .export import export_gguf

    try:
        if len(sources) != 1:
            raise ExportError(f"--format gguf exports one checkpoint, got {len(sources)} sources")
        out = to or Path("policy.gguf")
        with console.status(f"exporting {sources[0]} → {out} ({type_}) ..."):
            rep = export_gguf(sources[0], out, out_type=type_)  # type: ignore[arg-type]
    except O1AgentError as exc:
        _fail(exc)
    console.print(f"wrote {rep.output}: {rep.tensors} tensors, {rep.bytes / 1e6:.1f} MB, {rep.seconds:.1f} s")


def _export_dataset(
    sources: list[str],
    format_: str,
    to: Path | None,
    gold: list[Path] | None,
    what: str | None,
    chat_template: str,
    threshold: float,
    margin: float,
    data_source: str,
) -> None:
    from .formats import export_dataset

    try:
        rep = export_dataset(
            sources,
            to or Path(f"export-{format_}"),
            format=format_,
            kinds=[k.strip() for k in what.split(",") if k.strip()] if what else None,
            gold=gold or [],
            chat_template=chat_template,
            threshold=threshold,
            margin=margin,
            data_source=data_source,
        )
    except O1AgentError as exc:
        _fail(exc)
    table = Table(title=f"{rep.format} export: {rep.runs} runs, {rep.questions} questions")
    for col in ("kind", "file", "rows", "read by"):
        table.add_column(col)
    for f in rep.files:
        table.add_row(f.kind, f.path, str(f.rows), f.reader)
    for kind, why in rep.skipped.items():
        table.add_row(kind, "-", "0", f"skipped: {why}")
    console.print(table)
    console.print(f"manifest: {Path(rep.output) / 'manifest.json'}")


def _iterate_with_bars(cfg: Any, workdir: Path) -> Any:
    """Run the iteration with a rich progress bar per search/train/eval stage and stage lines above it."""
    from .iterate import TRAINING_STAGES, run_iteration

    bars: dict[str, Any] = {}
    stage = {"name": ""}
    with _progress() as progress:

        def on_message(msg: str) -> None:
            if msg.startswith("round "):
                stage["name"] = msg.split(":")[0]
            progress.console.print(msg)

        def on_tick(what: str, done: int, total: int) -> None:
            key = f"{stage['name']} {what}"
            if key not in bars:
                unit = "steps" if what in TRAINING_STAGES else "items"
                bars[key] = progress.add_task(key, total=total, unit=unit)
            progress.update(bars[key], completed=done)

        return run_iteration(cfg, workdir, progress=on_message, tick=on_tick)


@train_app.command("iterate")
def iterate_cmd(
    task: str = typer.Option("reasoning_gym:chain_sum", help="reasoning_gym:NAME"),
    rounds: int = 1,
    workdir: Path = typer.Option(Path("runs/iterate"), help="state, traces, adapters and GGUFs (resumable)"),
    train_items: int = 64,
    eval_items: int = 100,
    k: int = typer.Option(3, help="DFS candidates per step during training-time search"),
    max_nodes: int = 12,
    dpo: bool = typer.Option(False, help="add step-level DPO after SFT"),
    prm: bool = typer.Option(
        False,
        help="also fit a PRM each round; round N+1 searches with it, and beam+PRM vs a blind beam is evaluated",
    ),
    prm_steps: int = 200,
    beam_tokens: int = typer.Option(
        3000, help="token budget per item of the beam+PRM and blind-beam evaluations"
    ),
    base_gguf: str = typer.Option(
        "export", help="round 0 policy: export (f16, fair) or embedded (Q4_1, fast)"
    ),
    config: str = typer.Option(
        '{"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}', help="task config as JSON"
    ),
) -> None:
    """Expert iteration: search → filter verified → SFT (→ DPO) → held-out greedy accuracy, per round."""
    from pydantic import ValidationError

    from .iterate import IterateConfig

    try:
        cfg = IterateConfig(
            task=task,
            task_config=json.loads(config),
            rounds=rounds,
            train_items=train_items,
            eval_items=eval_items,
            k=k,
            max_nodes=max_nodes,
            dpo=dpo,
            prm=prm,
            prm_steps=prm_steps,
            beam_tokens=beam_tokens,
            base_gguf=base_gguf,  # type: ignore[arg-type]  # validated into the Literal
        )
        state = _iterate_with_bars(cfg, workdir)
    except (O1AgentError, json.JSONDecodeError, ValidationError) as exc:
        _fail(exc)
    table = Table(title=f"{task}: held-out greedy accuracy")
    for col in (
        "round",
        "accuracy",
        "95% Wilson",
        "unseen questions",
        "solved in search",
        "SFT rows",
        *(("beam+PRM", "blind beam") if prm else ()),
        "CPU min",
    ):
        table.add_column(col)
    for rr in state.rounds:
        lo, hi = rr.wilson or (float("nan"), float("nan"))
        beams = [
            f"{h.correct}/{h.total} = {h.accuracy:.3f}" if h is not None else "-"
            for h in (rr.beam_prm, rr.beam_blind)
        ]
        table.add_row(
            str(rr.round),
            f"{rr.correct}/{rr.total} = {rr.accuracy:.3f}" if rr.accuracy is not None else "-",
            f"[{lo:.3f}, {hi:.3f}]",
            f"{rr.unseen_correct}/{rr.unseen_total}" if rr.unseen_total else "-",
            f"{rr.search_solved}/{rr.search_items}" if rr.search_items else "-",
            str(rr.sft_rows or "-"),
            *(beams if prm else ()),
            f"{sum(rr.cpu_minutes.values()):.1f}",
        )
    console.print(table)
    console.print(f"report: {workdir / 'report.md'}")


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
