"""Expert iteration: search with the current policy → keep verified solutions → SFT → evaluate.

One round, for a procedural task (``reasoning_gym:NAME``):

1. **search** — run the reasoning graph (DFS, ``k`` candidates per step) with the current policy
   on training items; the verifier is the dataset's own ``score_answer`` (training-time search may
   use gold answers: that is the point of the filter). Traces go to ``round_N/traces.jsonl``.
2. **filter** — ``sft_rows`` keeps the best verified path per problem (and ``preference_pairs``
   the sibling pairs, when DPO is on). Data accumulates over rounds.
3. **train** — LoRA SFT from the base model on all verified solutions so far (STaR-style: each
   round restarts from the base, so errors do not compound), optionally followed by step DPO.
4. **export** — merge and write ``round_N/policy.gguf`` (f16); search and evaluation run it in
   llama.cpp, ~7x faster than HF generation.
5. **evaluate** — greedy accuracy on held-out items drawn with a *different* seed, with a Wilson
   95 % interval. Round 0 evaluates the base model exported the same way (f16), so the comparison
   is not confounded by the embedded Q4_1 quantisation.

With ``prm=True`` the loop also learns a verifier and searches with it (``train iterate --prm``):

6. **prm** — after round N's search, a PRM head (``train.train_prm``) is fitted to the Math-Shepherd
   labels of every search tree so far, re-graded against gold: ``round_N/prm``.
7. Round N+1's **search** is guided by round N's PRM on open steps, with the gold verifier blended
   in on final ones (DFS ``accept`` just above 0.5: a correct final blends to ≥ 0.5 + p/2, a wrong
   one to ≤ p/2), so training-time search prunes steps the PRM rates low.
8. **beam** — from round 1 on, each round's policy is also evaluated by a beam guided by the
   previous round's PRM *and by a blind beam at the same token budget* (every score 0.5: the
   control), so a lift can be told from the beam's own.

Resumable: ``state.json`` in the work folder records each finished stage; rerunning the same
command skips them. Reports held-out accuracy per round and CPU minutes per stage.

Not here: the trainers themselves (``train``), the data reader (``data``), GGUF writing (``export``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, LearnError
from ..evaluation.report import headless_pyplot
from ..evaluation.stats import wilson_interval
from ..gym import GymTask, task_name

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
Tick = Callable[[str, int, int], None]
"""``tick(what, done, total)`` after each solved item of a search or evaluation stage, and after
each optimiser step of a training stage (``what`` in ``TRAINING_STAGES``)."""

TRAINING_STAGES = ("sft", "dpo", "prm")

# DFS accept for a search scored by PRM + gold verifier (equal weights): a correct final blends to
# (p + 1) / 2 >= 0.5, a wrong one to p / 2 <= 0.5, so just above 0.5 accepts only correct finals.
_BLEND_ACCEPT = 0.501


class IterateConfig(BaseModel):
    """Everything that defines an iteration run (stored in ``state.json``; a resumed run must match)."""

    model_config = ConfigDict(extra="forbid")

    task: str = "reasoning_gym:chain_sum"
    task_config: dict[str, Any] = Field(
        default_factory=lambda: {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}
    )
    rounds: int = Field(default=1, ge=1)
    train_items: int = Field(default=64, ge=1)
    eval_items: int = Field(default=100, ge=1)
    train_seed: int = 1
    eval_seed: int = 10_001
    k: int = Field(default=3, ge=1, description="DFS candidates per expansion during training-time search")
    max_depth: int = 4
    max_nodes: int = 12
    step_tokens: int = 96
    temperature: float = 0.8
    sft_epochs: float = 2.0
    sft_max_steps: int = 60
    batch_size: int = 4
    learning_rate: float = 2e-4
    lora_r: int = 16
    max_length: int = 320
    dpo: bool = False
    dpo_margin: float = 0.5
    dpo_max_steps: int = 20
    seed: int = 0
    base_gguf: Literal["export", "embedded"] = Field(
        default="export",
        description="round 0 policy: the base exported to f16 like later rounds (fair), or the embedded Q4_1 (fast)",
    )
    prm: bool = Field(
        default=False,
        description="learn a PRM each round; later rounds search with it and add beam+PRM vs blind beam",
    )
    prm_steps: int = Field(default=200, ge=1, description="optimiser steps of each round's PRM head")
    beam_width: int = Field(default=2, ge=1)
    beam_k: int = Field(default=2, ge=1, description="candidates per beam per step")
    beam_tokens: int = Field(default=3000, ge=100, description="the token budget both beams get, per item")


class HeldOut(BaseModel):
    """Accuracy on held-out items: all of them, and those whose question was not trained on."""

    correct: int
    total: int
    accuracy: float
    wilson: tuple[float, float]
    unseen_correct: int
    unseen_total: int
    mean_tokens: float | None = Field(default=None, description="every token any model read or wrote")


class RoundResult(BaseModel):
    round: int
    policy: str
    accuracy: float | None = None
    correct: int | None = None
    total: int | None = None
    wilson: tuple[float, float] | None = None
    unseen_correct: int | None = Field(
        default=None, description="correct among items whose question was not trained on"
    )
    unseen_total: int | None = None
    search_solved: int | None = None
    search_items: int | None = None
    sft_rows: int | None = None
    dpo_pairs: int | None = None
    train_loss: tuple[float, float] | None = None
    prm_labels: int | None = None
    prm_loss: tuple[float, float] | None = None
    beam_prm: HeldOut | None = Field(default=None, description="beam guided by the previous round's PRM")
    beam_blind: HeldOut | None = Field(default=None, description="the same beam, every score 0.5")
    cpu_minutes: dict[str, float] = Field(default_factory=dict)
    wall_minutes: dict[str, float] = Field(default_factory=dict)


class IterateState(BaseModel):
    config: IterateConfig
    rounds: list[RoundResult] = Field(default_factory=list)
    done: list[str] = Field(default_factory=list, description="finished stages, e.g. 'r0.eval', 'r1.train'")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Task(GymTask):
    """The iteration's task: a reasoning-gym dataset (``reasoning_gym:NAME``) through
    ``o1agent.gym``: ``items(n, seed)`` and ``score(answer, item)``. A bad spec, name or config is
    a ``LearnError``."""

    def __init__(self, spec: str, config: dict[str, Any]) -> None:
        try:
            super().__init__(task_name(spec), config)
        except ConfigError as exc:
            raise LearnError(str(exc)) from None


_State = TypeVar("_State", bound=BaseModel)


def load_state(path: Path, cls: type[_State], config: BaseModel, *, free: Collection[str] = ()) -> _State:
    """A resumable run's ``state.json`` (``cls``, with a ``config`` field), or a fresh one.

    A state made with other settings than ``config`` (but for the ``free`` ones, which the rerun
    may change) is refused with a ``LearnError`` naming them: mixing two runs' stages in one folder
    would report figures neither run made.
    """
    if not path.exists():
        return cls(config=config)
    state = cls.model_validate_json(path.read_text())
    old = state.config.model_dump(exclude=set(free))  # type: ignore[attr-defined]
    new = config.model_dump(exclude=set(free))
    if old != new:
        diff = sorted(k for k in new if old.get(k) != new[k])
        raise LearnError(f"{path} was made with different settings ({', '.join(diff)}); use a new folder")
    state.config = config  # type: ignore[attr-defined]
    return state


def save_state(path: Path, state: BaseModel) -> None:
    """Write ``state.json`` atomically (a kill mid-write leaves the previous one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(path)


class Iteration:
    """Runs (or resumes) an iteration in ``workdir``. ``run()`` returns the final state."""

    def __init__(
        self,
        config: IterateConfig,
        workdir: str | Path,
        *,
        progress: Progress | None = None,
        tick: Tick | None = None,
    ) -> None:
        self.config = config
        self.workdir = Path(workdir)
        self.progress = progress or (lambda msg: logger.info("%s", msg))
        self.tick = tick
        self.state_path = self.workdir / "state.json"
        self.state = self._load_state()
        self.task = Task(config.task, config.task_config)

    # -- state -------------------------------------------------------------------------------

    def _load_state(self) -> IterateState:
        # More rounds than last time is fine: the state takes this run's count.
        return load_state(self.state_path, IterateState, self.config, free={"rounds"})

    def _save(self) -> None:
        save_state(self.state_path, self.state)

    def _round(self, r: int, policy: str) -> RoundResult:
        for rr in self.state.rounds:
            if rr.round == r:
                return rr
        rr = RoundResult(round=r, policy=policy)
        self.state.rounds.append(rr)
        return rr

    def _stage(self, rr: RoundResult, name: str, fn: Callable[[], None]) -> None:
        key = f"r{rr.round}.{name}"
        if key in self.state.done:
            self.progress(f"round {rr.round}: {name} already done (resumed)")
            return
        self.progress(f"round {rr.round}: {name} ...")
        c0, t0 = _cpu(), time.perf_counter()
        fn()
        rr.cpu_minutes[name] = round((_cpu() - c0) / 60, 3)
        rr.wall_minutes[name] = round((time.perf_counter() - t0) / 60, 3)
        self.state.done.append(key)
        self._save()

    # -- stages ------------------------------------------------------------------------------

    def _policy(self, gguf: str) -> Any:
        from ..policies.llamacpp import LlamaCppPolicy

        return LlamaCppPolicy(gguf, n_threads=2, seed=self.config.seed)

    def evaluate(self, gguf: str, rr: RoundResult) -> None:
        """Greedy accuracy on held-out items (``eval_seed``), graded by the dataset's scorer."""
        c = self.config
        # Small procedural spaces repeat questions across seeds (1-digit a±b has ~200): report the
        # accuracy on questions never used for training too, so memorisation cannot pass for learning.
        held = evaluate_greedy(
            self._policy(gguf),
            self.task,
            self.task.items(c.eval_items, c.eval_seed),
            seen=set(self._gold()),
            max_depth=c.max_depth,
            step_tokens=c.step_tokens,
            seed=c.seed,
            out=self.workdir / f"round_{rr.round}" / "eval.jsonl",
            on_item=self._item_ticker("eval"),
        )
        rr.correct, rr.total, rr.accuracy, rr.wilson = held.correct, held.total, held.accuracy, held.wilson
        rr.unseen_correct, rr.unseen_total = held.unseen_correct, held.unseen_total

    def _item_ticker(self, what: str) -> Callable[[int, int], None]:
        tick = self.tick
        if tick is not None:
            return lambda done, total: tick(what, done, total)

        def log(done: int, total: int) -> None:
            if done % 20 == 0 or done == total:
                self.progress(f"  {what} {done}/{total}")

        return log

    def search(self, gguf: str, rr: RoundResult) -> None:
        """DFS with the dataset's scorer as outcome verifier; every run's trace is kept."""
        from ..reasoner import Reasoner
        from ..rewards.answer import AnswerVerifier
        from ..schema import Trace
        from .data import grade_with_gold

        items = self.task.items(self.config.train_items, self.config.train_seed)
        by_q = {it["question"]: it for it in items}
        verifier = AnswerVerifier(scorer=lambda ans, q: self.task.score(ans, by_q[q]), name="rg-score")
        reward: Any = verifier
        accept = 1.0
        guided = self.config.prm and rr.round > 0
        if guided:
            from ..rewards.compose import Weighted
            from ..rewards.prm import LearnedPRM

            prm = LearnedPRM(self._prm_dir(rr.round - 1))
            reward = Weighted([(prm, 1.0), (verifier, 1.0)], name="prm+rg-score")
            accept = _BLEND_ACCEPT
        reasoner = Reasoner(
            model=self._policy(gguf),
            strategy="dfs",
            strategy_config={
                "k": self.config.k,
                "accept": accept,
                "max_depth": self.config.max_depth,
                "step_tokens": self.config.step_tokens,
                "temperature": self.config.temperature,
            },
            reward=reward,
            budget={"max_nodes": self.config.max_nodes, "max_tokens": None},
            seed=self.config.seed + 1000 * rr.round,
        )
        path = self.workdir / f"round_{rr.round}" / "traces.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        solved = 0
        gold = self._gold()  # once, not per item: it regenerates the training items
        for res in asyncio.run(solve_all(reasoner, items, self._item_ticker("search"))):
            Trace(events=res.trace.events).write_jsonl(path, append=True)
            # A blended score is not an outcome: the guided search's finals are graded with gold.
            tree = grade_with_gold([("", res.tree)], gold)[0][1] if guided else res.tree
            solved += int(
                any(n.outcome_score is not None and n.outcome_score >= 1.0 for n in tree.nodes.values())
            )
        rr.search_solved, rr.search_items = solved, len(items)

    def _ticker(self, what: str) -> Callable[[int, int], None] | None:
        tick = self.tick
        if tick is None:
            return None
        return lambda done, total: tick(what, done, total)

    def train(self, rr: RoundResult) -> None:
        from .data import preference_pairs, sft_rows
        from .model import load_tokenizer
        from .train import TrainConfig, train_dpo, train_sft

        c = self.config
        trees = self._trees(rr.round)
        template = load_tokenizer("base").chat_template
        rows = sft_rows(trees, chat_template=template)
        rr.sft_rows = len(rows)
        if not rows:
            raise LearnError(f"round {rr.round}: the search verified no solutions; nothing to train on")
        out = self.workdir / f"round_{rr.round}"
        steps = min(c.sft_max_steps, max(1, math.ceil(len(rows) * c.sft_epochs / c.batch_size)))
        rep = train_sft(
            rows,
            TrainConfig(
                base="base",
                output=out / "sft",
                max_steps=steps,
                batch_size=c.batch_size,
                learning_rate=c.learning_rate,
                lora_r=c.lora_r,
                lora_alpha=2 * c.lora_r,
                max_length=c.max_length,
                seed=c.seed,
            ),
            on_step=self._ticker("sft"),
        )
        rr.train_loss = (rep.first_loss or float("nan"), rep.last_loss or float("nan"))
        adapter = out / "sft"
        if c.dpo:
            pairs = preference_pairs(trees, margin=c.dpo_margin, chat_template=template)
            rr.dpo_pairs = len(pairs)
            if pairs:
                train_dpo(
                    pairs,
                    TrainConfig(
                        base=str(adapter),
                        output=out / "dpo",
                        max_steps=min(c.dpo_max_steps, max(1, math.ceil(len(pairs) / c.batch_size))),
                        batch_size=c.batch_size,
                        learning_rate=c.learning_rate / 4,
                        lora_r=c.lora_r,
                        max_length=c.max_length,
                        seed=c.seed,
                    ),
                    on_step=self._ticker("dpo"),
                )
                adapter = out / "dpo"
        (out / "adapter.txt").write_text(str(adapter))

    def _gold(self) -> dict[str, str]:
        """Question -> gold answer of the training items (its keys: the questions trained on)."""
        items = self.task.items(self.config.train_items, self.config.train_seed)
        return {str(it["question"]): str(it["answer"]) for it in items}

    def _trees(self, upto: int) -> list[tuple[str, Any]]:
        """The search trees of rounds before ``upto``. With ``prm`` they are re-graded against gold:
        a PRM-guided search's finals carry a blended score, and "verified" must mean correct."""
        from .data import grade_with_gold, load_trees

        traces = [self.workdir / f"round_{r}" / "traces.jsonl" for r in range(upto)]
        trees = load_trees([p for p in traces if p.exists()])
        return grade_with_gold(trees, self._gold()) if self.config.prm else trees

    def _prm_dir(self, r: int) -> Path:
        return self.workdir / f"round_{r}" / "prm"

    def fit_prm(self, rr: RoundResult) -> None:
        """Round N's PRM: a value head fitted to the Math-Shepherd labels of every tree so far."""
        from .data import prm_labels
        from .model import load_tokenizer
        from .train import TrainConfig, train_prm

        c = self.config
        labels = prm_labels(self._trees(rr.round + 1), chat_template=load_tokenizer("base").chat_template)
        rr.prm_labels = len(labels)
        if not labels:
            raise LearnError(f"round {rr.round}: the search trees hold no graded rollouts to fit a PRM to")
        rep = train_prm(
            labels,
            TrainConfig(
                base="base", output=self._prm_dir(rr.round), max_steps=c.prm_steps, batch_size=16, seed=c.seed
            ),
            on_step=self._ticker("prm"),
        )
        rr.prm_loss = (rep.first_loss or float("nan"), rep.last_loss or float("nan"))

    def beam(self, gguf: str, rr: RoundResult) -> None:
        """This round's policy in a beam guided by the previous round's PRM, and in a blind beam
        (the control) at the same token budget, on the held-out items."""
        from ..rewards.blind import Blind
        from ..rewards.prm import LearnedPRM

        c = self.config
        policy = self._policy(gguf)
        items = self.task.items(c.eval_items, c.eval_seed)
        seen = set(self._gold())
        scfg = {
            "width": c.beam_width,
            "k": c.beam_k,
            "max_depth": c.max_depth,
            "aggregate": "last",  # a Math-Shepherd value is the chance this prefix still ends right
            "step_tokens": c.step_tokens,
        }
        for name, reward in (("prm", LearnedPRM(self._prm_dir(rr.round - 1))), ("blind", Blind())):
            held = evaluate_search(
                policy,
                self.task,
                items,
                seen=seen,
                strategy="beam",
                strategy_config=scfg,
                reward=reward,
                budget={"max_tokens": c.beam_tokens, "max_nodes": 40},
                seed=c.seed,
                out=self.workdir / f"round_{rr.round}" / f"beam_{name}.jsonl",
                on_item=self._item_ticker(f"beam+{name}"),
            )
            setattr(rr, f"beam_{name}", held)

    def export(self, rr: RoundResult) -> None:
        from .export import export_gguf

        out = self.workdir / f"round_{rr.round}"
        if rr.round == 0 and self.config.base_gguf == "embedded":
            from ..policies.llamacpp import embedded_model_path

            out.mkdir(parents=True, exist_ok=True)
            (out / "policy.gguf").unlink(missing_ok=True)
            (out / "policy.gguf").symlink_to(embedded_model_path())
            return
        ckpt = "base" if rr.round == 0 else (out / "adapter.txt").read_text().strip()
        export_gguf(ckpt, out / "policy.gguf", out_type="f16")

    # -- driver ------------------------------------------------------------------------------

    def run(self) -> IterateState:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._save()
        for r in range(self.config.rounds + 1):
            gguf = str(self.workdir / f"round_{r}" / "policy.gguf")
            rr = self._round(r, gguf)
            if r > 0:
                self._stage(rr, "train", lambda rr=rr: self.train(rr))
            self._stage(rr, "export", lambda rr=rr: self.export(rr))
            self._stage(rr, "eval", lambda rr=rr, g=gguf: self.evaluate(g, rr))
            if rr.accuracy is not None:
                lo, hi = rr.wilson or (0.0, 1.0)
                self.progress(
                    f"round {r}: held-out accuracy {rr.correct}/{rr.total} = {rr.accuracy:.3f} [{lo:.3f}, {hi:.3f}]"
                )
            if self.config.prm and r > 0:
                self._stage(rr, "beam", lambda rr=rr, g=gguf: self.beam(g, rr))
            if r < self.config.rounds:
                self._stage(rr, "search", lambda rr=rr, g=gguf: self.search(g, rr))
                if self.config.prm:
                    self._stage(rr, "prm", lambda rr=rr: self.fit_prm(rr))
            write_report(self.state, self.workdir)
        return self.state


async def solve_all(
    reasoner: Any, items: list[dict[str, Any]], on_item: Callable[[int, int], None] | None = None
) -> list[Any]:
    """Solve ``items`` one after another on one event loop (a policy's asyncio.Lock must not hop
    between loops); ``on_item(done, total)`` after each."""
    out = []
    for i, item in enumerate(items):
        out.append(await reasoner.asolve(item["question"]))
        if on_item is not None:
            on_item(i + 1, len(items))
    return out


def evaluate_greedy(
    policy: Any,
    task: GymTask,
    items: list[dict[str, Any]],
    *,
    seen: set[str],
    max_depth: int,
    step_tokens: int,
    seed: int,
    out: Path,
    on_item: Callable[[int, int], None] | None = None,
) -> HeldOut:
    """Greedy (step protocol, no verifier) accuracy of ``policy`` on ``items``. Used by expert
    iteration and by the RL runs (``o1agent.learn.grpo``), so their figures compare."""
    return evaluate_search(
        policy,
        task,
        items,
        seen=seen,
        strategy="greedy",
        strategy_config={"max_depth": max_depth, "step_tokens": step_tokens},
        reward="none",
        budget={"max_nodes": max_depth + 1, "max_tokens": None},
        seed=seed,
        out=out,
        on_item=on_item,
    )


def evaluate_search(
    policy: Any,
    task: GymTask,
    items: list[dict[str, Any]],
    *,
    seen: set[str],
    strategy: str,
    strategy_config: dict[str, Any],
    reward: Any,
    budget: dict[str, Any],
    seed: int,
    out: Path,
    on_item: Callable[[int, int], None] | None = None,
) -> HeldOut:
    """Accuracy of ``policy`` searching with ``strategy``/``reward`` on ``items``, graded by the
    task's scorer after each solve (gold never reaches the search); one row per item goes to
    ``out`` (JSONL). ``seen``: the training questions."""
    from ..reasoner import Reasoner

    reasoner = Reasoner(
        model=policy,
        strategy=strategy,
        strategy_config=strategy_config,
        reward=reward,
        budget=budget,
        seed=seed,
    )
    results = asyncio.run(solve_all(reasoner, items, on_item))
    correct = unseen = unseen_ok = tokens = 0
    rows = []
    for item, res in zip(items, results, strict=True):
        ok = task.score(res.answer, item) >= 1.0
        correct += int(ok)
        in_train = item["question"] in seen
        if not in_train:
            unseen += 1
            unseen_ok += int(ok)
        rows.append(
            {
                "question": item["question"],
                "gold": item["answer"],
                "answer": res.answer,
                "correct": ok,
                "question_in_train": in_train,
                "tokens": res.usage.total_tokens,
            }
        )
        tokens += res.usage.total_tokens
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return HeldOut(
        correct=correct,
        total=len(items),
        accuracy=correct / len(items),
        wilson=wilson_interval(correct, len(items)),
        unseen_correct=unseen_ok,
        unseen_total=unseen,
        mean_tokens=tokens / len(items),
    )


def write_report(state: IterateState, workdir: Path) -> Path:
    """``report.md`` (accuracy per round with intervals, CPU minutes, loss curves) and
    ``accuracy.png`` in ``workdir``; rewritten after every round, so a partial run has one too."""
    c = state.config
    lines = [
        f"# Expert iteration on {c.task}",
        "",
        f"Task config `{json.dumps(c.task_config)}`; {c.train_items} training items (seed {c.train_seed}), "
        f"{c.eval_items} held-out items (seed {c.eval_seed}); search: DFS k={c.k}, "
        f"max_nodes={c.max_nodes}, verifier = the dataset's score_answer; SFT: LoRA r={c.lora_r}, "
        f"≤{c.sft_max_steps} steps{' + step DPO' if c.dpo else ''}. Evaluation: greedy, no verifier.",
        "",
        "| round | held-out greedy accuracy | 95% Wilson | unseen questions | solved in search | SFT rows "
        "| SFT loss first→last | CPU min (this round) | CPU min (total) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    total = 0.0
    for rr in sorted(state.rounds, key=lambda x: x.round):
        cpu = sum(rr.cpu_minutes.values())
        total += cpu
        acc = f"{rr.correct}/{rr.total} = {rr.accuracy:.2f}" if rr.accuracy is not None else "-"
        lo, hi = rr.wilson or (float("nan"), float("nan"))
        loss = f"{rr.train_loss[0]:.3f}→{rr.train_loss[1]:.3f}" if rr.train_loss else "-"
        lines.append(
            f"| {rr.round} | {acc} | [{lo:.2f}, {hi:.2f}] | "
            f"{f'{rr.unseen_correct}/{rr.unseen_total}' if rr.unseen_total else '-'} | "
            f"{f'{rr.search_solved}/{rr.search_items}' if rr.search_items else '-'} | "
            f"{rr.sft_rows or '-'} | {loss} | {cpu:.1f} | {total:.1f} |"
        )
    lines += ["", "Round N's accuracy is its policy's (round 0: the base, exported to f16 like the rest)."]
    if c.prm:
        lines += _prm_table(state)
    curves = sorted(workdir.glob("round_*/sft/loss.png"))
    if curves:
        lines += [
            "",
            "SFT loss curves: "
            + ", ".join(f"[{p.parent.parent.name}]({p.relative_to(workdir)})" for p in curves),
        ]
    if _plot_accuracy(state, workdir / "accuracy.png"):
        lines += ["", "![held-out accuracy per round](accuracy.png)"]
    path = workdir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _cell(h: HeldOut | None) -> str:
    if h is None:
        return "-"
    lo, hi = h.wilson
    return f"{h.correct}/{h.total} = {h.accuracy:.2f} [{lo:.2f}, {hi:.2f}], {h.mean_tokens or 0:.0f} tok"


def _prm_table(state: IterateState) -> list[str]:
    c = state.config
    lines = [
        "",
        "## Policy + PRM search (`--prm`)",
        "",
        f"Round N ≥ 1: round N's policy in a beam (width {c.beam_width}, {c.beam_k} candidates per beam, "
        f"depth {c.max_depth}, path score = last step's) guided by round N-1's PRM, and the same beam "
        f"blind (every score 0.5: the control), each under {c.beam_tokens} tokens per item counting every "
        "model's tokens. Round N's search is guided by round N-1's PRM (+ the gold verifier on finals).",
        "",
        "| round | greedy | beam + PRM (round N-1's) | blind beam | PRM labels fitted (this round) | PRM loss first→last |",
        "|---|---|---|---|---|---|",
    ]
    for rr in sorted(state.rounds, key=lambda x: x.round):
        greedy = (
            f"{rr.correct}/{rr.total} = {rr.accuracy:.2f}" if rr.accuracy is not None and rr.total else "-"
        )
        loss = f"{rr.prm_loss[0]:.3f}→{rr.prm_loss[1]:.3f}" if rr.prm_loss else "-"
        lines.append(
            f"| {rr.round} | {greedy} | {_cell(rr.beam_prm)} | {_cell(rr.beam_blind)} | "
            f"{rr.prm_labels if rr.prm_labels is not None else '-'} | {loss} |"
        )
    return lines


def _plot_accuracy(state: IterateState, path: Path) -> bool:
    done = [rr for rr in sorted(state.rounds, key=lambda x: x.round) if rr.accuracy is not None]
    if not done:
        return False
    plt = headless_pyplot()
    if plt is None:
        return False
    xs = [rr.round for rr in done]
    ys = [rr.accuracy or 0.0 for rr in done]
    lo = [y - (rr.wilson or (y, y))[0] for rr, y in zip(done, ys, strict=True)]
    hi = [(rr.wilson or (y, y))[1] - y for rr, y in zip(done, ys, strict=True)]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=4, label="greedy")
    # Beam points are shifted a little sideways so that equal accuracies do not hide each other.
    for attr, label, dx in (("beam_prm", "beam + PRM", -0.08), ("beam_blind", "blind beam", 0.08)):
        pts = [(rr.round, getattr(rr, attr)) for rr in done if getattr(rr, attr) is not None]
        if pts:
            ax.errorbar(
                [x + dx for x, _ in pts],
                [h.accuracy for _, h in pts],
                yerr=[[h.accuracy - h.wilson[0] for _, h in pts], [h.wilson[1] - h.accuracy for _, h in pts]],
                marker="s",
                capsize=4,
                label=label,
            )
    if any(rr.beam_prm is not None for rr in done):
        ax.legend(fontsize=7)
    ax.set_xticks(xs)
    ax.set_xlabel("round")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(state.config.task)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run_iteration(
    config: IterateConfig,
    workdir: str | Path,
    *,
    progress: Progress | None = None,
    tick: Tick | None = None,
) -> IterateState:
    return Iteration(config, workdir, progress=progress, tick=tick).run()
