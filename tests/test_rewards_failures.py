"""A grader that cannot judge says so: ``Verdict(score=None, error=...)``, never a made-up score.

Covers every grader whose backend can fail — the judge's policy, a PRM's model, the sandbox of the
code tests — the composites that carry a part's failure, and the real verdicts (an unparsable
judge reply, tests that ran and failed) that must stay scores.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from o1agent.errors import BackendError, BackendUnreachableError
from o1agent.policies.base import CompletionRequest
from o1agent.policies.scripted import ScriptedPolicy
from o1agent.rewards import (
    CodeTests,
    Confidence,
    LearnedPRM,
    LLMJudge,
    PotentialShaping,
    ScoreRequest,
    Verdict,
    Weighted,
)
from o1agent.rewards import prm as prm_module
from o1agent.schema import Step

ADD = {
    "prompt": "def add(a, b):\n",
    "test": "def check(f):\n    assert f(1, 2) == 3\n    assert f(0, 0) == 0\n",
    "entry_point": "add",
}


def rq(text: str = "2 + 2 = 4", *, final: bool = False) -> ScoreRequest:
    return ScoreRequest(question="What is 2 + 2?", candidate=Step(raw=text, text=text, is_final=final))


def down(req: CompletionRequest) -> str:
    raise BackendUnreachableError("connection refused by 127.0.0.1:9")


class Fixed:
    """A grader with a fixed verdict (an error, a score or no opinion)."""

    def __init__(self, verdict: Verdict, name: str = "fixed", kind: str = "process") -> None:
        self.verdict, self.name, self.kind = verdict, name, kind

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return [self.verdict for _ in requests]


def test_a_verdict_with_an_error_has_no_score() -> None:
    with pytest.raises(ValidationError, match="has no score"):
        Verdict(score=0.1, error="judge failed: BackendError: down")
    v = Verdict.failed("judge", BackendError("down"))
    assert v.score is None and v.error == "judge failed: BackendError: down" and v.kind == "process"
    assert Verdict(score=0.5).error is None


async def test_judge_backend_failure_is_marked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    judge = LLMJudge(ScriptedPolicy(down))
    with caplog.at_level(logging.WARNING, logger="o1agent.rewards.judge"):
        (v,) = await judge.score([rq()])
    assert v.score is None
    assert v.error == "judge failed: BackendUnreachableError: connection refused by 127.0.0.1:9"
    assert "BackendUnreachableError" in caplog.text and "connection refused" in caplog.text


async def test_judge_unparsable_reply_is_still_a_low_score() -> None:
    (v,) = await LLMJudge(ScriptedPolicy(["hmm, let me think"])).score([rq()])
    assert v.score == pytest.approx(0.1) and v.error is None


async def test_learned_prm_whose_model_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenHead:
        prompts = "g1"  # PRMHead records the style its labels were written in

        class tokenizer:
            chat_template = None

        @classmethod
        def load(cls, folder: Path) -> BrokenHead:
            return cls()

        def predict(self, texts: list[str]) -> list[float]:
            raise RuntimeError("CUDA error: device-side assert triggered")

        def token_counts(self, texts: list[str]) -> list[int]:
            return [1 for _ in texts]

    (tmp_path / "prm_config.json").write_text("{}")
    monkeypatch.setattr(prm_module, "_import_learned_head", lambda: BrokenHead)
    prm = LearnedPRM(tmp_path)
    with caplog.at_level(logging.WARNING, logger="o1agent.rewards.prm"):
        verdicts = await prm.score([rq(), rq("2 + 2 = 5")])
    assert [v.score for v in verdicts] == [None, None]
    assert {v.error for v in verdicts} == {
        "learned-prm failed: RuntimeError: CUDA error: device-side assert triggered"
    }
    assert "device-side assert" in caplog.text


async def test_learned_prm_non_finite_output_is_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NanHead:
        prompts = "g1"  # PRMHead records the style its labels were written in

        class tokenizer:
            chat_template = None

        @classmethod
        def load(cls, folder: Path) -> NanHead:
            return cls()

        def predict(self, texts: list[str]) -> list[float]:
            return [float("nan"), 0.8]

        def token_counts(self, texts: list[str]) -> list[int]:
            return [7 for _ in texts]

    (tmp_path / "prm_config.json").write_text("{}")
    monkeypatch.setattr(prm_module, "_import_learned_head", lambda: NanHead)
    bad, good = await LearnedPRM(tmp_path).score([rq(), rq()])
    assert bad.score is None and "non-finite" in (bad.error or "")
    assert good.score == pytest.approx(0.8) and good.error is None and good.usage.prompt_tokens == 7


async def test_trained_prm_whose_model_raises(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(
        vocab_size=32,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=2,
        pad_token_id=0,
    )
    transformers.AutoModelForSequenceClassification.from_config(cfg).save_pretrained(tmp_path)
    import torch

    def tok(texts: list[str]) -> dict[str, Any]:
        return {"input_ids": torch.ones((len(texts), 4), dtype=torch.long)}

    prm = prm_module.TrainedPRM(tmp_path, tokenizer=tok)
    (ok,) = await prm.score([rq()])
    assert ok.score is not None and ok.error is None  # the real model gives a real verdict

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("out of memory")

    prm.model = broken
    (v,) = await prm.score([rq()])
    assert v.score is None and v.error == "prm failed: RuntimeError: out of memory"


async def test_code_tests_sandbox_that_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from o1agent.tools import sandbox

    async def no_exec(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError(2, "No such file or directory", "unshare")

    monkeypatch.setattr(sandbox.asyncio, "create_subprocess_exec", no_exec)
    step = "```python\ndef add(a, b):\n    return a + b\n```"
    (v,) = await CodeTests.from_problem(ADD).score([rq(step, final=True)])
    assert v.score is None and v.kind == "outcome"
    assert v.error is not None and v.error.startswith("tests failed: the sandbox did not start")
    assert "No such file or directory" in v.error


async def test_code_tests_sandbox_raising_is_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    from o1agent.tools import sandbox

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no space left on device")

    monkeypatch.setattr(sandbox, "arun_python", boom)
    (v,) = await CodeTests.from_problem(ADD).score([rq("```python\nreturn a + b\n```", final=True)])
    assert v.score is None and v.error == "tests failed: OSError: no space left on device"


async def test_code_tests_real_failures_stay_scores() -> None:
    ct = CodeTests.from_problem(ADD)
    wrong, empty = await ct.score([rq("```python\n    return a - b\n```", final=True), rq("", final=True)])
    assert wrong.score == 0.0 and wrong.error is None and wrong.rationale.startswith("tests failed")
    assert empty.score == 0.0 and empty.error is None


async def test_weighted_propagates_a_failed_part() -> None:
    judge = LLMJudge(ScriptedPolicy(down))
    blend = Weighted([(judge, 0.7), (Confidence(), 0.3)])
    (v,) = await blend.score([ScoreRequest(question="q", candidate=Step(raw="x"), mean_logprob=-0.1)])
    assert v.score is None
    assert v.error == (
        "part judge of 0.7*judge+0.3*confidence: judge failed: BackendUnreachableError: "
        "connection refused by 127.0.0.1:9"
    )
    # No opinion is not a failure: the blend still renormalises over the graders that have one.
    quiet = Weighted(
        [(Fixed(Verdict(score=None), "outcome", "outcome"), 0.5), (Fixed(Verdict(score=0.4)), 0.5)]
    )
    (q,) = await quiet.score([rq()])
    assert q.score == pytest.approx(0.4) and q.error is None


async def test_potential_shaping_propagates_failures() -> None:
    failed = Fixed(Verdict.failed("tests", OSError("sandbox gone"), kind="outcome"), "tests", "outcome")
    good_phi = Fixed(Verdict(score=0.5), "phi")
    shaped = PotentialShaping(failed, good_phi)
    final, open_ = await shaped.score([rq("4", final=True), rq("half way")])
    assert (
        final.score is None and final.error == "outcome tests of shaped: tests failed: OSError: sandbox gone"
    )
    assert open_.score is not None and open_.error is None  # the outcome is not read on open steps

    bad_phi = Fixed(Verdict.failed("judge", BackendError("down")), "judge")
    shaped = PotentialShaping(Fixed(Verdict(score=1.0, kind="outcome"), "o", "outcome"), bad_phi)
    (v,) = await shaped.score([rq("half way")])
    assert v.score is None and v.error == "potential judge of shaped: judge failed: BackendError: down"


def test_failures_do_not_hang_a_batch() -> None:
    # Many concurrent failing judge calls all come back marked (the semaphore is released).
    judge = LLMJudge(ScriptedPolicy(down), concurrency=2)
    verdicts = asyncio.run(judge.score([rq(str(i)) for i in range(6)]))
    assert len(verdicts) == 6 and all(v.score is None and v.error for v in verdicts)
