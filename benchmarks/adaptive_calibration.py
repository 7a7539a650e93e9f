"""Choose ``adaptive``'s settings on a dev seed by replaying a pool of samples it would have drawn.

Reads a ``deepconf`` run of ``o1agent eval`` (``traces/deepconf@B.jsonl`` and ``items.jsonl``:
n samples per item, each with its token confidences). The first two samples of such a run are
exactly ``adaptive``'s warm-up (same seeds: greedy, then the first sampled one); later samples
stand in for the later waves it would draw (same distribution, other seeds). For each setting
of ``confident`` and ``threshold`` the real ``Adaptive`` strategy decides, on growing prefixes of
each item's pool, whether to stop (``more`` = 0) and what to answer (``best``) — no logic is
re-implemented here. Printed: accuracy and mean samples per setting, beside self-consistency and
DeepConf over the whole pool (the gold answer only grades, after the decision).

    python benchmarks/adaptive_calibration.py runs/dev_products_a1 --budget 4096

Last lines: ``name: value`` for the setting with the fewest samples whose accuracy is within
``--slack`` of the best one's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from o1agent.schema import Trace, Tree
from o1agent.search import make_strategy
from o1agent.search.chains import normalize_answer


def prefix(tree: Tree, m: int) -> tuple[Tree, dict[str, Any]]:
    """The tree holding only the root's first ``m`` samples (and their chains), and the chain
    state ``adaptive`` would have after drawing them as a warm-up of 2 and waves of 1."""
    kids = tree.get(tree.root_id).children[:m]
    keep = {tree.root_id}
    chains: list[str] = []
    for k in kids:
        keep.add(k)
        node = tree.get(k)
        if node.status in ("duplicate", "failed"):
            continue
        tip = k
        while tree.get(tip).children:
            tip = tree.get(tip).children[0]
            keep.add(tip)
        chains.append(tip)
    nodes = {i: n for i, n in tree.nodes.items() if i in keep}
    nodes[tree.root_id] = nodes[tree.root_id].model_copy(update={"children": kids})
    sub = Tree(nodes=nodes, root_id=tree.root_id)
    # Sample i (from 0) came in wave 1 when it was one of the two warm-up samples, else in wave i.
    starts = [kids.index(tree.path(c)[0].id) for c in chains]
    wave_of = [1 if i < 2 else i for i in starts]
    state = {
        "started": True,
        "chains": chains,
        "wave_of": wave_of,
        "ended": [],
        "stopped": [],
        "drawn": m,
        "waves": 1 + max(0, m - 2),
    }
    return sub, state


def sample_tokens(tree: Tree, k: str) -> int:
    """Tokens one sample costs when drawn on its own: each of its steps' prompt and completion
    (a sampled root child carries no prompt tokens of its own in an n > 1 call: the greedy one's)."""
    root_prompt = max(tree.get(c).prompt_tokens for c in tree.get(tree.root_id).children)
    total, cur = 0, k
    while True:
        n = tree.get(cur)
        total += n.completion_tokens + (
            n.prompt_tokens or (root_prompt if n.parent_id == tree.root_id else 0)
        )
        if not n.children:
            return total
        cur = n.children[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="an `o1agent eval` output folder with a deepconf method")
    ap.add_argument("--budget", type=int, default=4096)
    ap.add_argument("--method", default="deepconf")
    ap.add_argument("--confident", default="none,4,5,6,7,8")
    ap.add_argument("--threshold", default="0.8,0.9,0.95")
    ap.add_argument("--slack", type=float, default=0.0, help="accuracy a cheaper setting may give up")
    args = ap.parse_args()

    rows = [json.loads(line) for line in (args.run / "items.jsonl").read_text().splitlines()]
    gold = {
        r["trace_id"]: r["gold"]
        for r in rows
        if r["strategy"] == args.method and r["max_tokens"] == args.budget
    }
    trace = Trace.read_jsonl(args.run / "traces" / f"{args.method}@{args.budget}.jsonl")
    trees = {rid: trace.tree(rid) for rid in trace.run_ids() if rid in gold}

    def right(answer: str | None, rid: str) -> bool:
        return answer is not None and normalize_answer(answer) == normalize_answer(gold[rid])

    pool = max(len(t.get(t.root_id).children) for t in trees.values())
    print(f"{len(trees)} items, pools of {pool} samples")
    # The first k samples of the pool are exactly what an n=k run draws (same seeds), so these
    # are the fixed-n baselines at k, re-voted.
    for k in sorted({2, 4, pool}):
        cut = {rid: prefix(t, k) for rid, t in trees.items()}
        toks = sum(sum(sample_tokens(t, c) for c in t.get(t.root_id).children[:k]) for t in trees.values())
        for name, strat in (
            (f"self_consistency@{k}", make_strategy("best_of_n", n=k, select_by="majority")),
            (f"deepconf@{k}", make_strategy("deepconf", n=k)),
        ):
            hits = sum(right(c.answer if (c := strat.best(*cut[rid])) else None, rid) for rid in trees)
            print(f"{name:34} accuracy {hits / len(trees):.3f}  samples {k}  ~tokens {toks / len(trees):.0f}")

    results = []
    for conf_text in args.confident.split(","):
        confident = None if conf_text.strip() == "none" else float(conf_text)
        for thr in (float(t) for t in args.threshold.split(",")):
            ad = make_strategy("adaptive", confident=confident, threshold=thr, max_samples=pool)
            correct = samples = tokens = 0
            for rid, tree in trees.items():
                n_kids = len(tree.get(tree.root_id).children)
                m = min(2, n_kids)
                while True:
                    sub, st = prefix(tree, m)
                    if m >= n_kids or ad.more(sub, st) == 0:
                        break
                    m += 1
                choice = ad.best(sub, st)
                correct += right(choice.answer if choice else None, rid)
                samples += m
                tokens += sum(sample_tokens(tree, k) for k in tree.get(tree.root_id).children[:m])
            acc, mean_s, mean_t = correct / len(trees), samples / len(trees), tokens / len(trees)
            results.append((acc, mean_s, mean_t, confident, thr))
            print(
                f"adaptive confident={confident!s:5} threshold={thr:<5} accuracy {acc:.3f}  samples {mean_s:.2f}  ~tokens {mean_t:.0f}"
            )
    best_acc = max(r[0] for r in results)
    pick = min((r for r in results if r[0] >= best_acc - args.slack), key=lambda r: (r[1], -r[0]))
    print(f"chosen_confident: {pick[3]}")
    print(f"chosen_threshold: {pick[4]}")
    print(f"chosen_accuracy: {pick[0]:.3f}")
    print(f"chosen_mean_samples: {pick[1]:.2f}")


if __name__ == "__main__":
    main()
