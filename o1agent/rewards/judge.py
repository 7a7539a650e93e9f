"""``LLMJudge``: a generative process reward model — a language model asked "is this step correct?".

When the backend returns token logprobs, the score is P(yes) / (P(yes) + P(no)) over the first
answer token (summing case and spacing variants), a calibrated-ish number rather than a coin flip.
Otherwise the judge's text is parsed ("Yes", "No", "score: 7/10"); unreadable output gets
``unparsed_score`` (low) and a rationale saying why — never an exception. A judge call that fails
(the backend raises) is not a verdict: it logs a warning and returns ``Verdict(score=None,
error="judge failed: ...")``, so the search can tell a "no" from a judge that was down.

Be warned (measured on SmolLM2-135M): a weak model judging itself is a poor signal. Prefer a
stronger judge model, or ground the search with tools and verifiers.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from .._aio import PerLoop
from ..parsing import parse_verdict
from ..policies.base import CompletionRequest, Policy
from ..prompts import PromptSet, load_prompts
from ..schema import Usage
from .base import ScoreRequest, Verdict
from .compose import Composable

logger = logging.getLogger(__name__)

_YES = {"yes", "y", "correct", "true"}
_NO = {"no", "n", "incorrect", "wrong", "false"}


def yes_probability(top: dict[str, float]) -> float | None:
    """P(yes) normalised over yes/no tokens in a top-logprob dict; ``None`` if neither appears."""
    p_yes = p_no = 0.0
    for tok, lp in top.items():
        word = tok.strip().strip(".,:!*").lower()
        if word in _YES:
            p_yes += math.exp(lp)
        elif word in _NO:
            p_no += math.exp(lp)
    if p_yes + p_no <= 0:
        return None
    return p_yes / (p_yes + p_no)


class LLMJudge(Composable):
    """Process reward from a judge model. ``policy`` is any ``Policy`` (often the solver's own)."""

    kind = "process"

    def __init__(
        self,
        policy: Policy,
        *,
        prompts: PromptSet | str = "g1",
        unparsed_score: float = 0.1,
        max_tokens: int = 8,
        concurrency: int = 4,
        name: str = "judge",
    ) -> None:
        self.policy = policy
        self.prompts = load_prompts(prompts) if isinstance(prompts, str) else prompts
        self.unparsed_score = unparsed_score
        self.max_tokens = max_tokens
        self.name = name
        self._sem = PerLoop(lambda: asyncio.Semaphore(concurrency))

    def _request(self, req: ScoreRequest, *, logprobs: bool) -> CompletionRequest:
        messages, prefix = self.prompts.render(
            "verify",
            question=req.question,
            steps=[s.model_dump() for s in req.previous],
            candidate=req.candidate.raw or f"{req.candidate.title}\n{req.candidate.text}".strip(),
        )
        return CompletionRequest(
            messages=messages,
            assistant_prefix=prefix,
            max_tokens=1 if logprobs else self.max_tokens,
            temperature=0.0,
            logprobs=logprobs,
            top_logprobs=20 if logprobs else 0,
            metadata={"purpose": "judge"},
        )

    async def _score_one(self, req: ScoreRequest) -> Verdict:
        use_lp = bool(self.policy.supports_logprobs)
        async with self._sem.get():
            try:
                outs = await self.policy.complete(self._request(req, logprobs=use_lp))
            except Exception as exc:  # the judge failing must not lose the search, nor pose as a "no"
                logger.warning("%s failed: %s: %s", self.name, type(exc).__name__, exc)
                return Verdict.failed(self.name, exc)
        out = outs[0]
        usage = Usage(
            prompt_tokens=out.prompt_tokens,
            completion_tokens=out.completion_tokens,
            reused_tokens=out.reused_tokens,
            dollars=out.dollars,
            calls=1,
        )
        if use_lp and out.logprobs:
            top: dict[str, Any] = dict(out.logprobs[0].top)
            top.setdefault(out.logprobs[0].token, out.logprobs[0].logprob)
            p = yes_probability(top)
            if p is not None and not math.isfinite(p):
                # NaN logprobs are the backend failing, not a verdict of the judge.
                logger.warning("%s: the backend returned non-finite logprobs %s", self.name, top)
                error = f"{self.name} failed: the backend returned non-finite logprobs (P(yes)={p})"
                return Verdict(score=None, rationale=error, error=error, usage=usage)
            if p is not None:
                verdict = "looks correct" if p >= 0.5 else "may be wrong"
                return Verdict(
                    score=p, rationale=f"the judge thinks this step {verdict} (P(yes)={p:.2f})", usage=usage
                )
        score, why = parse_verdict(out.text)
        if score is None:
            return Verdict(score=self.unparsed_score, rationale=f"{why}; scored low", usage=usage)
        return Verdict(score=score, rationale=why, usage=usage)

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return list(await asyncio.gather(*(self._score_one(r) for r in requests)))
