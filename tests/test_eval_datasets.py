"""Evaluation datasets: reasoning-gym with config validation, HumanEval, JSONL, and clear errors for
every bad input (unknown dataset, bad config key or value, unreadable / malformed / empty JSONL)."""

from __future__ import annotations

import gzip
import json

import pytest

from o1agent.errors import ConfigError
from o1agent.evaluation.datasets import load_dataset, parse_config
from o1agent.rewards.base import ScoreRequest
from o1agent.schema import Step


def final(answer: str) -> Step:
    return Step(text=f"Final answer: {answer}", raw=f"Final answer: {answer}", answer=answer, is_final=True)


async def grade(ds, item, answer: str) -> float:
    (v,) = await ds.grader(item).score([ScoreRequest(question=item.question, candidate=final(answer))])
    return float(v.score or 0.0)


def test_parse_config():
    assert parse_config("min_terms=2,max_terms=3, allow_negation=false") == {
        "min_terms": 2,
        "max_terms": 3,
        "allow_negation": False,
    }
    assert parse_config(None) == {} and parse_config("name=abc") == {"name": "abc"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_config("min_terms")


async def test_reasoning_gym_items_are_stable_and_graded_by_the_task():
    ds = load_dataset("reasoning_gym:chain_sum", config={"min_terms": 2, "max_terms": 2}, n=5, seed=1)
    assert len(ds.items) == 5 and ds.name == "reasoning_gym:chain_sum"
    assert len({it.id for it in ds.items}) == 5
    # A smaller --n is a prefix of a larger one: resumed runs may grow without renumbering.
    bigger = load_dataset("reasoning_gym:chain_sum", config={"min_terms": 2, "max_terms": 2}, n=8, seed=1)
    assert [(i.id, i.question, i.gold) for i in bigger.items[:5]] == [
        (i.id, i.question, i.gold) for i in ds.items
    ]
    item = ds.items[0]
    assert await grade(ds, item, item.gold) == 1.0
    assert await grade(ds, item, str(int(item.gold) + 1)) == 0.0


def test_unknown_reasoning_gym_dataset_lists_close_names():
    with pytest.raises(ConfigError, match=r"unknown reasoning-gym dataset 'chain_summ'.*chain_sum"):
        load_dataset("reasoning_gym:chain_summ")


def test_bad_config_key_names_the_valid_keys():
    with pytest.raises(ConfigError, match=r"no config key min_term.*max_terms"):
        load_dataset("reasoning_gym:chain_sum", config={"min_term": 2}, n=2)
    # size/seed come from --n/--seed only.
    with pytest.raises(ConfigError, match="no config key size"):
        load_dataset("reasoning_gym:chain_sum", config={"size": 2}, n=2)


def test_bad_config_value_is_a_config_error_not_an_assertion():
    with pytest.raises(ConfigError, match="max_terms must be >= min_terms"):
        load_dataset("reasoning_gym:chain_sum", config={"min_terms": 5, "max_terms": 2}, n=2)


def test_unknown_spec_and_misplaced_config():
    with pytest.raises(ConfigError, match=r"unknown dataset 'gsm8k'.*jsonl:PATH"):
        load_dataset("gsm8k")
    with pytest.raises(ConfigError, match="reasoning_gym datasets only"):
        load_dataset("human_eval", config={"x": 1})
    with pytest.raises(ConfigError, match="--n must be at least 1"):
        load_dataset("human_eval", n=0)


def test_human_eval_has_164_problems_and_n_subsets():
    ds = load_dataset("human_eval")
    assert len(ds.items) == 164
    assert ds.items[0].id == "HumanEval/0" and "def has_close_elements" in ds.items[0].question
    sub = load_dataset("human_eval", n=3)
    assert [i.id for i in sub.items] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert type(sub.grader(sub.items[0])).__name__ == "CodeTests"


async def test_jsonl_dataset_with_math_and_exact_verifiers(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [
        {"question": "Half of one?", "answer": "1/2"},
        {"id": "b", "question": "Two plus two?", "answer": 4},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    ds = load_dataset(f"jsonl:{path}")
    assert [i.id for i in ds.items] == ["1", "b"] and ds.items[1].gold == "4"
    assert await grade(ds, ds.items[0], "0.5") == 1.0  # math-verify equivalence
    assert await grade(ds, ds.items[1], "5") == 0.0
    exact = load_dataset(f"jsonl:{path}", verifier="exact")
    assert await grade(exact, exact.items[0], "0.5") == 0.0
    assert await grade(exact, exact.items[1], "4.0") == 1.0
    assert len(load_dataset(f"jsonl:{path}", n=1).items) == 1


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "not found"),
        (b"", "is empty"),
        (b"\n  \n", "is empty"),
        (b'{"question": "q", "answer": "a"}\n{not json\n', r":2 is not valid JSON"),
        (b'{"question": "q"}\n', r"lacks the field\(s\) \['answer'\]"),
        (b"[1, 2]\n", "must be a JSON object"),
        (b'{"question": " ", "answer": "a"}\n', "empty question"),
        (
            b'{"id": 1, "question": "q", "answer": "a"}\n{"id": 1, "question": "r", "answer": "b"}\n',
            "repeats the id",
        ),
        (gzip.compress(b'{"question": "q", "answer": "a"}\n'), "cannot read"),
    ],
)
def test_bad_jsonl_gives_clear_errors(tmp_path, content, match):
    path = tmp_path / "data.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        load_dataset(f"jsonl:{path}")


def test_unreadable_jsonl_directory(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_dataset(f"jsonl:{tmp_path}")
