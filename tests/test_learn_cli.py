"""``o1agent train`` CLI: the group registers, ``data`` writes the three files, errors exit 2."""

from __future__ import annotations

import json

from test_learn_data import _trace
from typer.testing import CliRunner

from o1agent.cli import app


def test_train_group_is_registered():
    res = CliRunner().invoke(app, ["train", "--help"])
    assert res.exit_code == 0
    for cmd in ("data", "sft", "dpo", "prm", "grpo", "export", "iterate"):
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
