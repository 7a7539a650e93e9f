"""Imports every built-in strategy module so each registers itself. Add new strategies here."""

from . import (  # noqa: F401
    adaptive,
    adaptive_sc,
    beam,
    best_of_n,
    deepconf,
    dfs,
    greedy,
    hybrid,
    mcts,
    particle,
    revision,
    verified_vote,
)
