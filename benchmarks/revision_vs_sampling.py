"""Revision from a grounded critique against no revision, at equal tokens, on one dev set.

Runs ``o1agent.evaluation.run_eval`` on the same items (reasoning-gym ``chain_sum``, 3 terms of
2 digits by default, a DEV seed) for:

* ``greedy`` — the step protocol, no revision (no reward);
* ``revision`` — greedy, and a step whose arithmetic claim fails (``reward="arith"``, score 0 <
  ``revise_below``) is rewritten from the calculator's finding ("17 + 25 = 42, not 43");
* ``control`` — the same trigger, but the rewrite is told only "this step may be wrong"
  (``critique="none"``): what the critique's content adds;
* ``self_consistency`` — best-of-N majority with ``n`` chosen so its mean tokens match
  revision's (``round(revision tokens / greedy tokens)``, 2..8): revision against sampling at
  equal tokens.

Each run goes to ``OUT/<label>/`` (resumable, like ``o1agent eval``); the table and the last lines
(``name: value``) are printed. Set ``LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1`` offline. Gold answers only grade, after each solve. Never point ``--seed``
at the suite's test seed (``benchmarks/suite/tasks.toml``): this is for choosing settings.

    python benchmarks/revision_vs_sampling.py --n 30 --seed 1001 --out runs/revision_dev
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from o1agent.evaluation import EvalConfig, parse_config, run_eval
from o1agent.evaluation.stats import MethodStats


def run(
    label: str, strategy: str, reward: str, overrides: dict[str, Any], args: argparse.Namespace
) -> MethodStats:
    summary = run_eval(
        EvalConfig(
            dataset=f"reasoning_gym:{args.task}",
            dataset_config=parse_config(args.config),
            n=args.n,
            seed=args.seed,
            strategies=[strategy],
            baselines=False,
            budgets=[args.max_tokens],
            model=args.model,
            reward=reward,
            overrides={f"{strategy}.{k}": v for k, v in overrides.items()},
            out=Path(args.out) / label,
            plot=False,
        )
    )
    stats = summary.get(strategy, args.max_tokens)
    print(
        f"{label:18} {stats.correct:3}/{stats.n} = {stats.accuracy:5.1%} "
        f"[{stats.ci_low:.0%}–{stats.ci_high:.0%}] · {stats.mean_tokens:7.1f} tokens",
        flush=True,
    )
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="chain_sum")
    ap.add_argument("--config", default="min_terms=3,max_terms=3,min_digits=2,max_digits=2")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1001, help="a DEV seed (never the suite's test seed)")
    ap.add_argument("--max-tokens", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2, help="rewrites allowed per step")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--out", default="runs/revision_vs_sampling")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    revise = {"rounds": args.rounds, "revise_below": 0.4}
    greedy = run("greedy", "greedy", "none", {}, args)
    revision = run("revision", "revision", "arith", revise, args)
    control = run("control", "revision", "arith", {**revise, "critique": "none"}, args)
    k = max(2, min(8, round(revision.mean_tokens / max(1.0, greedy.mean_tokens))))
    sc = run(f"self_consistency@{k}", "self_consistency", "none", {"n": k}, args)
    print(f"greedy_accuracy: {greedy.accuracy:.3f}")
    print(f"revision_accuracy: {revision.accuracy:.3f}")
    print(f"control_accuracy: {control.accuracy:.3f}")
    print(f"self_consistency_accuracy: {sc.accuracy:.3f}")
    print(f"revision_tokens_over_greedy: {revision.mean_tokens / max(1.0, greedy.mean_tokens):.2f}")
    print(f"self_consistency_tokens_over_revision: {sc.mean_tokens / max(1.0, revision.mean_tokens):.2f}")
    print(f"revision_minus_control: {revision.accuracy - control.accuracy:+.3f}")
    print(f"revision_minus_self_consistency: {revision.accuracy - sc.accuracy:+.3f}")


if __name__ == "__main__":
    main()
