"""Evaluation statistics: Wilson intervals against published values, bootstrap, percentiles, and
the per-method summary table built from rows."""

from __future__ import annotations

import numpy as np
import pytest

from o1agent.errors import ConfigError
from o1agent.evaluation.stats import bootstrap_interval, percentile, summarize, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        (8, 10, 0.490, 0.943),  # the textbook example
        (0, 10, 0.000, 0.278),
        (10, 10, 0.722, 1.000),
        (1, 2, 0.095, 0.905),
        (50, 100, 0.404, 0.596),
    ],
)
def test_wilson_interval_matches_known_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-4)
    assert got[0] <= k / n <= got[1]


def test_wilson_edge_cases_and_bad_input():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 7)[0] == 0.0  # exactly, so error bars never go negative
    assert wilson_interval(7, 7)[1] == 1.0
    with pytest.raises(ConfigError, match="successes <= n"):
        wilson_interval(3, 2)
    # Narrower at 99 %? No: wider. z is honoured.
    assert wilson_interval(8, 10, z=2.576)[0] < wilson_interval(8, 10)[0]


def test_percentile_matches_numpy():
    rng = np.random.default_rng(0)
    xs = list(rng.integers(0, 1000, size=37))
    for q in (0, 10, 50, 90, 99, 100):
        assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))
    assert np.isnan(percentile([], 90))
    with pytest.raises(ConfigError):
        percentile([1, 2], 101)


def test_bootstrap_is_seeded_and_brackets_the_mean():
    vals = [1.0] * 8 + [0.0] * 2
    a = bootstrap_interval(vals, seed=3)
    assert a == bootstrap_interval(vals, seed=3)
    assert a[0] < 0.8 < a[1]
    assert a[0] >= 0.4 and a[1] <= 1.0
    assert bootstrap_interval([1.0] * 5) == (1.0, 1.0)


def _row(strategy, budget, correct, tokens, *, exhausted=False, error=None, score=None):
    return {
        "strategy": strategy,
        "max_tokens": budget,
        "correct": correct,
        "score": (1.0 if correct else 0.0) if score is None else score,
        "tokens": tokens,
        "seconds": 0.5,
        "nodes": 3,
        "budget_exhausted": exhausted,
        "error": error,
    }


def test_summarize_groups_by_strategy_and_budget():
    rows = [_row("greedy", 256, i < 8, 100 + 10 * i, exhausted=i == 0) for i in range(10)]
    rows += [_row("beam", 256, False, 300, error="boom", score=0.5), _row("beam", 512, True, 400)]
    stats = {(s.strategy, s.max_tokens): s for s in summarize(rows)}
    assert set(stats) == {("greedy", 256), ("beam", 256), ("beam", 512)}
    g = stats[("greedy", 256)]
    assert (g.n, g.correct, g.accuracy) == (10, 8, 0.8)
    assert (g.ci_low, g.ci_high) == pytest.approx((0.490, 0.943), abs=5e-4)
    assert g.mean_tokens == pytest.approx(145.0)
    assert g.p90_tokens == pytest.approx(float(np.percentile([100 + 10 * i for i in range(10)], 90)))
    assert g.exhausted_rate == pytest.approx(0.1)
    assert g.mean_nodes == 3 and g.mean_seconds == 0.5
    b = stats[("beam", 256)]
    assert b.errors == 1 and b.accuracy == 0.0 and b.mean_score == 0.5  # partial credit stays visible
