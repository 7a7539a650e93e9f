"""Tiny training runs on CPU: SFT, DPO, GRPO (TRL + LoRA) and the PRM head. Marked slow."""

from __future__ import annotations

import json
import math

import pytest

from o1agent.learn.data import GRPOPrompt, PreferencePair, PRMLabel, Renderer, SFTRow, answer_reward

pytestmark = pytest.mark.slow

PROBLEMS = [(2, 3), (4, 1), (6, 2), (3, 3)]


def _rows() -> list[SFTRow]:
    r = Renderer()
    out = []
    for a, b in PROBLEMS:
        q = f"What is {a} + {b}?"
        msgs, _ = r.parts(q, [])
        out.append(
            SFTRow(
                problem=q,
                run_id="x",
                node_ids=["0.0"],
                messages=msgs,
                prompt=r.prompt(q, []),
                completion=f" Add\n{a} + {b} = {a + b}\nFinal answer: {a + b}<|im_end|>",
                score=1.0,
            )
        )
    return out


def _check(rep, out, steps):
    assert rep.steps == steps and len(rep.losses) == steps
    assert all(math.isfinite(x) for x in rep.losses)
    assert rep.weight_delta > 0  # LoRA B starts at zero: any training moves it
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["losses"] == rep.losses
    assert (out / "loss.png").stat().st_size > 0


def test_sft_three_steps_changes_lora_and_reloads(tmp_path):
    import torch

    from o1agent.learn.model import load_model, load_tokenizer
    from o1agent.learn.train import TrainConfig, train_sft

    out = tmp_path / "sft"
    steps: list[tuple[int, int]] = []
    rep = train_sft(
        _rows(),
        TrainConfig(output=out, max_steps=3, batch_size=2, max_length=160, learning_rate=1e-3),
        on_step=lambda done, total: steps.append((done, total)),
    )
    _check(rep, out, 3)
    assert steps == [(0, 3), (1, 3), (2, 3), (3, 3)]  # what the CLI's progress bar is fed
    assert rep.last_loss < rep.first_loss  # same 4 examples seen again: loss must drop
    assert (out / "adapter_config.json").exists()
    tok = load_tokenizer(out)
    ids = tok(_rows()[0].prompt + " Add", return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        tuned = load_model(out)(**ids).logits[0, -1]
        base = load_model("base")(**ids).logits[0, -1]
    assert float((tuned - base).abs().max()) > 1e-3


def test_dpo_three_steps(tmp_path):
    from o1agent.learn.train import TrainConfig, train_dpo

    pairs = [
        PreferencePair(
            problem=r.problem,
            run_id="x",
            parent_id="0",
            chosen_id="0.0",
            rejected_id="0.1",
            prompt=r.prompt,
            chosen=r.completion,
            rejected=" Guess\nFinal answer: 99<|im_end|>",
            chosen_value=1.0,
            rejected_value=0.0,
        )
        for r in _rows()
    ]
    out = tmp_path / "dpo"
    rep = train_dpo(pairs, TrainConfig(output=out, max_steps=3, batch_size=2, max_length=160))
    _check(rep, out, 3)
    assert rep.losses[0] == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at step 1
    assert (out / "adapter_config.json").exists()


def test_grpo_two_steps(tmp_path):
    from o1agent.learn.train import TrainConfig, train_grpo

    prompts = [
        GRPOPrompt(prompt=r.prompt, question=r.problem, answer=str(a + b))
        for r, (a, b) in zip(_rows(), PROBLEMS, strict=True)
    ]
    out = tmp_path / "grpo"
    rep = train_grpo(
        prompts,
        [answer_reward()],
        TrainConfig(
            output=out,
            max_steps=2,
            num_generations=4,
            batch_size=4,
            max_completion_length=16,
            learning_rate=1e-4,
        ),
    )
    assert rep.steps == 2 and all(math.isfinite(x) for x in rep.losses)
    assert len(rep.extra["rewards"]) == 2 and all(0.0 <= r <= 1.0 for r in rep.extra["rewards"])
    assert (out / "adapter_config.json").exists()


def test_grpo_dr_loss_logs_kl_and_resumes_from_its_checkpoint(tmp_path):
    from o1agent.learn.train import TrainConfig, last_checkpoint, train_grpo

    prompts = [
        GRPOPrompt(prompt=r.prompt, question=r.problem, answer=str(a + b))
        for r, (a, b) in zip(_rows(), PROBLEMS, strict=True)
    ]
    base = {
        "output": tmp_path / "g",
        "num_generations": 4,
        "batch_size": 4,
        "max_completion_length": 12,
        "learning_rate": 1e-4,
        "kl_coef": 0.05,
        "save_steps": 1,
    }
    first = train_grpo(prompts, [answer_reward()], TrainConfig(max_steps=2, **base))
    assert first.steps == 2
    ckpt = last_checkpoint(TrainConfig(max_steps=2, **base))
    assert ckpt is not None and ckpt.name == "checkpoint-2"
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert all("kl" in h for h in state["log_history"] if "reward" in h)  # beta > 0 logs the KL
    # A rerun with more steps continues from step 2: the log holds steps 1..3, each once.
    again = train_grpo(prompts, [answer_reward()], TrainConfig(max_steps=3, **base), resume=True)
    assert again.steps == 3
    assert last_checkpoint(TrainConfig(max_steps=3, **base)).name == "checkpoint-3"
    with pytest.raises(Exception, match="reward weights"):
        train_grpo(prompts, [answer_reward()], TrainConfig(max_steps=1, **base), reward_weights=[1.0, 0.0])


def test_prm_head_fits_labels(tmp_path):
    from o1agent.learn.train import PRMHead, TrainConfig, train_prm
    from o1agent.rewards.prm import LearnedPRM

    r = Renderer()
    labels = []
    for a, b in PROBLEMS:
        q = f"What is {a} + {b}?"
        for ans, ok in ((a + b, 1), (a + b + 1, 0)):
            labels.append(
                PRMLabel(
                    problem=q,
                    run_id="x",
                    node_id="0.0",
                    prompt=r.prompt(q, []),
                    step=f" Add\n{a} + {b} = {ans}",
                    soft=float(ok),
                    hard=ok,
                    rollouts=1,
                )
            )
    out = tmp_path / "prm"
    steps: list[int] = []
    rep = train_prm(
        labels,
        TrainConfig(output=out, max_steps=30, batch_size=8, prm_lr=1e-2),
        on_step=lambda done, total: steps.append(done) if total == 30 else None,
    )
    assert steps == list(range(31))
    assert rep.last_loss < rep.first_loss and rep.weight_delta > 0
    again = PRMHead.load(out)
    preds = again.predict([lab.prompt + lab.step for lab in labels[:2]])
    assert len(preds) == 2 and all(0.0 <= p <= 1.0 for p in preds)
    assert LearnedPRM(out).kind == "process"
    _check_prm_as_reward(out)


def _check_prm_as_reward(out):
    """The trained head is a reward by name ("prm:PATH"): it scores steps, counts the tokens it
    reads, and guides a beam search through the graph."""
    import asyncio

    from helpers import step_responder

    from o1agent import Reasoner
    from o1agent.policies import ScriptedPolicy
    from o1agent.rewards import make_reward
    from o1agent.rewards.base import ScoreRequest
    from o1agent.schema import Step

    reward = make_reward(f"prm:{out}", ScriptedPolicy(["x"]))
    reqs = [
        ScoreRequest(question="What is 2 + 3?", previous=[], candidate=Step(raw=f"Add\n2 + 3 = {v}"))
        for v in (5, 6)
    ]
    verdicts = asyncio.run(reward.score(reqs))
    assert [v.kind for v in verdicts] == ["process", "process"]
    assert all(0.0 <= (v.score or 0.0) <= 1.0 and v.error is None for v in verdicts)
    assert all(v.usage.prompt_tokens > 10 and v.usage.calls == 1 for v in verdicts)
    # Trained on right (label 1) and off-by-one (label 0) sums, the head ranks 2 + 3 = 5 first
    # (measured: 0.74 vs 0.20).
    assert verdicts[0].score > verdicts[1].score
    right, wrong = "Add\n2 + 3 = 5\nFinal answer: 5", "Add\n2 + 3 = 6\nFinal answer: 6"
    # Width 1: the beam keeps the candidate the PRM scores higher. Both proposal orders are run,
    # so the answer cannot come from the order (an ignored or constant reward keeps the first).
    for first, second in ((right, wrong), (wrong, right)):
        res = Reasoner(
            model=ScriptedPolicy(step_responder({"0": [first, second]})),
            strategy="beam",
            strategy_config={"width": 1, "k": 2, "greedy_first": False},
            reward=f"prm:{out}",
        ).solve("What is 2 + 3?")
        assert res.answer == "5", [(n.id, n.step.raw, n.score) for n in res.tree.nodes.values()]
        assert res.usage.prompt_tokens >= sum(v.usage.prompt_tokens for v in verdicts)
