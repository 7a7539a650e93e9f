"""Statistics of an evaluation: Wilson and bootstrap intervals, percentiles, per-method summaries.

Pure functions over plain numbers and ``items.jsonl`` rows (dicts); no I/O, no plotting, no
model calls. What this is not: a significance test between methods — the intervals say how sure
one accuracy is, and overlapping intervals are not a verdict either way.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(successes: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (default 95 %).

    Unlike the normal ("Wald") interval it stays inside [0, 1] and is sensible at 0/n and n/n,
    which matters for the small n of CPU-bound evaluations. ``n == 0`` gives the vacuous (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ConfigError(f"wilson_interval needs 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At 0/n and n/n the bound is exactly 0 or 1; float noise must not push it past the estimate.
    lo = 0.0 if successes == 0 else max(0.0, center - half)
    hi = 1.0 if successes == n else min(1.0, center + half)
    return (lo, hi)


def bootstrap_interval(
    values: Sequence[float], *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (seeded, so reports reproduce)."""
    if not values:
        return (0.0, 1.0)
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level}")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    return (percentile(means, lo_q * 100), percentile(means, hi_q * 100))


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation (numpy's default method)."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return float("nan")
    if not 0.0 <= q <= 100.0:
        raise ConfigError(f"percentile q must be in [0, 100], got {q}")
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


@dataclass
class MethodStats:
    """One line of the results table: a method (strategy label) at one token budget."""

    strategy: str
    max_tokens: int
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    boot_low: float
    boot_high: float
    mean_score: float
    mean_tokens: float
    p90_tokens: float
    mean_seconds: float
    mean_nodes: float
    exhausted_rate: float
    errors: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(rows: Iterable[dict[str, Any]], *, bootstrap_seed: int = 0) -> list[MethodStats]:
    """Group rows by (strategy, max_tokens) and compute every column of the table.

    Accuracy counts ``correct`` (the grader's full credit); ``mean_score`` keeps partial credit
    visible. A row whose run failed counts as wrong: an evaluation that drops failures would
    flatter the method that fails most.
    """
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["strategy"]), int(row["max_tokens"])), []).append(row)
    out: list[MethodStats] = []
    for (strategy, budget), rs in groups.items():
        n = len(rs)
        correct = sum(1 for r in rs if r.get("correct"))
        lo, hi = wilson_interval(correct, n)
        blo, bhi = bootstrap_interval([1.0 if r.get("correct") else 0.0 for r in rs], seed=bootstrap_seed)
        tokens = [float(r.get("tokens") or 0) for r in rs]
        out.append(
            MethodStats(
                strategy=strategy,
                max_tokens=budget,
                n=n,
                correct=correct,
                accuracy=correct / n,
                ci_low=lo,
                ci_high=hi,
                boot_low=blo,
                boot_high=bhi,
                mean_score=_mean([float(r.get("score") or 0.0) for r in rs]),
                mean_tokens=_mean(tokens),
                p90_tokens=percentile(tokens, 90),
                mean_seconds=_mean([float(r.get("seconds") or 0.0) for r in rs]),
                mean_nodes=_mean([float(r.get("nodes") or 0) for r in rs]),
                exhausted_rate=_mean([1.0 if r.get("budget_exhausted") else 0.0 for r in rs]),
                errors=sum(1 for r in rs if r.get("error")),
            )
        )
    out.sort(key=lambda s: (s.strategy, s.max_tokens))
    return out
