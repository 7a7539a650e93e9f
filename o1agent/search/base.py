"""The ``SearchStrategy`` interface and the strategy registry.

A strategy decides *where* to expand; the graph does the expanding. It is a pure object over plain
data: given the ``Tree`` and its own serialisable ``state`` dict it returns what to expand next
(``select``), folds in freshly scored children (``update``), says when to stop (``done``) and which
node holds the answer (``best``). No model calls, no I/O, no mutation of the tree — so every
strategy is unit-testable on a hand-built tree, and its state checkpoints with the graph.

Backtracking is simply ``select`` returning a node that is not a child of the last one expanded;
the graph records it as a ``backtrack`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, UnknownStrategyError
from ..schema import Node, Tree

NEUTRAL_SCORE = 0.5


class StrategyConfig(BaseModel):
    """Settings every strategy shares. Subclasses add their own, each with a description."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    max_depth: int = Field(
        default=6, ge=1, le=64, description="steps on one path before the solution must finish"
    )
    revise_below: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="revise a step whose score is below this; None disables revision",
    )
    max_revisions: int = Field(default=1, ge=0, le=8, description="revisions allowed per step")
    temperature: float = Field(
        default=0.7,
        ge=0.0,
        le=2.0,
        description="sampling temperature when several candidates are proposed at once",
    )
    step_tokens: int = Field(default=96, ge=8, le=4096, description="max new tokens per proposed step")
    greedy_first: bool = Field(
        default=True, description="when k > 1, decode the first candidate greedily and sample the rest"
    )


@dataclass
class Expansion:
    """Ask the graph for ``k`` candidate children of ``node_id`` — or, with ``mode="revise"``, for
    a rewrite of ``node_id`` itself from its critique.

    ``verify``: score every new child (True), none (False), or only final ones ("final" — for
    rollouts). ``greedy``: decode all k at temperature 0. Otherwise, with the config's
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


@runtime_checkable
class SearchStrategy(Protocol):
    name: str

    @property
    def config(self) -> StrategyConfig: ...

    def init_state(self, tree: Tree) -> dict[str, Any]: ...

    def select(self, tree: Tree, state: dict[str, Any]) -> Selection: ...

    def update(self, tree: Tree, state: dict[str, Any], new_ids: list[str]) -> Update: ...

    def done(self, tree: Tree, state: dict[str, Any]) -> bool: ...

    def best(self, tree: Tree, state: dict[str, Any]) -> str | None: ...


def score_of(node: Node, default: float = NEUTRAL_SCORE) -> float:
    return default if node.score is None else node.score


def best_terminal(tree: Tree) -> Node | None:
    """Highest-scoring final step; ties go to the earliest created (stable, reproducible)."""
    finals = [n for n in tree.terminals() if n.status != "pruned"] or tree.terminals()
    if not finals:
        return None
    return max(finals, key=lambda n: (score_of(n), -n.created_at))


def best_leaf(tree: Tree) -> Node | None:
    """Deepest best-scoring leaf, for when no path reached an answer."""
    leaves = [n for n in tree.leaves() if n.id != tree.root_id and n.status != "revised"]
    if not leaves:
        return None
    return max(leaves, key=lambda n: (score_of(n), n.depth, -n.created_at))


def default_best(tree: Tree) -> str | None:
    node = best_terminal(tree) or best_leaf(tree)
    return node.id if node else None


StrategyFactory = Callable[..., SearchStrategy]
_REGISTRY: dict[str, tuple[StrategyFactory, type[StrategyConfig]]] = {}


def register_strategy(
    name: str, config_cls: type[StrategyConfig]
) -> Callable[[StrategyFactory], StrategyFactory]:
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


def make_strategy(
    strategy: str | SearchStrategy, config: StrategyConfig | dict[str, Any] | None = None, **overrides: Any
) -> SearchStrategy:
    """Resolve ``"dfs"`` (plus config dict/object and keyword overrides) to a strategy object."""
    if not isinstance(strategy, str):
        if config is not None or overrides:
            raise ConfigError("pass config only with a strategy name, not with a strategy object")
        return strategy
    cls = strategy_config_class(strategy)
    factory = _REGISTRY[strategy][0]
    try:
        if isinstance(config, StrategyConfig):
            cfg = cls.model_validate({**config.model_dump(exclude_unset=True), **overrides})
        else:
            cfg = cls.model_validate({**(config or {}), **overrides})
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {strategy} config: {errs}") from None
    return factory(cfg)


def _load_builtins() -> None:
    # Importing the modules registers them; kept lazy so `base` has no import cycle.
    from . import builtins  # noqa: F401
