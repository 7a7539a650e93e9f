"""Batched decoding for ``LlamaCppPolicy``: one worker thread per model and a multi-sequence engine.

``Scheduler`` owns everything that touches the model's llama.cpp state. Callers submit *groups*
of requests (one ``complete_many`` call) from any thread or event loop and get a future back; the
worker admits their requests into an engine and steps it. Reproducible runs are arbitrated here
too (``acquire`` / ``release``): a run that holds the model waits until nothing else is in
flight, starts from a clean state, and while it holds the model only its own groups are admitted,
one group at a time, so what each decode step contains depends on the run's calls alone, never on
timing (llama.cpp's numerics depend on what shares a batch and the KV cache).

``BatchEngine`` decodes many sequences per ``llama_decode`` on a second llama.cpp context made
with ``n_seq_max`` and one unified KV cache:

* each request's prompt, but for its last token, is evaluated once into a *prompt sequence*,
  starting from the longest prefix already in the KV cache (another in-flight prompt, by
  ``llama_memory_seq_cp``) or in the snapshot cache (``llama_state_seq_set_data``);
* each of its ``n`` completions forks the prompt sequence by sequence copy and feeds the last
  prompt token itself, so every completion has its own logits row from the first step on;
* every step decodes one token of every generating sequence plus a chunk of pending prompt
  tokens, so requests that arrive while others decode join the running batch (continuous
  batching);
* each sequence has its own sampler chain and seed, stop strings, eos and logprobs (``Decoding``,
  shared with the sequential path); one that stops frees its slot and KV cells at once.

Capacity is bounded twice: at most ``n_parallel`` requests in flight and ``n_parallel`` sequences
generating (2 cores gain little past 8), and KV cells are reserved before use (a prompt's tokens
plus ``max_tokens + 1`` per generating sequence), so a decode never runs out of cells and memory
stays at the context's fixed size.

This module does not load models, render prompts or count usage: ``LlamaCppPolicy`` does.
"""

from __future__ import annotations

import ctypes
import heapq
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from ..errors import BackendError
from .base import Completion, CompletionRequest

if TYPE_CHECKING:
    from .llamacpp import Decoding, LlamaCppPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")


# ---- groups and jobs ---------------------------------------------------------------------------


class Group:
    """The requests of one ``complete_many`` call, the future their results resolve, and
    ``stopped``, resolved once the worker holds none of its work (after ``future`` is done:
    finished, failed or cancelled)."""

    def __init__(self, requests: Sequence[CompletionRequest], key: object | None) -> None:
        self.key = key
        self.future: Future[list[list[Completion]]] = Future()
        self.stopped: Future[None] = Future()
        self.results: list[list[Completion]] = [[] for _ in requests]
        self.jobs = [Job(self, i, r) for i, r in enumerate(requests)]
        self.left = len(self.jobs)
        if not self.jobs:
            self.future.set_result([])


class Job:
    """One request of a group. ``prompt`` / ``tokens`` are filled in by the worker."""

    __slots__ = ("group", "index", "prompt", "request", "tokens")

    def __init__(self, group: Group, index: int, request: CompletionRequest) -> None:
        self.group = group
        self.index = index
        self.request = request
        self.prompt: str | None = None
        self.tokens: np.ndarray | None = None

    @property
    def dead(self) -> bool:
        """Its caller gave up (cancelled) or a sibling failed: no one reads its result."""
        return self.group.future.done()

    def finish(self, completions: list[Completion]) -> None:
        g = self.group
        g.results[self.index] = completions
        g.left -= 1
        if g.left == 0:
            _settle(g.future, result=g.results)

    def fail(self, exc: BaseException) -> None:
        _settle(self.group.future, exc=exc)


def _settle(fut: Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    # The caller may have cancelled the future a moment ago (a client gone, a timeout).
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
    except InvalidStateError:
        pass


class Engine(Protocol):
    """What the scheduler drives: the batched engine, or the sequential one (today's path)."""

    def busy(self) -> bool: ...
    def holds(self, group: Group) -> bool: ...
    def interrupt(self) -> None:
        """Called from any thread when a caller gives up: stop a decode under way if no one
        wants its result any more."""
        ...

    def can_admit(self, job: Job) -> bool: ...
    def admit(self, job: Job) -> None: ...
    def step(self) -> None: ...
    def fail_all(self, exc: BaseException) -> None: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


# ---- the scheduler -----------------------------------------------------------------------------


class Scheduler:
    """The worker thread of one model: admission, reproducible-run exclusivity, stepping."""

    def __init__(self, engine: Engine, prepare: Callable[[Job], None], *, name: str) -> None:
        self._engine = engine
        self._prepare = prepare
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._acquires: deque[tuple[object, Future[None]]] = deque()
        self._calls: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._running: set[Group] = set()
        self._ending: list[Group] = []  # done, ``stopped`` not yet settled
        self._closing = False
        self.owner: object | None = None
        self._thread = threading.Thread(target=self._loop, name=f"o1agent-llamacpp:{name}", daemon=True)
        self._thread.start()

    # -- called from any thread ---------------------------------------------------------------

    def submit(self, requests: Sequence[CompletionRequest], key: object | None) -> Group:
        """Queue one group; cancelling its ``future`` drops its work (see ``Group.stopped``)."""
        group = Group(requests, key)
        with self._cond:
            if self._closing:
                _settle(group.future, exc=BackendError("the model was closed"))
                _settle(group.stopped)
                return group
            self._queue.extend(group.jobs)
            self._cond.notify()
        group.future.add_done_callback(partial(self._on_done, group))
        return group

    def _on_done(self, group: Group, fut: Future[Any]) -> None:
        if fut.cancelled():  # from the caller's thread: a decode under way may stop at once
            self._engine.interrupt()
        with self._cond:  # the worker settles ``stopped`` once the engine has let go
            self._ending.append(group)
            self._cond.notify()

    def acquire(self, key: object) -> Future[None]:
        """Resolves once ``key`` holds the model: nothing else in flight, state reset."""
        fut: Future[None] = Future()
        with self._cond:
            if self._closing:
                _settle(fut, exc=BackendError("the model was closed"))
            else:
                self._acquires.append((key, fut))
                self._cond.notify()
        return fut

    def release(self, key: object) -> None:
        """End ``key``'s hold, or withdraw its pending ``acquire``."""
        with self._cond:
            self._acquires = deque((k, f) for k, f in self._acquires if k is not key)
            if self.owner is key:
                self.owner = None
            self._cond.notify()

    def call(self, fn: Callable[[], T]) -> T | None:
        """Run ``fn`` on the worker once nothing is decoding (``reset``); ``None`` if closed."""
        fut: Future[T] = Future()
        with self._cond:
            if self._closing:
                return None
            self._calls.append((fn, fut))
            self._cond.notify()
        return fut.result()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    # -- the worker ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                task = self._next_task_locked()
            if task is None:
                return
            # Outside the lock: submitters never wait on a decode.
            task()

    def _next_task_locked(self) -> Callable[[], None] | None:
        while True:
            if self._closing:
                self._shutdown_locked()
                return None
            self._admit_locked()
            for g in [g for g in self._ending if not self._engine.holds(g)]:
                self._ending.remove(g)
                _settle(g.stopped)
            if self._engine.busy():
                return self._step
            if self._calls:
                fn, fut = self._calls.popleft()
                return partial(_run_call, fn, fut)
            if self.owner is None and self._acquires:
                key, fut = self._acquires.popleft()
                if fut.cancelled():
                    continue
                self.owner = key
                return partial(self._grant, fut)
            self._cond.wait()

    def _step(self) -> None:
        try:
            self._engine.step()
        except Exception as exc:  # a bug or a broken context: fail the calls in flight, keep serving
            logger.exception("llama.cpp decoding failed; failing the requests in flight")
            self._engine.fail_all(BackendError(f"llama.cpp decoding failed: {type(exc).__name__}: {exc}"))
        self._running = {g for g in self._running if g.left > 0 and not g.future.done()}

    def _grant(self, fut: Future[None]) -> None:
        self._engine.reset()
        _settle(fut)

    def _admit_locked(self) -> None:
        """Move queued jobs into the engine: FIFO; while a reproducible run holds the model, only
        its jobs, one group at a time; while one waits for it, none (the engine drains)."""
        if self.owner is None and self._acquires:
            return
        self._running = {g for g in self._running if g.left > 0 and not g.future.done()}
        for job in list(self._queue):
            if job.dead:
                self._queue.remove(job)
                continue
            if self.owner is not None:
                if job.group.key is not self.owner:
                    continue
                if self._running - {job.group}:
                    break
            if job.tokens is None:
                try:
                    self._prepare(job)
                except Exception as exc:  # a prompt too long for the context, an empty prompt
                    self._queue.remove(job)
                    job.fail(exc)
                    continue
            if not self._engine.can_admit(job):
                break
            self._queue.remove(job)
            self._running.add(job.group)
            self._engine.admit(job)

    def _shutdown_locked(self) -> None:
        closed = BackendError("the model was closed")
        for job in self._queue:
            job.fail(closed)
        self._queue.clear()
        for _, fut in self._acquires:
            _settle(fut, exc=closed)
        self._acquires.clear()
        for _, fut in self._calls:
            _settle(fut)
        self._calls.clear()
        self._engine.fail_all(closed)
        self._engine.close()
        for g in self._ending:
            _settle(g.stopped)
        self._ending.clear()


def _run_call(fn: Callable[[], Any], fut: Future[Any]) -> None:
    try:
        _settle(fut, result=fn())
    except Exception as exc:
        _settle(fut, exc=exc)


# ---- the batched engine ------------------------------------------------------------------------


@dataclass(eq=False)
class _Prompt:
    """An admitted request: its prompt sequence and its completions."""

    job: Job
    tokens: np.ndarray
    sid: int
    reuse: int
    t0: float
    fed: int = 0  # prompt positions in the KV cache (the last prompt token is never fed here)
    pending: list[int] = field(default_factory=list)  # completion indices not started yet
    running: int = 0
    holds_first: bool = True  # the cells of its first sequence are reserved with the prompt
    # A prompt admitted with one that shares a longer prefix but has not evaluated it yet waits
    # for it (``share`` tokens) and copies them, instead of evaluating them a second time.
    parent: _Prompt | None = None
    share: int = 0
    results: list[Completion | None] = field(default_factory=list)

    @property
    def limit(self) -> int:
        return len(self.tokens) - 1

    @property
    def ready(self) -> bool:
        return self.parent is None and self.fed >= self.limit


@dataclass(eq=False)
class _Sequence:
    """One completion being generated in its own KV sequence."""

    prompt: _Prompt
    index: int
    sid: int
    sampler: Any
    decoding: Decoding
    seed: int | None
    token: int
    pos: int


class BatchEngine:
    """Multi-sequence decoding on a second llama.cpp context (see the module docstring)."""

    def __init__(self, policy: LlamaCppPolicy, *, n_parallel: int, n_cells: int, n_threads: int) -> None:
        lc: Any = policy._llama_cpp
        model = policy._llm._model.model
        if lc.llama_model_is_recurrent(model) or lc.llama_model_is_hybrid(model):
            raise BackendError("the model keeps a recurrent state, so a sequence copy is not a prefix fork")
        n_seq = min(2 * n_parallel, int(lc.llama_max_parallel_sequences()))
        if n_seq < 2:
            raise BackendError("this llama.cpp build cannot hold two sequences")
        self.n_parallel = n_seq // 2  # one prompt sequence and one generating sequence each
        self.n_batch = 512
        params = lc.llama_context_default_params()
        params.n_ctx = n_cells
        params.n_batch = params.n_ubatch = self.n_batch
        params.n_seq_max = n_seq
        params.n_threads = params.n_threads_batch = n_threads
        # One pool of cells for every sequence: a prefix copied to a fork is shared, not copied.
        params.kv_unified = True
        # Flash attention skips the cells other sequences hold; without it every sequence's
        # attention spans the whole unified cache (measured 5-10x slower steps at 8 sequences).
        params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
        params.no_perf = True
        ctx = lc.llama_init_from_model(model, params)
        if not ctx:
            raise BackendError(f"llama.cpp could not create a context for {n_seq} sequences")
        self._lc = lc
        self._policy = policy
        self._ctx = ctx
        self._mem = lc.llama_get_memory(ctx)
        self.n_cells = int(lc.llama_n_ctx(ctx))
        self._batch = lc.llama_batch_init(self.n_batch, 0, 1)
        self._n_seq = n_seq
        self._ids = list(range(n_seq))
        self._prompts: list[_Prompt] = []
        self._seqs: list[_Sequence] = []
        self._reserved = 0
        from .llamacpp import AbortFlag

        self._abort = AbortFlag(lc, ctx)
        # For benchmarks and tests: steps decoded, sequences per step at most, cells reserved now.
        self.steps = 0
        self.peak_sequences = 0

    # -- admission -----------------------------------------------------------------------------

    def busy(self) -> bool:
        return bool(self._prompts)

    def holds(self, group: Group) -> bool:
        return any(p.job.group is group for p in self._prompts)

    def interrupt(self) -> None:
        # Abort the decode under way only when every request in it was given up: the others'
        # tokens would be lost with it (the caller that left is dropped at the next step).
        prompts = list(self._prompts)
        if prompts and all(p.job.dead for p in prompts):
            self._abort.set()

    def _cells_for(self, job: Job) -> int:
        assert job.tokens is not None
        return len(job.tokens) + job.request.max_tokens + 1

    def can_admit(self, job: Job) -> bool:
        if not self._prompts:
            return True  # the policy checked that one request fits the context
        return len(self._prompts) < self.n_parallel and self._reserved + self._cells_for(job) <= self.n_cells

    def admit(self, job: Job) -> None:
        assert job.tokens is not None
        tokens = job.tokens
        req = job.request
        sid = heapq.heappop(self._ids)
        limit = len(tokens) - 1
        reuse, parent, share = self._fork_prefix(tokens, limit, sid)
        p = _Prompt(job, tokens, sid, reuse, time.perf_counter(), fed=reuse, parent=parent, share=share)
        p.pending = list(range(req.n))
        p.results = [None] * req.n
        self._reserved += self._cells_for(job)
        self._prompts.append(p)

    def _fork_prefix(self, tokens: np.ndarray, limit: int, sid: int) -> tuple[int, _Prompt | None, int]:
        """Fill sequence ``sid`` with the longest known prefix of ``tokens[:limit]``: from a prompt
        in flight (a sequence copy, no bytes moved) or from a snapshot. Returns its length, and
        the prompt in flight to wait for when that one will hold a longer prefix once evaluated
        (with the length to copy from it then)."""
        from .llamacpp import common_prefix

        best, src = 0, -1
        later, share = None, 0
        for p in self._prompts:
            whole = common_prefix(p.tokens[: p.limit], tokens[:limit])
            now = min(whole, p.fed)
            if now > best:
                best, src = now, p.sid
            if whole > share:
                later, share = p, whole
        snap = self._policy.cache.longest_prefix(tokens[:limit])
        if later is not None and share > max(best, len(snap.tokens) if snap is not None else 0):
            return 0, later, share
        if snap is not None and len(snap.tokens) > best:
            buf = (ctypes.c_uint8 * len(snap.data)).from_buffer_copy(snap.data)
            if self._lc.llama_state_seq_set_data(self._ctx, buf, len(snap.data), sid) == len(snap.data):
                return len(snap.tokens), None, 0
            logger.debug("llama.cpp refused a sequence snapshot; evaluating the prompt instead")
            self._lc.llama_memory_seq_rm(self._mem, sid, -1, -1)
        if best > 0:
            self._lc.llama_memory_seq_cp(self._mem, src, sid, 0, best)
        return best, None, 0

    def _join_parents(self) -> None:
        """Prompts waiting on a shared prefix copy it once their parent has evaluated it."""
        for p in self._prompts:
            parent = p.parent
            if parent is None:
                continue
            if parent not in self._prompts:  # the parent's caller gave up: evaluate it ourselves
                p.parent = None
            elif parent.fed >= p.share and parent.parent is None:
                self._lc.llama_memory_seq_cp(self._mem, parent.sid, p.sid, 0, p.share)
                p.fed = p.reuse = p.share
                p.parent = None

    def _start_sequences(self) -> None:
        from .llamacpp import make_sampler

        policy = self._policy
        for p in self._prompts:
            if not p.ready or not p.pending:
                continue
            req = p.job.request
            while p.pending and len(self._seqs) < self.n_parallel:
                need = 0 if p.holds_first else req.max_tokens + 1
                if self._reserved + need > self.n_cells:
                    return  # in order: later prompts wait too, so the first one is never starved
                self._reserved += need
                p.holds_first = False
                i = p.pending.pop(0)
                sid = heapq.heappop(self._ids)
                self._lc.llama_memory_seq_cp(self._mem, p.sid, sid, -1, -1)
                seed = (req.seed + i) if req.seed is not None else None
                sampler = make_sampler(
                    self._lc,
                    req,
                    seed if seed is not None else secrets.randbelow(2**31),
                    policy.top_k,
                    policy.min_p,
                )
                s = _Sequence(p, i, sid, sampler, policy.decoding(req), seed, int(p.tokens[-1]), p.limit)
                self._seqs.append(s)
                p.running += 1
        self.peak_sequences = max(self.peak_sequences, len(self._seqs))

    # -- one decode step -----------------------------------------------------------------------

    def step(self) -> None:
        lc, b = self._lc, self._batch
        self._drop_dead()
        self._join_parents()
        self._start_sequences()
        n = 0
        for s in self._seqs:  # one token per generating sequence, each with its logits
            b.token[n], b.pos[n], b.n_seq_id[n], b.seq_id[n][0], b.logits[n] = s.token, s.pos, 1, s.sid, 1
            n += 1
        generating = n
        fed: list[tuple[_Prompt, int]] = []
        for p in self._prompts:  # then prompt tokens, in admission order, as room allows
            room = self.n_batch - n
            if p.ready or p.parent is not None or room <= 0:
                continue
            end = min(p.limit, p.fed + room)
            for pos in range(p.fed, end):
                b.token[n], b.pos[n], b.n_seq_id[n], b.seq_id[n][0], b.logits[n] = (
                    int(p.tokens[pos]),
                    pos,
                    1,
                    p.sid,
                    0,
                )
                n += 1
            fed.append((p, end))
        if n == 0:
            self._finish_idle_prompts()
            return
        b.n_tokens = n
        # Clear a stop meant for an earlier step, then look: a cancel after this line sets the
        # flag again (see interrupt), one before it is seen here.
        self._abort.clear()
        if all(p.job.dead for p in self._prompts):
            return  # dropped at the next step
        rc = lc.llama_decode(self._ctx, b)
        if rc == 2 and all(p.job.dead for p in self._prompts):
            # Aborted: llama.cpp removed the batch's positions from the KV cache, so nothing
            # advanced; the next step drops the dead requests' sequences.
            return
        if rc != 0:
            self.fail_all(
                BackendError(f"llama.cpp could not decode a batch of {n} tokens (llama_decode: {rc})")
            )
            return
        self.steps += 1
        for p, end in fed:
            p.fed = end
        policy = self._policy
        for j, s in enumerate(self._seqs[:generating]):
            row = (
                policy.logprob_row(lc.llama_get_logits_ith(self._ctx, j))
                if s.decoding.request.logprobs
                else None
            )
            tok = int(lc.llama_sampler_sample(s.sampler, self._ctx, j))
            if s.decoding.push(tok, row):
                s.pos = -1  # ended: removed below, after every sequence of this step sampled
            else:
                s.token = tok
                s.pos += 1
        for s in [s for s in self._seqs if s.pos < 0]:
            self._end_sequence(s)
        self._finish_idle_prompts()

    def _end_sequence(self, s: _Sequence) -> None:
        """A completion ended: free its slot and cells now, record its result."""
        lc = self._lc
        lc.llama_memory_seq_rm(self._mem, s.sid, -1, -1)
        lc.llama_sampler_free(s.sampler)
        heapq.heappush(self._ids, s.sid)
        self._seqs.remove(s)
        p = s.prompt
        req = p.job.request
        self._reserved -= req.max_tokens + 1
        p.running -= 1
        first = s.index == 0
        L = len(p.tokens)
        p.results[s.index] = self._policy.record_completion(
            s.decoding,
            prompt=p.job.prompt or "",
            prompt_tokens=L,
            reused=p.reuse if first else L - 1,
            first=first,
            seconds=time.perf_counter() - p.t0,
            seed=s.seed,
        )

    def _finish_idle_prompts(self) -> None:
        for p in [p for p in self._prompts if p.ready and not p.pending and p.running == 0]:
            self._end_prompt(p, deliver=True)

    def _end_prompt(self, p: _Prompt, *, deliver: bool) -> None:
        policy = self._policy
        if deliver and len(p.tokens) >= policy.min_snapshot_tokens and p.limit > p.reuse:
            # Kept for prompts that extend this one later (a child step, a judge of a sibling).
            lc = self._lc
            size = int(lc.llama_state_seq_get_size(self._ctx, p.sid))
            buf = (ctypes.c_uint8 * size)()
            got = int(lc.llama_state_seq_get_data(self._ctx, buf, size, p.sid))
            policy.cache.put(p.tokens[: p.limit], ctypes.string_at(buf, got))
        self._lc.llama_memory_seq_rm(self._mem, p.sid, -1, -1)
        heapq.heappush(self._ids, p.sid)
        self._prompts.remove(p)
        self._reserved -= len(p.tokens) + (p.job.request.max_tokens + 1 if p.holds_first else 0)
        if deliver:
            p.job.finish([c for c in p.results if c is not None])

    def _drop_dead(self) -> None:
        """Forget the work of callers that gave up (their slots serve the others)."""
        for s in [s for s in self._seqs if s.prompt.job.dead]:
            self._lc.llama_memory_seq_rm(self._mem, s.sid, -1, -1)
            self._lc.llama_sampler_free(s.sampler)
            heapq.heappush(self._ids, s.sid)
            self._seqs.remove(s)
            self._reserved -= s.prompt.job.request.max_tokens + 1
            s.prompt.running -= 1
        for p in [p for p in self._prompts if p.job.dead]:
            self._end_prompt(p, deliver=False)

    # -- state ---------------------------------------------------------------------------------

    def fail_all(self, exc: BaseException) -> None:
        for p in list(self._prompts):
            p.job.fail(exc)
        self._drop_dead()
        self._clear()

    def _clear(self) -> None:
        for s in self._seqs:
            self._lc.llama_sampler_free(s.sampler)
        self._seqs.clear()
        self._prompts.clear()
        self._reserved = 0
        self._ids = list(range(self._n_seq))
        self._lc.llama_memory_clear(self._mem, True)

    def reset(self) -> None:
        """An empty KV cache and no snapshots: the same calls then decode the same way."""
        self._clear()
        self._policy.cache.clear()

    def close(self) -> None:
        if self._ctx is None:
            return
        self._clear()
        self._lc.llama_batch_free(self._batch)
        self._lc.llama_free(self._ctx)
        self._ctx = None
