"""``langgraph dev`` serves ``graphs/reasoning.py`` per ``langgraph.json``: a real LangGraph API
server (langgraph-cli[inmem]) on a free loopback port, driven through ``langgraph_sdk`` — a thread,
a streamed run (custom + values) on the embedded model, the final state's answer. Offline: the CLI's
analytics and the server's version check are switched off by their environment flags, and
``--no-browser`` keeps it from opening Studio; the server process runs under the tests' network
guard (``tests/offline.py``) and the test fails if it tried to reach anything but loopback.
"""

from __future__ import annotations

import json
import sys

import pytest
from child_server import REPO, ChildServer, http_ok
from offline import BLOCKED

pytestmark = pytest.mark.slow

#: What ``langgraph dev`` needs to start and run offline (README, "LangGraph CLI / Studio").
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # langgraph_cli/analytics.py posts each command otherwise
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # langgraph_api/cli.py asks PyPI for the latest version
    "LANGSMITH_TRACING": "false",
}


class LangGraphDev(ChildServer):
    name = "langgraph_dev"

    def command(self) -> list[str]:
        # Run from the repository root, as a user does: langgraph.json's paths are relative to it
        # (the in-memory server keeps its state in .langgraph_api/ there, ignored by git).
        return [sys.executable, "-m", "langgraph_cli", "dev", "--host", "127.0.0.1", "--port", str(self.port),
                "--no-browser", "--no-reload"]  # fmt: skip

    def ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.port}/ok") is not None


async def test_langgraph_dev_streams_a_run_of_the_deployed_graph() -> None:
    from langgraph_sdk import get_client

    # This checkout's o1agent, not another installed copy (the CLI appends the project last), and
    # the network guard loaded by tests/offline_site/sitecustomize.py.
    tests = REPO / "tests"
    env = {**OFFLINE_ENV, "PYTHONPATH": f"{tests / 'offline_site'}:{tests}:{REPO}"}
    with LangGraphDev(env=env, cwd=REPO, startup_timeout=120) as server:
        client = get_client(url=f"http://127.0.0.1:{server.port}")
        (assistant,) = await client.assistants.search(graph_id="reasoning")
        schemas = await client.assistants.get_schemas(assistant["assistant_id"])
        assert {"model", "strategy", "max_tokens"} <= set(schemas["context_schema"]["properties"])
        thread = await client.threads.create()
        custom: list[dict] = []
        final: dict = {}
        errors: list[object] = []
        async for part in client.runs.stream(
            thread["thread_id"],
            "reasoning",
            input={"question": "What is 2 + 3?"},
            context={"strategy": "greedy", "reward": "none", "max_tokens": 600},
            stream_mode=["custom", "values"],
        ):
            if part.event == "custom":
                custom.append(part.data)
            elif part.event == "values":
                final = part.data
            elif part.event == "error":
                errors.append(part.data)
        assert not errors, f"{errors}\n{server.log_tail()}"
        state = await client.threads.get_state(thread["thread_id"])
        log = server.log_tail(chars=1_000_000)
    assert BLOCKED not in log, log[-3000:]
    kinds = [e["kind"] for e in custom]
    assert kinds[0] == "start" and "propose" in kinds and kinds[-1] == "finalize"
    assert custom[0]["data"]["strategy"] == "greedy" and "embedded" in custom[0]["data"]["model"]
    result = final["result"]
    assert result["answer"] == "5", json.dumps(result)[:2000]
    assert result["strategy"] == "greedy" and result["usage"]["completion_tokens"] > 0
    assert state["values"]["result"]["answer"] == "5"  # the platform's checkpointer has the run
