"""The evaluation runner: ``run_eval(EvalConfig(...)) -> EvalSummary``.

For every token budget and every method (a strategy with its config and reward), every item is
solved, graded after the solve, and appended to ``OUT/items.jsonl`` as one row the moment it
finishes (one ``write`` + ``fsync``, with SIGINT/SIGTERM held off meanwhile, so an interrupted run
never leaves a partial line). Re-running the same configuration skips the rows already there
(key: item id × strategy × budget × seed); ``OUT/run.json`` records the configuration so a
resume with a different one is refused instead of mixing incomparable rows.

Equal-compute baselines are always included unless turned off: ``greedy`` (chain of thought, no
reward), ``self_consistency`` (``best_of_n`` with a majority vote, no reward) and ``best_of_n``
(the outcome reward picks). Sampling baselines draw ``n = budget // sample_tokens`` solutions
(2..16), so the token budget, not a fixed n, is what they spend; every method runs under the same
``Budget(max_tokens=B)`` and the table reports the tokens actually used.

What this is not: a trainer or a leaderboard. Gold answers are read only by the graders, after
each solve; the search reward is ``EvalConfig.reward`` (``"judge"`` by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, UnknownStrategyError
from ..rewards.registry import check_reward
from .datasets import EvalDataset, Verifier, load_dataset
from .executors import Outcome, Task, make_executor, resolve_model, row_key
from .stats import MethodStats, summarize

logger = logging.getLogger(__name__)

ITEMS = "items.jsonl"
RUN_CONFIG = "run.json"
SUMMARY = "summary.md"
PLOT = "scaling.png"
TRACES = "traces"

BASELINES = ("greedy", "self_consistency", "best_of_n")
ALIASES = {
    "sc": "self_consistency",
    "self-consistency": "self_consistency",
    "cot": "greedy",
    "bon": "best_of_n",
}
MIN_SAMPLES, MAX_SAMPLES = 2, 16


@dataclass
class MethodSpec:
    """A row label of the table: which registered strategy runs, with what config and reward.

    ``auto_n``: draw ``n = budget // sample_tokens`` samples (clamped to 2..16) at each budget."""

    label: str
    strategy: str
    config: dict[str, Any] = field(default_factory=dict)
    reward: str = "judge"
    auto_n: bool = False
    baseline: bool = False

    def config_for(self, budget: int, sample_tokens: int) -> dict[str, Any]:
        cfg = dict(self.config)
        if self.auto_n and "n" not in cfg:
            cfg["n"] = max(MIN_SAMPLES, min(MAX_SAMPLES, budget // sample_tokens))
        return cfg


@dataclass
class EvalConfig:
    """One evaluation. ``model`` is a model string (``"embedded"``, a LiteLLM string, a .gguf
    path, or ``"py:module:attr"`` naming a Policy factory) or a Policy object (tests inject a
    ``ScriptedPolicy``). ``overrides`` hold strategy config: ``{"step_tokens": 32}`` applies to
    every method that has the field, ``{"beam.width": 2}`` to one method."""

    dataset: str
    out: str | Path
    dataset_config: dict[str, Any] = field(default_factory=dict)
    n: int | None = None
    seed: int = 0
    strategies: list[str] = field(default_factory=lambda: ["greedy"])
    budgets: list[int] = field(default_factory=lambda: [1024])
    model: Any = "embedded"
    reward: str = "judge"
    prompts: str = "g1"
    overrides: dict[str, Any] = field(default_factory=dict)
    max_nodes: int | None = 64
    sample_tokens: int = 512
    baselines: bool = True
    verifier: Verifier = "math"
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    concurrency: int = 1
    api_base: str | None = None
    api_key: str | None = None
    command: str | None = None
    plot: bool = True
    unsafe_local: bool = False  # grade code without bwrap (a plain local process): see tools/sandbox.py


@dataclass
class ProgressEvent:
    """Sent to ``on_progress`` after each finished row (and once at the start with ``row=None``)."""

    done: int  # rows finished in this invocation
    total: int  # rows this invocation has to run
    resumed: int  # rows found already finished
    correct: int  # correct rows among all finished (resumed included)
    finished: int  # all finished rows (resumed included)
    row: dict[str, Any] | None = None

    @property
    def accuracy(self) -> float:
        return self.correct / self.finished if self.finished else 0.0


@dataclass
class EvalSummary:
    """What ``run_eval`` returns: the table, where everything was written, and any notes."""

    out: Path
    stats: list[MethodStats]
    rows: int
    new_rows: int
    resumed_rows: int
    methods: list[str]
    skipped: list[str]
    notes: list[str]
    seconds: float
    interrupted: bool = False

    @property
    def items_path(self) -> Path:
        return self.out / ITEMS

    @property
    def summary_path(self) -> Path:
        return self.out / SUMMARY

    @property
    def plot_path(self) -> Path:
        return self.out / PLOT

    def get(self, strategy: str, max_tokens: int) -> MethodStats:
        for s in self.stats:
            if s.strategy == strategy and s.max_tokens == max_tokens:
                return s
        raise KeyError((strategy, max_tokens))


# -- methods --------------------------------------------------------------------------------


def _builtin_spec(label: str, reward: str) -> MethodSpec:
    if label == "greedy":
        return MethodSpec("greedy", "greedy", {}, reward="none", baseline=True)
    if label == "self_consistency":
        return MethodSpec(
            "self_consistency",
            "best_of_n",
            {"select_by": "majority"},
            reward="none",
            auto_n=True,
            baseline=True,
        )
    if label == "best_of_n":
        return MethodSpec(
            "best_of_n", "best_of_n", {"select_by": "outcome"}, reward=reward, auto_n=True, baseline=True
        )
    return MethodSpec(label, label, {}, reward=reward)


def resolve_methods(
    strategies: list[str], *, reward: str, overrides: dict[str, Any], baselines: bool = True
) -> tuple[list[MethodSpec], list[str], list[str]]:
    """``(methods, skipped, notes)``: the listed strategies plus the baselines, each validated.

    A listed strategy that is not registered is an error naming the close ones; a baseline
    whose strategy is not registered (yet) is skipped with a warning and noted for the summary.
    """
    from ..config import GENERATION_KEYS, split_config
    from ..search.base import available_strategies, make_strategy, strategy_config_class

    registered = available_strategies()
    names: list[str] = []
    for raw in strategies:
        name = ALIASES.get(raw.strip(), raw.strip())
        if name and name not in names:
            names.append(name)
    if not names and not baselines:
        raise ConfigError("no strategy to evaluate: list one with --strategy")
    listed = set(names)
    if baselines:
        names += [b for b in BASELINES if b not in names]
    methods: list[MethodSpec] = []
    skipped: list[str] = []
    notes: list[str] = []
    for name in names:
        spec = _builtin_spec(name, reward)
        if spec.strategy not in registered:
            if name in listed:
                close = difflib.get_close_matches(name, [*registered, *BASELINES], n=3, cutoff=0.5)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise UnknownStrategyError(
                    f"unknown strategy {name!r}{hint}: choose from {sorted({*registered, *BASELINES})}"
                )
            msg = f"baseline {name!r} skipped: strategy {spec.strategy!r} is not registered"
            logger.warning(msg)
            skipped.append(name)
            notes.append(msg)
            continue
        methods.append(spec)
    # Overrides: "key=v" goes to every method whose config has the field; "label.key=v" to one.
    labels = {m.label for m in methods}
    used: set[str] = set()
    for key, val in overrides.items():
        if "." in key:
            label, field_name = key.split(".", 1)
            label = ALIASES.get(label, label)
            if label not in labels:
                raise ConfigError(
                    f"override {key!r} names method {label!r}, which is not evaluated ({sorted(labels)})"
                )
            for m in methods:
                if m.label == label:
                    m.config[field_name] = val
            used.add(key)
            continue
        for m in methods:
            # Generation settings (step_tokens, temperature, ...) apply to every method; the
            # Reasoner splits them from the strategy's own settings.
            if key in GENERATION_KEYS or key in strategy_config_class(m.strategy).model_fields:
                m.config[key] = val
                used.add(key)
        if key not in used:
            raise ConfigError(
                f"override {key!r} is not a config field of any evaluated strategy ({sorted(labels)})"
            )
    for m in methods:
        # Validate now (with n as it will be at some budget) so a bad value fails before any solve.
        strategy_part, generation_part = split_config(m.config_for(4096, 1024))
        make_strategy(m.strategy, strategy_part, generation=generation_part)
    return methods, skipped, notes


# -- the items file -------------------------------------------------------------------------


class ItemsFile:
    """``items.jsonl``, append-only. A row is written with one ``os.write`` then ``fsync``d while
    SIGINT/SIGTERM are blocked, so a Ctrl-C never splits it; a torn last line left by a hard kill
    (SIGKILL, power loss) is cut off on load, since its item was not finished."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            logger.warning("%s ends in a partial row (an interrupted write); dropping it", self.path)
            with self.path.open("r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
            data = data[:cut]
        rows: list[dict[str, Any]] = []
        seen: set[tuple[str, str, int, int]] = set()
        for i, line in enumerate(data.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = row_key(row)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{self.path}:{i} is not a valid result row ({exc}); fix or remove that line, or use a new --out"
                ) from None
            if key in seen:
                logger.warning("%s:%d repeats %s; keeping the first", self.path, i, key)
                continue
            seen.add(key)
            rows.append(row)
        return rows

    def append(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with _signals_held():
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    # Blocked signals stay pending and are delivered (and handled) right after the row is safe.
    blockable = hasattr(signal, "pthread_sigmask")
    sigs = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs) if blockable else None
    try:
        yield
    finally:
        if blockable and old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _append_trace(out: Path, method: str, budget: int, trace_jsonl: str) -> None:
    if not trace_jsonl:
        return
    path = out / TRACES / f"{method}@{budget}.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(trace_jsonl)


# -- run configuration ----------------------------------------------------------------------


def model_identity(model: Any) -> str:
    if isinstance(model, str):
        return model
    return f"policy:{getattr(model, 'name', type(model).__name__)}"


def run_identity(cfg: EvalConfig) -> dict[str, Any]:
    """What must match for rows to be comparable (and so resumable). The item count, the
    strategies and the budgets may change: rows are keyed per item × method × budget."""
    return {
        "dataset": cfg.dataset,
        "dataset_config": cfg.dataset_config,
        "seed": cfg.seed,
        "model": model_identity(cfg.model),
        "reward": cfg.reward,
        "prompts": cfg.prompts,
        "overrides": cfg.overrides,
        "max_nodes": cfg.max_nodes,
        "sample_tokens": cfg.sample_tokens,
        "verifier": cfg.verifier,
    }


def check_run_config(out: Path, cfg: EvalConfig) -> None:
    """Write ``run.json`` on the first run; on later runs refuse a different configuration."""
    path = out / RUN_CONFIG
    ident = json.loads(json.dumps(run_identity(cfg), default=str))
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("identity", {})
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path} is unreadable ({exc}); remove it or use a new --out") from None
        diff = [
            f"{k}: {old.get(k)!r} → {ident.get(k)!r}"
            for k in sorted(set(old) | set(ident))
            if old.get(k) != ident.get(k)
        ]
        if diff:
            raise ConfigError(
                f"{out} holds results of a different configuration ({'; '.join(diff)}); "
                "resuming would mix incomparable rows: use a new --out or delete that folder"
            )
        return
    payload = {"identity": ident, "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": cfg.command}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


# -- the run --------------------------------------------------------------------------------


def build_tasks(cfg: EvalConfig, dataset: EvalDataset, methods: list[MethodSpec], model: Any) -> list[Task]:
    tasks: list[Task] = []
    for budget in cfg.budgets:
        for m in methods:
            mcfg = m.config_for(budget, cfg.sample_tokens)
            for item in dataset.items:
                tasks.append(
                    Task(
                        item=item,
                        grader=dataset.grader(item, unsafe_local=cfg.unsafe_local),
                        method=m.label,
                        strategy=m.strategy,
                        strategy_config=mcfg,
                        reward=m.reward,
                        max_tokens=budget,
                        max_nodes=cfg.max_nodes,
                        seed=cfg.seed,
                        prompts=cfg.prompts,
                        model=model,
                        api_base=cfg.api_base,
                        api_key=cfg.api_key,
                    )
                )
    return tasks


def _validate(cfg: EvalConfig) -> list[int]:
    budgets = list(dict.fromkeys(int(b) for b in cfg.budgets))
    if not budgets:
        raise ConfigError("no token budget: give at least one with --max-tokens")
    bad = [b for b in budgets if b <= 0]
    if bad:
        raise ConfigError(f"token budgets must be positive, got {bad}")
    if cfg.sample_tokens < 1:
        raise ConfigError(f"sample_tokens must be at least 1, got {cfg.sample_tokens}")
    if cfg.executor not in ("local", "ray"):
        raise ConfigError(f"unknown executor {cfg.executor!r}: choose 'local' or 'ray'")
    # A bad --reward fails here, before the dataset is built or the model loads.
    check_reward(cfg.reward)
    return budgets


async def arun_eval(
    cfg: EvalConfig, *, on_progress: Callable[[ProgressEvent], None] | None = None
) -> EvalSummary:
    """Async ``run_eval``."""
    t0 = time.perf_counter()
    cfg = dataclasses.replace(cfg, budgets=_validate(cfg))  # the caller's config stays untouched
    dataset = load_dataset(
        cfg.dataset, config=cfg.dataset_config, n=cfg.n, seed=cfg.seed, verifier=cfg.verifier
    )
    if dataset.items:
        # A grader that cannot be built (code grading without a sandbox) fails before the model loads.
        dataset.grader(dataset.items[0], unsafe_local=cfg.unsafe_local)
    methods, skipped, notes = resolve_methods(
        cfg.strategies, reward=cfg.reward, overrides=cfg.overrides, baselines=cfg.baselines
    )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / TRACES).mkdir(exist_ok=True)
    check_run_config(out, cfg)
    items_file = ItemsFile(out / ITEMS)
    existing = items_file.load()
    done_keys = {row_key(r) for r in existing}

    policy: Any = None
    if cfg.executor == "local":
        policy = resolve_model(cfg.model, api_base=cfg.api_base, api_key=cfg.api_key)
        if cfg.concurrency > 1 and hasattr(policy, "reset"):
            # Seeded runs reset the in-process model's cache: concurrent items would reset each other.
            raise ConfigError(
                "concurrency > 1 needs a served model; the in-process model runs one item at a time"
            )
        task_model: Any = policy
    else:
        task_model = cfg.model
    all_tasks = build_tasks(cfg, dataset, methods, task_model)
    wanted = {t.key for t in all_tasks}
    tasks = [t for t in all_tasks if t.key not in done_keys]
    resumed = len(all_tasks) - len(tasks)
    if resumed:
        logger.info("resuming: %d of %d rows already in %s", resumed, len(all_tasks), items_file.path)
    rows = [r for r in existing if row_key(r) in wanted]
    correct = sum(1 for r in rows if r.get("correct"))
    executor = make_executor(
        cfg.executor, concurrency=cfg.concurrency, policy=policy, ray_address=cfg.ray_address
    )
    if on_progress:
        on_progress(ProgressEvent(0, len(tasks), resumed, correct, len(rows)))
    new = 0
    interrupted = True
    try:
        outcome: Outcome
        async for outcome in executor.run(tasks):
            # Trace first, then the row: the row is the commit point a resume trusts.
            _append_trace(out, outcome.row["strategy"], int(outcome.row["max_tokens"]), outcome.trace_jsonl)
            items_file.append(outcome.row)
            rows.append(outcome.row)
            new += 1
            correct += bool(outcome.row.get("correct"))
            if on_progress:
                on_progress(ProgressEvent(new, len(tasks), resumed, correct, len(rows), outcome.row))
        interrupted = False
    finally:
        if policy is not None and policy is not cfg.model:
            await policy.aclose()
        summary = EvalSummary(
            out=out,
            stats=summarize(rows),
            rows=len(rows),
            new_rows=new,
            resumed_rows=resumed,
            methods=[m.label for m in methods],
            skipped=skipped,
            notes=notes,
            seconds=time.perf_counter() - t0,
            interrupted=interrupted,
        )
        from .report import write_reports

        # Also on Ctrl-C: the summary then describes the finished rows and says it is partial.
        try:
            write_reports(
                summary, cfg, dataset_name=dataset.name, n_items=len(dataset.items), methods=methods
            )
        except Exception as exc:  # never let a report failure mask the run's own outcome
            if not interrupted:
                raise
            logger.warning("could not write the reports of the interrupted run: %s", exc)
    return summary


def run_eval(cfg: EvalConfig, *, on_progress: Callable[[ProgressEvent], None] | None = None) -> EvalSummary:
    """Run an evaluation (see the module docstring). Ctrl-C leaves a consistent, resumable ``OUT``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_eval(cfg, on_progress=on_progress))
    raise RuntimeError("run_eval() was called inside a running event loop; use 'await arun_eval(...)'")
