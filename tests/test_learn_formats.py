"""``o1agent train export --format verl|openrlhf|trl`` on a hand-built trace: each file has the
columns its trainer documents and reads back the way that trainer's dataset code reads it
(verl: ``datasets.load_dataset("parquet")``; OpenRLHF and TRL: ``datasets.load_dataset("json")``,
TRL's own ``trl.data_utils``); bad input is a named error. The same on traces of the embedded
model, with the real tokenizer (and verl's / OpenRLHF's dataset classes where importable), is in
``test_learn_formats_slow.py``."""

from __future__ import annotations

import json

import pytest
from test_learn_data import Q, _trace
from typer.testing import CliRunner

from o1agent.cli import app
from o1agent.errors import DatasetExportError, MissingGoldError, NoTracesError, UnknownExportFormatError
from o1agent.learn.cluster_reward import compute_score, reward_func
from o1agent.learn.formats import OPENRLHF_PLACEHOLDER, export_dataset


@pytest.fixture()
def traces(tmp_path):
    path = tmp_path / "runs.jsonl"
    _trace("r1").write_jsonl(path)
    _trace("r2").write_jsonl(path, append=True)
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"question": Q, "answer": "5"}) + "\n")
    return path, gold


def _load(path):
    import datasets

    kind = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(kind, data_files=str(path))["train"]


def test_verl_rl_and_sft_parquet_have_the_documented_columns(tmp_path, traces):
    path, gold = traces
    rep = export_dataset([path], tmp_path / "verl", format="verl", gold=[gold])
    assert {f.kind: f.rows for f in rep.files} == {"sft": 1, "rl": 1}
    rl = _load(tmp_path / "verl" / "rl.parquet")
    # docs/preparation/prepare_data.rst: exactly these five fields.
    assert set(rl.column_names) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    row = rl[0]
    assert row["data_source"] == "o1agent" and row["ability"] == "reasoning"
    assert [m["role"] for m in row["prompt"]] == ["system", "user"] and row["prompt"][1]["content"] == Q
    assert row["reward_model"] == {"style": "rule", "ground_truth": "5"}
    assert row["extra_info"]["index"] == 0 and row["extra_info"]["split"] == "train"
    assert row["extra_info"]["search_pass_rate"] == pytest.approx(0.25)  # 2 of 8 graded rollouts
    sft = _load(tmp_path / "verl" / "sft.parquet")
    assert sft.column_names == ["messages"]
    msgs = sft[0]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert msgs[2]["content"] == "Step 1: Add\n2 + 3 = 5\n\nStep 2: Answer\nFinal answer: 5"
    manifest = json.loads((tmp_path / "verl" / "manifest.json").read_text())
    assert manifest["format"] == "verl" and len(manifest["files"]) == 2


def test_verl_reward_function_grades_against_ground_truth():
    assert compute_score("o1agent", "Step 1: Add\n2 + 3 = 5\nFinal answer: 5", "5") == 1.0
    assert compute_score("o1agent", "Step 1: Guess\nFinal answer: 6", "5") == 0.0
    out = reward_func(
        ["PROMPT Final answer: 5<|im_end|>", "PROMPT Final answer: 7"], ["PROMPT", "PROMPT"], ["5", "5"]
    )
    assert out["rewards"].tolist() == [1.0, 0.0] and out["extra_logs"]["accuracy"] == 0.5


def test_openrlhf_files_follow_its_dataset_keys(tmp_path, traces):
    path, gold = traces
    rep = export_dataset([path], tmp_path / "o", format="openrlhf", gold=[gold])
    assert {f.kind for f in rep.files} == {"sft", "preference", "prm", "rl"}
    sft = _load(tmp_path / "o" / "sft.jsonl")[0]
    # openrlhf/datasets/sft_dataset.py: input_key messages + output_key messages, concatenated.
    assert [m["role"] for m in sft["input"]] == ["system", "user"]
    assert [m["role"] for m in sft["output"]] == ["assistant"]
    pref = _load(tmp_path / "o" / "preference.jsonl")
    assert len(pref) == 3  # runs r1 and r2 found the same three pairs: each is written once
    assert set(pref.column_names) == {"prompt", "chosen", "rejected", "margin"}
    first = next(r for r in pref if r["prompt"].endswith("Step 2:"))
    assert first["chosen"] == " Answer\nFinal answer: 5<|im_end|>" and first["margin"] == 1.0
    prm = _load(tmp_path / "o" / "prm.jsonl")
    assert set(prm.column_names) == {"input", "value"}
    for r in prm:
        # ProcessRewardDataset: one label per placeholder token, "+"/"-" reward tokens.
        assert r["input"].count(OPENRLHF_PLACEHOLDER) == len(r["value"]) and set(r["value"]) <= {"+", "-"}
        assert r["input"].startswith(Q + " Step 1: ")
    good = next(r for r in prm if "Final answer: 5" in r["input"])
    assert good["value"] == ["+", "+"]
    prompts = _load(tmp_path / "o" / "prompts.jsonl")[0]
    assert prompts["label"] == "5" and prompts["input"][-1] == {"role": "user", "content": Q}


def test_trl_files_are_its_standard_and_conversational_types(tmp_path, traces):
    from trl.data_utils import is_conversational, unpair_preference_dataset

    path, gold = traces
    export_dataset([path], tmp_path / "t", format="trl", gold=[gold])
    sft = _load(tmp_path / "t" / "sft.jsonl")
    assert set(sft.column_names) == {"prompt", "completion"} and is_conversational(sft[0])
    dpo = _load(tmp_path / "t" / "dpo.jsonl")
    assert set(dpo.column_names) == {"prompt", "chosen", "rejected"} and not is_conversational(dpo[0])
    unpaired = unpair_preference_dataset(dpo)  # TRL's own transform accepts the pairs
    assert len(unpaired) == 2 * len(dpo) and set(unpaired.column_names) == {"prompt", "completion", "label"}
    prm = _load(tmp_path / "t" / "prm.jsonl")
    assert set(prm.column_names) == {"prompt", "completions", "labels"}
    for r in prm:
        assert r["prompt"] == Q and len(r["completions"]) == len(r["labels"])
        assert all(isinstance(b, bool) for b in r["labels"])
    grpo = _load(tmp_path / "t" / "grpo.jsonl")
    assert set(grpo.column_names) == {"prompt", "answer"} and is_conversational(grpo[0])
    from o1agent.learn.data import answer_reward

    assert answer_reward()(
        completions=[[{"role": "assistant", "content": "Final answer: 5"}]], answer=grpo["answer"]
    ) == [1.0]


def test_an_eval_folder_brings_its_own_gold(tmp_path, traces):
    path, _ = traces
    run = tmp_path / "eval"
    (run / "traces").mkdir(parents=True)
    (run / "traces" / "beam-700.jsonl").write_text(path.read_text())
    # An eval row's "answer" is the model's: the gold is "gold".
    (run / "items.jsonl").write_text(json.dumps({"question": Q, "gold": "5", "answer": "6"}) + "\n")
    export_dataset([run], tmp_path / "t", format="trl", kinds=["rl"])
    assert _load(tmp_path / "t" / "grpo.jsonl")[0]["answer"] == "5"


def test_bad_input_is_a_named_error(tmp_path, traces):
    path, gold = traces
    with pytest.raises(UnknownExportFormatError, match="unknown export format 'nemo'"):
        export_dataset([path], tmp_path / "x", format="nemo")
    with pytest.raises(UnknownExportFormatError, match="verl has no documented dataset for preference"):
        export_dataset([path], tmp_path / "x", format="verl", kinds=["preference"], gold=[gold])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(NoTracesError, match="no search run"):
        export_dataset([empty], tmp_path / "x", format="trl")
    with pytest.raises(MissingGoldError, match="RL rows need a gold answer"):
        export_dataset([path], tmp_path / "x", format="verl")
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"question": "What is 1 + 1?", "answer": "2"}) + "\n")
    with pytest.raises(MissingGoldError, match="answers none of the 1 traced"):
        export_dataset([path], tmp_path / "x", format="openrlhf", gold=[other])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": Q}) + "\n")
    with pytest.raises(MissingGoldError, match=r"bad\.jsonl:1 has no 'question'"):
        export_dataset([path], tmp_path / "x", format="trl", gold=[bad])
    assert issubclass(MissingGoldError, DatasetExportError)
    # Without RL no gold is needed.
    rep = export_dataset([path], tmp_path / "ok", format="verl", kinds=["sft"])
    assert [f.kind for f in rep.files] == ["sft"]


def test_cli_export_formats_and_errors(tmp_path, traces):
    path, gold = traces
    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app, ["train", "export", str(path), "--format", "openrlhf", "--out", str(out), "--gold", str(gold)]
    )
    assert res.exit_code == 0, res.output
    assert "openrlhf export: 2 runs, 1 questions" in res.output and (out / "prm.jsonl").is_file()
    res = CliRunner().invoke(
        app, ["train", "export", str(path), "--format", "trl", "--what", "sft,prm", "-o", str(out)]
    )
    assert res.exit_code == 0 and "prm" in res.output
    bad = CliRunner().invoke(app, ["train", "export", str(path), "--format", "nope"])
    assert bad.exit_code == 2 and "unknown export format 'nope'" in bad.output
    nogold = CliRunner().invoke(app, ["train", "export", str(path), "--format", "verl", "-o", str(out)])
    assert nogold.exit_code == 2 and "--gold" in nogold.output
    two = CliRunner().invoke(app, ["train", "export", "a", "b"])
    assert two.exit_code == 2 and "one checkpoint" in two.output


def test_gold_regrades_what_the_search_reward_called_verified(tmp_path, traces):
    path, _ = traces
    # The traced reward graded "5" correct; with gold "6" (say the reward was a fooled judge) the
    # export keeps only solutions that state 6, and the step labels follow.
    gold = tmp_path / "six.jsonl"
    gold.write_text(json.dumps({"question": Q, "answer": "6"}) + "\n")
    export_dataset([path], tmp_path / "t", format="trl", gold=[gold])
    sft = _load(tmp_path / "t" / "sft.jsonl")
    assert len(sft) == 1 and sft[0]["completion"][0]["content"].endswith("Final answer: 6")
    prm = {tuple(r["completions"]): r["labels"] for r in _load(tmp_path / "t" / "prm.jsonl")}
    assert prm[("Step 1: Add\n2 + 3 = 5", "Step 2: Answer\nFinal answer: 5")] == [True, False]
