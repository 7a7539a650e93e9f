"""Seconds each parser of model text takes on 1 MB of adversarial text (target < 0.5 s each).

Model text is adversarial input: a step can be thousands of tokens of one repeated pattern, and
the parsers run on the server's event loop. For every parser this feeds 1 MB of each pattern
below (spaces, "score" + spaces, "1+1+…", "1,1,…", open braces, fences, ``calc(``…, and random
mixes of the protocol's tokens) and prints the slowest time per parser, then one line per parser:
``<parser>_1mb_s: X``.

``--before`` also times the pre-issue-13 parsers (``tests/parsing_oracle.py``) on the issue's own
inputs, beside the current ones — those take seconds, so it is off by default.

    python benchmarks/parsing.py [--before]
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from o1agent.cleanup import end_if_repeated
from o1agent.parsing import extract_answer, lenient_answer, parse_step, parse_verdict, usable_answer
from o1agent.rewards.arith import find_claims
from o1agent.rewards.code import extract_program
from o1agent.schema import Node, Step
from o1agent.search.best_of_n import normalize_answer
from o1agent.tools.protocol import has_pending_call, parse_tool_calls

MB = 1_000_000

# Repeated to 1 MB each. Every pattern that made a parser quadratic before issue 13 is here.
PATTERNS = [
    " ",
    "\n",
    "1",
    "1+",
    "1,",
    "1 ",
    "1.",
    "= 1 ",
    "1+1= ",
    "is 1,",
    "(",
    ")",
    "{",
    "\\boxed{",
    "\\boxed{1",
    "a ^",
    "final answer ",
    "answer",
    "Final answer:",
    "score ",
    "```",
    "```\n",
    "```calc\n1\n```\n<<1>>",
    "calc(",
    "calc(1)",
    "<<",
    "<<1",
    "Step 1:",
    "def f(",
]
# Followed by a long run and a different character: the regex shapes that backtrack.
PREFIXED = [
    "score" + " " * (MB - 6) + "x",
    "= 1" + " " * (MB - 4) + "x",
    "```calc\n1```" + " " * (MB - 13) + "x",
]
TOKENS = [" ", "  ", "\n", "1", "12", "3,400", "+", "*", "=", "(", ")", ",", ".", "x", "answer", "is",
          "Final answer:", "\\boxed{", "}", "{", "score", "/10", "yes", "no", "calc(", "<<", ">>",
          "```calc\n", "```", "```output\n", "Step 2:", "equals"]  # fmt: skip


def adversarial_texts() -> list[tuple[str, str]]:
    out = [(repr(p[:12]), (p * (MB // len(p) + 1))[:MB]) for p in PATTERNS]
    out += [(repr(p[:12]) + "+run", p) for p in PREFIXED]
    rng = random.Random(13)
    for i in range(3):
        words: list[str] = []
        size = 0
        while size < MB:
            w = rng.choice(TOKENS)
            words.append(w)
            size += len(w)
        out.append((f"random mix {i}", "".join(words)[:MB]))
    return out


_PARENT = Node(id="0.0", step=Step(raw="x"))

PARSERS: dict[str, Callable[[str], Any]] = {
    "parse_verdict": parse_verdict,
    "extract_answer": extract_answer,
    "lenient_answer": lenient_answer,
    "parse_step": lambda t: parse_step(t, finish_reason="eos"),
    "usable_answer": usable_answer,
    "find_claims": find_claims,
    "parse_tool_calls": parse_tool_calls,
    "has_pending_call": has_pending_call,
    "extract_program": extract_program,
    "normalize_answer": normalize_answer,
    "end_if_repeated": lambda t: end_if_repeated(Step(raw=t), _PARENT),
}


def timed(fn: Callable[[str], Any], text: str) -> float:
    t0 = time.perf_counter()
    fn(text)
    return time.perf_counter() - t0


def issue_inputs() -> list[tuple[str, str, str]]:
    """The issue's reproductions: (parser, what, text)."""
    return [
        ("parse_verdict", '"score" + 20,000 spaces + "x"', "score" + " " * 20_000 + "x"),
        ("parse_tool_calls", "128 kB: fenced blocks then <<1>> annotations", "```calc\n1\n```\n" * 4681 + "<<1>>" * 13107),
        ("parse_tool_calls", '128 kB of "calc("', "calc(" * 26214),
        ("find_claims", '16 kB of "1+"', "1+" * 8192),
        ("find_claims", '16 kB of "1,"', "1," * 8192),
    ]  # fmt: skip


def before_after() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import parsing_oracle as old

    now = {"parse_verdict": parse_verdict, "parse_tool_calls": parse_tool_calls, "find_claims": find_claims}
    for name, what, text in issue_inputs():
        before = timed(getattr(old, name), text)
        after = timed(now[name], text)
        print(f"{name} on {what}: before {before:.3f} s, after {after:.4f} s", flush=True)


def main() -> None:
    if "--before" in sys.argv:
        before_after()
    texts = adversarial_texts()
    worst: dict[str, tuple[float, str]] = {}
    for name, fn in PARSERS.items():
        for label, text in texts:
            s = timed(fn, text)
            if s > worst.get(name, (-1.0, ""))[0]:
                worst[name] = (s, label)
        s, label = worst[name]
        print(f"{name}: slowest {s:.4f} s on {label}", flush=True)
    for name, (s, _) in worst.items():
        print(f"{name}_1mb_s: {s:.4f}")


if __name__ == "__main__":
    main()
