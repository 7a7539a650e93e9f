"""A fault-injecting HTTP proxy on loopback, for reliability tests and ``benchmarks/reliability``.

``FaultProxy(upstream)`` forwards requests to a real OpenAI-compatible server (``llama_cpp.server``
from ``tests/llama_server.py``) and, on completion requests (paths ending in ``/completions``),
injects faults: on a share ``fault_rate`` of them (seeded) or in the order of ``script``. Without an
upstream it is itself a fake OpenAI server answering ``"ok"``. Fault names:

* ``429:N`` — 429 with ``Retry-After: N`` (seconds); ``503:date:N`` — 503 with an HTTP-date
  ``Retry-After`` N seconds ahead; ``500`` — a plain server error;
* ``reset`` — the connection is dropped without a reply;
* ``truncate`` — the upstream's 200 reply cut in half (valid HTTP, broken JSON);
* ``slow:S`` — the upstream's reply, S seconds late; ``ok`` — forwarded untouched.

It records when each completion request arrived (``arrivals``), which faults it injected
(``injected``), and the tokens the upstream *delivered intact* per ``label`` (``delivered``: the
usage fields of every 200 reply passed on whole to a client still waiting for it) — what a
client's accounting must equal. Replies whose client had already left (timed out, cancelled)
are counted apart (``abandoned``).

This is a test helper, not library code. It runs its own event loop in a thread, so a test's
``asyncio.run`` and the proxy never share a loop.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import threading
import time
from email.utils import formatdate
from typing import Any

import httpx

DEFAULT_FAULTS = ("429:1", "503:date:1", "500", "reset", "truncate", "slow:1.5")


class FaultProxy:
    def __init__(
        self,
        upstream: str | None = None,
        *,
        fault_rate: float = 0.0,
        seed: int = 0,
        script: list[str] | None = None,
        faults: tuple[str, ...] = DEFAULT_FAULTS,
    ) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/v1") if upstream else None
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.script = list(script or [])
        self.faults = faults
        self.label = ""
        self.arrivals: list[float] = []
        self.injected: collections.Counter[str] = collections.Counter()
        self.delivered: collections.Counter[str] = collections.Counter()
        self.calls = 0
        self.abandoned = 0  # replies whose client had left before they came
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                self._client = httpx.AsyncClient(timeout=600)
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
                self.port = self._server.sockets[0].getsockname()[1]

            loop.run_until_complete(boot())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._client is not None:
            await self._client.aclose()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------------------

    def _choose(self) -> str:
        if self.script:
            return self.script.pop(0)
        if self.rng.random() < self.fault_rate:
            return self.rng.choice(self.faults)
        return "ok"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            writer.close()
            return
        fault = "ok"
        completion = path.endswith("/completions")
        if completion:
            self.calls += 1
            self.arrivals.append(time.monotonic())
            fault = self._choose()
            if fault != "ok":
                self.injected[fault.split(":")[0]] += 1
        try:
            await self._answer(reader, writer, fault, method, path, headers, body, completion)
        except (ConnectionError, OSError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def _answer(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        fault: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        completion: bool,
    ) -> None:
        kind, _, arg = fault.partition(":")
        if kind == "reset":
            writer.transport.abort()
            return
        if kind == "429":
            return await _reply(writer, 429, _error("rate limited"), {"Retry-After": arg or "1"})
        if kind == "503":
            seconds = float(arg.removeprefix("date:") or 1)
            when = formatdate(time.time() + seconds, usegmt=True)
            return await _reply(writer, 503, _error("overloaded"), {"Retry-After": when})
        if kind == "500":
            return await _reply(writer, 500, _error("internal error"))
        if kind == "slow":
            await asyncio.sleep(float(arg or 1.5))
        label = self.label  # the run that asked, even if its reply comes after the next one began
        status, data = await self._forward(method, path, headers, body)
        if kind == "truncate" and status == 200:
            return await _reply(writer, 200, data[: len(data) // 2])
        if reader.at_eof():
            # The client gave up (its timeout, or its run was cancelled): the server spent these
            # tokens, but nobody received them, so nobody can account for them.
            self.abandoned += 1
            return
        if status == 200 and completion:
            self.delivered[label] += _usage_tokens(data)
        await _reply(writer, status, data)

    async def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if self.upstream is None:
            return _fake(path, body)
        assert self._client is not None
        keep = {k: v for k, v in headers.items() if k in ("content-type", "authorization")}
        resp = await self._client.request(method, self.upstream + path, content=body, headers=keep)
        return resp.status_code, resp.content


def _error(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "server_error"}}).encode()


async def _reply(
    writer: asyncio.StreamWriter, status: int, data: bytes, extra: dict[str, str] | None = None
) -> None:
    reason = {
        200: "OK",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "Status")
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (extra or {}).items()),
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    await writer.drain()


def _usage_tokens(data: bytes) -> int:
    try:
        usage = json.loads(data).get("usage") or {}
    except (ValueError, AttributeError):
        return 0
    return int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)


def _fake(path: str, body: bytes) -> tuple[int, bytes]:
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    if path.endswith("/chat/completions"):
        choice: dict[str, Any] = {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "ok"},
        }
        obj = "chat.completion"
    elif path.endswith("/completions"):
        choice = {"index": 0, "finish_reason": "stop", "text": "ok", "logprobs": None}
        obj = "text_completion"
    else:
        return 404, _error("not found")
    data = {
        "id": "x",
        "object": obj,
        "created": int(time.time()),
        "model": "fake",
        "choices": [choice],
        "usage": usage,
    }
    return 200, json.dumps(data).encode()
