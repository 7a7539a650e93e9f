"""External (caller-run) tools: definitions, the protocol stopping at their calls, action nodes
on hand-built trees under every strategy that ranks answers, tool_choice, and continuing a run
from the caller's result."""

from __future__ import annotations

import pytest

from o1agent import Reasoner
from o1agent.chat import Turn, continue_from_turns
from o1agent.errors import ConfigError, InvalidQuestionError, ToolSchemaError
from o1agent.graph.actions import action_text, as_action
from o1agent.graph.answer import build_result, choose_answer
from o1agent.policies import ScriptedPolicy
from o1agent.schema import Node, Step, ToolCall, Trace, Tree, Usage
from o1agent.search.base import make_strategy
from o1agent.tools import execute_tool_calls, function_tool, generate_with_tools, make_tools
from o1agent.tools.protocol import tool_descriptions

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


# ---- definitions ---------------------------------------------------------------------------------


def test_function_tool_reads_an_openai_definition():
    t = function_tool(WEATHER)
    assert t.external and t.name == "get_weather" and t.text_arg == "city"
    assert t.example == '{"city": "<city>"}'
    assert function_tool(ADD).example == '{"a": 1, "b": 1}'
    assert t.check_arguments({"city": "Paris"}) is None
    assert "'city' is a required property" in (t.check_arguments({}) or "")
    assert "Additional properties" in (t.check_arguments({"city": "Paris", "x": 1}) or "")
    assert "is not of type 'integer'" in (function_tool(ADD).check_arguments({"a": "x", "b": 2}) or "")


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ({"type": "function", "function": {"name": "f", "parameters": {"type": "nope"}}}, "tools[3] 'f'"),
        (
            {"type": "function", "function": {"name": "f", "parameters": {"properties": {"x": {"type": 5}}}}},
            "tools[3] 'f'",
        ),
        ({"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}, "tools[3] 'f'"),
        ({"type": "function", "function": {"name": "has space"}}, "tools[3]"),
        ({"type": "function", "function": {"name": "output"}}, "tools[3] 'output'"),
        ({"type": "retrieval"}, "tools[3]"),
    ],
)
def test_bad_definitions_are_errors_naming_the_tool(spec, names):
    with pytest.raises(ToolSchemaError) as info:
        function_tool(spec, position=3)
    assert str(info.value).startswith(names)


def test_a_function_cannot_shadow_a_local_tool_label():
    with pytest.raises(ConfigError, match="share the label"):
        make_tools(["calculator", function_tool({"type": "function", "function": {"name": "Calc"}})])


def test_external_arguments_from_text():
    weather, add = function_tool(WEATHER), function_tool(ADD)
    assert weather.arguments_from_text('{"city": "Oslo"}') == {"city": "Oslo"}
    assert weather.arguments_from_text("Oslo\n") == {"city": "Oslo"}  # the only parameter
    one_int = function_tool(
        {
            "type": "function",
            "function": {"name": "sq", "parameters": {"properties": {"n": {"type": "integer"}}}},
        }
    )
    assert one_int.arguments_from_text(" 12 ") == {"n": 12}
    assert add.arguments_from_text("1, 2") == {"a": "1, 2"}  # unreadable: validation rejects it
    assert add.check_arguments(add.arguments_from_text("1, 2"))


def test_required_mode_is_said_in_the_tool_text():
    text = tool_descriptions({"get_weather": function_tool(WEATHER)}, require_external=True)
    assert '```get_weather\n{"city": "<city>"}\n```' in text
    assert "You must finish by calling get_weather" in text


# ---- protocol --------------------------------------------------------------------------------------


async def test_a_valid_external_call_ends_the_step_and_is_pending():
    table = make_tools(["calculator", function_tool(WEATHER)])
    text = (
        'First\n```calc\n6*7\n```\nThen\n```get_weather\n{"city": "Paris"}\n```\n'
        "It is sunny, so the answer is 42.\nFinal answer: 42"
    )
    out, calls = await execute_tool_calls(text, table)
    assert [c.name for c in calls] == ["calc", "get_weather"]
    assert calls[0].output == "42" and not calls[0].pending
    assert calls[1].pending and calls[1].external and calls[1].id.startswith("call_")
    assert calls[1].arguments == {"city": "Paris"} and calls[1].output is None
    # What the model wrote after the call had no observation behind it: it is dropped.
    assert out.endswith('```get_weather\n{"city": "Paris"}\n```\n') and "Final answer" not in out
    assert "```output\n42\n```" in out


async def test_invalid_arguments_are_an_observation_and_never_pending():
    table = make_tools([function_tool(WEATHER)])
    out, calls = await execute_tool_calls('```get_weather\n{"town": "Paris"}\n```\n', table)
    assert len(calls) == 1 and not calls[0].pending and calls[0].id is None
    assert "required property" in calls[0].error
    assert "```output\nError: invalid arguments for get_weather" in out


async def test_the_tool_loop_stops_at_a_pending_call_after_a_retry():
    table = make_tools([function_tool(WEATHER)])
    outs = iter(['Look it up\n```get_weather\n{"town": 1}\n```', "\n```get_weather\nParis\n```"])
    seen: list[str] = []

    async def complete(so_far: str):
        from o1agent.policies.base import Completion

        seen.append(so_far)
        return Completion(text=next(outs), finish_reason="stop")

    loop = await generate_with_tools(complete, table)
    assert len(loop.completions) == 2 and "Error: invalid arguments" in seen[1]
    assert [c.pending for c in loop.tool_calls] == [False, True]
    assert loop.tool_calls[-1].arguments == {"city": "Paris"}
    assert loop.text.rstrip().endswith("```get_weather\nParis\n```")


# ---- action nodes on hand-built trees ---------------------------------------------------------------


def _call(city: str = "Paris") -> ToolCall:
    return ToolCall(
        name="get_weather", arguments={"city": city}, id=f"call_{city}", external=True, pending=True
    )


def _node(
    nid: str, raw: str, score: float, *, call: ToolCall | None = None, answer: str | None = None
) -> Node:
    step = Step(
        raw=raw, text=raw, tool_calls=[call] if call else [], is_final=answer is not None, answer=answer
    )
    step = as_action(step, required=False)
    parent = nid.rsplit(".", 1)[0]
    return Node(
        id=nid,
        parent_id=parent,
        depth=nid.count("."),
        step=step,
        score=score,
        status="terminal" if step.is_final else "open",
    )


def _tree(*nodes: Node) -> Tree:
    tree = Tree.new("What should I wear in Paris?")
    for n in nodes:
        parent = tree.get(n.parent_id)
        tree = tree.merged(
            {n.id: n, parent.id: parent.model_copy(update={"children": [*parent.children, n.id]})}
        )
    return tree


def test_as_action_marks_calls_final_and_required_demotes_answers():
    step = as_action(Step(raw="x", tool_calls=[_call()]), required=False)
    assert step.is_final and step.answer == action_text(_call()) == 'get_weather({"city": "Paris"})'
    answered = Step(raw="Final answer: 3", answer="3", is_final=True)
    assert as_action(answered, required=False) == answered
    demoted = as_action(answered, required=True)
    assert not demoted.is_final and demoted.answer is None


@pytest.mark.parametrize(
    ("strategy", "state"),
    [
        ("greedy", {"current": "0.0"}),
        ("beam", {"beams": [], "finals": ["0.0", "0.1"]}),
        ("dfs", {}),
        ("mcts", {}),
    ],
)
def test_strategies_stand_behind_a_better_scored_action(strategy, state):
    tree = _tree(
        _node("0.0", "call", 0.9, call=_call()), _node("0.1", "Final answer: coat", 0.4, answer="coat")
    )
    strat = make_strategy(strategy)
    ans = choose_answer(tree, {**strat.init_state(tree), **state}, strat)
    result = build_result(
        {"question": "q", "tree": tree},
        ans,
        "",
        strategy=strategy,
        model="m",
        usage=Usage(),
        trace=Trace(),
        exhausted_by=None,
    )
    assert ans.node is not None and ans.node.id == "0.0"
    assert [c.id for c in result.tool_calls] == ["call_Paris"]


def test_an_answer_scored_above_a_call_wins_and_carries_no_call():
    tree = _tree(
        _node("0.0", "call", 0.2, call=_call()), _node("0.1", "Final answer: coat", 0.8, answer="coat")
    )
    strat = make_strategy("beam")
    ans = choose_answer(tree, {"beams": [], "finals": ["0.0", "0.1"]}, strat)
    assert ans.stated == "coat" and ans.node is not None and not ans.node.pending_calls


def test_best_of_n_votes_identical_calls_together():
    tree = _tree(
        _node("0.0", "call a", 0.5, call=_call("Paris")),
        _node("0.1", "call b", 0.5, call=_call("Paris")),
        _node("0.2", "Final answer: coat", 0.9, answer="coat"),
    )
    strat = make_strategy("best_of_n", {"select_by": "majority"})
    ans = choose_answer(tree, {"started": True, "chains": ["0.0", "0.1", "0.2"], "ended": []}, strat)
    assert ans.node is not None and ans.node.pending_calls and ans.stated == 'get_weather({"city": "Paris"})'


# ---- whole runs --------------------------------------------------------------------------------------


def _weather_model(req):
    prompt = "\n".join(m.content for m in req.messages) + req.assistant_prefix
    if req.metadata.get("purpose") == "force_call":
        return '{"city": "Paris"}\n'
    if "```output\n18 C, rain" in prompt:
        return "Rain at 18 C: take a coat.\nFinal answer: a raincoat"
    return 'Check the weather\n```get_weather\n{"city": "Paris"}\n```\n```output\n'


async def test_a_run_ends_in_the_call_then_continues_from_its_result():
    policy = ScriptedPolicy(_weather_model)
    r = Reasoner(model=policy, strategy="greedy", reward=None, tools=[function_tool(WEATHER)])
    first = await r.asolve("What should I wear in Paris?")
    assert first.answer is None and len(first.tool_calls) == 1
    assert first.no_answer_reason and "get_weather" in first.no_answer_reason
    call = first.tool_calls[0]
    assert call.pending and call.arguments == {"city": "Paris"} and call.name == "get_weather"
    assert first.best_path[-1].step.is_final and first.usage.nodes == 1
    assert any(e.kind == "tool" and e.data.get("pending") for e in first.trace)
    assert '```get_weather\n{"city": "<city>"}\n```' in policy.requests[0].messages[0].content

    # The caller ran it; its result continues the run as the step that called it.
    question, prior = continue_from_turns(
        [
            Turn("user", "What should I wear in Paris?"),
            Turn("assistant", "", tool_calls=(call,)),
            Turn("tool", "18 C, rain", tool_call_id=call.id),
        ]
    )
    assert question == "What should I wear in Paris?"
    assert (
        prior[0].raw == 'Call get_weather\n```get_weather\n{"city": "Paris"}\n```\n```output\n18 C, rain\n```'
    )
    second = await r.asolve(question, prior_steps=prior)
    assert second.answer == "a raincoat" and not second.tool_calls
    assert policy.requests[-1].assistant_prefix.rstrip().endswith("Step 2:")
    assert second.tree.prior == prior and second.trace.tree().prior == prior


async def test_required_demotes_answers_and_forces_a_valid_call():
    def model(req):
        if req.metadata.get("purpose") == "force_call":
            return '{"city": "Paris"}\n'
        return "I know it.\nFinal answer: a coat"

    policy = ScriptedPolicy(model)
    r = Reasoner(
        model=policy, strategy="greedy", reward=None, tools=[function_tool(WEATHER)], tool_choice="required"
    )
    res = await r.asolve("What should I wear?", budget={"max_nodes": 2})
    assert [c.arguments for c in res.tool_calls] == [{"city": "Paris"}]
    assert all(not n.step.is_final for n in res.best_path[:-1])  # the answers were demoted
    forced = policy.requests[-1]
    assert forced.metadata["purpose"] == "force_call" and forced.assistant_prefix.endswith("```get_weather\n")
    assert res.best_path[-1].id == "0.0.0.0" and res.usage.nodes == 3


async def test_required_with_a_model_that_writes_bad_arguments_hands_out_nothing():
    def model(req):
        return '{"town": 3}' if req.metadata.get("purpose") == "force_call" else "Final answer: a coat"

    r = Reasoner(
        model=ScriptedPolicy(model),
        strategy="greedy",
        reward=None,
        tools=[function_tool(WEATHER)],
        tool_choice="required",
    )
    res = await r.asolve("What should I wear?", budget={"max_nodes": 1})
    assert res.tool_calls == []
    fin = next(e for e in res.trace if e.kind == "finalize")
    assert "no valid call" in fin.data["finalize_error"] and "required property" in fin.data["finalize_error"]


def test_required_without_an_external_tool_is_a_config_error():
    with pytest.raises(ConfigError, match="external"):
        Reasoner(model=ScriptedPolicy(["x"]), tools=["calculator"], tool_choice="required")


def test_continuing_needs_every_result_and_only_known_ids():
    call = _call()
    with pytest.raises(InvalidQuestionError, match="has no tool message"):
        continue_from_turns([Turn("user", "q"), Turn("assistant", tool_calls=(call,))])
    with pytest.raises(InvalidQuestionError, match="no assistant tool call made"):
        continue_from_turns(
            [
                Turn("user", "q"),
                Turn("assistant", tool_calls=(call,)),
                Turn("tool", "r", tool_call_id="other"),
            ]
        )
