"""Tools: the safe calculator, the registry (built-ins, LangChain tools, callables), the text
protocol (parse, execute, stop strings, descriptions, generation loop) and a parser fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o1agent.errors import ConfigError
from o1agent.policies.base import Completion
from o1agent.tools import (
    CalculatorError,
    Tool,
    UnknownToolError,
    as_tool,
    calculate,
    execute_tool_calls,
    generate_with_tools,
    has_pending_call,
    make_tools,
    parse_tool_calls,
    stop_sequences,
    tool_descriptions,
)


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("37*48+12", "1788"),
        ("calc(37*48+12)", "1788"),
        ("1/2", "0.5"),
        ("7/7", "1"),
        ("(2+3)*-4", "-20"),
        ("2^10", "1024"),
        ("3 × 4 ÷ 6", "2"),
        ("1,234 * 2", "2468"),
        ("-7 // 2", "-4"),
        ("17 % 5", "2"),
        ("sqrt(144) + abs(-3)", "15"),
        ("max(3, 100) - min(4, 9)", "96"),
        ("round(2.567, 2)", "2.57"),
        ("2**-2", "0.25"),
    ],
)
def test_calculator(expr: str, want: str) -> None:
    assert calculate(expr) == want


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("__import__('os')", "function '__import__' is not allowed"),
        ("__import__('os').system('echo hi')", "is not allowed"),
        ("().__class__.__bases__", "Attribute is not allowed"),
        ("10**1000000", "exponent 1000000 is too large"),
        ("9**9**9", "too large"),
        ("(10**5000)**3", "digits"),
        ("factorial(100000)", "factorial is limited"),
        ("1/0", "division by zero"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers"),
        ("[1, 2]", "List is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("", "empty expression"),
        ("1 +", "not a valid expression"),
        ("(" * 300 + "1" + ")" * 300, "not a valid expression"),
        ("1e308 * 10", "not a finite number"),
    ],
)
def test_calculator_refuses_with_clear_errors(expr: str, says: str) -> None:
    with pytest.raises(CalculatorError, match=None) as info:
        calculate(expr)
    assert says in str(info.value)
    assert isinstance(info.value, ConfigError.__mro__[1])  # a UserError: bad input, not a crash


# ---- registry ------------------------------------------------------------------------------


async def test_builtins_and_unknown_names() -> None:
    tools = make_tools(["calc", "python"])
    assert list(tools) == ["calc", "python"]
    assert await tools["calc"].run({"expression": "6*7"}) == "42"
    assert await tools["calc"].run("6*7") == "42"
    assert await tools["python"].run("print(6*7)") == "42"
    with pytest.raises(UnknownToolError, match="unknown tool 'nope'"):
        make_tools(["nope"])
    with pytest.raises(ConfigError, match="given twice"):
        make_tools(["calc", "calc"])


async def test_langchain_tool_is_wrapped_and_executed() -> None:
    from langchain_core.tools import tool

    @tool
    def word_count(text: str) -> int:
        """Count the words in a text."""
        return len(text.split())

    t = as_tool(word_count)
    assert t.name == "word_count" and "Count the words" in t.description
    assert t.parameters["properties"]["text"]["type"] == "string"
    assert await t.run({"text": "one two three"}) == "3"
    text, calls = await execute_tool_calls("Count:\n```word_count\nthe quick brown fox\n```\n", {t.name: t})
    assert calls[0].output == "4" and "```output\n4\n```" in text


async def test_typed_callable_is_wrapped_with_coercion() -> None:
    async def add(a: int, b: int = 1) -> int:
        """Add two integers.

        Longer text that is not part of the description."""
        return a + b

    t = as_tool(add)
    assert t.description == "Add two integers."
    assert t.parameters["required"] == ["a"] and t.parameters["properties"]["a"] == {"type": "integer"}
    assert await t.run({"a": "2", "b": "5"}) == "7"  # text-protocol strings coerced to int
    assert await t.run("41") == "42"  # a plain body fills the first required argument
    assert await t.run('{"a": 1, "b": 2}') == "3"  # a JSON body gives all arguments
    with pytest.raises(UnknownToolError):
        as_tool(42)


def test_openai_schema_shape() -> None:
    schema = make_tools(["calc"])["calc"].openai_schema()
    assert schema["type"] == "function" and schema["function"]["name"] == "calc"
    assert schema["function"]["parameters"]["required"] == ["expression"]


# ---- protocol ------------------------------------------------------------------------------

STEP = """First multiply.
```calc
37*48+12
```
Also <<3*4=13>> and calc(2**10) and calc(1/0).
```python
x = 5
x * x
```
```py
import socket; socket.create_connection(('1.1.1.1', 80), timeout=2)
```
done"""


def test_parse_finds_every_form() -> None:
    calls = parse_tool_calls(STEP)
    assert [(c.name, c.form, c.body) for c in calls] == [
        ("calc", "fenced", "37*48+12"),
        ("calc", "gsm8k", "3*4"),
        ("calc", "inline", "2**10"),
        ("calc", "inline", "1/0"),
        ("python", "fenced", "x = 5\nx * x"),
        ("python", "fenced", "import socket; socket.create_connection(('1.1.1.1', 80), timeout=2)"),
    ]


def test_parse_skips_non_calls() -> None:
    # Shifts inside code, unknown labels, plain prose and executed blocks are not calls.
    code = parse_tool_calls("```python\nprint(1 << 3)\n```\n```output\n8\n```")
    assert [(c.name, c.has_output) for c in code] == [("python", True)]
    assert parse_tool_calls('```json\n{"a": 1}\n```') == []
    assert parse_tool_calls("We calculate (3+4) in our heads.") == []
    assert parse_tool_calls("calc(37*48) = 1776")[0].has_output


async def test_execute_inserts_observations_and_records_errors() -> None:
    tools = make_tools(["calc", "python"])
    text, calls = await execute_tool_calls(STEP, tools)
    assert "```calc\n37*48+12\n```\n```output\n1788\n```\n" in text
    assert "<<3*4=12>>" in text  # the computed value replaces the model's claim
    assert "calc(2**10) = 1024" in text
    assert "calc(1/0) = Error: division by zero" in text
    assert "```output\n25\n```" in text
    assert "```output\nError: OSError: [Errno 101] Network is unreachable" in text  # no network inside
    assert text.endswith("done")
    assert [c.name for c in calls] == ["calc", "calc", "calc", "calc", "python", "python"]
    assert calls[3].error == "division by zero" and calls[3].output is None
    assert calls[0].output == "1788" and calls[0].arguments == {"expression": "37*48+12"}
    # Executed fenced blocks are not run again.
    again, more = await execute_tool_calls(text, tools, start=0)
    assert [c.form for c in parse_tool_calls(again, tools) if not c.has_output] == ["gsm8k"]
    assert len(more) == 1


async def test_execute_never_raises() -> None:
    async def boom(args: dict) -> str:
        raise RuntimeError("kaput")

    t = Tool(name="boom", description="fails", runner=boom)
    text, calls = await execute_tool_calls("```boom\nx\n```", {"boom": t})
    assert calls[0].error == "kaput" and "Error: kaput" in text
    text, calls = await execute_tool_calls("```calc\n1+1", make_tools(["calc"]))  # unclosed fence
    assert text == "```calc\n1+1\n```\n```output\n2\n```\n" and calls[0].output == "2"
    text, calls = await execute_tool_calls("x", ["no-such-tool"])
    assert text == "x" and calls[0].error.startswith("invalid tools: unknown tool 'no-such-tool'")


def test_stop_sequences_and_descriptions() -> None:
    tools = make_tools(["calc", "python"])
    assert stop_sequences(tools) == ["```output"] and stop_sequences([]) == []
    desc = tool_descriptions(tools)
    assert (
        "- calc:" in desc
        and "```calc\n37*48+12\n```" in desc
        and "```python\n" in desc
        and "```output" in desc
    )
    assert tool_descriptions(None) == ""


def test_pending_call_detection() -> None:
    assert has_pending_call("Let me compute.\n```calc\n2+2\n```\n")
    assert not has_pending_call("```calc\n2+2\n```\n```output\n4\n```\n")
    assert not has_pending_call("```calc\n2+2\n```\nSo the answer is 4.")
    assert has_pending_call("so <<2+2=")


async def test_generate_with_tools_pauses_runs_and_continues() -> None:
    tools = make_tools(["calc"])
    seen: list[str] = []
    script = iter(["I multiply.\n```calc\n37*48+12\n```\n", "So the total is 1788.\nFinal answer: 1788"])

    async def complete(text_so_far: str) -> Completion:
        seen.append(text_so_far)
        return Completion(text=next(script), finish_reason="stop", prompt_tokens=10, completion_tokens=5)

    res = await generate_with_tools(complete, tools)
    assert seen[0] == "" and seen[1].endswith("```output\n1788\n```\n")  # the model saw the real result
    assert res.text.endswith("Final answer: 1788")
    assert [c.output for c in res.tool_calls] == ["1788"] and len(res.completions) == 2


async def test_generate_with_tools_bounds_rounds() -> None:
    async def complete(text_so_far: str) -> Completion:
        return Completion(text="```calc\n1+1\n```\n", finish_reason="stop")

    res = await generate_with_tools(complete, make_tools(["calc"]), max_rounds=2)
    assert len(res.completions) == 3 and len(res.tool_calls) == 3
    assert res.text.count("```output") == 3  # the last call ran too: no call without observation


_PIECES = [*"`<>()=+-*/ \n\tcalcpythonoutput0123456789{}\"'_:;#", "```", "<<", ">>", "calc(", "```calc\n"]
_PIECES += ["```python\n", "```output\n", "```py", "\n```\n"]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=80).map("".join))
def test_parser_never_raises(text: str) -> None:
    calls = parse_tool_calls(text)
    for c in calls:
        assert 0 <= c.start < c.end <= len(text)
        assert c.name in ("calc", "python")
    assert [c.start for c in calls] == sorted(c.start for c in calls)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_on_any_unicode(text: str) -> None:
    assert isinstance(parse_tool_calls(text), list)
    assert isinstance(has_pending_call(text), bool)


@pytest.mark.parametrize(
    ("expr", "value"), [("4 - 1 = 3", "3"), ("15 * 43 = 625", "645"), ("12 = 3*4", "12")]
)
def test_calculator_ignores_a_claimed_result_inside_the_call(expr, value):
    # SmolLM2 writes its guess into the block ("15 * 43 = 625"); the observation must be the truth.
    assert calculate(expr) == value
