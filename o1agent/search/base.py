"""The ``SearchStrategy`` interface, the ``Choice`` a strategy stands behind, and the strategy registry.

A strategy decides *where* to expand; the graph does the expanding. It is a pure object over plain
data: given the ``Tree`` and its own serialisable ``state`` dict it returns what to expand next
(``select``), folds in freshly scored children (``update``), says when to stop (``done``) and which
node and answer it stands behind (``best`` → ``Choice``). No model calls, no I/O, no mutation of
the tree — so every strategy is unit-testable on a hand-built tree, and its state checkpoints with
the graph.

Each strategy holds two settings objects: ``config`` (a ``StrategyConfig`` subclass: how it
searches, plus ``revise_below`` / ``max_revisions`` for the graph's revision loop) and
``generation`` (a ``GenerationConfig``: how each step is decoded — token cap, temperature,
greedy-first, ``max_depth``). The graph reads both from the strategy; strategies read
``generation.max_depth`` (and nothing else of it) themselves. The built-in strategies subclass
``Strategy``, which holds both and answers whether a node may be expanded at that depth.

Backtracking is simply ``select`` returning a node that is not a child of the last one expanded;
the graph records it as a ``backtrack`` event.

Nodes with status ``"failed"`` (an empty step, or a node whose expansion came back empty) are
never selected for expansion by any built-in strategy, so an empty expansion cannot make a search
select the same node forever.

What this module is not: the graph (``o1agent.graph``) or decoding (``o1agent.config``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import GENERATION_KEYS, GenerationConfig, make_generation
from ..errors import ConfigError, UnknownStrategyError
from ..schema import Node, Tree

NEUTRAL_SCORE = 0.5


class StrategyConfig(BaseModel):
    """Settings every strategy shares. Subclasses add their own, each with a description.

    Decoding settings (``step_tokens``, ``temperature``, ``greedy_first``, ``max_depth``) are not
    here: they are a ``GenerationConfig``, given to the strategy beside its config.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    revise_below: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="revise a step whose score is below this; None disables revision",
    )
    max_revisions: int = Field(default=1, ge=0, le=8, description="revisions allowed per step")


@dataclass
class Expansion:
    """Ask the graph for ``k`` candidate children of ``node_id`` — or, with ``mode="revise"``, for
    a rewrite of ``node_id`` itself from its critique.

    ``verify``: score every new child (True), none (False), or only final ones ("final" — for
    rollouts). ``greedy``: decode all k at temperature 0. Otherwise, with the generation's
    ``greedy_first``, the first candidate is greedy and the rest are sampled, so the greedy path
    is always in the tree and search can only add to it.

    A revise expansion adds one sibling with ``revised_from=node_id`` (the original is marked
    "revised") and hands that new id to ``update``; ``k`` and ``greedy`` are ignored.
    """

    node_id: str
    k: int = 1
    verify: bool | Literal["final"] = True
    greedy: bool = False
    mode: Literal["propose", "revise"] = "propose"


@dataclass
class Selection:
    """What ``select`` decided: expansions (empty means nothing left), and the new state."""

    expansions: list[Expansion]
    state: dict[str, Any]
    backtrack_from: str | None = None
    note: str = ""


@dataclass
class Update:
    """What ``update`` decided: the new state, and nodes the strategy gave up on."""

    state: dict[str, Any]
    pruned: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Choice:
    """What ``best`` stands behind: a node, the answer, and the node's score.

    ``node_id``: the node whose path is the solution shown (for a vote: a representative of the
    winning group — its highest-scoring member, the earliest sample on a tie).

    ``answer``: the answer the strategy stands behind. For a final node it is the node's
    ``step.answer``; for a vote it is the voted answer exactly as the vote counted it (an answer
    read leniently from an unfinished chain included), so the graph never makes a model call
    that could change a vote's outcome. ``None`` when the chosen node states no answer: the graph
    then reads it from the path, or asks once.

    ``score``: the chosen node's own ``score`` (what the reward gave that step; ``None`` when it
    was never scored) — not a path aggregate, visit count or vote total, so a result's score
    means the same thing whichever strategy produced it.
    """

    node_id: str
    answer: str | None
    score: float | None


@runtime_checkable
class SearchStrategy(Protocol):
    name: str

    @property
    def revises(self) -> bool:
        """True when the strategy asks for rewrites itself (``Expansion(mode="revise")``); the
        graph's own revise-after-verify loop is then off."""
        ...

    @property
    def config(self) -> StrategyConfig: ...

    @property
    def generation(self) -> GenerationConfig: ...

    def init_state(self, tree: Tree) -> dict[str, Any]: ...

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection: ...

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update: ...

    def done(self, tree: Tree, state: dict[str, Any]) -> bool: ...

    def best(self, tree: Tree, state: dict[str, Any]) -> Choice | None: ...


ConfigT = TypeVar("ConfigT", bound=StrategyConfig)


class Strategy(Generic[ConfigT]):
    """What the built-in strategies share: their two settings objects and the checks of whether a
    node may be expanded at their ``max_depth``.

    A subclass sets ``name`` and ``config_class`` (the config it is built with when given none) and
    implements the ``SearchStrategy`` methods; ``generation`` defaults to ``GenerationConfig()``.
    """

    name: str
    config_class: ClassVar[type[StrategyConfig]] = StrategyConfig
    revises: bool = False

    def __init__(self, config: ConfigT | None = None, generation: GenerationConfig | None = None) -> None:
        self.config: ConfigT = config or cast(ConfigT, self.config_class())
        self.generation = generation or GenerationConfig()

    def can_expand(self, node: Node) -> bool:
        """``expandable`` at this strategy's ``generation.max_depth``."""
        return expandable(node, self.generation.max_depth)

    def live(self, tree: Tree, node_id: str) -> bool:
        """Whether ``node_id`` is (still) in the tree and may be expanded."""
        return node_id in tree.nodes and self.can_expand(tree.get(node_id))


def score_of(node: Node, default: float = NEUTRAL_SCORE) -> float:
    return default if node.score is None else node.score


def expandable(node: Node, max_depth: int) -> bool:
    """Whether a strategy may ask for children of ``node``: not an answer, not at ``max_depth``,
    not given up on ("pruned") and not a dead end ("failed": its expansion came back empty)."""
    return not node.step.is_final and node.depth < max_depth and node.status not in ("failed", "pruned")


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
        and n.status != "revised"
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


StrategyFactory = Callable[[Any, GenerationConfig], SearchStrategy]
_REGISTRY: dict[str, tuple[StrategyFactory, type[StrategyConfig]]] = {}


def register_strategy(
    name: str, config_cls: type[StrategyConfig]
) -> Callable[[StrategyFactory], StrategyFactory]:
    """Register ``factory(config, generation) -> strategy`` under ``name``; ``config`` is a
    validated ``config_cls``, ``generation`` a ``GenerationConfig``."""

    def deco(factory: StrategyFactory) -> StrategyFactory:
        _REGISTRY[name] = (factory, config_cls)
        return factory

    return deco


def available_strategies() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def strategy_config_class(name: str) -> type[StrategyConfig]:
    _load_builtins()
    if name not in _REGISTRY:
        raise UnknownStrategyError(f"unknown strategy {name!r}: choose one of {sorted(_REGISTRY)}")
    return _REGISTRY[name][1]


def with_generation(
    strategy: SearchStrategy, generation: GenerationConfig | dict[str, Any]
) -> SearchStrategy:
    """A copy of ``strategy`` that decodes with ``generation``; the original is left as it is.

    The copy is shallow: it shares ``config`` with the original (configs are only read)."""
    gen = make_generation(generation)
    new = copy.copy(strategy)
    try:
        new.generation = gen  # type: ignore[misc]
    except AttributeError:
        raise ConfigError(
            f"strategy {getattr(strategy, 'name', type(strategy).__name__)!r} has no settable "
            "`generation` attribute, so its generation settings cannot be changed"
        ) from None
    return new


def make_strategy(
    strategy: str | SearchStrategy,
    config: StrategyConfig | dict[str, Any] | None = None,
    *,
    generation: GenerationConfig | dict[str, Any] | None = None,
    **overrides: Any,
) -> SearchStrategy:
    """Resolve ``"dfs"`` (plus config dict/object, keyword overrides and generation settings) to a
    strategy object.

    A name builds the strategy with ``generation`` (default ``GenerationConfig()``). A strategy
    object is returned as it is, or — when ``generation`` is given and differs from its own — as
    a copy with that generation (``with_generation``); config settings cannot be applied to an
    object. Generation keys (``step_tokens``, ``temperature``, ``greedy_first``, ``max_depth``)
    inside ``config`` or ``overrides`` are a ``ConfigError`` naming where they belong
    (``o1agent.config.split_config`` separates a mixed dict).
    """
    if not isinstance(strategy, str):
        if config is not None or overrides:
            raise ConfigError("pass config only with a strategy name, not with a strategy object")
        if generation is None:
            return strategy
        gen = make_generation(generation)
        if getattr(strategy, "generation", None) == gen:
            return strategy
        return with_generation(strategy, gen)
    cls = strategy_config_class(strategy)
    factory = _REGISTRY[strategy][0]
    given = (
        config.model_dump(exclude_unset=True) if isinstance(config, StrategyConfig) else dict(config or {})
    )
    given.update(overrides)
    misplaced = {k: v for k, v in given.items() if k in GENERATION_KEYS}
    if misplaced:
        names = ", ".join(misplaced)
        what = "is a generation setting" if len(misplaced) == 1 else "are generation settings"
        raise ConfigError(f"invalid {strategy} config: {names} {what}: pass generation={misplaced!r}")
    try:
        cfg = cls.model_validate(given)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {strategy} config: {errs}") from None
    return factory(cfg, make_generation(generation))


def _load_builtins() -> None:
    # Importing the modules registers them; kept lazy so `base` has no import cycle.
    from . import builtins  # noqa: F401
