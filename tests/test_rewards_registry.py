"""Reward specs: names, ``prm:PATH``, weighted sums and ``none``; ``check_reward`` validates them
without building anything and raises what ``make_reward`` raises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from o1agent.errors import ConfigError, UnknownRewardError
from o1agent.policies.scripted import ScriptedPolicy
from o1agent.rewards import (
    ArithmeticCheck,
    Confidence,
    LLMJudge,
    Weighted,
    check_reward,
    make_reward,
    parse_reward_spec,
    registry,
)


def test_parse_names_sums_and_paths() -> None:
    assert parse_reward_spec("judge") == [("judge", 1.0)]
    assert parse_reward_spec("judge+confidence") == [("judge+confidence", 1.0)]  # a preset, not a sum
    assert parse_reward_spec(" 0.7*judge + 0.3 * arith ") == [("judge", 0.7), ("arith", 0.3)]
    # Presets are whole specs only: inside a sum, "+" separates terms.
    assert parse_reward_spec("arith+confidence+2*judge") == [
        ("arith", 1.0),
        ("confidence", 1.0),
        ("judge", 2.0),
    ]
    assert parse_reward_spec("confidence+2*judge") == [("confidence", 1.0), ("judge", 2.0)]
    assert parse_reward_spec("prm:runs/a+b*c") == [("prm:runs/a+b*c", 1.0)]  # a path is taken whole
    assert parse_reward_spec("0.5*prm:runs/p+0.5*arith") == [("prm:runs/p", 0.5), ("arith", 0.5)]


def test_make_reward_builds_a_weighted_sum() -> None:
    rm = make_reward("0.7*judge+0.3*arith", ScriptedPolicy(["Yes"]))
    assert isinstance(rm, Weighted) and rm.name == "0.7*judge+0.3*arith"
    assert [(type(r), w) for r, w in rm.terms] == [(LLMJudge, 0.7), (ArithmeticCheck, 0.3)]
    assert isinstance(make_reward("confidence", ScriptedPolicy(["x"])), Confidence)


BAD_SPECS = [
    ("jugde", UnknownRewardError, r"unknown reward 'jugde': choose one of \["),
    ("", UnknownRewardError, "reward name is empty"),
    ("0.7*judge+0.3*nope", UnknownRewardError, r"unknown reward 'nope' in '0.7\*judge\+0.3\*nope'"),
    ("x*judge", ConfigError, "'x' is not a weight"),
    ("0.5*judge+", ConfigError, "empty term"),
    ("-1*judge+arith", ConfigError, "non-negative numbers, got -1.0 for judge"),
    ("nan*judge+arith", ConfigError, "non-negative numbers, got nan for judge"),
    ("0*judge+0*arith", ConfigError, "at least one reward model with a positive weight"),
    ("none+judge", ConfigError, "'none' cannot be part of a weighted sum"),
    ("prm:", ConfigError, "needs a path"),
]


@pytest.mark.parametrize(("spec", "kind", "message"), BAD_SPECS)
def test_check_reward_raises_what_make_reward_raises(spec: str, kind: type, message: str) -> None:
    with pytest.raises(kind, match=message) as checked:
        check_reward(spec)
    with pytest.raises(kind, match=message) as made:
        make_reward(spec, ScriptedPolicy(["x"]))
    assert type(checked.value) is type(made.value) and str(checked.value) == str(made.value)


def test_check_reward_checks_prm_folders_without_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="PRM folder not found"):
        check_reward(f"prm:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match=r"not a transformers checkpoint directory \(no config\.json\)"):
        check_reward(f"prm:{tmp_path}")
    with pytest.raises(ConfigError, match="PRM folder not found"):
        check_reward(f"0.5*arith+0.5*prm:{tmp_path / 'missing'}")

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("check_reward must not load a model")

    from o1agent.rewards import prm

    monkeypatch.setattr(prm.LearnedPRM, "__init__", no_load)
    monkeypatch.setattr(prm.TrainedPRM, "__init__", no_load)
    learned, trained = tmp_path / "learned", tmp_path / "trained"
    learned.mkdir()
    trained.mkdir()
    (learned / "prm_config.json").write_text("{}")
    (trained / "config.json").write_text("{}")
    check_reward(f"prm:{learned}")
    check_reward(f"0.5*prm:{trained}+0.5*arith")


def test_check_reward_reports_missing_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "prm_config.json").write_text("{}")
    real = registry.importlib.util.find_spec
    monkeypatch.setattr(
        registry.importlib.util, "find_spec", lambda name: None if name == "torch" else real(name)
    )
    with pytest.raises(ConfigError, match="needs torch and transformers \\(torch is missing\\)"):
        check_reward(f"prm:{tmp_path}")


def test_check_reward_accepts_none_names_and_objects() -> None:
    for spec in (None, "none", "judge", "arith+confidence", "0.7*judge+0.3*arith", ArithmeticCheck()):
        check_reward(spec)
    with pytest.raises(UnknownRewardError, match="a name or a RewardModel, got int"):
        check_reward(3)


def test_check_reward_is_cheap() -> None:
    # A bad reward must fail before any model loads: checking imports no torch and no backend.
    code = (
        "import sys; from o1agent.rewards import check_reward; check_reward('0.7*judge+0.3*arith'); "
        "print(sorted(m for m in ('torch', 'transformers', 'llama_cpp', 'litellm') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
