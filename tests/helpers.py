"""Shared test doubles: a scripted step responder, a table-driven reward model, a scripted
policy that batches through the embedded backend's real scheduler (no model), and a raw-socket
request for tests that close connections themselves."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from o1agent.policies.base import RUN_KEY, Completion, CompletionRequest
from o1agent.policies.llamacpp import LlamaCppPolicy
from o1agent.policies.llamacpp_batch import Job, Scheduler
from o1agent.policies.scripted import ScriptedPolicy
from o1agent.rewards.base import ScoreRequest, Verdict
from o1agent.schema import Node, Step, Tree


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


class ScriptedEngine:
    """A ``llamacpp_batch.Engine`` answering from a ``ScriptedPolicy``: each step finishes every
    admitted job, and ``steps`` records the requests each step held (``width`` at most)."""

    def __init__(self, policy: ScriptedPolicy, *, width: int = 8) -> None:
        self.policy = policy
        self.width = width
        self.jobs: list[Job] = []
        self.steps: list[list[CompletionRequest]] = []
        self.resets = 0

    def busy(self) -> bool:
        return bool(self.jobs)

    def holds(self, group: Any) -> bool:
        return any(j.group is group for j in self.jobs)

    def interrupt(self) -> None:
        return None

    def can_admit(self, job: Job) -> bool:
        return len(self.jobs) < self.width

    def admit(self, job: Job) -> None:
        self.jobs.append(job)

    def step(self) -> None:
        jobs, self.jobs = self.jobs, []
        self.steps.append([j.request for j in jobs])
        for j in jobs:
            j.finish(asyncio.run(ScriptedPolicy.complete(self.policy, j.request)))

    def fail_all(self, exc: BaseException) -> None:
        for j in self.jobs:
            j.fail(exc)
        self.jobs = []

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        return None


class BatchingScripted(ScriptedPolicy):
    """A ScriptedPolicy that batches natively: its calls go through the embedded backend's real
    ``Scheduler`` (admission, reproducible-run exclusivity) into a ``ScriptedEngine``.
    ``batches`` records the size of every ``complete_many`` call. Close it after use."""

    batched = True
    reproducible_run = LlamaCppPolicy.reproducible_run
    reset = LlamaCppPolicy.reset

    def __init__(self, responses: Any, *, width: int = 8, **kwargs: Any) -> None:
        super().__init__(responses, **kwargs)
        self._engine = ScriptedEngine(self, width=width)
        self._scheduler = Scheduler(self._engine, self._prepare, name="scripted")
        self.batches: list[int] = []

    @staticmethod
    def _prepare(job: Job) -> None:
        job.prompt, job.tokens = "", np.zeros(1, dtype=np.intc)

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        return (await self.complete_many([request]))[0]

    async def complete_many(
        self, requests: Sequence[CompletionRequest], *, limit: int | None = None
    ) -> list[list[Completion]]:
        self.batches.append(len(requests))
        return await asyncio.wrap_future(self._scheduler.submit(list(requests), RUN_KEY.get()).future)

    def close(self) -> None:
        self._scheduler.close()


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


def build_tree(spec: dict[str, dict[str, Any]]) -> Tree:
    """A hand-built tree for strategy tests, from ``{node_id: {...}}``: ``answer``, ``score``,
    ``raw``, ``status``, ``lp`` (mean logprob), ``tc`` (token confidences), ``from`` (revised
    from) and ``dup`` (duplicate of). Parents and depths come from the path-shaped ids; children
    keep the spec's order."""
    tree = Tree.new("q?")
    nodes = dict(tree.nodes)
    for i, (nid, s) in enumerate(spec.items()):
        parent = nid.rsplit(".", 1)[0]
        answer = s.get("answer")
        nodes[nid] = Node(
            id=nid,
            parent_id=parent,
            depth=nid.count("."),
            step=Step(title=nid, raw=s.get("raw", f"step {nid}"), answer=answer, is_final=answer is not None),
            score=s.get("score"),
            mean_logprob=s.get("lp"),
            token_confidence=s.get("tc"),
            status=s.get("status", "terminal" if answer is not None else "open"),
            revised_from=s.get("from"),
            duplicate_of=s.get("dup"),
            created_at=float(i),
        )
        nodes[parent] = nodes[parent].model_copy(update={"children": [*nodes[parent].children, nid]})
    return Tree(nodes=nodes)
