"""``GenerationConfig``: how each step is decoded, apart from how the search chooses.

A strategy decides *where* to expand (``StrategyConfig`` and its subclasses); these settings
decide *how* a step is generated there: its token cap, sampling temperature, whether the first of
several candidates is greedy, and how deep one path may go. They are shared by every strategy,
so one run's generation can change without touching its search settings, and vice versa.

This module holds configuration only: no model calls.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError


class GenerationConfig(BaseModel):
    """Decoding settings for proposed and revised steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step_tokens: int = Field(default=96, ge=8, le=4096, description="max new tokens per proposed step")
    temperature: float = Field(
        default=0.7,
        ge=0.0,
        le=2.0,
        description="sampling temperature when several candidates are proposed at once",
    )
    greedy_first: bool = Field(
        default=True, description="when k > 1, decode the first candidate greedily and sample the rest"
    )
    max_depth: int = Field(
        default=6, ge=1, le=64, description="steps on one path before the solution must finish"
    )


GENERATION_KEYS = frozenset(GenerationConfig.model_fields)


def split_config(config: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a mixed settings dict into (strategy settings, generation settings).

    Users, the CLI's ``--set`` and the server's ``strategy_config`` give both kinds in one dict
    (``{"width": 3, "step_tokens": 64}``); the search and the decoder each take their own part.
    """
    config = dict(config or {})
    gen = {k: config.pop(k) for k in list(config) if k in GENERATION_KEYS}
    return config, gen


def make_generation(
    generation: GenerationConfig | dict[str, Any] | None = None, **overrides: Any
) -> GenerationConfig:
    """A ``GenerationConfig`` from an object or dict plus overrides; bad values are a ``ConfigError``."""
    if generation is not None and not isinstance(generation, GenerationConfig | dict):
        raise ConfigError(f"generation must be a GenerationConfig or a dict, got {type(generation).__name__}")
    base = generation.model_dump() if isinstance(generation, GenerationConfig) else dict(generation or {})
    try:
        return GenerationConfig.model_validate({**base, **overrides})
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid generation config: {errs}") from None
