"""``o1agent train`` CLI: the group registers, ``data`` writes the three files, errors exit 2."""

from __future__ import annotations

import json

from test_learn_data import _trace
from typer.testing import CliRunner

from o1agent.cli import app


def test_train_group_is_registered():
    res = CliRunner().invoke(app, ["train", "--help"])
    assert res.exit_code == 0
    for cmd in ("data", "sft", "dpo", "prm", "grpo", "ttrl", "export", "iterate"):
        assert cmd in res.output


def test_train_data_writes_sft_dpo_prm(tmp_path):
    trace = _trace("r1").write_jsonl(tmp_path / "t.jsonl")
    res = CliRunner().invoke(app, ["train", "data", str(trace), "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    sft = [json.loads(x) for x in (tmp_path / "d" / "sft.jsonl").read_text().splitlines()]
    assert len(sft) == 1 and sft[0]["answer"] == "5"
    assert len((tmp_path / "d" / "dpo.jsonl").read_text().splitlines()) == 3
    assert len((tmp_path / "d" / "prm.jsonl").read_text().splitlines()) == 6


def test_missing_trace_exits_2(tmp_path):
    res = CliRunner().invoke(app, ["train", "data", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 2 and "no trace file" in res.output


def test_iterate_cli_shows_bars_and_the_per_round_table(tmp_path, monkeypatch):
    # The CLI's part only: progress bars fed by ticks, stage lines, the table and the report path
    # (the iteration itself is tested in test_learn_iterate).
    from o1agent.learn import iterate
    from o1agent.learn.iterate import IterateState, RoundResult

    def fake_run(cfg, workdir, *, progress=None, tick=None):
        progress("round 0: eval ...")
        for i in range(3):
            tick("eval", i + 1, 3)
        progress("round 0: held-out accuracy 1/3")
        return IterateState(
            config=cfg,
            rounds=[
                RoundResult(round=0, policy="p", accuracy=1 / 3, correct=1, total=3, wilson=(0.06, 0.79))
            ],
        )

    monkeypatch.setattr(iterate, "run_iteration", fake_run)
    res = CliRunner().invoke(app, ["train", "iterate", "--workdir", str(tmp_path), "--eval-items", "3"])
    assert res.exit_code == 0, res.output
    assert "round 0 eval" in res.output and "3/3" in res.output
    assert "0.333" in res.output and "report.md" in res.output
    bad = CliRunner().invoke(app, ["train", "iterate", "--workdir", str(tmp_path), "--config", "{nope"])
    assert bad.exit_code == 2


def test_training_shows_a_step_bar_with_eta(tmp_path, monkeypatch):
    # The CLI's part: the trainer's on_step hook drives a bar of steps with elapsed time and ETA
    # (the hook itself is checked on real training in test_learn_train). The console is a
    # terminal here so rich renders the bar as a user sees it.
    import io
    import re
    import time

    from rich.console import Console

    from o1agent.learn import cli as learn_cli
    from o1agent.learn import train
    from o1agent.learn.train import RunReport

    screen = io.StringIO()
    monkeypatch.setattr(learn_cli, "console", Console(file=screen, force_terminal=True, color_system=None, width=160))
    monkeypatch.setattr(learn_cli, "_template", lambda base: None)
    seen: list[tuple[int, int]] = []

    def fake_prm(labels, cfg, *, on_step):
        for i in range(cfg.max_steps + 1):
            on_step(i, cfg.max_steps)
            seen.append((i, cfg.max_steps))
            time.sleep(0.05)
        return RunReport(
            kind="prm", output=str(cfg.output), base="base", examples=len(labels), steps=cfg.max_steps,
            seconds=0.2, cpu_seconds=0.2, losses=[0.5] * cfg.max_steps, weight_delta=0.1,
        )  # fmt: skip

    monkeypatch.setitem(train.TRAINERS, "prm", fake_prm)
    trace = _trace("r1").write_jsonl(tmp_path / "t.jsonl")
    res = CliRunner().invoke(app, ["train", "prm", str(trace), "--out", str(tmp_path / "p"), "--steps", "4"])
    assert res.exit_code == 0, res.output
    assert seen[-1] == (4, 4)
    out = screen.getvalue()
    assert "PRM on 6 step labels" in out and "4/4 steps" in out
    assert re.search(r"━+\s+[0-3]/4 steps \d+:\d\d:\d\d ETA \d+:\d\d:\d\d", out)  # mid-run, with an ETA
    assert not any(ch in out for ch in "⠋⠙⠹⠸")  # a bar, not rich's spinner
