"""Imports every built-in strategy module so each registers itself. Add new strategies here."""

from . import beam, best_of_n, dfs, greedy, hybrid, mcts, revision  # noqa: F401
