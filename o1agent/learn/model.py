"""The trainable base policy and ``TransformersPolicy``, which runs a local checkpoint.

* ``base_model_dir()`` converts the bundled SmolLM2-135M-Instruct GGUF (``embedded_model_path()``)
  to a transformers checkpoint once — dequantised fp32 safetensors plus the tokenizer — and caches
  it under ``cache_root()`` (``$O1AGENT_CACHE`` or ``./.o1agent-cache``). Nothing is downloaded.
* ``load_model(path)`` loads a full checkpoint or a LoRA adapter directory (merged on load).
* ``TransformersPolicy`` implements the ``Policy`` protocol over such a checkpoint: ``model=
  "local:PATH"`` (``"local:base"`` is the converted base model). Greedy or sampled generation,
  seeds, stop strings, token logprobs, honest token counts; calls run in a worker thread.

Not here: training (``o1agent.learn.train``) and GGUF export (``o1agent.learn.export``). HF
generation is ~7x slower than llama.cpp on CPU (see FACTS), so long searches should run on an
exported GGUF; this policy exists so a checkpoint can be used and checked before export.

torch and transformers are imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import BackendError, ConfigError, UnknownModelError
from ..policies.base import Completion, CompletionRequest, TokenLogprob
from .data import render_chat

BASE_NAME = "SmolLM2-135M-Instruct"


class LearnError(ConfigError):
    """A learning input (checkpoint, data, option) is unusable."""


def cache_root() -> Path:
    """Where converted models, runs and iteration state live unless told otherwise."""
    return Path(os.environ.get("O1AGENT_CACHE") or Path.cwd() / ".o1agent-cache")


def base_model_dir(cache: str | Path | None = None) -> Path:
    """The base policy as a transformers checkpoint, converted from the bundled GGUF on first use.

    transformers dequantises the Q4_1 GGUF to fp32 (16 s here); the safetensors copy reloads in
    0.3 s. The copy is written to a temporary folder and renamed, so concurrent first uses
    (parallel tests) never see a half-written checkpoint.
    """
    root = Path(cache) if cache is not None else cache_root()
    target = root / "models" / BASE_NAME
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..policies.llamacpp import embedded_model_path

    gguf = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained ("quantized with gguf and is not
    # serializable"), although its weights are plain fp32 by now: drop the quantizer marks.
    setattr(model, "hf_quantizer", None)  # noqa: B010  (typed as a Module attribute by torch)
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: theirs is as good as ours
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_checkpoint(path: str | Path) -> Path:
    """``"base"`` → the converted base model; a folder → itself (checked)."""
    if str(path) in ("base", "embedded"):
        return base_model_dir()
    p = Path(path)
    if not p.is_dir():
        raise LearnError(f"no checkpoint folder at {p}")
    if not (p / "config.json").exists() and not (p / "adapter_config.json").exists():
        raise LearnError(f"{p} holds neither a model (config.json) nor a LoRA adapter (adapter_config.json)")
    return p


def is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").exists()


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    p = resolve_checkpoint(path)
    tok_dir = p if (p / "tokenizer_config.json").exists() else adapter_base(p)
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def adapter_base(path: Path) -> Path:
    """The base model folder a LoRA adapter was trained on (``base_model_name_or_path``)."""
    import json

    cfg = json.loads((path / "adapter_config.json").read_text())
    base = cfg.get("base_model_name_or_path")
    if not base or not Path(base).is_dir():
        return base_model_dir()
    return Path(base)


def load_model(path: str | Path, *, merge: bool = True, dtype: str = "float32") -> Any:
    """Load a checkpoint for inference; a LoRA adapter is applied to its base (and merged)."""
    import torch
    from transformers import AutoModelForCausalLM

    p = resolve_checkpoint(path)
    torch_dtype = getattr(torch, dtype)
    if is_adapter(p):
        from peft import PeftModel

        parent = p / "parent_adapter.txt"
        if parent.exists():
            # An adapter trained on top of an earlier (merged) adapter: rebuild that chain first.
            base = load_model(parent.read_text().strip(), merge=True, dtype=dtype)
        else:
            base = AutoModelForCausalLM.from_pretrained(str(adapter_base(p)), dtype=torch_dtype)
        model = PeftModel.from_pretrained(base, str(p))
        if merge:
            model = model.merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(str(p), dtype=torch_dtype)
    model.eval()
    return model


class TransformersPolicy:
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

    @property
    def supports_logprobs(self) -> bool:
        return True

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
