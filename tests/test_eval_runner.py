"""The evaluation runner through the library API, on a ScriptedPolicy (fast, deterministic):
rows, reports, traces, baselines, overrides, resume, refused config changes, torn rows, failures,
interrupts, and that gold answers never reach the policy or the search reward."""

from __future__ import annotations

import json
import re

import pytest

from o1agent.errors import BackendError, ConfigError, UnknownStrategyError
from o1agent.evaluation import EvalConfig, resolve_methods, run_eval
from o1agent.evaluation.runner import ITEMS
from o1agent.policies.scripted import ScriptedPolicy
from o1agent.schema import Trace

CHAIN = {"dataset": "reasoning_gym:chain_sum", "dataset_config": {"min_terms": 2, "max_terms": 2}, "seed": 1}


def arithmetic(req):
    """Solves "problem: 4 - 1 =" but answers odd results off by one (so accuracy is not 0 or 1);
    says "Yes" to judge requests."""
    if req.metadata.get("purpose") == "judge":
        return ["Yes"] * req.n
    text = "\n".join(m.content for m in req.messages)
    found = re.findall(r"problem: ([\d\s+\-]+)=", text)
    val = eval(found[-1]) if found else 0  # digits, spaces, + and - only
    return [f"Add the numbers. Final answer: {val + (val % 2)}"] * req.n


def rows_of(out):
    return [json.loads(line) for line in (out / ITEMS).read_text().splitlines()]


def keys(rows):
    return [(r["item_id"], r["strategy"], r["max_tokens"], r["seed"]) for r in rows]


def test_rows_reports_and_traces(tmp_path):
    out = tmp_path / "run"
    seen = []
    s = run_eval(
        EvalConfig(
            **CHAIN,
            n=4,
            strategies=["greedy", "beam"],
            budgets=[300, 900],
            model=ScriptedPolicy(arithmetic),
            out=out,
        ),
        on_progress=seen.append,
    )
    rows = rows_of(out)
    # 4 items × (greedy, beam + the direct, direct_sc, self_consistency, best_of_n and blind
    # baselines) × 2 budgets.
    assert s.methods == ["greedy", "beam", "direct", "direct_sc", "self_consistency", "best_of_n", "blind"]
    assert len(rows) == 56 == s.rows == s.new_rows and len(set(keys(rows))) == 56
    assert seen[0].row is None and seen[-1].done == seen[-1].total == 56
    for r in rows:
        want = {"item_id", "question", "gold", "answer", "correct", "score", "tokens", "seconds", "nodes"}
        assert want | {"budget_exhausted", "trace_id", "strategy", "max_tokens", "seed"} <= set(r)
        assert r["correct"] == (int(r["gold"]) % 2 == 0)  # the scripted policy is right on even sums
        assert r["tokens"] > 0 and r["nodes"] >= 1 and r["error"] is None
    g = s.get("greedy", 300)
    assert g.n == 4 and g.accuracy == sum(r["correct"] for r in rows if r["strategy"] == "greedy") / 8
    # Sampling baselines run without a reward except best-of-N, which the search reward picks for.
    by = {r["strategy"]: r for r in rows}
    assert by["self_consistency"]["reward"] == "none" and by["best_of_n"]["reward"] == "judge"
    assert by["self_consistency"]["strategy_config"]["select_by"] == "majority"
    # The blind control runs the listed search (beam) with every score 0.5.
    assert by["blind"]["strategy_name"] == "beam" and by["blind"]["reward"] == "blind"
    assert by["direct"]["kind"] == "direct" and by["direct"]["nodes"] == 1
    md = s.summary_path.read_text()
    assert "| greedy | 300 | 4 |" in md and "95 % Wilson" in md and "run time" in md and "machine" in md
    assert s.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trace = Trace.read_jsonl(out / "traces" / "beam@900.jsonl")
    assert set(trace.run_ids()) == {
        r["trace_id"] for r in rows if r["strategy"] == "beam" and r["max_tokens"] == 900
    }


def test_gold_answers_never_reach_the_policy_or_the_reward(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"question": f"Which code is item {w}?", "answer": f"{w}ZEBRA"})
            for w in ("A", "B", "C")
        )
        + "\n"
    )
    # The policy answers in lower case (graded equal after normalisation), so any upper-case
    # "ZEBRA" in a prompt can only have come from a gold answer.
    policy = ScriptedPolicy(
        lambda req: (
            ["Yes"] * req.n if req.metadata.get("purpose") == "judge" else ["Final answer: bzebra"] * req.n
        )
    )
    s = run_eval(
        EvalConfig(dataset=f"jsonl:{data}", budgets=[500], model=policy, reward="judge", out=tmp_path / "o")
    )
    assert policy.requests and any(r.metadata.get("purpose") == "judge" for r in policy.requests)
    for req in policy.requests:
        assert "ZEBRA" not in "".join(m.content for m in req.messages) + req.assistant_prefix
    rows = rows_of(tmp_path / "o")
    assert {r["item_id"] for r in rows if r["correct"]} == {"2"}  # ids are line numbers; line 2 is item B
    assert s.get("greedy", 500).correct == 1


def test_resume_skips_finished_rows_and_grows(tmp_path):
    out = tmp_path / "run"
    cfg = {
        **CHAIN,
        "strategies": ["greedy"],
        "baselines": False,
        "budgets": [400],
        "reward": "none",
        "out": out,
    }
    run_eval(EvalConfig(**cfg, n=3, model=ScriptedPolicy(arithmetic)))
    again = ScriptedPolicy(arithmetic)
    s = run_eval(EvalConfig(**cfg, n=3, model=again))
    assert s.new_rows == 0 and s.resumed_rows == 3 and again.requests == []
    s = run_eval(EvalConfig(**{**cfg, "budgets": [400, 800]}, n=5, model=ScriptedPolicy(arithmetic)))
    rows = rows_of(out)
    assert s.new_rows == 7 and s.resumed_rows == 3 and len(rows) == 10 == len(set(keys(rows)))


@pytest.mark.parametrize(("change", "field"), [({"seed": 2}, "seed"), ({"reward": "judge"}, "reward")])
def test_resume_with_a_different_config_is_refused(tmp_path, change, field):
    cfg = {**CHAIN, "n": 2, "baselines": False, "budgets": [400], "reward": "none", "out": tmp_path}
    run_eval(EvalConfig(**cfg, model=ScriptedPolicy(arithmetic)))
    with pytest.raises(ConfigError, match=rf"different configuration \({field}: .*new --out"):
        run_eval(EvalConfig(**{**cfg, **change}, model=ScriptedPolicy(arithmetic)))
    assert len(rows_of(tmp_path)) == 2


def test_torn_last_row_is_dropped_and_redone_but_a_bad_middle_row_is_an_error(tmp_path):
    cfg = {**CHAIN, "n": 3, "baselines": False, "budgets": [400], "reward": "none", "out": tmp_path}
    run_eval(EvalConfig(**cfg, model=ScriptedPolicy(arithmetic)))
    lines = (tmp_path / ITEMS).read_text().splitlines(keepends=True)
    (tmp_path / ITEMS).write_text("".join(lines[:2]) + lines[2][:40])  # a kill mid-write
    s = run_eval(EvalConfig(**cfg, model=ScriptedPolicy(arithmetic)))
    assert s.new_rows == 1 and (tmp_path / ITEMS).read_text().endswith("\n")
    assert keys(rows_of(tmp_path)) == keys([json.loads(x) for x in lines])
    (tmp_path / ITEMS).write_text(lines[0] + "garbage\n" + lines[1])
    with pytest.raises(ConfigError, match=r"items.jsonl:2 is not a valid result row"):
        run_eval(EvalConfig(**cfg, model=ScriptedPolicy(arithmetic)))


def test_failed_runs_are_recorded_and_count_as_wrong(tmp_path):
    def flaky(req):
        if "7" in "".join(m.content for m in req.messages):
            raise BackendError("backend exploded")
        return arithmetic(req)

    s = run_eval(
        EvalConfig(
            **CHAIN,
            n=6,
            baselines=False,
            budgets=[400],
            reward="none",
            model=ScriptedPolicy(flaky),
            out=tmp_path,
        )
    )
    rows = rows_of(tmp_path)
    bad = [r for r in rows if r["error"]]
    assert bad and all("backend exploded" in r["error"] and not r["correct"] for r in bad)
    assert s.get("greedy", 400).errors == len(bad) and s.get("greedy", 400).n == 6


def test_interrupt_leaves_finished_rows_and_a_partial_summary(tmp_path):
    cfg = {**CHAIN, "n": 5, "baselines": False, "budgets": [400], "reward": "none", "out": tmp_path}

    def stop_after_two(ev):
        if ev.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_eval(EvalConfig(**cfg, model=ScriptedPolicy(arithmetic)), on_progress=stop_after_two)
    assert len(rows_of(tmp_path)) == 2
    assert "interrupted" in (tmp_path / "summary.md").read_text()
    s = run_eval(EvalConfig(**cfg, model=ScriptedPolicy(arithmetic)))
    assert (s.new_rows, s.resumed_rows, s.interrupted) == (3, 2, False)
    assert "interrupted" not in (tmp_path / "summary.md").read_text()


def test_methods_baselines_aliases_and_overrides():
    methods, skipped, _ = resolve_methods(["sc", "beam"], reward="judge", overrides={})
    assert [m.label for m in methods] == [
        "self_consistency",
        "beam",
        "direct",
        "direct_sc",
        "greedy",
        "best_of_n",
        "blind",
    ]
    assert not skipped
    methods, _, _ = resolve_methods(["beam"], reward="judge", overrides={}, baselines=False)
    assert [m.label for m in methods] == ["beam"]
    methods, _, _ = resolve_methods(
        ["beam"], reward="judge", overrides={"step_tokens": 32, "n": 3, "beam.width": 2}
    )
    by = {m.label: m for m in methods}
    assert all(m.config["step_tokens"] == 32 for m in methods if m.kind == "search")
    assert "step_tokens" not in by["direct"].config  # not a direct answering setting
    assert by["beam"].config["width"] == 2 and "width" not in by["greedy"].config
    assert by["best_of_n"].config_for(10_000, 100)["n"] == 3  # an explicit n beats the automatic one
    auto = next(m for m in resolve_methods([], reward="judge", overrides={})[0] if m.label == "best_of_n")
    assert (
        auto.label == "best_of_n"
        and auto.config_for(250, 100)["n"] == 2
        and auto.config_for(5000, 100)["n"] == 16
    )
    with pytest.raises(UnknownStrategyError, match=r"'beem' \(did you mean beam"):
        resolve_methods(["beem"], reward="judge", overrides={})
    with pytest.raises(ConfigError, match="not a config field of any"):
        resolve_methods(["greedy"], reward="judge", overrides={"widht": 2})
    with pytest.raises(ConfigError, match="names method 'mcts', which is not evaluated"):
        resolve_methods(["greedy"], reward="judge", overrides={"mcts.simulations": 2})
    with pytest.raises(ConfigError, match="invalid beam config: width"):
        resolve_methods(["beam"], reward="judge", overrides={"beam.width": 0})


def test_a_missing_baseline_strategy_is_skipped_and_noted(tmp_path, monkeypatch):
    import o1agent.search.base as base

    real = base.available_strategies
    monkeypatch.setattr(base, "available_strategies", lambda: [s for s in real() if s != "best_of_n"])
    s = run_eval(
        EvalConfig(**CHAIN, n=2, budgets=[400], reward="none", model=ScriptedPolicy(arithmetic), out=tmp_path)
    )
    assert s.methods == ["greedy", "direct", "direct_sc"]
    assert set(s.skipped) == {"self_consistency", "best_of_n", "blind"}
    assert "baseline 'best_of_n' skipped" in (tmp_path / "summary.md").read_text()


def test_bad_budgets_and_executor_are_config_errors(tmp_path):
    base = {**CHAIN, "n": 1, "model": ScriptedPolicy(arithmetic), "out": tmp_path}
    with pytest.raises(ConfigError, match="positive"):
        run_eval(EvalConfig(**base, budgets=[0]))
    with pytest.raises(ConfigError, match="unknown executor"):
        run_eval(EvalConfig(**base, executor="dask"))  # type: ignore[arg-type]
    assert not (tmp_path / ITEMS).exists()
