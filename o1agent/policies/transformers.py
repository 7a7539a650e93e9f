"""``TransformersPolicy``: the ``local:PATH`` backend — a transformers checkpoint run in this process.

``model="local:PATH"`` names a folder ``o1agent train`` wrote (a full model or a LoRA adapter, merged
on load) and ``"local:base"`` the base model converted from the bundled GGUF
(``o1agent.learn.model.base_model_dir``). Greedy or sampled generation, seeds, stop strings, token
logprobs and honest token counts; calls run in a worker thread, one at a time.

What this is not: a fast backend. HF generation is ~7x slower than llama.cpp on CPU (see FACTS), so
long searches should run on an exported GGUF (``o1agent train export``); this policy exists so a
checkpoint can be used and checked before export. The checkpoint loaders live in
``o1agent.learn.model``; torch and transformers are imported when a policy is built, so importing
this module is cheap.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import BackendError, ConfigError, LearnError, UnknownModelError
from ..learn.data import render_chat
from ..learn.model import load_model, load_tokenizer, resolve_checkpoint
from .base import Completion, CompletionRequest, ConcurrentCalls, TokenLogprob


class TransformersPolicy(ConcurrentCalls):
    """A ``Policy`` over a local transformers checkpoint (full model or LoRA adapter).

    ``model`` is ``"local:PATH"``, a folder, or ``"base"``. Sampling mirrors ``LlamaCppPolicy``'s
    defaults (top-k 40, min-p 0.05) so the two backends explore alike; greedy decoding is
    deterministic. ``n`` samples of one request are decoded as one batch from the request's seed.
    """

    def __init__(
        self,
        model: str | Path = "local:base",
        *,
        threads: int | None = None,
        top_k: int = 40,
        min_p: float = 0.05,
        name: str | None = None,
    ) -> None:
        spec = str(model)
        path = spec[len("local:") :] if spec.startswith("local:") else spec
        try:
            import torch
            import transformers  # noqa: F401
        except ImportError as exc:
            raise UnknownModelError(
                f"{spec!r}: local checkpoints need torch and transformers (pip install 'o1agent[train]'): {exc}"
            ) from None
        try:
            self.path = resolve_checkpoint(path)
        except LearnError as exc:
            raise UnknownModelError(str(exc)) from None

        if threads:
            torch.set_num_threads(threads)
        self.name = name or f"local:{path}"
        self.tokenizer = load_tokenizer(self.path)
        self.model = load_model(self.path)
        self.chat_template = self.tokenizer.chat_template
        self.top_k = top_k
        self.min_p = min_p
        eog = {self.tokenizer.eos_token_id}
        for marker in ("<|im_end|>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(marker)
            if isinstance(tid, int) and tid >= 0 and tid != self.tokenizer.unk_token_id:
                eog.add(tid)
        self._eog = sorted(t for t in eog if t is not None)
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()

    supports_logprobs = True  # the Policy protocol property; this backend always has token logprobs

    async def aclose(self) -> None:
        return None

    def reset(self) -> None:
        """No cache state to forget (kept for parity with ``LlamaCppPolicy``)."""

    def render(self, request: CompletionRequest) -> str:
        return render_chat(
            [m.model_dump() for m in request.messages], request.assistant_prefix, self.chat_template
        )

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        if request.n < 1:
            raise ConfigError(f"n must be >= 1, got {request.n}")
        async with self._lock:
            return await asyncio.to_thread(self._complete_sync, request)

    def _complete_sync(self, request: CompletionRequest) -> list[Completion]:
        with self._thread_lock:
            prompt = self.render(request)
            greedy = request.temperature <= 0.0
            # Greedy decoding gives n identical completions: decode once, copy.
            n_decode = 1 if greedy else request.n
            t0 = time.perf_counter()
            rows = self.generate(
                [prompt] * n_decode,
                max_new_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
                stop=request.stop,
                logprobs=request.logprobs,
            )
            elapsed = time.perf_counter() - t0
            if greedy:
                rows = rows * request.n
            out = []
            for i, r in enumerate(rows):
                out.append(
                    Completion(
                        text=r["text"],
                        finish_reason=r["finish_reason"],
                        prompt_tokens=r["prompt_tokens"] if i == 0 else 0,
                        completion_tokens=r["completion_tokens"],
                        seconds=elapsed / len(rows),
                        seed=(request.seed + i) if request.seed is not None and not greedy else request.seed,
                        logprobs=r["logprobs"] if request.logprobs else None,
                        rendered_prompt=prompt,
                    )
                )
            return out

    def generate(
        self,
        prompts: list[str],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: list[str] | None = None,
        logprobs: bool = False,
    ) -> list[dict[str, Any]]:
        """Batch-generate continuations of raw prompt texts (left-padded). Returns dicts with
        ``text``, ``finish_reason`` ("eos" / "stop" / "length"), token counts and logprobs."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tok = self.tokenizer
        stops = [s for s in (stop or []) if s]
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        width = enc["input_ids"].shape[1]
        if width + max_new_tokens > (self.model.config.max_position_embeddings or 8192):
            raise BackendError(
                f"prompt of {width} tokens + max_tokens {max_new_tokens} exceeds the context window"
            )

        class _Stop(StoppingCriteria):
            # Per-row check, so one row hitting "Step 3:" does not cut the others short.
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = []
                for row in input_ids[:, width:]:
                    tail = tok.decode(row[-12:], skip_special_tokens=False)
                    done.append(any(s in tail for s in stops))
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        greedy = temperature <= 0.0
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "do_sample": not greedy,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": self._eog,
            "return_dict_in_generate": True,
            "output_logits": logprobs,
        }
        if not greedy:
            kwargs.update(temperature=temperature, top_k=self.top_k, min_p=self.min_p, top_p=top_p)
        else:
            # The checkpoint's generation_config may carry sampling defaults; greedy must ignore them.
            kwargs.update(temperature=None, top_k=None, top_p=None, min_p=None)
        if stops:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_Stop()])
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        seqs = out.sequences[:, width:]
        results = []
        for b in range(len(prompts)):
            ids = seqs[b].tolist()
            finish = "length"
            kept: list[int] = []
            for t in ids:
                if t in self._eog:
                    finish = "eos"
                    break
                kept.append(t)
            text = tok.decode(kept, skip_special_tokens=False)
            cut = _find_stop(text, stops)
            if cut is not None:
                text = text[:cut]
                finish = "stop"
            generated = len(kept)
            if cut is not None:
                # Logprobs cover the tokens of the kept text; the count stays honest (all decoded).
                kept = kept[: len(tok(text, add_special_tokens=False)["input_ids"])]
            lps: list[TokenLogprob] = []
            if logprobs and out.logits:
                for i, t in enumerate(kept):
                    row = torch.log_softmax(out.logits[i][b].float(), dim=-1)
                    lps.append(TokenLogprob(token=tok.decode([t]), logprob=float(row[t])))
            results.append(
                {
                    "text": text,
                    "finish_reason": finish,
                    "prompt_tokens": int(enc["attention_mask"][b].sum()),
                    "completion_tokens": generated,
                    "logprobs": lps,
                }
            )
        return results


def _find_stop(text: str, stops: list[str]) -> int | None:
    hits = [i for s in stops if (i := text.find(s)) != -1]
    return min(hits) if hits else None
