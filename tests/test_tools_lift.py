"""``examples/tools_lift.py``: aggregation and report on fake rows, the resumable loop on a scripted
policy (gold answers reach the scorer only), and one slow run of all three configs on the real
embedded model."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from o1agent.evaluation.stats import wilson_interval
from o1agent.policies import ScriptedPolicy

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "tools_lift.py"


def _load_module() -> Any:
    spec = importlib.util.spec_from_file_location("tools_lift", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tools_lift"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


tl = _load_module()


def _row(task: str, config: str, correct: bool, tokens: int, seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "task": task,
        "config": config,
        "correct": correct,
        "tokens": tokens,
        "seconds": seconds,
        **extra,
    }


def test_aggregate_and_table_on_fake_rows() -> None:
    rows = [
        _row("products", "greedy", True, 100, 1.0, tool_calls=0),
        _row("products", "greedy", False, 300, 3.0, tool_calls=0),
        _row("products", "greedy+calc", True, 200, 2.0, tool_calls=1, tool_errors=1),
        _row("chain_sum", "greedy", False, 50, 0.5),  # old rows may lack tool_calls
        _row("products", "greedy+calc", True, 400, 4.0, tool_calls=2, tool_errors=0),
        _row("products", "greedy+calc", True, 600, 6.0, tool_calls=3, tool_errors=2),
    ]
    cells = tl.aggregate(rows)
    assert [(c.task, c.config) for c in cells] == [
        ("products", "greedy"),
        ("products", "greedy+calc"),
        ("chain_sum", "greedy"),
    ]
    g, calc, cs = cells
    assert (g.n, g.correct, g.accuracy) == (2, 1, 0.5)
    assert (g.lo, g.hi) == pytest.approx(wilson_interval(1, 2))
    assert g.mean_tokens == 200 and g.mean_seconds == 2.0 and g.mean_tool_calls == 0
    assert (calc.n, calc.correct, calc.accuracy) == (3, 3, 1.0)
    assert calc.hi == 1.0 and 0.0 < calc.lo < 1.0
    assert calc.mean_tokens == 400 and calc.mean_tool_calls == 2
    assert calc.tool_error_rate == pytest.approx(3 / 6) and g.tool_error_rate is None
    assert (cs.correct, cs.lo) == (0, 0.0)

    table = tl.render_table(cells)
    lines = table.splitlines()
    assert len(lines) == 2 + 3
    assert lines[0].startswith("| task | config | n | accuracy | 95% Wilson")
    assert "| products | greedy | 2 | 0.50 (1/2) |" in lines[2]
    assert f"[{g.lo:.2f}, {g.hi:.2f}]" in lines[2]
    assert (
        "| products | greedy+calc | 3 | 1.00 (3/3) |" in lines[3] and "| 400 | 4.0 | 2.00 | 50% |" in lines[3]
    )

    report = tl.render_report(
        cells,
        command="python examples/tools_lift.py --n 2",
        date="2026-11-23 22:00 UTC",
        machine="x86_64, 2 cores",
        wall_seconds=120.0,
        solve_seconds=90.0,
        span_seconds=600.0,
        configs=["greedy", "greedy+calc", "search+calc"],
        seed=0,
    )
    assert table in report
    for needle in (
        "python examples/tools_lift.py --n 2",
        "2026-11-23 22:00 UTC",
        "x86_64, 2 cores",
        "10.0 min of wall time",
    ):
        assert needle in report
    assert "`search+calc`: strategy=" in report and tl.SEARCH_CHOICE in report


def test_wall_span_covers_resumed_invocations() -> None:
    rows = [
        {"seconds": 10.0, "finished_at": 1000.0},  # [990, 1000]
        {"seconds": 4.0, "finished_at": 998.0},  # [994, 998]: a parallel run, counted once
        {"seconds": 5.0, "finished_at": 1003.0},  # [998, 1003]: overlaps, extends to 1003
        {"seconds": 5.0, "finished_at": 1500.0},  # [1495, 1500], after a gap that is left out
        {"seconds": 1.0},  # an unstamped row is ignored
    ]
    assert tl.wall_span(rows) == pytest.approx(13.0 + 5.0)
    assert tl.wall_span([]) == 0.0


def test_read_rows_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    tl.append_row(path, {"a": 1})
    with path.open("a") as fh:
        fh.write('{"a": 2, "b"')  # killed mid-write
    assert tl.read_rows(path) == [{"a": 1}]
    assert tl.read_rows(tmp_path / "missing.jsonl") == []


def test_fingerprint_tracks_the_library_code(monkeypatch: pytest.MonkeyPatch) -> None:
    configs = tl.all_configs()
    before = {k: c.fingerprint() for k, c in configs.items()}
    assert len(tl.code_version()) == 10
    monkeypatch.setattr(tl, "code_version", lambda: "changed")
    after = {k: c.fingerprint() for k, c in configs.items()}
    assert all(after[k] != before[k] for k in configs)


def test_fingerprint_tracks_the_config() -> None:
    configs = tl.all_configs()
    assert set(tl.DEFAULT_CONFIGS) <= set(configs)
    assert len({c.fingerprint() for c in configs.values() if c.label != "search+calc"}) == len(configs) - 1
    chosen = configs["search+calc"]
    assert chosen.tools == ("calculator",) and chosen.strategy != "greedy"
    # Config (c) may use a judge, confidence or consistency, never a gold-answer reward.
    assert chosen.reward in (
        None,
        "judge",
        "confidence",
        "consistency",
        "judge+confidence",
        "judge+consistency",
    )


def _scripted(req: Any) -> str:
    # Always answers 645: right for "15 * 43" (item 0 of products at seed 0), wrong elsewhere.
    if "```calc" not in req.messages[0].content:  # no tools in the prompt
        return "Multiply 15 by 43.\nFinal answer: 645"
    if req.assistant_prefix.rstrip().endswith("So"):
        return " it is 645.\nFinal answer: 645"
    return "Multiply\n```calc\n15*43\n```\n"


def test_run_scores_after_the_solve_and_resumes(tmp_path: Path) -> None:
    jsonl = tmp_path / "rows.jsonl"
    policy = ScriptedPolicy(_scripted)
    seen: list[dict[str, Any]] = []
    rows = asyncio.run(
        tl.run(
            ["products"],
            ["greedy", "greedy+calc"],
            n=2,
            seed=0,
            jsonl=jsonl,
            policy=policy,
            on_row=seen.append,
        )
    )
    assert len(rows) == len(seen) == 4
    assert [(r["config"], r["index"]) for r in rows] == [
        ("greedy", 0),
        ("greedy", 1),
        ("greedy+calc", 0),
        ("greedy+calc", 1),
    ]
    assert rows[0]["question"].find("15 * 43") >= 0 and rows[0]["gold"] == "645"
    assert [r["correct"] for r in rows] == [True, False, True, False]
    assert all(r["answer"] == "645" and r["tokens"] > 0 for r in rows)
    assert rows[0]["tool_calls"] == 0 and rows[2]["tool_calls"] >= 1
    assert rows[2]["tool_errors"] == 0 and rows[2]["path_tool_calls"] >= 1
    assert all(r["code_version"] == tl.code_version() and r["commit"] for r in rows)
    assert [json.loads(line)["index"] for line in jsonl.read_text().splitlines()] == [0, 1, 0, 1]

    # A re-run finds every row in the JSONL and never calls the model.
    calls = len(policy.requests)
    again = asyncio.run(
        tl.run(["products"], ["greedy", "greedy+calc"], n=2, seed=0, jsonl=jsonl, policy=policy)
    )
    assert len(policy.requests) == calls
    assert [r["answer"] for r in again] == [r["answer"] for r in rows]
    # A different seed is a different run: its rows are solved, not resumed.
    asyncio.run(tl.run(["products"], ["greedy"], n=1, seed=1, jsonl=jsonl, policy=policy))
    assert len(policy.requests) > calls


class _SentinelDataset:
    """A dataset whose gold answers are sentinels: any leak into a prompt is visible."""

    def __init__(self) -> None:
        self.items = [{"question": "What is 15 * 43?", "answer": "GOLD-SENTINEL-7", "metadata": {}}]
        self.scored: list[str] = []

    def score_answer(self, answer: str, entry: dict[str, Any]) -> float:
        self.scored.append(answer)
        return 1.0 if answer == "645" else 0.0


def test_gold_answers_reach_the_scorer_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _SentinelDataset()
    monkeypatch.setattr(tl, "load_task", lambda task, n, seed: (ds, ds.items[:n]))
    policy = ScriptedPolicy(_scripted)
    rows = asyncio.run(
        tl.run(["products"], list(tl.DEFAULT_CONFIGS), n=1, seed=0, jsonl=tmp_path / "r.jsonl", policy=policy)
    )
    k = len(tl.DEFAULT_CONFIGS)
    assert len(rows) == k and all(r["correct"] for r in rows)
    assert ds.scored == ["645"] * k  # scored once per config, on the final answer string
    texts = [m.content for r in policy.requests for m in r.messages] + [
        r.assistant_prefix for r in policy.requests
    ]
    assert policy.requests and not any("GOLD-SENTINEL" in t for t in texts)


def test_unknown_config_and_task_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown config"):
        asyncio.run(tl.run(["products"], ["nope"], n=1, seed=0, jsonl=tmp_path / "r.jsonl", policy=object()))
    with pytest.raises(SystemExit, match="unknown task"):
        tl.load_task("nope", 1, 0)


@pytest.mark.slow
def test_all_default_configs_on_the_embedded_model(tmp_path: Path) -> None:
    jsonl = tmp_path / "rows.jsonl"
    rows = asyncio.run(tl.run(["products"], list(tl.DEFAULT_CONFIGS), n=2, seed=0, jsonl=jsonl))
    k = len(tl.DEFAULT_CONFIGS)
    assert len(rows) == 2 * k and len(tl.read_rows(jsonl)) == 2 * k
    cells = tl.aggregate(rows)
    assert [c.config for c in cells] == list(tl.DEFAULT_CONFIGS)
    for c in cells:
        assert c.n == 2 and 0.0 <= c.accuracy <= 1.0 and 0.0 <= c.lo <= c.accuracy <= c.hi <= 1.0
        assert c.mean_tokens > 0 and c.mean_seconds > 0
    assert all(r["tokens"] > 0 and isinstance(r["answer"], str) for r in rows)
    table = tl.render_table(cells)
    assert table.count("| products |") == k and "search+calc" in table


def test_calculator_errors_are_counted(tmp_path: Path) -> None:
    def claims_a_result(req: Any) -> str:
        # Words in the block: not an expression, so the calculator answers with an error.
        if req.assistant_prefix.rstrip().endswith("So"):
            return " it is 625.\nFinal answer: 625"
        return "Multiply\n```calc\n15 apples * 43\n```\n"

    rows = asyncio.run(
        tl.run(
            ["products"],
            ["greedy+calc"],
            n=1,
            seed=0,
            jsonl=tmp_path / "r.jsonl",
            policy=ScriptedPolicy(claims_a_result),
        )
    )
    assert rows[0]["tool_calls"] == 1 and rows[0]["tool_errors"] == 1 and not rows[0]["correct"]
    assert tl.aggregate(rows)[0].tool_error_rate == 1.0


def test_lhs_calculator_evaluates_the_expression_not_the_claim() -> None:
    assert tl.calculate_lhs("15 * 43 = 625") == "645"
    assert tl.calculate_lhs("x = 15*43") == "645"
    assert tl.calculate_lhs("98 + 93") == "191"
    with pytest.raises(tl.CalculatorError):
        tl.calculate_lhs("a = b")
    tools = tl.resolve_tools(["calc-lhs"])
    assert tools is not None and tools[0].name == "calc" and "calculator" in tools[0].labels
    assert asyncio.run(tools[0].run("15 * 43 = 625")) == "645"
    assert tl.resolve_tools(["calculator"]) == ["calculator"] and tl.resolve_tools([]) is None


def test_the_lhs_calculator_runs_inside_a_solve(tmp_path: Path) -> None:
    def claims_a_result(req: Any) -> str:
        if req.assistant_prefix.rstrip().endswith("So"):
            return " it is 645.\nFinal answer: 645"
        return "Multiply\n```calc\n15 * 43 = 625\n```\n"

    rows = asyncio.run(
        tl.run(
            ["products"],
            ["greedy+calc-lhs"],
            n=1,
            seed=0,
            jsonl=tmp_path / "r.jsonl",
            policy=ScriptedPolicy(claims_a_result),
        )
    )
    assert rows[0]["tool_calls"] == 1 and rows[0]["tool_errors"] == 0 and rows[0]["correct"]


def test_cells_are_ordered_and_lift_is_against_greedy() -> None:
    rows = [
        *[_row("products", "greedy+calc", i < 8, 300, 1.0) for i in range(10)],
        *[_row("chain_sum", "greedy", i < 2, 100, 1.0) for i in range(10)],
        *[_row("products", "greedy", i < 2, 100, 1.0) for i in range(10)],
        *[_row("products", "extra", True, 100, 1.0) for i in range(10)],
    ]
    cells = tl.aggregate(rows, tasks=["chain_sum", "products"], configs=["greedy", "greedy+calc"])
    assert [(c.task, c.config) for c in cells] == [
        ("chain_sum", "greedy"),
        ("products", "greedy"),
        ("products", "greedy+calc"),
        ("products", "extra"),  # not listed: after the listed ones
    ]
    d, lo, hi = tl.difference_interval(cells[2], cells[1])
    assert d == pytest.approx(0.6) and 0.0 < lo < d < hi < 1.0
    d0, lo0, hi0 = tl.difference_interval(cells[1], cells[1])
    assert d0 == 0.0 and lo0 < 0.0 < hi0
    lift = tl.render_lift(cells).splitlines()
    assert len(lift) == 2 + 2  # greedy+calc and extra on products; chain_sum has only greedy
    assert lift[2].startswith("| products | greedy+calc | +0.60 | [+") and lift[2].endswith("| 3.0 |")


def test_hand_written_notes_survive_a_rewrite() -> None:
    previous = "# old table\n\n" + tl.NOTES_MARKER + "\n\n## Findings\nby hand\n"
    out = tl.keep_notes("# new table\n", previous)
    assert out.startswith("# new table") and "# old table" not in out
    assert out.endswith(tl.NOTES_MARKER + "\n\n## Findings\nby hand\n")
    assert tl.keep_notes("# new table\n", "# no notes\n") == "# new table\n"


@pytest.mark.slow
def test_products_through_llama_cpp_server_reach_the_in_process_figure(llama_server, embedded_policy) -> None:
    """Issue 13 item 3: the embedded model served by llama_cpp.server and used through LiteLLM
    with the calculator answered "1" on 9 of 10 products (its steps were folded into the user
    turn). Continued exactly on /v1/completions, its accuracy on the same items is within the
    95 % Wilson interval of the in-process figure. (Few items keep the test lean; the benchmark
    benchmarks/litellm_parity.py runs 50.)"""
    spec = importlib.util.spec_from_file_location(
        "litellm_parity", SCRIPT.parent.parent / "benchmarks/litellm_parity.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["litellm_parity"] = bench
    spec.loader.exec_module(bench)
    (r,) = bench.parity(
        8,
        configs=("greedy+calc",),
        base_url=llama_server.base_url,
        alias=llama_server.alias,
        embedded=embedded_policy,
    )
    lo, hi = r.served.interval
    assert r.served.n == r.embedded.n == 8
    assert lo <= r.embedded.accuracy <= hi, (r.served, r.embedded)
    assert r.embedded.accuracy >= 0.5  # the in-process model does use the calculator on these items
    # Greedy decoding of the same weights: the answers themselves agree, not only the counts.
    assert r.same_answers >= r.embedded.n - 2
