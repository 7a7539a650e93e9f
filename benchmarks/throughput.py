"""Throughput on the embedded model: o1agent's search against raw llama-cpp-python, and batched
decoding against one sequence at a time.

**Search vs raw.** A beam search (width 3, k 3, depth 4, LLM judge) runs through o1agent; every prompt it sent and
the number of tokens generated for it are recorded. Then raw llama-cpp-python
(``Llama.create_completion``, greedy, its own automatic prefix reuse only) generates exactly the
same number of tokens for the same prompts in the same process. Runs alternate
(search, raw, search, raw, ...) because these machines are noisy; tokens/s count completion
tokens. The last line is ``search_over_raw_tok_s: X`` (target ≥ 0.9): above 1 means o1agent's
prefix snapshots save more than its framework costs.

**Batched vs sequential** (``--only batching``: these figures alone, ~3 minutes on 2 cores). Two
embedded policies are loaded, ``batch=True`` (the default) and ``batch=False`` (one sequence at a
time, the path before batching); every ratio is measured within one run, the two alternating:

* ``batched_over_sequential_tok_s_k{1,2,4,8}``: k different prompts, greedy, 48 new tokens each;
  one ``complete_many`` of the k requests against k ``complete`` calls in turn, from a reset cache
  (prompt evaluation included in both). Beside each, ``raw_llama_decode_ceiling_k*``: raw
  ``llama_decode`` of k sequences one token each per step against one sequence, same context
  settings, no Python per token — what batching could give at most here. At k=1 nothing is
  batched: that ratio is what the batched engine's leaner per-token loop gives on its own
  (``Llama``'s generate loop does more Python per token).
* ``best_of_n4_wall_ratio`` / ``beam_w3k2_wall_ratio``: wall time of seeded ``solve`` calls with
  batching ÷ without (no reward model, so generation is what is timed), summed over three
  questions; ``*_s_per_token_ratio`` is the same per completion token, since the two paths'
  numerics differ and their chains need not have the same length.
* ``server_throughput_ratio_8_clients``: 8 clients at once, each sending an unseeded greedy
  request to ``o1agent serve``'s app on loopback; completed requests per minute, batched ÷ not.

The load average is printed first: other processes on these shared cores move every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time

from _common import QUESTIONS, Recording, search_strategy

from o1agent import Budget, Reasoner
from o1agent.policies.base import CompletionRequest, Message
from o1agent.policies.llamacpp import LlamaCppPolicy, embedded_model_path

ROUNDS = 3
# The one-solve wall ratios solve each of these both ways.
SOLVE_QUESTIONS = [*QUESTIONS, "A box holds 6 eggs. How many eggs are in 5 boxes?"]


def run_search(rec: Recording) -> tuple[float, int, list[tuple[str, list[int], float]]]:
    name, cfg = search_strategy()
    rec.calls.clear()
    t0 = time.perf_counter()
    tokens = 0
    for q in QUESTIONS:
        r = Reasoner(
            model=rec,
            strategy=name,
            strategy_config=cfg,
            budget=Budget(max_tokens=20000, max_nodes=60),
            seed=0,
        )
        res = asyncio.run(r.asolve(q))
        tokens += res.usage.completion_tokens
    return time.perf_counter() - t0, tokens, list(rec.calls)


def run_raw(llm, calls: list[tuple[str, list[int], float]]) -> tuple[float, int]:
    llm.reset()
    t0 = time.perf_counter()
    tokens = 0
    for prompt, counts, _temp in calls:
        for n in counts:
            if n == 0:
                continue
            out = llm.create_completion(prompt, max_tokens=n, temperature=0.0, repeat_penalty=1.0)
            tokens += out["usage"]["completion_tokens"]
    return time.perf_counter() - t0, tokens


def search_over_raw() -> None:
    import llama_cpp

    rec = Recording(LlamaCppPolicy("embedded"))
    llm = llama_cpp.Llama(model_path=str(embedded_model_path()), n_ctx=4096, n_threads=2, verbose=False)
    ratios = []
    for i in range(ROUNDS):
        s_time, s_tok, calls = run_search(rec)
        r_time, r_tok = run_raw(llm, calls)
        s_rate, r_rate = s_tok / s_time, r_tok / r_time
        ratios.append(s_rate / r_rate)
        print(
            f"round {i}: search {s_tok} tok in {s_time:.1f}s = {s_rate:.1f} tok/s; "
            f"raw {r_tok} tok in {r_time:.1f}s = {r_rate:.1f} tok/s; ratio {s_rate / r_rate:.2f}",
            file=sys.stderr,
        )
    print(f"strategy: {search_strategy()[0]}")
    print(f"rounds: {ROUNDS}")
    print(f"search_over_raw_tok_s: {statistics.median(ratios):.3f}")


# ---- batched vs sequential ----------------------------------------------------------------------

STORY = [
    "a fox who learns to sail",
    "a robot who plants a garden",
    "a girl who maps the stars",
    "an old baker and a lost cat",
    "a town where it never rains",
    "a boy who builds a kite",
    "a whale who sings to ships",
    "a clock that runs backwards",
]
NEW_TOKENS = 48


def _requests(k: int) -> list[CompletionRequest]:
    return [
        CompletionRequest(
            messages=[Message(role="user", content=f"Write a long story about {STORY[i]}.")],
            max_tokens=NEW_TOKENS,
            temperature=0.0,
        )
        for i in range(k)
    ]


async def _decode_tok_s(policy: LlamaCppPolicy, k: int, *, batched: bool) -> float:
    policy.reset()
    reqs = _requests(k)
    t0 = time.perf_counter()
    if batched:
        outs = await policy.complete_many(reqs)
    else:
        outs = [await policy.complete(r) for r in reqs]
    wall = time.perf_counter() - t0
    return sum(c.completion_tokens for o in outs for c in o) / wall


def raw_decode_tok_s(policy: LlamaCppPolicy, k: int, steps: int = 32) -> float:
    """Aggregate tokens/s of raw ``llama_decode`` on k sequences (one token each per step), on a
    context set up as the batched engine's (unified KV cache, flash attention, same threads)."""
    import llama_cpp as lc

    params = lc.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch, params.n_seq_max = 1024, 512, 512, max(k, 1)
    params.n_threads = params.n_threads_batch = policy._threads
    params.kv_unified = True
    params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
    ctx = lc.llama_init_from_model(policy._llm._model.model, params)
    batch = lc.llama_batch_init(512, 0, 1)
    try:
        prompt = policy.tokenize(policy.render(_requests(1)[0]))
        for i, tok in enumerate(prompt):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.seq_id[i][0] = tok, i, 1, 0
            batch.logits[i] = i == len(prompt) - 1
        batch.n_tokens = len(prompt)
        assert lc.llama_decode(ctx, batch) == 0
        mem = lc.llama_get_memory(ctx)
        for s in range(1, k):
            lc.llama_memory_seq_cp(mem, 0, s, -1, -1)
        t0 = time.perf_counter()
        for step in range(steps):
            for s in range(k):
                batch.token[s], batch.pos[s], batch.n_seq_id[s], batch.seq_id[s][0] = (
                    1000 + s,
                    len(prompt) + step,
                    1,
                    s,
                )
                batch.logits[s] = 1
            batch.n_tokens = k
            assert lc.llama_decode(ctx, batch) == 0
            for s in range(k):  # reading each row, as sampling does
                _ = lc.llama_get_logits_ith(ctx, s)[0]
        return k * steps / (time.perf_counter() - t0)
    finally:
        lc.llama_batch_free(batch)
        lc.llama_free(ctx)


def _solve_wall(policy: LlamaCppPolicy, strategy: str, cfg: dict, question: str) -> tuple[float, int]:
    """Wall seconds and completion tokens of one seeded ``solve``."""
    r = Reasoner(
        model=policy,
        strategy=strategy,
        strategy_config=cfg,
        reward=None,
        budget=Budget(max_tokens=6000, max_nodes=40),
        seed=0,
    )
    t0 = time.perf_counter()
    res = r.solve(question)
    return time.perf_counter() - t0, res.usage.completion_tokens


def _server_wall(policy: LlamaCppPolicy, clients: int = 8, each: int = 1) -> float:
    import httpx

    from o1agent.server import ReasonerPool, create_app, serve_in_thread

    pool = ReasonerPool(strategy="greedy", reward="none", budget=Budget(max_tokens=1000, max_nodes=4))
    pool.add("embedded", policy)
    app = create_app(pool, models=["embedded"])
    failures: list[str] = []

    def client(c: int) -> None:
        with httpx.Client(timeout=600) as http:
            for j in range(each):
                i = c * each + j
                r = http.post(
                    f"{base}/chat/completions",
                    json={
                        "model": "embedded",
                        "messages": [{"role": "user", "content": f"What is {i} + {i + 3}?"}],
                        "strategy_config": {"step_tokens": 48, "max_depth": 2},
                    },
                )
                if r.status_code != 200:
                    failures.append(f"{r.status_code}: {r.text[:200]}")

    with serve_in_thread(app) as base:
        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"server requests failed: {failures[:3]}")
    return wall


def batching(threads: int | None) -> None:
    print(f"load_average_1min: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    batched = LlamaCppPolicy("embedded", n_threads=threads)
    sequential = LlamaCppPolicy("embedded", n_threads=threads, batch=False)
    assert batched.batched and not sequential.batched
    print(f"threads: {batched._threads}", file=sys.stderr)
    figures: dict[str, float] = {}
    raw_decode_tok_s(batched, 1, steps=8)  # warm-up
    for k in (1, 2, 4, 8):  # k=1: what the leaner per-token loop alone gives
        ratios, ceilings = [], []
        for _ in range(2):  # alternate, twice: the machine's load drifts
            seq = asyncio.run(_decode_tok_s(sequential, k, batched=False))
            bat = asyncio.run(_decode_tok_s(batched, k, batched=True))
            ratios.append(bat / seq)
            one = raw_decode_tok_s(batched, 1)
            many = raw_decode_tok_s(batched, k)
            ceilings.append(many / one)
            print(
                f"k={k}: batched {bat:.1f} tok/s, sequential {seq:.1f} tok/s; "
                f"raw llama_decode {many:.1f} tok/s vs {one:.1f} for one sequence",
                file=sys.stderr,
            )
        figures[f"batched_over_sequential_tok_s_k{k}"] = statistics.median(ratios)
        figures[f"raw_llama_decode_ceiling_k{k}"] = statistics.median(ceilings)
    for name, strategy, cfg in (
        ("best_of_n4_wall_ratio", "best_of_n", {"n": 4, "max_depth": 3}),
        ("beam_w3k2_wall_ratio", "beam", {"width": 3, "k": 2, "max_depth": 3}),
    ):
        # Three questions, each solved both ways back to back: one solve is a few seconds, and the
        # two paths' numerics differ, so a single pair can compare chains of different lengths.
        seq_s = bat_s = 0.0
        seq_tok = bat_tok = 0
        for q in SOLVE_QUESTIONS:
            s_w, s_t = _solve_wall(sequential, strategy, cfg, q)
            b_w, b_t = _solve_wall(batched, strategy, cfg, q)
            seq_s, seq_tok, bat_s, bat_tok = seq_s + s_w, seq_tok + s_t, bat_s + b_w, bat_tok + b_t
        print(
            f"{strategy}, {len(SOLVE_QUESTIONS)} solves: batched {bat_s:.1f}s for {bat_tok} tokens, "
            f"sequential {seq_s:.1f}s for {seq_tok} tokens",
            file=sys.stderr,
        )
        figures[name] = bat_s / seq_s
        # The same per completion token: a ratio of work done, whatever lengths the chains took.
        figures[name.replace("_wall_ratio", "_s_per_token_ratio")] = (bat_s / bat_tok) / (seq_s / seq_tok)
    seq_w = _server_wall(sequential)
    bat_w = _server_wall(batched)
    print(f"server, 8 clients: batched {bat_w:.1f}s, sequential {seq_w:.1f}s", file=sys.stderr)
    figures["server_throughput_ratio_8_clients"] = seq_w / bat_w
    print(f"load_average_1min_after: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    batched.close()
    sequential.close()
    for name, value in figures.items():
        print(f"{name}: {value:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["search", "batching"], help="one part only (default: both)")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the policy's)")
    args = ap.parse_args()
    if args.only != "batching":
        search_over_raw()
    if args.only != "search":
        batching(args.threads)


if __name__ == "__main__":
    main()
