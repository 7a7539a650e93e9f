"""Shared test doubles: a scripted step responder and a table-driven reward model; a raw-socket
request for tests that close connections themselves."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

from o1agent.policies.base import CompletionRequest
from o1agent.rewards.base import ScoreRequest, Verdict


def step_responder(
    script: dict[str, list[str]], default: str = "Final answer: 0"
) -> Callable[[CompletionRequest], list[str]]:
    """Answer propose/revise requests from ``script[node_id]`` (one entry per candidate, in order).

    The node id comes from the request metadata the graph sets; revise requests use the key
    ``"revise:<node_id>"``; finalize requests answer ``default``.
    """
    counters: dict[str, int] = {}

    def respond(req: CompletionRequest) -> list[str]:
        purpose = req.metadata.get("purpose")
        if purpose == "finalize":
            return [default.replace("Final answer:", "").strip()] * req.n
        key = req.metadata.get("node_id", "")
        if purpose == "revise":
            key = f"revise:{key}"
        items = script.get(key, [default])
        start = counters.get(key, 0)
        counters[key] = start + req.n
        return [items[(start + i) % len(items)] for i in range(req.n)]

    return respond


class TableReward:
    """Process reward looked up by a substring of the candidate text (first match wins)."""

    kind = "process"
    name = "table"

    def __init__(self, table: dict[str, float], default: float = 0.5) -> None:
        self.table = table
        self.default = default
        self.calls = 0

    async def score(self, requests: list[ScoreRequest]) -> list[Verdict]:
        out = []
        for r in requests:
            self.calls += 1
            text = r.candidate.raw
            score = next((v for k, v in self.table.items() if k in text), self.default)
            out.append(Verdict(score=score, rationale=f"table score for {text[:20]!r}"))
        return out


def post_raw(base: str, payload: dict) -> socket.socket:
    """POST a chat request on a raw socket to ``base`` (``http://host:port/v1``), so the test
    decides when the connection closes; returns the socket."""
    host, port = base.split("//")[1].split("/")[0].split(":")
    data = json.dumps(payload).encode()
    s = socket.create_connection((host, int(port)))
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(data) + data
    )
    return s
