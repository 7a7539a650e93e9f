"""Why does the step protocol lose to direct answering? Variants of the step prompt, measured.

Runs ``o1agent eval`` (one resumable output folder; every variant is one method label) on a DEV
seed of a reasoning-gym task with the embedded model, greedy decoding, no reward:

* ``direct`` variants — the one-call baseline with different one-line instructions;
* step-protocol variants — the format the model is asked to follow (system prompt, a worked
  example), the assistant prefix (``Step 1:`` or none), and the depth allowed (``max_depth``).

Each variant is a ``propose.md.j2`` (or ``direct.md.j2``) written to ``OUT/prompts/NAME/``; the
other templates fall back to the shipped ``g1`` ones. ``shipped`` is the shipped ``g1`` style as
it is now. After the run, the answer extraction is checked from the traces: for each wrong row,
whether the gold number was on the chosen path at all, and whether the first step had already
computed it (the chain then went on past its own result).

    python benchmarks/suite/prompt_investigation.py --task products --n 50 --seed 1001

Last lines: ``name: value`` per variant (accuracy, mean tokens). What this is not: the suite
(``benchmarks/suite/run.py``); it chooses prompts on a dev seed, it never reads a test seed.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TASKS = {
    "products": (
        "reasoning_gym:products",
        {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
    ),
    "products_2d": (
        "reasoning_gym:products",
        {"min_terms": 2, "max_terms": 2, "min_digits": 2, "max_digits": 2},
    ),
    "chain_sum": (
        "reasoning_gym:chain_sum",
        {"min_terms": 3, "max_terms": 4, "min_digits": 2, "max_digits": 2},
    ),
    # Several steps, within the model's reach (the 2-digit sums above are at 0 % for direct).
    "chain_sum_1d": (
        "reasoning_gym:chain_sum",
        {"min_terms": 3, "max_terms": 4, "min_digits": 1, "max_digits": 1},
    ),
}

TOOLS_BLOCK = """{% if tools %}
Use a tool for every calculation. Tools:
{{ tools }}
Example step:
{{ tool_example }}
{% endif %}"""

USER_BLOCK = """<<user>>
{{ question }}
{% if subgoals %}

Plan:
{% for g in subgoals %}
- {{ g }}
{% endfor %}
{% endif %}"""

PREFIX_STEP = """<<assistant>>
{% for s in steps %}Step {{ loop.index }}: {{ s.raw }}

{% endfor %}Step {{ steps|length + 1 }}:"""

# No "Step 1:" label before the first step: the model starts its reply as it likes; later steps
# keep their labels (the stop sequence "Step 2:" still ends the first one).
PREFIX_NONE_FIRST = """<<assistant>>
{% for s in steps %}Step {{ loop.index }}: {{ s.raw }}

{% endfor %}{% if steps %}Step {{ steps|length + 1 }}:{% endif %}"""

SYSTEM_BEFORE = (
    "You are an expert assistant that reasons step by step. Write one step at a time: a short title on "
    "the first line, then the work for that step. Use exact arithmetic. If a step looks wrong, re-examine "
    'it with another method. When you know the result, write a last line "Final answer: <answer>".'
)
SYSTEM_STOP_RULE = (
    "You are an expert assistant that reasons step by step. Write one step at a time: a short title on "
    "the first line, then the work for that step. Use exact arithmetic. As soon as a step gives the "
    'result the question asks for, end that step with a line "Final answer: <answer>". Do not write more '
    "steps after the result."
)
EXAMPLE = """
Example:
Question: What is 23 + 19 + 5?
Step 1: Add the first two numbers
23 + 19 = 42
Step 2: Add the last number
42 + 5 = 47
Final answer: 47"""
# One step, numbers the tasks' answers are unlikely to be (a copied example answer is visible).
EXAMPLE_ONE_STEP = """
Example:
Question: What is 123 + 456?
Step 1: Add the numbers
123 + 456 = 579
Final answer: 579"""
SYSTEM_SHORT = 'Solve the problem step by step. End with "Final answer: <answer>".'


def propose(system: str, prefix: str = PREFIX_STEP) -> str:
    return f"<<system>>\n{system}\n{TOOLS_BLOCK}\n{USER_BLOCK}\n{prefix}\n"


def direct(instruction: str) -> str:
    return "<<user>>\n{{ question }}" + (f"\n{instruction}" if instruction else "") + "\n"


#: name → (kind, template file name, template text or None for the shipped g1 style, max_depth)
VARIANTS: dict[str, tuple[str, str, str | None, int]] = {
    "direct_shipped": ("direct", "direct.md.j2", None, 1),
    "direct_plain": ("direct", "direct.md.j2", direct(""), 1),
    "direct_own_line": (
        "direct",
        "direct.md.j2",
        direct("End your reply with the final answer on its own line."),
        1,
    ),
    "direct_answer_is": ("direct", "direct.md.j2", direct('End with "The answer is <answer>."'), 1),
    "direct_final": ("direct", "direct.md.j2", direct("End with the final answer."), 1),
    "direct_brief": ("direct", "direct.md.j2", direct("Answer briefly and end with the answer."), 1),
    "shipped_d6": ("search", "propose.md.j2", None, 6),
    "before_d6": ("search", "propose.md.j2", propose(SYSTEM_BEFORE), 6),
    "before_d1": ("search", "propose.md.j2", propose(SYSTEM_BEFORE), 1),
    "before_d2": ("search", "propose.md.j2", propose(SYSTEM_BEFORE), 2),
    "before_d3": ("search", "propose.md.j2", propose(SYSTEM_BEFORE), 3),
    "noprefix_d6": ("search", "propose.md.j2", propose(SYSTEM_BEFORE, PREFIX_NONE_FIRST), 6),
    "stoprule_d6": ("search", "propose.md.j2", propose(SYSTEM_STOP_RULE), 6),
    "example_d6": ("search", "propose.md.j2", propose(SYSTEM_STOP_RULE + EXAMPLE), 6),
    "example_d1": ("search", "propose.md.j2", propose(SYSTEM_STOP_RULE + EXAMPLE), 1),
    "example_d2": ("search", "propose.md.j2", propose(SYSTEM_STOP_RULE + EXAMPLE), 2),
    "example_d3": ("search", "propose.md.j2", propose(SYSTEM_STOP_RULE + EXAMPLE), 3),
    "ex1_d6": ("search", "propose.md.j2", propose(SYSTEM_STOP_RULE + EXAMPLE_ONE_STEP), 6),
    "ex1_d1": ("search", "propose.md.j2", propose(SYSTEM_STOP_RULE + EXAMPLE_ONE_STEP), 1),
    "noprefix_d1": ("search", "propose.md.j2", propose(SYSTEM_BEFORE, PREFIX_NONE_FIRST), 1),
    "short_d6": ("search", "propose.md.j2", propose(SYSTEM_SHORT), 6),
    "short_noprefix_d6": ("search", "propose.md.j2", propose(SYSTEM_SHORT, PREFIX_NONE_FIRST), 6),
}

_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> list[str]:
    return [n.replace(",", "") for n in _NUM.findall(text or "")]


def traces_by_run(out: Path) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((out / "traces").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                ev = json.loads(line)
                runs.setdefault(ev["run_id"], []).append(ev)
    return runs


def path_steps(events: list[dict[str, Any]]) -> list[str]:
    """The raw text of each step on the run's chosen path, in order."""
    outputs = {
        e["node_id"]: (e.get("step") or {}).get("raw") or e.get("output") or ""
        for e in events
        if e["kind"] == "propose"
    }
    final = next((e for e in reversed(events) if e["kind"] == "finalize"), None)
    ids = (final or {}).get("data", {}).get("path") or (
        [final["node_id"]] if final and final.get("node_id") else []
    )
    return [outputs.get(i, "") for i in ids]


def diagnose(rows: list[dict[str, Any]], runs: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Counts over wrong rows: the gold number stated as a result somewhere on the chosen path
    ("= 42", "is 42"); and the first step's last number being the gold one (the chain went on
    past its own right result)."""
    wrong = [r for r in rows if not r["correct"]]
    on_path = first_step = 0
    for r in wrong:
        steps = path_steps(runs.get(r["trace_id"], []))
        gold = re.escape(str(r["gold"]).strip())
        if re.search(rf"(?:=|\bis)\s*{gold}(?![\d.])", "\n".join(steps)):
            on_path += 1
        if steps and numbers(steps[0]) and numbers(steps[0])[-1] == str(r["gold"]).strip():
            first_step += 1
    return {"wrong": len(wrong), "gold_on_path": on_path, "gold_after_step_1": first_step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="products", choices=sorted(TASKS))
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1001, help="a DEV seed (never the suite's test seed)")
    ap.add_argument("--variants", default="all", help="comma-separated names, or all")
    ap.add_argument("--budget", type=int, default=2048)
    ap.add_argument("--out", type=Path, default=None, help="default: runs/prompt_investigation/TASK-SEED")
    args = ap.parse_args()

    from o1agent.evaluation import EvalConfig, MethodSpec, run_eval
    from o1agent.evaluation.stats import summarize

    names = list(VARIANTS) if args.variants == "all" else [v.strip() for v in args.variants.split(",")]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}: choose from {list(VARIANTS)}")
    out = args.out or ROOT / "runs" / "prompt_investigation" / f"{args.task}-{args.seed}"
    methods = []
    for name in names:
        kind, file, text, depth = VARIANTS[name]
        prompts = None
        if text is not None:
            folder = out / "prompts" / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text(text, encoding="utf-8")
            prompts = str(folder)
        config: dict[str, Any] = {} if kind == "direct" else {"max_depth": depth}
        methods.append(
            MethodSpec(
                name,
                "direct" if kind == "direct" else "greedy",
                config,
                reward="none",
                kind=kind,
                prompts=prompts,
            )  # type: ignore[arg-type]
        )
    dataset, config = TASKS[args.task]
    command = shlex.join(["python", "benchmarks/suite/prompt_investigation.py", *sys.argv[1:]])
    summary = run_eval(
        EvalConfig(
            dataset=dataset,
            dataset_config=config,
            n=args.n,
            seed=args.seed,
            strategies=[],
            methods=methods,
            baselines=False,
            budgets=[args.budget],
            model="embedded",
            reward="none",
            out=out,
            command=command,
            plot=False,
        )
    )
    rows = [json.loads(x) for x in (out / "items.jsonl").read_text().splitlines() if x.strip()]
    runs = traces_by_run(out)
    stats = {s.strategy: s for s in summarize(rows)}
    print(f"# {args.task} seed {args.seed}, n={args.n}: `{command}`\n")
    print("| variant | accuracy | 95 % Wilson | mean tokens | wrong | gold on the path | gold after step 1 |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in names:
        s = stats[name]
        d = diagnose([r for r in rows if r["strategy"] == name], runs)
        print(
            f"| {name} | {s.correct}/{s.n} = {100 * s.accuracy:.0f} % | {100 * s.ci_low:.0f}–{100 * s.ci_high:.0f} "
            f"| {s.mean_tokens:.0f} | {d['wrong']} | {d['gold_on_path']} | {d['gold_after_step_1']} |"
        )
    print(f"\n{summary.rows} rows in {out}")
    for name in names:
        s = stats[name]
        print(f"{args.task}_{name}_accuracy: {s.accuracy:.3f}")
        print(f"{args.task}_{name}_mean_tokens: {s.mean_tokens:.0f}")


if __name__ == "__main__":
    main()
