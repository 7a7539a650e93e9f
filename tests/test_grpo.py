"""RL runs (``o1agent.learn.grpo``): the label-free majority reward, the arithmetic bonus, state,
resume bookkeeping, the report and the CLI — quick; the real runs are in ``test_grpo_slow``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from o1agent.cli import app
from o1agent.errors import LearnError
from o1agent.learn.grpo import (
    MajorityVoteReward,
    RLConfig,
    RLRun,
    RLState,
    arithmetic_reward,
    write_report,
)
from o1agent.learn.iterate import HeldOut


def _c(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def test_majority_vote_rewards_agreement_per_question_not_per_position():
    vote = MajorityVoteReward()
    q = ["a", "b", "a", "b", "a", "b"]
    completions = [_c(f"Final answer: {x}") for x in ("5", "7", "5", "8", "6", "9")]
    # a: 5,5,6 -> majority 5; b: 7,8,9 -> no answer has 2 votes -> no majority, all 0.
    got = vote(completions, question=q, answer=["5", "9", "5", "9", "5", "9"])
    assert got == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert vote.drain() == pytest.approx(0.5)  # a's label right; b had none
    assert vote.drain() is None  # drained


def test_majority_vote_never_reads_gold_for_the_reward():
    completions = [_c("The total is 12."), _c("Final answer: 12"), _c("12.0"), _c("nothing")]
    q = ["x"] * 4
    right = MajorityVoteReward()(completions, question=q, answer=["12"] * 4)
    wrong = MajorityVoteReward()
    assert wrong(completions, question=q, answer=["99"] * 4) == right == [1.0, 1.0, 1.0, 0.0]
    assert wrong.drain() == 0.0  # ... but the wrong label is counted as wrong


def test_arithmetic_bonus_is_the_weighted_fraction_of_claims_that_hold():
    r = arithmetic_reward(0.2)
    got = r([_c("3 + 4 = 7\n7 + 5 = 13"), _c("2 * 3 = 6"), _c("no arithmetic here")])
    assert got == pytest.approx([0.1, 0.2, 0.0])


def test_a_rerun_with_other_settings_is_refused(tmp_path):
    RLRun(RLConfig(steps=3), tmp_path)._save()
    RLRun(RLConfig(steps=3), tmp_path)  # same settings: resumes
    with pytest.raises(LearnError, match="steps"):
        RLRun(RLConfig(steps=4), tmp_path)


def test_resume_trims_the_step_log_to_the_checkpoint(tmp_path):
    run = RLRun(RLConfig(), tmp_path)
    run.steps_path.write_text("".join(json.dumps({"step": i}) + "\n" for i in range(1, 8)))
    run._trim_steps(5)
    assert [json.loads(x)["step"] for x in run.steps_path.read_text().splitlines()] == [1, 2, 3, 4, 5]


def test_rewards_by_mode():
    ttrl = RLRun.__new__(RLRun)
    ttrl.config = RLConfig(mode="ttrl")
    ttrl.task = type("T", (), {"score": staticmethod(lambda a, it: 1.0)})()
    funcs, weights, vote = ttrl.rewards()
    # TTRL: the scorer is carried with weight 0 (logged accuracy), the vote is the reward.
    assert [getattr(f, "__name__", "") for f in funcs] == ["majority_vote", "accuracy"] and weights == [1.0, 0.0]
    assert vote is funcs[0]
    ttrl.config = RLConfig(arith_weight=0.1)
    funcs, weights, vote = ttrl.rewards()
    assert [f.__name__ for f in funcs] == ["accuracy", "arith_claims"] and vote is None


def _held(c: int, n: int = 100) -> HeldOut:
    return HeldOut(correct=c, total=n, accuracy=c / n, wilson=(0.1, 0.3), unseen_correct=c, unseen_total=n)


def test_report_has_before_after_lift_and_the_step_table(tmp_path):
    state = RLState(config=RLConfig(mode="ttrl"), base=_held(10), trained=_held(23), cpu_minutes={"base": 1.0, "train": 30.0})
    rows = [{"step": i, "reward": 0.5, "accuracy": 0.2, "label_accuracy": 0.5, "kl": None, "cpu_s": 10 * i} for i in (1, 2)]
    (tmp_path / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = write_report(state, tmp_path).read_text()
    assert "10/100 = 0.10" in text and "23/100 = 0.23" in text and "Lift: +13.0 points" in text
    assert "majority answer" in text and text.count("| 1 |") == 1 and "| 2 |" in text
    assert (tmp_path / "steps.png").exists()


def test_cli_has_grpo_and_ttrl_and_rejects_bad_input(tmp_path):
    runner = CliRunner()
    for cmd in ("grpo", "ttrl"):
        res = runner.invoke(app, ["train", cmd, "--help"])
        assert res.exit_code == 0 and "--workdir" in res.output and "--steps" in res.output
    res = runner.invoke(app, ["train", "grpo", "--workdir", str(tmp_path / "x"), "--config", "{not json"])
    assert res.exit_code == 2 and "error" in res.output
    res = runner.invoke(app, ["train", "ttrl", "--workdir", str(tmp_path / "y"), "--generations", "1"])
    assert res.exit_code == 2 and "generations" in res.output
    res = runner.invoke(app, ["train", "grpo", "--workdir", str(tmp_path / "z"), "--task", "reasoning_gym:nope"])
    assert res.exit_code == 2 and "nope" in res.output
