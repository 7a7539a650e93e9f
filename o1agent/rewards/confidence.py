"""``Confidence``: a process reward from the policy's own token probabilities. Free: no model call.

Two readings of the same logprobs:

* ``"geometric"`` (default) — ``exp(mean token logprob)`` of the candidate step, the geometric
  mean of its token probabilities. Reads ``ScoreRequest.mean_logprob``.
* ``"topk"`` — Marco-o1's confidence: per token, ``exp(lp) / Σ exp(top-k lps)`` (the chosen
  token's probability renormalised over the k best alternatives), averaged over the step. It
  needs per-token top logprobs; when a request carries none (``ScoreRequest`` has no field for
  them yet) it falls back to the geometric reading and says so.

``token_confidences`` is the per-token reading DeepConf (Fu et al. 2025) builds on: the mean
negative log-probability of the k most likely tokens at each position (high when the distribution
is peaked). The graph stores it on a node when its strategy asks for top logprobs; the DeepConf
statistics over a whole trace (sliding-window group confidence) are ``o1agent.search.deepconf``'s.

A request without logprobs (a backend that cannot give them) gets a neutral 0.5 and a rationale
saying why; NaN logprobs are the backend failing, and the verdict says so (``error``, no score). What this is not: a correctness check — a model can be confidently wrong; blend it
with a judge or a verifier (``0.7 * LLMJudge(p) + 0.3 * Confidence()``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Literal

from ..errors import ConfigError
from ..policies.base import TokenLogprob
from .base import RewardKind, ScoreRequest, Verdict
from .compose import Composable

logger = logging.getLogger(__name__)

ConfidenceMode = Literal["geometric", "topk"]


def geometric_confidence(mean_logprob: float, *, temperature: float = 1.0) -> float:
    """``exp(mean_logprob / temperature)``, clamped to [0, 1]."""
    if math.isnan(mean_logprob):
        return 0.0
    return max(0.0, min(1.0, math.exp(min(0.0, mean_logprob) / temperature)))


def topk_confidence(tokens: Sequence[TokenLogprob | dict[str, Any]], k: int = 5) -> float | None:
    """Marco-o1 confidence: mean over tokens of ``exp(lp) / Σ_{top k} exp(lp_j)``. ``None``
    when no token carries top logprobs."""
    vals: list[float] = []
    for t in tokens:
        tok = t if isinstance(t, TokenLogprob) else TokenLogprob.model_validate(t)
        top = dict(tok.top)
        top.setdefault(tok.token, tok.logprob)
        # The k best alternatives, plus the chosen token if sampling picked one outside them.
        pool = [*sorted((v for t_, v in top.items() if t_ != tok.token), reverse=True)[: k - 1], tok.logprob]
        m = max(pool)
        vals.append(math.exp(tok.logprob - m) / sum(math.exp(v - m) for v in pool))
    return sum(vals) / len(vals) if vals else None


def token_confidences(tokens: Sequence[TokenLogprob] | None, k: int = 20) -> list[float] | None:
    """DeepConf's token confidence ``C_i = -(1/k) Σ_{j≤k} log P_i(j)`` over the k most likely
    tokens at each position (those a backend returned; fewer when it returned fewer), rounded to
    3 decimals. Tokens without top logprobs are left out, and a step with none gives ``None``: the
    sampled token's logprob alone is not this measure (it even runs the other way: near 0 when
    confident), so mixing the two would make traces incomparable."""
    out: list[float] = []
    for t in tokens or ():
        if t.top:
            top = sorted(t.top.values(), reverse=True)[:k]
            out.append(round(-sum(top) / len(top), 3))
    return out or None


class Confidence(Composable):
    """Process reward from the candidate's token probabilities (see the module docstring)."""

    kind: RewardKind = "process"

    def __init__(
        self,
        mode: ConfidenceMode = "geometric",
        *,
        k: int = 5,
        temperature: float = 1.0,
        neutral: float = 0.5,
        name: str = "confidence",
    ) -> None:
        if mode not in ("geometric", "topk"):
            raise ConfigError(f"unknown confidence mode {mode!r}: choose 'geometric' or 'topk'")
        if temperature <= 0 or k < 1:
            raise ConfigError("temperature must be positive and k >= 1")
        self.mode = mode
        self.k = k
        self.temperature = temperature
        self.neutral = neutral
        self.name = name

    def _broken(self, what: str) -> Verdict:
        # NaN logprobs are the backend failing: no confidence can be read from them.
        error = f"{self.name} failed: the backend returned non-finite logprobs ({what})"
        logger.warning("%s", error)
        return Verdict(score=None, rationale=error, error=error)

    def _one(self, req: ScoreRequest) -> Verdict:
        if self.mode == "topk":
            tokens = getattr(req, "token_logprobs", None)
            if tokens:
                c = topk_confidence(tokens, self.k)
                if c is not None and math.isnan(c):
                    return self._broken(f"top-{self.k} confidence {c}")
                if c is not None:
                    return Verdict(
                        score=c, rationale=f"top-{self.k} confidence {c:.2f} over {len(tokens)} tokens"
                    )
        lp = req.mean_logprob
        if lp is None or not isinstance(lp, int | float):
            return Verdict(
                score=self.neutral, rationale="no token logprobs for this step: neutral confidence"
            )
        if math.isnan(lp):
            return self._broken(f"mean logprob {lp}")
        c = geometric_confidence(float(lp), temperature=self.temperature)
        note = " (no top logprobs: geometric fallback)" if self.mode == "topk" else ""
        return Verdict(
            score=c, rationale=f"geometric-mean token probability {c:.2f} (mean logprob {lp:.3f}){note}"
        )

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return [self._one(r) for r in requests]
