"""``ScriptedPolicy``: a deterministic test double shipped in the library (like pydantic-ai's
``TestModel``). It answers from a list of strings or from a function of the request.

Use it in unit tests of graphs, strategies and graders, and in benchmarks that must measure
o1agent's own overhead without model latency. It is not a model: it never "reasons".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from ..errors import BackendError
from .base import Completion, CompletionRequest, TokenLogprob

Responder = Callable[[CompletionRequest], "str | Completion | Sequence[str | Completion]"]


def _count_tokens(text: str) -> int:
    # A stable stand-in for a tokenizer: words and punctuation runs. Good enough for budgets.
    return max(1, len(text.split())) if text else 0


class ScriptedPolicy:
    """Replays scripted outputs.

    ``responses`` is either a sequence consumed in order (each ``complete`` call takes ``n``
    items; a ``Completion`` is passed through as is) or a callable ``request -> str | Completion |
    list`` called once per requested completion. ``cycle=True`` restarts an exhausted sequence;
    otherwise exhaustion raises ``BackendError`` (a test that under-scripts should fail loudly).
    ``logprob`` fills per-token logprobs so logprob-based graders can be tested.
    """

    def __init__(
        self,
        responses: Sequence[str | Completion] | Responder,
        *,
        name: str = "scripted",
        cycle: bool = False,
        latency: float = 0.0,
        logprob: float | None = None,
        top_logprobs: Callable[[CompletionRequest], dict[str, float]] | None = None,
        dollars_per_call: float = 0.0,
    ) -> None:
        self.name = name
        self._responses = responses
        self._index = 0
        self._cycle = cycle
        self._latency = latency
        self._logprob = logprob
        self._top = top_logprobs
        self._dollars = dollars_per_call
        self.requests: list[CompletionRequest] = []

    @property
    def prices_tokens(self) -> bool:
        """Priced only when given ``dollars_per_call`` (so ``Budget.max_dollars`` can be tested)."""
        return self._dollars > 0

    @property
    def supports_logprobs(self) -> bool:
        return self._logprob is not None or self._top is not None

    #: A call's ``n`` choices bill its prompt once (the first carries it), as llama.cpp does.
    bills_prompt_per_choice = False

    def _next(self, request: CompletionRequest) -> list[str | Completion]:
        if callable(self._responses):
            out = self._responses(request)
            if isinstance(out, str | Completion):
                return [out]
            return list(out)
        seq = self._responses
        if self._index >= len(seq):
            if not self._cycle or not seq:
                raise BackendError(f"ScriptedPolicy ran out of responses after {self._index} completions")
            self._index = 0
        item = seq[self._index]
        self._index += 1
        return [item]

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        self.requests.append(request)
        if self._latency:
            await asyncio.sleep(self._latency)
        prompt_text = "\n".join(m.content for m in request.messages) + request.assistant_prefix
        prompt_tokens = _count_tokens(prompt_text)
        out: list[Completion] = []
        while len(out) < request.n:
            for item in self._next(request):
                if len(out) >= request.n:
                    break
                if isinstance(item, Completion):
                    out.append(item)
                    continue
                text = item
                finish = "stop"
                for s in request.stop:
                    if s and s in text:
                        text, finish = text.split(s, 1)[0], "stop"
                lps = None
                if request.logprobs and (self._logprob is not None or self._top is not None):
                    top = self._top(request) if self._top else {}
                    words = text.split() or [text]
                    lps = [
                        TokenLogprob(
                            token=w,
                            logprob=self._logprob if self._logprob is not None else -0.1,
                            top=top if i == 0 else {},
                        )
                        for i, w in enumerate(words)
                    ]
                out.append(
                    Completion(
                        text=text,
                        finish_reason=finish,
                        prompt_tokens=prompt_tokens if not out else 0,
                        completion_tokens=_count_tokens(text),
                        dollars=self._dollars,
                        seed=request.seed,
                        logprobs=lps,
                        rendered_prompt=prompt_text,
                    )
                )
        return out

    async def aclose(self) -> None:
        return None
