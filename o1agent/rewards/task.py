"""``TaskScorer``: an outcome reward from a reasoning-gym task's own checker.

reasoning-gym datasets are procedural and offline; each has ``score_answer(answer, entry)`` that
returns 1.0 / 0.0 (partial credit on some tasks). ``TaskScorer(dataset, item)`` grades a final step
of the run on ``item`` with it. ``TaskScorer.from_name("chain_sum", index=0, size=, seed=,
**config)`` builds the dataset through ``o1agent.gym`` (the one reasoning-gym adapter: names and
config keys are checked there) and picks one item; ``task_items`` gives all items for an
evaluation loop.

Answers are read leniently (small models rarely follow an answer format): the step's parsed
answer and the last number of its text are both tried and the best score is kept — the checker,
not the format, decides. A checker that raises on an answer, or takes longer than ``timeout``, is
a verdict on that answer (scored 0, the reason in ``rationale``): it is the answer the checker
cannot read. What this is not: a way to leak gold answers into the search; the item is only read
to score.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import gym
from ..errors import ConfigError
from ..parsing import last_number, lenient_answer
from .base import RewardKind, ScoreRequest, Verdict
from .compose import Composable


def task_items(
    name: str, *, size: int = 10, seed: int = 0, **config: Any
) -> tuple[Any, list[dict[str, Any]]]:
    """``(dataset, items)`` of a reasoning-gym task, for evaluation loops."""
    ds = gym.create_dataset(name, size=size, seed=seed, config=config)
    return ds, gym.items(ds, size)


class TaskScorer(Composable):
    """Outcome reward: ``dataset.score_answer(answer, item)`` for final steps, ``None`` otherwise."""

    kind: RewardKind = "outcome"

    def __init__(
        self, dataset: Any, item: dict[str, Any], *, timeout: float = 10.0, name: str = "task"
    ) -> None:
        if not callable(getattr(dataset, "score_answer", None)):
            raise ConfigError(
                f"TaskScorer needs a dataset with score_answer(answer, entry), got {type(dataset).__name__}"
            )
        if not isinstance(item, dict) or "question" not in item:
            raise ConfigError("TaskScorer needs one dataset item (a dict with 'question' and 'answer')")
        self.dataset = dataset
        self.item = item
        self.timeout = timeout
        self.name = name

    @classmethod
    def from_name(
        cls, name: str, *, index: int = 0, size: int | None = None, seed: int = 0, **config: Any
    ) -> TaskScorer:
        size = size if size is not None else index + 1
        if not 0 <= index < size:
            raise ConfigError(f"index {index} is outside the dataset (size {size})")
        ds = gym.create_dataset(name, size=size, seed=seed, config=config)
        return cls(ds, ds[index], name=f"task:{name}")

    @property
    def question(self) -> str:
        return str(self.item["question"])

    def _best(self, candidates: list[str]) -> tuple[float, str]:
        best, best_ans = 0.0, candidates[0]
        for ans in candidates:
            s = gym.score_answer(self.dataset, ans, self.item, errors="raise")
            if s > best:
                best, best_ans = s, ans
        return best, best_ans

    async def _one(self, req: ScoreRequest) -> Verdict:
        step = req.candidate
        if not step.is_final:
            return Verdict(score=None, kind="outcome", rationale="not a final step")
        text = step.raw or step.text
        cands = [a.strip() for a in (step.answer, lenient_answer(text), last_number(text)) if a and a.strip()]
        cands = list(dict.fromkeys(cands))
        if not cands:
            return Verdict(score=0.0, kind="outcome", rationale="no answer could be extracted")
        try:
            score, ans = await asyncio.wait_for(asyncio.to_thread(self._best, cands), self.timeout)
        except TimeoutError:
            return Verdict(
                score=0.0, kind="outcome", rationale=f"the task scorer timed out after {self.timeout}s"
            )
        except Exception as exc:  # a dataset's checker may choke on odd answers: grade low
            return Verdict(
                score=0.0, kind="outcome", rationale=f"score_answer raised {type(exc).__name__}: {exc}"
            )
        return Verdict(score=score, kind="outcome", rationale=f"{self.name} scored {ans!r}: {score:g}")

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        return list(await asyncio.gather(*(self._one(r) for r in requests)))
