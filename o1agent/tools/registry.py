"""The ``Tool`` object and the tool registry: built-ins by name, LangChain tools, plain callables.

Every tool, whatever its origin, becomes one ``Tool``: a name, a description, a JSON-schema of its
parameters (for backends with native function calling), the argument that a text-protocol block
fills (``text_arg``) and ``async run(arguments) -> str``. ``run`` raises on failure; callers that
must not raise (``execute_tool_calls``) turn the exception into a tool error.

Built-ins: ``calc`` (alias ``calculator``) — safe arithmetic; ``python`` — the sandbox.

What this is not: the text protocol (``o1agent.tools.protocol``) or the sandbox itself.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

# UnknownToolError is defined with every other error in o1agent.errors; importable from here too.
from ..errors import ConfigError, ToolError
from ..errors import UnknownToolError as UnknownToolError
from .calculator import calculate

Runner = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass
class Tool:
    """A tool the reasoner can call. ``aliases`` are extra fence labels (``py`` for ``python``)."""

    name: str
    description: str
    runner: Runner
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    text_arg: str = "input"
    aliases: tuple[str, ...] = ()
    example: str = ""

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def arguments_from_text(self, text: str) -> dict[str, Any]:
        """Arguments for a text-protocol call: a JSON object body is taken as the arguments,
        anything else fills ``text_arg``."""
        body = text.strip()
        if body.startswith("{") and len(self.parameters.get("properties", {})) > 1:
            try:
                val = json.loads(body)
                if isinstance(val, dict):
                    return val
            except ValueError:
                pass
        return {self.text_arg: text}

    async def run(self, arguments: dict[str, Any] | str) -> str:
        args = self.arguments_from_text(arguments) if isinstance(arguments, str) else dict(arguments)
        return await self.runner(args)

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI/LiteLLM ``tools=[...]`` form, for backends with function calling."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


# ---- built-ins ----------------------------------------------------------------------------------


def _string_tool(
    name: str,
    aliases: tuple[str, ...],
    description: str,
    arg: tuple[str, str],
    run: Callable[[str], Awaitable[str]],
    example: str,
) -> Tool:
    """A built-in with one string argument: ``arg`` is its name and its schema description (the
    generic ``input`` is taken for it too); ``run`` gets the string."""
    key, about = arg

    async def runner(args: dict[str, Any]) -> str:
        value = args.get(key, args.get("input"))
        if not isinstance(value, str):
            raise ToolError(f"{name} needs {'an' if key[0] in 'aeiou' else 'a'} {key!r} string")
        return await run(value)

    return Tool(
        name=name,
        aliases=aliases,
        description=description,
        runner=runner,
        parameters={
            "type": "object",
            "properties": {key: {"type": "string", "description": about}},
            "required": [key],
        },
        text_arg=key,
        example=example,
    )


async def _calc(expr: str) -> str:
    return calculate(expr)


def calculator_tool() -> Tool:
    return _string_tool(
        "calc",
        ("calculator", "calculate"),
        "Evaluate an arithmetic expression exactly (+ - * / // % **, parentheses, sqrt, "
        "abs, round, min, max). Use it for every multiplication or division.",
        ("expression", "e.g. 37*48+12"),
        _calc,
        example="37*48+12",
    )


def python_tool(*, timeout: float = 5.0, memory_mb: int = 256, max_output: int = 4000) -> Tool:
    """The sandboxed Python tool. Output is stdout (trailing expression echoed); a failed run
    raises ``ToolError`` with the program's last error line."""

    async def _python(code: str) -> str:
        from .sandbox import arun_python

        res = await arun_python(
            code, timeout=timeout, cpu_seconds=timeout, memory_mb=memory_mb, echo_last_expr=True
        )
        out = res.stdout if len(res.stdout) <= max_output else res.stdout[:max_output] + "\n... (truncated)"
        if not res.ok:
            raise ToolError(
                f"{res.error}" + (f"\n(stdout before the error: {out.strip()})" if out.strip() else "")
            )
        return out.rstrip("\n") if out.strip() else "(no output: print the values you need)"

    return _string_tool(
        "python",
        ("py",),
        "Run a short Python program in a sandbox (no network, no files outside its own "
        "directory) and see what it prints.",
        ("code", "a complete Python program"),
        _python,
        example="print(sum(i * i for i in range(10)))",
    )


_BUILTINS: dict[str, Callable[[], Tool]] = {}


def register_tool(name: str) -> Callable[[Callable[[], Tool]], Callable[[], Tool]]:
    """Register a tool factory under ``name`` so ``tools=["name"]`` finds it."""

    def deco(f: Callable[[], Tool]) -> Callable[[], Tool]:
        _BUILTINS[name] = f
        return f

    return deco


register_tool("calc")(calculator_tool)
register_tool("calculator")(calculator_tool)
register_tool("python")(python_tool)


def available_tools() -> list[str]:
    return sorted(_BUILTINS)


# ---- adapters ------------------------------------------------------------------------------------


def _from_langchain(obj: Any) -> Tool:
    args: dict[str, Any] = dict(getattr(obj, "args", {}) or {})
    props = {k: {kk: vv for kk, vv in v.items() if kk in ("type", "description")} for k, v in args.items()}
    text_arg = next(iter(args), "input")
    # A schema example of a one-argument tool (an MCP server may declare one) is the call the
    # prompt shows the model; without one it is shown a JSON object of the arguments.
    examples = args.get(text_arg, {}).get("examples") if len(args) == 1 else None
    example = str(examples[0]) if isinstance(examples, list) and examples else ""

    async def _run(arguments: dict[str, Any]) -> str:
        payload: Any = arguments
        if not args and set(arguments) == {"input"}:
            payload = arguments["input"]
        elif len(args) == 1:
            only = next(iter(args))
            if only not in arguments and len(arguments) == 1:
                payload = {only: next(iter(arguments.values()))}
            payload = {k: _coerce(v, args[only].get("type")) for k, v in payload.items()}
        return _text_of(await obj.ainvoke(payload))

    return Tool(
        name=str(obj.name),
        description=str(obj.description or "").strip(),
        runner=_run,
        parameters={"type": "object", "properties": props, "required": list(args)},
        text_arg=text_arg,
        example=example,
    )


def _text_of(out: Any) -> str:
    """A tool's output as the observation text: LangChain content blocks (what MCP tools return,
    ``[{"type": "text", "text": "645"}]``) become their text; other values JSON."""
    if isinstance(out, str):
        return out
    if isinstance(out, list) and out and all(isinstance(b, dict) and b.get("type") == "text" for b in out):
        return "\n".join(str(b.get("text", "")) for b in out)
    return json.dumps(out, default=str)


_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "array", dict: "object"}


def _coerce(value: Any, json_type: str | None) -> Any:
    # Text-protocol arguments arrive as strings; a typed parameter wants its own type.
    if not isinstance(value, str) or json_type in (None, "string"):
        return value
    v = value.strip()
    try:
        if json_type == "integer":
            return int(v)
        if json_type == "number":
            return float(v)
        if json_type == "boolean":
            return v.lower() in ("true", "1", "yes")
        if json_type in ("array", "object"):
            return json.loads(v)
    except ValueError:
        return value
    return value


def _from_callable(fn: Callable[..., Any], name: str | None = None) -> Tool:
    sig = inspect.signature(fn)
    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to untyped parameters
        hints = {}
    props: dict[str, Any] = {}
    required: list[str] = []
    for pname, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        jt = _JSON_TYPES.get(hints.get(pname))  # type: ignore[arg-type]
        props[pname] = {"type": jt} if jt else {}
        if p.default is inspect.Parameter.empty:
            required.append(pname)
    doc = inspect.getdoc(fn) or ""
    description = doc.split("\n\n", 1)[0].replace("\n", " ").strip() or f"the {fn.__name__} function"
    text_arg = required[0] if required else next(iter(props), "input")
    is_async = inspect.iscoroutinefunction(fn)

    async def _run(arguments: dict[str, Any]) -> str:
        kwargs = {k: _coerce(v, props.get(k, {}).get("type")) for k, v in arguments.items()}
        if "input" in kwargs and "input" not in props and len(props) >= 1:
            kwargs[text_arg] = _coerce(kwargs.pop("input"), props[text_arg].get("type"))
        out = await fn(**kwargs) if is_async else await asyncio.to_thread(fn, **kwargs)
        return out if isinstance(out, str) else json.dumps(out, default=str)

    return Tool(
        name=name or fn.__name__,
        description=description,
        runner=_run,
        parameters={"type": "object", "properties": props, "required": required},
        text_arg=text_arg,
    )


def as_tool(obj: Tool | str | Callable[..., Any] | Any) -> Tool:
    """Turn a built-in name, a ``Tool``, a LangChain ``BaseTool`` or a typed callable into a ``Tool``."""
    if isinstance(obj, Tool):
        return obj
    if isinstance(obj, str):
        if obj not in _BUILTINS:
            raise UnknownToolError(
                f"unknown tool {obj!r}: choose one of {available_tools()}, or pass a callable"
            )
        return _BUILTINS[obj]()
    try:
        from langchain_core.tools import BaseTool
    except ImportError:  # langchain-core is optional
        BaseTool = None  # type: ignore[assignment,misc]
    if BaseTool is not None and isinstance(obj, BaseTool):
        return _from_langchain(obj)
    if callable(obj):
        return _from_callable(obj)
    raise UnknownToolError(
        f"cannot make a tool from {type(obj).__name__}: pass a name, a Tool, a LangChain tool or a function"
    )


def make_tools(specs: Iterable[Tool | str | Callable[..., Any] | Any] | None) -> dict[str, Tool]:
    """Tools by name (aliases excluded), in the given order. Duplicate names are an error."""
    out: dict[str, Tool] = {}
    for spec in specs or []:
        tool = as_tool(spec)
        if tool.name in out:
            raise ConfigError(f"tool name {tool.name!r} is given twice")
        out[tool.name] = tool
    return out
