"""Pure helpers strategies share to read a tree: scores, which nodes may be expanded, which
steps are blank, and the default pick of an answer (``default_best``). No model calls, no state.
"""

from __future__ import annotations

from ..schema import Node, Tree
from .types import Choice

NEUTRAL_SCORE = 0.5


def score_of(node: Node, default: float = NEUTRAL_SCORE) -> float:
    return default if node.score is None else node.score


def expandable(node: Node, max_depth: int) -> bool:
    """Whether a strategy may ask for children of ``node``: not an answer, not at ``max_depth``,
    not given up on ("pruned"), not a dead end ("failed": its expansion came back empty) and not
    a repeat of a sibling ("duplicate": the sibling is expanded instead)."""
    return (
        not node.step.is_final
        and node.depth < max_depth
        and node.status not in ("failed", "pruned", "duplicate")
    )


def multiplicity(tree: Tree, node_id: str) -> int:
    """How many candidates ``node_id`` stands for: itself and the siblings marked duplicates of
    it. A vote or a particle filter counts a repeated sample this many times."""
    node = tree.get(node_id)
    if node.parent_id is None or node.parent_id not in tree.nodes:
        return 1
    return 1 + sum(1 for c in tree.children(node.parent_id) if c.duplicate_of == node_id)


def is_blank(node: Node) -> bool:
    """A step with no text and no answer (what an empty completion parses to): never worth
    standing behind, since its path says nothing its parent's does not."""
    return not node.step.raw.strip() and not node.step.text.strip() and node.step.answer is None


def stand_behind(tree: Tree, node_id: str | None) -> str | None:
    """``node_id``, or its nearest ancestor when it is a blank step; ``None`` at the root."""
    cur = node_id
    while cur is not None and cur in tree.nodes and cur != tree.root_id:
        node = tree.get(cur)
        if not is_blank(node):
            return cur
        cur = node.parent_id
    return None


def choice_of(node: Node) -> Choice:
    """The ``Choice`` of a node as it stands: its answer only if it is a final step."""
    return Choice(node.id, node.step.answer if node.step.is_final else None, node.score)


def best_terminal(tree: Tree) -> Node | None:
    """Highest-scoring final step; ties go to the earliest created (stable, reproducible).
    Pruned answers count only when nothing else answered; failed ones never do."""
    usable = [n for n in tree.terminals() if n.status != "failed" and not is_blank(n)]
    finals = [n for n in usable if n.status != "pruned"] or usable
    if not finals:
        return None
    return max(finals, key=lambda n: (score_of(n), -n.created_at))


def best_leaf(tree: Tree) -> Node | None:
    """Deepest best-scoring end of a path, for when no path reached an answer.

    Blank steps do not count as children, so a node whose expansion came back empty is the end
    of its path (the blank children themselves are never chosen)."""
    tips = [
        n
        for n in tree.nodes.values()
        if n.id != tree.root_id
        and n.status not in ("revised", "duplicate")
        and not is_blank(n)
        and all(is_blank(c) for c in tree.children(n.id))
    ]
    if not tips:
        return None
    return max(tips, key=lambda n: (score_of(n), n.depth, -n.created_at))


def default_best(tree: Tree) -> Choice | None:
    """The best answer in the tree, else the best end of a path; ``None`` on a root-only tree."""
    node = best_terminal(tree) or best_leaf(tree)
    return choice_of(node) if node else None
