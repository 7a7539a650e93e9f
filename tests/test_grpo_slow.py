"""A real RL run, end to end and tiny: base export + held-out eval on llama.cpp, TRL GRPO with
LoRA, per-step log, export, eval, report; then a rerun resumes instead of starting over."""

from __future__ import annotations

import json

import pytest

from o1agent.learn.grpo import RLConfig, RLState, run_rl

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1200)  # two GGUF exports and two model loads: minutes on 2 busy cores
def test_ttrl_run_end_to_end_then_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    cfg = RLConfig(
        mode="ttrl",
        steps=2,
        prompts_per_step=1,
        generations=4,
        max_completion=24,
        train_items=8,
        eval_items=3,
        save_every=1,
        threads=2,
    )
    ticks: list[tuple[str, int, int, dict]] = []
    state = run_rl(cfg, tmp_path, tick=lambda *a: ticks.append(a))
    assert state.done == ["base", "train", "export", "eval"]
    assert state.base is not None and state.base.total == 3 and state.trained is not None
    steps = [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]
    for s in steps:
        assert 0.0 <= s["reward"] <= 1.0 and 0.0 <= s["accuracy"] <= 1.0
        assert s["label_accuracy"] is None or 0.0 <= s["label_accuracy"] <= 1.0
    assert [t[1] for t in ticks if t[0] == "train"] == [1, 2]
    assert len((tmp_path / "eval_eval.jsonl").read_text().splitlines()) == 3
    report = (tmp_path / "report.md").read_text()
    assert "TTRL" in report and "| 2 |" in report
    assert (tmp_path / "policy.gguf").stat().st_size > 100_000_000
    # Rerun: every stage is recorded as done, nothing is recomputed.
    messages: list[str] = []
    again = run_rl(cfg, tmp_path, progress=messages.append)
    assert RLState.model_validate(again) == RLState.model_validate(state)
    assert sum("already done" in m for m in messages) == 4
