"""Math-Shepherd Monte-Carlo step labels (``o1agent.learn.shepherd``) on a scripted policy, and the
``train label`` / ``train prm --labels`` commands' errors. The real-model run is in
``test_shepherd_slow.py``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from o1agent.cli import app
from o1agent.errors import LearnError
from o1agent.learn.data import PRMLabel
from o1agent.learn.shepherd import (
    Labeler,
    ShepherdConfig,
    completion_answer,
    first_error_metrics,
    label_items,
    read_labels,
    split_solution,
    summary,
)
from o1agent.policies.base import CompletionRequest
from o1agent.policies.scripted import ScriptedPolicy

RIGHT = " Add the first two\n12 + 34 = 46\n\nStep 2: Add the last\n46 + 7 = 53\nFinal answer: 53\n\nStep 3: more"
WRONG = " Add the first two\n12 + 34 = 47\n\nStep 2: Add the last\n47 + 7 = 54\nFinal answer: 54"


def test_split_solution_stops_at_the_answer_and_at_max_steps() -> None:
    steps, answered = split_solution(RIGHT, max_steps=6)
    assert answered and [s.answer for s in steps] == [None, "53"]
    assert steps[0].raw == "Add the first two\n12 + 34 = 46"
    steps, answered = split_solution(" a\n1\n\nStep 2: b\n2\n\nStep 3: c\n3", max_steps=2)
    assert not answered and [s.raw for s in steps] == ["a\n1", "b\n2"]
    assert completion_answer(" Add 7\n46 + 7 = 53\nFinal answer: 53\n\nStep 4: x\nFinal answer: 9") == "53"


def _responder(calls: list[CompletionRequest]):
    def respond(req: CompletionRequest) -> str:
        calls.append(req)
        prefix = req.assistant_prefix
        if prefix.rstrip().endswith("Step 1:"):
            return RIGHT if req.temperature == 0.0 else WRONG
        # A completion after step 1: it carries on from whatever step 1 claimed.
        if "12 + 34 = 46" in prefix:
            return " Add the last\n46 + 7 = 53\nFinal answer: 53"
        return " Add the last\n47 + 7 = 54\nFinal answer: 54"

    return respond


ITEM = {"question": "What is 12 + 34 + 7?", "answer": "53"}


def _grade(answer: str | None, item: dict) -> bool:
    return answer is not None and answer.strip() == item["answer"]


def test_labels_are_the_share_of_right_completions_per_step() -> None:
    calls: list[CompletionRequest] = []
    labeler = Labeler(ScriptedPolicy(_responder(calls)), _grade, ShepherdConfig(solutions=2, rollouts=3))
    labels, rec = asyncio.run(labeler.label(0, ITEM))
    got = [(lab.run_id, lab.node_id, lab.soft, lab.hard, lab.rollouts) for lab in labels]
    assert got == [
        ("shepherd-0-0", "1", 1.0, 1, 3),  # completed 3 times from "= 46": all reach 53
        ("shepherd-0-0", "2", 1.0, 1, 1),  # the answering step: its own answer
        ("shepherd-0-1", "1", 0.0, 0, 3),  # from "= 47" every completion ends at 54
        ("shepherd-0-1", "2", 0.0, 0, 1),
    ]
    assert rec.first_correct and rec.solutions_correct == 1 and rec.labels == 4 and rec.tokens > 0
    # The PRM text is the graph's own prompt up to the step's label, then the step.
    assert labels[1].prompt.rstrip().endswith("Step 2:") and "Step 1: Add the first two" in labels[1].prompt
    assert labels[1].step == " Add the last\n46 + 7 = 53\nFinal answer: 53"
    # Only the question reaches the policy, never the gold answer's item fields.
    assert all("53" not in m.content for r in calls for m in r.messages)
    # Rollouts are sampled and seeded; the first solution greedy.
    rollouts = [r for r in calls if not r.assistant_prefix.rstrip().endswith("Step 1:")]
    assert rollouts and all(r.temperature == 0.8 and r.seed is not None for r in rollouts)


def test_a_solution_cut_before_it_answers_has_every_step_completed() -> None:
    policy = ScriptedPolicy(lambda req: " a\n1\n\nStep 2: b\n2\n\nStep 3: c\n3")
    labels, rec = asyncio.run(Labeler(policy, _grade, ShepherdConfig(solutions=1, rollouts=2, max_steps=2)).label(0, ITEM))
    assert [(lab.node_id, lab.soft, lab.rollouts) for lab in labels] == [("1", 0.0, 2), ("2", 0.0, 2)]
    assert not rec.first_correct


def test_label_items_resumes_without_duplicates(tmp_path: Path) -> None:
    items = [dict(ITEM, question=f"What is 12 + 34 + 7? ({i})") for i in range(3)]
    calls: list[CompletionRequest] = []
    labeler = Labeler(ScriptedPolicy(_responder(calls)), _grade, ShepherdConfig(solutions=1, rollouts=2))
    asyncio.run(label_items(labeler, items, tmp_path))
    full = (tmp_path / "labels.jsonl").read_text()
    # A kill after problem 0's ledger line: the others' labels were written, their lines were not.
    ledger = (tmp_path / "problems.jsonl").read_text().splitlines()
    first = next(line for line in ledger if json.loads(line)["index"] == 0)
    (tmp_path / "problems.jsonl").write_text(first + "\n")
    calls.clear()
    records = asyncio.run(label_items(labeler, items, tmp_path))
    assert [r.index for r in records] == [0, 1, 2]
    assert {"(0)" in r.messages[-1].content for r in calls} == {False}  # problem 0 not redone
    again = read_labels(tmp_path / "labels.jsonl")
    assert sorted(lab.model_dump_json() for lab in again) == sorted(full.splitlines())
    info = summary(records, again)
    assert info["problems"] == 3 and info["labels"] == 6 and info["first_solution_accuracy"] == 1.0


def test_read_labels_errors(tmp_path: Path) -> None:
    with pytest.raises(LearnError, match="no PRM label file"):
        read_labels(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "q"}\n')
    with pytest.raises(LearnError, match="not PRM labels"):
        read_labels(bad)


def test_cli_prm_needs_traces_or_labels_and_label_checks_its_options(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["train", "prm", "--out", str(tmp_path / "p")])
    assert res.exit_code == 2 and "--labels" in res.output
    res = runner.invoke(app, ["train", "prm", "--labels", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "p")])
    assert res.exit_code == 2 and "no PRM label file" in res.output
    res = runner.invoke(app, ["train", "label", "--out", str(tmp_path / "l"), "--rollouts", "0"])
    assert res.exit_code == 2 and "rollouts" in res.output
    res = runner.invoke(app, ["train", "label", "--out", str(tmp_path / "l"), "--config", "{bad"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["train", "label", "--out", str(tmp_path / "l"), "--task", "reasoning_gym:nope"])
    assert res.exit_code == 2 and "nope" in res.output
    res = runner.invoke(app, ["train", "label", "--out", str(tmp_path / "l"), "--prompts", "no-such-style"])
    assert res.exit_code == 2 and "no-such-style" in res.output and "stepwise" in res.output


def _lab(run: str, step: int, hard: int) -> PRMLabel:
    return PRMLabel(problem="q", run_id=run, node_id=str(step), prompt="p", step=" s", soft=float(hard), hard=hard, rollouts=1)


def test_first_error_metrics_follow_processbench() -> None:
    labels = [
        _lab("a", 1, 1), _lab("a", 2, 0), _lab("a", 3, 0),  # first error: step 2
        _lab("b", 1, 1), _lab("b", 2, 1),  # correct
        _lab("c", 1, 0), _lab("c", 2, 0),  # first error: step 1
    ]
    # The PRM finds a's error, flags nothing in b, and misses c's first step (flags step 2).
    probs = [0.9, 0.2, 0.1, 0.8, 0.7, 0.6, 0.3]
    m = first_error_metrics(labels, probs)
    assert (m["erroneous_solutions"], m["correct_solutions"]) == (2, 1)
    assert m["first_error_accuracy_erroneous"] == 0.5 and m["accuracy_correct"] == 1.0
    assert m["processbench_f1"] == round(2 * 0.5 * 1.0 / 1.5, 3)
    assert m["step_accuracy"] == round(6 / 7, 3)
    # AUC: positives (0.9, 0.8, 0.7) against negatives (0.2, 0.1, 0.6, 0.3): every pair won.
    assert m["step_auc"] == 1.0
    with pytest.raises(LearnError, match="7 labels but 6"):
        first_error_metrics(labels, probs[:6])
