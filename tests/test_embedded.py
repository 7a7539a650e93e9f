"""The real embedded model (SmolLM2-135M via llama.cpp): backend behaviour and full solves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from o1agent import Reasoner, solve
from o1agent.policies.base import CompletionRequest, Message
from o1agent.rewards.base import ScoreRequest
from o1agent.rewards.judge import LLMJudge
from o1agent.schema import Step

pytestmark = pytest.mark.slow

QUESTION = "A farmer has 3 pens with 4 sheep in each. How many sheep?"
CLI = str(Path(sys.executable).with_name("o1agent"))


def _req(**kw):
    kw.setdefault("max_tokens", 24)
    return CompletionRequest(messages=[Message(role="user", content="Count from 1 to 5.")], **kw)


async def test_completion_usage_and_prefix_reuse(fresh_embedded):
    first = (await fresh_embedded.complete(_req()))[0]
    assert first.text.strip() and first.prompt_tokens > 10 and first.completion_tokens > 0
    assert first.reused_tokens == 0
    again = (await fresh_embedded.complete(_req()))[0]
    # Same prompt: everything but the last prompt token comes from the KV cache.
    assert again.reused_tokens == again.prompt_tokens - 1
    assert again.text == first.text


async def test_snapshot_cache_restores_an_older_prefix(fresh_embedded):
    a = _req(max_tokens=4)
    b = CompletionRequest(
        messages=[Message(role="user", content="Name three colours, please, in a list.")], max_tokens=4
    )
    first = (await fresh_embedded.complete(a))[0]
    await fresh_embedded.complete(b)  # evicts a's tokens from the live KV cache
    c = a.model_copy(update={"assistant_prefix": "1, 2"})
    out = (await fresh_embedded.complete(c))[0]
    # a's whole prompt is restored from its snapshot, not re-evaluated (the prefix's tokens after it
    # are new; the batched engine snapshots prompts, not what was generated after them).
    assert out.reused_tokens >= first.prompt_tokens - 1, (out.reused_tokens, first.prompt_tokens)


async def test_seeded_sampling_is_reproducible_and_n_gives_distinct_samples(fresh_embedded):
    req = _req(temperature=1.0, n=3, seed=7)
    one = [c.text for c in await fresh_embedded.complete(req)]
    fresh_embedded.reset()
    two = [c.text for c in await fresh_embedded.complete(req)]
    assert one == two and len(one) == 3
    assert len(set(one)) > 1


async def test_eos_and_stop_are_told_apart(fresh_embedded):
    france = [Message(role="user", content="What is the capital of France? Answer in one word.")]
    ended = (await fresh_embedded.complete(CompletionRequest(messages=france, max_tokens=200)))[0]
    assert ended.finish_reason == "eos" and "Paris" in ended.text
    stopped = (await fresh_embedded.complete(_req(max_tokens=200, stop=["3"])))[0]
    assert stopped.finish_reason == "stop" and "3" not in stopped.text
    cut = (await fresh_embedded.complete(_req(max_tokens=2)))[0]
    assert cut.finish_reason == "length" and cut.completion_tokens == 2


async def test_logprobs_and_judge_probability(fresh_embedded):
    out = (await fresh_embedded.complete(_req(logprobs=True, top_logprobs=5)))[0]
    assert out.logprobs and all(lp.logprob <= 0 for lp in out.logprobs)
    assert len(out.logprobs[0].top) >= 3
    judge = LLMJudge(fresh_embedded)
    good = ScoreRequest(
        question="What is 2+2?", candidate=Step(raw="2+2 = 4\nFinal answer: 4", is_final=True)
    )
    bad = ScoreRequest(question="What is 2+2?", candidate=Step(raw="2+2 = 5\nFinal answer: 5", is_final=True))
    verdicts = await judge.score([good, bad])
    for v in verdicts:
        assert v.score is not None and 0.0 <= v.score <= 1.0
        assert "P(yes)" in v.rationale
        assert v.usage.prompt_tokens > 0


def test_full_solve_answers_the_demo_question():
    res = solve(QUESTION, strategy="dfs", budget={"max_tokens": 4000})
    assert res.answer == "12"
    assert res.best_path and res.usage.total_tokens > 0
    assert res.usage.reused_tokens > 0  # siblings reuse the parent's evaluated prompt
    kinds = {e.kind for e in res.trace}
    assert {"start", "propose", "verify", "finalize"} <= kinds


def test_same_seed_same_tree():
    def run():
        r = Reasoner(strategy="dfs", strategy_config={"k": 2}, seed=3, budget={"max_tokens": 2500})
        res = r.solve(QUESTION)
        return res.answer, {nid: (n.step.raw, n.score) for nid, n in res.tree.nodes.items()}

    assert run() == run()


def _cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_streams_steps_and_answers():
    proc = _cli("solve", QUESTION, "--strategy", "dfs", "--show-tree")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Thinking with dfs" in out
    assert "step 0.0" in out and "score 0.0" in out
    assert "Answer: 12" in out
    assert "tokens" in out and "reused" in out


def test_cli_json_and_trace(tmp_path):
    trace = tmp_path / "run.jsonl"
    proc = _cli("solve", "What is 2+3?", "--strategy", "greedy", "--json", "--trace", str(trace))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["answer"] and data["usage"]["completion_tokens"] > 0
    lines = trace.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "start" and json.loads(lines[-1])["kind"] == "finalize"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["solve", "   "], "question is empty"),
        (["solve", "q?", "--strategy", "nope"], "unknown strategy"),
        (["solve", "q?", "--model", "nonsense"], "unknown model"),
        (["solve", "q?", "--max-tokens", "0"], "max_tokens"),
        (["solve", "q?", "--prompts", "nope"], "prompt style"),
    ],
)
def test_cli_bad_input_is_a_clear_error(args, message):
    proc = _cli(*args, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_interpreter_exit_is_quiet_after_loading_the_model():
    # llama-cpp-python's own __del__ ran after its globals were gone and printed
    # "NoneType object is not callable" tracebacks at exit; o1agent frees models at exit first.
    code = (
        "import o1agent\n"
        "r = o1agent.solve('What is 2 + 3?', strategy='greedy', reward='none', budget={'max_nodes': 1})\n"
        "print('answer', r.answer)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "answer" in out.stdout
    assert "Traceback" not in out.stderr and "NoneType" not in out.stderr, out.stderr


async def test_concurrent_seeded_runs_on_one_policy_match_each_run_alone(embedded_policy):
    # Compared to the last float: llama.cpp's numerics depend on what the KV cache held, so a run
    # that another run reset or interleaved with would differ here, if not in its answer.
    import asyncio

    def run(_q: str) -> Reasoner:
        return Reasoner(
            model=embedded_policy,
            strategy="beam",
            strategy_config={"width": 2, "k": 2, "max_depth": 3, "temperature": 1.0},
            reward="none",
            budget={"max_nodes": 8},
            seed=11,
        )

    def signature(res) -> list[tuple[str, str, float | None]]:
        return sorted((n.id, n.step.raw, n.mean_logprob) for n in res.tree.nodes.values() if n.id != "0")

    questions = ["What is 12 + 29?", "What is 7 * 8?", "What is 45 - 17?"]
    alone = [signature(await run(q).asolve(q)) for q in questions]
    together = await asyncio.gather(*(run(q).asolve(q) for q in questions))
    assert [signature(r) for r in together] == alone
