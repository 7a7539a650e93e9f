"""Monte-Carlo tree search over reasoning steps: select (UCT / PUCT) → expand → evaluate → backpropagate.

One *simulation* is the four classic phases, none skipped:

1. **select** — from the root, descend by UCT ``Q + c·sqrt(ln N(parent) / N)`` (unvisited first) or
   PUCT ``Q + c·P·sqrt(N(parent)) / (1 + N)`` to a node with no MCTS children. PUCT's prior ``P``
   is a softmax over the siblings' mean token logprobs (the policy's own confidence) when every
   sibling has one, else uniform.
2. **expand** — ask the graph for ``k`` children of that leaf. A leaf that cannot be expanded
   (a final answer, a failed step, ``max_depth``) is evaluated as it is instead; a failed step
   (its expansion came back empty) is a dead end worth ``unfinished_value``, and selection never
   descends below it.
3. **evaluate** — ``evaluation="value"``: each new child's process score is its value;
   ``evaluation="rollout"``: from the most probable new child, continue greedily one step at a time
   (``verify="final"``: only the answer is scored) until a final answer or ``max_depth``, and take
   the answer's score (``unfinished_value`` if the rollout never answered).
4. **backpropagate** — add one visit and the value to the evaluated node and every ancestor.

The graph makes one model call per ``select``, so the phases span several ``select`` / ``update``
calls; ``state["phase"]`` is the phase machine: ``select`` → ``expanding`` → (``rollout`` ⇄
``rolling``) → ``select``. Phases that need no model call (evaluating a final leaf, backing up)
run inside the same call. Visit counts and value sums live in the state, keyed by node id, so a
checkpointed run resumes mid-simulation. Rollout nodes stay in the tree (they are real,
replayable steps) but are listed in ``state["rollout"]`` and never become MCTS nodes.

The answer (``final``) follows the most-visited (or highest-mean-value) child from the root down
(never onto a blank step); if that ends on a step without an answer, the best-scored answer below
it is taken.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from ..config import GenerationConfig
from ..schema import Node, Tree
from .base import Strategy, StrategyConfig, register_strategy
from .picks import NEUTRAL_SCORE, choice_of, default_best, is_blank, score_of
from .types import Choice, Expansion, Selection, Update

Phase = Literal["select", "expanding", "rollout", "rolling"]


class MCTSConfig(StrategyConfig):
    k: int = Field(default=2, ge=1, le=16, description="children proposed when a leaf is expanded")
    simulations: int = Field(
        default=8, ge=1, le=10_000, description="select-expand-evaluate-backpropagate cycles"
    )
    selection: Literal["uct", "puct"] = Field(
        default="uct",
        description="tree policy: 'uct' (UCB1) or 'puct' (AlphaZero, priors from policy logprobs)",
    )
    c: float = Field(default=1.0, ge=0.0, le=100.0, description="exploration constant of UCT / PUCT")
    evaluation: Literal["value", "rollout"] = Field(
        default="value",
        description="'value': a new node's process score is its value; 'rollout': greedy rollout to an answer, "
        "scored by the reward",
    )
    final: Literal["visits", "value"] = Field(
        default="visits",
        description="answer path follows the most-visited child ('visits') or the best mean value",
    )
    prior_temperature: float = Field(
        default=1.0, gt=0.0, le=100.0, description="softmax temperature over mean logprobs for PUCT priors"
    )
    unfinished_value: float = Field(
        default=0.0, ge=0.0, le=1.0, description="value of a rollout or dead end that never reached an answer"
    )


class MCTS(Strategy[MCTSConfig]):
    name = "mcts"
    config_class = MCTSConfig

    # ---- pure helpers ------------------------------------------------------------------------

    def init_state(self, tree: Tree) -> dict[str, Any]:
        return {
            "phase": "select",
            "sims": 0,
            "visits": {},
            "values": {},
            "leaf": None,
            "eval": None,
            "tip": None,
            "rollout": [],
            "dead": [],
            "last_expanded": None,
        }

    @staticmethod
    def _copy(state: dict[str, Any]) -> dict[str, Any]:
        # The graph keeps the old state in its history: never mutate it in place.
        base = {"phase": "select", "sims": 0, "leaf": None, "eval": None, "tip": None, **state}
        return {
            **base,
            "visits": dict(state.get("visits", {})),
            "values": dict(state.get("values", {})),
            "rollout": list(state.get("rollout", [])),
            "dead": list(state.get("dead", [])),
        }

    @staticmethod
    def mcts_children(tree: Tree, state: dict[str, Any], node_id: str) -> list[Node]:
        rollout = set(state.get("rollout", []))
        return [
            c
            for c in tree.children(node_id)
            if c.id not in rollout and c.status not in ("revised", "duplicate")
        ]

    @staticmethod
    def q(state: dict[str, Any], node_id: str) -> float:
        n = state.get("visits", {}).get(node_id, 0)
        return state.get("values", {}).get(node_id, 0.0) / n if n else 0.0

    def priors(self, children: list[Node]) -> list[float]:
        """Softmax over mean token logprobs (divided by ``prior_temperature``); uniform when any
        sibling lacks one (e.g. a backend without logprobs) or has a NaN one (a broken backend)."""
        if not children:
            return []
        lps = [c.mean_logprob for c in children]
        if any(lp is None or math.isnan(lp) for lp in lps):
            return [1.0 / len(children)] * len(children)
        z = [float(lp) / self.config.prior_temperature for lp in lps]  # type: ignore[arg-type]
        top = max(z)
        ex = [math.exp(v - top) for v in z]
        total = sum(ex)
        return [e / total for e in ex]

    def child_scores(self, tree: Tree, state: dict[str, Any], node_id: str) -> list[tuple[Node, float]]:
        """Each MCTS child of ``node_id`` with its UCT / PUCT value (``inf`` for an unvisited child
        under UCT)."""
        children = self.mcts_children(tree, state, node_id)
        visits = state.get("visits", {})
        n_parent = visits.get(node_id, 0)
        out = []
        for child, prior in zip(children, self.priors(children), strict=True):
            n = visits.get(child.id, 0)
            q = self.q(state, child.id)
            if self.config.selection == "uct":
                u = math.inf if n == 0 else q + self.config.c * math.sqrt(math.log(max(n_parent, 1)) / n)
            else:
                u = q + self.config.c * prior * math.sqrt(n_parent) / (1 + n)
            out.append((child, u))
        return out

    def descend(self, tree: Tree, state: dict[str, Any]) -> list[str]:
        """The selection path from the root to a node with no MCTS children (ties: first child)."""
        path = [tree.root_id]
        while True:
            node = tree.get(path[-1])
            # Below a failed node there are only the empty candidates that made it fail.
            if node.step.is_final or node.status == "failed":
                return path
            scored = self.child_scores(tree, state, node.id)
            if not scored:
                return path
            best = max(enumerate(scored), key=lambda p: (p[1][1], -p[0]))[1][0]
            path.append(best.id)

    def _expandable(self, node: Node, state: dict[str, Any]) -> bool:
        return self.can_expand(node) and node.id not in state.get("dead", [])

    def leaf_value(self, node: Node, state: dict[str, Any] | None = None) -> float:
        """Value of a node evaluated as it stands: an answer's score; a step's process score; a
        dead end (failed, or listed in ``state["dead"]``) or a step nobody scored (a rollout
        step) ``unfinished_value``. A dead end's own score is not its value: nothing can follow it."""
        if node.step.is_final and node.status != "failed":
            return score_of(node, NEUTRAL_SCORE)
        if node.status == "failed" or (state is not None and node.id in state.get("dead", [])):
            return self.config.unfinished_value
        return node.score if node.score is not None else self.config.unfinished_value

    @staticmethod
    def backpropagate(tree: Tree, state: dict[str, Any], node_id: str, value: float) -> None:
        """Add one visit and ``value`` to ``node_id`` and all its ancestors (``state`` is a copy)."""
        for nid in [node_id, *tree.ancestors(node_id)]:
            state["visits"][nid] = state["visits"].get(nid, 0) + 1
            state["values"][nid] = state["values"].get(nid, 0.0) + value

    def _finish_simulation(self, tree: Tree, st: dict[str, Any], node_id: str, value: float) -> None:
        self.backpropagate(tree, st, node_id, value)
        st.update(phase="select", sims=int(st["sims"]) + 1, leaf=None, eval=None, tip=None)

    # ---- the strategy protocol ---------------------------------------------------------------

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection:
        st = self._copy(state)
        if st["phase"] in ("expanding", "rolling"):
            # We asked for children and ``update`` never came: the expansion produced nothing.
            # Treat the node as a dead end so the next simulation goes elsewhere.
            stuck = st["tip"] if st["phase"] == "rolling" else st["leaf"]
            st["dead"].append(stuck)
            self._finish_simulation(tree, st, st["eval"] or stuck, self.config.unfinished_value)
        while st["sims"] < self.config.simulations:
            if st["phase"] == "rollout":
                st.update(phase="rolling", last_expanded=st["tip"])
                return Selection(
                    [Expansion(st["tip"], k=1, verify="final", greedy=True)],
                    st,
                    note=f"rollout from {st['eval']}",
                )
            path = self.descend(tree, st)
            leaf = tree.get(path[-1])
            if self._expandable(leaf, st):
                st.update(phase="expanding", leaf=leaf.id)
                verify: bool | Literal["final"] = True if self.config.evaluation == "value" else "final"
                # Going anywhere but below the last expanded node is a backtrack (traced as such).
                last = st.get("last_expanded")
                backtrack = last if last is not None and leaf.parent_id != last else None
                st["last_expanded"] = leaf.id
                return Selection(
                    [Expansion(leaf.id, k=self.config.k, verify=verify, greedy=self.config.k == 1)],
                    st,
                    backtrack_from=backtrack,
                    note=f"simulation {st['sims'] + 1}: expand {leaf.id}",
                )
            # A final answer, a failed step or max depth: evaluate as is, back up, next simulation.
            self._finish_simulation(tree, st, leaf.id, self.leaf_value(leaf, st))
        return Selection([], st)

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update:
        st = self._copy(state)
        fresh = [tree.get(i) for i in new_ids if tree.get(i).status != "revised"]
        if st["phase"] == "expanding":
            if not fresh:
                st["dead"].append(st["leaf"])
                self._finish_simulation(tree, st, st["leaf"], self.config.unfinished_value)
                return Update(st)
            if self.config.evaluation == "value":
                # Every new child is scored already: each is an evaluated, backed-up node.
                for child in fresh:
                    self.backpropagate(tree, st, child.id, self.leaf_value(child, st))
                st.update(phase="select", sims=int(st["sims"]) + 1, leaf=None)
                return Update(st)
            # Rollout from the child the policy found most probable (the first on a tie); an
            # empty (failed) child is no place to roll out from.
            usable = [c for c in fresh if c.status != "failed"]
            if not usable:
                st["dead"].append(st["leaf"])
                self._finish_simulation(tree, st, st["leaf"], self.config.unfinished_value)
                return Update(st)
            pairs = list(enumerate(zip(usable, self.priors(usable), strict=True)))
            first = max(pairs, key=lambda p: (p[1][1], -p[0]))[1][0]
            if not self._expandable(first, st):
                self._finish_simulation(tree, st, first.id, self.leaf_value(first, st))
            else:
                st.update(phase="rollout", eval=first.id, tip=first.id)
            return Update(st)
        if st["phase"] == "rolling":
            if not fresh:
                st["dead"].append(st["tip"])
                self._finish_simulation(tree, st, st["eval"], self.config.unfinished_value)
                return Update(st)
            tip = fresh[-1]
            st["rollout"].extend(c.id for c in fresh)
            if tip.step.is_final or not self._expandable(tip, st):
                value = self.leaf_value(tip, st) if tip.step.is_final else self.config.unfinished_value
                # The value belongs to the node the rollout evaluated, not to the rollout steps.
                self._finish_simulation(tree, st, st["eval"], value)
            else:
                st.update(phase="rollout", tip=tip.id)
            return Update(st)
        return Update(st)

    def done(self, tree: Tree, state: dict[str, Any]) -> bool:
        return int(state.get("sims", 0)) >= self.config.simulations

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None:
        visits = state.get("visits", {})
        if not visits:
            return default_best(tree)
        node_id = tree.root_id
        while True:
            children = [
                c
                for c in self.mcts_children(tree, state, node_id)
                if visits.get(c.id, 0) > 0 and not is_blank(c)
            ]
            if not children:
                break
            if self.config.final == "visits":
                key = lambda p: (visits.get(p[1].id, 0), self.q(state, p[1].id), -p[0])  # noqa: E731
            else:
                key = lambda p: (self.q(state, p[1].id), visits.get(p[1].id, 0), -p[0])  # noqa: E731
            node_id = max(enumerate(children), key=key)[1].id
        if node_id == tree.root_id:
            return default_best(tree)
        node = tree.get(node_id)
        if node.step.is_final:
            return choice_of(node)
        # The chosen path stops before an answer: take the best answer below it (a rollout's);
        # ties go to the shallowest, then the earliest created.
        below = [
            n
            for n in tree.terminals()
            if n.status != "failed" and not is_blank(n) and node_id in tree.ancestors(n.id)
        ]
        if below:
            return choice_of(max(below, key=lambda n: (score_of(n), -n.depth, -n.created_at)))
        return choice_of(node)


@register_strategy("mcts", MCTSConfig)
def make_mcts(config: MCTSConfig, generation: GenerationConfig) -> MCTS:
    return MCTS(config, generation)
