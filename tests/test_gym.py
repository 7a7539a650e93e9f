"""``o1agent.gym``: the one reasoning-gym adapter — names, configs, items and scoring."""

from __future__ import annotations

from typing import Any

import pytest

from o1agent import gym
from o1agent.errors import ConfigError

CHAIN = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}


def test_task_name_reads_the_spec() -> None:
    assert gym.task_name("reasoning_gym:chain_sum") == "chain_sum"
    for bad in ("chain_sum", "gsm8k", "reasoning_gym:", ""):
        with pytest.raises(ConfigError, match=r"unknown task .*use reasoning_gym:NAME"):
            gym.task_name(bad)


def test_names_and_config_keys_are_checked() -> None:
    assert "chain_sum" in gym.dataset_names() and len(gym.dataset_names()) > 50
    with pytest.raises(
        ConfigError, match=r"unknown reasoning-gym dataset 'chain_summ': did you mean chain_sum"
    ):
        gym.check_name("chain_summ")
    with pytest.raises(
        ConfigError, match=r"unknown reasoning-gym dataset 'zzzz': there are \d+, e.g. chain_sum"
    ):
        gym.check_name("zzzz")
    keys = gym.config_keys("chain_sum")
    assert "min_terms" in keys and "size" not in keys and "seed" not in keys
    with pytest.raises(ConfigError, match=r"has no config key min_term: valid keys are \[.*'max_terms'"):
        gym.check_task("chain_sum", {"min_term": 2})
    with pytest.raises(ConfigError, match="no config key seed, size"):
        gym.check_task("chain_sum", {"size": 2, "seed": 1})


def test_create_dataset_turns_bare_asserts_into_config_errors() -> None:
    with pytest.raises(
        ConfigError, match=r"rejected the config .* for 'chain_sum': max_terms must be >= min_terms"
    ):
        gym.create_dataset("chain_sum", size=2, config={"min_terms": 5, "max_terms": 2})
    with pytest.raises(ConfigError, match="size must be an integer >= 1"):
        gym.create_dataset("chain_sum", size=0)


def test_items_are_stable_prefixes_and_score_with_the_task_checker() -> None:
    ds = gym.create_dataset("chain_sum", size=6, seed=3, config=CHAIN)
    six = gym.items(ds)
    assert len(six) == 6 and gym.items(ds, 2) == six[:2]
    task = gym.GymTask.from_spec("reasoning_gym:chain_sum", CHAIN)
    assert task.spec == "reasoning_gym:chain_sum"
    assert [it["question"] for it in task.items(4, 3)] == [it["question"] for it in six[:4]]
    assert [it["question"] for it in task.items(4, 4)] != [it["question"] for it in six[:4]]
    item = six[0]
    assert task.score(str(item["answer"]), item) == 1.0
    assert task.score(str(int(item["answer"]) + 1), item) == 0.0
    assert gym.score_answer(ds, str(item["answer"]), item) == 1.0


def test_score_answer_clamps_and_absorbs_checker_errors() -> None:
    class Odd:
        def __init__(self, value: Any) -> None:
            self.value = value

        def score_answer(self, answer: str, entry: dict[str, Any]) -> Any:
            if isinstance(self.value, Exception):
                raise self.value
            return self.value

    item = {"question": "q", "answer": "1"}
    assert gym.score_answer(Odd(1.7), "1", item) == 1.0
    assert gym.score_answer(Odd(-0.5), "1", item) == 0.0
    assert gym.score_answer(Odd(None), "1", item) == 0.0
    assert gym.score_answer(Odd(float("nan")), "1", item) == 0.0
    assert gym.score_answer(Odd(0.5), "1", item) == 0.5
    assert gym.score_answer(Odd(ValueError("cannot parse")), "x", item) == 0.0
    with pytest.raises(ValueError, match="cannot parse"):
        gym.score_answer(Odd(ValueError("cannot parse")), "x", item, errors="raise")


def test_every_user_goes_through_the_adapter() -> None:
    # The one adapter: no other module of the library talks to reasoning_gym directly.
    from pathlib import Path

    import o1agent

    root = Path(o1agent.__file__).parent
    users = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "import reasoning_gym" in p.read_text() or "reasoning_gym.factory" in p.read_text()
    )
    assert users == ["gym.py"]
