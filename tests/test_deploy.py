"""The deployed graph (``o1agent.deploy``, served by ``graphs/reasoning.py``): JSON settings as the run
context, resolved over the deployment's defaults; trees replayed from a checkpoint as plain dicts.
The real ``langgraph dev`` server is in test_langgraph_dev.py."""

from __future__ import annotations

import pytest

from o1agent.deploy import deployed_graph
from o1agent.errors import UnknownStrategyError
from o1agent.policies import ScriptedPolicy
from o1agent.schema import Node, Step, Tree, merge_tree


def _graph():
    return deployed_graph(model=ScriptedPolicy(lambda r: "Add\n2 + 3 = 5\nFinal answer: 5"), reward=None)


async def test_settings_override_the_defaults_and_others_are_kept():
    graph = _graph()
    schema = graph.get_context_jsonschema()
    assert {"model", "api_base", "strategy", "reward", "max_tokens", "seed", "tools"} <= set(schema["properties"])
    kinds, state = [], {}
    async for mode, chunk in graph.astream(
        {"question": "2+3?"},
        # A platform mirrors its own configurable keys into the context: they are ignored.
        context={"strategy": "greedy", "max_tokens": 500, "thread_id": "t1"},
        stream_mode=["custom", "values"],
    ):
        if mode == "custom":
            kinds.append(chunk["kind"])
        else:
            state = chunk
    assert kinds[0] == "start" and kinds[-1] == "finalize"
    assert (state["result"].answer, state["result"].strategy) == ("5", "greedy")
    default = await graph.ainvoke({"question": "2+3?"})  # no context: the deployment's defaults
    assert (default["result"].answer, default["result"].strategy) == ("5", "dfs")


async def test_a_bad_setting_fails_the_run_naming_it():
    with pytest.raises(UnknownStrategyError, match="nope"):
        await _graph().ainvoke({"question": "2+3?"}, context={"strategy": "nope"})


def test_trees_replayed_as_dicts_are_revived():
    base = Tree()
    child = Node(id="0.0", parent_id="0", depth=1, step=Step(text="x"))
    merged = merge_tree(base.model_dump(), {"0.0": child.model_dump()})  # type: ignore[arg-type]
    assert isinstance(merged, Tree) and isinstance(merged.get("0.0"), Node)
    assert merged.get("0.0").step.text == "x"
