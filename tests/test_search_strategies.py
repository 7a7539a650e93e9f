"""Unit tests of the search strategies on hand-built trees: no graph, no model, no reward.

Every strategy is a pure function of (tree, state); these tests build the tree a run would have
produced and check the decisions against values computed by hand.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from helpers import build_tree as build

from o1agent.config import GenerationConfig
from o1agent.errors import ConfigError
from o1agent.schema import Node, Tree
from o1agent.search import Choice, make_strategy
from o1agent.search.beam import path_score
from o1agent.search.best_of_n import normalize_answer, vote
from o1agent.search.mcts import MCTS, MCTSConfig
from o1agent.search.revision import best_version, versions

# ---- beam -----------------------------------------------------------------------------------

# Four paths of two steps: A (.6,.6), B (.95,.55), C (.5,.99), D (.58,.58).
BEAM_TREE = {
    "0.0": {"score": 0.6},
    "0.1": {"score": 0.95},
    "0.2": {"score": 0.5},
    "0.3": {"score": 0.58},
    "0.0.0": {"score": 0.6},
    "0.1.0": {"score": 0.55},
    "0.2.0": {"score": 0.99},
    "0.3.0": {"score": 0.58},
}
CANDIDATES = ["0.0.0", "0.1.0", "0.2.0", "0.3.0"]


def test_path_score_aggregates_by_hand():
    tree = build(BEAM_TREE)
    assert path_score(tree, "0.1.0", "min") == pytest.approx(0.55)
    assert path_score(tree, "0.1.0", "last") == pytest.approx(0.55)
    assert path_score(tree, "0.1.0", "prod") == pytest.approx(0.95 * 0.55)
    assert path_score(tree, "0.2.0", "last") == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("aggregate", "kept"),
    [
        ("min", ["0.0.0", "0.3.0"]),  # .6, .58 beat .55, .5
        ("prod", ["0.1.0", "0.2.0"]),  # .5225, .495 beat .36, .3364
        ("last", ["0.2.0", "0.0.0"]),  # .99, .6 beat .58, .55
    ],
)
def test_beam_keeps_top_width_by_aggregated_score(aggregate, kept):
    beam = make_strategy("beam", width=2, k=3, aggregate=aggregate)
    tree = build(BEAM_TREE)
    state = {"beams": ["0.0", "0.1", "0.2", "0.3"], "finals": [], "round": 1}
    upd = beam.update(tree, state, CANDIDATES)
    assert upd.state["beams"] == kept
    assert sorted(upd.pruned) == sorted(set(CANDIDATES) - set(kept))
    sel = beam.select(tree, upd.state)
    assert [(x.node_id, x.k) for x in sel.expansions] == [(b, 3) for b in kept]


def test_beam_collects_finals_and_stops_at_width():
    tree = build(
        {
            "0.0": {"score": 0.9},
            "0.1": {"score": 0.4},
            "0.0.0": {"score": 0.7, "answer": "12"},
            "0.0.1": {"score": 0.8},
            "0.1.0": {"score": 0.95, "answer": "5"},
            "0.1.1": {"score": 0.1, "status": "failed"},
        }
    )
    beam = make_strategy("beam", width=2, k=2, aggregate="min")
    st = {"beams": ["0.0", "0.1"], "finals": [], "round": 1}
    upd = beam.update(tree, st, ["0.0.0", "0.0.1", "0.1.0", "0.1.1"])
    assert upd.state["finals"] == ["0.0.0", "0.1.0"]
    assert upd.state["beams"] == ["0.0.1"]  # failed steps are neither kept nor pruned
    assert upd.pruned == []
    assert beam.done(tree, upd.state)
    assert beam.select(tree, upd.state).expansions == []
    # min: 12 scores min(.9,.7)=.7, 5 scores min(.4,.95)=.4; last would pick 5.
    assert beam.best(tree, upd.state) == Choice("0.0.0", "12", 0.7)
    assert make_strategy("beam", width=2, aggregate="last").best(tree, upd.state) == Choice(
        "0.1.0", "5", 0.95
    )


def test_beam_stops_when_beams_reach_max_depth():
    tree = build({"0.0": {"score": 0.9}, "0.0.0": {"score": 0.9}})
    beam = make_strategy("beam", width=2, generation={"max_depth": 2})
    state = {"beams": ["0.0.0"], "finals": [], "round": 2}
    assert beam.done(tree, state)
    assert beam.select(tree, state).expansions == []
    # No answer anywhere: the best live beam, which states no answer.
    assert beam.best(tree, state) == Choice("0.0.0", None, 0.9)
    # max_depth is read from the generation settings: one level deeper the beam goes on.
    deeper = make_strategy("beam", width=2, generation={"max_depth": 3})
    assert not deeper.done(tree, state)
    assert [x.node_id for x in deeper.select(tree, state).expansions] == ["0.0.0"]


def test_beam_first_round_expands_the_root():
    beam = make_strategy("beam", width=3, k=2)
    tree = Tree.new("q?")
    sel = beam.select(tree, beam.init_state(tree))
    assert [(x.node_id, x.k, x.verify) for x in sel.expansions] == [("0", 2, True)]


# ---- mcts -----------------------------------------------------------------------------------

MCTS_TREE = {
    "0.0": {"score": 0.7, "lp": -0.5},
    "0.1": {"score": 0.4, "lp": -1.0},
    "0.2": {"score": 0.9, "lp": -2.0},
}
MCTS_STATS = {
    "visits": {"0": 10, "0.0": 4, "0.1": 5, "0.2": 1},
    "values": {"0": 6.9, "0.0": 3.0, "0.1": 2.0, "0.2": 0.9},
}


def test_uct_matches_hand_computed_values():
    mcts = MCTS(MCTSConfig(selection="uct", c=1.4))
    state = {**mcts.init_state(build(MCTS_TREE)), **MCTS_STATS}
    scores = [u for _, u in mcts.child_scores(build(MCTS_TREE), state, "0")]
    # Q + 1.4 * sqrt(ln 10 / N): .75+1.0622, .4+.9501, .9+2.1244
    assert scores == pytest.approx([1.8121990, 1.3500597, 3.0243980])
    assert mcts.descend(build(MCTS_TREE), state) == ["0", "0.2"]


def test_puct_uses_logprob_priors_and_matches_hand_computed_values():
    tree = build(MCTS_TREE)
    mcts = MCTS(MCTSConfig(selection="puct", c=1.4))
    state = {**mcts.init_state(tree), **MCTS_STATS}
    # softmax(-0.5, -1, -2) = .5465, .3315, .1220
    priors = mcts.priors(tree.children("0"))
    assert priors == pytest.approx([0.5465494, 0.3314990, 0.1219517])
    scores = [u for _, u in mcts.child_scores(tree, state, "0")]
    # Q + 1.4 * P * sqrt(10) / (1 + N)
    assert scores == pytest.approx([1.2339355, 0.6446014, 1.1699515])
    assert mcts.descend(tree, state) == ["0", "0.0"]  # UCT would pick 0.2


def test_puct_priors_are_uniform_without_logprobs_and_respect_temperature():
    tree = build({**MCTS_TREE, "0.2": {"score": 0.9}})
    assert MCTS().priors(tree.children("0")) == pytest.approx([1 / 3] * 3)
    hot = MCTS(MCTSConfig(prior_temperature=100.0)).priors(build(MCTS_TREE).children("0"))
    assert max(hot) - min(hot) < 0.02


def test_uct_visits_unvisited_children_first():
    tree = build(MCTS_TREE)
    mcts = MCTS(MCTSConfig(selection="uct"))
    state = {
        **mcts.init_state(tree),
        "visits": {"0": 2, "0.0": 1, "0.2": 1},
        "values": {"0.0": 1.0, "0.2": 1.0},
    }
    assert mcts.descend(tree, state) == ["0", "0.1"]
    assert math.isinf(dict((c.id, u) for c, u in mcts.child_scores(tree, state, "0"))["0.1"])


def test_mcts_value_mode_backpropagates_visits_and_values_to_the_root():
    mcts = MCTS(MCTSConfig(k=2, simulations=5))
    tree = build({"0.0": {"score": 0.8}, "0.1": {"score": 0.3}})
    state = {
        **mcts.init_state(tree),
        "visits": {"0": 2, "0.0": 1, "0.1": 1},
        "values": {"0": 1.1, "0.0": 0.8, "0.1": 0.3},
    }
    state["sims"] = 1
    sel = mcts.select(tree, state)
    assert [(x.node_id, x.k, x.verify) for x in sel.expansions] == [("0.0", 2, True)]
    assert sel.state["phase"] == "expanding"
    grown = build(
        {"0.0": {"score": 0.8}, "0.1": {"score": 0.3}, "0.0.0": {"score": 0.9}, "0.0.1": {"score": 0.5}}
    )
    upd = mcts.update(grown, sel.state, ["0.0.0", "0.0.1"])
    st = upd.state
    assert st["visits"] == {"0": 4, "0.0": 3, "0.1": 1, "0.0.0": 1, "0.0.1": 1}
    assert st["values"]["0"] == pytest.approx(1.1 + 0.9 + 0.5)
    assert st["values"]["0.0"] == pytest.approx(0.8 + 0.9 + 0.5)
    assert st["sims"] == 2 and st["phase"] == "select"
    # A parent's visits cover its children's: the backup reached every ancestor.
    for nid in ("0", "0.0"):
        kids = [c.id for c in grown.children(nid)]
        assert st["visits"][nid] >= sum(st["visits"].get(k, 0) for k in kids)
    json.dumps(st)  # the state checkpoints with the graph


def test_mcts_rollout_phases_back_up_to_the_evaluated_node_only():
    mcts = MCTS(MCTSConfig(k=2, simulations=3, evaluation="rollout"))
    tree = Tree.new("q?")
    st = mcts.init_state(tree)
    sel = mcts.select(tree, st)
    assert [(x.node_id, x.k, x.verify) for x in sel.expansions] == [("0", 2, "final")]
    # Expansion: the child with the higher prior (0.1) is the one rolled out.
    t1 = build({"0.0": {"lp": -2.0}, "0.1": {"lp": -0.1}})
    st = mcts.update(t1, sel.state, ["0.0", "0.1"]).state
    assert (st["phase"], st["eval"], st["tip"]) == ("rollout", "0.1", "0.1")
    assert st["visits"] == {}  # nothing backed up before the evaluation
    sel = mcts.select(t1, st)
    assert [(x.node_id, x.k, x.verify, x.greedy) for x in sel.expansions] == [("0.1", 1, "final", True)]
    t2 = build({"0.0": {"lp": -2.0}, "0.1": {"lp": -0.1}, "0.1.0": {}})
    st = mcts.update(t2, sel.state, ["0.1.0"]).state
    assert st["phase"] == "rollout" and st["tip"] == "0.1.0" and st["rollout"] == ["0.1.0"]
    sel = mcts.select(t2, st)
    t3 = build(
        {"0.0": {"lp": -2.0}, "0.1": {"lp": -0.1}, "0.1.0": {}, "0.1.0.0": {"score": 0.7, "answer": "12"}}
    )
    st = mcts.update(t3, sel.state, ["0.1.0.0"]).state
    assert st["rollout"] == ["0.1.0", "0.1.0.0"]
    assert st["visits"] == {"0.1": 1, "0": 1}
    assert st["values"] == {"0.1": pytest.approx(0.7), "0": pytest.approx(0.7)}
    assert st["sims"] == 1 and st["phase"] == "select"
    # Rollout nodes are not MCTS children: 0.1 is still a leaf of the search tree.
    assert mcts.mcts_children(t3, st, "0.1") == []
    assert mcts.best(t3, st) == Choice("0.1.0.0", "12", 0.7)


def test_mcts_rollout_that_never_answers_is_worth_unfinished_value():
    mcts = MCTS(MCTSConfig(evaluation="rollout", unfinished_value=0.1), GenerationConfig(max_depth=2))
    tree = build({"0.0": {}, "0.0.0": {}})
    st = {**mcts.init_state(tree), "phase": "rolling", "eval": "0.0", "tip": "0.0", "rollout": []}
    st = mcts.update(tree, st, ["0.0.0"]).state
    assert st["values"] == {"0.0": pytest.approx(0.1), "0": pytest.approx(0.1)}


def test_mcts_evaluates_final_leaves_without_a_model_call_and_stops_at_simulations():
    mcts = MCTS(MCTSConfig(simulations=4))
    tree = build({"0.0": {"score": 0.9, "answer": "12"}, "0.1": {"score": 0.2, "answer": "5"}})
    st = {
        **mcts.init_state(tree),
        "visits": {"0": 2, "0.0": 1, "0.1": 1},
        "values": {"0": 1.1, "0.0": 0.9, "0.1": 0.2},
    }
    st["sims"] = 1
    sel = mcts.select(tree, st)
    # Both children are answers: the remaining 3 simulations only re-evaluate and back up.
    assert sel.expansions == []
    assert sel.state["sims"] == 4
    assert sel.state["visits"]["0"] == 5
    assert mcts.done(tree, sel.state)
    assert mcts.best(tree, sel.state) == Choice("0.0", "12", 0.9)


def test_mcts_final_by_visits_or_value():
    tree = build({"0.0": {"answer": "12"}, "0.1": {"answer": "7"}})
    stats = {"visits": {"0": 8, "0.0": 5, "0.1": 3}, "values": {"0.0": 2.5, "0.1": 2.7}}
    assert MCTS(MCTSConfig(final="visits")).best(tree, stats) == Choice("0.0", "12", None)
    assert MCTS(MCTSConfig(final="value")).best(tree, stats) == Choice("0.1", "7", None)
    # No statistics (an interrupted run): the best terminal (equal scores: the earliest).
    assert MCTS().best(tree, {}) == Choice("0.0", "12", None)


def test_mcts_path_without_an_answer_takes_the_best_answer_below_it():
    tree = build(
        {
            "0.0": {"score": 0.8},
            "0.1": {"score": 0.6},
            "0.0.0": {},
            "0.0.0.0": {"answer": "5", "score": 0.4},
            "0.0.0.1": {"answer": "12", "score": 0.9},
            "0.1.0": {"answer": "99", "score": 1.0},
        }
    )
    # 0.0 is the most visited; its rollout answers (not MCTS nodes) lie below it.
    stats = {
        "visits": {"0": 3, "0.0": 2, "0.1": 1},
        "values": {"0": 1.5, "0.0": 1.0, "0.1": 0.5},
        "rollout": ["0.0.0", "0.0.0.0", "0.0.0.1"],
    }
    assert MCTS().best(tree, stats) == Choice("0.0.0.1", "12", 0.9)


def test_mcts_select_recovers_when_an_expansion_produced_nothing():
    mcts = MCTS(MCTSConfig(simulations=3))
    tree = build({"0.0": {"score": 0.9}})
    st = {**mcts.init_state(tree), "phase": "expanding", "leaf": "0.0", "visits": {"0": 1, "0.0": 1}}
    st["values"] = {"0": 0.9, "0.0": 0.9}
    st["sims"] = 1
    sel = mcts.select(tree, st)
    assert "0.0" in sel.state["dead"]
    assert all(x.node_id != "0.0" for x in sel.expansions)


# ---- best_of_n ------------------------------------------------------------------------------


def _finals(answers_scores: list[tuple[str, float]]) -> tuple[Tree, list[Node]]:
    tree = build({f"0.{i}": {"answer": a, "score": s} for i, (a, s) in enumerate(answers_scores)})
    return tree, [tree.get(f"0.{i}") for i in range(len(answers_scores))]


VOTES = [("12", 0.1), ("12.0", 0.1), (" 12 ", 0.1), ("7", 0.5), ("7", 0.5), ("9", 0.95)]


@pytest.mark.parametrize(("mode", "answer"), [("majority", "12"), ("weighted_vote", "7"), ("outcome", "9")])
def test_best_of_n_vote_modes(mode, answer):
    tree, finals = _finals(VOTES)
    chosen = vote(finals, mode)
    assert chosen is not None and normalize_answer(chosen.step.answer or "") == answer
    bon = make_strategy("best_of_n", n=6, select_by=mode)
    state = {"started": True, "chains": [n.id for n in finals]}
    best = bon.best(tree, state)
    assert best is not None and normalize_answer(best.answer or "") == answer
    assert best.answer == tree.get(best.node_id).step.answer  # a member of the winning group
    assert best.score == tree.get(best.node_id).score


def test_majority_tie_goes_to_the_highest_score():
    _, finals = _finals([("12", 0.3), ("12", 0.3), ("7", 0.2), ("7", 0.6)])
    chosen = vote(finals, "majority")
    assert chosen is not None and chosen.id == "0.3"


def test_normalize_answer():
    assert normalize_answer(" 1,200.0 ") == normalize_answer("1200") == "1200"
    assert normalize_answer("Paris.") == normalize_answer("paris") == "paris"
    assert normalize_answer("0.5") == "0.5"


def test_best_of_n_rounds_follow_every_chain():
    bon = make_strategy("best_of_n", n=3, generation={"max_depth": 3})
    tree = Tree.new("q?")
    sel = bon.select(tree, bon.init_state(tree))
    assert [(x.node_id, x.k, x.verify) for x in sel.expansions] == [("0", 3, "final")]
    t1 = build({"0.0": {}, "0.1": {"answer": "4", "score": 0.9}, "0.2": {}})
    st = bon.update(t1, sel.state, ["0.0", "0.1", "0.2"]).state
    assert st["chains"] == ["0.0", "0.1", "0.2"]
    sel = bon.select(t1, st)
    assert [(x.node_id, x.k, x.greedy, x.verify) for x in sel.expansions] == [
        ("0.0", 1, True, "final"),
        ("0.2", 1, True, "final"),
    ]
    # The chain 0.0 was revised by the graph: its rewrite 0.0.1 replaces 0.0.0 as the tip.
    t2 = build(
        {
            "0.0": {},
            "0.1": {"answer": "4", "score": 0.9},
            "0.2": {},
            "0.0.0": {"status": "revised"},
            "0.0.1": {"answer": "4", "score": 0.5, "from": "0.0.0"},
            "0.2.0": {"answer": "5", "score": 0.8},
        }
    )
    st = bon.update(t2, sel.state, ["0.0.1", "0.2.0"]).state
    assert st["chains"] == ["0.0.1", "0.1", "0.2.0"]
    assert bon.done(t2, st)
    # 4 twice (.9 and .5) beats 5 (.8); the group's best-scored member represents it.
    assert bon.best(t2, st) == Choice("0.1", "4", 0.9)


# ---- revision and hybrid --------------------------------------------------------------------

REVISED = {
    "0.0": {"score": 0.9},
    "0.0.0": {"score": 0.2, "answer": "7", "status": "revised"},
    "0.0.1": {"score": 0.6, "answer": "8", "status": "revised", "from": "0.0.0"},
    "0.0.2": {"score": 0.4, "answer": "9", "from": "0.0.1"},
}


def test_versions_and_best_version():
    tree = build(REVISED)
    assert [n.id for n in versions(tree, "0.0.2")] == ["0.0.0", "0.0.1", "0.0.2"]
    assert best_version(tree, "0.0.2") == "0.0.1"
    assert best_version(tree, "0.0") == "0.0"  # not final: the path continues from it as is


def test_revision_follows_the_latest_version_and_answers_with_the_best():
    rev = make_strategy("revision", rounds=2)
    tree = build(REVISED)
    st = rev.update(tree, {"current": "0.0", "revisions": 0}, ["0.0.2"]).state
    assert st["current"] == "0.0.2" and st["revisions"] == 2
    assert rev.done(tree, st)
    assert rev.select(tree, st).expansions == []
    assert rev.best(tree, st) == Choice("0.0.1", "8", 0.6)
    assert make_strategy("revision", keep_best=False).best(tree, st) == Choice("0.0.2", "9", 0.4)


def test_revision_continues_greedily_until_satisfied_path_ends():
    rev = make_strategy("revision")
    tree = build({"0.0": {"score": 0.9}})
    sel = rev.select(tree, {"current": "0.0", "revisions": 0})
    assert [(x.node_id, x.k, x.greedy, x.verify) for x in sel.expansions] == [("0.0", 1, True, True)]
    assert not rev.done(tree, sel.state)


def test_hybrid_answers_with_the_best_version_of_the_best_final():
    tree = build(REVISED)
    hyb = make_strategy("hybrid", width=1)
    state = {"beams": [], "finals": ["0.0.2"], "round": 2}
    assert hyb.best(tree, state) == Choice("0.0.1", "8", 0.6)
    assert make_strategy("hybrid", width=1, keep_best=False).best(tree, state) == Choice("0.0.2", "9", 0.4)


def test_hybrid_kept_asks_the_graph_to_revise_weak_kept_steps_first():
    hyb = make_strategy("hybrid", width=2, revise="kept", revise_below=0.5, rounds=1)
    assert hyb.revises and not make_strategy("hybrid").revises
    tree = build({"0.0": {"score": 0.3}, "0.1": {"score": 0.7}, "0.2": {"score": 0.1, "status": "pruned"}})
    state = {"beams": ["0.0", "0.1"], "finals": [], "round": 1}
    sel = hyb.select(tree, state)
    # Only the weak kept beam; the pruned one is not revised, and nothing is expanded meanwhile.
    assert [(x.node_id, x.mode) for x in sel.expansions] == [("0.0", "revise")]
    assert not hyb.done(tree, state)
    tree = build(
        {
            **{"0.0": {"score": 0.3, "status": "revised"}, "0.1": {"score": 0.7}},
            "0.3": {"score": 0.8, "from": "0.0"},
        }
    )
    tree = tree.merged({"0.3": tree.get("0.3").model_copy(update={"revisions": 1})})
    upd = hyb.update(tree, state, ["0.3"])
    assert upd.state["beams"] == ["0.1", "0.3"] and upd.pruned == []
    assert [(x.node_id, x.mode) for x in hyb.select(tree, upd.state).expansions] == [
        ("0.1", "propose"),
        ("0.3", "propose"),
    ]


# ---- all strategies -------------------------------------------------------------------------

CLI_FIELDS = {
    "beam": {"width": 4, "k": 3},
    "mcts": {"k": 3, "simulations": 12},
    "best_of_n": {"n": 5},
    "revision": {"rounds": 3},
    "hybrid": {"rounds": 1, "width": 2, "k": 2},
    "dfs": {"k": 3, "threshold": 0.4},
    "greedy": {"revise_below": 0.5},
    "deepconf": {"n": 6, "eta": 10.0, "online": True, "warmup": 3},
    "adaptive_sc": {"first": 2, "max_samples": 10, "rule": "dirichlet"},
    "adaptive": {"first": 3, "confident": 4.5, "threshold": 0.9},
    "particle": {"particles": 6, "resample": "multinomial", "signal": "confidence"},
    "verified_vote": {"n": 5, "fail_weight": 0.2},
}


@pytest.mark.parametrize("name", sorted(CLI_FIELDS))
def test_cli_field_names_reach_the_config(name):
    strat = make_strategy(name, CLI_FIELDS[name], generation={"max_depth": 5})
    for field, value in CLI_FIELDS[name].items():
        assert getattr(strat.config, field) == value
    assert strat.generation == GenerationConfig(max_depth=5)
    if "rounds" in CLI_FIELDS[name]:
        assert strat.config.max_revisions == CLI_FIELDS[name]["rounds"]
        assert strat.config.revise_below is not None


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("beam", {"width": 0}),
        ("beam", {"aggregate": "mean"}),
        ("mcts", {"simulations": 0}),
        ("mcts", {"selection": "ucb"}),
        ("mcts", {"evaluation": "guess"}),
        ("best_of_n", {"n": 0}),
        ("best_of_n", {"select_by": "vote"}),
        ("revision", {"rounds": 9}),
        ("revision", {"rounds": 2, "max_revisions": 3}),
        ("hybrid", {"k": 0}),
        ("beam", {"no_such_field": 1}),
        ("adaptive_sc", {"first": 9, "max_samples": 4}),
        ("adaptive_sc", {"threshold": 0.4}),
        ("particle", {"resample": "stratified"}),
        ("verified_vote", {"pass_below": 0}),
        ("greedy", {"critique": "judge"}),
    ],
)
def test_bad_configs_fail_clearly(name, bad):
    with pytest.raises(ConfigError, match=name):
        make_strategy(name, bad)


PURITY_TREE = {
    "0.0": {"score": 0.8, "lp": -0.2},
    "0.1": {"score": 0.3, "lp": -0.9},
    "0.0.0": {"score": 0.9, "answer": "12"},
    "0.0.1": {"score": 0.6},
}


@pytest.mark.parametrize(
    "name",
    [
        "beam",
        "mcts",
        "best_of_n",
        "revision",
        "hybrid",
        "dfs",
        "greedy",
        "deepconf",
        "adaptive_sc",
        "adaptive",
        "particle",
        "verified_vote",
    ],
)
def test_strategies_never_mutate_tree_or_state_and_keep_state_json(name):
    strat = make_strategy(name)
    tree = build(PURITY_TREE)
    before = tree.model_dump()
    state = strat.init_state(Tree.new("q?"))
    for new_ids in (["0.0", "0.1"], ["0.0.0", "0.0.1"]):
        sel = strat.select(tree, state)
        frozen = copy.deepcopy(sel.state)
        upd = strat.update(tree, sel.state, new_ids)
        assert sel.state == frozen
        state = upd.state
        json.loads(json.dumps(state))
    strat.done(tree, state)
    for st in (state, {}):  # {}: a partial result has no search state
        choice = strat.best(tree, st)
        assert choice is not None and choice.node_id in tree.nodes and choice.node_id != tree.root_id
        node = tree.get(choice.node_id)
        assert choice.score == node.score
        assert choice.answer == (node.step.answer if node.step.is_final else None)
    assert tree.model_dump() == before
