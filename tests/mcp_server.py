"""A small MCP server (FastMCP, from the ``mcp`` package) for the MCP tool tests.

    python tests/mcp_server.py [--log FILE]                 # stdio
    python tests/mcp_server.py --http PORT [--log FILE]     # streamable HTTP on 127.0.0.1:PORT/mcp

Tools: ``calc`` (one string argument, whole numbers with + - *; its schema carries an example,
which o1agent shows the model) and ``add`` (two integers). Each call is appended to the
``--log`` file as a JSON line, so a test can see that this server, not something else, answered.

A test helper, not library code.
"""

from __future__ import annotations

import argparse
import ast
import json
import operator
from pathlib import Path
from typing import Annotated

from mcp.server.fastmcp import FastMCP
from pydantic import Field

parser = argparse.ArgumentParser()
parser.add_argument("--http", type=int, default=None, help="serve streamable HTTP on this port")
parser.add_argument("--log", type=Path, default=None, help="append each call here (JSON lines)")
opts = parser.parse_args()

server = FastMCP("o1agent-test", host="127.0.0.1", port=opts.http or 8000, log_level="WARNING")


def _record(tool: str, arguments: dict[str, object], result: str) -> None:
    if opts.log is not None:
        with opts.log.open("a") as f:
            f.write(json.dumps({"tool": tool, "arguments": arguments, "result": result}) + "\n")


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _evaluate(node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("only whole numbers with + - * are allowed")


@server.tool()
def calc(expression: Annotated[str, Field(description="an expression", examples=["37*48+12"])]) -> str:
    """Compute whole-number arithmetic exactly (+ - *). Use it for every multiplication."""
    # A small model often writes its guess into the call ("15 * 43 = 625"): compute the left side.
    result = str(_evaluate(ast.parse(expression.split("=")[0].strip(), mode="eval").body))
    _record("calc", {"expression": expression}, result)
    return result


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    _record("add", {"a": a, "b": b}, str(a + b))
    return a + b


if __name__ == "__main__":
    server.run("streamable-http" if opts.http else "stdio")
