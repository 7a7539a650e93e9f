"""The ``Tool`` object and the tool registry: built-ins by name, LangChain tools, plain callables.

Every tool, whatever its origin, becomes one ``Tool``: a name, a description, a JSON-schema of its
parameters (for backends with native function calling), the argument that a text-protocol block
fills (``text_arg``) and ``async run(arguments) -> str``. ``run`` raises on failure; callers that
must not raise (``execute_tool_calls``) turn the exception into a tool error.

Built-ins: ``calc`` (alias ``calculator``) — safe arithmetic; ``python`` — the sandbox (by name it
refuses to build where bwrap is missing; ``python_tool(unsafe_local=True)`` opts out).

External tools (``function_tool``: an OpenAI ``{"type": "function", ...}`` definition) are tools
whose execution is not local: their ``run`` refuses, and a step that calls one ends there, the
call handed to the caller (``o1agent.tools.protocol``). Their arguments are checked against the
definition's JSON schema (``check_arguments``) before anything is handed out.

What this is not: the text protocol (``o1agent.tools.protocol``) or the sandbox itself.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints

# UnknownToolError is defined with every other error in o1agent.errors; importable from here too.
from ..errors import ConfigError, ToolError, ToolSchemaError
from ..errors import UnknownToolError as UnknownToolError
from .calculator import calculate

Runner = Callable[[dict[str, Any]], Awaitable[str]]

#: The fence label of a tool's result block in the text protocol; no tool may take it.
OUTPUT_LABEL = "output"


@dataclass
class Tool:
    """A tool the reasoner can call. ``aliases`` are extra fence labels (``py`` for ``python``).

    ``external``: the caller runs it (see ``function_tool``); ``validator`` checks its arguments.
    """

    name: str
    description: str
    runner: Runner
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    text_arg: str = "input"
    aliases: tuple[str, ...] = ()
    example: str = ""
    external: bool = False
    validator: Any = field(default=None, repr=False, compare=False)

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def arguments_from_text(self, text: str) -> dict[str, Any]:
        """Arguments for a text-protocol call: a JSON object body is taken as the arguments,
        anything else fills ``text_arg``. For an external tool a JSON object is always read as
        its arguments, and a plain body fills its only parameter, converted to that parameter's
        JSON type (the arguments leave as JSON, checked against the schema)."""
        body = text.strip()
        props = self.parameters.get("properties", {})
        if body.startswith("{") and (len(props) > 1 or self.external):
            try:
                val = json.loads(body)
                if isinstance(val, dict):
                    return val
            except ValueError:
                pass
        if self.external:
            if not body and not self.parameters.get("required"):
                return {}
            if len(props) == 1:
                key = next(iter(props))
                return {key: _coerce(body, (props[key] or {}).get("type"))}
        return {self.text_arg: text}

    def check_arguments(self, arguments: dict[str, Any]) -> str | None:
        """Why ``arguments`` do not fit this tool's schema, or ``None`` when they do (or when the
        tool has no validator: local tools check their own input)."""
        if self.validator is None:
            return None
        from jsonschema.exceptions import best_match

        err = best_match(self.validator.iter_errors(arguments))
        if err is None:
            return None
        where = "/".join(str(p) for p in err.absolute_path)
        return f"invalid arguments for {self.name}: {err.message}" + (f" (at {where})" if where else "")

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


def python_tool(
    *,
    timeout: float = 5.0,
    memory_mb: int = 256,
    max_output: int = 4000,
    packages: Sequence[str] = (),
    unsafe_local: bool = False,
) -> Tool:
    """The sandboxed Python tool. Output is stdout (trailing expression echoed); a failed run
    raises ``ToolError`` with the program's last error line. The program gets the standard
    library plus ``packages`` (installed top-level packages, bound read-only).

    Raises ``SandboxUnavailableError`` here, at construction, where bwrap cannot contain the
    code, unless ``unsafe_local=True`` (then the code runs as a plain local process, with a
    logged warning)."""
    from .sandbox import check_sandbox

    check_sandbox(unsafe_local=unsafe_local)
    pkgs = tuple(packages)

    async def _python(code: str) -> str:
        from .sandbox import arun_python

        res = await arun_python(
            code,
            timeout=timeout,
            cpu_seconds=timeout,
            memory_mb=memory_mb,
            echo_last_expr=True,
            packages=pkgs,
            unsafe_local=unsafe_local,
        )
        out = res.stdout if len(res.stdout) <= max_output else res.stdout[:max_output] + "\n... (truncated)"
        if not res.ok:
            raise ToolError(
                f"{res.error}" + (f"\n(stdout before the error: {out.strip()})" if out.strip() else "")
            )
        return out.rstrip("\n") if out.strip() else "(no output: print the values you need)"

    extra = f" and {', '.join(pkgs)}" if pkgs else ""
    return _string_tool(
        "python",
        ("py",),
        f"Run a short Python program in a sandbox (standard library{extra} only, no network, no "
        "files outside its own directory) and see what it prints.",
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


# OpenAI's rule for function names.
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EXAMPLE_VALUES: dict[str, Any] = {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}


def _example_arguments(params: Mapping[str, Any]) -> str:
    """A JSON example call body for the prompt: every property with a value of its type."""
    out: dict[str, Any] = {}
    for key, prop in (params.get("properties") or {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        if prop.get("enum"):
            out[key] = prop["enum"][0]
        else:
            kind = prop.get("type")
            kind = kind[0] if isinstance(kind, list) and kind else kind
            out[key] = _EXAMPLE_VALUES.get(kind, f"<{key}>") if isinstance(kind, str) else f"<{key}>"
    return json.dumps(out)


async def _refuse(name: str) -> str:
    raise ToolError(f"{name} is an external tool: its calls are handed to the caller, not run here")


def function_tool(spec: Any, *, position: int | None = None) -> Tool:
    """An external ``Tool`` from an OpenAI function definition
    (``{"type": "function", "function": {"name", "description", "parameters"}}``).

    Raises ``ToolSchemaError`` naming the tool (``tools[i] 'name'``) when the definition is not a
    function, its name breaks OpenAI's rule, or ``parameters`` is not a valid JSON schema of an
    object."""
    import jsonschema
    from jsonschema.validators import validator_for

    where = f"tools[{position}]" if position is not None else "tool"
    fn = spec.get("function") if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping) or spec.get("type") != "function" or not isinstance(fn, Mapping):
        raise ToolSchemaError(f'{where}: expected {{"type": "function", "function": {{...}}}}', tool=where)
    name = fn.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise ToolSchemaError(
            f"{where}: the function name {name!r} must be 1-64 letters, digits, '_' or '-'", tool=where
        )
    label = f"{where} {name!r}"
    if name.lower() == OUTPUT_LABEL:
        raise ToolSchemaError(f"{label}: {OUTPUT_LABEL!r} is reserved for tool results", tool=name)
    description = fn.get("description") or ""
    if not isinstance(description, str):
        raise ToolSchemaError(f"{label}: description must be a string", tool=name)
    params = fn.get("parameters")
    params = {"type": "object", "properties": {}} if params is None else params
    if not isinstance(params, Mapping):
        raise ToolSchemaError(f"{label}: parameters must be a JSON schema object", tool=name)
    params = dict(params)
    try:
        cls = validator_for(params)
        cls.check_schema(params)
    except jsonschema.SchemaError as exc:
        at = "/".join(str(p) for p in exc.absolute_path)
        raise ToolSchemaError(
            f"{label}: parameters is not a valid JSON schema: {exc.message}" + (f" (at {at})" if at else ""),
            tool=name,
        ) from None
    if params.get("type", "object") != "object" or not isinstance(params.get("properties", {}), Mapping):
        raise ToolSchemaError(f"{label}: parameters must describe an object (type 'object')", tool=name)
    props = params.get("properties") or {}
    required = [r for r in params.get("required") or [] if isinstance(r, str)]

    async def runner(_args: dict[str, Any]) -> str:
        return await _refuse(name)

    return Tool(
        name=name,
        description=description.strip() or f"the {name} function",
        runner=runner,
        parameters=params,
        text_arg=required[0] if required else next(iter(props), "input"),
        example=_example_arguments(params),
        external=True,
        validator=cls(params),
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
    """Tools by name (aliases excluded), in the given order. Duplicate names (or fence labels,
    which are read case-insensitively) are an error."""
    out: dict[str, Tool] = {}
    labels: dict[str, str] = {}
    for spec in specs or []:
        tool = as_tool(spec)
        if tool.name in out:
            raise ConfigError(f"tool name {tool.name!r} is given twice")
        for label in tool.labels:
            other = labels.get(label.lower())
            if other is not None:
                raise ConfigError(f"tools {other!r} and {tool.name!r} share the label {label!r}")
            labels[label.lower()] = tool.name
        out[tool.name] = tool
    return out
