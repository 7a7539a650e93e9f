"""Tools through the OpenAI-compatible server, driven by the real ``openai`` client and a real
LangChain agent against uvicorn on loopback.

The model here is a ScriptedPolicy that calls the client's ``get_weather`` when the prompt offers
it, and answers from the result once it is there: deterministic, so these tests check the
protocol (tool_calls, finish_reason, continuation, tool_choice, errors) exactly. The embedded
model's side is in the slow tests at the end.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import jsonschema
import openai
import pytest

from o1agent import Reasoner
from o1agent.policies import ScriptedPolicy
from o1agent.server import create_app, serve_in_thread

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time of a city.",
        "parameters": WEATHER["function"]["parameters"],
    },
}
QUESTION = "What should I wear in Paris today?"


def weather_model(req):
    """Calls get_weather when offered, answers from its result; knows calc too."""
    system = req.messages[0].content
    prompt = "\n".join(m.content for m in req.messages) + req.assistant_prefix
    if req.metadata.get("purpose") == "force_call":
        return '{"city": "Paris"}\n'
    if req.assistant_prefix.rstrip().endswith("So"):
        return " the total is 1788.\nFinal answer: 1788"
    if "37*48+12" in prompt:
        return "Compute\n```calc\n37*48+12\n```\n"
    if "```output\n18 C, rain" in prompt:
        return "Rain at 18 C.\nFinal answer: a raincoat"
    if "- get_weather:" in system:
        return 'Check the weather first\n```get_weather\n{"city": "Paris"}\n```\n```output\n'
    return "No tool to ask.\nFinal answer: a coat"


def provider_of(reasoner: Reasoner):
    def provider(_model_id: str) -> Reasoner:
        return reasoner

    return provider


@pytest.fixture()
def served():
    policy = ScriptedPolicy(weather_model)
    reasoner = Reasoner(model=policy, strategy="greedy", reward=None)
    with serve_in_thread(create_app(provider_of(reasoner), models=["scripted"])) as base:
        yield base, policy


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base, api_key="none", max_retries=0, timeout=30)


def ask(base: str, **kw):
    return client(base).chat.completions.create(
        model=kw.pop("model", "scripted"),
        messages=kw.pop("messages", [{"role": "user", "content": QUESTION}]),
        **kw,
    )


def test_a_function_call_comes_back_as_tool_calls(served):
    base, _ = served
    resp = ask(base, tools=[WEATHER])
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, WEATHER["function"]["parameters"])
    assert args == {"city": "Paris"}
    reasoning = choice.message.model_extra["reasoning_content"]
    assert "Check the weather first" in reasoning


def test_a_streamed_function_call(served):
    base, _ = served
    reasoning, calls, finish, content = "", [], None, ""
    for ch in ask(base, tools=[WEATHER], stream=True):
        for c in ch.choices:
            reasoning += (c.delta.model_extra or {}).get("reasoning_content") or ""
            content += c.delta.content or ""
            calls += c.delta.tool_calls or []
            finish = c.finish_reason or finish
    assert finish == "tool_calls" and content == ""
    assert "[tool call get_weather" in reasoning and "handed to the caller" in reasoning
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}


@pytest.mark.parametrize("stream", [False, True])
def test_the_tool_result_continues_the_reasoning(served, stream):
    base, policy = served
    first = ask(base, tools=[WEATHER]).choices[0].message
    messages = [
        {"role": "user", "content": QUESTION},
        first.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "18 C, rain"},
    ]
    resp = ask(base, tools=[WEATHER], messages=messages, stream=stream)
    if stream:
        text = "".join(c.delta.content or "" for ch in resp for c in ch.choices)
    else:
        assert resp.choices[0].finish_reason == "stop"
        text = resp.choices[0].message.content
    assert text == "a raincoat"
    # The result is the observation of the step that called it, shown to the model as step 1.
    prefix = policy.requests[-1].assistant_prefix
    assert (
        'Step 1: Call get_weather\n```get_weather\n{"city": "Paris"}\n```\n```output\n18 C, rain\n```'
        in prefix
    )


def test_tool_choice_none_offers_no_function(served):
    base, policy = served
    resp = ask(base, tools=[WEATHER], tool_choice="none")
    assert resp.choices[0].message.content == "a coat" and resp.choices[0].finish_reason == "stop"
    assert "get_weather" not in policy.requests[-1].messages[0].content


def test_tool_choice_required_and_named(served):
    base, policy = served
    # Offered get_time only, the model answers in words: required forces a call instead.
    resp = ask(base, tools=[TIME], tool_choice="required")
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.choices[0].message.tool_calls[0].function.name == "get_time"
    assert "You must finish by calling get_time" in policy.requests[0].messages[0].content
    named = {"type": "function", "function": {"name": "get_time"}}
    resp = ask(base, tools=[WEATHER, TIME], tool_choice=named)
    assert [c.function.name for c in resp.choices[0].message.tool_calls] == ["get_time"]
    system = policy.requests[-1].messages[0].content
    assert "- get_time:" in system and "get_weather" not in system  # only that function


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 3}}}]},
            "tools[0] 'f'",
        ),
        ({"tools": [WEATHER, {"type": "function", "function": {"name": "bad name"}}]}, "tools[1]"),
        ({"tools": [WEATHER, WEATHER]}, "'get_weather' is given twice"),
        ({"tools": ["no_such_tool"]}, "unknown tool 'no_such_tool'"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}}, "names 'x'"),
        ({"tool_choice": "required"}, "needs function tools"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice 'sometimes'"),
    ],
)
def test_bad_tools_are_400_naming_the_tool(served, body, needle):
    base, _ = served
    with pytest.raises(openai.BadRequestError) as info:
        ask(base, extra_body=body)
    assert needle in info.value.message
    r = httpx.post(
        f"{base}/chat/completions",
        json={"model": "scripted", "messages": [{"role": "user", "content": "q"}], **body},
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_a_tool_message_without_its_call_is_400(served):
    base, _ = served
    messages = [{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "call_x", "content": "r"}]
    with pytest.raises(openai.BadRequestError, match="no assistant tool call made"):
        ask(base, messages=messages)


def test_strategy_in_the_model_name(served):
    base, _ = served
    resp = ask(base, model="dfs:scripted", extra_body={"strategy_config": {"k": 1}})
    assert resp.model_extra["o1agent"]["strategy"] == "dfs" and resp.model == "dfs:scripted"
    assert ask(base).model_extra["o1agent"]["strategy"] == "greedy"
    with pytest.raises(openai.BadRequestError, match="names the strategy 'dfs'"):
        ask(base, model="dfs:scripted", extra_body={"strategy": "beam"})
    with pytest.raises(openai.NotFoundError):
        ask(base, model="nosuch:scripted")


def test_o1agent_tools_per_request_and_served():
    policy = ScriptedPolicy(weather_model)
    plain = Reasoner(model=policy, strategy="greedy", reward=None)
    served = Reasoner(model=policy, strategy="greedy", reward=None, tools=["calculator"])
    by_id = {"plain": plain, "calc": served}
    app = create_app(lambda m: by_id[m], models=["plain", "calc"])
    msgs = [{"role": "user", "content": "What is 37*48+12?"}]
    with serve_in_thread(app) as base:
        resp = ask(base, model="plain", messages=msgs, extra_body={"tools": ["calculator"]})
        assert resp.choices[0].message.content == "1788"
        # Non-streamed reasoning is the chosen path: the call with its observation.
        assert (
            "```calc\n37*48+12\n```\n```output\n1788\n```"
            in resp.choices[0].message.model_extra["reasoning_content"]
        )
        streamed = "".join(
            (c.delta.model_extra or {}).get("reasoning_content") or ""
            for ch in ask(base, model="calc", messages=msgs, stream=True)
            for c in ch.choices
        )
        assert "[tool calc(37*48+12) → 1788]" in streamed
        # Served tools stay beside a client's functions.
        resp = ask(base, model="calc", messages=msgs, tools=[WEATHER])
        assert resp.choices[0].message.content == "1788"
        assert "- calc:" in policy.requests[-1].messages[0].content


@pytest.mark.parametrize("streaming", [False, True])
def test_a_langchain_agent_completes_a_tool_loop(served, streaming):
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent

    base, _ = served
    calls: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """Current weather of a city."""
        calls.append(city)
        return "18 C, rain"

    llm = ChatOpenAI(base_url=base, api_key="none", model="scripted", streaming=streaming, max_retries=0)
    agent = create_react_agent(llm, [get_weather])
    out = agent.invoke({"messages": [("user", QUESTION)]})
    msgs = out["messages"]
    assert calls == ["Paris"]
    assert isinstance(msgs[1], AIMessage) and msgs[1].tool_calls[0]["name"] == "get_weather"
    assert isinstance(msgs[2], ToolMessage) and msgs[2].content == "18 C, rain"
    assert isinstance(msgs[-1], AIMessage) and msgs[-1].content == "a raincoat" and not msgs[-1].tool_calls


# ---- the embedded model ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def embedded_server():
    """``o1agent serve --tools calculator`` on the embedded model, in a subprocess."""
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "o1agent.cli",
        "serve",
        "--model",
        "embedded",
        "--strategy",
        "greedy",
        "--reward",
        "none",
        "--tools",
        "calculator",
        "--port",
        str(port),
        "--max-nodes",
        "6",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{base}/models", timeout=5).raise_for_status()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_served_calculator_answers_1788_stream_and_not(embedded_server):
    c = openai.OpenAI(base_url=embedded_server, api_key="x", max_retries=0, timeout=300)
    msgs = [{"role": "user", "content": "What is 37*48+12?"}]
    resp = c.chat.completions.create(model="embedded", messages=msgs)
    msg = resp.choices[0].message
    assert msg.content == "1788" and resp.choices[0].finish_reason == "stop"
    assert "```output\n1788\n```" in msg.model_extra["reasoning_content"]
    reasoning, content = "", ""
    for ch in c.chat.completions.create(model="greedy:embedded", messages=msgs, stream=True):
        for choice in ch.choices:
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            content += choice.delta.content or ""
    assert content == "1788" and "[tool calc(37*48+12) → 1788]" in reasoning


MULTIPLY = {
    "type": "function",
    "function": {
        "name": "multiply",
        "description": "Multiply two integers exactly.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


def _check_reply(choice) -> str:
    """A reply obeys the protocol whatever the model chose: a call with schema-valid arguments and
    finish_reason tool_calls, or an answer with finish_reason stop/length. Returns which."""
    if choice.finish_reason == "tool_calls":
        for call in choice.message.tool_calls:
            assert call.function.name == "multiply" and call.id
            jsonschema.validate(json.loads(call.function.arguments), MULTIPLY["function"]["parameters"])
        return "call"
    assert choice.finish_reason in ("stop", "length") and not choice.message.tool_calls
    assert choice.message.content
    return "answer"


@pytest.mark.slow
def test_embedded_model_with_client_functions_keeps_the_protocol(embedded_server):
    """The embedded 135M model rarely calls a client function of its own accord (it reaches for
    the served calculator), so this checks the protocol holds whatever it decides: the openai
    client, stream and not, and a LangChain agent looping until the model answers."""
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent

    c = openai.OpenAI(base_url=embedded_server, api_key="x", max_retries=0, timeout=300)
    msgs = [{"role": "user", "content": "What is 37*48? Use multiply."}]
    resp = c.chat.completions.create(model="embedded", messages=msgs, tools=[MULTIPLY])
    seen = _check_reply(resp.choices[0])
    assert resp.choices[0].message.model_extra["reasoning_content"]
    # Streamed, the same request gives the same reply (greedy decoding): rebuild it from deltas.
    content, calls, finish = "", [], None
    for ch in c.chat.completions.create(model="embedded", messages=msgs, tools=[MULTIPLY], stream=True):
        for choice in ch.choices:
            content += choice.delta.content or ""
            calls += choice.delta.tool_calls or []
            finish = choice.finish_reason or finish
    assert ("call" if finish == "tool_calls" else "answer") == seen
    assert (content == resp.choices[0].message.content) if seen == "answer" else calls

    ran: list[tuple[int, int]] = []

    @tool
    def multiply(a: int, b: int) -> str:
        """Multiply two integers exactly."""
        ran.append((a, b))
        return str(a * b)

    llm = ChatOpenAI(base_url=embedded_server, api_key="x", model="embedded", max_retries=0, timeout=300)
    out = create_react_agent(llm, [multiply]).invoke({"messages": msgs}, {"recursion_limit": 8})
    history = out["messages"]
    final = history[-1]
    assert isinstance(final, AIMessage) and final.content and not final.tool_calls
    asked = [tc for m in history if isinstance(m, AIMessage) for tc in m.tool_calls]
    assert len([m for m in history if isinstance(m, ToolMessage)]) == len(asked) == len(ran)
