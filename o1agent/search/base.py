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

Two optional attributes a strategy may have (the graph reads them with ``getattr``, so a
strategy written without them keeps working): ``top_logprobs`` (ask the policy for that many top
logprobs per token and keep each step's token confidences on its node, for confidence-based
strategies; 0 = no) and ``allocation(tree, state)`` (what the strategy spent and why, returned
as ``Result.allocation``; ``None`` = nothing to report).

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
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import GENERATION_KEYS, GenerationConfig, make_generation
from ..errors import ConfigError, UnknownStrategyError
from ..schema import Node, Tree
from .picks import (  # noqa: F401  (re-exported: the one import of older code and tests)
    NEUTRAL_SCORE,
    best_leaf,
    best_terminal,
    choice_of,
    default_best,
    expandable,
    is_blank,
    score_of,
    stand_behind,
)
from .types import Choice, Expansion, Selection, Update  # noqa: F401  (re-exported)


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
    critique: Literal["verdict", "generated", "none"] = Field(
        default="verdict",
        description="what a rewrite is told: the grader's verdict ('verdict': a grounded check's finding "
        "when there is one, else its rationale); where no grounded check found anything, a critique "
        "the model writes first ('generated': one more short call); or nothing but that the step may be "
        "wrong ('none': the control that measures what a critique adds)",
    )


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
    top_logprobs: int = 0

    def __init__(self, config: ConfigT | None = None, generation: GenerationConfig | None = None) -> None:
        self.config: ConfigT = config or cast(ConfigT, self.config_class())
        self.generation = generation or GenerationConfig()

    def can_expand(self, node: Node) -> bool:
        """``expandable`` at this strategy's ``generation.max_depth``."""
        return expandable(node, self.generation.max_depth)

    def live(self, tree: Tree, node_id: str) -> bool:
        """Whether ``node_id`` is (still) in the tree and may be expanded."""
        return node_id in tree.nodes and self.can_expand(tree.get(node_id))

    def allocation(self, tree: Tree, state: dict[str, Any]) -> dict[str, Any] | None:
        """What this run spent and why (``Result.allocation``); ``None``: nothing to report."""
        return None


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
