"""The public entry points: ``solve`` / ``asolve`` and the reusable ``Reasoner``.

``Reasoner`` resolves names to objects (``model="embedded"`` → ``LlamaCppPolicy``, ``"openai/x"``
→ ``LiteLLMPolicy``; ``reward="judge"`` → ``LLMJudge``; ``strategy="dfs"`` → the registered
strategy) into one ``RunContext`` and runs the one shared compiled graph with it. Per-call
overrides (``strategy``, ``strategy_config``, ``generation``, ``budget``, ``reward``, ``seed``,
``tools``, ``tool_choice``) make a new context, never a new graph. ``prior_steps`` continue a run
after steps taken before it (an external tool's call and the result its caller sent back). Every name is validated before any model is
loaded, so a bad call fails with a clear ``UserError`` at once; if a backend fails mid-run the
best result so far rides on the ``RunError`` as ``.partial``.

Models named by string are loaded once per process (``policies.shared``), so ``solve()`` in a
loop does not reload the model. Each run is isolated: a thread's next question starts from a
fresh tree, usage and events, and a seeded run on the embedded backend holds it exclusively
(``LlamaCppPolicy.reproducible_run``) instead of resetting it under another run.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ._aio import cancel_and_wait
from .cleanup import StepCleanup
from .config import GenerationConfig, make_generation, split_config
from .errors import ConfigError, InvalidQuestionError, O1AgentError, RunError
from .graph import (
    RunContext,
    build_reasoning_graph,
    build_result,
    choose_answer,
    full_result,
    make_context,
    new_run_id,
    shared_graph,
)
from .graph.context import resolve_tools
from .graph.meter import unrecorded_usage
from .policies.base import Policy, seeded_scope
from .policies.shared import shared_policy
from .prompts import PromptSet
from .rewards.base import RewardModel
from .sanitize import clean_text
from .schema import Budget, Result, Step, Usage
from .search.base import SearchStrategy, StrategyConfig, make_strategy

logger = logging.getLogger(__name__)

RewardSpec = str | RewardModel | None

#: ``solve()``'s default search and reward (one home: ``Reasoner``, ``asolve`` and ``o1agent eval``'s
#: ``default`` method read these).
DEFAULT_STRATEGY = "dfs"
DEFAULT_REWARD = "judge"

#: Per-call keyword arguments that change a run (a new context over the same graph).
RUN_OVERRIDES = (
    "strategy",
    "strategy_config",
    "generation",
    "budget",
    "reward",
    "seed",
    "tools",
    "tool_choice",
)


def check_reward_spec(reward: RewardSpec) -> None:
    """Validate a reward name or object without building anything."""
    from .rewards.registry import check_reward

    check_reward(reward)


def make_reward(reward: RewardSpec, policy: Policy) -> RewardModel | None:
    """Resolve a reward name: ``"judge"`` (LLMJudge over the policy), ``"none"``, or an object."""
    check_reward_spec(reward)
    if reward is None or reward == "none":
        return None
    if not isinstance(reward, str):
        return reward
    from .rewards import registry

    return registry.make_reward(reward, policy)


def validate_question(question: Any) -> str:
    if not isinstance(question, str):
        raise InvalidQuestionError(f"question must be a string, got {type(question).__name__}")
    if not question.strip():
        raise InvalidQuestionError("question is empty")
    # A lone surrogate (a client's "\\ud800") cannot be encoded for any backend, nor written out.
    return clean_text(question.strip())


def coerce_steps(steps: Sequence[Step | dict[str, Any]] | None) -> list[Step]:
    """Prior steps as ``Step`` objects (dicts are validated; anything else is a ``ConfigError``)."""
    out: list[Step] = []
    for i, s in enumerate(steps or []):
        if isinstance(s, Step):
            out.append(s)
        elif isinstance(s, dict):
            try:
                out.append(Step.model_validate(s))
            except ValueError as exc:
                raise ConfigError(f"prior_steps[{i}] is not a step: {exc}") from None
        else:
            raise ConfigError(f"prior_steps[{i}] must be a Step or a dict, got {type(s).__name__}")
    return out


def coerce_budget(budget: Budget | dict[str, Any] | None) -> Budget:
    if budget is None:
        return Budget()
    if isinstance(budget, Budget):
        return budget
    if isinstance(budget, dict):
        return Budget(**budget)
    raise ConfigError(f"budget must be a Budget or a dict, got {type(budget).__name__}")


def _strategy_parts(
    strategy: str | SearchStrategy, strategy_config: StrategyConfig | dict[str, Any] | None
) -> tuple[Any, dict[str, Any]]:
    """(strategy settings, generation settings) from what a caller passed as strategy_config."""
    if isinstance(strategy_config, StrategyConfig):
        return strategy_config, {}
    if strategy_config is not None and not isinstance(strategy_config, dict):
        raise ConfigError(f"strategy_config must be a dict, got {type(strategy_config).__name__}")
    if strategy_config and not isinstance(strategy, str):
        raise ConfigError("pass strategy_config only with a strategy name, not with a strategy object")
    return split_config(strategy_config)


class Reasoner:
    """A policy, reward model, strategy and budget, reusable across questions and threads.

    ``await reasoner.asolve(q)`` or ``reasoner.solve(q)``; ``asolve(q, strategy="beam",
    budget={"max_nodes": 8})`` overrides one call. ``strategy_config`` may also hold generation
    settings (``step_tokens``, ``temperature``, ``greedy_first``, ``max_depth``), which go to the
    ``GenerationConfig``.
    """

    def __init__(
        self,
        *,
        model: str | Policy = "embedded",
        strategy: str | SearchStrategy = DEFAULT_STRATEGY,
        strategy_config: StrategyConfig | dict[str, Any] | None = None,
        generation: GenerationConfig | dict[str, Any] | None = None,
        budget: Budget | dict[str, Any] | None = None,
        reward: RewardSpec = DEFAULT_REWARD,
        prompts: str | Path | PromptSet = "g1",
        api_base: str | None = None,
        api_key: str | None = None,
        seed: int | None = 0,
        decompose: bool = False,
        concurrency: int = 4,
        checkpointer: Any = None,
        tools: Sequence[Any] | Mapping[str, Any] | None = None,
        interrupt_before_finalize: bool = False,
        max_tool_rounds: int = 4,
        tool_choice: str = "auto",
        cleanup: StepCleanup | str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
    ) -> None:
        # Everything that needs no model is checked first: a typo must not cost a model load.
        probe, strat_cfg = check_options(
            strategy=strategy,
            strategy_config=strategy_config,
            generation=generation,
            budget=budget,
            reward=reward,
            prompts=prompts,
            tools=tools,
            seed=seed,
            decompose=decompose,
            concurrency=concurrency,
            max_tool_rounds=max_tool_rounds,
            tool_choice=tool_choice,
            cleanup=cleanup,
        )
        self.policy: Policy = shared_policy(
            model, api_base=api_base, api_key=api_key, **(policy_kwargs or {})
        )
        self._rewards: dict[str, RewardModel | None] = {}
        self._strategy_spec = strategy
        self._strategy_config = strat_cfg
        self.context: RunContext = probe.replace(policy=self.policy, reward=self._reward(reward))
        if checkpointer is None and not interrupt_before_finalize:
            self.graph = shared_graph()
        else:
            self.graph = build_reasoning_graph(
                checkpointer=checkpointer, interrupt_before_finalize=interrupt_before_finalize
            )

    # ---- configuration -----------------------------------------------------------------------

    @property
    def strategy(self) -> SearchStrategy:
        return self.context.strategy

    @property
    def budget(self) -> Budget:
        return self.context.budget

    @property
    def reward(self) -> RewardModel | None:
        return self.context.reward

    @property
    def seed(self) -> int | None:
        return self.context.seed

    @property
    def prompts(self) -> PromptSet:
        return self.context.prompts

    def _reward(self, reward: RewardSpec) -> RewardModel | None:
        if reward is not None and not isinstance(reward, str):
            check_reward_spec(reward)
            return reward
        key = reward or "none"
        if key not in self._rewards:  # a named grader (a PRM may load a model) is built once
            self._rewards[key] = make_reward(key, self.policy)
        return self._rewards[key]

    def context_for(self, **overrides: Any) -> RunContext:
        """The run context with per-call ``overrides`` (names in ``RUN_OVERRIDES``)."""
        unknown = set(overrides) - set(RUN_OVERRIDES)
        if unknown:
            raise ConfigError(f"unknown run options {sorted(unknown)}: use {list(RUN_OVERRIDES)}")
        if not overrides:
            return self.context
        ctx = self.context
        changes: dict[str, Any] = {}
        if "strategy" in overrides or "strategy_config" in overrides or "generation" in overrides:
            spec = overrides.get("strategy") or self._strategy_spec
            same = spec == self._strategy_spec
            cfg, gen_cfg = _strategy_parts(spec, overrides.get("strategy_config"))
            if same and isinstance(spec, str) and isinstance(cfg, dict):
                base = self._strategy_config if isinstance(self._strategy_config, dict) else {}
                cfg = {**base, **cfg}
            gen = make_generation(overrides.get("generation") or ctx.generation, **gen_cfg)
            changes["strategy"] = make_strategy(spec, cfg or None, generation=gen)
            changes["generation"] = gen
        if "budget" in overrides:
            changes["budget"] = coerce_budget(overrides["budget"])
        if "reward" in overrides:
            changes["reward"] = self._reward(overrides["reward"])
        if "seed" in overrides:
            changes["seed"] = overrides["seed"]
        if "tools" in overrides:
            changes["tools"] = resolve_tools(overrides["tools"])
        if "tool_choice" in overrides:
            changes["tool_choice"] = overrides["tool_choice"]
        return ctx.replace(**changes)  # RunContext re-validates (the dollar bound among it)

    def _config(self, thread_id: str | None) -> dict[str, Any]:
        # Each expansion takes ~3 supersteps; the budget, not LangGraph's default of 25, bounds a run.
        cfg: dict[str, Any] = {"recursion_limit": 1_000_000}
        if thread_id is not None:
            cfg["configurable"] = {"thread_id": thread_id}
        return cfg

    # ---- running -----------------------------------------------------------------------------

    async def astream(
        self,
        question: str,
        *,
        thread_id: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        prior_steps: Sequence[Step | dict[str, Any]] | None = None,
        **overrides: Any,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield custom events (dicts with ``kind``) as the search runs; the last has kind ``result``.

        ``prior_steps``: steps taken before this run; every path continues after them."""
        q = validate_question(question)
        prior = coerce_steps(prior_steps)
        ctx = self.context_for(**overrides)
        durable = thread_id is not None and getattr(self.graph, "checkpointer", None) is not None
        if thread_id is not None and not durable:
            raise ConfigError("thread_id needs a Reasoner with a checkpointer")
        inputs: dict[str, Any] | None = {
            "question": q,
            "run_id": new_run_id(),
            "subgoals": [],
            "prior_steps": prior,
        }
        if durable:
            # Input restarts a thread from START; None continues its last unfinished checkpoint.
            snap = await self.graph.aget_state(self._config(thread_id))
            if snap.values and snap.next:
                if snap.values.get("question") != q:
                    raise ConfigError(f"thread {thread_id!r} holds an unfinished run of another question")
                inputs = None
        state: dict[str, Any] = {}
        try:
            async with run_scope(ctx) as run_ctx:
                async for mode, chunk in self.graph.astream(
                    inputs, self._config(thread_id), context=run_ctx, stream_mode=["custom", "values"]
                ):
                    if mode == "values":
                        state = chunk  # type: ignore[assignment]
                        continue
                    if on_event is not None:
                        on_event(chunk)  # type: ignore[arg-type]
                    yield chunk  # type: ignore[misc]
        except Exception as exc:
            err = as_run_error(exc, state, ctx)
            if err is exc:
                raise
            raise err from exc
        result = full_result(state)
        if result is None and durable:
            snap = await self.graph.aget_state(self._config(thread_id))
            if snap.next == ("finalize",):  # interrupt_before_finalize: waiting for a person
                yield {"kind": "interrupt", "next": list(snap.next), "thread_id": thread_id}
                return
        if result is None:
            raise RunError("the graph ended without a result", partial=partial_result(state, ctx))
        yield {"kind": "result", "result": result}

    async def asolve(
        self,
        question: str,
        *,
        thread_id: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        prior_steps: Sequence[Step | dict[str, Any]] | None = None,
        **overrides: Any,
    ) -> Result:
        result: Result | None = None
        async for ev in self.astream(
            question, thread_id=thread_id, on_event=on_event, prior_steps=prior_steps, **overrides
        ):
            if ev.get("kind") == "result":
                result = ev["result"]
            elif ev.get("kind") == "interrupt":
                raise RunError(
                    f"thread {thread_id!r} stopped for review before finalize: "
                    "use o1agent.integrations.checkpoint.approve/reject"
                )
        assert result is not None
        return result

    def solve(self, question: str, **kwargs: Any) -> Result:
        return _run_sync(self.asolve(question, **kwargs))

    async def aclose(self) -> None:
        """Nothing to release: models named by string stay loaded for the process
        (``policies.shared.close_shared_policies`` frees them); policy objects belong to you."""
        return None


@asynccontextmanager
async def run_scope(ctx: RunContext) -> AsyncIterator[RunContext]:
    """Around one run; yields the context to run with. A seeded run on a stateful backend
    (llama.cpp) holds it exclusively from a clean cache, so it reproduces whatever else shares
    the policy: its context carries the key the policy lets through.

    A run that ends by an exception — its caller cancelled (a client that left), its consumer
    gone — cancels its tasks and waits for them, so no model call outlives it (LangGraph leaves
    node tasks running). For a seeded run that happens before the policy is let go."""
    tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
    async with seeded_scope(ctx.policy, ctx.seed) as key:
        changes: dict[str, Any] = {"run_tasks": tasks}
        if key is not None:
            changes["run_key"] = key
        try:
            yield ctx.replace(**changes)
        except BaseException:
            await cancel_and_wait(tasks)
            raise


_LOAD_TIME_OPTIONS = frozenset(
    {"model", "api_base", "api_key", "checkpointer", "interrupt_before_finalize", "policy_kwargs"}
)


def check_options(
    *,
    strategy: Any = DEFAULT_STRATEGY,
    strategy_config: Any = None,
    generation: Any = None,
    budget: Any = None,
    reward: RewardSpec = DEFAULT_REWARD,
    **plan: Any,
) -> tuple[RunContext, Any]:
    """Validate ``Reasoner`` options without loading a model (names, configs, budget, prompts,
    reward). Returns the run context they make over a stand-in policy, and the strategy settings
    left once generation settings were split off. Options only a loaded model can check (the
    model, checkpointer, policy kwargs) are ignored here."""
    plan = {k: v for k, v in plan.items() if k not in _LOAD_TIME_OPTIONS}
    strat_cfg, gen_cfg = _strategy_parts(strategy, strategy_config)
    ctx = make_context(
        policy=_NoPolicy(),
        strategy=strategy,
        strategy_config=strat_cfg or None,
        generation=make_generation(generation, **gen_cfg),
        budget=coerce_budget(budget),
        **plan,
    )
    check_reward_spec(reward)
    return ctx, strat_cfg


class _NoPolicy:
    """Stands in for the policy while names are validated, before any model is loaded."""

    name = "unloaded"
    supports_logprobs = False
    prices_tokens = True  # the dollar check runs again once the real policy is known

    async def complete(self, request: Any) -> list[Any]:
        raise RuntimeError("not a policy")

    async def aclose(self) -> None:
        return None


def as_run_error(exc: Exception, state: dict[str, Any] | None, ctx: RunContext) -> Exception:
    """What a run that raised ``exc`` raises: a ``UserError`` as it is; a ``RunError`` (``exc``
    itself, or one wrapping any other exception) carrying the partial result when nodes exist,
    with the usage of calls that finished inside the failing node counted in it."""
    if isinstance(exc, O1AgentError) and not isinstance(exc, RunError):
        return exc
    err = exc if isinstance(exc, RunError) else RunError(f"the run failed: {type(exc).__name__}: {exc}")
    if err.partial is None:
        err.partial = partial_result(state, ctx, unrecorded=unrecorded_usage(exc))
    return err


def partial_result(
    state: dict[str, Any] | None, ctx: RunContext, *, unrecorded: Usage | None = None
) -> Result | None:
    """Best answer so far from a (possibly interrupted) state: work is never thrown away.
    ``unrecorded``: usage of calls that finished in a node that then failed (not in the state)."""
    tree = state.get("tree") if state else None
    if state is None or tree is None or len(tree) <= 1:
        return None
    ans = choose_answer(tree, state.get("search"), ctx.strategy)
    from .graph.events import full_trace

    return build_result(
        state,
        ans,
        ans.from_path(),
        strategy=ctx.strategy.name,
        model=ctx.policy.name,
        usage=(state.get("usage") or Usage()) + (unrecorded or Usage()),
        trace=full_trace(list(state.get("events") or []), tree),
        exhausted_by=None,
    )


def _run_sync(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("solve() was called inside a running event loop; use 'await asolve(...)'")


async def asolve(
    question: str,
    *,
    model: str | Policy = "embedded",
    strategy: str | SearchStrategy = DEFAULT_STRATEGY,
    budget: Budget | dict[str, Any] | None = None,
    reward: RewardSpec = DEFAULT_REWARD,
    prompts: str | Path | PromptSet = "g1",
    **kwargs: Any,
) -> Result:
    """Solve ``question`` with slow thinking. See ``Reasoner`` for every option. A model named by
    string is loaded once per process, so calling this in a loop does not reload it."""
    validate_question(question)
    reasoner = Reasoner(
        model=model, strategy=strategy, budget=budget, reward=reward, prompts=prompts, **kwargs
    )
    return await reasoner.asolve(question)


def solve(question: str, **kwargs: Any) -> Result:
    """Synchronous ``asolve`` (same options)."""
    return _run_sync(asolve(question, **kwargs))
