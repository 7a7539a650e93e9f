"""Composing reward models: weighted sums, step-score aggregation, potential-based shaping.

* ``Weighted([(rm, w), ...])`` — a weighted mean of several graders' scores. Graders that have no
  opinion (``score=None``: an outcome grader on an open step) are left out and the remaining
  weights renormalised, so ``0.7 * judge + 0.3 * answer_check`` is the judge alone on open steps
  and the blend on final ones. A grader that *failed* (``Verdict.error``: its backend, model or
  sandbox) is not "no opinion": the blend is then no verdict either (``score=None``, ``error``
  naming the part), since renormalising over the rest would pass a partial score off as the whole.
  The blend's ``critique`` joins its parts' critiques (only grounded graders write one); its
  ``repair`` is the first part's that has one.
* Operator sugar: every grader in this package mixes in ``Composable``, so a user writes
  ``0.7 * LLMJudge(p) + 0.3 * Confidence()``. A grader from elsewhere is wrapped with
  ``reward(rm)`` first: ``0.5 * reward(my_rm) + 0.5 * Confidence()``.
* ``aggregate(scores, "min" | "last" | "prod" | "mean")`` — one number from per-step scores
  along a path (the PRM literature uses min and prod; last is the cheapest).
* ``PotentialShaping(outcome_rm, potential, gamma)`` — step rewards from an outcome reward; a
  failed outcome grader or potential makes the shaped verdict failed too.

What this is not: a grader of its own. Every score here comes from the wrapped graders.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, cast

from ..errors import ConfigError
from ..schema import Step, Usage
from .base import RewardKind, RewardModel, ScoreRequest, Verdict

Aggregation = Literal["min", "last", "prod", "mean"]


class Composable:
    """Mixin giving a reward model ``w * rm`` and ``rm + rm`` (both build a ``Weighted``)."""

    def __mul__(self, weight: float) -> Weighted:
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            return NotImplemented  # type: ignore[return-value]
        return Weighted([(self, float(weight))])  # type: ignore[list-item]

    __rmul__ = __mul__

    def __add__(self, other: Any) -> Weighted:
        if not isinstance(other, RewardModel):
            return NotImplemented  # type: ignore[return-value]
        return Weighted([*_terms(self), *_terms(other)])

    def __radd__(self, other: Any) -> Weighted:
        if other == 0:  # sum([...]) starts from 0
            return Weighted(_terms(self))
        if not isinstance(other, RewardModel):
            return NotImplemented  # type: ignore[return-value]
        return Weighted([*_terms(other), *_terms(self)])


def _terms(rm: Any) -> list[tuple[RewardModel, float]]:
    if isinstance(rm, Weighted):
        return list(rm.terms)
    return [(rm, 1.0)]


class _Wrapped(Composable):
    """A foreign reward model with operator sugar; behaves exactly like the wrapped one."""

    def __init__(self, inner: RewardModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.kind: RewardKind = cast(RewardKind, inner.kind)

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return await self.inner.score(requests)


def reward(rm: RewardModel) -> Composable:
    """Give any reward model the ``*`` / ``+`` operators (no-op for this package's graders)."""
    if isinstance(rm, Composable):
        return rm
    if not isinstance(rm, RewardModel):
        raise ConfigError(f"reward() needs a RewardModel (name, kind, async score), got {type(rm).__name__}")
    return _Wrapped(rm)


class Weighted(Composable):
    """Weighted mean of several graders, ignoring graders with no opinion (see module docstring).

    ``kind`` is ``"process"`` if any part is a process grader (the blend then scores every step),
    else ``"outcome"``. Usage of all parts is summed into each verdict.
    """

    def __init__(self, terms: Iterable[tuple[RewardModel, float]], *, name: str | None = None) -> None:
        self.terms: list[tuple[RewardModel, float]] = []
        for rm, w in terms:
            if not isinstance(rm, RewardModel):
                raise ConfigError(f"Weighted needs reward models, got {type(rm).__name__}")
            if not isinstance(w, int | float) or math.isnan(w) or w < 0:
                raise ConfigError(f"reward weights must be non-negative numbers, got {w!r} for {rm.name}")
            self.terms.append((rm, float(w)))
        if not self.terms or sum(w for _, w in self.terms) <= 0:
            raise ConfigError("Weighted needs at least one reward model with a positive weight")
        self.kind: RewardKind = "process" if any(rm.kind == "process" for rm, _ in self.terms) else "outcome"
        self.name = name or "+".join(f"{w:g}*{rm.name}" for rm, w in self.terms)

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        parts = await asyncio.gather(*(rm.score(requests) for rm, _ in self.terms))
        out: list[Verdict] = []
        for i in range(len(requests)):
            num = den = 0.0
            usage = Usage()
            why: list[str] = []
            critiques: list[str] = []
            repairs: list[str] = []
            errors: list[str] = []
            for (rm, w), verdicts in zip(self.terms, parts, strict=True):
                v = verdicts[i]
                usage = usage + v.usage
                if v.error is not None:
                    errors.append(f"part {rm.name} of {self.name}: {v.error}")
                    continue
                if v.score is None or w == 0:
                    why.append(f"{rm.name}: no opinion")
                    continue
                num += w * v.score
                den += w
                if v.critique:
                    critiques.append(v.critique)
                if v.repair:
                    repairs.append(v.repair)
                why.append(
                    f"{rm.name}={v.score:.2f} (w={w:g}): {v.rationale}"
                    if v.rationale
                    else f"{rm.name}={v.score:.2f}"
                )
            if errors:
                error = "; ".join(errors)
                out.append(Verdict(score=None, kind=self.kind, rationale=error, usage=usage, error=error))
                continue
            score = num / den if den > 0 else None
            out.append(
                Verdict(
                    score=score,
                    kind=self.kind,
                    rationale="; ".join(why),
                    critique=" ".join(dict.fromkeys(critiques)) or None,
                    repair=repairs[0] if repairs else None,
                    usage=usage,
                )
            )
        return out


def aggregate(scores: Sequence[float | None], how: Aggregation = "min") -> float | None:
    """One value from per-step scores (``None`` entries skipped; ``None`` if nothing is left)."""
    vals = [float(s) for s in scores if s is not None]
    if not vals:
        return None
    if how == "min":
        return min(vals)
    if how == "last":
        return vals[-1]
    if how == "prod":
        return math.prod(vals)
    if how == "mean":
        return sum(vals) / len(vals)
    raise ConfigError(f"unknown aggregation {how!r}: choose min, last, prod or mean")


Potential = Callable[[str, list[Step]], "float | Awaitable[float]"]


class PotentialShaping(Composable):
    """Dense step rewards from a sparse outcome reward, by potential-based shaping
    (Ng, Harada & Russell, 1999): ``F = r + γ·φ(s′) − φ(s)``.

    ``s`` is the partial solution before the candidate step, ``s′`` after it; ``r`` is the outcome
    reward (0 for a step that is not final). Choice of φ, and why:

    * φ(s) is an estimate of "the solution so far is on track" in [0, 1] — pass a process
      ``RewardModel`` (its score of the last step of ``s``: a judge or PRM probability, or
      ``Confidence``) or a function ``(question, steps) -> float``.
    * φ(empty) = ``phi0`` (default 0) and φ(terminal) = 0. With φ zero at the end, the shaped
      rewards along a path telescope to ``R − φ(s₀)`` (γ = 1): the ranking of complete solutions
      is the outcome reward's, so shaping changes how fast the search finds good paths, not which
      ones it prefers — the policy-invariance result of the paper. A step is credited with the
      *change* in estimated correctness it causes.

    The raw shaped value lies in [−1, 1 + γ]; ``Verdict.score`` rescales it linearly to [0, 1] so
    it can drive the search like any process score; the raw value is in ``step_scores[0]``.
    """

    kind: RewardKind = "process"

    def __init__(
        self,
        outcome_rm: RewardModel,
        potential: RewardModel | Potential,
        gamma: float = 1.0,
        *,
        phi0: float = 0.0,
        name: str = "shaped",
    ) -> None:
        if not 0.0 <= gamma <= 1.0:
            raise ConfigError(f"gamma must be in [0, 1], got {gamma}")
        if not isinstance(outcome_rm, RewardModel):
            raise ConfigError(
                f"PotentialShaping needs an outcome RewardModel, got {type(outcome_rm).__name__}"
            )
        self.outcome_rm = outcome_rm
        self.potential = potential
        self.gamma = gamma
        self.phi0 = phi0
        self.name = name
        self._cache: dict[tuple[str, tuple[str, ...]], float] = {}

    async def _phi(self, question: str, steps: list[Step]) -> tuple[float, Usage, str | None]:
        """``(φ, usage, error)``; ``error`` is the potential grader's failure, if it failed."""
        if not steps:
            return self.phi0, Usage(), None
        if steps[-1].is_final:
            return 0.0, Usage(), None
        key = (question, tuple(s.raw or s.text for s in steps))
        if key in self._cache:
            return self._cache[key], Usage(), None
        usage = Usage()
        if isinstance(self.potential, RewardModel):
            (v,) = await self.potential.score(
                [ScoreRequest(question=question, previous=steps[:-1], candidate=steps[-1])]
            )
            if v.error is not None:  # not cached: the next call may find the grader back
                return 0.0, v.usage, f"potential {self.potential.name} of {self.name}: {v.error}"
            val, usage = (0.5 if v.score is None else float(v.score)), v.usage
        else:
            res = self.potential(question, steps)
            val = float(await res) if inspect.isawaitable(res) else float(res)  # type: ignore[arg-type]
        val = max(0.0, min(1.0, val))
        self._cache[key] = val
        return val, usage, None

    async def _one(self, req: ScoreRequest, outcome: Verdict) -> Verdict:
        (phi_s, u1, e1), (phi_next, u2, e2) = await asyncio.gather(
            self._phi(req.question, list(req.previous)),
            self._phi(req.question, [*req.previous, req.candidate]),
        )
        errors = [e for e in (e1, e2) if e is not None]
        if outcome.error is not None and req.candidate.is_final:  # r is 0 on open steps anyway
            errors.insert(0, f"outcome {self.outcome_rm.name} of {self.name}: {outcome.error}")
        if errors:
            error = "; ".join(dict.fromkeys(errors))
            return Verdict(
                score=None, kind="process", rationale=error, usage=outcome.usage + u1 + u2, error=error
            )
        r = outcome.score if (req.candidate.is_final and outcome.score is not None) else 0.0
        shaped = r + self.gamma * phi_next - phi_s
        score = (shaped + 1.0) / (2.0 + self.gamma)
        return Verdict(
            score=max(0.0, min(1.0, score)),
            kind="process",
            step_scores=[shaped],
            rationale=f"r={r:.2f} + {self.gamma:g}*phi(s')={phi_next:.2f} - phi(s)={phi_s:.2f} = {shaped:.2f}",
            usage=outcome.usage + u1 + u2,
        )

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        outcomes = await self.outcome_rm.score(requests)
        return list(await asyncio.gather(*(self._one(r, o) for r, o in zip(requests, outcomes, strict=True))))
