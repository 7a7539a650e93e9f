"""Tools a reasoning step can call: a safe calculator, a sandboxed Python, any LangChain tool or
typed function, external functions the caller runs (OpenAI function tools); and the text protocol
that lets models without function calling use them."""

from .calculator import CalculatorError, calculate
from .protocol import (
    ParsedCall,
    ToolLoopResult,
    call_block,
    execute_tool_calls,
    generate_with_tools,
    has_pending_call,
    new_call_id,
    parse_tool_calls,
    stop_sequences,
    tool_descriptions,
)
from .registry import (
    Tool,
    UnknownToolError,
    as_tool,
    available_tools,
    function_tool,
    make_tools,
    register_tool,
)
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
    "call_block",
    "check_sandbox",
    "execute_tool_calls",
    "function_tool",
    "generate_with_tools",
    "has_pending_call",
    "make_tools",
    "new_call_id",
    "parse_tool_calls",
    "register_tool",
    "run_python",
    "stop_sequences",
    "tool_descriptions",
]
