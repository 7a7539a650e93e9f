"""The trainable base policy and the loaders of local checkpoints.

* ``base_model_dir()`` converts the bundled SmolLM2-135M-Instruct GGUF (``embedded_model_path()``)
  to a transformers checkpoint once — dequantised fp32 safetensors plus the tokenizer — and caches
  it under ``cache_root()`` (``$O1AGENT_CACHE`` or ``./.o1agent-cache``). Nothing is downloaded.
* ``resolve_checkpoint(path)`` checks a checkpoint folder (``"base"`` is the converted base model);
  ``load_model(path)`` loads a full checkpoint or a LoRA adapter directory (merged on load);
  ``load_tokenizer(path)`` its tokenizer.

Not here: the ``Policy`` that runs such a checkpoint (``o1agent.policies.transformers.
TransformersPolicy``, ``model="local:PATH"``), training (``o1agent.learn.train``) and GGUF export
(``o1agent.learn.export``).

torch and transformers are imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# LearnError is defined with every other error in o1agent.errors; importable from here too.
from ..errors import LearnError as LearnError

BASE_NAME = "SmolLM2-135M-Instruct"


def cache_root() -> Path:
    """Where converted models, runs and iteration state live unless told otherwise."""
    return Path(os.environ.get("O1AGENT_CACHE") or Path.cwd() / ".o1agent-cache")


def base_model_dir(cache: str | Path | None = None) -> Path:
    """The base policy as a transformers checkpoint, converted from the bundled GGUF on first use.

    transformers dequantises the Q4_1 GGUF to fp32 (16 s here); the safetensors copy reloads in
    0.3 s. The copy is written to a temporary folder and renamed, so concurrent first uses
    (parallel tests) never see a half-written checkpoint.
    """
    root = Path(cache) if cache is not None else cache_root()
    target = root / "models" / BASE_NAME
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..policies.llamacpp import embedded_model_path

    gguf = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained ("quantized with gguf and is not
    # serializable"), although its weights are plain fp32 by now: drop the quantizer marks.
    setattr(model, "hf_quantizer", None)  # noqa: B010  (typed as a Module attribute by torch)
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: theirs is as good as ours
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_checkpoint(path: str | Path) -> Path:
    """``"base"`` → the converted base model; a folder → itself (checked)."""
    if str(path) in ("base", "embedded"):
        return base_model_dir()
    p = Path(path)
    if not p.is_dir():
        raise LearnError(f"no checkpoint folder at {p}")
    if not (p / "config.json").exists() and not (p / "adapter_config.json").exists():
        raise LearnError(f"{p} holds neither a model (config.json) nor a LoRA adapter (adapter_config.json)")
    return p


def is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").exists()


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    p = resolve_checkpoint(path)
    tok_dir = p if (p / "tokenizer_config.json").exists() else adapter_base(p)
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def adapter_base(path: Path) -> Path:
    """The base model folder a LoRA adapter was trained on (``base_model_name_or_path``)."""
    import json

    cfg = json.loads((path / "adapter_config.json").read_text())
    base = cfg.get("base_model_name_or_path")
    if not base or not Path(base).is_dir():
        return base_model_dir()
    return Path(base)


def load_model(path: str | Path, *, merge: bool = True, dtype: str = "float32") -> Any:
    """Load a checkpoint for inference; a LoRA adapter is applied to its base (and merged)."""
    import torch
    from transformers import AutoModelForCausalLM

    p = resolve_checkpoint(path)
    torch_dtype = getattr(torch, dtype)
    if is_adapter(p):
        from peft import PeftModel

        parent = p / "parent_adapter.txt"
        if parent.exists():
            # An adapter trained on top of an earlier (merged) adapter: rebuild that chain first.
            base = load_model(parent.read_text().strip(), merge=True, dtype=dtype)
        else:
            base = AutoModelForCausalLM.from_pretrained(str(adapter_base(p)), dtype=torch_dtype)
        model = PeftModel.from_pretrained(base, str(p))
        if merge:
            model = model.merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(str(p), dtype=torch_dtype)
    model.eval()
    return model
