"""Test configuration: forbid real network (loopback only), share the embedded model.

Like pydantic-ai's conftest, a test that tries to reach anything but 127.0.0.0/8 or ::1 fails
loudly instead of silently depending on the internet (which these machines do not have).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# tests/ is on sys.path (rootdir conftest, prepend mode): the guard lives in tests/offline.py.
import offline

offline.install()


@pytest.fixture(scope="session")
def embedded_policy():
    """One in-process SmolLM2 for the whole session (236 MB; loading twice is waste)."""
    from o1agent.policies.llamacpp import LlamaCppPolicy

    return LlamaCppPolicy("embedded")


@pytest.fixture()
def fresh_embedded(embedded_policy):
    """The shared embedded policy with a clean KV cache, for reproducibility-sensitive tests."""
    embedded_policy.reset()
    return embedded_policy


@pytest.fixture(scope="session")
def llama_server():
    """A real ``llama_cpp.server`` on loopback serving the embedded GGUF, shared by the session.

    Yields a ``tests/llama_server.LlamaServer``: ``.base_url`` (ends in /v1), ``.alias`` and
    ``.model`` (the LiteLLM string ``openai/<alias>``). Starting it takes a few seconds.
    """
    from llama_server import LlamaServer  # tests/ is on sys.path (rootdir conftest, prepend mode)

    with LlamaServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster on a free loopback port (``tests/postgres_server.py``),
    shared by the session. Skipped where PostgreSQL is not installed, unless CI is set."""
    from postgres_server import pg_bindir, running_postgres

    if pg_bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql) and CI is set")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    with running_postgres() as url:
        yield url
