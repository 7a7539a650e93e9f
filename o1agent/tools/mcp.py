"""Tools served by MCP (Model Context Protocol) servers, through ``langchain-mcp-adapters``.

A server is named by one string, as on the command line (``o1agent solve/serve --mcp SPEC``):

* a command — ``"python my_server.py --flag"`` — is started as a child process and spoken to over
  stdio (split like a shell would, ``shlex``; the MCP SDK's default environment);
* an ``http://`` / ``https://`` URL — ``"http://127.0.0.1:8000/mcp"`` — is spoken to over
  streamable HTTP.

``mcp_tools(*specs)`` (or ``await amcp_tools(...)``) lists each server's tools once and returns
them as LangChain tools; pass them as ``solve(tools=[...])`` / ``Reasoner(tools=...)``, where the
registry adapts them like any LangChain tool (``o1agent.tools.registry``), so a reasoning step
calls them with the text protocol and the call lands in the step, the tree and the trace.

Each call opens its own session (the adapters' default): the tools work in any event loop
(``solve()`` runs each question in a fresh one) and hold no process between calls, at the price
of a session per call — for a stdio server a process start (5–10 s per call measured on a loaded
2-core machine, 0.7–1.2 s over streamable HTTP; README, "MCP tools"). A tool's own failure (the server reports an error) raises, and the step
records it as a tool error.

Errors: ``MCPError`` (a ``ConfigError``) when the adapters are not installed, a server does not
start or answer within ``startup_timeout``, or serves no tools — before any run starts.

Not here: serving o1agent itself as an MCP server; MCP resources and prompts; the text protocol.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from typing import Any

from ..errors import ConfigError, MCPError

logger = logging.getLogger(__name__)

#: Seconds a server may take to start and list its tools.
STARTUP_TIMEOUT = 60.0


def mcp_connection(spec: str) -> dict[str, Any]:
    """The langchain-mcp-adapters connection for a server spec: a URL (streamable HTTP) or a
    command line (stdio)."""
    if not isinstance(spec, str) or not spec.strip():
        raise MCPError(f"an MCP server is a command line or an http(s) URL, got {spec!r}")
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        return {"transport": "streamable_http", "url": spec}
    try:
        argv = shlex.split(spec)
    except ValueError as exc:
        raise MCPError(f"cannot split the MCP server command {spec!r}: {exc}") from None
    return {"transport": "stdio", "command": argv[0], "args": argv[1:]}


def _root_cause(exc: BaseException) -> BaseException:
    # anyio wraps a failing child in ExceptionGroups; the first leaf is what went wrong.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def amcp_tools(*specs: str, startup_timeout: float = STARTUP_TIMEOUT) -> list[Any]:
    """The tools of every server in ``specs`` (LangChain ``BaseTool``s), in order."""
    try:
        from langchain_mcp_adapters.tools import load_mcp_tools
    except ImportError as exc:
        raise MCPError(
            f"MCP tools need langchain-mcp-adapters ({exc}): pip install 'o1agent[server]'"
        ) from None
    tools: list[Any] = []
    for spec in specs:
        connection = mcp_connection(spec)
        try:
            async with asyncio.timeout(startup_timeout):
                # handle_tool_errors=False: a tool's failure raises, so the step records it as an
                # error instead of taking the error text for a result.
                found = await load_mcp_tools(None, connection=connection, handle_tool_errors=False)  # type: ignore[arg-type]
        except TimeoutError:
            raise MCPError(
                f"the MCP server {spec!r} did not start and list its tools within {startup_timeout:g}s"
            ) from None
        except Exception as exc:
            cause = _root_cause(exc)
            raise MCPError(
                f"the MCP server {spec!r} could not be used: {type(cause).__name__}: {cause}"
            ) from exc
        if not found:
            raise MCPError(f"the MCP server {spec!r} serves no tools")
        logger.info("MCP server %r: tools %s", spec, [t.name for t in found])
        tools.extend(found)
    return tools


def mcp_tools(*specs: str, startup_timeout: float = STARTUP_TIMEOUT) -> list[Any]:
    """Synchronous ``amcp_tools`` (for scripts and the CLI; inside an event loop, await that)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ConfigError("mcp_tools() was called inside a running event loop; use 'await amcp_tools(...)'")
    return asyncio.run(amcp_tools(*specs, startup_timeout=startup_timeout))
