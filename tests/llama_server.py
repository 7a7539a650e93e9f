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
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_ALIAS = "smollm2"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LlamaServer:
    """A ``llama_cpp.server`` child process. Use ``start()``/``stop()`` or ``with LlamaServer() as s``."""

    alias: str = DEFAULT_ALIAS
    model_path: Path | None = None
    n_ctx: int = 4096
    n_threads: int = 1
    port: int = 0
    startup_timeout: float = 60.0
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    _log: object = None

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
            *self.extra_args,
        ]

    def start(self) -> LlamaServer:
        if self.proc is not None:
            return self
        if not self.port:
            self.port = free_port()
        # The server's log goes to a temp file, not a pipe: a pipe nobody reads fills up and
        # blocks the server mid-request.
        log = tempfile.NamedTemporaryFile(prefix="llama_server_", suffix=".log", delete=False)  # noqa: SIM115
        self._log = log
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        logger.info(
            "llama_cpp.server ready at %s (alias %s, pid %s)", self.base_url, self.alias, self.proc.pid
        )
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/models"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with code {self.proc.returncode} before answering:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    data = json.loads(resp.read())
                if any(m.get("id") == self.alias for m in data.get("data", [])):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"llama_cpp.server did not answer {url} within {self.startup_timeout:.0f}s:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 3000) -> str:
        log = self._log
        if log is None:
            return ""
        try:
            return Path(log.name).read_text(errors="replace")[-chars:]  # type: ignore[attr-defined]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log, self._log = self._log, None
        if log is not None:
            log.close()  # type: ignore[attr-defined]
            with contextlib.suppress(OSError):
                os.unlink(log.name)  # type: ignore[attr-defined]

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_llama_server(alias: str = DEFAULT_ALIAS, **kwargs: object) -> Iterator[LlamaServer]:
    """Start a server, yield it (``.base_url``, ``.alias``, ``.model``), stop it afterwards."""
    server = LlamaServer(alias=alias, **kwargs)  # type: ignore[arg-type]
    with server:
        yield server
