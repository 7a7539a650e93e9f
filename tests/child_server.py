"""A server in a child process, for tests: start it on a free loopback port, wait until it
answers, stop it.

``ChildServer`` is the shared part — port, log file, readiness polling, termination. A subclass
says what to run (``command()``) and when it is ready (``ready()``, one probe); it is used for
``llama_cpp.server`` (``tests/llama_server.py``), ``o1agent serve`` and ``langgraph dev``.

The child's output goes to a temp file, not a pipe: a pipe nobody reads fills up and blocks the
server mid-request. ``log_tail()`` shows it when something fails.

This is a test helper, not library code.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(url: str, timeout: float = 2.0) -> bytes | None:
    """The body of a 2xx answer from ``url``, or None while nothing (good) answers there."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@dataclass
class ChildServer:
    """A child-process server. Use ``start()``/``stop()`` or ``with Server(...) as s``."""

    port: int = 0
    startup_timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = None

    name = "server"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        """One readiness probe (called every 0.2 s until it is true)."""
        raise NotImplementedError

    def start(self) -> ChildServer:
        if self.proc is not None:
            return self
        if not self.port:
            self.port = free_port()
        self._log = tempfile.NamedTemporaryFile(prefix=f"{self.name}_", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before answering:\n{self.log_tail()}"
                )
            if self.ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {self.startup_timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        if self._log is None:
            return ""
        try:
            return Path(self._log.name).read_text(errors="replace")[-chars:]
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
            log.close()
            with contextlib.suppress(OSError):
                os.unlink(log.name)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
