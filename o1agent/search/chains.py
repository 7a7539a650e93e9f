"""Whole solutions sampled from the root in waves, and the vote over their answers.

What ``best_of_n`` and the voting strategies (``deepconf``, ``adaptive_sc``, ``verified_vote``,
``adaptive``) share. A *chain* is one sampled solution: a child of the root (its first step) that
is continued one greedy step at a time, every chain in the same round, until it states an answer
or reaches ``max_depth``. A *wave* is one expansion of the root into ``k`` new chains: the first
honours the generation's ``greedy_first`` (greedy decoding is one of the samples), later waves
sample all ``k`` (the greedy one is already there). When every chain has ended, the strategy's
``more`` says how many to draw next; 0 ends the search, and ``stop_reason`` says why.

A strategy may stop a chain early (``stop_chain``, e.g. DeepConf's confidence floor): it is
pruned and does not vote. A chain whose step came back empty ends where it was.

The vote (``ballots`` → ``tally``): every chain tip is a ballot — a final step with its answer, or a
chain cut by ``max_depth`` or the budget with its answer read leniently from its path (only a
stated answer or a number: a line of prose is no answer). A ballot counts once per sample it
stands for: a sampled first step that repeated an earlier one was marked ``duplicate`` by the
graph and not continued, since its greedy continuation would have been the same, so it votes with
its original (``multiplicity``). Answers are grouped by ``normalize_answer``; the group with the
largest sum of ``weight × count`` wins, ties going to the group holding the highest-scored ballot,
then to the earliest (finished chains come before cut ones, then sample order).

What this is not: a tree search (chains never branch after the root) or a stopping rule (the
subclasses' ``more`` is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ..parsing import lenient_answer
from ..schema import Node, Tree
from .base import Strategy, StrategyConfig
from .picks import choice_of, default_best, multiplicity, score_of
from .types import Choice, Expansion, Selection, Update


def normalize_answer(answer: str) -> str:
    """Key under which answers are counted as the same vote: case, spacing, trailing dots and
    numeric form ("12", "12.0", "1,200" vs "1200") are ignored."""
    text = " ".join(answer.lower().split()).rstrip(".").strip().strip("$").strip()
    num = text.replace(",", "")
    try:
        value = float(num)
    except ValueError:
        return text
    # Integers print without ".0" so "12" and "12.0" meet; other floats keep repr precision.
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class Ballot:
    """One chain's vote: its tip (a copy carrying the lenient answer when the chain was cut), the
    answer as counted, whether the chain finished, and how many samples it stands for."""

    node: Node
    answer: str
    finished: bool
    count: int = 1

    @property
    def key(self) -> str:
        return normalize_answer(self.answer)


Vote = tuple[Ballot, float]
"""A ballot and its weight."""


def tally(votes: Sequence[Vote]) -> tuple[Ballot | None, dict[str, float]]:
    """The winning ballot (the best-scored member of the winning group) and every group's total
    ``Σ weight × count``, keyed by normalised answer. Order breaks the last ties (earlier wins)."""
    groups: dict[str, list[tuple[int, Ballot]]] = {}
    totals: dict[str, float] = {}
    for i, (b, w) in enumerate(votes):
        groups.setdefault(b.key, []).append((i, b))
        totals[b.key] = totals.get(b.key, 0.0) + w * b.count
    if not groups:
        return None, {}

    def best_in(members: list[tuple[int, Ballot]]) -> tuple[int, Ballot]:
        return max(members, key=lambda p: (score_of(p[1].node), -p[0]))

    def group_key(key: str) -> tuple[float, float, int]:
        i, top = best_in(groups[key])
        return (totals[key], score_of(top.node), -i)

    winner = max(groups, key=group_key)
    return best_in(groups[winner])[1], totals


def path_answer(tree: Tree, node: Node) -> str | None:
    """A cut chain's answer, read leniently from its whole path (``None`` when it has none)."""
    return lenient_answer("\n".join(p.step.raw for p in tree.path(node.id)), last_line=False)


def ballot_of(tree: Tree, node: Node, count: int = 1) -> Ballot | None:
    """The ballot of a chain ending at ``node``, or ``None`` when it states no answer."""
    if node.step.is_final:
        answer = (node.step.answer or "").strip()
        return Ballot(node, answer, True, count) if answer else None
    answer = path_answer(tree, node)
    if not answer:
        return None
    cut = node.model_copy(update={"step": node.step.model_copy(update={"answer": answer})})
    return Ballot(cut, answer, False, count)


ConfigT = TypeVar("ConfigT", bound=StrategyConfig)


class ChainSampler(Strategy[ConfigT]):
    """Chains in waves (see the module docstring). A subclass sets ``first_wave`` and, to draw
    more than one wave, overrides ``more`` and ``stop_reason``; ``weight`` weighs its vote and
    ``stop_chain`` may end a chain early; ``votes`` may leave ballots out of the vote."""

    #: What the graph scores: final answers only (what the vote reads), every step, or none.
    verify: bool | Literal["final"] = "final"

    # ---- hooks --------------------------------------------------------------------------------

    def first_wave(self) -> int:
        raise NotImplementedError

    def more(self, tree: Tree, state: dict[str, Any]) -> int:
        """Samples to draw once every chain has ended; 0 ends the search."""
        return 0

    def stop_reason(self, tree: Tree, state: dict[str, Any]) -> str | None:
        """Why the search stopped (``None`` while it runs)."""
        if not state.get("started") or self.running(tree, state):
            return None
        return "all samples drawn"

    def drawn(self, tree: Tree) -> int:
        """Samples drawn so far: the root's children that came back (the budget meter may cut a
        wave short), duplicates and empty ones included, rewrites not."""
        return sum(1 for c in tree.children(tree.root_id) if c.revised_from is None)

    def wants_more(self, tree: Tree, state: dict[str, Any]) -> bool:
        """Whether every chain has ended and the search would still draw another wave."""
        if not state.get("started") or self.running(tree, state):
            return False
        return self.can_expand(tree.root) and self.more(tree, state) > 0

    def stop_chain(self, tree: Tree, state: dict[str, Any], tip: str) -> bool:
        """Whether to end the chain now at ``tip`` (it is then pruned and does not vote)."""
        return False

    def weight(self, tree: Tree, state: dict[str, Any], ballot: Ballot) -> float:
        return 1.0

    def votes(self, tree: Tree, state: dict[str, Any]) -> list[Vote]:
        """The ballots that vote, with their weights (by default every ballot, ``weight``)."""
        return [(b, self.weight(tree, state, b)) for b in self.ballots(tree, state)]

    # ---- chains -------------------------------------------------------------------------------

    def init_state(self, tree: Tree) -> dict[str, Any]:
        # ``chains``: each sample's current tip, in sample order, and ``wave_of`` the wave (1, 2,
        # ...) each was drawn in; ``ended``: tips whose next step came back empty; ``stopped``:
        # tips the strategy ended early; ``waves``: root expansions asked for.
        return {
            "started": False,
            "chains": [],
            "wave_of": [],
            "ended": [],
            "stopped": [],
            "waves": 0,
        }

    def chain_live(self, tree: Tree, state: dict[str, Any], tip: str) -> bool:
        return (
            tip not in state.get("ended", []) and tip not in state.get("stopped", []) and self.live(tree, tip)
        )

    def running(self, tree: Tree, state: dict[str, Any]) -> bool:
        return any(self.chain_live(tree, state, c) for c in state.get("chains", []))

    def _wave(self, tree: Tree, state: dict[str, Any], k: int, note: str) -> Selection:
        first = not state.get("started")
        new = {
            **state,
            "started": True,
            "waves": int(state.get("waves", 0)) + 1,
        }
        return Selection(
            [Expansion(tree.root_id, k=k, verify=self.verify, greedy_first=first)], new, note=note
        )

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        if not state.get("started"):
            if not self.can_expand(tree.root):
                return Selection([], state, note="the question cannot be expanded")
            k = self.first_wave()
            return self._wave(tree, state, k, f"sample {k} solutions")
        live = [c for c in state.get("chains", []) if self.chain_live(tree, state, c)]
        if live:
            # All unfinished chains advance together: one round = one step of every chain.
            return Selection([Expansion(c, k=1, verify=self.verify, greedy=True) for c in live], state)
        k = self.more(tree, state) if self.can_expand(tree.root) else 0
        if k <= 0:
            return Selection([], state)
        return self._wave(tree, state, k, f"sample {k} more solutions")

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        chains = list(state.get("chains", []))
        wave_of = list(state.get("wave_of", []))
        wave_of += [1] * (len(chains) - len(wave_of))  # a state from before waves were recorded
        ended = list(state.get("ended", []))
        stopped = list(state.get("stopped", []))
        index = {tip: i for i, tip in enumerate(chains)}
        moved: list[str] = []
        for nid in new_ids:
            node = tree.get(nid)
            if node.status == "revised":
                continue
            if node.parent_id in index:
                if node.status == "failed":
                    # The chain keeps its last real step as its tip and stops there.
                    if node.parent_id not in ended:
                        ended.append(node.parent_id)
                else:
                    chains[index[node.parent_id]] = nid
                    moved.append(nid)
            elif node.parent_id == tree.root_id and node.status != "failed":
                # A new sample (an empty one is no chain at all); a rewrite of a chain's first
                # step takes its original's place.
                old = node.revised_from
                if old in index:
                    chains[index[old]] = nid
                else:
                    index[nid] = len(chains)
                    chains.append(nid)
                    wave_of.append(int(state.get("waves", 1)))
                moved.append(nid)
        new = {**state, "chains": chains, "wave_of": wave_of, "ended": ended, "stopped": stopped}
        pruned: list[str] = []
        for tip in moved:
            node = tree.get(tip)
            if not node.step.is_final and self.stop_chain(tree, new, tip):
                stopped.append(tip)
                pruned.append(tip)
        return Update({**new, "stopped": stopped}, pruned=pruned)

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        if not state.get("started"):
            return not self.can_expand(tree.root)
        if self.running(tree, state):
            return False
        return not self.can_expand(tree.root) or self.more(tree, state) <= 0

    # ---- the vote -----------------------------------------------------------------------------

    def wave(self, state: dict[str, Any], tip: str) -> int:
        """The wave the chain now ending at ``tip`` was drawn in (1 for the first)."""
        chains, waves = state.get("chains", []), state.get("wave_of", [])
        i = chains.index(tip) if tip in chains else -1
        return int(waves[i]) if 0 <= i < len(waves) else 1

    def start_of(self, tree: Tree, tip: str) -> str:
        """The chain's first step (the sample drawn from the root)."""
        path = tree.path(tip)
        return path[0].id if path else tip

    def ballots(self, tree: Tree, state: dict[str, Any]) -> list[Ballot]:
        """Every voting chain's ballot: finished chains first, then cut ones, each in sample order.
        When no chain has finished (a partial result of an interrupted run has no chains at all),
        every answer in the tree votes as a finished one."""
        stopped = set(state.get("stopped", []))
        tips = [tree.get(c) for c in state.get("chains", []) if c in tree.nodes and c not in stopped]
        ends = [n for n in tips if n.step.is_final] or [
            n for n in tree.terminals() if n.status != "failed" and n.id not in stopped
        ]
        ballots = [ballot_of(tree, n, multiplicity(tree, self.start_of(tree, n.id))) for n in ends]
        ballots += [
            ballot_of(tree, n, multiplicity(tree, self.start_of(tree, n.id)))
            for n in tips
            if not n.step.is_final
        ]
        return [b for b in ballots if b is not None]

    def counts(self, tree: Tree, state: dict[str, Any]) -> dict[str, int]:
        """Samples per normalised answer (duplicates included), most frequent first."""
        out: dict[str, int] = {}
        for b in self.ballots(tree, state):
            out[b.key] = out.get(b.key, 0) + b.count
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        winner, _ = tally(self.votes(tree, state))
        if winner is not None:
            # ``winner.node`` may be a copy carrying the lenient answer: that answer is the vote's.
            return Choice(winner.node.id, winner.answer, winner.node.score)
        tips = [tree.get(c) for c in state.get("chains", []) if c in tree.nodes]
        if tips:
            return choice_of(max(tips, key=lambda n: (score_of(n), n.depth)))
        return default_best(tree)

    def allocation(self, tree: Tree, state: dict[str, Any]) -> dict[str, Any] | None:
        if not state.get("started"):
            return None
        ballots = self.ballots(tree, state)
        _, totals = tally(self.votes(tree, state))
        samples = [c for c in tree.children(tree.root_id) if c.revised_from is None]
        dups = sum(1 for c in samples if c.status == "duplicate")
        return {
            "samples": len(samples),
            "waves": int(state.get("waves", 0)),
            "finished": sum(1 for b in ballots if b.finished),
            "stopped_early": len(state.get("stopped", [])),
            "duplicates": dups,
            "votes": {k: round(v, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])},
            # A search that would still draw more did not stop by itself: the budget cut it
            # (``graph.answer`` then says so).
            "stop": None if self.wants_more(tree, state) else self.stop_reason(tree, state),
        }
