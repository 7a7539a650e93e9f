"""Imports every built-in strategy module so each registers itself. Add new strategies here."""

from . import dfs, greedy  # noqa: F401
