"""Graph-level tests of every search strategy: the real reasoning graph, a ScriptedPolicy and a
scripted reward. Each test pins the expansions the strategy asked for and the answer it chose.
Fast; no model."""

from __future__ import annotations

import re

import pytest
from helpers import step_responder

from o1agent import Reasoner
from o1agent.graph import full_result
from o1agent.policies import ScriptedPolicy
from o1agent.rewards.base import ScoreRequest, Verdict
from o1agent.schema import Result

_MARK = re.compile(r"\[s=([0-9.]+)\]")


class MarkedReward:
    """Process reward read from a ``[s=0.8]`` mark in the step's first line (0.5 when unmarked).
    Records which node ids it scored, so tests can check what a strategy had verified."""

    kind = "process"
    name = "marked"

    def __init__(self) -> None:
        self.scored: list[str] = []

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        out = []
        for r in requests:
            self.scored.append(r.node_id or "")
            m = _MARK.search(r.candidate.raw)
            out.append(Verdict(score=float(m.group(1)) if m else 0.5, rationale="marked score"))
        return out


def _run(script: dict[str, list[str]], strategy: str, reward: MarkedReward | None = None, **cfg) -> Result:
    policy = ScriptedPolicy(step_responder(script))
    r = Reasoner(
        model=policy, strategy=strategy, strategy_config=cfg, reward=reward or MarkedReward(), budget={}
    )
    return r.solve("What is 3*4?")


def _expanded(res: Result) -> list[str]:
    return [e.node_id for e in res.trace if e.kind == "select"]


# ---- best_of_n ------------------------------------------------------------------------------

BON_SCRIPT = {
    "0": ["Plan [s=0.4]\nmultiply", "B [s=0.6]\nFinal answer: 12", "C [s=0.9]\nFinal answer: 7"],
    "0.0": ["Done [s=0.5]\n3*4 = 12\nFinal answer: 12"],
}


@pytest.mark.parametrize(
    ("select_by", "answer", "best"),
    [("weighted_vote", "12", "0.1"), ("majority", "12", "0.1"), ("outcome", "7", "0.2")],
)
def test_best_of_n_samples_n_chains_and_votes(select_by, answer, best):
    reward = MarkedReward()
    res = _run(BON_SCRIPT, "best_of_n", reward, n=3, select_by=select_by)
    # Root once with k=3, then only the unfinished chain continues.
    assert _expanded(res) == ["0", "0.0"]
    assert res.answer == answer
    assert res.best_path[-1].id == best
    # Only final answers were verified: the selection rules never read step scores.
    assert sorted(reward.scored) == ["0.0.0", "0.1", "0.2"]
    assert res.tree.get("0.0").score is None
    assert not res.budget_exhausted


# ---- beam -----------------------------------------------------------------------------------

BEAM_SCRIPT = {
    "0": ["A [s=0.8]\nidea a", "B [s=0.6]\nidea b"],
    "0.0": ["AA [s=0.75]\nstep", "AB [s=0.7]\nstep"],
    "0.1": ["BA [s=0.9]\nstep", "BB [s=0.2]\nstep"],
    "0.0.0": ["AAF [s=0.9]\nFinal answer: 12", "AAG [s=0.4]\nFinal answer: 11"],
    "0.0.1": ["ABF [s=0.8]\nFinal answer: 13", "ABG [s=0.1]\nFinal answer: 14"],
    "0.1.0": ["BAF [s=1.0]\nFinal answer: 15", "BAG [s=0.3]\nFinal answer: 16"],
}


@pytest.mark.parametrize(
    ("aggregate", "kept", "answer"),
    # min: AA .75, AB .7 beat BA min(.6,.9)=.6 -> best final AAF min .75 -> 12.
    # last: BA .9, AA .75 kept -> finals BAF 1.0 (last) -> 15.
    [("min", ["0.0.0", "0.0.1"], "12"), ("last", ["0.1.0", "0.0.0"], "15")],
)
def test_beam_keeps_top_width_by_path_score(aggregate, kept, answer):
    res = _run(BEAM_SCRIPT, "beam", width=2, k=2, aggregate=aggregate)
    rounds = _expanded(res)
    assert rounds[:3] == ["0", "0.0", "0.1"]
    assert sorted(rounds[3:]) == sorted(kept)
    pruned = {n.id for n in res.tree.nodes.values() if n.status == "pruned" and n.depth == 2}
    assert pruned == {"0.0.0", "0.0.1", "0.1.0", "0.1.1"} - set(kept)
    assert res.answer == answer


# ---- mcts -----------------------------------------------------------------------------------

MCTS_SCRIPT = {
    "0": ["Good [s=0.9]\nidea", "Weak [s=0.2]\nidea"],
    "0.0": ["Right [s=1.0]\nFinal answer: 12", "Wrong [s=0.1]\nFinal answer: 5"],
}


async def test_mcts_value_mode_expands_by_uct_and_backs_up():
    reward = MarkedReward()
    policy = ScriptedPolicy(step_responder(MCTS_SCRIPT))
    r = Reasoner(
        model=policy, strategy="mcts", strategy_config={"k": 2, "simulations": 2}, reward=reward, budget={}
    )
    events: list[dict] = []
    res = await r.asolve("What is 3*4?", on_event=events.append)
    # Simulation 1 expands the root; simulation 2 picks 0.0 (UCT .9+sqrt(ln 2) > .2+sqrt(ln 2)).
    assert _expanded(res) == ["0", "0.0"]
    assert res.answer == "12"
    assert [n.id for n in res.best_path] == ["0.0", "0.0.0"]


async def test_mcts_state_after_run_has_visits_to_the_root():
    policy = ScriptedPolicy(step_responder(MCTS_SCRIPT))
    r = Reasoner(
        model=policy, strategy="mcts", strategy_config={"k": 2, "simulations": 2}, reward=MarkedReward()
    )
    state = await r.graph.ainvoke({"question": "q?", "run_id": "t"}, r._config(None), context=r.context)
    search = state["search"]
    # Value mode: each of the 4 evaluated children is one backed-up visit of the root.
    assert search["visits"] == {"0": 4, "0.0": 3, "0.1": 1, "0.0.0": 1, "0.0.1": 1}
    assert search["values"]["0"] == pytest.approx(0.9 + 0.2 + 1.0 + 0.1)
    assert search["values"]["0.0"] == pytest.approx(0.9 + 1.0 + 0.1)
    assert search["sims"] == 2


ROLLOUT_SCRIPT = {
    "0": ["First [s=0.9]\nidea", "Second [s=0.9]\nidea"],
    "0.0": ["Middle [s=0.9]\nwork"],
    "0.0.0": ["End [s=0.8]\nFinal answer: 12"],
    "0.1": ["Quick [s=0.3]\nFinal answer: 7", "Other [s=0.9]\nFinal answer: 9"],
}


async def test_mcts_rollout_mode_rolls_out_and_marks_rollout_nodes():
    reward = MarkedReward()
    policy = ScriptedPolicy(step_responder(ROLLOUT_SCRIPT))
    r = Reasoner(
        model=policy,
        strategy="mcts",
        strategy_config={"k": 2, "simulations": 2, "evaluation": "rollout"},
        reward=reward,
    )
    state = await r.graph.ainvoke({"question": "q?", "run_id": "t"}, r._config(None), context=r.context)
    search, res = state["search"], full_result(state)
    # Sim 1: expand root, roll out 0.0 -> 0.0.0 -> 0.0.0.0 (final, .8). Sim 2: unvisited 0.1 has
    # infinite UCT; expanding it gives a final first child, evaluated without a rollout (.3).
    assert _expanded(res) == ["0", "0.0", "0.0.0", "0.1"]
    assert search["rollout"] == ["0.0.0", "0.0.0.0"]
    assert search["visits"] == {"0": 2, "0.0": 1, "0.1": 1, "0.1.0": 1}
    assert search["values"]["0"] == pytest.approx(0.8 + 0.3)
    # Rollouts verify only the final answer.
    assert "0.0" not in reward.scored and "0.0.0" not in reward.scored
    assert "0.0.0.0" in reward.scored
    # Most-visited tie at the root breaks on value: 0.0 (.8) -> its rollout's answer.
    assert res.answer == "12"
    assert res.best_path[-1].id == "0.0.0.0"
    assert any(e.kind == "backtrack" for e in res.trace)


# ---- revision -------------------------------------------------------------------------------


def test_revision_stops_when_the_verifier_is_satisfied():
    script = {
        "0": ["Guess [s=0.2]\n3+4 = 7\nFinal answer: 7"],
        "revise:0.0": ["Recheck [s=0.9]\n3*4 = 12\nFinal answer: 12"],
        "revise:0.1": ["Never [s=0.1]\nFinal answer: 0"],
    }
    res = _run(script, "revision", rounds=3)
    assert [e.kind for e in res.trace].count("revise") == 1
    assert res.answer == "12"
    assert res.tree.get("0.0").status == "revised"
    assert res.tree.get("0.1").revised_from == "0.0"


@pytest.mark.parametrize(("keep_best", "answer"), [(True, "8"), (False, "9")])
def test_revision_revises_up_to_rounds_and_keeps_the_best_version(keep_best, answer):
    script = {
        "0": ["Guess [s=0.2]\nFinal answer: 7"],
        "revise:0.0": ["Try2 [s=0.3]\nFinal answer: 8"],
        "revise:0.1": ["Try3 [s=0.1]\nFinal answer: 9"],
        "revise:0.2": ["Try4 [s=0.95]\nFinal answer: 12"],
    }
    res = _run(script, "revision", rounds=2, keep_best=keep_best)
    revisions = [e.node_id for e in res.trace if e.kind == "revise"]
    assert revisions == ["0.1", "0.2"]  # exactly R = 2 rounds, never the third
    assert res.answer == answer


def test_revision_revises_intermediate_steps_then_continues():
    script = {
        "0": ["Sloppy [s=0.4]\n3*4 = 11"],
        "revise:0.0": ["Careful [s=0.8]\n3*4 = 12"],
        "0.1": ["Done [s=0.9]\nFinal answer: 12"],
    }
    res = _run(script, "revision", rounds=2)
    assert [n.id for n in res.best_path] == ["0.1", "0.1.0"]
    assert res.answer == "12"


# ---- hybrid ---------------------------------------------------------------------------------


def test_hybrid_revises_weak_candidates_before_the_beam_ranks_them():
    script = {
        "0": ["Slip [s=0.3]\n3*4 = 11", "Fine [s=0.6]\n3*4 is 3 fours"],
        "revise:0.0": ["Fixed [s=0.9]\n3*4 = 12"],
        "0.2": ["Out [s=0.8]\nFinal answer: 12", "Alt [s=0.7]\nFinal answer: 13"],
    }
    res = _run(script, "hybrid", width=1, k=2, rounds=1, revise_below=0.5)
    assert res.tree.get("0.0").status == "revised"
    assert res.tree.get("0.2").revised_from == "0.0"
    # The repaired candidate (.9) outranks the untouched one (.6), which is pruned.
    assert res.tree.get("0.1").status == "pruned"
    assert _expanded(res) == ["0", "0.2"]
    assert [n.id for n in res.best_path] == ["0.2", "0.2.0"]
    assert res.answer == "12"


def test_hybrid_kept_revises_only_what_the_beam_keeps():
    script = {
        "0": ["Weak [s=0.4]\n3*4 is 3 fours", "Weaker [s=0.2]\n3*4 = 11"],
        "revise:0.0": ["Fixed [s=0.9]\n3*4 = 12"],
        "0.2": ["Out [s=0.8]\nFinal answer: 12"],
    }
    res = _run(script, "hybrid", width=1, k=2, rounds=1, revise_below=0.5, revise="kept")
    # The beam keeps 0.0 and prunes 0.1 *before* any rewrite; only the kept step is revised.
    assert res.tree.get("0.1").status == "pruned"
    assert not any(n.revised_from == "0.1" for n in res.tree.nodes.values())
    assert res.tree.get("0.0").status == "revised" and res.tree.get("0.2").revised_from == "0.0"
    revise_selects = [e for e in res.trace if e.kind == "select" and e.data.get("mode") == "revise"]
    assert [e.node_id for e in revise_selects] == ["0.0"]
    # The rewrite took its original's place in the beam and was expanded to the answer.
    assert _expanded(res) == ["0", "0.0", "0.2"]
    assert [n.id for n in res.best_path] == ["0.2", "0.2.0"]
    assert res.answer == "12"


def test_hybrid_kept_revises_a_weak_final_and_stops_after_its_rounds():
    script = {
        "0": ["Guess [s=0.3]\nFinal answer: 11"],
        "revise:0.0": ["Still [s=0.35]\nFinal answer: 13"],
        "revise:0.1": ["Right [s=0.9]\nFinal answer: 12"],
        "revise:0.2": ["Never [s=0.1]\nFinal answer: 0"],
    }
    res = _run(script, "hybrid", width=1, k=1, rounds=2, revise_below=0.5, revise="kept")
    assert [n.revised_from for n in res.tree.nodes.values() if n.revised_from] == ["0.0", "0.1"]
    assert res.answer == "12"
    # With one round the second, better rewrite never happens: the best version (.35) answers.
    res1 = _run(script, "hybrid", width=1, k=1, rounds=1, revise_below=0.5, revise="kept")
    assert res1.answer == "13"


class _ExpandAndReviseSibling:
    """Round 1: two children of the root. Round 2: one more child of the root *and* a rewrite of
    the first child, in the same selection."""

    name = "expand-and-revise"

    def __init__(self) -> None:
        from o1agent.search.base import StrategyConfig

        self.config = StrategyConfig()

    def init_state(self, tree):
        return {"round": 0}

    def select(self, tree, state):
        from o1agent.search.base import Expansion, Selection

        r = state["round"]
        if r == 0:
            return Selection([Expansion(tree.root_id, k=2)], {"round": 1})
        if r == 1:
            return Selection([Expansion(tree.root_id, k=1), Expansion("0.0", mode="revise")], {"round": 2})
        return Selection([], state)

    def update(self, tree, state, new_ids):
        from o1agent.search.base import Update

        return Update({**state, "last": new_ids})

    def done(self, tree, state):
        return state["round"] >= 2 and "last" in state

    def best(self, tree, state):
        return state["last"][-1]


def test_expanding_a_parent_and_revising_its_child_in_one_round_keeps_ids_unique():
    script = {
        "0": ["A [s=0.3]\n3*4 = 11", "B [s=0.6]\n3*4 = 12", "C [s=0.5]\n3 fours"],
        "revise:0.0": ["A2 [s=0.9]\n3*4 = 12\nFinal answer: 12"],
    }
    res = Reasoner(
        model=ScriptedPolicy(step_responder(script)),
        strategy=_ExpandAndReviseSibling(),
        reward=MarkedReward(),
        budget={},
    ).solve("What is 3*4?")
    root = res.tree.get("0")
    assert root.children == ["0.0", "0.1", "0.2", "0.3"]
    assert res.tree.get("0.2").step.raw.startswith("C")
    assert res.tree.get("0.3").revised_from == "0.0" and res.tree.get("0.0").status == "revised"
    assert res.answer == "12"
