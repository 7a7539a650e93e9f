"""Training data from traces: SFT, DPO, PRM and GRPO rows from a hand-built trace."""

from __future__ import annotations

import pytest

from o1agent.learn.data import (
    answer_reward,
    grpo_prompts,
    load_trees,
    preference_pairs,
    prm_labels,
    reasoning_gym_reward,
    sft_rows,
    step_values,
)
from o1agent.schema import Node, Step, Trace, TraceEvent, Tree

Q = "What is 2 + 3?"


def _node(
    nid: str, raw: str, *, final: bool = False, answer: str | None = None, step_score=None, outcome=None
) -> Node:
    title, _, text = raw.partition("\n")
    parent = nid.rsplit(".", 1)[0]
    return Node(
        id=nid,
        parent_id=parent,
        depth=nid.count("."),
        step=Step(title=title, text=text, raw=raw, answer=answer, is_final=final),
        status="terminal" if final else "open",
        step_score=step_score,
        outcome_score=outcome,
        score=outcome if outcome is not None else step_score,
    )


def _trace(run_id: str) -> Trace:
    nodes = [
        _node("0.0", "Add\n2 + 3 = 5", step_score=0.9),
        _node("0.1", "Guess\n2 + 3 = 6", step_score=0.2),
        _node("0.2", "Answer\nFinal answer: 7", final=True, answer="7", outcome=0.0),
        _node("0.0.0", "Answer\nFinal answer: 5", final=True, answer="5", outcome=1.0),
        _node("0.0.1", "Answer\nFinal answer: 6", final=True, answer="6", outcome=0.0),
        _node("0.1.0", "Answer\nFinal answer: 6", final=True, answer="6", outcome=0.0),
    ]
    root = Tree.new(Q).root.model_copy(update={"children": ["0.0", "0.1", "0.2"], "status": "expanded"})
    events = [
        TraceEvent(
            run_id=run_id,
            seq=0,
            kind="start",
            node_id="0",
            output=Q,
            data={"node": root.model_dump(mode="json")},
        )
    ]
    for n in nodes:
        unscored = n.model_copy(update={"score": None, "step_score": None, "outcome_score": None})
        if n.id in ("0.0", "0.1"):
            kids = [m.id for m in nodes if m.parent_id == n.id]
            n = n.model_copy(update={"children": kids, "status": "expanded"})
            unscored = unscored.model_copy(update={"children": kids})
        # The propose event carries the unscored node; the later verify event must win.
        events.append(
            TraceEvent(
                run_id=run_id,
                seq=len(events),
                kind="propose",
                node_id=n.id,
                data={"node": unscored.model_dump(mode="json")},
            )
        )
        events.append(
            TraceEvent(
                run_id=run_id,
                seq=len(events),
                kind="verify",
                node_id=n.id,
                data={"node": n.model_dump(mode="json")},
            )
        )
    events.append(
        TraceEvent(
            run_id=run_id,
            seq=len(events),
            kind="finalize",
            node_id="0.0.0",
            data={"answer": "5", "path": ["0.0", "0.0.0"]},
        )
    )
    return Trace(events=events)


@pytest.fixture()
def trees(tmp_path):
    path = tmp_path / "runs.jsonl"
    _trace("r1").write_jsonl(path)
    _trace("r2").write_jsonl(path, append=True)
    return load_trees([path])


def test_load_trees_groups_runs(trees):
    assert [r for r, _ in trees] == ["r1", "r2"]
    assert trees[0][1].get("0.0").step_score == 0.9


def test_step_values_are_math_shepherd_estimates(trees):
    v = step_values(trees[0][1])
    assert v["0.0"] == (0.5, 1.0, 2)
    assert v["0.1"] == (0.0, 0.0, 1)
    assert v["0.0.0"] == (1.0, 1.0, 1)
    assert v["0"] == (0.25, 1.0, 4)


def test_sft_rows_best_verified_path_rendered_like_the_graph(trees):
    rows = sft_rows(trees)
    assert len(rows) == 1  # two runs found the same solution: one example
    row = rows[0]
    assert row.node_ids == ["0.0", "0.0.0"] and row.answer == "5" and row.run_id == "r1"
    assert row.completion == " Add\n2 + 3 = 5\n\nStep 2: Answer\nFinal answer: 5<|im_end|>"
    assert row.prompt.startswith("<|im_start|>system\n") and row.prompt.endswith(
        "<|im_start|>assistant\nStep 1:"
    )
    assert Q in row.prompt
    # The graph's step-2 prompt is a prefix of prompt + completion: training matches inference.
    from o1agent.learn.data import Renderer

    step2 = Renderer().prompt(Q, [trees[0][1].get("0.0")])
    assert (row.prompt + row.completion).startswith(step2)
    assert row.messages[-1]["role"] == "assistant" and row.messages[-1]["content"].startswith("Step 1: Add")
    assert sft_rows(trees, threshold=1.01) == []


def test_preference_pairs_siblings_by_margin(trees):
    pairs = [p for p in preference_pairs(trees) if p.run_id == "r1"]
    got = {(p.parent_id, p.chosen_id, p.rejected_id) for p in pairs}
    assert got == {("0", "0.0", "0.1"), ("0", "0.0", "0.2"), ("0.0", "0.0.0", "0.0.1")}
    p = next(p for p in pairs if p.parent_id == "0.0")
    assert p.chosen == " Answer\nFinal answer: 5<|im_end|>" and p.rejected.endswith("6<|im_end|>")
    assert p.prompt.endswith("Step 1: Add\n2 + 3 = 5\n\nStep 2:")
    assert preference_pairs(trees, margin=0.6) == [
        q for q in preference_pairs(trees) if q.chosen_value - q.rejected_value >= 0.6
    ]
    assert preference_pairs(trees) == preference_pairs(list(trees))  # deterministic


def test_prm_labels_hard_and_soft(trees):
    labels = {(lab.run_id, lab.node_id): lab for lab in prm_labels(trees)}
    assert len(labels) == 12
    a = labels[("r1", "0.0")]
    assert (a.soft, a.hard, a.rollouts) == (0.5, 1, 2)
    b = labels[("r1", "0.1.0")]
    assert (b.soft, b.hard) == (0.0, 0) and b.prompt.endswith("Step 2:")


def test_grpo_prompts_and_rewards():
    items = [
        {"question": "1 + 2 =", "answer": "3", "metadata": {"x": 1}},
        {"question": "2 + 2 =", "answer": "4"},
    ]
    rows = grpo_prompts(items)
    assert rows[0].prompt.endswith("Step 1:") and rows[1].metadata == "{}"
    fn = answer_reward()
    assert fn(completions=[" Sum\nFinal answer: 3", " 5"], answer=["3", "4"]) == [1.0, 0.0]


def test_reasoning_gym_reward_uses_the_dataset_scorer():
    import reasoning_gym

    ds = reasoning_gym.create_dataset(
        "chain_sum", size=2, seed=3, min_terms=2, max_terms=2, min_digits=1, max_digits=1
    )
    rows = grpo_prompts(list(ds))
    fn = reasoning_gym_reward("chain_sum", min_terms=2, max_terms=2, min_digits=1, max_digits=1)
    cols = {k: [getattr(r, k) for r in rows] for k in ("question", "answer", "metadata")}
    good = [f" Add\nFinal answer: {r.answer}" for r in rows]
    assert fn(completions=good, **cols) == [1.0, 1.0]
    assert fn(completions=[" 99999", " 99999"], **cols) == [0.0, 0.0]
