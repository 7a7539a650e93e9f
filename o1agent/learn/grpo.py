"""RL with verifiable rewards on CPU: GRPO from a task's scorer, and TTRL without labels.

One run in a work folder (``o1agent train grpo`` / ``o1agent train ttrl``):

1. **base** — the base model exported to f16 GGUF and evaluated greedy on held-out items (the
   evaluator of expert iteration, ``iterate.evaluate_greedy``, so the figures compare).
2. **train** — TRL's ``GRPOTrainer`` with LoRA and the Dr. GRPO loss (``train.train_grpo``) on
   first-step prompts of training items. The reward:

   * ``grpo``: the task's own scorer (1 for a right final answer), plus, when
     ``arith_weight > 0``, a process bonus: ``arith_weight`` × the fraction of the completion's
     arithmetic claims the calculator confirms (``rewards.arith.check_claims``).
   * ``ttrl`` (test-time RL, Zuo et al. 2025): agreement with the majority answer of the policy's
     own samples for the same question. The gold answer never reaches the advantage; the scorer
     rides along with weight 0, so each step's accuracy against gold is *logged*, and so is how
     often the majority label itself was right (``label_accuracy``) — the signal whose
     rise-then-fall the URLVR follow-up warns about.

   Rollouts are HF ``generate`` inside TRL. A profile of an earlier 1-thread run put generation
   at 28 % of a step (the rest is the policy's forward/backward), so moving rollouts to llama.cpp
   (7× faster decoding, but a GGUF re-export every few steps) would save at most that share; it
   is not done.
   One line per optimiser step goes to ``steps.jsonl`` (reward, its std, KL when ``kl_coef > 0``,
   sample accuracy, label accuracy, completion length, CPU seconds); the trainer checkpoints every
   ``save_every`` steps and a rerun of the same command resumes from the newest checkpoint.
3. **export** and **eval** — the trained adapter merged, exported and evaluated like the base.

``report.md`` and ``steps.png`` are rewritten after every stage. Resumable like ``iterate``:
``state.json`` records finished stages and must match the settings of a rerun.

Not here: the trainers (``train``), GGUF writing (``export``), expert iteration (``iterate``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..evaluation.report import headless_pyplot
from .data import RewardFunc, _text, completion_answer, grpo_prompts, scorer_reward
from .iterate import HeldOut, Task, _cpu, evaluate_greedy, load_state, save_state

logger = logging.getLogger(__name__)

Mode = Literal["grpo", "ttrl"]

Tick = Callable[[str, int, int, dict[str, float]], None]
"""``tick(stage, done, total, figures)``: after each evaluated item (``stage`` = ``base`` or
``eval``) and each optimiser step (``train``, with that step's reward, KL and accuracy)."""


class RLConfig(BaseModel):
    """Everything that defines an RL run (stored in ``state.json``; a resumed run must match)."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "grpo"
    task: str = "reasoning_gym:chain_sum"
    task_config: dict[str, Any] = Field(
        default_factory=lambda: {"min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 1}
    )
    steps: int = Field(default=45, ge=1)
    prompts_per_step: int = Field(default=2, ge=1)
    generations: int = Field(default=8, ge=2, description="samples per prompt (the GRPO group)")
    max_completion: int = Field(default=96, ge=8)
    temperature: float = 1.0
    learning_rate: float = 1e-4
    lora_r: int = 16
    kl_coef: float = Field(default=0.0, ge=0.0)
    arith_weight: float = Field(
        default=0.0, ge=0.0, description="grpo: weight of the arithmetic process bonus"
    )
    train_items: int = Field(default=256, ge=1)
    train_seed: int = 1
    eval_items: int = Field(default=100, ge=1)
    eval_seed: int = 10_001
    max_depth: int = 4
    step_tokens: int = 96
    save_every: int = Field(default=5, ge=1)
    seed: int = 0
    threads: int | None = None


class RLState(BaseModel):
    config: RLConfig
    done: list[str] = Field(default_factory=list)
    base: HeldOut | None = None
    trained: HeldOut | None = None
    cpu_minutes: dict[str, float] = Field(default_factory=dict)
    wall_minutes: dict[str, float] = Field(default_factory=dict)


# ---- rewards -------------------------------------------------------------------------------------


def arithmetic_reward(weight: float = 0.1) -> RewardFunc:
    """A TRL reward function: ``weight`` × the fraction of the completion's arithmetic claims
    (``a + b = c``) that re-compute right; 0 for a completion with none (claiming nothing earns
    nothing, so the bonus cannot be had by saying less)."""
    from ..rewards.arith import check_claims

    def arith_claims(completions: list[Any], **_: Any) -> list[float]:
        out = []
        for c in completions:
            correct, total, _notes = check_claims(_text(c))
            out.append(weight * correct / total if total else 0.0)
        return out

    return arith_claims


class MajorityVoteReward:
    """TTRL's label-free reward: 1 when a completion's answer is the majority answer among the
    samples for the same question in this batch, else 0 (also 0 for no answer).

    Groups are found by the ``question`` column, not by position. A question whose most common
    answer has fewer than ``min_votes`` votes gets no majority (all 0: no advantage, no update),
    so a group that agrees on nothing teaches nothing. The gold ``answer`` column is read only to
    count how often the majority was right (``drain()``), never for the reward.
    """

    __name__ = "majority_vote"

    def __init__(self, *, min_votes: int = 2) -> None:
        self.min_votes = min_votes
        self._labels: list[bool] = []

    def __call__(
        self, completions: list[Any], question: list[str], answer: list[str], **_: Any
    ) -> list[float]:
        from ..search.chains import normalize_answer

        keys = [normalize_answer(completion_answer(_text(c))) for c in completions]
        majority: dict[str, str | None] = {}
        for q in dict.fromkeys(question):
            votes = Counter(k for k, qq in zip(keys, question, strict=True) if qq == q and k)
            top = votes.most_common(1)
            majority[q] = top[0][0] if top and top[0][1] >= self.min_votes else None
        gold = {q: normalize_answer(a) for q, a in zip(question, answer, strict=True)}
        for q, label in majority.items():
            self._labels.append(label is not None and label == gold[q])
        return [1.0 if k and k == majority[q] else 0.0 for k, q in zip(keys, question, strict=True)]

    def drain(self) -> float | None:
        """The fraction of questions whose majority label equalled gold since the last call."""
        labels, self._labels = self._labels, []
        return sum(labels) / len(labels) if labels else None


# ---- the run -------------------------------------------------------------------------------------


class RLRun:
    """Runs (or resumes) an RL run in ``workdir``; ``run()`` returns the final state."""

    def __init__(
        self,
        config: RLConfig,
        workdir: str | Path,
        *,
        progress: Callable[[str], None] | None = None,
        tick: Tick | None = None,
    ) -> None:
        self.config = config
        self.workdir = Path(workdir)
        self.progress = progress or (lambda msg: logger.info("%s", msg))
        self.tick = tick
        self.task = Task(config.task, config.task_config)
        self.state_path = self.workdir / "state.json"
        self.steps_path = self.workdir / "steps.jsonl"
        self.state = self._load_state()

    def _load_state(self) -> RLState:
        return load_state(self.state_path, RLState, self.config)

    def _save(self) -> None:
        save_state(self.state_path, self.state)

    def _stage(self, name: str, fn: Callable[[], None]) -> None:
        if name in self.state.done:
            self.progress(f"{name}: already done (resumed)")
            return
        self.progress(f"{name} ...")
        c0, t0 = _cpu(), time.perf_counter()
        fn()
        # A resumed stage adds to what its earlier, interrupted attempts spent.
        self.state.cpu_minutes[name] = round(self.state.cpu_minutes.get(name, 0.0) + (_cpu() - c0) / 60, 3)
        self.state.wall_minutes[name] = round(
            self.state.wall_minutes.get(name, 0.0) + (time.perf_counter() - t0) / 60, 3
        )
        self.state.done.append(name)
        self._save()
        write_report(self.state, self.workdir)

    # -- stages ------------------------------------------------------------------------------

    def _item_tick(self, stage: str) -> Callable[[int, int], None] | None:
        tick = self.tick
        return (lambda done, total: tick(stage, done, total, {})) if tick else None

    def _evaluate(self, gguf: Path, stage: str) -> HeldOut:
        from ..policies.llamacpp import LlamaCppPolicy

        c = self.config
        return evaluate_greedy(
            LlamaCppPolicy(str(gguf), n_threads=c.threads or 2, seed=c.seed),
            self.task,
            self.task.items(c.eval_items, c.eval_seed),
            seen={it["question"] for it in self.task.items(c.train_items, c.train_seed)},
            max_depth=c.max_depth,
            step_tokens=c.step_tokens,
            seed=c.seed,
            out=self.workdir / f"{stage}_eval.jsonl",
            on_item=self._item_tick(stage),
        )

    def base(self) -> None:
        from .export import export_gguf

        gguf = self.workdir / "base.gguf"
        export_gguf("base", gguf, out_type="f16")
        self.state.base = self._evaluate(gguf, "base")
        gguf.unlink()  # 270 MB, cheap to remake

    def rewards(self) -> tuple[list[RewardFunc], list[float], MajorityVoteReward | None]:
        c = self.config
        score = scorer_reward(self.task.score, name="accuracy")
        if c.mode == "ttrl":
            vote = MajorityVoteReward()
            # The scorer's weight is 0: logged as each step's accuracy, never in the advantage.
            return [vote, score], [1.0, 0.0], vote
        if c.arith_weight > 0:
            return [score, arithmetic_reward(c.arith_weight)], [1.0, 1.0], None
        return [score], [1.0], None

    def train(self) -> None:
        from .model import load_tokenizer
        from .train import TrainConfig, last_checkpoint, train_grpo

        c = self.config
        cfg = TrainConfig(
            base="base",
            output=self.workdir / "adapter",
            max_steps=c.steps,
            batch_size=c.prompts_per_step * c.generations,
            learning_rate=c.learning_rate,
            lora_r=c.lora_r,
            lora_alpha=2 * c.lora_r,
            num_generations=c.generations,
            max_completion_length=c.max_completion,
            temperature=c.temperature,
            kl_coef=c.kl_coef,
            save_steps=c.save_every,
            seed=c.seed,
            threads=c.threads,
        )
        ckpt = last_checkpoint(cfg)
        resumed_at = int(ckpt.name.rsplit("-", 1)[-1]) if ckpt else 0
        self._trim_steps(resumed_at)
        if ckpt:
            self.progress(f"train: resuming from step {resumed_at} ({ckpt})")
        prompts = grpo_prompts(
            self.task.items(c.train_items, c.train_seed), chat_template=load_tokenizer("base").chat_template
        )
        funcs, weights, vote = self.rewards()
        train_grpo(
            prompts,
            funcs,
            cfg,
            reward_weights=weights,
            callbacks=[_step_log_callback(self.steps_path, vote, self.tick, c.steps)],
            resume=True,
        )

    def _trim_steps(self, upto: int) -> None:
        """Keep only the logged steps the checkpoint being resumed from had reached."""
        if not self.steps_path.exists():
            return
        keep = [
            ln for ln in self.steps_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= upto
        ]
        self.steps_path.write_text("".join(ln + "\n" for ln in keep))

    def export(self) -> None:
        from .export import export_gguf

        export_gguf(self.workdir / "adapter", self.workdir / "policy.gguf", out_type="f16")

    def evaluate(self) -> None:
        self.state.trained = self._evaluate(self.workdir / "policy.gguf", "eval")

    def run(self) -> RLState:
        self._save()
        self._stage("base", self.base)
        if self.state.base:
            b = self.state.base
            self.progress(
                f"base: held-out greedy {b.correct}/{b.total} [{b.wilson[0]:.3f}, {b.wilson[1]:.3f}]"
            )
        self._stage("train", self.train)
        self._stage("export", self.export)
        self._stage("eval", self.evaluate)
        if self.state.trained:
            t = self.state.trained
            self.progress(
                f"trained: held-out greedy {t.correct}/{t.total} [{t.wilson[0]:.3f}, {t.wilson[1]:.3f}]"
            )
        return self.state


def _step_log_callback(path: Path, vote: MajorityVoteReward | None, tick: Tick | None, total: int) -> Any:
    from transformers import TrainerCallback

    class StepLog(TrainerCallback):
        """Appends each optimiser step's figures to ``steps.jsonl`` and reports them to ``tick``."""

        def __init__(self) -> None:
            self.c0 = _cpu()

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
        ) -> None:
            if not logs or "reward" not in logs:
                return  # the end-of-training summary line
            row: dict[str, Any] = {
                "step": int(state.global_step),
                "reward": logs.get("reward"),
                "reward_std": logs.get("reward_std"),
                "kl": logs.get("kl"),
                "accuracy": logs.get("rewards/accuracy/mean"),
                "arith": logs.get("rewards/arith_claims/mean"),
                "label_accuracy": vote.drain() if vote is not None else None,
                "completion_length": logs.get("completions/mean_length"),
                "loss": logs.get("loss"),
                "cpu_s": round(_cpu() - self.c0, 1),
            }
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            if tick is not None:
                figures = {
                    k: float(v)
                    for k, v in row.items()
                    if k in ("reward", "kl", "accuracy", "label_accuracy") and v is not None
                }
                tick("train", row["step"], total, figures)

    return StepLog()


# ---- report --------------------------------------------------------------------------------------


def read_steps(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "steps.jsonl"
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln]


def _held(h: HeldOut | None) -> str:
    if h is None:
        return "-"
    return f"{h.correct}/{h.total} = {h.accuracy:.2f} [{h.wilson[0]:.2f}, {h.wilson[1]:.2f}]"


def write_report(state: RLState, workdir: Path) -> Path:
    """``report.md`` (held-out greedy accuracy before and after, CPU minutes, per-step curve) and
    ``steps.png``; rewritten after every stage, so a partial run has one too."""
    c = state.config
    steps = read_steps(workdir)
    what = (
        "reward = agreement with the majority answer of the policy's own samples (no gold)"
        if c.mode == "ttrl"
        else "reward = the task's scorer"
        + (f" + {c.arith_weight} × arithmetic claims confirmed" if c.arith_weight else "")
    )
    lines = [
        f"# {c.mode.upper()} on {c.task}",
        "",
        f"Task config `{json.dumps(c.task_config)}`; {c.steps} steps of {c.prompts_per_step} prompts × "
        f"{c.generations} samples ({c.max_completion} tokens, T={c.temperature}) from {c.train_items} "
        f"training items (seed {c.train_seed}); LoRA r={c.lora_r}, lr {c.learning_rate}, Dr. GRPO loss, "
        f"KL coefficient {c.kl_coef}; {what}. Evaluation: greedy on {c.eval_items} held-out items "
        f"(seed {c.eval_seed}), no verifier.",
        "",
        "| policy | held-out greedy accuracy [95 % Wilson] | unseen questions | CPU min |",
        "|---|---|---|---|",
        f"| base (f16) | {_held(state.base)} | "
        f"{f'{state.base.unseen_correct}/{state.base.unseen_total}' if state.base else '-'} | "
        f"{state.cpu_minutes.get('base', 0):.1f} |",
        f"| after {len(steps)} steps | {_held(state.trained)} | "
        f"{f'{state.trained.unseen_correct}/{state.trained.unseen_total}' if state.trained else '-'} | "
        f"{sum(v for k, v in state.cpu_minutes.items() if k != 'base'):.1f} (train+export+eval) |",
    ]
    if state.base and state.trained:
        lines += ["", f"Lift: {100 * (state.trained.accuracy - state.base.accuracy):+.1f} points."]
    if steps:
        lines += [
            "",
            "| step | reward | accuracy of samples | label accuracy | KL | mean length | CPU s |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in steps:
            lines.append(
                f"| {s['step']} | {_f(s.get('reward'))} | {_f(s.get('accuracy'))} | {_f(s.get('label_accuracy'))} "
                f"| {_f(s.get('kl'), 4)} | {_f(s.get('completion_length'), 1)} | {s.get('cpu_s', '-')} |"
            )
        if _plot_steps(steps, workdir / "steps.png", c.mode):
            lines += ["", "![per-step reward and accuracy](steps.png)"]
    path = workdir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _f(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{float(v):.{digits}f}"


def _plot_steps(steps: list[dict[str, Any]], path: Path, mode: str) -> bool:
    plt = headless_pyplot()
    if plt is None:
        return False
    xs = [s["step"] for s in steps]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for key, label in (
        ("reward", "reward"),
        ("accuracy", "sample accuracy (gold)"),
        ("label_accuracy", "majority label = gold"),
    ):
        pts = [(x, s[key]) for x, s in zip(xs, steps, strict=True) if s.get(key) is not None]
        # Plain GRPO's reward is its sample accuracy: one line, not two on top of each other.
        same = key == "reward" and mode == "grpo" and all(s.get("arith") is None for s in steps)
        if pts and not same:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label)
    ax.set_xlabel("optimiser step")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run_rl(
    config: RLConfig,
    workdir: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
    tick: Tick | None = None,
) -> RLState:
    return RLRun(config, workdir, progress=progress, tick=tick).run()
