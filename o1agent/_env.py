"""Environment flags o1agent needs for its own calls, set only around them.

``import o1agent`` changes no process-wide environment variable: a host application's own
LiteLLM or Hugging Face use must behave as it would without us. LiteLLM reads
``LITELLM_LOCAL_MODEL_COST_MAP`` once, when it is imported (without it, it fetches a cost map
from the network), so the flag is set for the duration of that import only, and only when the
user has not set it. ``HF_HUB_OFFLINE`` is never set by the library: o1agent loads only local
files; set it yourself if your environment has no network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def env_default(name: str, value: str) -> Iterator[None]:
    """``name=value`` inside the block when ``name`` is unset; the environment as it was after."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)
