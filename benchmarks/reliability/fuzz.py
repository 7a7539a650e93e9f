"""Fuzz o1agent's runs with malformed model output; count crashes, hangs, empty answers, bad JSON.

Each run draws a strategy (every registered one), a reward, tools (the calculator, an external
function) or none, a small budget and a ``ScriptedPolicy`` whose every completion is drawn from
adversarial text: lone surrogates, control characters, bare labels ("Final answer:"), empty ``\\boxed{}``, unclosed tool fences, ``calc(``
without its ``)``, quadratic-regex bait ("1+1+…", "score" + spaces), empty and blank steps — with
NaN, infinite or missing logprobs, and end-of-turn or length finish reasons. A run counts as

* a crash when it raises (the scripted backend never fails, so any exception is o1agent's);
* a hang when it does not finish within ``hang_seconds``;
* an empty answer when ``Result.answer`` is not a real answer (``parsing.usable_answer``), holds
  control characters, or is ``None`` without a ``no_answer_reason``;
* unserialisable when the result, or a line of its trace, cannot be written as strict JSON
  (``json.dumps(result.model_dump(mode="json"), allow_nan=False)``, UTF-8 encodable).

    python benchmarks/reliability/fuzz.py --runs 10000 [--seed 0]      # or: make reliability-fuzz

The last lines are ``fuzz_runs``, ``crashes``, ``hangs``, ``empty_answers``, ``unserialisable``
(``name: value``). ``fuzz(runs)`` is the same as a function (the tests call it with a few hundred).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from o1agent import Reasoner
from o1agent.parsing import usable_answer
from o1agent.policies import ScriptedPolicy
from o1agent.policies.base import Completion, CompletionRequest, TokenLogprob
from o1agent.sanitize import strip_controls
from o1agent.schema import Result
from o1agent.search.base import available_strategies
from o1agent.tools import function_tool

NAN, INF = float("nan"), float("inf")

SURROGATES = ["\ud800", "\udfff", "x\udc80y", "\ud83d", "\ud83d\ude00"]
CONTROLS = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\u2028", "\r"]
LABELS = [
    "Final answer:",
    "**Final Answer:**",
    "Answer:",
    "The answer is",
    "\\boxed{}",
    "Final answer: \\boxed{ }",
    "\\boxed{",
    "Therefore, the answer is",
    "Final answer: $$",
]
GOOD = [
    "Multiply\n3*4 = 12",
    "Final answer: 12",
    "So 2+2 = 4.",
    "\\boxed{7}",
    "Step 2: add\n5+6 = 11",
    "There are 3 pens.",
    "Final answer: 1,788",
    "The answer is 18, which is 8 + 10",
]
TOOLS = [
    '```get_weather\n{"city": "Paris"}\n```',
    '```get_weather\n{"city": NaN}\n```',
    "```get_weather\n{bad",
    '```get_weather\n{"city": "\ud800"}\n```',
    "```calc\n37*48+12\n```",
    "calc(2+",
    "calc(1/0)",
    "<<3*4=13>>",
    "```calc\n",
    "```output\n5\n```",
    "```calc\n" + "(" * 300,
    "calc(" * 50,
    "```\n```\n```calc\n1+1",
]
BAIT = [
    "1+" * 2000,
    "1," * 2000,
    " " * 3000,
    "score" + " " * 3000 + "x",
    "{" * 500,
    "\n" * 300,
    "= 1" + " " * 2000 + "x",
]
JUDGE = ["Yes", "No", "Score: 7/10", "score: nan", "", "maybe", "\ud800", "Yes\x00", "rating " * 50]
REWARDS = ["judge", "confidence", "consistency", "judge+confidence", "arith", "arith+confidence",
           "judge+consistency", "none"]  # fmt: skip
LOGPROBS: list[float | None] = [None, -0.3, NAN, -INF, INF]
# A function the caller runs (an OpenAI client's tool): a run may end in a call to it.
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def adversarial_text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.08:
        return rng.choice(["", " ", "\n\n", "\t"])
    if kind < 0.15:
        # Random code points, surrogates and controls included.
        return "".join(chr(rng.choice([rng.randrange(0, 0x80), rng.randrange(0xD800, 0xE000),
                                       rng.randrange(0x80, 0x3000)])) for _ in range(rng.randrange(1, 40)))  # fmt: skip
    pools = [SURROGATES, CONTROLS, LABELS, GOOD, TOOLS, BAIT]
    pieces = [rng.choice(rng.choice(pools)) for _ in range(rng.randrange(1, 5))]
    return rng.choice(["", " ", "\n"]).join(pieces)


def _responder(rng: random.Random) -> Any:
    def respond(req: CompletionRequest) -> list[str | Completion]:
        out: list[str | Completion] = []
        for _ in range(req.n):
            purpose = req.metadata.get("purpose")
            text = rng.choice(JUDGE) if purpose == "judge" and rng.random() < 0.7 else adversarial_text(rng)
            if rng.random() < 0.3:
                # A Completion as a backend returns it: odd finish reasons, broken logprobs.
                lp = rng.choice(LOGPROBS)
                logprobs = (
                    None
                    if lp is None
                    else [TokenLogprob(token="Yes", logprob=lp, top={"Yes": lp, "No": -1.0})]
                )
                finish = rng.choice(["stop", "eos", "end_turn", "length", None])
                out.append(
                    Completion(text=text, finish_reason=finish, logprobs=logprobs, completion_tokens=8)
                )
            else:
                out.append(text)
        return out

    return respond


def _top_logprobs(rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.5:
        return None
    values = {"Yes": rng.choice([NAN, -0.1, -INF]), "No": rng.choice([NAN, -2.0])}
    return lambda req: dict(values)


@dataclass
class FuzzReport:
    runs: int = 0
    crashes: int = 0
    hangs: int = 0
    empty_answers: int = 0
    unserialisable: int = 0
    no_answer: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    def note(self, what: str, detail: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(f"{what}: {detail}")

    def lines(self) -> list[str]:
        return [
            f"fuzz_runs: {self.runs}",
            f"crashes: {self.crashes}",
            f"hangs: {self.hangs}",
            f"empty_answers: {self.empty_answers}",
            f"unserialisable: {self.unserialisable}",
        ]


def _strict(value: Any) -> None:
    """Raise unless ``value`` is strict JSON text (no NaN) that UTF-8 can encode."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")


def _not_an_answer(result: Result) -> str | None:
    if result.answer is None:
        return None if result.no_answer_reason else "answer None without a reason"
    if usable_answer(result.answer) is None:
        return f"answer {result.answer!r} is not an answer"
    if strip_controls(result.answer) != result.answer:
        return f"answer {result.answer!r} holds control characters"
    return None


def _unwritable(result: Result) -> str | None:
    try:
        _strict(result.model_dump(mode="json"))
        json.loads(result.to_json(), parse_constant=_no_constant)
        for line in result.trace.jsonl().split("\n")[:-1]:  # not splitlines: U+2028 is in strings
            json.loads(line, parse_constant=_no_constant)
            line.encode("utf-8")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} in JSON")


async def _one(rng: random.Random, report: FuzzReport, hang_seconds: float) -> None:
    strategy = rng.choice(available_strategies())
    setup = {
        "strategy": strategy,
        "reward": rng.choice(REWARDS),
        "tools": rng.choice([None, ["calculator"], [function_tool(WEATHER)]]),
        "budget": {
            "max_nodes": rng.randint(2, 14),
            "max_tokens": rng.choice([None, 300, 3000]),
            "max_seconds": 20,
        },
        "seed": rng.choice([None, rng.randrange(1000)]),
    }
    policy = ScriptedPolicy(
        _responder(rng), logprob=rng.choice(LOGPROBS), top_logprobs=_top_logprobs(rng), name="fuzz"
    )
    # A blank question is the caller's error (InvalidQuestionError), not something to fuzz.
    question = rng.choice(["What is 3*4?", "q\ud800?", "2+2\x00?", adversarial_text(rng)]).strip() or "q?"
    report.runs += 1
    try:
        reasoner = Reasoner(model=policy, **setup)
        result = await asyncio.wait_for(reasoner.asolve(question), hang_seconds)
    except TimeoutError:
        report.hangs += 1
        report.note("hang", repr(setup))
        return
    except Exception as exc:
        report.crashes += 1
        report.note("crash", f"{setup}: {''.join(traceback.format_exception_only(exc)).strip()}")
        return
    if result.answer is None:
        report.no_answer += 1
    if (why := _not_an_answer(result)) is not None:
        report.empty_answers += 1
        report.note("empty answer", f"{strategy}: {why}")
    if (why := _unwritable(result)) is not None:
        report.unserialisable += 1
        report.note("unserialisable", f"{strategy}: {why}")


async def afuzz(runs: int, *, seed: int = 0, hang_seconds: float = 30.0) -> FuzzReport:
    """``runs`` fuzzed runs, one after another, drawn from ``seed``."""
    rng = random.Random(seed)
    report = FuzzReport()
    t0 = time.perf_counter()
    for _ in range(runs):
        await _one(rng, report, hang_seconds)
    report.seconds = time.perf_counter() - t0
    return report


def fuzz(runs: int, *, seed: int = 0, hang_seconds: float = 30.0) -> FuzzReport:
    """Synchronous ``afuzz``."""
    return asyncio.run(afuzz(runs, seed=seed, hang_seconds=hang_seconds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hang-seconds", type=float, default=30.0)
    args = ap.parse_args()
    # Every fuzzed run logs its graders' failures: the counts below are what this reports.
    for name in ("o1agent", "math_verify"):
        logging.getLogger(name).setLevel(logging.ERROR)
    report = fuzz(args.runs, seed=args.seed, hang_seconds=args.hang_seconds)
    for ex in report.examples:
        print(ex)
    print(f"runs without an answer (with a reason): {report.no_answer}; {report.seconds:.1f} s")
    for line in report.lines():
        print(line)


if __name__ == "__main__":
    main()
