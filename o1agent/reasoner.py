"""The public entry points: ``solve`` / ``asolve`` and the reusable ``Reasoner``.

``Reasoner`` resolves names to objects (``model="embedded"`` → ``LlamaCppPolicy``, ``"openai/x"``
→ ``LiteLLMPolicy``; ``reward="judge"`` → ``LLMJudge``; ``strategy="dfs"`` → the registered
strategy), compiles the reasoning graph once, and runs it per question. It validates input up
front so bad calls fail with a clear ``UserError`` before any model is touched, and if a backend
fails mid-run the best result so far rides on the ``RunError`` as ``.partial``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError, InvalidQuestionError, O1AgentError, RunError, UnknownRewardError
from .graph import ReasoningState, build_reasoning_graph, new_run_id
from .policies import make_policy
from .policies.base import Policy
from .prompts import PromptSet
from .rewards.base import RewardModel
from .schema import Budget, Result, Trace, Usage
from .search.base import SearchStrategy, StrategyConfig, make_strategy

logger = logging.getLogger(__name__)

RewardSpec = str | RewardModel | None


def make_reward(reward: RewardSpec, policy: Policy) -> RewardModel | None:
    """Resolve a reward name: ``"judge"`` (LLMJudge over the policy), ``"none"``, or an object."""
    if reward is None or reward == "none":
        return None
    if not isinstance(reward, str):
        if not hasattr(reward, "score"):
            raise UnknownRewardError(f"reward must be a name or a RewardModel, got {type(reward).__name__}")
        return reward
    from .rewards import registry

    return registry.make_reward(reward, policy)


def validate_question(question: Any) -> str:
    if not isinstance(question, str):
        raise InvalidQuestionError(f"question must be a string, got {type(question).__name__}")
    if not question.strip():
        raise InvalidQuestionError("question is empty")
    return question.strip()


def coerce_budget(budget: Budget | dict[str, Any] | None) -> Budget:
    if budget is None:
        return Budget()
    if isinstance(budget, Budget):
        return budget
    if isinstance(budget, dict):
        try:
            return Budget(**budget)
        except O1AgentError:
            raise
        except Exception as exc:
            raise ConfigError(f"invalid budget {budget!r}: {exc}") from None
    raise ConfigError(f"budget must be a Budget or a dict, got {type(budget).__name__}")


class Reasoner:
    """A compiled reasoning graph with its policy, reward model and strategy, reusable across
    questions. ``await reasoner.asolve(q)`` or ``reasoner.solve(q)``."""

    def __init__(
        self,
        *,
        model: str | Policy = "embedded",
        strategy: str | SearchStrategy = "dfs",
        strategy_config: StrategyConfig | dict[str, Any] | None = None,
        budget: Budget | dict[str, Any] | None = None,
        reward: RewardSpec = "judge",
        prompts: str | Path | PromptSet = "g1",
        api_base: str | None = None,
        api_key: str | None = None,
        seed: int | None = 0,
        decompose: bool = False,
        concurrency: int = 4,
        checkpointer: Any = None,
        tools: list[Any] | None = None,
        interrupt_before_finalize: bool = False,
        policy_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.budget = coerce_budget(budget)
        self.strategy = make_strategy(strategy, strategy_config)
        self.prompts = prompts if isinstance(prompts, PromptSet) else PromptSet(prompts)
        self.policy = make_policy(model, api_base=api_base, api_key=api_key, **(policy_kwargs or {}))
        self.reward = make_reward(reward, self.policy)
        self.seed = seed
        self.graph = build_reasoning_graph(
            self.policy,
            self.reward,
            strategy=self.strategy,
            budget=self.budget,
            prompts=self.prompts,
            checkpointer=checkpointer,
            decompose=decompose,
            seed=seed,
            concurrency=concurrency,
            tools=tools,
            interrupt_before_finalize=interrupt_before_finalize,
        )

    def _config(self, thread_id: str | None) -> dict[str, Any]:
        # Each expansion takes ~3 supersteps; the budget, not LangGraph's default of 25, bounds a run.
        cfg: dict[str, Any] = {"recursion_limit": 1_000_000}
        if thread_id is not None:
            cfg["configurable"] = {"thread_id": thread_id}
        return cfg

    async def astream(
        self,
        question: str,
        *,
        thread_id: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield custom events (dicts with ``kind``) as the search runs; the last has kind ``result``."""
        q = validate_question(question)
        if self.seed is not None and hasattr(self.policy, "reset"):
            # llama.cpp output depends on KV-cache state; a seeded run starts from a clean one.
            self.policy.reset()  # type: ignore[attr-defined]
        run_id = new_run_id()
        state: dict[str, Any] = {}
        inputs: dict[str, Any] | None = {"question": q, "run_id": run_id}
        if thread_id is not None and getattr(self.graph, "checkpointer", None) is not None:
            # Input restarts a thread from START; None continues its last checkpoint (LangGraph).
            snap = await self.graph.aget_state(self._config(thread_id))
            if snap.values and snap.next:
                if snap.values.get("question") != q:
                    raise ConfigError(f"thread {thread_id!r} holds an unfinished run of another question")
                inputs = None
        try:
            async for mode, chunk in self.graph.astream(
                inputs, self._config(thread_id), stream_mode=["custom", "values"]
            ):
                if mode == "values":
                    state = chunk  # type: ignore[assignment]
                else:
                    if on_event is not None:
                        on_event(chunk)  # type: ignore[arg-type]
                    yield chunk  # type: ignore[misc]
        except O1AgentError as exc:
            if isinstance(exc, RunError) and exc.partial is None:
                exc.partial = partial_result(state, self)
            raise
        except Exception as exc:
            raise RunError(
                f"the run failed: {type(exc).__name__}: {exc}", partial=partial_result(state, self)
            ) from exc
        result = state.get("result")
        if result is None and thread_id is not None and getattr(self.graph, "checkpointer", None) is not None:
            snap = await self.graph.aget_state(self._config(thread_id))
            if snap.next == ("finalize",):  # interrupt_before_finalize: waiting for a person
                yield {"kind": "interrupt", "next": list(snap.next), "thread_id": thread_id}
                return
        if result is None:
            raise RunError("the graph ended without a result", partial=partial_result(state, self))
        yield {"kind": "result", "result": result}

    async def asolve(
        self,
        question: str,
        *,
        thread_id: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> Result:
        result: Result | None = None
        async for ev in self.astream(question, thread_id=thread_id, on_event=on_event):
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
        await self.policy.aclose()


def partial_result(state: dict[str, Any] | ReasoningState, reasoner: Reasoner) -> Result | None:
    """Best answer so far from a (possibly interrupted) state: work is never thrown away."""
    tree = state.get("tree") if state else None
    if tree is None or len(tree) <= 1:
        return None
    from .parsing import lenient_answer

    best_id = reasoner.strategy.best(tree, state.get("search") or {})
    path = tree.path(best_id) if best_id else []
    answer = (
        (path[-1].step.answer if path else None) or lenient_answer("\n".join(n.step.raw for n in path)) or ""
    )
    return Result(
        question=state.get("question", ""),
        answer=answer,
        score=path[-1].score if path else None,
        best_path=path,
        tree=tree,
        usage=state.get("usage") or Usage(),
        budget_exhausted=False,
        strategy=reasoner.strategy.name,
        model=reasoner.policy.name,
        run_id=state.get("run_id", ""),
        trace=Trace(events=list(state.get("events") or [])),
    )


def _run_sync(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    raise RuntimeError("solve() was called inside a running event loop; use 'await asolve(...)'")


async def asolve(
    question: str,
    *,
    model: str | Policy = "embedded",
    strategy: str | SearchStrategy = "dfs",
    budget: Budget | dict[str, Any] | None = None,
    reward: RewardSpec = "judge",
    prompts: str | Path | PromptSet = "g1",
    **kwargs: Any,
) -> Result:
    """Solve ``question`` with slow thinking. See ``Reasoner`` for every option."""
    validate_question(question)
    reasoner = Reasoner(
        model=model, strategy=strategy, budget=budget, reward=reward, prompts=prompts, **kwargs
    )
    try:
        return await reasoner.asolve(question)
    finally:
        await reasoner.aclose()


def solve(
    question: str,
    *,
    model: str | Policy = "embedded",
    strategy: str | SearchStrategy = "dfs",
    budget: Budget | dict[str, Any] | None = None,
    reward: RewardSpec = "judge",
    prompts: str | Path | PromptSet = "g1",
    **kwargs: Any,
) -> Result:
    """Synchronous ``asolve``."""
    return _run_sync(
        asolve(
            question, model=model, strategy=strategy, budget=budget, reward=reward, prompts=prompts, **kwargs
        )
    )
