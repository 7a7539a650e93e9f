"""Math-Shepherd labelling on the embedded model through the batched path, then a PRM fitted to the
labels by the CLI (``train label`` → ``train prm --labels``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from o1agent.cli import app
from o1agent.learn.shepherd import read_labels

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_label_then_fit_a_prm_on_the_embedded_model(tmp_path: Path) -> None:
    runner = CliRunner()
    work = tmp_path / "labels"
    args = ["train", "label", "--out", str(work), "--problems", "2", "--solutions", "2", "--rollouts", "2",
            "--max-tokens", "96", "--config", '{"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}']
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    labels = read_labels(work / "labels.jsonl")
    ledger = [json.loads(x) for x in (work / "problems.jsonl").read_text().splitlines()]
    assert [r["index"] for r in ledger] == [0, 1] and all(r["tokens"] > 0 for r in ledger)
    assert sum(r["labels"] for r in ledger) == len(labels) > 0
    assert all(0.0 <= lab.soft <= 1.0 and lab.prompt.rstrip().endswith(f"Step {lab.node_id}:") for lab in labels)
    # The default style is stepwise (one operation per step), recorded for train prm to pick up.
    assert all("exactly one operation" in lab.prompt for lab in labels)
    assert json.loads((work / "summary.json").read_text())["prompts"] == "stepwise"
    # Each solution's steps are numbered 1.. in order; completions were graded (rollouts > 1 somewhere
    # unless every solution answered in its first step).
    by_run: dict[str, list[int]] = {}
    for lab in labels:
        by_run.setdefault(lab.run_id, []).append(int(lab.node_id))
    assert all(v == list(range(1, len(v) + 1)) for v in by_run.values())
    # A rerun resumes: nothing is labelled twice.
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(read_labels(work / "labels.jsonl")) == len(labels)
    res = runner.invoke(app, ["train", "prm", "--labels", str(work / "labels.jsonl"), "--out", str(tmp_path / "prm"),
                              "--steps", "3"])
    assert res.exit_code == 0, res.output
    # The PRM carries the labels' style, and search-time scoring renders paths in it.
    assert json.loads((tmp_path / "prm" / "prm_config.json").read_text())["prompts"] == "stepwise"
    from o1agent.rewards.prm import LearnedPRM
    from o1agent.schema import Step

    prm = LearnedPRM(tmp_path / "prm")
    assert "exactly one operation" in prm.renderer.prompt_steps("What is 2 + 3?", [Step(raw="2 + 3 = 5")])
    assert LearnedPRM(tmp_path / "prm", prompts="g1").renderer.prompts.name == "g1"
