"""Tests of ``LiteLLMPolicy``: unit tests with a fake ``litellm.acompletion`` (retries, errors, n
emulation, usage, prefix handling, parsing) and slow tests against a real ``llama_cpp.server`` on
loopback (completion, seeded n, logprobs, end-to-end ``solve`` and the CLI)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import litellm
import pytest
from litellm_doubles import FakeBackend, record_sleeps, response

import o1agent
from o1agent.errors import BackendError, BackendUnreachableError, ConfigError, UnknownModelError
from o1agent.policies import make_policy
from o1agent.policies.base import CompletionRequest, Message
from o1agent.policies.litellm import (
    LiteLLMPolicy,
    fold_prefix,
    is_retryable,
    map_finish_reason,
    parse_tool_calls,
    strip_prefix_echo,
)

REPO = Path(__file__).resolve().parent.parent


# -- doubles (tests/litellm_doubles.py) ---------------------------------------------------------


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch):
    def install(handler: Any = None, **kw: Any) -> FakeBackend:
        backend = FakeBackend(handler, **kw)
        monkeypatch.setattr(litellm, "acompletion", backend)
        return backend

    return install


def policy(**kw: Any) -> LiteLLMPolicy:
    kw.setdefault("api_base", "http://127.0.0.1:9/v1")
    kw.setdefault("retry_wait", 0.001)
    return LiteLLMPolicy(kw.pop("model", "openai/smollm2"), **kw)


def req(text: str = "What is 2+3?", **kw: Any) -> CompletionRequest:
    return CompletionRequest(messages=[Message(role="user", content=text)], **kw)


_HTTP = httpx.Response(429, request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))


def rate_limited() -> Exception:
    return litellm.RateLimitError("slow down", llm_provider="openai", model="smollm2", response=_HTTP)


# -- construction ---------------------------------------------------------------------------------


def test_unknown_provider_names_the_model_string() -> None:
    with pytest.raises(UnknownModelError, match="nosuchprovider/model-x"):
        LiteLLMPolicy("nosuchprovider/model-x")


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="concurrency"):
        policy(concurrency=0)
    with pytest.raises(ConfigError, match="timeout"):
        policy(timeout=0)
    with pytest.raises(ConfigError, match="max_retries"):
        policy(max_retries=-1)


def test_make_policy_resolves_provider_strings_to_litellm() -> None:
    p = make_policy("anthropic/claude-3-5-haiku-latest", api_key="k")
    assert isinstance(p, LiteLLMPolicy)
    assert p.provider == "anthropic"
    assert p.name == "anthropic/claude-3-5-haiku-latest"
    assert not p.supports_logprobs
    h = make_policy("hosted_vllm/qwen", api_base="http://127.0.0.1:8000/v1")
    assert isinstance(h, LiteLLMPolicy) and h.supports_logprobs


# -- request building ------------------------------------------------------------------------------


async def test_request_parameters_reach_litellm(fake) -> None:
    backend = fake()
    p = policy(api_key="secret", timeout=30)
    await p.complete(req(max_tokens=17, temperature=0.5, top_p=0.9, seed=3, stop=["\n\n"]))
    (params,) = backend.calls
    assert params["model"] == "openai/smollm2"
    assert params["api_base"] == "http://127.0.0.1:9/v1"
    assert params["api_key"] == "secret"
    assert params["max_tokens"] == 17
    assert params["temperature"] == 0.5
    assert params["top_p"] == 0.9
    assert params["seed"] == 3
    assert params["stop"] == ["\n\n"]
    assert "n" not in params
    # Our tenacity loop is the only retry layer; connect timeout is short, read timeout as given.
    assert params["max_retries"] == 0
    assert params["timeout"].read == 30 and params["timeout"].connect == 5.0
    # llama_cpp.server's repeat_penalty default (1.1) is neutralised for local OpenAI servers.
    assert params["extra_body"] == {"repeat_penalty": 1.0}


async def test_extra_body_user_values_override_defaults(fake) -> None:
    backend = fake()
    await policy(extra_body={"repeat_penalty": 1.3, "top_k": 5}).complete(req())
    assert backend.calls[0]["extra_body"] == {"repeat_penalty": 1.3, "top_k": 5}


async def test_no_repeat_penalty_without_a_local_api_base(fake) -> None:
    backend = fake()
    await LiteLLMPolicy("openai/gpt-4o-mini", api_key="k").complete(req())
    await LiteLLMPolicy("openai/gpt-4o-mini", api_base="https://api.openai.com/v1", api_key="k").complete(
        req()
    )
    assert all("extra_body" not in c for c in backend.calls)


async def test_server_rejecting_repeat_penalty_gets_it_dropped(fake) -> None:
    def handler(params: dict[str, Any], i: int) -> Any:
        if "repeat_penalty" in (params.get("extra_body") or {}):
            return litellm.BadRequestError("Unrecognized request argument: repeat_penalty", "openai", "x")
        return response("ok")

    backend = fake(handler)
    p = policy()
    out = await p.complete(req())
    assert out[0].text == "ok"
    await p.complete(req())
    assert len(backend.calls) == 3  # rejected, retried without it, then never sent again
    assert "extra_body" not in backend.calls[2]


async def test_assistant_prefix_is_appended_to_last_user_message(fake) -> None:
    backend = fake(lambda params, i: response("Step 2: add them: 5"))
    p = policy()
    request = CompletionRequest(
        messages=[
            Message(role="system", content="Reason in steps."),
            Message(role="user", content="What is 2+3?"),
        ],
        assistant_prefix="Step 1: Read it.\n\nStep 2:",
    )
    out = await p.complete(request)
    sent = backend.calls[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[1]["content"] == "What is 2+3?\n\nYour answer so far:\nStep 1: Read it.\n\nNow write Step 2."
    # The model restated "Step 2:"; the text is what follows the prefix, as with llama.cpp.
    assert out[0].text == "add them: 5"
    assert "[system]\nReason in steps." in out[0].rendered_prompt
    assert "Your answer so far:" in out[0].rendered_prompt
    assert request.messages[1].content == "What is 2+3?"  # the request itself is not mutated


async def test_assistant_prefix_after_an_assistant_turn_and_assistant_mode(fake) -> None:
    backend = fake()
    request = CompletionRequest(
        messages=[Message(role="user", content="Q"), Message(role="assistant", content="A")],
        assistant_prefix="Step 1:",
    )
    await policy().complete(request)
    assert backend.calls[0]["messages"][-1] == {"role": "user", "content": "Now write Step 1."}
    await policy(mode="prefill").complete(req(assistant_prefix="Step 1:"))
    assert backend.calls[1]["messages"][-1] == {"role": "assistant", "content": "Step 1:"}


def test_fold_prefix() -> None:
    assert fold_prefix("Step 1:") == "Now write Step 1."
    assert (
        fold_prefix("Step 1: a\n\nStep 2: b\n\nStep 3:")
        == "Your answer so far:\nStep 1: a\n\nStep 2: b\n\nNow write Step 3."
    )
    # Not a label: the text itself is to be continued.
    assert (
        fold_prefix("The sum is")
        == "Your answer so far:\nThe sum is\n\nContinue it from exactly where it stops."
    )


def test_strip_prefix_echo() -> None:
    prefix = "Step 1: Read it.\n\nStep 2:"
    assert strip_prefix_echo("Step 1: Read it.\n\nStep 2: add", prefix) == "add"
    assert strip_prefix_echo("  Step 2: add", prefix) == "add"
    assert strip_prefix_echo("add", prefix) == "add"
    assert strip_prefix_echo("Step 20 is wrong", "Step 2") == "Step 20 is wrong"  # not a label echo
    assert strip_prefix_echo("anything", "") == "anything"


# -- responses ------------------------------------------------------------------------------------


async def test_finish_reason_mapping(fake) -> None:
    fake(lambda params, i: response("x", finish_reason=["stop", "stop", "length"][i]))
    p = policy()
    assert (await p.complete(req()))[0].finish_reason == "eos"  # no stop sequences: model ended
    assert (await p.complete(req(stop=["Step 3:"])))[0].finish_reason == "stop"  # ambiguous
    assert (await p.complete(req()))[0].finish_reason == "length"
    assert map_finish_reason(None, []) is None
    assert map_finish_reason("tool_calls", []) == "tool_calls"


async def test_client_side_stops_tell_eos_from_a_stop_sequence(fake) -> None:
    lps = [{"token": t, "logprob": -0.5, "top_logprobs": []} for t in ["Add", " 2", ".\n", "Step", " 2", ":"]]
    texts = {0: ("Add 2.\nStep 2: more", "length"), 1: ("Final answer: 5", "stop"), 2: ("Add 2.", "length")}
    backend = fake(
        lambda params, i: response(
            texts[i][0], finish_reason=texts[i][1], logprobs=lps if i == 0 else None, completion_tokens=6
        )
    )
    p = policy(stop_mode="client")
    (cut,) = await p.complete(req(stop=["Step 2:"], logprobs=True))
    assert "stop" not in backend.calls[0]  # never sent: the cut is made here
    assert cut.text == "Add 2.\n" and cut.finish_reason == "stop"
    assert cut.logprobs is not None and [t.token for t in cut.logprobs] == ["Add", " 2", ".\n"]
    assert cut.completion_tokens == 6  # what the provider wrote past the cut is still billed
    (ended,) = await p.complete(req(stop=["Step 2:"]))
    assert ended.text == "Final answer: 5" and ended.finish_reason == "eos"  # its own end of turn
    (long,) = await p.complete(req(stop=["Step 2:"]))
    assert long.finish_reason == "length"
    with pytest.raises(ConfigError, match="stop_mode"):
        policy(stop_mode="both")


async def test_empty_or_missing_content_is_empty_text(fake) -> None:
    fake(
        lambda params, i: [response(None, completion_tokens=0), litellm.ModelResponse(model="m", choices=[])][
            i
        ]
    )
    p = policy()
    (a,) = await p.complete(req())
    assert a.text == "" and a.prompt_tokens == 10
    (b,) = await p.complete(req())
    assert b.text == ""


async def test_usage_cost_and_cached_tokens(fake) -> None:
    fake(
        lambda params, i: response(
            "hi there", model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=100, cached=400
        )
    )
    (c,) = await LiteLLMPolicy("openai/gpt-4o-mini", api_key="k").complete(req())
    assert (c.prompt_tokens, c.completion_tokens, c.reused_tokens) == (1000, 100, 400)
    assert c.dollars > 0
    assert c.seconds >= 0


async def test_local_alias_costs_nothing(fake) -> None:
    fake()
    (c,) = await policy().complete(req())
    assert c.dollars == 0.0


async def test_logprobs_are_parsed(fake) -> None:
    lps = [
        {
            "token": "5",
            "logprob": -0.1,
            "top_logprobs": [{"token": "5", "logprob": -0.1}, {"token": "6", "logprob": -2.4}],
        },
        {"token": ".", "logprob": -0.3, "top_logprobs": []},
    ]
    backend = fake(lambda params, i: response("5.", logprobs=lps, completion_tokens=2))
    p = policy()
    (c,) = await p.complete(req(logprobs=True, top_logprobs=2))
    assert backend.calls[0]["logprobs"] is True and backend.calls[0]["top_logprobs"] == 2
    assert c.logprobs is not None and [t.token for t in c.logprobs] == ["5", "."]
    assert c.logprobs[0].top == {"5": -0.1, "6": -2.4}
    assert c.mean_logprob == pytest.approx(-0.2)
    (d,) = await p.complete(req())
    assert d.logprobs is None and "logprobs" not in backend.calls[1]


async def test_backend_without_logprobs_is_remembered(fake) -> None:
    backend = fake()
    p = policy()
    assert p.supports_logprobs
    (c,) = await p.complete(req(logprobs=True))
    assert c.logprobs is None
    assert not p.supports_logprobs
    await p.complete(req(logprobs=True))
    assert "logprobs" not in backend.calls[1]


async def test_tool_calls_are_returned_as_dicts(fake) -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": '{"expr": "2+3"}'}},
        {"id": "c2", "type": "function", "function": {"name": "calculator", "arguments": '{"expr": '}},
    ]
    backend = fake(
        lambda params, i: response(None, tool_calls=calls, finish_reason="tool_calls", completion_tokens=9)
    )
    tools = [{"type": "function", "function": {"name": "calculator", "parameters": {"type": "object"}}}]
    p = policy(tool_choice="auto")
    (c,) = await p.complete(req(tools=tools))
    assert backend.calls[0]["tools"] == tools and backend.calls[0]["tool_choice"] == "auto"
    assert c.text == "" and c.finish_reason == "tool_calls"
    assert c.tool_calls[0] == {
        "id": "c1",
        "name": "calculator",
        "arguments": {"expr": "2+3"},
        "raw_arguments": '{"expr": "2+3"}',
    }
    assert c.tool_calls[1]["arguments"] == {} and c.tool_calls[1]["raw_arguments"] == '{"expr": '
    await p.complete(req())
    assert "tool_choice" not in backend.calls[1] and "tools" not in backend.calls[1]
    assert parse_tool_calls(None) == []


# -- n ------------------------------------------------------------------------------------------


async def test_n_is_emulated_with_seeds_when_backend_ignores_it(fake) -> None:
    backend = fake(
        lambda params, i: response(f"sample seed={params.get('seed')}", prompt_tokens=20, completion_tokens=3)
    )
    p = policy()
    assert p.supports_n is None
    out = await p.complete(req(n=3, seed=10, temperature=0.8))
    assert [c.text for c in out] == ["sample seed=10", "sample seed=11", "sample seed=12"]
    assert [c.seed for c in out] == [10, 11, 12]
    assert backend.calls[0]["n"] == 3
    assert [c.get("n") for c in backend.calls[1:]] == [None, None]
    assert p.supports_n is False
    # Each real request billed its prompt once.
    assert sum(c.prompt_tokens for c in out) == 60
    assert sum(c.completion_tokens for c in out) == 9
    # Later calls go straight to emulation: three requests, none asking for n.
    out2 = await p.complete(req(n=3, seed=10, temperature=0.8))
    assert len(backend.calls) == 6
    assert all("n" not in c for c in backend.calls[3:])
    assert sorted(c["seed"] for c in backend.calls[3:]) == [10, 11, 12]
    assert [c.text for c in out2] == [c.text for c in out]


async def test_n_without_seed_sends_no_seed(fake) -> None:
    backend = fake()
    out = await policy(supports_n=False).complete(req(n=2, temperature=0.7))
    assert len(out) == 2 and all("seed" not in c for c in backend.calls)


async def test_native_n_bills_the_prompt_once(fake) -> None:
    backend = fake(
        lambda params, i: response(["a b c", "d e f g h i"], prompt_tokens=50, completion_tokens=9)
    )
    p = policy()
    out = await p.complete(req(n=2, seed=1, temperature=0.8))
    assert len(backend.calls) == 1 and p.supports_n is True
    assert [c.prompt_tokens for c in out] == [50, 0]
    assert sum(c.completion_tokens for c in out) == 9
    assert out[0].completion_tokens < out[1].completion_tokens


async def test_emulated_n_is_concurrent_but_bounded(fake) -> None:
    backend = fake(delay=0.05)
    out = await policy(concurrency=2, supports_n=False).complete(req(n=5, seed=0))
    assert len(out) == 5
    assert backend.max_in_flight == 2


def test_policy_is_reusable_across_event_loops(fake) -> None:
    # solve() runs each question under its own asyncio.run; the semaphore must follow the loop.
    fake(delay=0.01)
    p = policy(concurrency=1, supports_n=False)
    for _ in range(2):
        assert len(asyncio.run(p.complete(req(n=3, seed=0)))) == 3


async def test_n_below_one_is_a_config_error(fake) -> None:
    fake()
    with pytest.raises(ConfigError, match="n must be"):
        await policy().complete(req(n=0))


# -- retries and errors ---------------------------------------------------------------------------


async def test_rate_limit_is_retried_with_backoff(fake) -> None:
    backend = fake(lambda params, i: rate_limited() if i < 2 else response("finally"))
    (c,) = await policy(max_retries=3).complete(req())
    assert c.text == "finally"
    assert len(backend.calls) == 3


@pytest.mark.parametrize(
    "make_exc",
    [
        lambda: litellm.InternalServerError("boom", llm_provider="openai", model="m"),
        lambda: litellm.ServiceUnavailableError("busy", llm_provider="openai", model="m"),
        rate_limited,
    ],
    ids=["500", "503", "429"],
)
async def test_server_errors_are_retried_then_raise_backend_error(fake, make_exc) -> None:
    backend = fake(lambda params, i: make_exc())
    with pytest.raises(BackendError, match="after 3 attempts") as info:
        await policy(max_retries=2).complete(req())
    assert not isinstance(info.value, BackendUnreachableError)
    assert len(backend.calls) == 3


async def test_backoff_waits_grow(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(lambda params, i: rate_limited())
    sleeps = record_sleeps(monkeypatch)
    with pytest.raises(BackendError):
        await policy(max_retries=3, retry_wait=1.0).complete(req())
    waits = [s for s in sleeps if s > 0]
    assert len(waits) == 3
    # initial 1s doubling, plus up to 1s jitter: [1,2) [2,3) [4,5)
    assert 1.0 <= waits[0] < 2.0 and 2.0 <= waits[1] < 3.0 and 4.0 <= waits[2] < 5.0


@pytest.mark.parametrize(
    "make_exc",
    [
        lambda: litellm.BadRequestError("bad request", "openai", "m"),
        lambda: litellm.AuthenticationError("bad key", "openai", "m"),
        lambda: litellm.NotFoundError("no such model", "openai", "m"),
        lambda: litellm.ContextWindowExceededError("too long", "m", "openai"),
    ],
    ids=["400", "401", "404", "context"],
)
async def test_client_errors_are_not_retried(fake, make_exc) -> None:
    backend = fake(lambda params, i: make_exc())
    with pytest.raises(BackendError) as info:
        await policy(max_retries=3).complete(req())
    assert len(backend.calls) == 1
    assert "openai/smollm2" in str(info.value) and "HTTP 4" in str(info.value)


async def test_timeouts_are_retried_then_unreachable(fake) -> None:
    backend = fake(lambda params, i: litellm.Timeout("read timed out", model="m", llm_provider="openai"))
    with pytest.raises(BackendUnreachableError, match=r"127\.0\.0\.1:9"):
        await policy(max_retries=2).complete(req())
    assert len(backend.calls) == 3


async def test_non_network_api_connection_error_is_not_retried(fake) -> None:
    # LiteLLM wraps even an ImportError as APIConnectionError; that is not an outage.
    def handler(params: dict[str, Any], i: int) -> Exception:
        try:
            raise ModuleNotFoundError("No module named 'mcp'")
        except ModuleNotFoundError as exc:
            err = litellm.APIConnectionError("No module named 'mcp'", llm_provider="openai", model="m")
            err.__cause__ = exc
            return err

    backend = fake(handler)
    with pytest.raises(BackendError, match="mcp") as info:
        await policy(max_retries=3).complete(req())
    assert not isinstance(info.value, BackendUnreachableError)
    assert len(backend.calls) == 1


def test_is_retryable_classification() -> None:
    assert is_retryable(rate_limited())
    assert is_retryable(litellm.Timeout("t", model="m", llm_provider="openai"))
    assert is_retryable(httpx.ConnectError("refused"))
    assert not is_retryable(litellm.BadRequestError("bad", "openai", "m"))
    assert not is_retryable(ValueError("nope"))


async def test_unreachable_port_fails_fast() -> None:
    """A real request to a port nothing listens on: BackendUnreachableError in seconds, not minutes."""
    from llama_server import free_port

    base = f"http://127.0.0.1:{free_port()}/v1"
    p = LiteLLMPolicy("openai/smollm2", api_base=base)
    t0 = time.perf_counter()
    with pytest.raises(BackendUnreachableError) as info:
        await p.complete(req(max_tokens=4))
    elapsed = time.perf_counter() - t0
    assert base in str(info.value)
    assert elapsed < 5.0, f"took {elapsed:.1f}s"
    assert p.requests_made == 2  # a refused connection is retried once, not max_retries times


# -- against a real llama_cpp.server ---------------------------------------------------------------


@pytest.mark.slow
async def test_real_server_completion(llama_server) -> None:
    p = LiteLLMPolicy(llama_server.model, api_base=llama_server.base_url)
    (c,) = await p.complete(req("What is 2+3? Answer with a number.", max_tokens=24))
    assert c.text.strip()
    assert c.prompt_tokens > 5 and 0 < c.completion_tokens <= 24
    assert c.finish_reason in ("eos", "length")
    assert c.dollars == 0.0
    assert "[user]\nWhat is 2+3?" in c.rendered_prompt


@pytest.mark.slow
async def test_real_server_seeded_n_is_emulated_and_reproducible(llama_server) -> None:
    p = LiteLLMPolicy(llama_server.model, api_base=llama_server.base_url)
    request = req("Name a fruit.", n=3, seed=7, temperature=1.0, max_tokens=12)
    out = await p.complete(request)
    assert len(out) == 3
    assert p.supports_n is False  # llama_cpp.server returned one choice for n=3
    assert [c.seed for c in out] == [7, 8, 9]
    assert all(c.prompt_tokens == out[0].prompt_tokens > 0 for c in out)  # each request billed
    assert len({c.text for c in out}) >= 2
    again = await p.complete(request)
    assert [c.text for c in again] == [c.text for c in out]  # seeds make sampling reproducible


@pytest.mark.slow
async def test_real_server_logprobs(llama_server) -> None:
    p = LiteLLMPolicy(llama_server.model, api_base=llama_server.base_url)
    (c,) = await p.complete(req("What is 2+3?", max_tokens=8, logprobs=True, top_logprobs=3))
    assert p.supports_logprobs
    assert c.logprobs is not None and len(c.logprobs) == c.completion_tokens
    first = c.logprobs[0]
    assert first.logprob <= 0 and 1 <= len(first.top) <= 3
    # Greedy: the chosen token is the most likely one.
    assert first.top[first.token] == pytest.approx(max(first.top.values()))
    assert c.mean_logprob is not None and c.mean_logprob <= 0


@pytest.mark.slow
async def test_real_server_client_side_stops(llama_server) -> None:
    server_side = LiteLLMPolicy(llama_server.model, api_base=llama_server.base_url)
    client_side = LiteLLMPolicy(llama_server.model, api_base=llama_server.base_url, stop_mode="client")
    counting = req("Count from 1 to 9, one number per line.", max_tokens=40, stop=["4"])
    (a,) = await server_side.complete(counting)
    (b,) = await client_side.complete(counting)
    assert a.finish_reason == b.finish_reason == "stop"
    assert "4" not in b.text and b.text == a.text  # cut where the server would have stopped
    short = req("Say hi.", max_tokens=200, stop=["Step 9:"])
    (c,) = await server_side.complete(short)
    (d,) = await client_side.complete(short)
    assert c.finish_reason == "stop"  # ambiguous: end of turn or the stop sequence?
    assert d.finish_reason == "eos"  # unambiguous: no stop sequence was in the reply


@pytest.mark.slow
def test_real_server_end_to_end_solve(llama_server) -> None:
    result = o1agent.solve(
        "What is 2+3?",
        model=llama_server.model,
        api_base=llama_server.base_url,
        strategy="greedy",
        reward="none",
        budget={"max_tokens": 1500, "max_nodes": 4},
    )
    assert result.steps
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.usage.calls >= 1
    assert result.model == llama_server.model
    assert result.tree.get(result.best_path[0].id).prompt.startswith("[system]")


@pytest.mark.slow
def test_real_server_cli_json(llama_server) -> None:
    exe = Path(sys.executable).with_name("o1agent")
    proc = subprocess.run(
        [
            str(exe),
            "solve",
            "What is 2+3?",
            "--model",
            llama_server.model,
            "--api-base",
            llama_server.base_url,
            "--strategy",
            "greedy",
            "--reward",
            "none",
            "--max-tokens",
            "1500",
            "--max-nodes",
            "4",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert isinstance(data["answer"], str) and data["answer"]
    assert data["model"] == llama_server.model
    assert data["usage"]["prompt_tokens"] > 0
