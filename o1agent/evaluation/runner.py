"""The evaluation runner: ``run_eval(EvalConfig(...)) -> EvalSummary``.

For every token budget and every method (a strategy with its config and reward), every item is
solved, graded after the solve, and appended to ``OUT/items.jsonl`` as one row the moment it
finishes (one ``write`` + ``fsync``, with SIGINT/SIGTERM held off meanwhile, so an interrupted run
never leaves a partial line). Re-running the same configuration skips the rows already there
(key: item id × strategy × budget × seed); ``OUT/run.json`` records the configuration so a
resume with a different one is refused instead of mixing incomparable rows.

Baselines are always included unless turned off: ``direct`` (one plain chat call, greedy, no step
protocol: ``o1agent.direct``), ``direct_sc`` (self-consistency over k sampled direct answers,
majority vote; ``direct_asc`` samples them in waves until the vote is settled, k the cap),
``greedy`` (the step protocol, no reward), ``self_consistency`` (``best_of_n``
over the step protocol with a majority vote, no reward), ``best_of_n`` (the search reward picks)
and ``blind`` (the control: the first listed search strategy — else best-of-N — with every score
0.5). Sampling baselines draw ``k = budget // sample_tokens`` samples (2..16), so the token budget,
not a fixed k, sets them; every method runs under the same ``Budget(max_tokens=B)`` and the table
reports the tokens actually used (prompt + completion, as the policy reports them).

Besides names, ``EvalConfig.methods`` takes ``MethodSpec``s (a label with its own strategy,
config, reward, tools or prompts), and a listed name may carry its reward (``"beam:arith"``).
``run.json`` records every label's spec, so a resume that changed one is refused. With
``reuse_unexhausted``, a method whose config does not depend on the budget copies its row from a
smaller budget where that run finished inside its budget: a seeded run that never reached its
budget is the same run under a larger one (the budget is only checked, never used to decide).

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
from ..sanitize import dumps
from .datasets import EvalDataset, Verifier, load_dataset
from .executors import Outcome, Task, make_executor, resolve_model, row_key
from .stats import MethodStats, summarize

logger = logging.getLogger(__name__)

ITEMS = "items.jsonl"
RUN_CONFIG = "run.json"
SUMMARY = "summary.md"
PLOT = "scaling.png"
TRACES = "traces"

BASELINES = ("direct", "direct_sc", "greedy", "self_consistency", "best_of_n", "blind")
#: Method labels with a fixed meaning that are not baselines: solve()'s default search and reward,
#: alone and with the calculator, and adaptive self-consistency over direct answers (k the cap).
NAMED_METHODS = ("default", "default_calculator", "direct_asc")
ALIASES = {
    "sc": "self_consistency",
    "self-consistency": "self_consistency",
    "cot": "greedy",
    "bon": "best_of_n",
    "direct-sc": "direct_sc",
    "direct-asc": "direct_asc",
    "default+calculator": "default_calculator",
}
#: The search the blind control runs when no search strategy is listed (best-of-N's config).
BLIND_FALLBACK = ("best_of_n", {"select_by": "outcome"})
MIN_SAMPLES, MAX_SAMPLES = 2, 16


@dataclass
class MethodSpec:
    """A row label of the table: what runs under it — a registered strategy with its config,
    reward and tools (``kind="search"``), or direct answering (``kind="direct"``, config a
    ``DirectConfig``) — and with which prompts (``None``: the run's).

    ``auto_n``: draw ``n = budget // sample_tokens`` samples (clamped to 2..16) at each budget."""

    label: str
    strategy: str
    config: dict[str, Any] = field(default_factory=dict)
    reward: str = "judge"
    auto_n: bool = False
    baseline: bool = False
    kind: Literal["search", "direct"] = "search"
    tools: list[str] = field(default_factory=list)
    prompts: str | None = None

    def config_for(self, budget: int, sample_tokens: int) -> dict[str, Any]:
        cfg = dict(self.config)
        if self.auto_n and "n" not in cfg:
            cfg["n"] = max(MIN_SAMPLES, min(MAX_SAMPLES, budget // sample_tokens))
        return cfg

    def describe(self) -> dict[str, Any]:
        """What must stay the same for this label's rows to be comparable across runs."""
        return {
            "kind": self.kind,
            "strategy": self.strategy,
            "config": self.config,
            "reward": self.reward,
            "auto_n": self.auto_n,
            "tools": self.tools,
            "prompts": self.prompts,
        }

    def fields(self) -> set[str]:
        """The config keys this method accepts (strategy settings and generation settings, or
        ``DirectConfig``'s fields)."""
        if self.kind == "direct":
            from ..direct import DirectConfig

            return set(DirectConfig.model_fields)
        from ..config import GENERATION_KEYS
        from ..search.base import strategy_config_class

        return set(GENERATION_KEYS) | set(strategy_config_class(self.strategy).model_fields)

    def validate(self) -> None:
        """Build the method's settings once (with ``n`` as it will be at some budget), so a bad
        value fails before any solve."""
        cfg = self.config_for(4096, 1024)
        if self.kind == "direct":
            from ..direct import direct_config

            direct_config(cfg)
            return
        from ..config import split_config
        from ..search.base import make_strategy

        strategy_part, generation_part = split_config(cfg)
        make_strategy(self.strategy, strategy_part, generation=generation_part)
        check_reward(self.reward)
        if self.tools:
            from ..tools import make_tools

            make_tools(list(self.tools))

    def reusable(self) -> bool:
        """Whether this method's config is the same at every budget (its rows may then be reused
        from a smaller budget where the run stayed inside it)."""
        return not self.auto_n or "n" in self.config


@dataclass
class EvalConfig:
    """One evaluation. ``model`` is a model string (``"embedded"``, a LiteLLM string, a .gguf
    path, or ``"py:module:attr"`` naming a Policy factory) or a Policy object (tests inject a
    ``ScriptedPolicy``). ``overrides`` hold strategy config: ``{"step_tokens": 32}`` applies to
    every method that has the field, ``{"beam.width": 2}`` to one method. ``methods`` adds
    explicit ``MethodSpec``s after the named ones; ``blind_strategy`` names the search the blind
    control runs (default: the first listed search strategy, else best-of-N);
    ``reuse_unexhausted`` copies budget-independent rows (see the module docstring)."""

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
    methods: list[MethodSpec] = field(default_factory=list)
    blind_strategy: str | None = None
    reuse_unexhausted: bool = False


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


def _builtin_spec(label: str, reward: str, blind_of: tuple[str, dict[str, Any]]) -> MethodSpec:
    from ..reasoner import DEFAULT_REWARD, DEFAULT_STRATEGY

    if label == "direct":
        return MethodSpec("direct", "direct", {}, reward="none", baseline=True, kind="direct")
    if label == "direct_sc":
        return MethodSpec("direct_sc", "direct", {}, reward="none", auto_n=True, baseline=True, kind="direct")
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
    if label == "blind":
        strategy, config = blind_of
        return MethodSpec(
            "blind", strategy, dict(config), reward="blind", auto_n=strategy == "best_of_n", baseline=True
        )
    if label == "direct_asc":
        return MethodSpec(
            "direct_asc", "direct", {"adaptive": True}, reward="none", auto_n=True, kind="direct"
        )
    if label in NAMED_METHODS:
        tools = ["calculator"] if label == "default_calculator" else []
        return MethodSpec(label, DEFAULT_STRATEGY, {}, reward=DEFAULT_REWARD, tools=tools)
    name, sep, own_reward = label.partition(":")
    return MethodSpec(label, name.strip(), {}, reward=own_reward.strip() if sep else reward)


def resolve_methods(
    strategies: list[str],
    *,
    reward: str,
    overrides: dict[str, Any],
    baselines: bool = True,
    methods: list[MethodSpec] | None = None,
    blind_strategy: str | None = None,
) -> tuple[list[MethodSpec], list[str], list[str]]:
    """``(methods, skipped, notes)``: the listed methods plus the baselines, each validated.

    A listed name is a baseline label, ``default`` / ``default_calculator``, or a registered
    strategy, optionally with its own reward (``"beam:arith"``); explicit ``methods`` follow. A
    listed strategy that is not registered is an error naming the close ones; a baseline whose
    strategy is not registered (yet) is skipped with a warning and noted for the summary.
    """
    from ..search.base import available_strategies

    registered = available_strategies()
    known = [*registered, *BASELINES, *NAMED_METHODS]
    names: list[str] = []
    for raw in strategies:
        name = ALIASES.get(raw.strip(), raw.strip())
        if name and name not in names:
            names.append(name)
    explicit = list(methods or [])
    if not names and not explicit and not baselines:
        raise ConfigError("no strategy to evaluate: list one with --strategy")
    listed = set(names)
    if baselines:
        names += [b for b in BASELINES if b not in names]
    # The blind control runs the search under evaluation: the first listed search strategy.
    searches = [n.partition(":")[0] for n in names if n not in (*BASELINES, *NAMED_METHODS)]
    searches += [m.strategy for m in explicit if m.kind == "search"]
    chosen = blind_strategy or (searches[0] if searches else BLIND_FALLBACK[0])
    # Best-of-N's control picks as the best_of_n baseline does (outcome), only blind.
    blind_of = BLIND_FALLBACK if chosen == BLIND_FALLBACK[0] else (chosen, {})
    out: list[MethodSpec] = []
    skipped: list[str] = []
    notes: list[str] = []
    for name in names:
        spec = _builtin_spec(name, reward, blind_of)
        if spec.kind == "search" and spec.strategy not in registered:
            if name in listed:
                close = difflib.get_close_matches(spec.strategy, known, n=3, cutoff=0.5)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise UnknownStrategyError(
                    f"unknown strategy {spec.strategy!r}{hint}: choose from {sorted(known)}"
                )
            msg = f"baseline {name!r} skipped: strategy {spec.strategy!r} is not registered"
            logger.warning(msg)
            skipped.append(name)
            notes.append(msg)
            continue
        out.append(spec)
    labels = [m.label for m in out]
    for m in explicit:
        if m.label in labels:
            raise ConfigError(f"method label {m.label!r} is given twice: labels key the result rows")
        if m.kind == "search" and m.strategy not in registered:
            close = difflib.get_close_matches(m.strategy, registered, n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownStrategyError(
                f"method {m.label!r}: unknown strategy {m.strategy!r}{hint}: choose from {registered}"
            )
        out.append(dataclasses.replace(m, config=dict(m.config), tools=list(m.tools)))
        labels.append(m.label)
    # Overrides: "key=v" goes to every method whose config has the field; "label.key=v" to one.
    used: set[str] = set()
    for key, val in overrides.items():
        if "." in key:
            label, field_name = key.split(".", 1)
            label = ALIASES.get(label, label)
            if label not in labels:
                raise ConfigError(
                    f"override {key!r} names method {label!r}, which is not evaluated ({sorted(labels)})"
                )
            for m in out:
                if m.label == label:
                    m.config[field_name] = val
            used.add(key)
            continue
        for m in out:
            # Generation settings (step_tokens, temperature, ...) apply to every search method;
            # the Reasoner splits them from the strategy's own settings.
            if key in m.fields():
                m.config[key] = val
                used.add(key)
        if key not in used:
            raise ConfigError(
                f"override {key!r} is not a config field of any evaluated strategy ({sorted(labels)})"
            )
    for m in out:
        m.validate()
    return out, skipped, notes


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
        # sanitize.dumps: a model's lone surrogate or NaN must not make the row unwritable.
        line = (dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")
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


def _trace_name(method: str, budget: int) -> str:
    # A label may hold a reward spec ("beam:prm:runs/prm"): keep the file name one path part.
    return f"{method.replace('/', '_')}@{budget}.jsonl"


def _append_trace(out: Path, method: str, budget: int, trace_jsonl: str) -> None:
    if not trace_jsonl:
        return
    path = out / TRACES / _trace_name(method, budget)
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


def check_run_config(out: Path, cfg: EvalConfig, methods: list[MethodSpec] | None = None) -> None:
    """Write ``run.json`` on the first run; on later runs refuse a different configuration, or
    a method label whose spec changed (new labels are added to the record)."""
    path = out / RUN_CONFIG
    ident = json.loads(json.dumps(run_identity(cfg), default=str))
    specs = json.loads(json.dumps({m.label: m.describe() for m in methods or []}, default=str))
    payload: dict[str, Any] = {
        "identity": ident,
        "methods": specs,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": cfg.command,
    }
    if path.exists():
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            old = payload.get("identity", {})
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path} is unreadable ({exc}); remove it or use a new --out") from None
        diff = [
            f"{k}: {old.get(k)!r} → {ident.get(k)!r}"
            for k in sorted(set(old) | set(ident))
            if old.get(k) != ident.get(k)
        ]
        old_specs: dict[str, Any] = payload.get("methods") or {}
        diff += [
            f"method {label}: {old_specs[label]!r} → {spec!r}"
            for label, spec in specs.items()
            if label in old_specs and old_specs[label] != spec
        ]
        if diff:
            raise ConfigError(
                f"{out} holds results of a different configuration ({'; '.join(diff)}); "
                "resuming would mix incomparable rows: use a new --out or delete that folder"
            )
        if all(label in old_specs for label in specs):
            return
        payload["methods"] = {**old_specs, **specs}
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
                        prompts=m.prompts or cfg.prompts,
                        model=model,
                        api_base=cfg.api_base,
                        api_key=cfg.api_key,
                        kind=m.kind,
                        tools=list(m.tools),
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


def _waves(tasks: list[Task], methods: list[MethodSpec], budgets: list[int]) -> list[list[Task]]:
    """Tasks in the order ``reuse_unexhausted`` needs: first every task a row cannot be copied
    for (every budget of budget-dependent methods, the smallest of the others), then each larger
    budget of the budget-independent methods, one wave per budget."""
    reusable = {m.label for m in methods if m.reusable()}
    order = sorted(budgets)
    first = [t for t in tasks if t.method not in reusable or t.max_tokens == order[0]]
    later = [[t for t in tasks if t.method in reusable and t.max_tokens == b] for b in order[1:]]
    return [first, *(w for w in later if w)]


class _Reuse:
    """Finished rows by (item, method, seed, budget), and copies of them for a larger budget."""

    def __init__(self, out: Path, rows: list[dict[str, Any]]) -> None:
        self.out = out
        self.rows: dict[tuple[str, str, int, int], dict[str, Any]] = {row_key(r): r for r in rows}
        self.traces: dict[str, str] = {}  # trace id → its JSON lines
        self.read: set[Path] = set()  # trace files already read into ``traces``

    def add(self, outcome: Outcome) -> None:
        self.rows[row_key(outcome.row)] = outcome.row
        if outcome.trace_jsonl and outcome.row.get("trace_id"):
            self.traces[str(outcome.row["trace_id"])] = outcome.trace_jsonl

    def copy_for(self, task: Task, budgets: list[int]) -> Outcome | None:
        smaller = sorted(b for b in budgets if b < task.max_tokens)
        if not smaller:
            return None
        base = self.rows.get((task.item.id, task.method, smaller[-1], task.seed))
        # A run that stopped on its own (or on the node bound, checked after tokens) never read
        # the token budget: under a larger one it makes the same calls and gives the same row.
        if (
            base is None
            or base.get("error")
            or (base.get("budget_exhausted") and base.get("exhausted_by") != "nodes")
        ):
            return None
        row = {
            **base,
            "max_tokens": task.max_tokens,
            "reused_from": base.get("reused_from") or base["max_tokens"],
        }
        return Outcome(row=row, trace_jsonl=self._trace(base))

    def _trace(self, base: dict[str, Any]) -> str:
        run_id = str(base.get("trace_id") or "")
        if not run_id:
            return ""
        path = self.out / TRACES / _trace_name(str(base["strategy"]), int(base["max_tokens"]))
        if run_id not in self.traces and path not in self.read:
            self.read.add(path)
            if path.exists():
                with path.open(encoding="utf-8") as fh:
                    for line in fh:
                        rid = json.loads(line).get("run_id") if line.strip() else None
                        if rid:
                            self.traces[rid] = self.traces.get(rid, "") + line
        return self.traces.get(run_id, "")


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
        cfg.strategies,
        reward=cfg.reward,
        overrides=cfg.overrides,
        baselines=cfg.baselines,
        methods=cfg.methods,
        blind_strategy=cfg.blind_strategy,
    )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / TRACES).mkdir(exist_ok=True)
    check_run_config(out, cfg, methods)
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
    waves = _waves(tasks, methods, cfg.budgets) if cfg.reuse_unexhausted else [tasks]
    reuse = _Reuse(out, rows)
    if on_progress:
        on_progress(ProgressEvent(0, len(tasks), resumed, correct, len(rows)))
    new = 0
    interrupted = True

    def commit(outcome: Outcome) -> None:
        nonlocal new, correct
        # Trace first, then the row: the row is the commit point a resume trusts.
        _append_trace(out, outcome.row["strategy"], int(outcome.row["max_tokens"]), outcome.trace_jsonl)
        items_file.append(outcome.row)
        rows.append(outcome.row)
        reuse.add(outcome)
        new += 1
        correct += bool(outcome.row.get("correct"))
        if on_progress:
            on_progress(ProgressEvent(new, len(tasks), resumed, correct, len(rows), outcome.row))

    try:
        for i, wave in enumerate(waves):
            if i:  # a later budget of a budget-independent method: copy what stayed inside
                todo = []
                for task in wave:
                    copied = reuse.copy_for(task, cfg.budgets)
                    if copied is None:
                        todo.append(task)
                    else:
                        commit(copied)
                wave = todo
            outcome: Outcome
            async for outcome in executor.run(wave):
                commit(outcome)
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
