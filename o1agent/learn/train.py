"""Training on CPU: SFT, step-level DPO and GRPO with TRL + LoRA, and a small PRM value head.

Each ``train_*`` function takes rows from ``o1agent.learn.data``, trains a LoRA adapter (or, for
the PRM, a linear head on the frozen base model), saves it to ``TrainConfig.output`` and writes a
report next to it: ``metrics.json`` (loss per step, seconds, CPU seconds, how far the trained
weights moved) and ``loss.png`` (matplotlib, Agg backend). ``on_step(done, total)``, when given,
is called as training starts (``done=0``) and after every optimiser step, for progress bars.

What it is not: a distributed or GPU trainer. Defaults are sized for a 135M model on two cores
(short sequences, LoRA r=16, no gradient checkpointing — which costs time and only saves memory we
have). The TRL argument names were checked against TRL 1.16's config classes: ``use_cpu``,
``report_to="none"``, ``max_length`` (SFT/DPO), ``max_completion_length`` / ``num_generations``
(GRPO); ``bf16`` defaults to True in TRL's configs, so it is set False explicitly.

torch, transformers, TRL, peft and matplotlib are imported lazily inside the functions.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from ..errors import LearnError
from ..evaluation.report import headless_pyplot
from .data import GRPOPrompt, PreferencePair, PRMLabel, RewardFunc, SFTRow
from .model import adapter_base, base_model_dir, is_adapter, load_tokenizer, resolve_checkpoint

logger = logging.getLogger(__name__)

StepProgress = Callable[[int, int], None]
"""``on_step(done, total)``: optimiser steps done so far out of ``total``."""

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TrainConfig(BaseModel):
    """Settings shared by every trainer. ``base`` is ``"base"`` (the converted SmolLM2), a model
    folder, or a LoRA adapter folder (training continues from it: merged, then a fresh adapter)."""

    model_config = ConfigDict(extra="forbid")

    base: str = "base"
    output: Path
    max_steps: int = Field(default=50, ge=1)
    epochs: float | None = Field(
        default=None, description="if set, train this many epochs instead of max_steps"
    )
    batch_size: int = Field(default=4, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    learning_rate: float = 2e-4
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    max_length: int = Field(default=384, ge=16, description="prompt + completion tokens kept per example")
    seed: int = 0
    threads: int | None = Field(default=None, description="torch threads (default: all cores)")
    # DPO
    beta: float = 0.1
    # GRPO
    num_generations: int = Field(default=4, ge=2)
    max_completion_length: int = 96
    temperature: float = 0.8
    grpo_loss: str = Field(
        default="dr_grpo",
        description="TRL GRPOConfig.loss_type; dr_grpo = no per-response length and no std normalisation",
    )
    kl_coef: float = Field(
        default=0.0, ge=0.0, description="GRPO's KL penalty (TRL beta); > 0 also logs the KL each step"
    )
    save_steps: int | None = Field(
        default=None, ge=1, description="checkpoint every this many steps, so a rerun can resume"
    )
    # PRM
    prm_lr: float = 1e-3
    prompts: str = Field(
        default="g1",
        description="PRM: the prompt style its labels were written in; saved with it, so search renders paths alike",
    )


class RunReport(BaseModel):
    """What one training run did. Written as ``metrics.json`` in the output folder."""

    kind: str
    output: str
    base: str
    examples: int
    steps: int
    seconds: float
    cpu_seconds: float
    losses: list[float]
    first_loss: float | None = None
    last_loss: float | None = None
    weight_delta: float = Field(description="L2 norm of the change of the trained weights")
    extra: dict[str, Any] = Field(default_factory=dict)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _setup_torch(cfg: TrainConfig) -> None:
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)


def _load_trainable(cfg: TrainConfig) -> tuple[Any, Any, str]:
    """The model to train from (adapters merged into a plain model) and its tokenizer."""
    from transformers import AutoModelForCausalLM

    from .model import load_model

    path = resolve_checkpoint(cfg.base)
    tok = load_tokenizer(path)
    if is_adapter(path):
        # Continue from a trained round: merge its adapter, then train a fresh one on top.
        model = load_model(path, merge=True)
        base_ref = str(path)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path))
        base_ref = str(path)
    model.train()
    return model, tok, base_ref


def _lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=LORA_TARGETS,
        task_type="CAUSAL_LM",
    )


def _common_args(cfg: TrainConfig) -> dict[str, Any]:
    steps: dict[str, Any] = (
        {"num_train_epochs": cfg.epochs, "max_steps": -1} if cfg.epochs else {"max_steps": cfg.max_steps}
    )
    saving: dict[str, Any] = (
        {"save_strategy": "steps", "save_steps": cfg.save_steps, "save_total_limit": 2}
        if cfg.save_steps
        else {"save_strategy": "no"}
    )
    return {
        "output_dir": str(trainer_dir(cfg)),
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "learning_rate": cfg.learning_rate,
        "logging_steps": 1,
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "fp16": False,
        "gradient_checkpointing": False,
        "seed": cfg.seed,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        **steps,
        **saving,
    }


def trainer_dir(cfg: TrainConfig) -> Path:
    """Where the TRL trainer writes its checkpoints (``checkpoint-N`` folders)."""
    return cfg.output / "_trainer"


def last_checkpoint(cfg: TrainConfig) -> Path | None:
    """The newest complete trainer checkpoint of a run, if it saved any (``save_steps``)."""
    found = []
    for p in trainer_dir(cfg).glob("checkpoint-*"):
        step = p.name.rsplit("-", 1)[-1]
        # A checkpoint is complete once its trainer_state.json is written (the trainer writes it last).
        if step.isdigit() and (p / "trainer_state.json").exists():
            found.append((int(step), p))
    return max(found)[1] if found else None


def _step_callback(on_step: StepProgress) -> Any:
    """A transformers ``TrainerCallback`` reporting steps to ``on_step`` (TRL's trainers take it)."""
    from transformers import TrainerCallback

    class _Steps(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            on_step(0, int(state.max_steps))

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            on_step(int(state.global_step), int(state.max_steps))

    return _Steps()


def _trainable_snapshot(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _delta(before: dict[str, Any], model: Any) -> float:
    now = dict(model.named_parameters())
    total = 0.0
    for n, old in before.items():
        total += float((now[n].detach() - old).float().pow(2).sum())
    return math.sqrt(total)


def _losses(log_history: list[dict[str, Any]]) -> list[float]:
    return [float(h["loss"]) for h in log_history if "loss" in h]


def _finish(
    kind: str,
    cfg: TrainConfig,
    base_ref: str,
    examples: int,
    losses: list[float],
    t0: float,
    c0: float,
    delta: float,
    extra: dict[str, Any] | None = None,
) -> RunReport:
    report = RunReport(
        kind=kind,
        output=str(cfg.output),
        base=base_ref,
        examples=examples,
        steps=len(losses),
        seconds=time.perf_counter() - t0,
        cpu_seconds=_cpu_seconds() - c0,
        losses=losses,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        weight_delta=delta,
        extra=extra or {},
    )
    cfg.output.mkdir(parents=True, exist_ok=True)
    (cfg.output / "metrics.json").write_text(report.model_dump_json(indent=2))
    (cfg.output / "train_config.json").write_text(cfg.model_dump_json(indent=2))
    plot_losses(losses, cfg.output / "loss.png", title=f"{kind} loss")
    return report


def plot_losses(losses: Sequence[float], path: Path, *, title: str = "loss") -> Path | None:
    """Loss curve as PNG (matplotlib's Agg backend: no display needed). None without matplotlib."""
    plt = headless_pyplot()
    if plt is None:
        logger.info("matplotlib is not installed; no loss plot")
        return None
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(losses) + 1), list(losses), marker="o" if len(losses) < 30 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _save_adapter(trainer: Any, tok: Any, cfg: TrainConfig, base_ref: str) -> None:
    trainer.model.save_pretrained(str(cfg.output))
    tok.save_pretrained(str(cfg.output))
    # peft records base_model_name_or_path from the model config; make it the folder we trained
    # from, so load_model() finds the right base (a merged earlier round included).
    acfg = cfg.output / "adapter_config.json"
    data = json.loads(acfg.read_text())
    data["base_model_name_or_path"] = _base_model_folder(base_ref)
    acfg.write_text(json.dumps(data, indent=2))
    if is_adapter(Path(base_ref)):
        # Stacked rounds: the base of this adapter is "previous adapter merged"; keep the chain.
        (cfg.output / "parent_adapter.txt").write_text(base_ref)


def _base_model_folder(base_ref: str) -> str:
    p = Path(base_ref)
    return str(adapter_base(p)) if is_adapter(p) else str(p)


def _dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    if not rows:
        raise LearnError("no training examples (did the search find any verified solutions?)")
    return Dataset.from_list(rows)


def _train_lora(
    kind: str,
    cfg: TrainConfig,
    rows: list[dict[str, Any]],
    make_trainer: Callable[[Any, Any, Any], Any],
    extra: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
    on_step: StepProgress | None = None,
    callbacks: Sequence[Any] = (),
    resume_from: Path | None = None,
) -> RunReport:
    """The run SFT, DPO and GRPO share: load the model, train a LoRA adapter on ``rows``, save it.

    ``make_trainer(model, tokenizer, dataset)`` builds the TRL trainer; ``extra(log_history)``
    adds metrics to the report; ``on_step`` hears of every optimiser step; ``callbacks`` are more
    transformers ``TrainerCallback``s; ``resume_from`` is a trainer checkpoint folder to continue
    from (its optimiser state, step count and RNG included).
    """
    _setup_torch(cfg)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    model, tok, base_ref = _load_trainable(cfg)
    ds = _dataset(rows)
    trainer = make_trainer(model, tok, ds)
    if on_step is not None:
        trainer.add_callback(_step_callback(on_step))
    for cb in callbacks:
        trainer.add_callback(cb)
    before = _trainable_snapshot(trainer.model)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    delta = _delta(before, trainer.model)
    _save_adapter(trainer, tok, cfg, base_ref)
    hist = trainer.state.log_history
    return _finish(kind, cfg, base_ref, len(ds), _losses(hist), t0, c0, delta, extra(hist) if extra else None)


def train_sft(rows: Sequence[SFTRow], cfg: TrainConfig, *, on_step: StepProgress | None = None) -> RunReport:
    """Supervised fine-tuning on verified solutions (loss on the completion only)."""
    from trl import SFTConfig, SFTTrainer

    def trainer(model: Any, tok: Any, ds: Any) -> Any:
        args = SFTConfig(
            **_common_args(cfg), max_length=cfg.max_length, completion_only_loss=True, packing=False
        )
        return SFTTrainer(
            model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=_lora_config(cfg)
        )

    rows_ = [{"prompt": r.prompt, "completion": r.completion} for r in rows]
    return _train_lora("sft", cfg, rows_, trainer, on_step=on_step)


def train_dpo(
    pairs: Sequence[PreferencePair], cfg: TrainConfig, *, on_step: StepProgress | None = None
) -> RunReport:
    """Step-level DPO: the reference model is the base (the adapter switched off)."""
    from trl import DPOConfig, DPOTrainer

    def trainer(model: Any, tok: Any, ds: Any) -> Any:
        args = DPOConfig(**_common_args(cfg), max_length=cfg.max_length, beta=cfg.beta)
        return DPOTrainer(
            model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=_lora_config(cfg)
        )

    def accuracies(hist: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "reward_accuracies": [float(h["rewards/accuracies"]) for h in hist if "rewards/accuracies" in h]
        }

    rows = [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in pairs]
    return _train_lora("dpo", cfg, rows, trainer, accuracies, on_step=on_step)


def train_grpo(
    prompts: Sequence[GRPOPrompt],
    reward_funcs: list[RewardFunc],
    cfg: TrainConfig,
    *,
    reward_weights: Sequence[float] | None = None,
    on_step: StepProgress | None = None,
    callbacks: Sequence[Any] = (),
    resume: bool = False,
) -> RunReport:
    """GRPO: ``num_generations`` sampled solutions per prompt, graded by ``reward_funcs``.

    The loss is ``cfg.grpo_loss`` (default Dr. GRPO: the token-level sum is divided by a constant,
    not by each response's length, and advantages are not divided by the group's std — both
    normalisations bias a policy toward long wrong answers, Liu et al. 2025). ``reward_weights``
    weight the reward functions in the advantage; a weight of 0 keeps a function as a logged
    metric only (``rewards/<name>/mean`` in the log) — how TTRL reports accuracy against gold
    without training on it. One optimiser step sees ``batch_size`` completions, so ``batch_size``
    must be a multiple of ``num_generations`` (TRL's rule); it is raised to ``num_generations``
    when smaller. ``resume`` continues from the newest checkpoint in the output folder, if any.
    """
    from trl import GRPOConfig, GRPOTrainer

    if reward_weights is not None and len(reward_weights) != len(reward_funcs):
        raise LearnError(f"{len(reward_weights)} reward weights for {len(reward_funcs)} reward functions")

    def trainer(model: Any, tok: Any, ds: Any) -> Any:
        common = _common_args(cfg)
        bs = max(cfg.batch_size, cfg.num_generations)
        bs -= bs % cfg.num_generations
        common["per_device_train_batch_size"] = bs
        args = GRPOConfig(
            **common,
            num_generations=cfg.num_generations,
            max_completion_length=cfg.max_completion_length,
            temperature=cfg.temperature,
            loss_type=cfg.grpo_loss,
            # Dr. GRPO: centre rewards on the group mean only.
            scale_rewards="none" if cfg.grpo_loss == "dr_grpo" else "group",
            # beta 0 skips the reference forward pass (with LoRA the reference is the base with the
            # adapter switched off, so beta > 0 costs compute, not memory).
            beta=cfg.kl_coef,
            reward_weights=list(reward_weights) if reward_weights is not None else None,
            log_completions=False,
        )
        tok.padding_side = "left"
        return GRPOTrainer(
            model=model,
            reward_funcs=cast(Any, list(reward_funcs)),
            args=args,
            train_dataset=ds,
            processing_class=tok,
            peft_config=_lora_config(cfg),
        )

    def rewards(hist: list[dict[str, Any]]) -> dict[str, Any]:
        return {"rewards": [float(h["reward"]) for h in hist if "reward" in h]}

    rows = [p.model_dump() for p in prompts]
    return _train_lora(
        "grpo",
        cfg,
        rows,
        trainer,
        rewards,
        on_step=on_step,
        callbacks=callbacks,
        resume_from=last_checkpoint(cfg) if resume else None,
    )


# ---- PRM -----------------------------------------------------------------------------------------


class PRMHead:
    """A process reward model: the frozen base LM's last hidden state → linear → sigmoid.

    Trained on Math-Shepherd soft labels with binary cross-entropy. Small on purpose: 577
    parameters on a 135M model learn in seconds on CPU and cannot overfit a few hundred labels
    the way a fine-tuned LM would. At search time ``o1agent.rewards.prm.LearnedPRM`` serves it
    (``reward="prm:FOLDER"``).
    """

    def __init__(self, base: str | Path = "base", *, head: Any = None, prompts: str = "g1") -> None:
        import torch
        from transformers import AutoModel

        path = resolve_checkpoint(base)
        if is_adapter(path):
            from .model import load_model

            self.lm = load_model(path, merge=True).model
        else:
            self.lm = AutoModel.from_pretrained(str(path))
        self.lm.eval()
        for p in self.lm.parameters():
            p.requires_grad_(False)
        self.tokenizer = load_tokenizer(path)
        self.base = str(path)
        self.head = head if head is not None else torch.nn.Linear(self.lm.config.hidden_size, 1)
        # The style the labels' prompts were rendered in: a path scored in another style is text
        # the head never saw, so LearnedPRM renders with this one unless told otherwise.
        self.prompts = prompts

    def features(self, texts: list[str], max_length: int = 384) -> Any:
        import torch

        tok = self.tokenizer
        tok.padding_side = "left"  # the last position is then every row's last real token
        enc = tok(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_length,
            add_special_tokens=False,
        )
        with torch.inference_mode():
            hidden = self.lm(**enc).last_hidden_state
        return hidden[:, -1, :].clone()

    def token_counts(self, texts: list[str], max_length: int = 384) -> list[int]:
        """Tokens ``features`` reads per text (after its truncation)."""
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [min(len(x), max_length) for x in ids]

    def predict(self, texts: list[str]) -> list[float]:
        import torch

        with torch.inference_mode():
            return torch.sigmoid(self.head(self.features(texts))).squeeze(-1).tolist()

    def save(self, folder: Path) -> None:
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.head.state_dict(), folder / "prm_head.pt")
        (folder / "prm_config.json").write_text(
            json.dumps({"base": self.base, "hidden": self.head.in_features, "prompts": self.prompts})
        )

    @classmethod
    def load(cls, folder: str | Path) -> PRMHead:
        import torch

        folder = Path(folder)
        cfg_path = folder / "prm_config.json"
        if not cfg_path.exists():
            raise LearnError(f"{folder} is not a PRM folder (no prm_config.json)")
        cfg = json.loads(cfg_path.read_text())
        head = torch.nn.Linear(cfg["hidden"], 1)
        head.load_state_dict(torch.load(folder / "prm_head.pt", weights_only=True))
        return cls(cfg["base"], head=head, prompts=cfg.get("prompts", "g1"))


def train_prm(
    labels: Sequence[PRMLabel], cfg: TrainConfig, *, on_step: StepProgress | None = None
) -> RunReport:
    """Fit the PRM head to soft labels. Features of the frozen LM are computed once."""
    import torch

    _setup_torch(cfg)
    if not labels:
        raise LearnError("no PRM labels (the traces have no graded rollouts)")
    t0, c0 = time.perf_counter(), _cpu_seconds()
    prm = PRMHead(cfg.base, prompts=cfg.prompts)
    texts = [lab.prompt + lab.step for lab in labels]
    feats = torch.cat([prm.features(texts[i : i + 8], cfg.max_length) for i in range(0, len(texts), 8)])
    y = torch.tensor([lab.soft for lab in labels], dtype=torch.float32)
    before = {k: v.clone() for k, v in prm.head.state_dict().items()}
    opt = torch.optim.AdamW(prm.head.parameters(), lr=cfg.prm_lr)
    losses = []
    gen = torch.Generator().manual_seed(cfg.seed)
    if on_step is not None:
        on_step(0, cfg.max_steps)
    for i in range(cfg.max_steps):
        idx = torch.randperm(len(y), generator=gen)[: cfg.batch_size]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(prm.head(feats[idx]).squeeze(-1), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(i + 1, cfg.max_steps)
    delta = math.sqrt(sum(float((v - before[k]).pow(2).sum()) for k, v in prm.head.state_dict().items()))
    prm.save(cfg.output)
    with torch.no_grad():
        pred = torch.sigmoid(prm.head(feats)).squeeze(-1)
        hard = torch.tensor([lab.hard for lab in labels], dtype=torch.float32)
        acc = float(((pred >= 0.5).float() == hard).float().mean())
    return _finish("prm", cfg, prm.base, len(labels), losses, t0, c0, delta, {"train_hard_accuracy": acc})


TRAINERS: dict[str, Callable[..., RunReport]] = {"sft": train_sft, "dpo": train_dpo, "prm": train_prm}
__all__ = [
    "PRMHead",
    "RunReport",
    "StepProgress",
    "TrainConfig",
    "base_model_dir",
    "train_dpo",
    "train_grpo",
    "train_prm",
    "train_sft",
]
