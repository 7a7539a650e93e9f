"""Policies (backends that propose text) and ``make_policy``, which resolves a model string.

* ``"embedded"`` or a path ending in ``.gguf`` → ``LlamaCppPolicy`` (in-process llama.cpp);
* ``"local:PATH"`` (a checkpoint ``o1agent train`` wrote; ``"local:base"``) → ``TransformersPolicy``;
* ``"provider/model"`` (``openai/...``, ``anthropic/...``, ``ollama/...``, ``hosted_vllm/...``)
  → ``LiteLLMPolicy``;
* a ``Policy`` object is used as is.

Backends are imported lazily, one module per backend: importing o1agent does not import
llama.cpp, LiteLLM or torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UnknownModelError
from .base import Completion, CompletionRequest, Message, Policy, TokenLogprob, derive_seed
from .scripted import ScriptedPolicy

__all__ = [
    "Completion",
    "CompletionRequest",
    "Message",
    "Policy",
    "ScriptedPolicy",
    "TokenLogprob",
    "derive_seed",
    "make_policy",
]


def make_policy(
    model: str | Policy, *, api_base: str | None = None, api_key: str | None = None, **kwargs: Any
) -> Policy:
    if not isinstance(model, str):
        if not hasattr(model, "complete"):
            raise UnknownModelError(f"model must be a model string or a Policy, got {type(model).__name__}")
        return model
    name = model.strip()
    if not name:
        raise UnknownModelError("model string is empty")
    if name == "embedded" or name.endswith(".gguf"):
        if name != "embedded" and not Path(name).exists():
            raise UnknownModelError(f"GGUF file not found: {name}")
        from .llamacpp import LlamaCppPolicy

        return LlamaCppPolicy(name, **kwargs)
    if name.startswith("local:"):
        # A checkpoint trained by `o1agent train`; torch/transformers are imported only here and
        # TransformersPolicy raises UnknownModelError when they or the folder are missing.
        from .transformers import TransformersPolicy

        return TransformersPolicy(name, **kwargs)
    if "/" in name:
        from .litellm import LiteLLMPolicy

        return LiteLLMPolicy(name, api_base=api_base, api_key=api_key, **kwargs)
    raise UnknownModelError(
        f"unknown model {name!r}: use 'embedded', a path to a .gguf file, or a LiteLLM 'provider/model' string"
    )
