"""``TrainedPRM``: loader error paths, and a real round trip through a tiny randomly initialised
sequence-classification checkpoint built offline (no downloads)."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from o1agent.errors import ConfigError
from o1agent.rewards import ScoreRequest, TrainedPRM, format_prm_input
from o1agent.schema import Step


def test_missing_path_and_non_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        TrainedPRM(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"no config\.json"):
        TrainedPRM(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="not a transformers checkpoint"):
        TrainedPRM(tmp_path / "f")


def test_missing_torch_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text("{}")
    real_import = builtins.__import__

    def no_torch(name: str, *args: object, **kwargs: object) -> object:
        if name in ("torch", "transformers"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ConfigError, match="needs torch and transformers"):
        TrainedPRM(tmp_path)


def test_format_puts_the_candidate_last() -> None:
    text = format_prm_input("What is 2+2?", [Step(raw="Add.")], Step(raw="Final answer: 4"))
    assert text == "Question: What is 2+2?\n\nStep 1: Add.\n\nStep 2: Final answer: 4"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    d = tmp_path_factory.mktemp("prm")
    cfg = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        num_labels=2,
        pad_token_id=0,
        id2label={0: "wrong", 1: "correct"},
        label2id={"wrong": 0, "correct": 1},
    )
    transformers.AutoModelForSequenceClassification.from_config(cfg).save_pretrained(d)
    # A character-level tokenizer built locally: nothing to download.
    vocab = {
        "[PAD]": 0,
        "[UNK]": 1,
        **{c: i + 2 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789 :+-*=?.")},
    }
    tk = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tk.normalizer = tokenizers.normalizers.Lowercase()
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Split("", "isolated")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]")
    fast.save_pretrained(d)
    return d


@pytest.mark.slow
async def test_tiny_checkpoint_round_trip(tiny_checkpoint: Path) -> None:
    prm = TrainedPRM(tiny_checkpoint, max_length=64)
    assert prm.positive_label == 1 and prm.kind == "process"
    reqs = [
        ScoreRequest(question="What is 2+2?", candidate=Step(raw="Final answer: 4", is_final=True)),
        ScoreRequest(question="What is 2+2?", previous=[Step(raw="x " * 200)], candidate=Step(raw="5")),
    ]
    verdicts = await prm.score(reqs)
    assert [0.0 <= v.score <= 1.0 for v in verdicts] == [True, True]
    assert verdicts[0].score != verdicts[1].score  # different inputs, different outputs
    # Deterministic: the same inputs give the same probabilities, and they match a direct forward.
    again = await prm.score(reqs)
    assert [v.score for v in again] == pytest.approx([v.score for v in verdicts])
    direct = prm.probabilities([format_prm_input(r.question, r.previous, r.candidate) for r in reqs])
    assert direct == pytest.approx([v.score for v in verdicts])


@pytest.mark.slow
async def test_callable_tokenizer_and_value_head(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=1,
        pad_token_id=0,
    )
    transformers.AutoModelForSequenceClassification.from_config(cfg).save_pretrained(tmp_path)

    def tok(texts: list[str]) -> dict:
        ids = [[2 + (ord(c) % 30) for c in t[-32:]] for t in texts]
        width = max(map(len, ids))
        return {
            "input_ids": torch.tensor([[0] * (width - len(x)) + x for x in ids]),
            "attention_mask": torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids]),
        }

    prm = TrainedPRM(tmp_path, tokenizer=tok)
    assert prm.num_labels == 1 and prm.positive_label == 0
    (v,) = await prm.score([ScoreRequest(question="q", candidate=Step(raw="a step"))])
    assert 0.0 < v.score < 1.0 and "P(correct)" in v.rationale
    with pytest.raises(ConfigError, match="positive_label"):
        TrainedPRM(tmp_path, tokenizer=tok, positive_label=3)
    with pytest.raises(ConfigError, match="no usable tokenizer"):
        TrainedPRM(tmp_path)  # saved without a tokenizer and none given


def test_prm_reward_name_fails_clearly_on_a_bad_path(tmp_path: Path) -> None:
    from o1agent.policies import ScriptedPolicy
    from o1agent.rewards import available_rewards, make_reward

    policy = ScriptedPolicy(["x"])
    assert "prm:PATH" in available_rewards()
    with pytest.raises(ConfigError, match="needs a path"):
        make_reward("prm:", policy)
    with pytest.raises(ConfigError, match="not found"):
        make_reward(f"prm:{tmp_path / 'missing'}", policy)
    with pytest.raises(ConfigError, match="not a transformers checkpoint"):
        make_reward(f"prm:{tmp_path}", policy)  # an empty folder


@pytest.mark.slow
async def test_prm_reward_name_loads_a_classifier_checkpoint(tiny_checkpoint: Path) -> None:
    from o1agent.policies import ScriptedPolicy
    from o1agent.rewards import make_reward

    reward = make_reward(f"prm:{tiny_checkpoint}", ScriptedPolicy(["x"]))
    assert isinstance(reward, TrainedPRM)
    (v,) = await reward.score([ScoreRequest(question="what is 2+2?", candidate=Step(raw="2+2=4"))])
    assert 0.0 < (v.score or 0.0) < 1.0
