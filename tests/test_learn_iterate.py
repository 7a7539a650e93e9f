"""Expert iteration: Wilson intervals, state handling, and one tiny round end to end (slow)."""

from __future__ import annotations

import json

import pytest

from o1agent.errors import LearnError
from o1agent.learn.iterate import (
    HeldOut,
    IterateConfig,
    IterateState,
    Iteration,
    RoundResult,
    Task,
    wilson_interval,
    write_report,
)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_task_items_differ_by_seed_and_score():
    t = Task("reasoning_gym:chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1})
    a, b = t.items(20, 1), t.items(20, 2)
    assert [x["question"] for x in a] != [x["question"] for x in b]
    assert t.score(a[0]["answer"], a[0]) == 1.0 and t.score("not a number", a[0]) == 0.0
    with pytest.raises(LearnError, match="unknown task"):
        Task("gsm8k", {})


def test_resume_refuses_different_settings(tmp_path):
    cfg = IterateConfig(train_items=4, eval_items=4)
    it = Iteration(cfg, tmp_path)
    it._save()
    Iteration(cfg.model_copy(update={"rounds": 3}), tmp_path)  # more rounds: fine
    with pytest.raises(LearnError, match="train_items"):
        Iteration(cfg.model_copy(update={"train_items": 8}), tmp_path)


def test_report_lists_every_round_with_its_interval_and_cpu(tmp_path):
    state = IterateState(
        config=IterateConfig(rounds=2),
        rounds=[
            RoundResult(
                round=0,
                policy="a",
                accuracy=0.17,
                correct=17,
                total=100,
                wilson=wilson_interval(17, 100),
                search_solved=30,
                search_items=64,
                cpu_minutes={"eval": 2.0, "search": 5.0},
            ),
            RoundResult(
                round=1,
                policy="b",
                accuracy=0.39,
                correct=39,
                total=100,
                wilson=wilson_interval(39, 100),
                sft_rows=30,
                train_loss=(1.2, 0.4),
                cpu_minutes={"train": 10.0, "eval": 2.5},
            ),
        ],
    )
    text = write_report(state, tmp_path).read_text()
    assert "| 0 | 17/100 = 0.17 | [0.11, 0.26] |" in text
    assert "| 1 | 39/100 = 0.39 | [0.30, 0.49] |" in text
    assert "1.200→0.400" in text and "| 12.5 | 19.5 |" in text
    assert (tmp_path / "accuracy.png").stat().st_size > 0


def _held(correct: int, total: int, tokens: float) -> HeldOut:
    return HeldOut(
        correct=correct,
        total=total,
        accuracy=correct / total,
        wilson=wilson_interval(correct, total),
        unseen_correct=correct,
        unseen_total=total,
        mean_tokens=tokens,
    )


def test_report_with_prm_shows_both_beams_at_their_tokens_and_the_prm_fit(tmp_path):
    state = IterateState(
        config=IterateConfig(rounds=1, prm=True, beam_tokens=1500),
        rounds=[
            RoundResult(round=0, policy="a", accuracy=0.2, correct=4, total=20, prm_labels=37, prm_loss=(0.7, 0.3)),
            RoundResult(
                round=1,
                policy="b",
                accuracy=0.3,
                correct=6,
                total=20,
                beam_prm=_held(9, 20, 1234.4),
                beam_blind=_held(5, 20, 1300.0),
            ),
        ],
    )
    text = write_report(state, tmp_path).read_text()
    assert "under 1500 tokens per item" in text
    section = text.split("## Policy + PRM search")[1].splitlines()
    row0 = next(line for line in section if line.startswith("| 0 | 4/20"))
    assert "| 37 | 0.700→0.300 |" in row0 and "| - | - |" in row0  # round 0 has no earlier PRM
    row1 = next(line for line in section if line.startswith("| 1 | 6/20"))
    assert "9/20 = 0.45 [0.26, 0.66], 1234 tok" in row1 and "5/20 = 0.25 [0.11, 0.47], 1300 tok" in row1


def test_iterate_cli_rejects_a_bad_base_gguf_before_loading_anything(tmp_path):
    from typer.testing import CliRunner

    from o1agent.cli import app

    res = CliRunner().invoke(app, ["train", "iterate", "--workdir", str(tmp_path), "--prm", "--base-gguf", "q8"])
    assert res.exit_code == 2, res.output
    assert "base_gguf" in res.output
    assert not (tmp_path / "round_0").exists()


@pytest.mark.slow
def test_one_tiny_round_end_to_end_and_resume(tmp_path):
    cfg = IterateConfig(
        rounds=2,
        train_items=6,
        eval_items=4,
        k=3,
        max_depth=3,
        max_nodes=8,
        step_tokens=48,
        sft_max_steps=2,
        batch_size=2,
        max_length=256,
        base_gguf="embedded",
    )
    msgs: list[str] = []
    state = Iteration(cfg, tmp_path, progress=msgs.append).run()
    r0, r1, r2 = state.rounds
    assert r0.total == 4 and r1.total == 4 and 0.0 <= r1.accuracy <= 1.0
    # Round 2 trains on what rounds 0 and 1 verified: data accumulates, never shrinks.
    assert r2.total == 4 and r2.sft_rows is not None and r2.sft_rows >= r1.sft_rows
    assert r1.unseen_total is not None and 0 <= r1.unseen_correct <= r1.unseen_total <= 4
    assert r0.search_items == 6 and r0.search_solved >= 1
    assert r1.sft_rows >= 1 and r1.train_loss is not None
    assert (tmp_path / "round_1" / "policy.gguf").stat().st_size > 100_000_000
    assert set(state.done) == {
        "r0.export", "r0.eval", "r0.search",
        "r1.train", "r1.export", "r1.eval", "r1.search",
        "r2.train", "r2.export", "r2.eval",
    }  # fmt: skip
    assert "| 2 | " in (tmp_path / "report.md").read_text()
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["rounds"][1]["accuracy"] == r1.accuracy
    # Rerunning resumes: every stage is skipped.
    again: list[str] = []
    Iteration(cfg, tmp_path, progress=again.append).run()
    assert all("already done" in m or "accuracy" in m for m in again)


@pytest.mark.slow
def test_prm_rounds_fit_a_prm_search_with_it_and_compare_beams_at_equal_tokens(tmp_path):
    cfg = IterateConfig(
        rounds=2,
        train_items=4,
        eval_items=2,
        k=2,
        max_depth=3,
        max_nodes=6,
        step_tokens=48,
        sft_max_steps=1,
        batch_size=2,
        max_length=256,
        base_gguf="embedded",
        prm=True,
        prm_steps=2,
        beam_tokens=600,
    )
    state = Iteration(cfg, tmp_path).run()
    r0, r1, r2 = state.rounds
    assert r0.prm_labels and r0.prm_loss is not None and (tmp_path / "round_0" / "prm" / "prm_config.json").exists()
    # Round 1 searched with round 0's PRM; its PRM is fitted to both rounds' trees, so it has more labels.
    assert r1.search_items == 4 and r1.prm_labels is not None and r1.prm_labels > r0.prm_labels
    assert r0.beam_prm is None  # nothing to guide round 0's beam
    for rr in (r1, r2):
        for h in (rr.beam_prm, rr.beam_blind):
            assert h is not None and h.total == 2 and h.mean_tokens is not None
            assert 0 < h.mean_tokens <= 600 + 2 * 48 * 2  # a beam stops after the step that crosses the budget
        rows = [json.loads(x) for x in (tmp_path / f"round_{rr.round}" / "beam_prm.jsonl").read_text().splitlines()]
        assert len(rows) == 2 and all("tokens" in r for r in rows)
    assert {"r1.beam", "r1.prm", "r2.beam"} <= set(state.done) and "r2.prm" not in state.done
    assert "blind beam" in (tmp_path / "report.md").read_text()
