"""Test doubles for ``LiteLLMPolicy`` unit tests: real ``litellm`` response objects and a fake
``litellm.acompletion`` / ``atext_completion`` that records every call. Real-server tests use
``tests/llama_server.py`` instead."""

from __future__ import annotations

import asyncio
from typing import Any

import litellm

# -- doubles --------------------------------------------------------------------------------------


def response(
    texts: list[str | None] | str | None = "hello",
    *,
    model: str = "smollm2",
    prompt_tokens: int = 10,
    completion_tokens: int | None = None,
    finish_reason: str = "stop",
    logprobs: list[dict[str, Any]] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    cached: int | None = None,
) -> litellm.ModelResponse:
    """A real ``litellm.ModelResponse`` as a provider would return it."""
    items = texts if isinstance(texts, list) else [texts]
    choices = []
    for i, t in enumerate(items):
        msg: dict[str, Any] = {"role": "assistant", "content": t}
        if tool_calls is not None:
            msg["tool_calls"] = tool_calls
        ch: dict[str, Any] = {"index": i, "finish_reason": finish_reason, "message": msg}
        if logprobs is not None:
            ch["logprobs"] = {"content": logprobs}
        choices.append(ch)
    if completion_tokens is None:
        completion_tokens = sum(len((t or "").split()) for t in items)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return litellm.ModelResponse(model=model, choices=choices, usage=usage)


class FakeBackend:
    """Stands in for ``litellm.acompletion``: records every call, answers from ``handler``."""

    def __init__(self, handler: Any = None, *, delay: float = 0.0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.handler = handler or (lambda params, i: response("hello"))
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, **params: Any) -> Any:
        self.calls.append(params)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            out = self.handler(params, len(self.calls) - 1)
            if isinstance(out, BaseException):
                raise out
            return out
        finally:
            self.in_flight -= 1


def text_response(
    texts: list[str] | str = "hello",
    *,
    prompt_tokens: int = 10,
    completion_tokens: int | None = None,
    finish_reason: str = "stop",
    logprobs: list[dict[str, Any]] | None = None,
    raw_extra: dict[str, Any] | None = None,
) -> Any:
    """A real ``litellm.TextCompletionResponse`` (legacy ``/v1/completions``). ``logprobs`` is a
    list of ``{token, logprob}``; ``raw_extra`` adds fields to the choices of the JSON LiteLLM
    keeps as received (vLLM's ``stop_reason``)."""
    import json

    items = texts if isinstance(texts, list) else [texts]
    choices = []
    for i, t in enumerate(items):
        ch: dict[str, Any] = {"index": i, "text": t, "finish_reason": finish_reason, "logprobs": None}
        if logprobs is not None:
            ch["logprobs"] = {
                "tokens": [x["token"] for x in logprobs],
                "token_logprobs": [x["logprob"] for x in logprobs],
                "top_logprobs": [{x["token"]: x["logprob"]} for x in logprobs],
                "text_offset": list(range(len(logprobs))),
            }
        choices.append(ch)
    if completion_tokens is None:
        completion_tokens = sum(len(t.split()) for t in items)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    body = {
        "id": "cmpl-test",
        "object": "text_completion",
        "model": "smollm2",
        "choices": choices,
        "usage": usage,
    }
    resp = litellm.TextCompletionResponse(**body)
    raw = {**body, "choices": [{**c, **(raw_extra or {})} for c in choices]}
    resp._hidden_params.original_response = json.dumps(raw)
    return resp


def record_sleeps(monkeypatch: Any) -> list[float]:
    """Make ``asyncio.sleep`` return at once and record each delay asked for (retry waits)."""
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float, *a: Any, **k: Any) -> None:
        sleeps.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", record)
    return sleeps
