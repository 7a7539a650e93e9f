"""Executors: run evaluation tasks (one item × method × budget) and yield finished rows.

``solve_task`` is the one unit of work: build a ``Reasoner`` for the task's method and budget,
solve the item's question, then grade the answer with the item's grader. The grader (which holds
the gold answer) is called only after the solve has returned, so no gold answer can reach the
policy or the search reward.

Two executors share it and produce the same rows (up to timing fields and trace ids) for the same
seed: ``LocalExecutor`` runs tasks in this process on one shared policy; ``RayExecutor`` runs each
task as a Ray task that builds its own policy (the embedded model loads in ~0.15 s). What this is
not: a scheduler with retries — a task that fails (its solve, or a grader that could not judge)
records its error in its row and counts as wrong.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..errors import ConfigError, O1AgentError, RunError
from ..rewards.base import RewardModel, ScoreRequest
from ..schema import Result, Step
from .datasets import EvalItem

logger = logging.getLogger(__name__)


@dataclass
class Task:
    """Everything one solve needs; plain and picklable so it can travel to a Ray worker."""

    item: EvalItem
    grader: RewardModel
    method: str  # the label in the table (e.g. "self_consistency")
    strategy: str  # the registered strategy it runs
    strategy_config: dict[str, Any]
    reward: str
    max_tokens: int
    max_nodes: int | None
    seed: int
    prompts: str = "g1"
    model: Any = "embedded"  # a model string or a Policy object
    api_base: str | None = None
    api_key: str | None = None
    kind: Literal["search", "direct"] = "search"  # direct: o1agent.direct, no step protocol
    tools: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, int, int]:
        return row_key(
            {
                "item_id": self.item.id,
                "strategy": self.method,
                "max_tokens": self.max_tokens,
                "seed": self.seed,
            }
        )


@dataclass
class Outcome:
    """A finished task: its ``items.jsonl`` row and its trace (JSON lines, may be empty)."""

    row: dict[str, Any]
    trace_jsonl: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def row_key(row: dict[str, Any]) -> tuple[str, str, int, int]:
    """The resume key: item id × strategy label × token budget × seed."""
    return (str(row["item_id"]), str(row["strategy"]), int(row["max_tokens"]), int(row["seed"]))


def resolve_model(model: Any, *, api_base: str | None = None, api_key: str | None = None) -> Any:
    """A Policy for ``model``: objects pass through, ``"py:module:attr"`` imports a Policy (or a
    zero-argument factory of one), anything else goes to ``make_policy``."""
    from ..policies import make_policy

    if isinstance(model, str) and model.startswith("py:"):
        target = model[3:]
        mod_name, _, attr = target.partition(":")
        if not mod_name or not attr:
            raise ConfigError(f"--model {model!r}: expected py:module:attribute")
        try:
            obj: Any = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"--model {model!r}: cannot import {target}: {exc}") from None
        policy: Any = obj() if callable(obj) and not hasattr(obj, "complete") else obj
        return make_policy(policy)
    return make_policy(model, api_base=api_base, api_key=api_key)


def _final_step(result: Result) -> Step:
    # Grade what the run answered, with the whole chosen path as text: graders that extract code
    # blocks or last numbers look at the text, and a budget-cut path may hold its answer early.
    raw = "\n".join(n.step.raw or n.step.text for n in result.best_path)
    return Step(title="answer", text=raw, raw=raw, answer=result.answer or None, is_final=True)


async def grade(grader: RewardModel, item: EvalItem, result: Result | None) -> tuple[float, str, str | None]:
    """``(score, rationale, error)`` of ``result`` under ``grader``; no result scores 0.

    ``error`` is set when the grader could not judge (it raised, or returned ``Verdict.error``: a
    sandbox that did not start, a judge backend that was down). The row then counts as wrong
    *and* as an error, so the summary shows it instead of passing it off as a wrong answer.
    """
    if result is None:
        return 0.0, "no result", None
    try:
        verdicts = await grader.score([ScoreRequest(question=item.question, candidate=_final_step(result))])
    except Exception as exc:  # a grader bug must not lose the row: score it 0 and say why
        logger.warning("grading %s failed: %s", item.id, exc)
        why = f"grader raised {type(exc).__name__}: {exc}"
        return 0.0, why, why
    v = verdicts[0]
    if v.error is not None:
        logger.warning("grading %s: the grader could not judge: %s", item.id, v.error)
        return 0.0, v.rationale or v.error, f"grading: {v.error}"
    return float(v.score or 0.0), v.rationale, None


async def solve_task(task: Task, policy: Any = None) -> Outcome:
    """Solve and grade one task. ``policy`` overrides ``task.model`` (to share a loaded model)."""
    from ..reasoner import Reasoner

    t0 = time.perf_counter()
    model = (
        policy
        if policy is not None
        else resolve_model(task.model, api_base=task.api_base, api_key=task.api_key)
    )
    result: Result | None = None
    error: str | None = None
    try:
        # The solver sees the question only; the gold answer stays in task.grader.
        if task.kind == "direct":
            from ..direct import adirect

            result = await adirect(
                task.item.question,
                policy=model,
                config=task.strategy_config,
                prompts=task.prompts,
                seed=task.seed,
            )
        else:
            reasoner = Reasoner(
                model=model,
                strategy=task.strategy,
                strategy_config=task.strategy_config or None,
                budget={"max_tokens": task.max_tokens, "max_nodes": task.max_nodes},
                reward=task.reward,
                prompts=task.prompts,
                api_base=task.api_base,
                api_key=task.api_key,
                seed=task.seed,
                tools=task.tools or None,
            )
            result = await reasoner.asolve(task.item.question)
    except RunError as exc:
        result = exc.partial
        error = str(exc)
    except O1AgentError:
        raise
    except Exception as exc:  # an unexpected crash on one item is recorded, not fatal to the run
        error = f"{type(exc).__name__}: {exc}"
    solve_seconds = time.perf_counter() - t0
    score, rationale, grade_error = await grade(task.grader, task.item, result)
    error = error or grade_error
    usage = result.usage if result is not None else None
    row = {
        "item_id": task.item.id,
        "strategy": task.method,
        "max_tokens": task.max_tokens,
        "seed": task.seed,
        "question": task.item.question,
        "gold": task.item.gold,
        "answer": result.answer if result is not None else None,
        "no_answer_reason": result.no_answer_reason if result is not None else "no result",
        "correct": score >= 1.0,
        "score": score,
        "grade": rationale,
        "tokens": usage.total_tokens if usage else 0,
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "seconds": round(solve_seconds, 4),
        "nodes": usage.nodes if usage else 0,
        "calls": usage.calls if usage else 0,
        "budget_exhausted": bool(result.budget_exhausted) if result is not None else False,
        "exhausted_by": result.exhausted_by if result is not None else None,
        "trace_id": result.run_id if result is not None else "",
        "strategy_name": task.strategy,
        "strategy_config": task.strategy_config,
        "reward": task.reward,
        "kind": task.kind,
        "tools": task.tools,
        "prompts": task.prompts,
        "model": result.model if result is not None else str(getattr(policy, "name", task.model)),
        "error": error,
        # What an adaptive strategy spent on this item and why (samples, stopping reason).
        "allocation": result.allocation if result is not None else None,
    }
    trace = result.trace.jsonl() if result is not None else ""
    return Outcome(row=row, trace_jsonl=trace)


class Executor(Protocol):
    name: str

    def run(self, tasks: Sequence[Task]) -> AsyncIterator[Outcome]: ...


class LocalExecutor:
    """Runs tasks in this process, ``concurrency`` at a time, on one shared policy.

    Outcomes are yielded as tasks finish; with ``concurrency=1`` (the default, and the only sane
    choice for the in-process model, which computes one request at a time) in task order.
    """

    name = "local"

    def __init__(self, *, concurrency: int = 1, policy: Any = None) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.policy = policy

    async def run(self, tasks: Sequence[Task]) -> AsyncIterator[Outcome]:
        if self.concurrency == 1:
            for task in tasks:
                yield await solve_task(task, self.policy)
            return
        queue: asyncio.Queue[Outcome | BaseException] = asyncio.Queue()
        sem = asyncio.Semaphore(self.concurrency)

        async def one(task: Task) -> None:
            async with sem:
                try:
                    await queue.put(await solve_task(task, self.policy))
                except BaseException as exc:  # surface config errors in the consumer
                    await queue.put(exc)
                    raise

        workers = [asyncio.create_task(one(t)) for t in tasks]
        try:
            for _ in workers:
                got = await queue.get()
                if isinstance(got, BaseException):
                    raise got
                yield got
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


def _ray_solve(task: Task) -> Outcome:
    # Runs in a Ray worker: a fresh event loop and a freshly built Reasoner per task.
    return asyncio.run(solve_task(task))


class RayExecutor:
    """Runs each task as a Ray task. ``address`` joins a cluster; otherwise a local Ray instance
    with ``num_cpus`` CPUs is started (and shut down again at the end)."""

    name = "ray"

    def __init__(
        self, *, address: str | None = None, num_cpus: int = 2, max_in_flight: int | None = None
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.max_in_flight = max_in_flight

    def _init(self) -> tuple[Any, bool]:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'o1agent[eval]'") from None
        if ray.is_initialized():
            return ray, False
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
        return ray, True

    async def run(self, tasks: Sequence[Task]) -> AsyncIterator[Outcome]:
        if not tasks:
            return
        ray, started = self._init()
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_solve)
        # Bound what is queued so an interrupted run does not leave thousands of tasks behind.
        limit = self.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 2)))
        pending: list[Any] = []
        todo = list(tasks)
        try:
            while todo or pending:
                while todo and len(pending) < limit:
                    pending.append(remote.remote(todo.pop(0)))
                ready, pending = await asyncio.to_thread(ray.wait, pending, num_returns=1)
                for ref in ready:
                    yield await asyncio.to_thread(ray.get, ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def make_executor(
    name: str, *, concurrency: int = 1, policy: Any = None, ray_address: str | None = None
) -> Any:
    if name == "local":
        return LocalExecutor(concurrency=concurrency, policy=policy)
    if name == "ray":
        return RayExecutor(address=ray_address)
    raise ConfigError(f"unknown executor {name!r}: choose 'local' or 'ray'")
