"""Search strategies: pure objects that decide where the reasoning graph expands next, and which
node and answer (a ``Choice``) they stand behind. Decoding settings are ``o1agent.config``'s."""

from .base import (
    Choice,
    Expansion,
    SearchStrategy,
    Selection,
    StrategyConfig,
    Update,
    available_strategies,
    make_strategy,
    register_strategy,
    strategy_config_class,
    with_generation,
)

__all__ = [
    "Choice",
    "Expansion",
    "SearchStrategy",
    "Selection",
    "StrategyConfig",
    "Update",
    "available_strategies",
    "make_strategy",
    "register_strategy",
    "strategy_config_class",
    "with_generation",
]
