"""Round trips of the one schema: JSON, JSONL traces, and trees rebuilt from traces."""

from __future__ import annotations

from helpers import TableReward, step_responder

from o1agent import Reasoner
from o1agent.policies import ScriptedPolicy
from o1agent.schema import Budget, Node, Result, Step, ToolCall, Trace, Tree, Usage, merge_tree


def test_node_and_tree_round_trip():
    tree = Tree.new("q?")
    child = Node(
        id="0.0",
        parent_id="0",
        depth=1,
        step=Step(
            title="t",
            text="x",
            raw="t\nx",
            answer="3",
            is_final=True,
            tool_calls=[ToolCall(name="calculator", arguments={"expression": "1+2"}, output="3")],
        ),
        score=0.7,
    )
    tree = tree.merged({"0.0": child, "0": tree.root.model_copy(update={"children": ["0.0"]})})
    again = Tree.model_validate_json(tree.model_dump_json())
    assert again == tree
    assert again.path("0.0")[0].step.tool_calls[0].output == "3"
    assert again.ancestors("0.0") == ["0"]


def test_merge_tree_reducer_replaces_by_id():
    t = Tree.new("q")
    n = Node(id="0.0", parent_id="0", depth=1)
    merged = merge_tree(t, {"0.0": n})
    assert set(merged.nodes) == {"0", "0.0"}
    n2 = n.model_copy(update={"score": 0.9})
    assert merge_tree(merged, {"0.0": n2}).get("0.0").score == 0.9


def test_usage_adds_and_budget_checks():
    u = Usage(prompt_tokens=10, completion_tokens=5, nodes=1) + Usage(
        prompt_tokens=1, completion_tokens=1, nodes=2
    )
    assert u.total_tokens == 17 and u.nodes == 3
    assert Budget(max_tokens=17).exhausted(u) == "tokens"
    assert Budget(max_tokens=100, max_nodes=3).exhausted(u) == "nodes"
    assert Budget(max_tokens=100, max_nodes=10).exhausted(u) is None


async def test_result_and_trace_round_trip(tmp_path):
    script = {
        "0": ["A\nfirst", "B\nsecond"],
        "0.0": ["Done\nFinal answer: 4"],
        "0.1": ["Done\nFinal answer: 5"],
    }
    r = Reasoner(
        model=ScriptedPolicy(step_responder(script)),
        strategy="dfs",
        strategy_config={"k": 2, "threshold": 0.2, "greedy_first": False},
        reward=TableReward({"A": 0.9, "B": 0.4, "Done": 0.8}),
    )
    res = await r.asolve("q?")
    again = Result.model_validate_json(res.model_dump_json())
    assert again == res
    path = res.trace.write_jsonl(tmp_path / "t.jsonl")
    trace = Trace.read_jsonl(path)
    assert len(trace) == len(res.trace)
    assert trace.run_ids() == [res.run_id]
    rebuilt = trace.tree(res.run_id)
    assert set(rebuilt.nodes) == set(res.tree.nodes)
    for nid, node in res.tree.nodes.items():
        assert rebuilt.get(nid).step == node.step
        assert rebuilt.get(nid).score == node.score
