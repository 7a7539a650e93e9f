"""The dev suite (benchmarks/suite): spec, run, resume, report (tables, Pareto plot, README,
target lines, time estimate) on a ScriptedPolicy, and one small run on the embedded model."""

from __future__ import annotations

import json

import pytest

from benchmarks.suite import report
from benchmarks.suite.run import main
from benchmarks.suite.spec import load_suite
from o1agent.errors import UnknownStrategyError

POLICY = """
import re
from o1agent.policies.scripted import ScriptedPolicy

def respond(req):
    text = "\\n".join(m.content for m in req.messages)
    found = re.findall(r"problem: ([\\d\\s+\\-]+)=", text)
    val = eval(found[-1]) if found else 0
    if req.metadata.get("purpose") == "judge":
        return ["Yes"] * req.n
    return [f"Final answer: {val + (val % 2)}"] * req.n

def make():
    return ScriptedPolicy(respond, name="scripted")
"""

SPEC = """
[suite]
model = "{model}"
n = 4
budgets = [{budgets}]
sample_tokens = 128
seeds = {{ dev = 11, test = 12 }}
methods = [{methods}]
blind_strategy = "best_of_n"

[targets]
adaptive = ["adaptive_sc"]

[tasks.sums]
dataset = "reasoning_gym:chain_sum"
config = {{ min_terms = 2, max_terms = 2, min_digits = 1, max_digits = 1 }}
reward = "arith"
tools = true

[tasks.words]
dataset = "reasoning_gym:chain_sum"
config = {{ min_terms = 2, max_terms = 2, min_digits = 2, max_digits = 2 }}
reward = "arith"
tools = false
"""

ALL = '"direct", "direct_sc", "greedy", "self_consistency", "best_of_n", "blind", "default", "default_calculator"'


def write_spec(tmp_path, *, model="py:suite_policy:make", budgets="256, 512, 1024", methods=ALL):
    path = tmp_path / "tasks.toml"
    path.write_text(SPEC.format(model=model, budgets=budgets, methods=methods))
    return path


@pytest.fixture
def scripted(tmp_path, monkeypatch):
    (tmp_path / "suite_policy.py").write_text(POLICY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return write_spec(tmp_path)


def test_suite_runs_resumes_and_reports(tmp_path, scripted, capsys):
    args = ["--spec", str(scripted), "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "res")]
    assert main([*args, "--limit", "3"]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(x) for x in (tmp_path / "res" / "dev" / "sums.rows.jsonl").read_text().splitlines()]
    # 3 items × 8 methods × 3 budgets on the task with tools; 7 methods on the one without.
    assert len(rows) == 72 and {r["seed"] for r in rows} == {11}
    words = (tmp_path / "res" / "dev" / "words.rows.jsonl").read_text().splitlines()
    assert len(words) == 63 and "default_calculator" not in "".join(words)
    # Budget-independent methods were copied from the smallest budget (the runs stayed inside).
    assert all(
        r.get("reused_from") == 256 for r in rows if r["strategy"] == "direct" and r["max_tokens"] > 256
    )
    readme = (tmp_path / "res" / "README.md").read_text()
    assert "## dev seed (11)" in readme and "### sums" in readme and "| direct | 256 |" in readme
    assert "--limit 3" in readme and "★" in readme and "estimated wall time" in readme
    assert (tmp_path / "res" / "dev" / "sums.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "res" / "dev" / "sums.md").exists()
    # Target lines: numbers where the methods exist, "missing" where they do not.
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert lines["sums.best_no_tool_minus_direct_pts"].split()[0].startswith(("+", "-"))
    assert lines["sums.adaptive_vs_direct_sc8"].startswith("missing (no adaptive method")
    assert lines["sums.default_minus_direct_pts"].startswith(("+", "-"))
    assert (
        "sums.default_calculator_minus_direct_pts" in lines
        and "words.default_calculator_minus_direct_pts" not in lines
    )
    assert "default_minus_direct_mean_pts" in lines and float(lines["estimated_full_run_hours"]) >= 0
    # Resume: nothing new to run; a larger --limit runs only the new items.
    assert main([*args, "--limit", "3"]) == 0
    assert "0 new" in capsys.readouterr().err
    assert main([*args, "--limit", "4", "--tasks", "sums", "--methods", "direct,greedy"]) == 0
    err = capsys.readouterr().err
    # Item 4 of direct (1 solve + 2 copies) and greedy (the same): 6 new rows, words untouched.
    assert "[sums] 24 rows (6 new)" in err and "[words]" not in err
    # The results keep every row of the task folder, earlier methods included.
    assert len((tmp_path / "res" / "dev" / "sums.rows.jsonl").read_text().splitlines()) == 78
    # The report rebuilds from the results folder alone.
    (tmp_path / "res" / "README.md").unlink()
    main_readme = tmp_path / "MAIN.md"
    main_readme.write_text(f"# x\nbefore\n{report.BEGIN}\nold table\n{report.END}\nafter\n")
    assert main([*args, "--report-only", "--readme", str(main_readme)]) == 0
    assert "### words" in (tmp_path / "res" / "README.md").read_text()
    text = main_readme.read_text()
    assert "old table" not in text and "before" in text and text.endswith(f"{report.END}\nafter\n")
    assert "| sums | 3 |" in text and "sums.default_minus_direct_pts" in text


def test_extra_strategies_plug_in_by_name_and_typos_fail_before_any_solve(tmp_path, scripted, capsys):
    args = ["--spec", str(scripted), "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "res")]
    assert (
        main([*args, "--limit", "2", "--tasks", "sums", "--methods", "direct", "--extra", "beam,dfs:blind"])
        == 0
    )
    rows = [json.loads(x) for x in (tmp_path / "res" / "dev" / "sums.rows.jsonl").read_text().splitlines()]
    by = {r["strategy"]: r for r in rows}
    assert by["beam"]["reward"] == "arith" and by["dfs:blind"]["reward"] == "blind"
    fresh = [
        "--spec",
        str(scripted),
        "--out",
        str(tmp_path / "fresh"),
        "--results",
        str(tmp_path / "fresh_res"),
    ]
    with pytest.raises(UnknownStrategyError, match="beem"):
        main([*fresh, "--limit", "2", "--extra", "beem"])
    assert not (tmp_path / "fresh").exists()


def test_pareto_front_and_targets_from_hand_built_rows():
    def rows(method, budget, correct, tokens, n=10, k=None, tools=False):
        return [
            {
                "item_id": str(i),
                "strategy": method,
                "max_tokens": budget,
                "correct": i < correct,
                "tokens": tokens,
                "strategy_config": {"n": k} if k else {},
                "tools": ["calculator"] if tools else [],
            }
            for i in range(n)
        ]

    data = [
        *rows("direct", 512, 5, 100),
        *rows("direct_sc", 512, 6, 200, k=2),
        *rows("direct_sc", 2048, 8, 800, k=8),
        *rows("greedy", 512, 4, 400),
        *rows("adaptive_sc", 2048, 8, 300),
        *rows("default", 2048, 6, 1500),
        *rows("default_calculator", 2048, 9, 1500, tools=True),
    ]
    pts = report.points(data)
    front = {(p.method, p.stats.max_tokens) for p in pts if p.pareto}
    assert front == {("direct", 512), ("direct_sc", 512), ("adaptive_sc", 2048), ("default_calculator", 2048)}
    suite = load_suite()
    suite = type(suite)(**{**suite.__dict__, "adaptive": ["adaptive_sc"]})
    lines = dict(report.targets({"chain_sum": pts}, suite))
    assert lines["chain_sum.best_no_tool_minus_direct_pts"].startswith("+30.0 (adaptive_sc (2048), 3.0x")
    assert lines["chain_sum.adaptive_vs_direct_sc8"].startswith("+0.0 pts at 0.38x tokens")
    assert "met" in lines["chain_sum.adaptive_vs_direct_sc8"]
    assert lines["chain_sum.adaptive_vs_self_consistency8"].startswith("missing (no self_consistency at k=8)")
    assert lines["chain_sum.default_minus_direct_pts"].startswith("+10.0")
    assert (
        lines["chain_sum.default_calculator_minus_direct_pts"].startswith("+40.0")
        and "met" in lines["chain_sum.default_calculator_minus_direct_pts"]
    )
    assert lines["default_minus_direct_mean_pts"].startswith(f"+10.0 (over 1 of {len(suite.tasks)} tasks")


@pytest.mark.slow
def test_suite_on_the_embedded_model(tmp_path, capsys):
    spec = write_spec(tmp_path, model="embedded", budgets="384, 768", methods='"direct", "greedy"')
    args = ["--spec", str(spec), "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "res")]
    assert main([*args, "--limit", "2", "--tasks", "sums"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "res" / "dev" / "sums.rows.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(r["tokens"] > 0 and r["error"] is None for r in rows)
    assert "| direct | 384 |" in (tmp_path / "res" / "README.md").read_text()
    assert "sums.best_no_tool_minus_direct_pts" in capsys.readouterr().out


def test_workers_run_tasks_in_separate_processes(tmp_path, scripted, capsys):
    args = ["--spec", str(scripted), "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "res")]
    assert main([*args, "--limit", "2", "--methods", "direct,greedy", "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "[sums] 12 rows (12 new)" in err and "[words] 12 rows (12 new)" in err
    for task in ("sums", "words"):
        assert len((tmp_path / "res" / "dev" / f"{task}.rows.jsonl").read_text().splitlines()) == 12
