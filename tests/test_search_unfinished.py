"""Best-of-N lets chains cut by depth or budget vote with their leniently read answers, and the
voted answer is what ``best`` hands the graph (``Choice.answer``), never re-derived."""

from __future__ import annotations

from o1agent.schema import Node, Step, Tree
from o1agent.search import Choice, make_strategy


def _tree() -> Tree:
    t = Tree.new("q?")
    nodes = {
        "0.0": Node(
            id="0.0",
            parent_id="0",
            depth=1,
            step=Step(raw="3+4 = 7\nFinal answer: 7", answer="7", is_final=True),
        ),
        "0.1": Node(id="0.1", parent_id="0", depth=1, step=Step(raw="3*4 = 12")),
        "0.2": Node(id="0.2", parent_id="0", depth=1, step=Step(raw="3 pens of 4 is 12")),
    }
    root = t.root.model_copy(update={"children": list(nodes)})
    return t.merged({"0": root, **nodes})


def test_unfinished_chains_vote_and_their_lenient_answer_is_the_choice():
    s = make_strategy("best_of_n", {"n": 3, "select_by": "majority"})
    state = {"started": True, "chains": ["0.0", "0.1", "0.2"]}
    # 12 (two cut chains, read leniently) beats 7 (one final). Neither 0.1 nor 0.2 states an
    # answer in the tree: the Choice carries the one the vote counted. Equal (unscored) members:
    # the earliest sample represents the group.
    assert s.best(_tree(), state) == Choice("0.1", "12", None)


def test_finished_answer_wins_a_full_tie_with_a_cut_chain():
    s = make_strategy("best_of_n", {"n": 3, "select_by": "majority"})
    # 7 (final) vs 12 (unfinished): one vote each, equal (neutral) scores. The documented rule:
    # a finished answer beats a leniently read one, whatever the sample order.
    for chains in (["0.0", "0.1"], ["0.1", "0.0"]):
        assert s.best(_tree(), {"started": True, "chains": chains}) == Choice("0.0", "7", None)


def test_a_scored_cut_chain_beats_a_worse_final_on_a_tie_of_votes():
    # The finished-first rule is only the last tie-break: a better score still decides first.
    tree = _tree()
    tree = tree.merged(
        {
            "0.0": tree.get("0.0").model_copy(update={"score": 0.2}),
            "0.1": tree.get("0.1").model_copy(update={"score": 0.8}),
        }
    )
    s = make_strategy("best_of_n", {"n": 3, "select_by": "majority"})
    assert s.best(tree, {"started": True, "chains": ["0.0", "0.1"]}) == Choice("0.1", "12", 0.8)
