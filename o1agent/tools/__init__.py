"""Tools a reasoning step can call: a safe calculator, a sandboxed Python, any LangChain tool or
typed function; and the text protocol that lets models without function calling use them."""

from .calculator import CalculatorError, calculate
from .protocol import (
    ParsedCall,
    ToolLoopResult,
    execute_tool_calls,
    generate_with_tools,
    has_pending_call,
    parse_tool_calls,
    stop_sequences,
    tool_descriptions,
)
from .registry import Tool, UnknownToolError, as_tool, available_tools, make_tools, register_tool
from .sandbox import SandboxResult, arun_python, check_sandbox, run_python

__all__ = [
    "CalculatorError",
    "ParsedCall",
    "SandboxResult",
    "Tool",
    "ToolLoopResult",
    "UnknownToolError",
    "arun_python",
    "as_tool",
    "available_tools",
    "calculate",
    "check_sandbox",
    "execute_tool_calls",
    "generate_with_tools",
    "has_pending_call",
    "make_tools",
    "parse_tool_calls",
    "register_tool",
    "run_python",
    "stop_sequences",
    "tool_descriptions",
]
