"""``o1agent eval`` as a user runs it: a real subprocess on a ScriptedPolicy-backed model (via
``--model py:module:attr``), killed with SIGKILL or stopped with SIGTERM mid-run, then rerun:
no duplicate rows, no missing rows, no partial lines. Plus clear errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from o1agent.cli import app

O1AGENT = Path(sys.executable).parent / "o1agent"

POLICY_MODULE = textwrap.dedent(
    """
    import re
    from o1agent.policies.scripted import ScriptedPolicy

    def respond(req):
        text = "\\n".join(m.content for m in req.messages)
        found = re.findall(r"problem: ([\\d\\s+\\-]+)=", text)
        val = eval(found[-1]) if found else 0
        return [f"Final answer: {val + (val % 2)}"] * req.n

    def make():
        # Slow enough that a kill lands mid-run, fast enough for a unit test.
        return ScriptedPolicy(respond, latency=0.15, name="scripted-slow")
    """
)


def cmd(out: Path, *extra: str) -> list[str]:
    return [
        str(O1AGENT), "eval", "--dataset", "reasoning_gym:chain_sum", "--config", "min_terms=2,max_terms=2",
        "--n", "12", "--seed", "3", "--strategy", "greedy", "--no-baselines", "--max-tokens", "300,600",
        "--reward", "none", "--model", "py:evalpolicy:make", "--no-plot", "--out", str(out), *extra,
    ]  # fmt: skip


@pytest.fixture()
def env(tmp_path):
    (tmp_path / "evalpolicy.py").write_text(POLICY_MODULE)
    return {**os.environ, "PYTHONPATH": str(tmp_path), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def wait_for_rows(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(
                f"eval exited early ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}"
            )
        time.sleep(0.05)
    raise AssertionError(f"no {n} rows in {path} after {timeout}s")


def check_complete(items: Path) -> None:
    data = items.read_bytes()
    assert data.endswith(b"\n")
    rows = [json.loads(line) for line in data.decode().splitlines()]  # every line parses
    keys = [(r["item_id"], r["strategy"], r["max_tokens"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == 24  # 12 items × 2 budgets: none twice, none missing
    assert {k[2] for k in keys} == {300, 600} and len({k[0] for k in keys}) == 12


def test_sigkill_mid_run_then_rerun_resumes_without_duplicates(tmp_path, env):
    out = tmp_path / "run"
    proc = subprocess.Popen(cmd(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(out / "items.jsonl", 3, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    data = (out / "items.jsonl").read_bytes()
    partial = data.count(b"\n")
    assert 3 <= partial < 24 and data.endswith(b"\n")
    done = subprocess.run(cmd(out), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    check_complete(out / "items.jsonl")
    assert "| greedy | 300 | 12 |" in (out / "summary.md").read_text()
    assert f"{24 - partial} new rows, {partial} resumed" in done.stdout


def test_sigterm_stops_cleanly_and_the_same_command_resumes(tmp_path, env):
    out = tmp_path / "run"
    proc = subprocess.Popen(cmd(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(out / "items.jsonl", 2, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err
    assert "interrupted" in (out / "summary.md").read_text()
    assert (out / "items.jsonl").read_bytes().endswith(b"\n")
    done = subprocess.run(cmd(out), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    check_complete(out / "items.jsonl")
    # A different configuration into the same folder is refused, and nothing is appended.
    other = subprocess.run(cmd(out, "--seed", "4"), env=env, capture_output=True, text=True, timeout=60)
    assert other.returncode == 2 and "different configuration" in other.stderr
    check_complete(out / "items.jsonl")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "reasoning_gym:chain_summ"], "did you mean chain_sum"),
        (["--dataset", "reasoning_gym:chain_sum", "--config", "min_term=2"], "no config key min_term"),
        (["--dataset", "jsonl:/nonexistent/x.jsonl"], "JSONL dataset not found"),
        (["--dataset", "reasoning_gym:chain_sum", "--max-tokens", "12x"], "comma-separated integers"),
        (["--dataset", "reasoning_gym:chain_sum", "--strategy", "beem"], "did you mean beam"),
        (["--dataset", "reasoning_gym:chain_sum", "--model", "py:nosuchmodule:make"], "cannot import"),
        # The reward is checked before the model is resolved or loaded.
        (
            ["--dataset", "reasoning_gym:chain_sum", "--reward", "jugde", "--model", "py:nosuchmodule:make"],
            "unknown reward 'jugde'",
        ),
        (["--dataset", "reasoning_gym:chain_sum", "--reward", "0.5*judge+x"], "unknown reward 'x'"),
        (["--dataset", "reasoning_gym:chain_sum", "--config", "min_terms=2,oops"], "got 'oops'"),
        (["--dataset", "reasoning_gym:chain_sum", "--set", "=3"], "--set item '=3' has no key"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
    res = CliRunner().invoke(app, ["eval", *args, "--n", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())


def test_direct_methods_blind_control_and_reuse_from_the_cli(tmp_path, monkeypatch):
    (tmp_path / "evalpolicy_cli.py").write_text(POLICY_MODULE.replace("latency=0.15", "latency=0.0"))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        [
            "eval", "--dataset", "reasoning_gym:chain_sum", "--config", "min_terms=2,max_terms=2", "--n", "2",
            "--strategy", "direct,direct-sc,greedy,blind", "--no-baselines", "--blind-strategy", "beam",
            "--max-tokens", "300,600", "--sample-tokens", "150", "--reward", "none", "--reuse",
            "--model", "py:evalpolicy_cli:make", "--no-plot", "--out", str(out),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert {r["strategy"] for r in rows} == {"direct", "direct_sc", "greedy", "blind"} and len(rows) == 16
    assert {r["strategy_name"] for r in rows if r["strategy"] == "blind"} == {"beam"}
    assert all(
        r.get("reused_from") == 300
        for r in rows
        if r["strategy"] in ("direct", "greedy") and r["max_tokens"] == 600
    )
    assert "direct_sc" in res.output and "direct answering" in (out / "summary.md").read_text()
