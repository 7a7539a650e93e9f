"""A real ``llama_cpp.server`` on loopback, serving the embedded SmolLM2 GGUF, for tests.

``LlamaServer`` starts ``python -m llama_cpp.server`` on a free 127.0.0.1 port, waits until
``GET /v1/models`` answers, and terminates the process on ``stop()`` (or leaving the ``with``
block). ``base_url`` ends in ``/v1`` — what LiteLLM's ``api_base`` and the OpenAI client expect —
and ``alias`` is the ``--model_alias`` the server answers to, so the LiteLLM model string is
``f"openai/{server.alias}"``.

Why these flags (measured, see /work/shared/FACTS.md): ``--interrupt_requests False`` because with
the default a new request cuts off a running stream (2 of 3 concurrent streams came back empty);
no ``--cache`` because the RAM cache also stores logits ~9x the KV bytes and can eat the machine.

This is a test helper, not library code: it lives in ``tests/`` and is shared by every test that
needs a real OpenAI-compatible server (the ``llama_server`` fixture in ``conftest.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from child_server import ChildServer, free_port, http_ok

logger = logging.getLogger(__name__)

DEFAULT_ALIAS = "smollm2"

__all__ = ["DEFAULT_ALIAS", "LlamaServer", "free_port", "running_llama_server"]


@dataclass
class LlamaServer(ChildServer):
    """A ``llama_cpp.server`` child process. Use ``start()``/``stop()`` or ``with LlamaServer() as s``."""

    alias: str = DEFAULT_ALIAS
    model_path: Path | None = None
    n_ctx: int = 4096
    n_threads: int = 1
    extra_args: list[str] | None = None

    name = "llama_server"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        """The LiteLLM model string for this server."""
        return f"openai/{self.alias}"

    def command(self) -> list[str]:
        if self.model_path is None:
            from o1agent.policies.llamacpp import embedded_model_path

            self.model_path = embedded_model_path()
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            self.alias,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--interrupt_requests",
            "False",
            "--verbose",
            "False",
            *(self.extra_args or []),
        ]

    def ready(self) -> bool:
        body = http_ok(f"{self.base_url}/models")
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError:
            return False
        return any(m.get("id") == self.alias for m in data.get("data", []))

    def start(self) -> LlamaServer:
        super().start()
        assert self.proc is not None
        logger.info(
            "llama_cpp.server ready at %s (alias %s, pid %s)", self.base_url, self.alias, self.proc.pid
        )
        return self


@contextlib.contextmanager
def running_llama_server(alias: str = DEFAULT_ALIAS, **kwargs: object) -> Iterator[LlamaServer]:
    """Start a server, yield it (``.base_url``, ``.alias``, ``.model``), stop it afterwards."""
    server = LlamaServer(alias=alias, **kwargs)  # type: ignore[arg-type]
    with server:
        yield server
