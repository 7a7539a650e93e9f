"""MCP tools in reasoning steps: a real FastMCP server (``tests/mcp_server.py``) started by the test
over stdio and over streamable HTTP on loopback; its tools, loaded by ``o1agent.tools.mcp``, are
called by the steps, recorded in the step and the trace, and answered by that server (its call log).

The protocol tests use a ScriptedPolicy; the embedded SmolLM2 calls the server's ``calc`` tool
through ``o1agent solve --mcp`` and ``o1agent serve --mcp``.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from child_server import REPO, ChildServer, http_ok

from o1agent import Reasoner
from o1agent.errors import MCPError
from o1agent.policies import ScriptedPolicy
from o1agent.tools.mcp import mcp_connection, mcp_tools

SERVER = REPO / "tests" / "mcp_server.py"


def _stdio_spec(log: Path) -> str:
    return shlex.join([sys.executable, str(SERVER), "--log", str(log)])


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# ---- unit: specs and errors ----------------------------------------------------------------------


def test_specs_are_commands_or_urls():
    assert mcp_connection("http://127.0.0.1:9/mcp") == {
        "transport": "streamable_http",
        "url": "http://127.0.0.1:9/mcp",
    }
    assert mcp_connection("python 'my server.py' --x 1") == {
        "transport": "stdio",
        "command": "python",
        "args": ["my server.py", "--x", "1"],
    }
    for bad in ("", "   ", "python 'unclosed"):
        with pytest.raises(MCPError):
            mcp_connection(bad)


def test_a_server_that_cannot_start_is_an_mcp_error():
    with pytest.raises(MCPError, match="could not be used") as info:
        mcp_tools("/nonexistent/o1agent-mcp-server --flag", startup_timeout=20)
    assert "/nonexistent/o1agent-mcp-server" in str(info.value)


def test_a_command_that_is_not_an_mcp_server_fails_in_time():
    with pytest.raises(MCPError, match="did not start and list its tools within 2s"):
        mcp_tools(shlex.join([sys.executable, "-c", "import time; time.sleep(60)"]), startup_timeout=2)


async def test_content_blocks_become_text_and_a_schema_example_is_the_prompt_example():
    # What an MCP tool looks like to the registry: a JSON-schema args_schema and content blocks out.
    from langchain_core.tools import StructuredTool

    from o1agent.tools import as_tool

    async def run(expression: str) -> list[dict]:
        return [{"type": "text", "text": "6"}, {"type": "text", "text": "(exact)"}]

    schema = {"type": "object", "properties": {"expression": {"type": "string", "examples": ["2*3"]}}}
    tool = as_tool(StructuredTool(name="calc", description="d", args_schema=schema, coroutine=run))
    assert tool.example == "2*3"
    assert await tool.run("2*3") == "6\n(exact)"


# ---- the real server, scripted reasoning -----------------------------------------------------------


def _scripted(call: str, answer: str):
    def respond(req):
        # First round writes the call; once the observation is in, the step states the result.
        if "```output" in req.assistant_prefix:
            return f" the result is {answer}.\nFinal answer: {answer}"
        return f"Compute\n{call}\nSo"

    return respond


@pytest.mark.slow
async def test_stdio_server_tool_is_called_and_traced(tmp_path):
    from o1agent.tools.mcp import amcp_tools

    log = tmp_path / "calls.jsonl"
    tools = await amcp_tools(_stdio_spec(log))
    assert [t.name for t in tools] == ["calc", "add"]
    policy = ScriptedPolicy(_scripted("```calc\n37*48+12\n```", "1788"))
    res = await Reasoner(model=policy, strategy="greedy", reward=None, tools=tools).asolve(
        "What is 37*48+12?"
    )
    step = res.best_path[0].step
    (call,) = step.tool_calls
    assert (call.name, call.output, call.error) == ("calc", "1788", None)
    assert "```output\n1788\n```" in step.raw and res.answer == "1788"
    assert any(e.kind == "tool" and e.data.get("tool") == "calc" for e in res.trace)
    assert _calls(log) == [{"tool": "calc", "arguments": {"expression": "37*48+12"}, "result": "1788"}]
    # The prompt showed the server's tool with the example from its schema.
    assert "- calc: Compute whole-number arithmetic" in policy.requests[0].messages[0].content
    assert "```calc\n37*48+12\n```" in policy.requests[0].messages[0].content


class _HttpMCP(ChildServer):
    name = "mcp_http"

    def __init__(self, log: Path) -> None:
        super().__init__()
        self.log = log

    def command(self) -> list[str]:
        return [sys.executable, str(SERVER), "--http", str(self.port), "--log", str(self.log)]

    def ready(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0


@pytest.mark.slow
def test_streamable_http_server_tool_with_json_arguments(tmp_path):
    log = tmp_path / "calls.jsonl"
    with _HttpMCP(log) as server:
        tools = mcp_tools(f"http://127.0.0.1:{server.port}/mcp")
        policy = ScriptedPolicy(_scripted('```add\n{"a": 19, "b": 23}\n```', "42"))
        res = Reasoner(model=policy, strategy="greedy", reward=None, tools=tools).solve("What is 19+23?")
        # A failing call (the server rejects the arguments) is recorded as an error, not a result.
        bad = ScriptedPolicy(_scripted('```add\n{"a": "x", "b": 1}\n```', "unknown"))
        failed = Reasoner(model=bad, strategy="greedy", reward=None, tools=tools).solve("What is x+1?")
    (call,) = res.best_path[0].step.tool_calls
    assert (call.name, call.arguments, call.output, call.error) == ("add", {"a": 19, "b": 23}, "42", None)
    assert any(e.kind == "tool" for e in res.trace)
    (err,) = failed.best_path[0].step.tool_calls
    assert err.output is None and err.error
    assert _calls(log) == [{"tool": "add", "arguments": {"a": 19, "b": 23}, "result": "42"}]


# ---- the embedded model calls the server's tool, through the CLI and the server ---------------------


@pytest.mark.slow
def test_cli_solve_with_mcp_on_the_embedded_model(tmp_path):
    log = tmp_path / "calls.jsonl"
    cmd = [sys.executable, "-m", "o1agent.cli", "solve", "What is 37*48+12?", "--mcp", _stdio_spec(log),
           "--strategy", "greedy", "--reward", "none", "--max-tokens", "800"]  # fmt: skip
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "calc(" in proc.stdout and "→ 1788" in proc.stdout
    assert "Answer: 1788" in proc.stdout
    assert {"tool": "calc", "arguments": {"expression": "37*48+12"}, "result": "1788"} in _calls(log)


@pytest.mark.slow
def test_cli_mcp_server_that_fails_exits_2():
    proc = subprocess.run(
        [sys.executable, "-m", "o1agent.cli", "solve", "2+3?", "--mcp", "/nonexistent/mcp-server"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "MCP server" in proc.stderr and "/nonexistent/mcp-server" in proc.stderr


class _Serve(ChildServer):
    name = "o1agent_serve_mcp"

    def __init__(self, mcp: str) -> None:
        super().__init__(startup_timeout=180)
        self.mcp = mcp

    def command(self) -> list[str]:
        return [sys.executable, "-m", "o1agent.cli", "serve", "--model", "embedded", "--port", str(self.port),
                "--strategy", "greedy", "--reward", "none", "--mcp", self.mcp]  # fmt: skip

    def ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.port}/health") is not None


@pytest.mark.slow
def test_serve_with_mcp_on_the_embedded_model(tmp_path):
    import openai

    log = tmp_path / "calls.jsonl"
    with _Serve(_stdio_spec(log)) as server:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model="embedded", messages=[{"role": "user", "content": "What is 37*48+12?"}], timeout=300
        )
    msg = reply.choices[0].message
    assert msg.content == "1788"
    assert "```calc" in (getattr(msg, "reasoning_content", "") or "")
    assert any(c["tool"] == "calc" and c["result"] == "1788" for c in _calls(log))
