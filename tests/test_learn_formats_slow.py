"""Export real search traces of the embedded model (a 3-question DFS verified against gold) as
verl, OpenRLHF and TRL datasets through the CLI, and read them back as those trainers do, with
SmolLM2's real tokenizer: the chat template they apply to the exported messages gives exactly the
prompt o1agent's graph renders, and TRL's own ``apply_chat_template`` rebuilds the SFT text.

verl and OpenRLHF cannot be installed beside o1agent's ``train`` extra (verl pins an older
transformers; OpenRLHF needs flash-attn, which does not build without CUDA), so their own dataset
classes are used only where importable (verl's ``MultiTurnSFTDataset`` imports Qwen2-VL names
that transformers 5.24 no longer has, so only its ``RLHFDataset`` is exercised) — e.g. ``pip install --no-deps --target DIR verl omegaconf
antlr4-python3-runtime==4.9.3 tensordict==0.10.0 codetiming pyvers openrlhf pylatexenc`` and
``PYTHONPATH=DIR``; the documented-column checks always run. Slow: ~1-2 min of CPU."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from o1agent.cli import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import reasoning_gym

    from o1agent.reasoner import Reasoner
    from o1agent.rewards.answer import AnswerVerifier
    from o1agent.schema import Trace

    d = tmp_path_factory.mktemp("fmt")
    ds = reasoning_gym.create_dataset("chain_sum", size=3, seed=5, min_terms=2, max_terms=2, max_digits=1)
    items = list(ds)
    by_q = {it["question"]: it for it in items}
    reasoner = Reasoner(
        model="embedded",
        strategy="dfs",
        strategy_config={"k": 2, "accept": 1.0, "max_depth": 3, "step_tokens": 48, "temperature": 0.8},
        reward=AnswerVerifier(scorer=lambda ans, q: ds.score_answer(ans, by_q[q]), name="gold"),
        budget={"max_nodes": 6, "max_tokens": None},
        seed=3,
    )

    async def run() -> None:
        for it in items:
            res = await reasoner.asolve(it["question"])
            Trace(events=res.trace.events).write_jsonl(d / "traces.jsonl", append=True)

    asyncio.run(run())
    gold = d / "gold.jsonl"
    gold.write_text(
        "".join(json.dumps({"question": it["question"], "answer": it["answer"]}) + "\n" for it in items)
    )
    for fmt in ("verl", "openrlhf", "trl"):
        res = CliRunner().invoke(
            app,
            [
                "train",
                "export",
                str(d / "traces.jsonl"),
                "--format",
                fmt,
                "-o",
                str(d / fmt),
                "--gold",
                str(gold),
            ],
        )
        assert res.exit_code == 0, res.output
    return d, items


@pytest.fixture(scope="module")
def tokenizer():
    from o1agent.learn.model import load_tokenizer

    return load_tokenizer("base")


def _load(path):
    import datasets

    return datasets.load_dataset("parquet" if path.suffix == ".parquet" else "json", data_files=str(path))[
        "train"
    ]


def _manifest(d, fmt):
    return {f["kind"]: f["rows"] for f in json.loads((d / fmt / "manifest.json").read_text())["files"]}


def test_real_traces_export_rl_rows_that_render_as_the_graph_prompts(exported, tokenizer):
    from o1agent.learn.data import Renderer

    d, items = exported
    renderer = Renderer(chat_template=tokenizer.chat_template)
    rl = _load(d / "verl" / "rl.parquet")
    assert len(rl) == 3 and _manifest(d, "verl")["rl"] == 3
    gold = {it["question"]: str(it["answer"]) for it in items}
    for row in rl:
        q = row["extra_info"]["question"]
        assert row["reward_model"] == {"style": "rule", "ground_truth": gold[q]}
        # What verl's RLHFDataset / OpenRLHF's PromptDataset / TRL's GRPOTrainer render: the
        # tokenizer's template with the generation prompt, the graph's prompt minus "Step 1:".
        text = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        assert text + "Step 1:" == renderer.prompt(q, [])
        assert 0.0 <= row["extra_info"]["search_pass_rate"] <= 1.0
    prompts = _load(d / "openrlhf" / "prompts.jsonl")
    grpo = _load(d / "trl" / "grpo.jsonl")
    assert sorted(prompts["label"]) == sorted(grpo["answer"]) == sorted(gold.values())


def test_real_traces_export_labels_and_solutions_that_trainers_read(exported, tokenizer):
    from trl.data_utils import apply_chat_template

    from o1agent.learn.cluster_reward import compute_score

    d, _ = exported
    prm = _load(d / "trl" / "prm.jsonl")
    assert len(prm) >= 3  # every question's search graded at least one rollout
    assert all(len(r["completions"]) == len(r["labels"]) >= 1 for r in prm)
    orl_prm = _load(d / "openrlhf" / "prm.jsonl")
    assert len(orl_prm) == len(prm) and all(r["input"].count("ки") == len(r["value"]) for r in orl_prm)
    counts = _manifest(d, "trl")
    if "sft" not in counts:  # the search verified nothing: only possible if every question failed
        assert all(not any(r["labels"]) for r in prm)
        return
    sft = _load(d / "trl" / "sft.jsonl")
    for row in sft:
        out = apply_chat_template(dict(row), tokenizer)  # TRL's own rendering
        assert out["prompt"].endswith("<|im_start|>assistant\n")
        assert out["completion"].startswith("Step 1:") and "<|im_end|>" in out["completion"]
    verl_sft = _load(d / "verl" / "sft.parquet")
    answers = {r["prompt"][-1]["content"]: r["answer"] for r in _load(d / "trl" / "grpo.jsonl")}
    for row in verl_sft:
        msgs = row["messages"]
        assert compute_score("o1agent", msgs[-1]["content"], answers[msgs[1]["content"]]) == 1.0
    orl_sft = _load(d / "openrlhf" / "sft.jsonl")
    for row in orl_sft:
        # OpenRLHF slices the response off the whole chat at len(prompt): the prompt must be a prefix.
        prompt = tokenizer.apply_chat_template(row["input"], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(row["input"] + row["output"], tokenize=False)
        assert full.startswith(prompt) and full[len(prompt) :].startswith("Step 1:")


@pytest.mark.skipif(importlib.util.find_spec("verl") is None, reason="verl not importable (see docstring)")
def test_verl_own_datasets_read_the_export(exported, tokenizer):
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    d, _ = exported
    cfg = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 512, "cache_dir": str(d / "cache")})
    ds = RLHFDataset(data_files=str(d / "verl" / "rl.parquet"), tokenizer=tokenizer, config=cfg)
    assert (
        len(ds) == 3 and ds[0]["raw_prompt"][1]["role"] == "user" and ds[0]["reward_model"]["style"] == "rule"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("openrlhf") is None, reason="openrlhf not importable (see docstring)"
)
def test_openrlhf_own_datasets_read_the_export(exported, tokenizer):
    from openrlhf.datasets import PromptDataset, RewardDataset, SFTDataset

    d, _ = exported

    def strategy(**data):
        return SimpleNamespace(args=SimpleNamespace(data=SimpleNamespace(**data)), is_rank_0=lambda: False)

    prompts = PromptDataset(
        _load(d / "openrlhf" / "prompts.jsonl"),
        tokenizer,
        strategy(input_key="input", label_key="label", apply_chat_template=True),
    )
    assert len(prompts) == 3
    if (d / "openrlhf" / "sft.jsonl").exists():
        sft = SFTDataset(
            _load(d / "openrlhf" / "sft.jsonl"),
            tokenizer,
            512,
            strategy(input_key="input", output_key="output", apply_chat_template=True),
            num_processors=1,
        )
        assert len(sft) >= 1
    if (d / "openrlhf" / "preference.jsonl").exists():
        pref = RewardDataset(
            _load(d / "openrlhf" / "preference.jsonl"),
            tokenizer,
            512,
            strategy(
                prompt_key="prompt", chosen_key="chosen", rejected_key="rejected", apply_chat_template=False
            ),
            is_dpo=True,
            num_processors=1,
        )
        assert len(pref) >= 1
