"""The strategy protocol's v2 contract on hand-built trees: ``best`` returns a ``Choice``, generation
settings live apart from the strategy config, ``revises`` says who rewrites, and no strategy ever
selects a failed node.

No graph, no model: every expectation is worked out by hand from the tree in the test.
"""

from __future__ import annotations

import dataclasses

import pytest
from test_search_strategies import build

from o1agent.config import GenerationConfig
from o1agent.errors import ConfigError
from o1agent.schema import Tree
from o1agent.search import (
    Choice,
    SearchStrategy,
    StrategyConfig,
    available_strategies,
    make_strategy,
    with_generation,
)
from o1agent.search.base import _REGISTRY, default_best, register_strategy
from o1agent.search.beam import BeamConfig, BeamSearch
from o1agent.search.mcts import MCTS, MCTSConfig

BUILTINS = ["beam", "best_of_n", "dfs", "greedy", "hybrid", "mcts", "revision"]


def test_every_builtin_is_registered_and_satisfies_the_protocol():
    assert set(BUILTINS) <= set(available_strategies())
    for name in BUILTINS:
        strat = make_strategy(name)
        assert isinstance(strat, SearchStrategy)
        assert isinstance(strat.config, StrategyConfig)
        assert strat.generation == GenerationConfig()


# ---- Choice ---------------------------------------------------------------------------------


def test_choice_is_frozen():
    choice = Choice("0.1", "12", 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        choice.answer = "13"  # type: ignore[misc]


def test_majority_choice_answer_is_the_majority_answer_not_the_top_scoring_node():
    # 12 three times (as "12", "12.0", " 12 "), 7 twice, 9 once with by far the best score.
    tree = build(
        {
            "0.0": {"answer": "12.0", "score": 0.1},
            "0.1": {"answer": "12", "score": 0.3},
            "0.2": {"answer": " 12 ", "score": 0.2},
            "0.3": {"answer": "7", "score": 0.5},
            "0.4": {"answer": "7", "score": 0.5},
            "0.5": {"answer": "9", "score": 0.95},
        }
    )
    state = {"started": True, "chains": [f"0.{i}" for i in range(6)]}
    choice = make_strategy("best_of_n", n=6, select_by="majority").best(tree, state)
    # The group's best-scored member represents it; its answer text is the one the vote counted.
    assert choice == Choice("0.1", "12", 0.3)
    # The same tree under other rules: the weighted vote goes to 7 (1.0 > .95 > .6), outcome to 9.
    assert make_strategy("best_of_n", select_by="weighted_vote").best(tree, state) == Choice("0.3", "7", 0.5)
    assert make_strategy("best_of_n", select_by="outcome").best(tree, state) == Choice("0.5", "9", 0.95)


def test_a_winning_cut_chain_carries_its_lenient_answer():
    # Two chains cut by max_depth read 12 from their paths; one finished chain says 7.
    tree = build(
        {
            "0.0": {"raw": "3 pens"},
            "0.0.0": {"raw": "3 * 4 = 12", "score": 0.6},
            "0.1": {"raw": "4 sheep each"},
            "0.1.0": {"raw": "so 12 sheep", "score": 0.4},
            "0.2": {"answer": "7", "score": 0.9},
        }
    )
    state = {"started": True, "chains": ["0.0.0", "0.1.0", "0.2"]}
    bon = make_strategy("best_of_n", select_by="majority", generation={"max_depth": 2})
    assert bon.done(tree, state)
    choice = bon.best(tree, state)
    assert choice == Choice("0.0.0", "12", 0.6)
    assert tree.get(choice.node_id).step.answer is None  # the answer exists only in the Choice


def test_choice_of_a_path_without_an_answer_has_no_answer():
    tree = build({"0.0": {"score": 0.7}, "0.0.0": {"score": 0.4}, "0.1": {"score": 0.9}})
    # No final anywhere: the best-scored end of a path (0.1), which states no answer.
    assert default_best(tree) == Choice("0.1", None, 0.9)
    assert make_strategy("greedy").best(tree, {"current": "0.0.0"}) == Choice("0.0.0", None, 0.4)


@pytest.mark.parametrize("name", BUILTINS)
def test_best_on_a_root_only_tree_is_none_and_works_without_state(name):
    strat = make_strategy(name)
    tree = Tree.new("q?")
    assert strat.best(tree, {}) is None
    assert strat.best(tree, strat.init_state(tree)) is None
    answered = build({"0.0": {"score": 0.3, "answer": "5"}, "0.1": {"score": 0.8, "answer": "6"}})
    # No search state (a partial result of an interrupted run): the best answer in the tree.
    assert strat.best(answered, {}) == Choice("0.1", "6", 0.8)


# ---- generation settings ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["step_tokens", "temperature", "greedy_first", "max_depth"])
def test_a_generation_key_in_the_strategy_config_is_a_config_error_naming_its_place(key):
    value = {"step_tokens": 32, "temperature": 0.3, "greedy_first": False, "max_depth": 3}[key]
    hint = f"{key} is a generation setting: pass generation={{{key!r}: {value!r}}}"
    with pytest.raises(ConfigError, match="beam") as exc:
        make_strategy("beam", {"width": 2, key: value})
    assert hint in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        make_strategy("beam", **{key: value})
    assert hint in str(exc.value)
    assert not hasattr(StrategyConfig(), key)


def test_several_generation_keys_are_named_together():
    with pytest.raises(ConfigError) as exc:
        make_strategy("dfs", {"k": 2, "step_tokens": 32, "max_depth": 2})
    assert "step_tokens, max_depth are generation settings" in str(exc.value)
    assert "generation={'step_tokens': 32, 'max_depth': 2}" in str(exc.value)


def test_generation_reaches_the_strategy_and_bad_values_fail_clearly():
    strat = make_strategy("mcts", {"k": 3}, generation={"step_tokens": 40, "temperature": 0.2})
    assert strat.generation == GenerationConfig(step_tokens=40, temperature=0.2)
    assert strat.config.k == 3
    gen = GenerationConfig(max_depth=2)
    assert make_strategy("dfs", generation=gen).generation == gen
    with pytest.raises(ConfigError, match="step_tokens"):
        make_strategy("dfs", generation={"step_tokens": 0})


def test_greedy_decodes_greedily_whatever_the_sampling_temperature():
    tree = Tree.new("q?")
    for temperature in (0.0, 0.7, 1.5):
        strat = make_strategy("greedy", generation={"temperature": temperature})
        sel = strat.select(tree, strat.init_state(tree))
        assert [(x.node_id, x.k, x.greedy) for x in sel.expansions] == [("0", 1, True)]


def test_with_generation_copies_and_never_touches_the_original():
    original = MCTS(MCTSConfig(k=3))
    assert original.generation == GenerationConfig()  # constructors default it
    copy = with_generation(original, {"max_depth": 2, "step_tokens": 24})
    assert copy is not original and isinstance(copy, MCTS)
    assert copy.generation == GenerationConfig(max_depth=2, step_tokens=24)
    assert original.generation == GenerationConfig()
    assert copy.config == original.config
    # The copy searches with its own max_depth: a depth-2 step cannot be expanded there.
    tree = build({"0.0": {"score": 0.9}, "0.0.0": {"score": 0.9}})
    node = tree.get("0.0.0")
    assert original._expandable(node, {}) and not copy._expandable(node, {})


def test_make_strategy_with_an_object_and_a_generation():
    beam = BeamSearch(BeamConfig(width=2))
    same = make_strategy(beam, generation=GenerationConfig())
    assert same is beam  # nothing to change
    assert make_strategy(beam) is beam
    other = make_strategy(beam, generation={"temperature": 0.1})
    assert other is not beam and other.generation.temperature == 0.1
    assert beam.generation.temperature == GenerationConfig().temperature
    with pytest.raises(ConfigError, match="strategy object"):
        make_strategy(beam, {"width": 3})
    with pytest.raises(ConfigError, match="temperature"):
        make_strategy(beam, generation={"temperature": 9.0})


def test_registered_factories_get_the_config_and_the_generation():
    seen: list[tuple[StrategyConfig, GenerationConfig]] = []

    class _Cfg(StrategyConfig):
        width: int = 1

    def factory(config: _Cfg, generation: GenerationConfig) -> BeamSearch:
        seen.append((config, generation))
        return BeamSearch(BeamConfig(width=config.width), generation)

    register_strategy("_test_factory", _Cfg)(factory)
    try:
        strat = make_strategy("_test_factory", {"width": 4}, generation={"max_depth": 9})
    finally:
        # Other tests list every registered strategy: leave the registry as it was.
        _REGISTRY.pop("_test_factory", None)
    assert seen == [(_Cfg(width=4), GenerationConfig(max_depth=9))]
    assert strat.generation.max_depth == 9


# ---- revises --------------------------------------------------------------------------------


def test_only_hybrid_kept_revises_itself():
    assert {n: make_strategy(n).revises for n in BUILTINS} == dict.fromkeys(BUILTINS, False)
    kept = make_strategy("hybrid", revise="kept")
    assert kept.revises
    # The copy with another generation keeps it.
    assert with_generation(kept, {"step_tokens": 24}).revises


# ---- failed nodes are never selected -----------------------------------------------------------

# The graph marks a node "failed" when every candidate of its expansion came back empty. In each
# tree below the only node a strategy could expand is failed.
FAILED = {"0.0": {"score": 0.8, "status": "failed"}}


def _no_expansion(strat, tree, state):
    sel = strat.select(tree, state)
    assert sel.expansions == []
    return sel.state


def test_greedy_and_revision_stop_at_a_failed_step():
    tree = build(FAILED)
    for name in ("greedy", "revision"):
        strat = make_strategy(name)
        state = {"current": "0.0", "revisions": 0}
        assert strat.done(tree, state)
        _no_expansion(strat, tree, state)
        assert strat.best(tree, state) == Choice("0.0", None, 0.8)


@pytest.mark.parametrize("name", ["greedy", "revision"])
def test_an_empty_child_ends_the_path_at_its_parent(name):
    # The graph still hands over the empty candidate: the path must not continue from it.
    tree = build(
        {"0.0": {"score": 0.8, "status": "failed"}, "0.0.0": {"raw": "", "score": 0.0, "status": "failed"}}
    )
    strat = make_strategy(name)
    state = strat.update(tree, {"current": "0.0", "revisions": 0}, ["0.0.0"]).state
    assert strat.done(tree, state)
    _no_expansion(strat, tree, state)
    assert strat.best(tree, state) == Choice("0.0", None, 0.8)


def test_a_failed_root_is_never_expanded():
    tree = Tree.new("q?")
    tree = tree.merged({"0": tree.root.model_copy(update={"status": "failed"})})
    for name in BUILTINS:
        strat = make_strategy(name)
        state = strat.init_state(tree)
        # MCTS evaluates the dead root as it is, simulation after simulation, without a model call.
        state = _no_expansion(strat, tree, state)
        assert strat.done(tree, state), name
        assert strat.best(tree, state) is None


def test_dfs_skips_a_failed_node_and_backtracks_to_the_next():
    tree = build({**FAILED, "0.1": {"score": 0.5}})
    dfs = make_strategy("dfs")
    state = {"stack": ["0", "0.1", "0.0"], "expanded": ["0"], "found": None, "last": "0"}
    sel = dfs.select(tree, state)
    assert [x.node_id for x in sel.expansions] == ["0.1"]
    only_failed = {"stack": ["0", "0.0"], "expanded": ["0"], "found": None, "last": "0"}
    st = _no_expansion(dfs, tree, only_failed)
    assert dfs.done(tree, st)
    assert dfs.best(tree, st) == Choice("0.0", None, 0.8)


def test_dfs_moves_on_when_an_expansion_never_came_back():
    # select asked for 0.1's children; no update followed (nothing came back) and 0.1 was not
    # marked failed: DFS must still not ask for 0.1 again.
    tree = build({"0.0": {"score": 0.6}, "0.1": {"score": 0.9}})
    dfs = make_strategy("dfs")
    state = {"stack": ["0", "0.0", "0.1"], "expanded": ["0"], "found": None, "last": "0"}
    first = dfs.select(tree, state)
    assert [x.node_id for x in first.expansions] == ["0.1"]
    second = dfs.select(tree, first.state)
    assert [x.node_id for x in second.expansions] == ["0.0"]
    assert second.backtrack_from == "0.1"


def test_dfs_neither_keeps_nor_accepts_failed_children():
    tree = build(
        {
            "0.0": {"raw": "", "score": 0.0, "status": "failed"},
            "0.1": {"raw": "", "answer": None, "score": 0.0, "status": "failed"},
        }
    )
    dfs = make_strategy("dfs", threshold=0.0, accept=0.0)
    upd = dfs.update(tree, {"stack": ["0"], "expanded": ["0"], "found": None, "last": "0"}, ["0.0", "0.1"])
    assert upd.state["stack"] == ["0"] and upd.state["found"] is None and upd.pruned == []
    st = _no_expansion(dfs, tree, upd.state)
    assert dfs.done(tree, st)
    assert dfs.best(tree, st) is None  # only blank steps: nothing to stand behind


def test_beam_and_hybrid_expand_only_live_beams():
    tree = build({**FAILED, "0.1": {"score": 0.4}})
    for name in ("beam", "hybrid"):
        strat = make_strategy(name, k=2)
        state = {"beams": ["0.0", "0.1"], "finals": [], "round": 1}
        assert [x.node_id for x in strat.select(tree, state).expansions] == ["0.1"]
        only_failed = {"beams": ["0.0"], "finals": [], "round": 1}
        assert strat.done(tree, only_failed)
        _no_expansion(strat, tree, only_failed)
        assert strat.best(tree, only_failed) == Choice("0.0", None, 0.8)


def test_hybrid_kept_never_asks_to_rewrite_a_failed_beam():
    tree = build({"0.0": {"score": 0.1, "status": "failed"}})
    hyb = make_strategy("hybrid", revise="kept", revise_below=0.5, rounds=2)
    state = {"beams": ["0.0"], "finals": [], "round": 1}
    _no_expansion(hyb, tree, state)
    assert hyb.done(tree, state)


def test_best_of_n_ends_a_chain_whose_step_came_back_empty():
    tree = build(
        {"0.0": {"raw": "3 pens", "score": 0.3, "status": "failed"}, "0.1": {"answer": "12", "score": 0.6}}
    )
    bon = make_strategy("best_of_n", n=2)
    state = {"started": True, "chains": ["0.0", "0.1"], "ended": []}
    assert bon.done(tree, state)
    _no_expansion(bon, tree, state)
    # The failed chain still votes like any cut chain (its path reads "3 pens", weight .3).
    assert bon.best(tree, state) == Choice("0.1", "12", 0.6)
    # The graph hands over the empty step of an open chain: the chain ends at its last real step.
    grown = build({"0.0": {"score": 0.8}, "0.0.0": {"raw": "", "score": 0.0, "status": "failed"}})
    st = bon.update(grown, {"started": True, "chains": ["0.0"], "ended": []}, ["0.0.0"]).state
    assert st["chains"] == ["0.0"] and st["ended"] == ["0.0"]
    _no_expansion(bon, grown, st)
    assert bon.done(grown, st)


def test_best_of_n_first_round_drops_empty_samples():
    tree = build({"0.0": {"score": 0.5}, "0.1": {"raw": "", "score": 0.0, "status": "failed"}})
    bon = make_strategy("best_of_n", n=2)
    st = bon.update(tree, {"started": True, "chains": [], "ended": []}, ["0.0", "0.1"]).state
    assert st["chains"] == ["0.0"]


def test_mcts_never_expands_a_failed_leaf_nor_descends_below_it():
    # 0.0 failed (its blank children are what made it fail); 0.1 is open.
    tree = build(
        {
            "0.0": {"score": 0.9, "status": "failed"},
            "0.0.0": {"raw": "", "score": 0.0, "status": "failed"},
            "0.1": {"score": 0.2},
        }
    )
    mcts = MCTS(MCTSConfig(simulations=5, c=0.0))
    state = {
        **mcts.init_state(tree),
        "sims": 1,
        "visits": {"0": 2, "0.0": 1, "0.1": 1, "0.0.0": 1},
        "values": {"0": 0.5, "0.0": 0.3, "0.1": 0.2, "0.0.0": 0.0},
    }
    # c=0, pure exploitation: 0.0 first (Q .3 > .2). It is a dead end, so it is evaluated as it
    # stands, worth unfinished_value (0) rather than its own .9 — Q falls to .15 and the next
    # simulation expands 0.1. Its blank child is never descended into.
    sel = mcts.select(tree, state)
    assert [x.node_id for x in sel.expansions] == ["0.1"]
    assert sel.state["sims"] == 2
    assert sel.state["visits"]["0.0"] == 2 and sel.state["values"]["0.0"] == pytest.approx(0.3)
    assert sel.state["visits"]["0.0.0"] == 1
    # Only the failed node left: simulations are spent without a model call.
    only_failed = build({"0.0": {"score": 0.9, "status": "failed"}})
    st = {**mcts.init_state(only_failed), "visits": {"0": 1, "0.0": 1}, "values": {"0": 0.9, "0.0": 0.9}}
    st = _no_expansion(mcts, only_failed, st)
    assert mcts.done(only_failed, st)
    assert st["values"]["0.0"] == pytest.approx(0.9)  # five more visits, worth 0 each
    assert st["visits"]["0.0"] == 6
    assert mcts.best(only_failed, st) == Choice("0.0", None, 0.9)


def test_mcts_rollout_mode_never_rolls_out_from_an_empty_child():
    mcts = MCTS(MCTSConfig(k=2, simulations=2, evaluation="rollout"))
    tree = build(
        {
            "0.0": {"raw": "", "lp": -0.1, "status": "failed", "score": 0.0},
            "0.1": {"raw": "", "lp": -0.2, "status": "failed", "score": 0.0},
        }
    )
    st = {**mcts.init_state(tree), "phase": "expanding", "leaf": "0"}
    st = mcts.update(tree, st, ["0.0", "0.1"]).state
    assert st["phase"] == "select" and st["sims"] == 1 and "0" in st["dead"]
    half = build({"0.0": {"raw": "", "lp": -0.1, "status": "failed", "score": 0.0}, "0.1": {"lp": -2.0}})
    st = {**mcts.init_state(half), "phase": "expanding", "leaf": "0"}
    st = mcts.update(half, st, ["0.0", "0.1"]).state
    # The failed child had the higher prior; the rollout starts from the real one.
    assert (st["phase"], st["eval"]) == ("rollout", "0.1")


def test_blank_steps_are_never_stood_behind():
    # 0.0's expansion came back empty: 0.0 is the end of its path, its blank child is no answer.
    tree = build(
        {
            "0.0": {"score": 0.4, "status": "failed"},
            "0.0.0": {"raw": "", "score": 0.9, "status": "failed"},
            "0.1": {"raw": "", "score": 0.95, "status": "failed"},
        }
    )
    assert default_best(tree) == Choice("0.0", None, 0.4)
    assert make_strategy("greedy").best(tree, {"current": "0.0.0"}) == Choice("0.0", None, 0.4)


def test_an_unfinished_chain_of_prose_casts_no_vote():
    # SmolLM2 often stops a sampled chain at max_depth on a bare title; its last line is no
    # answer, so it must not outvote (or become) the answer a finished chain states.
    from o1agent.schema import Node, Step, Tree
    from o1agent.search import make_strategy

    tree = Tree.new("Tom has 7 apples and buys 5 more. How many?")
    nodes = {
        "0.0": Node(
            id="0.0",
            parent_id="0",
            depth=1,
            step=Step(title="Determine the apples", raw="Determine the apples"),
        ),
        "0.1": Node(
            id="0.1",
            parent_id="0",
            depth=1,
            step=Step(raw="7 + 5 = 12\\nFinal answer: 12", answer="12", is_final=True),
            score=0.2,
            status="terminal",
        ),
    }
    tree = tree.merged({**nodes, "0": tree.root.model_copy(update={"children": ["0.0", "0.1"]})})
    bon = make_strategy("best_of_n", n=2)
    choice = bon.best(tree, {"started": True, "chains": ["0.0", "0.1"]})
    assert choice is not None and (choice.node_id, choice.answer) == ("0.1", "12")
