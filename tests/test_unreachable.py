"""A dead ``api_base`` (a closed loopback port) says the backend is unreachable and names the URL,
through ``solve``, the ``o1agent solve`` CLI and a served request — not "HTTP 500" (LiteLLM maps
a refused connection to ``InternalServerError``)."""

from __future__ import annotations

import subprocess
import sys

import openai
import pytest
from child_server import REPO, ChildServer, free_port, http_ok

import o1agent
from o1agent.errors import BackendUnreachableError


def _dead_base() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def test_solve_says_unreachable_and_names_the_url() -> None:
    # The sync entry point matters: solve() runs asyncio.run inside an except block, which is
    # where the refused connection used to be lost from the exception chain.
    base = _dead_base()
    with pytest.raises(BackendUnreachableError) as info:
        o1agent.solve("2+3?", model="openai/x", api_base=base, strategy="greedy", reward="none")
    msg = str(info.value)
    assert base in msg and "unreachable" in msg and "ConnectionRefusedError" in msg
    assert "HTTP 500" not in msg


@pytest.mark.slow
def test_cli_solve_says_unreachable() -> None:
    base = _dead_base()
    cmd = [sys.executable, "-m", "o1agent.cli", "solve", "2+3?", "--model", "openai/x", "--api-base", base,
           "--strategy", "greedy", "--reward", "none"]  # fmt: skip
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 1, proc.stderr
    assert "unreachable" in proc.stderr and base in proc.stderr.replace("\n", "")
    assert "HTTP 500" not in proc.stderr


class _Serve(ChildServer):
    """``o1agent serve`` over a LiteLLM model whose api_base is dead."""

    name = "o1agent_serve"

    def __init__(self, api_base: str) -> None:
        super().__init__()
        self.api_base = api_base

    def command(self) -> list[str]:
        return [sys.executable, "-m", "o1agent.cli", "serve", "--model", "openai/x", "--api-base", self.api_base,
                "--port", str(self.port), "--strategy", "greedy", "--reward", "none"]  # fmt: skip

    def ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.port}/health") is not None


@pytest.mark.slow
def test_served_error_says_unreachable() -> None:
    base = _dead_base()
    with _Serve(base) as server:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x", max_retries=0)
        messages = [{"role": "user", "content": "2+3?"}]
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="openai/x", messages=messages)  # type: ignore[arg-type]
        assert info.value.status_code == 502
        assert "unreachable" in info.value.message and base in info.value.message
        assert "ConnectionRefusedError" in info.value.message
        with pytest.raises(openai.APIError, match="unreachable"):
            for _ in client.chat.completions.create(model="openai/x", messages=messages, stream=True):  # type: ignore[arg-type]
                pass
