"""Unit tests of the voting and sampling strategies on hand-built trees: DeepConf (offline and
online), adaptive self-consistency, adaptive allocation, the verified vote and the particle
filter. No graph, no model: every expected value below is computed by hand."""

from __future__ import annotations

import random

import pytest
from helpers import build_tree as build

from o1agent.errors import ConfigError
from o1agent.policies.base import TokenLogprob
from o1agent.rewards.confidence import token_confidences
from o1agent.schema import Tree
from o1agent.search import Choice, make_strategy
from o1agent.search.adaptive_sc import beta_settled, dirichlet_settled
from o1agent.search.deepconf import group_confidences, trace_confidence
from o1agent.search.particle import normalised_weights, resample
from o1agent.search.picks import expandable, multiplicity


def started(chains: list[str], *, drawn: int | None = None, waves: int = 1, wave_of: list[int] | None = None):
    return {
        "started": True,
        "chains": chains,
        "wave_of": wave_of or [1] * len(chains),
        "ended": [],
        "stopped": [],
        "drawn": len(chains) if drawn is None else drawn,
        "waves": waves,
    }


# ---- DeepConf's confidence ------------------------------------------------------------------


def test_token_confidence_is_the_mean_negative_top_k_logprob():
    toks = [
        TokenLogprob(token="a", logprob=-0.1, top={"a": -0.1, "b": -3.0, "c": -5.0}),
        TokenLogprob(token="d", logprob=-1.0, top={}),  # no top logprobs: left out
        TokenLogprob(token="e", logprob=-0.7, top={"e": -0.7, "f": -0.7}),
    ]
    assert token_confidences(toks, k=2) == [1.55, 0.7]  # (0.1 + 3.0) / 2 and (0.7 + 0.7) / 2
    assert token_confidences(toks, k=20) == [2.7, 0.7]
    assert token_confidences([TokenLogprob(token="x", logprob=-0.2)]) is None
    assert token_confidences(None) is None


def test_group_and_trace_confidence_by_hand():
    conf = [4.0, 2.0, 6.0, 8.0, 1.0]
    assert group_confidences(conf, 2) == [3.0, 4.0, 7.0, 4.5]
    assert group_confidences(conf, 10) == [4.2]  # shorter than a window: one group
    assert trace_confidence(conf, "lowest_group", window=2, tail=2) == 3.0
    assert trace_confidence(conf, "tail", window=2, tail=2) == 4.5
    assert trace_confidence(conf, "mean", window=2, tail=2) == pytest.approx(4.2)
    assert trace_confidence(conf, "bottom10", window=2, tail=2) == 3.0  # ceil(10 % of 4) = 1 group
    assert trace_confidence([], "mean", window=2, tail=2) is None


# Three low-confidence 5s against one confident 7: majority says 5, DeepConf says 7.
CONF_TREE = {
    "0.0": {"answer": "5", "tc": [2.0, 2.0]},
    "0.1": {"answer": "5", "tc": [3.0, 3.0]},
    "0.2": {"answer": "5", "tc": [4.0, 4.0]},
    "0.3": {"answer": "7", "tc": [10.0, 10.0]},
}


@pytest.mark.parametrize(
    ("eta", "answer", "kept"),
    [
        (100, "7", 4),  # 10 > 2 + 3 + 4: the weighted vote alone turns it
        (90, "7", 4),  # ceil(0.9 * 4) = 4 traces kept
        (50, "7", 2),  # 10 and 4 kept: 10 > 4
        (25, "7", 1),
    ],
)
def test_deepconf_offline_filters_and_weighs_by_confidence(eta, answer, kept):
    tree = build(CONF_TREE)
    dc = make_strategy("deepconf", n=4, eta=eta, window=2)
    assert dc.top_logprobs == 20  # the graph is asked for top logprobs
    state = started(["0.0", "0.1", "0.2", "0.3"])
    assert dc.done(tree, state)
    assert dc.best(tree, state) == Choice("0.3", "7", None)
    report = dc.allocation(tree, state)
    assert report["kept"] == kept and report["samples"] == 4
    assert make_strategy("best_of_n", n=4, select_by="majority").best(tree, state).answer == "5"


def test_deepconf_without_token_confidence_is_a_plain_majority():
    tree = build({k: {"answer": v["answer"]} for k, v in CONF_TREE.items()})
    dc = make_strategy("deepconf", n=4)
    state = started(["0.0", "0.1", "0.2", "0.3"])
    assert dc.best(tree, state).answer == "5"
    assert "unweighted majority" in dc.allocation(tree, state)["note"]


def test_deepconf_online_warms_up_then_stops_weak_traces():
    dc = make_strategy("deepconf", n=4, online=True, warmup=2, wave=2, eta=50, window=2, consensus=None)
    root = Tree.new("q?")
    sel = dc.select(root, dc.init_state(root))
    assert [(x.node_id, x.k, x.greedy_first) for x in sel.expansions] == [("0", 2, True)]
    # Warm-up: confidences 8 and 4, so the threshold is their median, 6.
    warm = build({"0.0": {"answer": "7", "tc": [8.0, 8.0]}, "0.1": {"answer": "5", "tc": [4.0, 4.0]}})
    st = dc.update(warm, sel.state, ["0.0", "0.1"]).state
    assert st["chains"] == ["0.0", "0.1"] and dc.threshold(warm, st) == 6.0
    assert not dc.done(warm, st)
    sel = dc.select(warm, st)
    # Later waves sample every candidate: the greedy one is already in the tree.
    assert [(x.node_id, x.k, x.greedy_first) for x in sel.expansions] == [("0", 2, False)]
    tree = build(
        {
            "0.0": {"answer": "7", "tc": [8.0, 8.0]},
            "0.1": {"answer": "5", "tc": [4.0, 4.0]},
            "0.2": {"tc": [3.0, 3.0]},  # below 6 after its first step: stopped
            "0.3": {"tc": [7.0, 9.0]},
        }
    )
    upd = dc.update(tree, sel.state, ["0.2", "0.3"])
    assert upd.pruned == ["0.2"] and upd.state["stopped"] == ["0.2"]
    assert upd.state["wave_of"] == [1, 1, 2, 2]
    sel = dc.select(tree, upd.state)
    assert [(x.node_id, x.k, x.greedy) for x in sel.expansions] == [("0.3", 1, True)]
    step = build({"0.3": {"tc": [7.0, 9.0]}, "0.3.0": {"answer": "5", "tc": [7.0, 7.0]}})
    tree = tree.merged({k: v for k, v in step.nodes.items() if k != step.root_id})  # the root keeps 4 samples
    tree = tree.merged({"0.3": tree.get("0.3").model_copy(update={"children": ["0.3.0"]})})
    st = dc.update(tree, sel.state, ["0.3.0"]).state
    assert dc.done(tree, st)  # n = 4 drawn
    # Votes: 0.0 (8, kept: >= 6), 0.1 (4 < 6: out), 0.3.0 (lowest group 7): 8 for "7" vs 7 for "5".
    assert dc.best(tree, st) == Choice("0.0", "7", None)
    assert dc.allocation(tree, st)["threshold"] == 6.0
    assert dc.allocation(tree, st)["stopped_early"] == 1


def test_deepconf_online_stops_sampling_at_consensus():
    dc = make_strategy("deepconf", n=8, online=True, warmup=2, window=2, consensus=0.95)
    tree = build({"0.0": {"answer": "7", "tc": [8.0]}, "0.1": {"answer": "7.0", "tc": [5.0]}})
    state = started(["0.0", "0.1"])
    assert dc.more(tree, state) == 0 and dc.done(tree, state)
    assert "consensus" in dc.stop_reason(tree, state)


def test_deepconf_config_is_checked():
    with pytest.raises(ConfigError, match="deepconf"):
        make_strategy("deepconf", n=2, warmup=4, online=True)
    with pytest.raises(ConfigError, match="deepconf"):
        make_strategy("deepconf", eta=0)


# ---- adaptive self-consistency --------------------------------------------------------------


def test_beta_rule_by_hand():
    assert beta_settled(3, 0) == pytest.approx(1 - 0.5**4)  # Beta(4, 1): P(p > 1/2)
    assert beta_settled(4, 0) == pytest.approx(1 - 0.5**5)
    assert beta_settled(5, 1) == pytest.approx(120 / 128)  # P(Bin(7, 1/2) <= 5)
    assert beta_settled(1, 1) == pytest.approx(0.5)


def test_dirichlet_rule_is_deterministic_and_close_to_beta_with_one_answer():
    assert dirichlet_settled([4]) == dirichlet_settled([4])
    # One answer seen + one unseen: Dirichlet(5, 1) is Beta(5, 1).
    assert dirichlet_settled([4], draws=20_000) == pytest.approx(1 - 0.5**5, abs=0.01)
    assert dirichlet_settled([3, 3, 0]) < 0.6 < dirichlet_settled([6, 1])


def test_adaptive_sc_samples_until_the_vote_is_settled():
    sc = make_strategy("adaptive_sc", first=3, threshold=0.95)
    root = Tree.new("q?")
    sel = sc.select(root, sc.init_state(root))
    assert [(x.node_id, x.k, x.verify) for x in sel.expansions] == [("0", 3, "final")]
    three = build({f"0.{i}": {"answer": "5"} for i in range(3)})
    st = sc.update(three, sel.state, ["0.0", "0.1", "0.2"]).state
    # 3 votes for 5: P = 0.9375 < 0.95, so one more.
    assert not sc.done(three, st) and sc.more(three, st) == 1
    sel = sc.select(three, st)
    assert [(x.node_id, x.k, x.greedy_first) for x in sel.expansions] == [("0", 1, False)]
    four = build({f"0.{i}": {"answer": "5"} for i in range(4)})
    st = sc.update(four, sel.state, ["0.3"]).state
    assert sc.done(four, st)  # 0.969
    report = sc.allocation(four, st)
    assert report["samples"] == 4 and report["waves"] == 2 and report["stop"].startswith("settled")
    assert report["posterior"] == pytest.approx(0.9688, abs=1e-4)


def test_adaptive_sc_counts_duplicates_and_stops_at_the_cap():
    sc = make_strategy("adaptive_sc", first=4, max_samples=4)
    # 0.3 repeats 0.0 (not continued): 5 has two votes, 7 two: unsettled, but the cap is reached.
    tree = build(
        {
            "0.0": {"answer": "5"},
            "0.1": {"answer": "7"},
            "0.2": {"answer": "7"},
            "0.3": {"answer": "5", "status": "duplicate", "dup": "0.0"},
        }
    )
    state = started(["0.0", "0.1", "0.2"], drawn=4)
    assert sc.counts(tree, state) == {"5": 2, "7": 2}
    assert sc.done(tree, state)
    assert sc.stop_reason(tree, state).startswith("cap")
    assert sc.allocation(tree, state)["duplicates"] == 1


# ---- adaptive allocation ----------------------------------------------------------------------


def test_adaptive_stops_after_a_confident_unanimous_warm_up():
    ad = make_strategy("adaptive", first=2, confident=5.0, window=2)
    easy = build({"0.0": {"answer": "12", "tc": [9.0, 8.0]}, "0.1": {"answer": "12", "tc": [6.0, 7.0]}})
    state = started(["0.0", "0.1"])
    assert ad.done(easy, state)
    report = ad.allocation(easy, state)
    assert report["difficulty"] == "easy" and report["samples"] == 2
    assert report["warmup_confidence"] == 6.5 and "agree" in report["stop"]
    assert ad.best(easy, state).answer == "12"


def test_adaptive_spends_more_when_unsure_or_split():
    ad = make_strategy("adaptive", first=2, confident=5.0, window=2, max_samples=6, threshold=0.95)
    unsure = build({"0.0": {"answer": "12", "tc": [9.0, 8.0]}, "0.1": {"answer": "12", "tc": [2.0, 2.0]}})
    assert ad.more(unsure, started(["0.0", "0.1"])) == 1
    # Below 0.875 (Beta(3, 1)) two agreeing samples settle the vote whatever their confidence.
    lax = make_strategy("adaptive", first=2, confident=5.0, window=2, threshold=0.8)
    assert lax.more(unsure, started(["0.0", "0.1"])) == 0
    assert lax.allocation(unsure, started(["0.0", "0.1"]))["difficulty"] == "settled"
    split = build({"0.0": {"answer": "12", "tc": [9.0, 8.0]}, "0.1": {"answer": "13", "tc": [9.0, 9.0]}})
    assert ad.more(split, started(["0.0", "0.1"])) == 1
    # With confident=None, agreement alone is enough.
    assert make_strategy("adaptive", first=2, confident=None).more(unsure, started(["0.0", "0.1"])) == 0
    # At the cap it stops, and says the question was hard.
    six = build({f"0.{i}": {"answer": str(i % 3), "tc": [5.0]} for i in range(6)})
    st = started([f"0.{i}" for i in range(6)], waves=5, wave_of=[1, 1, 2, 3, 4, 5])
    assert ad.done(six, st) and ad.allocation(six, st)["difficulty"] == "hard"


# ---- verified vote ----------------------------------------------------------------------------


def test_verified_vote_discards_solutions_that_failed_their_check():
    tree = build(
        {
            "0.0": {"answer": "5", "score": 0.0},
            "0.1": {"answer": "5", "score": 0.0},
            "0.2": {"answer": "7", "score": 1.0},
            "0.3": {"answer": "9"},  # unchecked: one vote
        }
    )
    state = started(["0.0", "0.1", "0.2", "0.3"])
    vv = make_strategy("verified_vote", n=4)
    assert vv.best(tree, state) == Choice("0.2", "7", 1.0)  # majority would say 5
    assert vv.allocation(tree, state)["failed_checks"] == 2
    # Down-weighted instead of discarded: 2 * 0.6 = 1.2 > 1.
    assert make_strategy("verified_vote", n=4, fail_weight=0.6).best(tree, state).answer == "5"


def test_verified_vote_falls_back_to_the_majority_when_every_solution_failed():
    tree = build(
        {
            "0.0": {"answer": "5", "score": 0.0},
            "0.1": {"answer": "5", "score": 0.1},
            "0.2": {"answer": "7", "score": 0.2},
        }
    )
    state = started(["0.0", "0.1", "0.2"])
    vv = make_strategy("verified_vote", n=3)
    assert vv.best(tree, state).answer == "5"
    assert "plain majority" in vv.allocation(tree, state)["note"]


# ---- particle filtering -----------------------------------------------------------------------


def test_particle_weights_by_hand():
    # softmax of the logit: exp(logit(.9)) = 9, exp(logit(.5)) = 1.
    assert normalised_weights([0.9, 0.5], "softmax", temperature=1.0, logit=True) == pytest.approx([0.9, 0.1])
    assert normalised_weights([0.9, 0.5], "softmax", temperature=2.0, logit=True) == pytest.approx(
        [0.75, 0.25]
    )
    assert normalised_weights([0.9, 0.5], "linear", temperature=1.0, logit=False) == pytest.approx(
        [0.9 / 1.4, 0.5 / 1.4]
    )
    assert normalised_weights([0.0, 0.0], "linear", temperature=1.0, logit=False) == [0.5, 0.5]
    assert normalised_weights(
        [2.0, 2.0 + 0.6931471805599453], "softmax", temperature=1.0, logit=False
    ) == pytest.approx([1 / 3, 2 / 3])


class _Fixed(random.Random):
    def __init__(self, u: float) -> None:
        super().__init__(0)
        self.u = u

    def random(self) -> float:
        return self.u


def test_systematic_resampling_by_hand():
    # Pointers at (u + j) / 4 = .125, .375, .625, .875 through cumulative weights .5, .75, 1.
    assert resample(["a", "b", "c", "d"], [0.5, 0.25, 0.25, 0.0], "systematic", _Fixed(0.5)) == [
        "a",
        "a",
        "b",
        "c",
    ]
    assert resample(["a", "b"], [1.0, 0.0], "systematic", _Fixed(0.99)) == ["a", "a"]
    picks = resample(["a", "b", "c"], [0.2, 0.3, 0.5], "multinomial", random.Random(7))
    assert picks == resample(["a", "b", "c"], [0.2, 0.3, 0.5], "multinomial", random.Random(7))
    assert len(picks) == 3 and set(picks) <= {"a", "b", "c"}


def test_particle_filter_resamples_each_step_and_keeps_finished_particles():
    pf = make_strategy("particle", particles=3, resample="systematic")
    root = Tree.new("q?")
    sel = pf.select(root, pf.init_state(root))
    assert [(x.node_id, x.k, x.verify) for x in sel.expansions] == [("0", 3, True)]
    # 0.0 is certain (weight ~1), the others near 0: every copy goes to 0.0.
    t1 = build({"0.0": {"score": 0.999}, "0.1": {"score": 0.001}, "0.2": {"score": 0.001}})
    upd = pf.update(t1, sel.state, ["0.0", "0.1", "0.2"])
    assert upd.state["particles"] == ["0.0", "0.0", "0.0"]
    assert sorted(upd.pruned) == ["0.1", "0.2"]
    sel = pf.select(t1, upd.state)
    # One particle held three times: three sampled children.
    assert [(x.node_id, x.k, x.greedy_first) for x in sel.expansions] == [("0.0", 3, False)]
    # Its children: a final answer, an open step and a duplicate of the open one.
    t2 = t1.merged(
        build(
            {
                "0.0": {"score": 0.999},
                "0.0.0": {"score": 0.9, "answer": "12"},
                "0.0.1": {"score": 0.9, "raw": "same"},
                "0.0.2": {"raw": "same", "status": "duplicate", "dup": "0.0.1"},
            }
        ).nodes
    )
    assert multiplicity(t2, "0.0.1") == 2
    population = pf._advance(t2, sel.state, ["0.0.0", "0.0.1"])
    assert population == ["0.0.0", "0.0.1", "0.0.1"]  # the duplicate's copy follows its original
    upd = pf.update(t2, sel.state, ["0.0.0", "0.0.1"])
    assert len(upd.state["particles"]) == 3 and set(upd.state["particles"]) <= {"0.0.0", "0.0.1"}
    # Equal weights (.9, .9, .9): systematic resampling keeps each particle's share exactly.
    assert sorted(upd.state["particles"]) == ["0.0.0", "0.0.1", "0.0.1"]
    # The finished particle is not extended; the open one is, twice.
    sel = pf.select(t2, upd.state)
    assert [(x.node_id, x.k) for x in sel.expansions] == [("0.0.1", 2)]
    done = {"started": True, "particles": ["0.0.0", "0.0.0", "0.0.0"], "round": 3}
    assert pf.done(t2, done)
    assert pf.best(t2, done) == Choice("0.0.0", "12", 0.9)
    assert pf.allocation(t2, done)["stop"] == "every particle finished"


def test_particle_resampling_is_seeded():
    pf = make_strategy("particle", particles=4, resample="multinomial")
    tree = build({f"0.{i}": {"score": s} for i, s in enumerate([0.6, 0.5, 0.4, 0.7])})
    state = {"started": True, "particles": [], "round": 0}
    first = pf.update(tree, state, ["0.0", "0.1", "0.2", "0.3"]).state["particles"]
    assert first == pf.update(tree, state, ["0.0", "0.1", "0.2", "0.3"]).state["particles"]
    other = make_strategy("particle", particles=4, resample="multinomial", seed=5)
    draws = {
        tuple(
            make_strategy("particle", particles=4, resample="multinomial", seed=s)
            .update(tree, state, ["0.0", "0.1", "0.2", "0.3"])
            .state["particles"]
        )
        for s in range(8)
    }
    assert len(draws) > 1 and other.config.seed == 5


def test_particle_vote_and_confidence_signal():
    tree = build(
        {
            "0.0": {"answer": "5", "score": 0.6, "tc": [1.0]},
            "0.1": {"answer": "5", "score": 0.6, "tc": [1.0]},
            "0.2": {"answer": "7", "score": 0.8, "tc": [9.0]},
        }
    )
    st = {"started": True, "particles": ["0.0", "0.1", "0.2"], "round": 2}
    assert make_strategy("particle").best(tree, st).answer == "7"  # argmax weight
    # Vote: logit weights 1.5, 1.5 vs 4: "5" has 3/7, "7" 4/7.
    assert make_strategy("particle", select_by="vote").best(tree, st).answer == "7"
    assert make_strategy("particle", select_by="vote", weights="linear").best(tree, st).answer == "5"
    conf = make_strategy("particle", signal="confidence")
    assert conf.top_logprobs == 20 and conf.score(tree, "0.2") == 9.0
    assert make_strategy("particle").top_logprobs == 0


# ---- duplicates -------------------------------------------------------------------------------


def test_a_duplicate_is_never_expandable_and_counts_for_its_original():
    tree = build({"0.0": {"raw": "x"}, "0.1": {"raw": "x", "status": "duplicate", "dup": "0.0"}})
    assert not expandable(tree.get("0.1"), 6) and expandable(tree.get("0.0"), 6)
    assert multiplicity(tree, "0.0") == 2 and multiplicity(tree, "0.1") == 1
    final = build({"0.0": {"answer": "3"}, "0.1": {"answer": "3", "status": "duplicate", "dup": "0.0"}})
    assert [n.id for n in final.terminals()] == ["0.0"]


def test_a_rewritten_first_step_takes_its_chains_place():
    bon = make_strategy("best_of_n", n=2)
    tree = build({"0.0": {"status": "revised"}, "0.1": {}, "0.2": {"answer": "4"}})
    tree = tree.merged({"0.2": tree.get("0.2").model_copy(update={"revised_from": "0.0"})})
    st = bon.update(tree, started(["0.0", "0.1"]), ["0.2"]).state
    assert st["chains"] == ["0.2", "0.1"]
