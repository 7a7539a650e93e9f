"""How much prompt compute the embedded backend really spends on a tree search.

Beam search (width 3, 3 expansions per beam, depth 4) with the LLM judge on SmolLM2. Every prompt
the backend saw is recorded; the unique prompt tokens are the size of their token trie (a token
shared as a prefix by several prompts counts once). The last line is
``prompt_eval_over_unique: X`` = prompt tokens the backend evaluated ÷ unique prompt tokens
(target ≤ 1.3; 1.0 means every shared prefix was computed once). Without the snapshot cache and
prefix reuse, the same search is also run for comparison.
"""

from __future__ import annotations

import asyncio
import sys

from _common import QUESTIONS, Recording, search_strategy, unique_prompt_tokens

from o1agent import Budget, Reasoner
from o1agent.policies.llamacpp import LlamaCppPolicy


async def measure(cache_bytes: int) -> tuple[int, int, int, str]:
    base = LlamaCppPolicy("embedded", state_cache_bytes=cache_bytes)
    rec = Recording(base)
    name, cfg = search_strategy()
    evaluated = unique = prompt = 0
    for q in QUESTIONS:
        base.reset()
        before = base.stats()
        rec.calls.clear()
        r = Reasoner(model=rec, strategy=name, strategy_config=cfg, budget=Budget(max_tokens=20000, max_nodes=60), seed=0)
        await r.asolve(q)
        after = base.stats()
        evaluated += after["evaluated_prompt_tokens"] - before["evaluated_prompt_tokens"]
        prompt += after["prompt_tokens"] - before["prompt_tokens"]
        unique += unique_prompt_tokens(base, [c[0] for c in rec.calls])
    return evaluated, unique, prompt, name


def main() -> None:
    ev0, un0, _pr0, name = asyncio.run(measure(0))
    print(f"strategy: {name}; without snapshots: evaluated {ev0} / unique {un0} = {ev0 / un0:.2f}", file=sys.stderr)
    ev, un, pr, name = asyncio.run(measure(256 * 1024 * 1024))
    print(f"strategy: {name}")
    print(f"prompt_tokens_sent: {pr}")
    print(f"prompt_tokens_evaluated: {ev}")
    print(f"unique_prompt_tokens: {un}")
    print(f"without_snapshot_cache_ratio: {ev0 / un0:.3f}")
    print(f"prompt_eval_over_unique: {ev / un:.3f}")


if __name__ == "__main__":
    main()
