"""Best-of-N lets chains cut by depth or budget vote with their leniently read answers."""

from __future__ import annotations

from o1agent.schema import Node, Step, Tree
from o1agent.search import make_strategy


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


def test_unfinished_chains_vote():
    s = make_strategy("best_of_n", {"n": 3, "select_by": "majority"})
    state = {"started": True, "chains": ["0.0", "0.1", "0.2"]}
    chosen = s.best(_tree(), state)
    assert chosen in ("0.1", "0.2")


def test_finished_answer_wins_when_alone():
    s = make_strategy("best_of_n", {"n": 3, "select_by": "majority"})
    state = {"started": True, "chains": ["0.0", "0.1"]}
    # 7 (final) vs 12 (unfinished): a tie; the final and the cut chain have equal weight, so the
    # decision falls to the score tie-break and must be one of them, never None.
    assert s.best(_tree(), state) in ("0.0", "0.1")
