"""Search strategies: pure objects that decide where the reasoning graph expands next."""

from .base import (
    Expansion,
    SearchStrategy,
    Selection,
    StrategyConfig,
    Update,
    available_strategies,
    make_strategy,
    register_strategy,
    strategy_config_class,
)

__all__ = [
    "Expansion",
    "SearchStrategy",
    "Selection",
    "StrategyConfig",
    "Update",
    "available_strategies",
    "make_strategy",
    "register_strategy",
    "strategy_config_class",
]
