"""LangChain / LangGraph integration: slow thinking as a chat model, a tool, and a subgraph.

* ``O1ChatModel`` — a ``BaseChatModel`` whose reply is the answer of an o1agent search. It
  supports ``invoke``/``ainvoke``/``stream``/``astream``/``batch`` and LCEL like any chat model.
  The final ``AIMessage.content`` is the answer; ``response_metadata`` holds strategy, score,
  run id, model, nodes, tokens and cost; ``usage_metadata`` holds token counts (every completion
  token of the search counts as reasoning). While streaming, each reasoning step arrives as it is
  produced in ``AIMessageChunk.additional_kwargs["reasoning_content"]`` (chunks with empty
  ``content``), then one chunk carries the answer as ``content``. Per-call overrides:
  ``model.invoke(msgs, strategy="greedy", budget={"max_nodes": 8})`` or ``model.bind(...)``.
* ``O1ChatModel.as_tool()`` / ``deep_reason_tool()`` — a ``BaseTool`` named ``deep_reason`` an
  agent can call on a hard sub-question; it returns the answer (the ``Result`` is the artifact).
* ``reasoning_subgraph(...)`` — the compiled reasoning graph, ready to ``add_node`` into a
  user's ``StateGraph`` whose state has ``question`` and ``result`` keys; its
  ``stream_mode="custom"`` events (propose, verify, backtrack, revise, ...) surface in the parent
  with ``subgraphs=True``.

Every search runs on one private event loop in a daemon thread, shared by all ``O1ChatModel``
instances, so a model loaded once (the embedded llama.cpp policy holds an ``asyncio.Lock``) is
safe from sync calls, async calls and ``batch`` threads alike. Each model has one ``Reasoner``
over the shared compiled graph; per-call overrides are a new run context, never a recompile.
Settings are validated when the model is constructed, before any model loads. This module is not
a tool-calling chat model: ``bind_tools`` is not supported (o1agent's own tools belong to the
search).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ..chat import LANGCHAIN_ROLES, answer_or_why, question_from_messages, reasoning_of, step_text, text_of
from ..reasoner import RUN_OVERRIDES, Reasoner, check_options
from ..schema import Budget, Result

T = TypeVar("T")

#: Per-call keyword arguments that change the search (anything else is ignored, as LangChain does).
SEARCH_KWARGS = RUN_OVERRIDES


class _LoopThread:
    """One event loop in a daemon thread; coroutines from any thread or loop run on it."""

    _instance: _LoopThread | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="o1agent-langchain-loop", daemon=True
        )
        self.thread.start()

    @classmethod
    def get(cls) -> _LoopThread:
        with cls._guard:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError("O1ChatModel sync call made from inside its own loop; use the async API")
        return self.submit(coro).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        if asyncio.get_running_loop() is self.loop:
            return await coro
        # wrap_future propagates cancellation of the caller to the task on the private loop.
        return await asyncio.wrap_future(self.submit(coro))


async def _anext(agen: AsyncIterator[T]) -> T:
    # run_coroutine_threadsafe needs a real coroutine, not the awaitable __anext__ returns.
    return await agen.__anext__()


async def _aclose(agen: Any) -> None:
    await agen.aclose()


def question_of(messages: list[BaseMessage]) -> str:
    """The question of a LangChain transcript (see ``o1agent.chat.question_from_messages``)."""
    return question_from_messages((LANGCHAIN_ROLES.get(m.type, m.type), text_of(m.content)) for m in messages)


def response_metadata(result: Result) -> dict[str, Any]:
    u = result.usage
    return {
        "model_name": result.model,
        "model_provider": "o1agent",
        "strategy": result.strategy,
        "score": result.score,
        "run_id": result.run_id,
        "path": [n.id for n in result.best_path],
        "nodes": u.nodes,
        "calls": u.calls,
        "tokens": {"prompt": u.prompt_tokens, "completion": u.completion_tokens, "reused": u.reused_tokens},
        "cost": u.dollars,
        "seconds": result.seconds,
        "budget_exhausted": result.budget_exhausted,
        "exhausted_by": result.exhausted_by,
        "finish_reason": "length" if result.budget_exhausted else "stop",
        "no_answer_reason": result.no_answer_reason,
    }


def usage_metadata(result: Result) -> UsageMetadata:
    u = result.usage
    return UsageMetadata(
        input_tokens=u.prompt_tokens,
        output_tokens=u.completion_tokens,
        total_tokens=u.total_tokens,
        input_token_details={"cache_read": u.reused_tokens},
        output_token_details={"reasoning": u.completion_tokens},
    )


class O1ChatModel(BaseChatModel):
    """A chat model that answers by o1agent's slow-thinking search.

    ``model`` is a model string (``"embedded"``, a ``.gguf`` path, a LiteLLM ``provider/model``)
    or a ``Policy`` object (e.g. ``ScriptedPolicy`` in tests).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any = Field(default="embedded", description="model string or Policy object")
    strategy: Any = Field(default="dfs", description="strategy name or SearchStrategy object")
    strategy_config: dict[str, Any] | None = None
    reward: Any = Field(default="judge", description="reward name, RewardModel, or None")
    budget: Budget | dict[str, Any] | None = None
    seed: int | None = 0
    prompts: Any = "g1"
    api_base: str | None = None
    api_key: str | None = None
    reasoner_kwargs: dict[str, Any] = Field(default_factory=dict, description="more Reasoner(...) options")

    _reasoner: Reasoner | None = PrivateAttr(default=None)
    _guard: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "o1agent"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.model if isinstance(self.model, str) else getattr(self.model, "name", "policy"),
            "strategy": self.strategy
            if isinstance(self.strategy, str)
            else getattr(self.strategy, "name", ""),
            "strategy_config": self.strategy_config,
            "budget": self.budget.model_dump() if isinstance(self.budget, Budget) else self.budget,
            "seed": self.seed,
        }

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Fail at construction, not on the first call: every name and config, no model loaded.
        # (Not a pydantic validator: it would wrap our UserError in a ValidationError.)
        check_options(**self._options())

    def _options(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "strategy_config": self.strategy_config,
            "reward": self.reward,
            "budget": self.budget,
            "seed": self.seed,
            "prompts": self.prompts,
            **self.reasoner_kwargs,
        }

    # ---- reasoner ----------------------------------------------------------------------------

    def reasoner(self) -> Reasoner:
        """This model's one Reasoner (its policy loaded once per process, on first use)."""
        with self._guard:
            if self._reasoner is None:
                self._reasoner = Reasoner(
                    model=self.model, api_base=self.api_base, api_key=self.api_key, **self._options()
                )
            return self._reasoner

    @staticmethod
    def _overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in kwargs.items() if k in SEARCH_KWARGS}

    async def _asolve(self, question: str, **kwargs: Any) -> Result:
        return await self.reasoner().asolve(question, **self._overrides(kwargs))

    # ---- BaseChatModel -----------------------------------------------------------------------

    @staticmethod
    def _message(result: Result) -> AIMessage:
        return AIMessage(
            content=result.answer or "",  # no answer: empty, and response_metadata says why
            additional_kwargs={"reasoning_content": reasoning_of(result)},
            response_metadata=response_metadata(result),
            usage_metadata=usage_metadata(result),
            id=f"run-{result.run_id}" if result.run_id else None,
        )

    def _chat_result(self, result: Result) -> ChatResult:
        msg = self._message(result)
        return ChatResult(generations=[ChatGeneration(message=msg)], llm_output={"result": result})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        question = question_of(messages)
        return self._chat_result(_LoopThread.get().run(self._asolve(question, **kwargs)))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        question = question_of(messages)
        return self._chat_result(await _LoopThread.get().arun(self._asolve(question, **kwargs)))

    async def _events(self, question: str, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        # Runs on the private loop; the callers below pull from it one chunk at a time.
        async for ev in self.reasoner().astream(question, **self._overrides(kwargs)):
            if ev.get("kind") == "result":
                result: Result = ev["result"]
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=result.answer or "",
                        response_metadata=response_metadata(result),
                        usage_metadata=usage_metadata(result),
                    )
                )
                return
            text = step_text(ev)
            if text:
                yield ChatGenerationChunk(
                    message=AIMessageChunk(content="", additional_kwargs={"reasoning_content": text})
                )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        question = question_of(messages)
        lt = _LoopThread.get()
        agen = self._events(question, **kwargs)
        try:
            while True:
                try:
                    chunk = await lt.arun(_anext(agen))
                except StopAsyncIteration:
                    return
                yield chunk
        finally:
            await lt.arun(_aclose(agen))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        question = question_of(messages)
        lt = _LoopThread.get()
        agen = self._events(question, **kwargs)
        try:
            while True:
                try:
                    chunk = lt.run(_anext(agen))
                except StopAsyncIteration:
                    return
                yield chunk
        finally:
            lt.run(_aclose(agen))

    # ---- tool --------------------------------------------------------------------------------

    def as_tool(  # type: ignore[override]
        self,
        name: str = "deep_reason",
        description: str = (
            "Think slowly and carefully about a hard question (maths, logic, multi-step reasoning) and "
            "return the answer. Input: the full question, self-contained."
        ),
        **_: Any,
    ) -> BaseTool:
        """This model as a LangChain tool an agent can call (named ``deep_reason``)."""
        return deep_reason_tool(self, name=name, description=description)


class DeepReasonInput(BaseModel):
    question: str = Field(description="the full, self-contained question to think about")


def deep_reason_tool(
    model: O1ChatModel, *, name: str = "deep_reason", description: str = "Think slowly about a hard question."
) -> BaseTool:
    """A ``StructuredTool`` returning the answer as content and the ``Result`` as its artifact."""
    lt = _LoopThread.get

    def _run(question: str) -> tuple[str, Result]:
        result = lt().run(model._asolve(question))
        return answer_or_why(result), result

    async def _arun(question: str) -> tuple[str, Result]:
        result = await lt().arun(model._asolve(question))
        return answer_or_why(result), result

    return StructuredTool.from_function(
        func=_run,
        coroutine=_arun,
        name=name,
        description=description,
        args_schema=DeepReasonInput,
        response_format="content_and_artifact",
    )


def reasoning_subgraph(model: Any = "embedded", reward: Any = "judge", **reasoner_kwargs: Any) -> Any:
    """The compiled reasoning graph for ``StateGraph.add_node(name, subgraph)``, bound to the
    run context of ``Reasoner(model=model, reward=reward, **reasoner_kwargs)`` (strategy,
    strategy_config, budget, seed, ...: the same options).

    The parent state needs a ``question: str`` key (input) and receives ``result: Result`` —
    the slim one the graph's state keeps (answer, score, path, usage; its ``tree`` and ``trace``
    are empty: ``o1agent.graph.full_result(subgraph_state)`` completes it). Give the parent run a
    large ``recursion_limit``: every expansion costs about three supersteps.
    """
    from ..graph import bind_context

    reasoner = Reasoner(model=model, reward=reward, **reasoner_kwargs)
    # A parent graph cannot pass our context down to a subgraph node: bind it to this graph.
    return bind_context(reasoner.graph, reasoner.context)
