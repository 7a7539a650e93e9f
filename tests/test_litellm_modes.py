"""How ``LiteLLMPolicy`` continues a step (``mode``), chat templates, finish reasons on the
completions endpoint and ``Retry-After``: unit tests with a fake LiteLLM transport (and tiny real
HTTP servers on loopback where a server's answer is the point), then slow tests against a real
``llama_cpp.server`` that must match the embedded model token for token."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import litellm
import pytest
from litellm_doubles import FakeBackend, record_sleeps, response, text_response

from o1agent.errors import BackendError, ConfigError
from o1agent.policies.base import CompletionRequest, Message
from o1agent.policies.chat_template import CHATML_TEMPLATE, ChatTemplate, from_gguf, gguf_metadata
from o1agent.policies.litellm import (
    LiteLLMPolicy,
    parse_text_logprobs,
    retry_after_seconds,
    text_stop_reason,
)

SYSTEM = Message(role="system", content="Reason in steps.")
USER = Message(role="user", content="What is 2+3?")


def step_request(**kw: Any) -> CompletionRequest:
    kw.setdefault("assistant_prefix", "Step 1: Read it.\n\nStep 2:")
    kw.setdefault("stop", ["Step 3:"])
    return CompletionRequest(messages=[SYSTEM, USER], **kw)


@pytest.fixture()
def transport(monkeypatch: pytest.MonkeyPatch):
    """Fake ``acompletion`` (chat) and ``atext_completion`` (completions), each recording calls."""

    def install(chat: Any = None, text: Any = None) -> tuple[FakeBackend, FakeBackend]:
        c = FakeBackend(chat or (lambda params, i: response("chat reply")))
        t = FakeBackend(text or (lambda params, i: text_response(" add them: 5")))
        monkeypatch.setattr(litellm, "acompletion", c)
        monkeypatch.setattr(litellm, "atext_completion", t)
        return c, t

    return install


def local(**kw: Any) -> LiteLLMPolicy:
    kw.setdefault("api_base", "http://127.0.0.1:9/v1")  # nothing listens: no /props, no tokenize
    kw.setdefault("retry_wait", 0.001)
    return LiteLLMPolicy(kw.pop("model", "openai/smollm2"), **kw)


# -- modes ------------------------------------------------------------------------------------------


async def test_completions_mode_sends_the_rendered_template_plus_prefix(transport, caplog) -> None:
    chat, text = transport()
    caplog.set_level(logging.INFO, logger="o1agent.policies.litellm")
    p = local(chat_template="embedded")
    (c,) = await p.complete(step_request(max_tokens=20, seed=4))
    await p.complete(step_request())
    assert not chat.calls and len(text.calls) == 2
    params = text.calls[0]
    expected = ChatTemplate.load("embedded").render([SYSTEM, USER], "Step 1: Read it.\n\nStep 2:")
    assert params["prompt"] == expected and expected.endswith(
        "<|im_start|>assistant\nStep 1: Read it.\n\nStep 2:"
    )
    assert params["model"] == "text-completion-openai/smollm2"
    assert (
        params["api_base"] == "http://127.0.0.1:9/v1" and params["max_tokens"] == 20 and params["seed"] == 4
    )
    assert params["extra_body"] == {"repeat_penalty": 1.0} and "messages" not in params
    # The text is the exact continuation: nothing stripped, the prompt is the exact prompt.
    assert c.text == " add them: 5" and c.rendered_prompt == expected
    detected = [r for r in caplog.records if "text-completion endpoint" in r.getMessage()]
    assert len(detected) == 1 and "SmolLM2-135M-Instruct.Q4_1.gguf" in detected[0].getMessage()
    assert p.mode == "completions"


async def test_auto_falls_back_to_fold_when_the_server_has_no_completions_endpoint(transport) -> None:
    def missing(params: dict[str, Any], i: int) -> Exception:
        return litellm.NotFoundError("Not Found", llm_provider="text-completion-openai", model="smollm2")

    chat, text = transport(text=missing)
    p = local(chat_template=CHATML_TEMPLATE)
    (c,) = await p.complete(step_request())
    assert c.text == "chat reply" and p.mode == "fold"
    await p.complete(step_request())
    assert len(text.calls) == 1 and len(chat.calls) == 2  # decided once
    assert chat.calls[0]["messages"][-1]["content"].endswith("Now write Step 2.")


async def test_an_explicit_completions_mode_without_a_template_is_a_config_error(transport) -> None:
    transport()
    with pytest.raises(ConfigError, match="chat_template="):
        await local(mode="completions").complete(step_request())


async def test_anthropic_prefills_and_hosted_chat_apis_fold(transport) -> None:
    chat, _ = transport()
    claude = LiteLLMPolicy("anthropic/claude-3-5-haiku-latest", api_key="k")
    await claude.complete(step_request())
    assert claude.mode == "prefill"
    assert chat.calls[0]["messages"][-1] == {"role": "assistant", "content": "Step 1: Read it.\n\nStep 2:"}
    gpt = LiteLLMPolicy("openai/gpt-4o-mini", api_key="k")
    await gpt.complete(step_request())
    assert gpt.mode == "fold" and chat.calls[1]["messages"][-1]["role"] == "user"
    with pytest.raises(ConfigError, match="mode must be"):
        local(mode="user")


async def test_native_tools_always_use_the_chat_endpoint(transport) -> None:
    chat, text = transport()
    tools = [{"type": "function", "function": {"name": "calc", "parameters": {"type": "object"}}}]
    await local(chat_template="embedded").complete(step_request(tools=tools))
    assert chat.calls and chat.calls[0]["tools"] == tools and not text.calls


class _Props:
    """A loopback HTTP server answering ``GET /props`` as llama.cpp's llama-server does."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        if head.startswith("GET /props"):
            body = json.dumps({"chat_template": self.template, "eos_token": "<|end|>"}).encode()
            status = b"200 OK"
        else:
            body, status = b"{}", b"404 Not Found"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> _Props:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_auto_finds_the_template_on_a_llama_server_props_endpoint(transport) -> None:
    _, text = transport()
    template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}<assistant>"
    async with _Props(template) as props:
        p = local(api_base=f"http://127.0.0.1:{props.port}/v1")
        await p.complete(step_request())
    assert p.mode == "completions" and p.chat_template is not None
    assert p.chat_template.origin.endswith("/props")
    assert text.calls[0]["prompt"] == (
        "<system>Reason in steps.<|end|><user>What is 2+3?<|end|><assistant>Step 1: Read it.\n\nStep 2:"
    )


# -- chat templates ----------------------------------------------------------------------------------


def test_the_gguf_reader_matches_llama_cpp(embedded_policy) -> None:
    from o1agent.policies.llamacpp import embedded_model_path

    path = embedded_model_path()
    meta = gguf_metadata(path, ["tokenizer.chat_template", "general.architecture"])
    assert meta["tokenizer.chat_template"] == embedded_policy._llm.metadata["tokenizer.chat_template"]
    assert meta["general.architecture"] == "llama"
    t = from_gguf(path)
    assert t.eos_token == "<|im_end|>"
    req = step_request()
    assert t.render(req.messages, req.assistant_prefix) == embedded_policy.render(req)


def test_templates_from_text_folders_and_the_hub_cache(tmp_path: Path) -> None:
    assert ChatTemplate.load("{{ messages[0].content }}!").render([USER], "ok") == "What is 2+3?!ok"
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "chat_template": [{"name": "default", "template": "[{{ messages|length }}]"}],
                "eos_token": {"content": "</s>"},
            }
        )
    )
    t = ChatTemplate.load(folder)
    assert t.render([USER, SYSTEM]) == "[2]" and t.eos_token == "</s>"
    with pytest.raises(ConfigError, match="local cache"):
        ChatTemplate.load("nobody/not-a-cached-model")
    with pytest.raises(ConfigError, match="GGUF file not found"):
        ChatTemplate.load(tmp_path / "missing.gguf")
    with pytest.raises(ConfigError, match="failed to render"):
        ChatTemplate.load("{{ raise_exception('no system role') }}").render([USER])


def test_a_template_cannot_reach_python_internals() -> None:
    # A template fetched from a server is code: it runs in Jinja's immutable sandbox.
    evil = ChatTemplate.load("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ConfigError, match="failed to render"):
        evil.render([USER])


# -- completions: parsing and finish reasons -----------------------------------------------------------


def test_text_logprobs_and_stop_reasons() -> None:
    raw = {
        "tokens": [" 5", ".", "\n", "Step", " 3", ":"],
        "token_logprobs": [-0.1, -0.2, -0.3, -1, -1, -1],
        "top_logprobs": [{" 5": -0.1, " 6": -2.0}, None, None, None, None, None],
    }
    lps = parse_text_logprobs(raw)
    assert (
        lps is not None
        and [t.token for t in lps][:2] == [" 5", "."]
        and lps[0].top == {" 5": -0.1, " 6": -2.0}
    )
    assert parse_text_logprobs(None) is None
    assert parse_text_logprobs({"tokens": [], "token_logprobs": []}) == []
    stop = ["Step 3:"]
    # The generated tokens run on past the text into the stop sequence: it was cut there.
    assert text_stop_reason(" 5.\n", lps, stop, {}) == "stop"
    # They end where the text ends: the model ended its turn.
    assert text_stop_reason(" 5.\n", lps[:3], stop, {}) == "eos"
    assert text_stop_reason("", [], stop, {}) == "eos"
    # The server's own word wins (vLLM: stop_reason None is end of sequence).
    assert text_stop_reason(" 5.\n", lps, stop, {"stop_reason": None}) == "eos"
    assert text_stop_reason(" 5.\n", None, stop, {"stop_reason": "Step 3:"}) == "stop"
    assert text_stop_reason(" 5.\n", None, stop, {}) is None


async def test_completions_finish_reasons_reach_the_graph(transport) -> None:
    lp = [{"token": t, "logprob": -0.5} for t in [" 5", ".", "Step", " 3", ":"]]
    replies = [
        text_response(" 5.", logprobs=lp, completion_tokens=5),  # ran into "Step 3:"
        text_response(" 5.", logprobs=lp[:2], completion_tokens=2),  # ended by itself
        text_response(" 5.", finish_reason="length"),
        text_response(" 5.", raw_extra={"stop_reason": None}),  # vLLM says so
    ]
    transport(text=lambda params, i: replies[i])
    p = local(chat_template="embedded")
    reasons = [(await p.complete(step_request(logprobs=True)))[0].finish_reason for _ in range(4)]
    assert reasons == ["stop", "eos", "length", "eos"]


async def test_empty_text_with_no_logprobs_does_not_turn_logprobs_off(transport) -> None:
    replies = [
        text_response("", completion_tokens=0, logprobs=[]),
        text_response(" ok", logprobs=[{"token": " ok", "logprob": -0.1}]),
    ]
    _, text = transport(text=lambda params, i: replies[i])
    p = local(chat_template="embedded")
    await p.complete(step_request(logprobs=True))
    (c,) = await p.complete(step_request(logprobs=True))
    assert p.supports_logprobs and text.calls[1]["logprobs"] == 1 and c.logprobs is not None
    assert not local(logprobs=False).supports_logprobs


# -- Retry-After ---------------------------------------------------------------------------------------


def _limited(headers: dict[str, str], status: int = 429) -> Exception:
    http = httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://127.0.0.1:9/v1/x"))
    inner = httpx.HTTPStatusError("limited", request=http.request, response=http)
    if status == 429:
        err: Exception = litellm.RateLimitError("slow down", llm_provider="openai", model="m")
    else:
        err = litellm.ServiceUnavailableError("busy", llm_provider="openai", model="m")
    err.__cause__ = inner  # as LiteLLM raises them: the vendor's headers sit on the cause
    return err


def test_retry_after_forms() -> None:
    now = time.time()
    assert retry_after_seconds(_limited({"Retry-After": "2"})) == 2.0
    assert retry_after_seconds(_limited({"retry-after-ms": "1500"})) == 1.5
    when = retry_after_seconds(_limited({"Retry-After": formatdate(now + 30, usegmt=True)}, 503), now=now)
    assert when is not None and 28 <= when <= 31
    assert retry_after_seconds(_limited({})) is None
    assert retry_after_seconds(_limited({"Retry-After": "soon"})) is None
    assert retry_after_seconds(ValueError("x")) is None


async def test_retry_after_sets_the_wait_and_a_long_one_fails_at_once(transport, monkeypatch) -> None:
    sleeps = record_sleeps(monkeypatch)
    chat, _ = transport(chat=lambda params, i: _limited({"Retry-After": "3"}) if i == 0 else response("ok"))
    (c,) = await local(mode="fold").complete(step_request())
    assert c.text == "ok" and len(chat.calls) == 2
    assert next(s for s in sleeps if s > 0) >= 3.0
    chat, _ = transport(chat=lambda params, i: _limited({"Retry-After": "3600"}))
    with pytest.raises(BackendError):
        await local(mode="fold", max_retry_after=60).complete(step_request())
    assert len(chat.calls) == 1


# -- the real thing -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sequential_embedded():
    """The embedded model decoding one sequence at a time, as llama_cpp.server does: batched
    decoding may break a near-tie differently (see test_batching_embedded.py)."""
    from o1agent.policies.llamacpp import LlamaCppPolicy

    return LlamaCppPolicy("embedded", batch=False)


@pytest.mark.slow
async def test_served_steps_match_the_embedded_model_token_for_token(llama_server, sequential_embedded) -> None:
    """Greedy steps through llama_cpp.server's /v1/completions are the in-process ones, with the
    same usage and finish reasons (a stop sequence told from end of turn, with and without
    logprobs)."""
    fresh_embedded = sequential_embedded
    reqs = [
        step_request(assistant_prefix="Step 1:", stop=["Step 2:"], max_tokens=48),
        CompletionRequest(messages=[USER], assistant_prefix="The answer is", max_tokens=24, stop=["Step 9:"]),
    ]
    for logprobs in (False, True):
        served = LiteLLMPolicy(
            llama_server.model, api_base=llama_server.base_url, chat_template="embedded", logprobs=logprobs
        )
        for r in reqs:
            r = r.model_copy(update={"logprobs": logprobs})
            (a,) = await served.complete(r)
            fresh_embedded.reset()
            (b,) = await fresh_embedded.complete(r)
            assert (a.text, a.prompt_tokens, a.completion_tokens) == (
                b.text,
                b.prompt_tokens,
                b.completion_tokens,
            )
            assert a.finish_reason == b.finish_reason, (logprobs, a.text)
            assert a.rendered_prompt == b.rendered_prompt
        assert served.mode == "completions"


@pytest.mark.slow
def test_a_real_429_with_retry_after_is_waited_for() -> None:
    """A loopback server answers 429 with ``Retry-After: 2``, then 200: the retry comes no
    sooner than 2 s after the refusal."""
    from fault_proxy import FaultProxy

    with FaultProxy(script=["429:2", "ok"]) as server:
        p = LiteLLMPolicy("openai/fake", api_base=server.base_url, mode="fold", retry_wait=0.01)
        (c,) = asyncio.run(p.complete(step_request()))
        gap = server.arrivals[1] - server.arrivals[0]
    assert c.text == "ok" and 2.0 <= gap < 6.0, gap  # never sooner; later only by load
    with FaultProxy(script=["503:date:2", "ok"]) as server:
        p = LiteLLMPolicy("openai/fake", api_base=server.base_url, mode="fold", retry_wait=0.01)
        asyncio.run(p.complete(step_request()))
        gap = server.arrivals[1] - server.arrivals[0]
    assert 1.0 <= gap < 6.0, gap  # an HTTP date has whole seconds


def test_cli_passes_the_template_and_mode_to_litellm_backends_only() -> None:
    from typer.testing import CliRunner

    from o1agent.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["solve", "2+3?", "--chat-template", "embedded"])
    assert out.exit_code == 2 and "for LiteLLM models" in out.output
    out = runner.invoke(
        app,
        [
            "solve",
            "2+3?",
            "--model",
            "openai/smollm2",
            "--api-base",
            "http://127.0.0.1:9/v1",
            "--chat-template",
            "embedded",
            "--backend-mode",
            "sideways",
        ],
    )
    assert out.exit_code == 2 and "mode must be" in out.output
