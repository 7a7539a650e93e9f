"""Trained process reward models: ``TrainedPRM`` (a classifier checkpoint) and ``LearnedPRM``.

``LearnedPRM(folder)`` serves what ``o1agent train prm`` writes (``prm_config.json``: a linear value
head on the frozen base LM, ``o1agent.learn.train.PRMHead``); it scores the graph's own ``propose``
prompt followed by the candidate step, the text the head was trained on, and counts every token it
reads as prompt tokens (so a token budget bounds PRM-guided search as it bounds a judge).

``TrainedPRM(path)`` serves any other checkpoint: a directory ``save_pretrained`` wrote, holding a
transformers sequence-classification model (``num_labels == 2``: P(correct) is the softmax of the
positive label; ``num_labels == 1``: a value head, P(correct) = sigmoid(logit)) and, unless
``tokenizer=`` is given, its tokenizer. The
text scored is the question, the previous steps and the candidate, formatted by ``format_prm_input``
(the same function a training script should use, so train and inference inputs match). Long
inputs are cut from the left: the candidate step at the end is what is being judged.

torch and transformers are imported lazily (they are optional, the ``train`` extra); a missing
path, a directory that is not a checkpoint or absent libraries raise ``ConfigError`` at
construction, so a bad configuration fails before a search starts. Nothing is downloaded. A model
that fails while scoring is not a verdict: each request gets ``Verdict(score=None, error=...)``
and a warning is logged.

What this is not: a trainer (see ``o1agent.learn.train``), or a generative judge (``LLMJudge``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from ..errors import ConfigError
from ..schema import Step, Usage
from .base import RewardKind, ScoreRequest, Verdict
from .compose import Composable

logger = logging.getLogger(__name__)

TokenizerFn = Callable[[list[str]], dict[str, Any]]
_POSITIVE_NAMES = ("correct", "good", "positive", "yes", "true", "label_1", "1")


def format_prm_input(question: str, previous: Sequence[Step], candidate: Step) -> str:
    """The text a PRM scores: question, numbered previous steps, then the candidate step."""
    parts = [f"Question: {question.strip()}"]
    steps = [*previous, candidate]
    for i, s in enumerate(steps, 1):
        body = (s.raw or f"{s.title}\n{s.text}").strip()
        parts.append(f"Step {i}: {body}")
    return "\n\n".join(parts)


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ConfigError(
            f"TrainedPRM needs torch and transformers ({exc.name} is missing): pip install 'o1agent[train]'"
        ) from None
    return torch, transformers


def _probability_verdict(grader: str, p: float, what: str) -> Verdict:
    """A PRM's verdict on one step; a non-finite output is the model failing, not a probability."""
    if not math.isfinite(p):
        logger.warning("%s gave a non-finite probability %r", grader, p)
        error = f"{grader} failed: the model gave a non-finite probability ({p})"
        return Verdict(score=None, rationale=error, error=error)
    return Verdict(score=min(1.0, max(0.0, p)), rationale=f"{grader}: {what}")


class TrainedPRM(Composable):
    """Process reward from a local classifier checkpoint (see the module docstring).

    ``tokenizer`` may be a callable ``list[str] -> dict of tensors`` (``input_ids``,
    ``attention_mask``) for checkpoints saved without a tokenizer. ``positive_label`` overrides
    which class index means "correct" (default: a label named correct/good/yes/LABEL_1, else the
    last one).
    """

    kind: RewardKind = "process"

    def __init__(
        self,
        path: str | Path,
        *,
        tokenizer: TokenizerFn | Any | None = None,
        positive_label: int | None = None,
        max_length: int = 1024,
        batch_size: int = 8,
        device: str = "cpu",
        name: str = "prm",
    ) -> None:
        path = Path(path).expanduser()
        if not path.exists():
            raise ConfigError(f"PRM checkpoint not found: {path}")
        if not path.is_dir() or not (path / "config.json").exists():
            raise ConfigError(f"{path} is not a transformers checkpoint directory (no config.json)")
        torch, transformers = _import_torch()
        self._torch = torch
        try:
            self.model = transformers.AutoModelForSequenceClassification.from_pretrained(
                str(path), local_files_only=True
            ).to(device)
        except Exception as exc:  # transformers raises many kinds on a broken checkpoint
            raise ConfigError(f"could not load a sequence-classification model from {path}: {exc}") from None
        self.model.eval()
        if tokenizer is None:
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            except Exception as exc:
                raise ConfigError(f"{path} has no usable tokenizer ({exc}); pass tokenizer=") from None
        tk = cast(Any, tokenizer)
        if hasattr(tk, "truncation_side"):
            tk.truncation_side = "left"
        if getattr(tk, "pad_token", "x") is None:
            tk.pad_token = tk.eos_token or tk.unk_token
        self.tokenizer = tk
        n = int(self.model.config.num_labels)
        self.num_labels = n
        if positive_label is None:
            labels = {int(k): str(v).lower() for k, v in (self.model.config.id2label or {}).items()}
            positive_label = next(
                (i for i, v in sorted(labels.items()) if v in _POSITIVE_NAMES and n > 1), n - 1
            )
        if not 0 <= positive_label < n:
            raise ConfigError(f"positive_label {positive_label} is outside the model's {n} labels")
        self.positive_label = positive_label
        self.max_length = max_length
        self.batch_size = max(1, batch_size)
        self.device = device
        self.path = path
        self.name = name

    def _encode(self, texts: list[str]) -> dict[str, Any]:
        tok: Any = self.tokenizer
        if callable(tok) and hasattr(tok, "pad_token"):
            enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length)
        else:
            enc = tok(texts)
        enc = cast(Any, enc)
        return {k: v.to(self.device) for k, v in dict(enc).items() if k in ("input_ids", "attention_mask")}

    def probabilities(self, texts: list[str]) -> list[float]:
        """P(correct) for each formatted text (synchronous; ``score`` runs it in a thread)."""
        torch = self._torch
        out: list[float] = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                logits = self.model(**self._encode(texts[i : i + self.batch_size])).logits.float()
                if self.num_labels == 1:
                    probs = torch.sigmoid(logits[:, 0])
                else:
                    probs = torch.softmax(logits, dim=-1)[:, self.positive_label]
                out += [float(p) for p in probs]
        return out

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        texts = [format_prm_input(r.question, r.previous, r.candidate) for r in requests]
        try:
            probs = await asyncio.to_thread(self.probabilities, texts)
        except Exception as exc:  # the model failing is no verdict on the steps: mark it, search on
            logger.warning(
                "%s failed on %d request(s): %s: %s", self.name, len(requests), type(exc).__name__, exc
            )
            return [Verdict.failed(self.name, exc) for _ in requests]
        return [_probability_verdict(self.name, p, f"P(correct)={p:.2f}") for p in probs]


def _import_learned_head() -> Any:
    try:
        from ..learn.train import PRMHead
    except ImportError as exc:
        raise ConfigError(
            f"a trained PRM needs torch and transformers ({exc.name} is missing): pip install 'o1agent[train]'"
        ) from None
    return PRMHead


class LearnedPRM(Composable):
    """Process reward from a PRM head ``o1agent train prm`` wrote (see the module docstring).

    ``prompts`` must be the prompt style its labels were written in; by default the one
    ``train prm`` saved with it (``g1`` for folders from before it did).
    """

    kind: RewardKind = "process"

    def __init__(self, folder: str | Path, *, prompts: str | None = None, name: str = "learned-prm") -> None:
        from ..learn.data import Renderer

        folder = Path(folder).expanduser()
        if not (folder / "prm_config.json").exists():
            raise ConfigError(
                f"{folder} is not a PRM folder (no prm_config.json; train one with `o1agent train prm`)"
            )
        head_cls = _import_learned_head()
        try:
            self.prm = head_cls.load(folder)
        except ConfigError:
            raise
        except Exception as exc:  # torch / transformers raise many kinds on a broken folder
            raise ConfigError(f"could not load the PRM in {folder}: {type(exc).__name__}: {exc}") from None
        self.folder = folder
        self.name = name
        self.renderer = Renderer(prompts or self.prm.prompts, self.prm.tokenizer.chat_template)

    def _run(self, requests: list[ScoreRequest]) -> tuple[list[float], list[int]]:
        texts = [self.renderer.prompt_steps(r.question, r.previous) + " " + r.candidate.raw for r in requests]
        return self.prm.predict(texts), self.prm.token_counts(texts)

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        if not requests:
            return []
        try:
            vals, counts = await asyncio.to_thread(self._run, requests)
        except Exception as exc:  # the model failing is no verdict on the steps: mark it, search on
            logger.warning(
                "%s failed on %d request(s): %s: %s", self.name, len(requests), type(exc).__name__, exc
            )
            return [Verdict.failed(self.name, exc) for _ in requests]
        # The PRM reads every token of its input: counted as prompt tokens, so a token budget
        # bounds PRM-guided search the same way it bounds a judge that reads the same text.
        out = []
        for v, n in zip(vals, counts, strict=True):
            verdict = _probability_verdict(self.name, v, f"P(correct)={v:.2f}")
            out.append(verdict.model_copy(update={"usage": Usage(prompt_tokens=n, calls=1)}))
        return out
