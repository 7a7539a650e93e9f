"""The reasoning-gym adapter: the one place o1agent talks to the ``reasoning_gym`` package.

reasoning-gym's datasets are procedural and offline; each builds items (dicts with ``question``,
``answer`` and ``metadata``) from a seed and a config dataclass, and grades an answer with its own
``score_answer(answer, entry)``. Everything in o1agent that uses them goes through here:

* **names and configs** — ``task_name("reasoning_gym:NAME")`` reads a task spec;
  ``check_task(name, config)`` validates a dataset name against ``reasoning_gym.factory.DATASETS``
  (an unknown one is a ``ConfigError`` with did-you-mean suggestions) and the config's keys
  against the dataset's config dataclass (a typo names the valid keys). ``size`` and ``seed`` are
  never config keys: they are arguments, so there is one truth for each.
* **building items** — ``create_dataset(name, size=, seed=, config=)``, checked first; the bare
  ``assert`` reasoning-gym uses to validate values becomes a ``ConfigError`` too.
  ``GymTask(name, config)`` is a validated task that hands out ``items(n, seed)``.
* **scoring** — ``score_answer(dataset, answer, item)``: the task's own checker, clamped to
  [0, 1]. An answer the checker cannot read (it raises) is a wrong answer, 0.0 — unless
  ``errors="raise"`` asks to see the exception.

What this is not: a grader (``o1agent.rewards.task.TaskScorer`` wraps ``score_answer`` as an
outcome reward), an evaluation dataset (``o1agent.evaluation.datasets``) or a training reward
(``o1agent.learn.data``). reasoning-gym is imported on first use, not with this module.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Mapping
from typing import Any, Literal

from .errors import ConfigError

logger = logging.getLogger(__name__)

PREFIX = "reasoning_gym:"


def _rg() -> Any:
    try:
        import reasoning_gym
    except ImportError:
        raise ConfigError(
            "reasoning-gym datasets need the reasoning-gym package: pip install reasoning-gym"
        ) from None
    return reasoning_gym


def _registry() -> dict[str, Any]:
    _rg()
    from reasoning_gym.factory import DATASETS

    return DATASETS


def task_name(spec: str) -> str:
    """``"reasoning_gym:NAME"`` → ``NAME``; anything else is a ``ConfigError``."""
    text = spec.strip() if isinstance(spec, str) else ""
    if not text.startswith(PREFIX) or not text[len(PREFIX) :].strip():
        raise ConfigError(f"unknown task {spec!r}: use reasoning_gym:NAME (e.g. reasoning_gym:chain_sum)")
    return text[len(PREFIX) :].strip()


def dataset_names() -> list[str]:
    """Every reasoning-gym dataset name, sorted."""
    return sorted(_registry())


def check_name(name: str) -> None:
    """``ConfigError`` unless ``name`` is a reasoning-gym dataset (close names are suggested)."""
    datasets = _registry()
    if name in datasets:
        return
    close = difflib.get_close_matches(name, list(datasets), n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"there are {len(datasets)}, e.g. chain_sum"
    raise ConfigError(f"unknown reasoning-gym dataset {name!r}: {hint}")


def config_keys(name: str) -> list[str]:
    """The config keys of dataset ``name`` (its config dataclass's fields, less size and seed)."""
    check_name(name)
    cfg_cls = _registry()[name][1]
    return sorted(f.name for f in dataclasses.fields(cfg_cls) if f.name not in ("size", "seed"))


def check_task(name: str, config: Mapping[str, Any] | None = None) -> None:
    """``ConfigError`` unless ``name`` is a dataset and every key of ``config`` is one of its
    config fields. Values are checked by ``create_dataset`` (reasoning-gym validates them there)."""
    valid = config_keys(name)
    bad = sorted(set(config or {}) - set(valid))
    if bad:
        raise ConfigError(
            f"reasoning-gym dataset {name!r} has no config key {', '.join(bad)}: valid keys are {valid}"
        )


def create_dataset(name: str, *, size: int, seed: int = 0, config: Mapping[str, Any] | None = None) -> Any:
    """The reasoning-gym dataset ``name`` with ``size`` items from ``seed``, checked first."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"size must be an integer >= 1, got {size!r}")
    config = dict(config or {})
    check_task(name, config)
    try:
        return _rg().create_dataset(name, size=size, seed=seed, **config)
    except (AssertionError, ValueError, TypeError, KeyError) as exc:
        # reasoning-gym validates its configs with bare asserts; turn them into a clear error.
        raise ConfigError(f"reasoning-gym rejected the config {config} for {name!r}: {exc}") from None


def items(dataset: Any, n: int | None = None) -> list[dict[str, Any]]:
    """The first ``n`` items of a built dataset (all of them by default)."""
    size = len(dataset) if n is None else n
    return [dataset[i] for i in range(size)]


def score_answer(
    dataset: Any, answer: str, item: Mapping[str, Any], *, errors: Literal["zero", "raise"] = "zero"
) -> float:
    """``dataset.score_answer(answer, item)`` clamped to [0, 1] (``None`` counts as 0).

    Any object with that method will do. A checker that raises on an answer it cannot read gives
    0.0 (an unreadable answer is a wrong one) unless ``errors="raise"``.
    """
    try:
        value = dataset.score_answer(answer, item)
    except Exception as exc:
        if errors == "raise":
            raise
        logger.debug("score_answer raised on %r: %s: %s", answer, type(exc).__name__, exc)
        return 0.0
    try:
        score = float(value or 0.0)
    except (TypeError, ValueError):
        if errors == "raise":
            raise
        return 0.0
    return max(0.0, min(1.0, score)) if score == score else 0.0  # NaN is no credit


class GymTask:
    """A validated reasoning-gym task: ``name`` and ``config`` fixed, items drawn per seed.

    ``GymTask("chain_sum", {...})`` or ``GymTask.from_spec("reasoning_gym:chain_sum", {...})``; a bad
    name or config fails here, at construction. ``items(n, seed)`` builds the first ``n`` items of
    seed ``seed`` (a smaller ``n`` is a prefix of a larger one); ``score(answer, item)`` grades.
    """

    def __init__(self, name: str, config: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.config = dict(config or {})
        # One item proves the config is accepted, and is the dataset whose checker grades: a
        # reasoning-gym checker reads the item it is given, not the dataset's own items.
        self._scorer = create_dataset(name, size=1, seed=0, config=self.config)

    @classmethod
    def from_spec(cls, spec: str, config: Mapping[str, Any] | None = None) -> GymTask:
        return cls(task_name(spec), config)

    @property
    def spec(self) -> str:
        return PREFIX + self.name

    def dataset(self, n: int, seed: int) -> Any:
        return create_dataset(self.name, size=n, seed=seed, config=self.config)

    def items(self, n: int, seed: int) -> list[dict[str, Any]]:
        return items(self.dataset(n, seed), n)

    def score(self, answer: str, item: Mapping[str, Any]) -> float:
        return score_answer(self._scorer, answer, item)
