"""Direct answering (``o1agent.direct``) and the eval methods built on it — ``direct``,
``direct_sc``, the ``blind`` control, explicit ``MethodSpec``s and row reuse — on a ScriptedPolicy,
plus one slow run on the embedded model."""

from __future__ import annotations

import json
import re

import pytest

from o1agent.direct import adirect, direct_config
from o1agent.errors import ConfigError, UnknownRewardError, UnknownStrategyError
from o1agent.evaluation import EvalConfig, MethodSpec, resolve_methods, run_eval
from o1agent.evaluation.runner import ITEMS
from o1agent.policies.scripted import ScriptedPolicy
from o1agent.rewards import Blind, ScoreRequest, make_reward
from o1agent.schema import Step, Trace

CHAIN = {"dataset": "reasoning_gym:chain_sum", "dataset_config": {"min_terms": 2, "max_terms": 2}, "seed": 1}


def solver(req):
    """Right on even sums, off by one on odd ones, for direct and step requests alike."""
    text = "\n".join(m.content for m in req.messages)
    found = re.findall(r"problem: ([\d\s+\-]+)=", text)
    val = eval(found[-1]) if found else 0  # digits, spaces, + and - only
    return [f"{found[-1] if found else '0'} = {val + (val % 2)}"] * req.n


def rows_of(out):
    return [json.loads(line) for line in (out / ITEMS).read_text().splitlines()]


async def test_direct_is_one_plain_greedy_call():
    policy = ScriptedPolicy(["To find it, multiply: 7 * 8 = 56"])
    r = await adirect("What is 7 * 8?", policy=policy)
    (req,) = policy.requests
    # One chat turn: the question and the template's one-line instruction; no step protocol.
    assert [m.role for m in req.messages] == ["user"]
    assert req.messages[0].content.startswith("What is 7 * 8?\n") and "answer" in req.messages[0].content
    assert req.assistant_prefix == "" and req.stop == [] and req.temperature == 0.0 and req.n == 1
    assert r.answer == "56" and r.strategy == "direct" and [n.step.answer for n in r.best_path] == ["56"]
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0
    assert r.usage.calls == 1 and r.usage.nodes == 1 and len(r.tree) == 2
    assert [e.kind for e in r.trace] == ["start", "propose", "finalize"]


async def test_direct_sc_majority_votes_over_sampled_answers():
    replies = ["It is 56.", "7 * 8 = 54", "The answer is 56", "Let me think about it", "56"]
    policy = ScriptedPolicy(replies)
    r = await adirect("What is 7 * 8?", policy=policy, n=5, seed=3)
    (req,) = policy.requests
    assert req.n == 5 and req.temperature == 0.7 and req.seed is not None
    assert r.answer == "56" and r.strategy == "direct_sc" and r.usage.nodes == 5
    # A line of prose casts no vote; the finalize event keeps every vote.
    assert r.trace.events[-1].data["votes"] == ["56", "54", "56", None, "56"]
    # Seeds: the same seed gives the same request seed, another seed another one.
    again = ScriptedPolicy(replies)
    await adirect("What is 7 * 8?", policy=again, n=5, seed=3)
    other = ScriptedPolicy(replies)
    await adirect("What is 7 * 8?", policy=other, n=5, seed=4)
    assert again.requests[0].seed == req.seed != other.requests[0].seed


async def test_direct_without_any_countable_vote_keeps_the_first_reply():
    r = await adirect("Name a colour.", policy=ScriptedPolicy(["Blue is nice", "Red, I think"]), n=2)
    assert r.best_path[0].id == "0.0" and r.answer is None
    assert r.no_answer_reason == "no reply stated an answer"


async def test_direct_asc_stops_once_the_first_wave_agrees():
    policy = ScriptedPolicy(["It is 56.", "7 * 8 = 56", "The answer is 56"])
    r = await adirect("What is 7 * 8?", policy=policy, n=8, adaptive=True, seed=3)
    # 3 of 3 agree: P(leader stays ahead) = 15/16 >= 0.9, so no second wave.
    assert [q.n for q in policy.requests] == [3]
    assert r.answer == "56" and r.strategy == "direct_asc" and r.usage.nodes == 3
    assert r.allocation is not None and r.allocation["samples"] == 3 and r.allocation["waves"] == 1
    assert r.allocation["counts"] == {"56": 3} and r.allocation["stopped"].startswith("settled")


async def test_direct_asc_draws_waves_to_the_cap_while_the_vote_is_split():
    replies = ["56", "54", "56", "54", "56", "54", "56", "Let me think"]
    policy = ScriptedPolicy(replies)
    r = await adirect("What is 7 * 8?", policy=policy, n=8, adaptive=True, seed=3)
    assert [q.n for q in policy.requests] == [3, 2, 2, 1]
    assert r.usage.nodes == 8 and r.usage.calls == 4  # each wave is a call that bills its prompt
    assert r.answer == "56" and r.allocation["counts"] == {"56": 4, "54": 3}
    assert r.allocation["stopped"].startswith("cap: 8 samples")
    # Each wave has its own seed, the same ones for the same run seed.
    seeds = [q.seed for q in policy.requests]
    assert len(set(seeds)) == 4
    again = ScriptedPolicy(replies)
    await adirect("What is 7 * 8?", policy=again, n=8, adaptive=True, seed=3)
    assert [q.seed for q in again.requests] == seeds
    # A fixed-n call keeps its own seed (not any wave's): direct_sc rows are unchanged.
    fixed = ScriptedPolicy(replies)
    await adirect("What is 7 * 8?", policy=fixed, n=8, seed=3)
    assert fixed.requests[0].seed not in seeds


async def test_direct_asc_with_a_stricter_threshold_needs_more_agreement():
    policy = ScriptedPolicy(["56"] * 8)
    r = await adirect("What is 7 * 8?", policy=policy, n=8, adaptive=True, threshold=0.97)
    # 3-0 gives 0.9375 and 5-0 gives 63/64: the vote stops after the second wave.
    assert [q.n for q in policy.requests] == [3, 2] and r.allocation["posterior"] == round(63 / 64, 4)


def test_bad_direct_config_is_a_config_error():
    with pytest.raises(ConfigError, match="invalid direct config: n"):
        direct_config(n=0)
    with pytest.raises(ConfigError, match="invalid direct config: step_tokens"):
        direct_config({"step_tokens": 32})
    with pytest.raises(ConfigError, match="invalid direct config: threshold"):
        direct_config(adaptive=True, threshold=1.0)


async def test_blind_scores_everything_one_half():
    rm = make_reward("blind", ScriptedPolicy(["x"]))
    assert isinstance(rm, Blind) and rm.kind == "process"
    verdicts = await rm.score(
        [ScoreRequest(question="q", candidate=Step(raw=t)) for t in ("1 + 1 = 3", "ok")]
    )
    assert [v.score for v in verdicts] == [0.5, 0.5]


def test_direct_methods_in_eval_rows_and_k_per_budget(tmp_path):
    s = run_eval(
        EvalConfig(
            **CHAIN,
            n=4,
            strategies=["direct", "direct_sc", "direct_asc"],
            baselines=False,
            budgets=[512, 2048],
            sample_tokens=256,
            model=ScriptedPolicy(solver),
            out=tmp_path,
        )
    )
    rows = rows_of(tmp_path)
    assert len(rows) == 24 and all(r["kind"] == "direct" and r["error"] is None for r in rows)
    # k = budget // sample_tokens, like the step protocol's self-consistency.
    assert {(r["strategy"], r["max_tokens"]): r["strategy_config"].get("n") for r in rows} == {
        ("direct", 512): None,
        ("direct", 2048): None,
        ("direct_sc", 512): 2,
        ("direct_sc", 2048): 8,
        ("direct_asc", 512): 2,
        ("direct_asc", 2048): 8,
    }
    # The solver always agrees with itself: adaptive stops after its first wave of 3, under the
    # cap of 8, and spends less than direct_sc@8.
    assert all(
        r["nodes"] == (2 if r["max_tokens"] == 512 else 3) for r in rows if r["strategy"] == "direct_asc"
    )
    assert s.get("direct_asc", 2048).mean_tokens < s.get("direct_sc", 2048).mean_tokens
    assert all(r["correct"] == (int(r["gold"]) % 2 == 0) for r in rows)
    # Every row reports measured tokens; k samples cost more than one call.
    assert (
        s.get("direct_sc", 2048).mean_tokens
        > s.get("direct_sc", 512).mean_tokens
        > s.get("direct", 512).mean_tokens
        > 0
    )
    assert "direct answering" in s.summary_path.read_text() and "2048→8" in s.summary_path.read_text()
    trace = Trace.read_jsonl(tmp_path / "traces" / "direct_sc@2048.jsonl")
    assert set(trace.run_ids()) == {
        r["trace_id"] for r in rows if r["strategy"] == "direct_sc" and r["max_tokens"] == 2048
    }


def test_blind_control_runs_the_listed_search_and_labels_carry_rewards():
    methods, _, _ = resolve_methods(["dfs", "beam:arith"], reward="judge", overrides={})
    by = {m.label: m for m in methods}
    assert by["blind"].strategy == "dfs" and by["blind"].reward == "blind"
    assert by["beam:arith"].strategy == "beam" and by["beam:arith"].reward == "arith"
    assert by["dfs"].reward == "judge"
    methods, _, _ = resolve_methods(["greedy"], reward="arith", overrides={})
    blind = next(m for m in methods if m.label == "blind")
    assert (blind.strategy, blind.config, blind.auto_n) == ("best_of_n", {"select_by": "outcome"}, True)
    with pytest.raises(UnknownStrategyError, match="'beem'"):
        resolve_methods(["beem:arith"], reward="judge", overrides={})
    with pytest.raises(UnknownRewardError, match=r"unknown reward .nope."):
        resolve_methods(["beam:nope"], reward="judge", overrides={})
    default = next(m for m in resolve_methods(["default+calculator"], reward="judge", overrides={})[0])
    assert (default.label, default.strategy, default.reward, default.tools) == (
        "default_calculator",
        "dfs",
        "judge",
        ["calculator"],
    )


def test_explicit_method_specs_and_a_changed_spec_is_refused(tmp_path):
    spec = MethodSpec("greedy_d1", "greedy", {"max_depth": 1}, reward="none")
    cfg = {**CHAIN, "n": 2, "strategies": [], "baselines": False, "budgets": [400], "out": tmp_path}
    s = run_eval(EvalConfig(**cfg, methods=[spec], model=ScriptedPolicy(solver)))
    assert s.methods == ["greedy_d1"] and all(
        r["strategy_config"] == {"max_depth": 1} for r in rows_of(tmp_path)
    )
    changed = MethodSpec("greedy_d1", "greedy", {"max_depth": 2}, reward="none")
    with pytest.raises(ConfigError, match=r"method greedy_d1: .*max_depth"):
        run_eval(EvalConfig(**cfg, methods=[changed], model=ScriptedPolicy(solver)))
    with pytest.raises(ConfigError, match="given twice"):
        resolve_methods(
            ["greedy"], reward="none", overrides={}, baselines=False, methods=[MethodSpec("greedy", "greedy")]
        )


def test_reuse_copies_rows_of_runs_that_stayed_inside_a_smaller_budget(tmp_path):
    def stepper(req):
        # Item questions holding a 9 need many steps (they run out of a small budget).
        text = "\n".join(m.content for m in req.messages)
        depth = req.assistant_prefix.count("Step")
        if "9" in text.split("problem:")[-1] and depth < 6:
            # A different step each time (a repeated step would end the chain).
            return [
                f"Check {depth}: keep adding the numbers once more to be sure of the running total"
            ] * req.n
        return solver(req)

    policy = ScriptedPolicy(stepper)
    cfg = EvalConfig(
        **CHAIN,
        n=6,
        strategies=["greedy", "self_consistency"],
        baselines=False,
        budgets=[900, 250],
        sample_tokens=250,
        model=policy,
        reward="none",
        reuse_unexhausted=True,
        out=tmp_path,
    )
    s = run_eval(cfg)
    rows = rows_of(tmp_path)
    assert s.rows == len(rows) == 24
    small = {r["item_id"]: r for r in rows if r["strategy"] == "greedy" and r["max_tokens"] == 250}
    big = {r["item_id"]: r for r in rows if r["strategy"] == "greedy" and r["max_tokens"] == 900}
    for item, r in big.items():
        if small[item]["budget_exhausted"]:
            assert "reused_from" not in r  # ran again under the larger budget
        else:
            assert r["reused_from"] == 250 and r["trace_id"] == small[item]["trace_id"]
            assert (r["answer"], r["tokens"]) == (small[item]["answer"], small[item]["tokens"])
    assert any(r.get("reused_from") for r in big.values()) and any(
        not r.get("reused_from") for r in big.values()
    )
    # Self-consistency's n depends on the budget: never reused.
    assert not any(r.get("reused_from") for r in rows if r["strategy"] == "self_consistency")
    trace = Trace.read_jsonl(tmp_path / "traces" / "greedy@900.jsonl")
    assert set(trace.run_ids()) == {r["trace_id"] for r in big.values()}
    # A resume finds every row (copies included) and asks the policy nothing.
    again = ScriptedPolicy(stepper)
    s2 = run_eval(EvalConfig(**{**cfg.__dict__, "model": again}))
    assert s2.new_rows == 0 and again.requests == []


@pytest.mark.slow
def test_direct_and_direct_sc_on_the_embedded_model(tmp_path):
    s = run_eval(
        EvalConfig(
            dataset="reasoning_gym:products",
            dataset_config={"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
            n=3,
            seed=1,
            strategies=["direct", "direct_sc"],
            baselines=False,
            budgets=[768],
            sample_tokens=256,
            overrides={"max_tokens": 96},
            model="embedded",
            out=tmp_path,
        )
    )
    rows = rows_of(tmp_path)
    assert len(rows) == 6 and all(r["answer"] and r["tokens"] > 0 and r["error"] is None for r in rows)
    d, sc = s.get("direct", 768), s.get("direct_sc", 768)
    assert all(r["nodes"] == (3 if r["strategy"] == "direct_sc" else 1) for r in rows)
    assert sc.mean_tokens > d.mean_tokens > 0 and 0.0 <= d.accuracy <= 1.0
    # Seeded: the same greedy call again gives the same answer.
    again = run_eval(
        EvalConfig(
            **{
                "dataset": "reasoning_gym:products",
                "dataset_config": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
                "n": 3,
                "seed": 1,
                "strategies": ["direct"],
                "baselines": False,
                "budgets": [768],
                "overrides": {"max_tokens": 96},
                "model": "embedded",
                "out": tmp_path / "again",
            }
        )
    )
    assert again.get("direct", 768).correct == d.correct
    first = {r["item_id"]: r["answer"] for r in rows if r["strategy"] == "direct"}
    assert {r["item_id"]: r["answer"] for r in rows_of(tmp_path / "again")} == first


@pytest.mark.slow
async def test_direct_asc_on_the_embedded_model(embedded_policy):
    runs = [
        await adirect("What is 6 * 7?", policy=embedded_policy, n=8, adaptive=True, max_tokens=64, seed=2)
        for _ in range(2)
    ]
    r = runs[0]
    a = r.allocation
    assert a is not None and 3 <= a["samples"] <= 8 and a["samples"] == r.usage.nodes == len(r.tree) - 1
    assert a["waves"] == 1 + -(-(a["samples"] - 3) // 2)  # 3, then waves of 2 (the last may be 1)
    assert a["stopped"].startswith("settled" if a["posterior"] >= 0.9 else "cap")
    assert r.answer and r.usage.calls == a["waves"]
    # Seeded: the same waves, replies and answer again.
    assert runs[1].allocation == a and runs[1].answer == r.answer
