"""Search throughput on the embedded model vs raw llama-cpp-python doing the same generation.

A beam search (width 3, k 3, depth 4, LLM judge) runs through o1agent; every prompt it sent and
the number of tokens generated for it are recorded. Then raw llama-cpp-python
(``Llama.create_completion``, greedy, its own automatic prefix reuse only) generates exactly the
same number of tokens for the same prompts in the same process. Runs alternate
(search, raw, search, raw, ...) because these machines are noisy; tokens/s count completion
tokens. The last line is ``search_over_raw_tok_s: X`` (target ≥ 0.9): above 1 means o1agent's
prefix snapshots save more than its framework costs.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from _common import QUESTIONS, Recording, search_strategy

from o1agent import Budget, Reasoner
from o1agent.policies.llamacpp import LlamaCppPolicy, embedded_model_path

ROUNDS = 3


def run_search(rec: Recording) -> tuple[float, int, list[tuple[str, list[int], float]]]:
    name, cfg = search_strategy()
    rec.calls.clear()
    t0 = time.perf_counter()
    tokens = 0
    for q in QUESTIONS:
        r = Reasoner(model=rec, strategy=name, strategy_config=cfg, budget=Budget(max_tokens=20000, max_nodes=60), seed=0)
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


def main() -> None:
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


if __name__ == "__main__":
    main()
