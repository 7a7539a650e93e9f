"""Reward specs for ``solve(reward="...")`` and the CLI's ``--reward``: one table, one parser.

A spec is one of:

* a registered name (``"judge"``, ``"arith"``, ``"judge+confidence"``, ... — ``available_rewards()``);
* ``"prm:PATH"`` — a trained process reward model in a folder: ``o1agent train prm`` output
  (``prm_config.json``: a value head on the frozen base LM, served by ``LearnedPRM``) or any
  transformers sequence-classification checkpoint (``config.json``, served by ``TrainedPRM``);
* a weighted sum of those, ``"0.7*judge+0.3*arith"`` (a term without ``W*`` weighs 1), built as
  ``Weighted``. A whole spec that is a registered name or starts with ``prm:`` is one term (so
  ``"judge+confidence"`` is the preset and a PRM path may hold ``+``); inside a sum, ``+`` always
  separates terms;
* ``"none"`` — no reward model (the reasoner resolves it to ``None``; ``check_reward`` accepts it).

``check_reward(spec)`` validates a spec without building anything — no model, no policy, no
torch import — and raises exactly what ``make_reward`` would, so a bad reward fails before a model
loads. What this is not: the graders themselves (one module each).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UnknownRewardError
from ..policies.base import Policy
from .base import RewardModel
from .compose import Weighted

RewardFactory = Callable[[Policy], RewardModel]
_REWARDS: dict[str, RewardFactory] = {}


def register_reward(name: str) -> Callable[[RewardFactory], RewardFactory]:
    def deco(f: RewardFactory) -> RewardFactory:
        _REWARDS[name] = f
        return f

    return deco


@register_reward("judge")
def _judge(policy: Policy) -> RewardModel:
    from .judge import LLMJudge

    return LLMJudge(policy)


@register_reward("blind")
def _blind(policy: Policy) -> RewardModel:
    # The control: every score 0.5, so a search keeps its structure and loses its signal.
    from .blind import Blind

    return Blind()


@register_reward("confidence")
def _confidence(policy: Policy) -> RewardModel:
    from .confidence import Confidence

    return Confidence()


@register_reward("consistency")
def _consistency(policy: Policy) -> RewardModel:
    from .consistency import SelfConsistency

    return SelfConsistency()


@register_reward("judge+confidence")
def _judge_confidence(policy: Policy) -> RewardModel:
    # The judge decides; the policy's own token confidence breaks near-ties for free.
    from .confidence import Confidence
    from .judge import LLMJudge

    return Weighted([(LLMJudge(policy), 0.7), (Confidence(), 0.3)], name="judge+confidence")


@register_reward("arith")
def _arith(policy: Policy) -> RewardModel:
    # Grounded: re-computes the step's own arithmetic claims; needs no model and no gold answer.
    from .arith import ArithmeticCheck

    return ArithmeticCheck()


@register_reward("arith+confidence")
def _arith_confidence(policy: Policy) -> RewardModel:
    # The calculator vetoes wrong claims; token confidence ranks steps that make none.
    from .arith import ArithmeticCheck
    from .confidence import Confidence

    return Weighted([(ArithmeticCheck(), 0.7), (Confidence(), 0.3)], name="arith+confidence")


@register_reward("exec")
def _exec(policy: Policy) -> RewardModel:
    # Grounded: arithmetic claims, tool errors and the question's docstring examples, executed.
    from .execution import ExecutionCheck

    return ExecutionCheck()


@register_reward("judge+consistency")
def _judge_consistency(policy: Policy) -> RewardModel:
    # Open steps: the judge alone (consistency has no opinion); final answers: half agreement.
    from .consistency import SelfConsistency
    from .judge import LLMJudge

    return Weighted([(LLMJudge(policy), 0.5), (SelfConsistency(), 0.5)], name="judge+consistency")


def available_rewards() -> list[str]:
    return sorted([*_REWARDS, "none", "prm:PATH"])


# ---- specs ---------------------------------------------------------------------------------------


def _unknown(name: str, spec: str) -> UnknownRewardError:
    where = f" in {spec!r}" if name != spec else ""
    return UnknownRewardError(f"unknown reward {name!r}{where}: choose one of {available_rewards()}")


def parse_reward_spec(spec: str) -> list[tuple[str, float]]:
    """``(name, weight)`` terms of a reward spec (see the module docstring); names are registered
    names or ``prm:PATH``. A single name is one term of weight 1. Raises ``UnknownRewardError`` for
    an unknown name and ``ConfigError`` for a malformed sum; nothing is built or loaded."""
    text = spec.strip()
    if not text:
        raise UnknownRewardError(f"the reward name is empty: choose one of {available_rewards()}")
    # Whole-spec matches first: registered names may contain "+" ("judge+confidence") and a
    # PRM folder's path may contain anything.
    if text in _REWARDS or text.startswith("prm:"):
        return [(text, 1.0)]
    if "+" not in text and "*" not in text:
        raise _unknown(text, text)
    terms: list[tuple[str, float]] = []
    for part in text.split("+"):
        part = part.strip()
        if not part:
            raise ConfigError(f"reward {spec!r} has an empty term: write it like 0.7*judge+0.3*arith")
        weight = 1.0
        name = part
        if "*" in part and not part.startswith("prm:"):
            w_text, name = (p.strip() for p in part.split("*", 1))
            try:
                weight = float(w_text)
            except ValueError:
                raise ConfigError(
                    f"reward {spec!r}: {w_text!r} is not a weight (write weight*name, e.g. 0.7*judge)"
                ) from None
        if name == "none":
            raise ConfigError(f"reward {spec!r}: 'none' cannot be part of a weighted sum")
        if name not in _REWARDS and not name.startswith("prm:"):
            raise _unknown(name, text)
        if math.isnan(weight) or math.isinf(weight) or weight < 0:
            # Weighted's own message, so check_reward and make_reward say the same thing.
            raise ConfigError(f"reward weights must be non-negative numbers, got {weight!r} for {name}")
        terms.append((name, weight))
    if sum(w for _, w in terms) <= 0:
        raise ConfigError("Weighted needs at least one reward model with a positive weight")
    return terms


def _prm_folder(path: str) -> tuple[Path, str]:
    """The folder of ``prm:PATH`` and which loader serves it ("learned" or "trained"), checked the
    way the loaders check it; nothing is imported or read beyond file names."""
    if not path.strip():
        raise ConfigError("reward 'prm:PATH' needs a path, e.g. prm:runs/prm")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"PRM folder not found: {folder} (train one with `o1agent train prm`)")
    if (folder / "prm_config.json").exists():
        return folder, "learned"
    if not (folder / "config.json").exists():
        raise ConfigError(f"{folder} is not a transformers checkpoint directory (no config.json)")
    return folder, "trained"


def _check_torch() -> None:
    # find_spec locates the packages without importing them (torch takes seconds to import).
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"a trained PRM needs torch and transformers ({missing[0]} is missing): pip install 'o1agent[train]'"
        )


def prm_reward(path: str | Path) -> RewardModel:
    """The trained PRM in ``path`` (see the module docstring); ``ConfigError`` if it is not one."""
    folder, kind = _prm_folder(str(path))
    _check_torch()
    if kind == "learned":
        from .prm import LearnedPRM

        return LearnedPRM(folder)
    from .prm import TrainedPRM

    return TrainedPRM(folder)


def _check_term(name: str) -> None:
    if name.startswith("prm:"):
        _prm_folder(name[len("prm:") :])
        _check_torch()


def check_reward(spec: Any) -> None:
    """Validate a reward spec cheaply: raise what ``make_reward`` would raise for it, without
    building a grader, loading a model or needing a policy. ``None``, ``"none"`` and reward model
    objects pass."""
    if spec is None:
        return
    if not isinstance(spec, str):
        if not hasattr(spec, "score"):
            raise UnknownRewardError(f"reward must be a name or a RewardModel, got {type(spec).__name__}")
        return
    if spec.strip() == "none":
        return
    for name, _ in parse_reward_spec(spec):
        _check_term(name)


def _build(name: str, policy: Policy) -> RewardModel:
    if name.startswith("prm:"):
        return prm_reward(name[len("prm:") :])
    return _REWARDS[name](policy)


def make_reward(name: str, policy: Policy) -> RewardModel:
    """The reward model a spec names (see the module docstring), built over ``policy``."""
    terms = parse_reward_spec(name)
    # Every term is checked before any is built: a typo in the last term must not cost a PRM load.
    for term, _ in terms:
        _check_term(term)
    if len(terms) == 1 and terms[0][0] == name.strip():
        return _build(terms[0][0], policy)
    return Weighted([(_build(t, policy), w) for t, w in terms], name=name.strip().replace(" ", ""))
