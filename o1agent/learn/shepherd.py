"""Math-Shepherd step labels by Monte-Carlo completion: the PRM's training data, from rollouts.

For each training problem, ``solutions`` whole solutions are written in the graph's own step
protocol (the ``propose`` prompt, "Step 1:" onwards; the first greedy, the rest sampled) and cut
into steps at their "Step N:" labels, up to the first step that states an answer. Every step that
is not the last is then *completed* ``rollouts`` times from its prefix (the same prompt the graph
renders after that step, so the text the PRM is trained on is the text it scores at search time),
and each completion's answer is graded by the task's scorer. A step's soft label is the share of
its completions that reach a correct answer, its hard label 1 when any does (Math-Shepherd,
Wang et al. 2024); the answering step is labelled by its own answer. A solution cut at
``max_steps`` before it answers has every kept step completed (none is labelled by fiat).

All the completions of a problem go to the policy as one ``complete_many`` call, and
``concurrency`` problems are in flight at once, so on ``LlamaCppPolicy`` they share batched
decode steps (``policies.llamacpp_batch``) and fork the question's KV cache instead of
re-reading it.

The run is resumable: each problem's labels are appended to ``labels.jsonl`` and then a line to
``problems.jsonl`` (its index, label count, tokens, seconds and whether its first solution was
right); a rerun drops labels of problems not in the ledger (cut by a kill) and skips the rest.
Gold answers are read only by the grader, after a completion: they never reach a prompt.

What this is not: a trainer (``o1agent.learn.train.train_prm`` fits the labels) or a search.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import LearnError
from ..parsing import lenient_answer, parse_step
from ..policies.base import Completion, CompletionRequest, Policy, derive_seed
from ..prompts import PromptSet
from ..schema import Step
from .data import PRMLabel, Renderer, read_jsonl

logger = logging.getLogger(__name__)

# The model's own step labels inside one whole solution; a solution is cut into steps here.
_STEP_SPLIT = re.compile(r"\n[ \t]*(?:\*\*)?Step\s+\d+\s*:(?:\*\*)?[ \t]*")
# A whole solution ends before the model invents the next question (the prompt's example).
_SOLUTION_STOPS = ["\nQuestion:"]


class ShepherdConfig(BaseModel):
    """How steps are labelled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    solutions: int = Field(default=2, ge=1, le=16, description="solutions per problem (first greedy)")
    rollouts: int = Field(default=4, ge=1, le=32, description="completions per step prefix")
    temperature: float = Field(default=0.8, gt=0.0, le=2.0, description="sampling temperature")
    max_tokens: int = Field(default=192, ge=16, le=2048, description="max new tokens per solution/completion")
    max_steps: int = Field(default=6, ge=1, le=32, description="steps kept per solution")
    concurrency: int = Field(default=4, ge=1, le=64, description="problems in flight at once")
    seed: int = 0


class ProblemRecord(BaseModel):
    """One labelled problem in ``problems.jsonl``."""

    index: int
    labels: int
    tokens: int
    seconds: float
    first_correct: bool = Field(description="the first (greedy) solution's answer was right")
    solutions_correct: int


def split_solution(text: str, *, max_steps: int) -> tuple[list[Step], bool]:
    """A whole solution (the text after "Step 1:") as steps, up to the first that answers, and
    whether one did. Empty pieces are dropped."""
    steps: list[Step] = []
    for piece in _STEP_SPLIT.split(text):
        if not piece.strip():
            continue
        step = parse_step(piece, finish_reason=None, eos_means_final=False)
        steps.append(step)
        if step.is_final:
            return steps, True
        if len(steps) >= max_steps:
            break
    return steps, False


def completion_answer(text: str) -> str | None:
    """The answer a completion reaches: its first step that states one, else a lenient read."""
    steps, answered = split_solution(text, max_steps=64)
    if answered:
        return steps[-1].answer
    return lenient_answer(text)


def _seed(base: int, *parts: object) -> int:
    seed = derive_seed(base, *parts)
    assert seed is not None  # a seed derived from an int base is an int
    return seed


def _tokens(outs: Sequence[Completion]) -> int:
    return sum(o.prompt_tokens + o.completion_tokens for o in outs)


class Labeler:
    """Labels problems with one policy; see the module docstring."""

    def __init__(
        self,
        policy: Policy,
        grade: Callable[[str | None, Mapping[str, Any]], bool],
        cfg: ShepherdConfig,
        *,
        prompts: PromptSet | str = "g1",
        chat_template: str | None = None,
    ) -> None:
        self.policy = policy
        self.grade = grade
        self.cfg = cfg
        self.renderer = Renderer(prompts, chat_template)

    def _request(
        self, question: str, steps: Sequence[Step], *, n: int, greedy: bool, seed: int
    ) -> CompletionRequest:
        messages, prefix = self.renderer.parts_steps(question, steps)
        return CompletionRequest(
            messages=messages,  # type: ignore[arg-type]  # validated into Message
            assistant_prefix=prefix,
            max_tokens=self.cfg.max_tokens,
            temperature=0.0 if greedy else self.cfg.temperature,
            n=n,
            seed=seed,
            stop=list(_SOLUTION_STOPS),
            metadata={"purpose": "shepherd"},
        )

    async def label(self, index: int, item: Mapping[str, Any]) -> tuple[list[PRMLabel], ProblemRecord]:
        """The labels of one problem and its ledger record."""
        cfg, question = self.cfg, str(item["question"])
        t0 = time.perf_counter()
        base = _seed(cfg.seed, str(index), 0)
        reqs = [self._request(question, [], n=1, greedy=True, seed=base)]
        if cfg.solutions > 1:
            reqs.append(self._request(question, [], n=cfg.solutions - 1, greedy=False, seed=base + 1))
        outs = [c for group in await self.policy.complete_many(reqs) for c in group]
        tokens = _tokens(outs)
        solutions = [split_solution(o.text, max_steps=cfg.max_steps) for o in outs]
        # One call for every step prefix of every solution that is not its answering step.
        prefixes: list[tuple[int, int]] = []
        rollout_reqs: list[CompletionRequest] = []
        for s, (steps, answered) in enumerate(solutions):
            for i in range(len(steps) - 1 if answered else len(steps)):
                prefixes.append((s, i))
                seed = _seed(cfg.seed, f"{index}/{s}/{i}", 1)
                rollout_reqs.append(
                    self._request(question, steps[: i + 1], n=cfg.rollouts, greedy=False, seed=seed)
                )
        groups = await self.policy.complete_many(rollout_reqs) if rollout_reqs else []
        tokens += sum(_tokens(g) for g in groups)
        mc: dict[tuple[int, int], tuple[int, int]] = {}
        for key, group in zip(prefixes, groups, strict=True):
            oks = [self.grade(completion_answer(c.text), item) for c in group]
            mc[key] = (sum(oks), len(oks))
        labels: list[PRMLabel] = []
        correct: list[bool] = []
        for s, (steps, answered) in enumerate(solutions):
            own_ok = answered and self.grade(steps[-1].answer, item)
            correct.append(bool(own_ok))
            for i, step in enumerate(steps):
                # Every step is completed but the answering one, which its own answer labels.
                k, n = mc[(s, i)] if (s, i) in mc else (int(own_ok), 1)
                labels.append(
                    PRMLabel(
                        problem=question,
                        run_id=f"shepherd-{index}-{s}",
                        node_id=str(i + 1),
                        prompt=self.renderer.prompt_steps(question, steps[:i]),
                        step=" " + step.raw,
                        soft=k / n,
                        hard=int(k > 0),
                        rollouts=n,
                    )
                )
        rec = ProblemRecord(
            index=index,
            labels=len(labels),
            tokens=tokens,
            seconds=round(time.perf_counter() - t0, 2),
            first_correct=correct[0] if correct else False,
            solutions_correct=sum(correct),
        )
        return labels, rec


def read_labels(path: str | Path) -> list[PRMLabel]:
    """PRM labels from a ``labels.jsonl`` (this module's, or ``train data``'s ``prm.jsonl``)."""
    p = Path(path)
    if not p.is_file():
        raise LearnError(f"no PRM label file at {p}")
    try:
        return [PRMLabel.model_validate(r) for r in read_jsonl(p)]
    except ValueError as exc:
        raise LearnError(f"{p}: not PRM labels ({exc})") from None


async def label_items(
    labeler: Labeler,
    items: Sequence[Mapping[str, Any]],
    workdir: Path,
    *,
    on_problem: Callable[[int, int, ProblemRecord], None] | None = None,
) -> list[ProblemRecord]:
    """Label ``items`` into ``workdir`` (resumable); returns every problem's record."""
    workdir.mkdir(parents=True, exist_ok=True)
    lab_path, led_path = workdir / "labels.jsonl", workdir / "problems.jsonl"
    done = {r["index"]: ProblemRecord.model_validate(r) for r in read_jsonl(led_path)}
    # Labels of a problem whose ledger line never came (killed in between) are written again.
    kept = [r for r in read_jsonl(lab_path) if int(str(r["run_id"]).split("-")[1]) in done]
    lab_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    led_path.write_text("".join(done[i].model_dump_json() + "\n" for i in sorted(done)))
    todo = [i for i in range(len(items)) if i not in done]
    sem = asyncio.Semaphore(labeler.cfg.concurrency)
    lock = asyncio.Lock()

    async def one(i: int) -> None:
        async with sem:
            labels, rec = await labeler.label(i, items[i])
        async with lock:
            with lab_path.open("a") as f:
                f.write("".join(lab.model_dump_json() + "\n" for lab in labels))
            with led_path.open("a") as f:
                f.write(rec.model_dump_json() + "\n")
            done[i] = rec
            if on_problem is not None:
                on_problem(len(done), len(items), rec)

    await asyncio.gather(*(one(i) for i in todo))
    return [done[i] for i in sorted(done)]


def summary(records: Sequence[ProblemRecord], labels: Sequence[PRMLabel]) -> dict[str, Any]:
    """What a labelling run produced, for its report and the CLI."""
    n = len(records) or 1
    return {
        "problems": len(records),
        "labels": len(labels),
        "first_solution_accuracy": round(sum(r.first_correct for r in records) / n, 3),
        "mean_soft": round(sum(lab.soft for lab in labels) / (len(labels) or 1), 3),
        "hard_positive_share": round(sum(lab.hard for lab in labels) / (len(labels) or 1), 3),
        "tokens": sum(r.tokens for r in records),
        "seconds": round(sum(r.seconds for r in records), 1),
    }


def _auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Area under the ROC curve (the chance a positive outscores a negative; ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def first_error_metrics(
    labels: Sequence[PRMLabel], probs: Sequence[float], *, threshold: float = 0.5
) -> dict[str, Any]:
    """ProcessBench-style step accuracy of a PRM on labelled solutions.

    Per solution (``run_id``, steps in order): the reference first error is its first step with hard
    label 0 — no Monte-Carlo completion from it reached a right answer — or none (a correct
    solution); the PRM's is its first step with ``P(correct) < threshold``. ProcessBench reports
    the accuracy on erroneous solutions (the exact step found), on correct ones (none flagged) and
    their harmonic mean; step-level accuracy and AUC against the hard label are added."""
    if len(labels) != len(probs):
        raise LearnError(f"{len(labels)} labels but {len(probs)} PRM probabilities")
    by_run: dict[str, list[tuple[int, PRMLabel, float]]] = {}
    for lab, p in zip(labels, probs, strict=True):
        by_run.setdefault(lab.run_id, []).append((int(lab.node_id), lab, p))
    err_ok = err_n = cor_ok = cor_n = 0
    for rows in by_run.values():
        rows.sort(key=lambda r: r[0])
        ref = next((i for i, (_, lab, _) in enumerate(rows) if not lab.hard), -1)
        got = next((i for i, (_, _, p) in enumerate(rows) if p < threshold), -1)
        if ref >= 0:
            err_n += 1
            err_ok += int(got == ref)
        else:
            cor_n += 1
            cor_ok += int(got == -1)
    acc_err = err_ok / err_n if err_n else None
    acc_cor = cor_ok / cor_n if cor_n else None
    f1 = 2 * acc_err * acc_cor / (acc_err + acc_cor) if acc_err and acc_cor else 0.0
    hard = [lab.hard for lab in labels]
    step_acc = sum(int((p >= threshold) == bool(y)) for p, y in zip(probs, hard, strict=True)) / (
        len(labels) or 1
    )
    auc = _auc(probs, hard)
    return {
        "solutions": len(by_run),
        "steps": len(labels),
        "erroneous_solutions": err_n,
        "correct_solutions": cor_n,
        "first_error_accuracy_erroneous": None if acc_err is None else round(acc_err, 3),
        "accuracy_correct": None if acc_cor is None else round(acc_cor, 3),
        "processbench_f1": round(f1, 3),
        "step_accuracy": round(step_acc, 3),
        "step_positive_share": round(sum(hard) / (len(hard) or 1), 3),
        "step_auc": None if auc is None else round(auc, 3),
    }


__all__ = [
    "Labeler",
    "ProblemRecord",
    "ShepherdConfig",
    "completion_answer",
    "first_error_metrics",
    "label_items",
    "read_labels",
    "split_solution",
    "summary",
]
