"""o1agent.serde: checkpointed o1agent values come back as the same objects, with no "unregistered
type" warning, in LangGraph's permissive mode and under ``LANGGRAPH_STRICT_MSGPACK=true``; and the
rules ``with_o1agent_types`` applies to default and user-configured serializers.

The round trips run in a subprocess per case: LangGraph reads the strict flag once at import, and
logs each unregistered class only once per process, so cases sharing a process would hide
each other's warnings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from o1agent.config import GenerationConfig
from o1agent.schema import Node, Tree
from o1agent.search.base import Expansion
from o1agent.serde import ALLOWED_MSGPACK_MODULES, serializer, with_o1agent_types

ROOT = Path(__file__).resolve().parents[1]

# A graph of two nodes, checkpointed between them: ``make`` writes o1agent values, the run stops
# before ``check``, and a fresh saver + freshly compiled graph resume it (a new process would do
# the same), so ``check`` receives what the checkpoint revived. ``search`` is typed Any, like a
# strategy's state in o1agent's graph: LangGraph's strict mode cannot allow-list from it.
SCRIPT = r"""
import asyncio, json, logging, sys
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.checkpoint.memory import InMemorySaver

from o1agent.config import GenerationConfig
from o1agent.schema import Budget, Node, Result, Step, ToolCall, Trace, TraceEvent, Tree, Usage
from o1agent.search.base import Expansion
from o1agent.serde import with_o1agent_types

saver_kind, serde_kind, path = sys.argv[1:4]

messages = []


class Capture(logging.Handler):
    def emit(self, record):
        messages.append(record.getMessage())


logging.getLogger().addHandler(Capture(level=logging.WARNING))


class S(TypedDict, total=False):
    question: str
    tree: Tree
    usage: Usage
    events: list[TraceEvent]
    result: Result | None
    search: dict[str, Any]
    seen: dict[str, str]


def values() -> dict:
    tree = Tree.new("What is 3*4?")
    step = Step(title="Multiply", text="3*4 = 12", raw="Multiply\n3*4 = 12", answer="12", is_final=True,
                tool_calls=[ToolCall(name="calculator", arguments={"expr": "3*4"}, output="12")])
    node = Node(id="0.0", parent_id="0", depth=1, step=step, status="terminal", score=0.9, seed=7)
    tree = tree.merged({"0.0": node, "0": tree.root.model_copy(update={"children": ["0.0"]})})
    usage = Usage(prompt_tokens=30, completion_tokens=12, calls=1, nodes=1, started_at=1.5)
    events = [TraceEvent(run_id="r", seq=1, kind="propose", node_id="0.0", step=step, scores={"judge": 0.9})]
    result = Result(question="What is 3*4?", answer="12", score=0.9, best_path=[node], tree=tree,
                    usage=usage, strategy="greedy", run_id="r", trace=Trace(events=events))
    search = {"node": node, "budget": Budget(max_nodes=8), "generation": GenerationConfig(step_tokens=32),
              "expansion": Expansion("0", k=2, greedy=True)}
    return {"tree": tree, "usage": usage, "events": events, "result": result, "search": search}


VALUES = values()  # once: nodes and events carry creation timestamps


def make(state: S) -> dict:
    return VALUES


def name(v: Any) -> str:
    return type(v).__module__ + "." + type(v).__qualname__


def check(state: S) -> dict:
    seen = {k: name(state[k]) for k in ("tree", "usage", "result")}
    seen["events[0]"] = name(state["events"][0])
    seen.update({f"search.{k}": name(v) for k, v in state["search"].items()})
    return {"seen": seen}


def graph(saver):
    g = StateGraph(S)
    g.add_node("make", make)
    g.add_node("check", check)
    g.add_edge(START, "make")
    g.add_edge("make", "check")
    g.add_edge("check", END)
    cp = with_o1agent_types(saver) if serde_kind == "o1agent" else saver
    return g.compile(checkpointer=cp, interrupt_before=["check"])


async def main() -> None:
    config = {"configurable": {"thread_id": "t"}}
    if saver_kind == "memory":
        saver = InMemorySaver()
        await graph(saver).ainvoke({"question": "What is 3*4?"}, config)
        # InMemorySaver keeps serialized bytes: a freshly compiled graph over it revives them.
        resumed = graph(saver)
        await resumed.ainvoke(None, config)
        snap = await resumed.aget_state(config)
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(path) as saver:
            await graph(saver).ainvoke({"question": "What is 3*4?"}, config)
        async with AsyncSqliteSaver.from_conn_string(path) as saver:  # reopened: read from the file
            resumed = graph(saver)
            await resumed.ainvoke(None, config)
            snap = await resumed.aget_state(config)
    want = VALUES
    got = snap.values
    equal = {k: got.get(k) == v for k, v in want.items() if k != "search"}
    equal.update({f"search.{k}": got["search"].get(k) == v for k, v in want["search"].items()})
    print(json.dumps({"equal": equal, "seen": got.get("seen"), "warnings": messages}))


asyncio.run(main())
"""

EXPECTED_SEEN = {
    "tree": "o1agent.schema.Tree",
    "usage": "o1agent.schema.Usage",
    "result": "o1agent.schema.Result",
    "events[0]": "o1agent.schema.TraceEvent",
    "search.node": "o1agent.schema.Node",
    "search.budget": "o1agent.schema.Budget",
    "search.generation": "o1agent.config.GenerationConfig",
    "search.expansion": "o1agent.search.types.Expansion",
}


def round_trip(tmp_path: Path, *, strict: bool, saver: str, serde: str) -> dict:
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true" if strict else "false"}
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env.setdefault("HF_HUB_OFFLINE", "1")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, saver, serde, str(tmp_path / "cp.sqlite")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def serde_warnings(out: dict) -> list[str]:
    return [m for m in out["warnings"] if "unregistered type" in m or "Blocked deserialization" in m]


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "permissive"])
def test_o1agent_values_come_back_identical_without_warnings(tmp_path, strict, saver):
    out = round_trip(tmp_path, strict=strict, saver=saver, serde="o1agent")
    assert serde_warnings(out) == []
    assert out["seen"] == EXPECTED_SEEN  # what the resumed node received
    assert all(out["equal"].values()), out["equal"]


def test_plain_checkpointer_blocks_them_under_strict_msgpack(tmp_path):
    # The control: the same graph with the saver's default serializer. LangGraph's strict mode
    # allow-lists the classes reachable from the state's type hints itself (Tree, Node, Usage,
    # Result...), but not those only held under ``dict[str, Any]``: they come back as field dicts.
    out = round_trip(tmp_path, strict=True, saver="memory", serde="plain")
    blocked = "\n".join(serde_warnings(out))
    for name in ("o1agent.schema.Budget", "o1agent.config.GenerationConfig", "o1agent.search.types.Expansion"):
        assert f"Blocked deserialization of {name}" in blocked
    assert out["seen"]["search.budget"] == "builtins.dict"
    assert not out["equal"]["search.budget"] and not out["equal"]["search.expansion"]
    assert out["seen"]["tree"] == "o1agent.schema.Tree" and out["equal"]["tree"]


def test_plain_checkpointer_warns_in_permissive_mode(tmp_path):
    out = round_trip(tmp_path, strict=False, saver="sqlite", serde="plain")
    warned = "\n".join(serde_warnings(out))
    for name in ("Tree", "Usage", "TraceEvent", "Result", "Budget"):
        assert f"Deserializing unregistered type o1agent.schema.{name} from checkpoint" in warned
    assert all(out["equal"].values())  # revived, but only with the warning


# --- with_o1agent_types on default and configured serializers (in-process: no round trip) ------


def allowed(saver) -> set[tuple[str, ...]]:
    serde = saver.serde.serde if isinstance(saver.serde, EncryptedSerializer) else saver.serde
    return set(serde._allowed_msgpack_modules)


def test_default_serde_is_replaced_on_a_copy_sharing_the_storage():
    saver = InMemorySaver()
    original = saver.serde
    got = with_o1agent_types(saver)
    assert got is not saver and saver.serde is original  # the caller's saver is untouched
    assert got.storage is saver.storage and got.blobs is saver.blobs
    assert allowed(got) == set(ALLOWED_MSGPACK_MODULES)
    assert ("o1agent.schema", "TraceEvent") in allowed(got)
    assert with_o1agent_types(got) is got  # already allowed: nothing to copy
    assert with_o1agent_types(None) is None


def test_a_users_allowlist_and_pickle_fallback_are_kept():
    mine = ("myapp.state", "Thing")
    listed = with_o1agent_types(InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=[mine])))
    assert allowed(listed) == {mine, *ALLOWED_MSGPACK_MODULES}

    pickling = with_o1agent_types(InMemorySaver(serde=JsonPlusSerializer(pickle_fallback=True)))
    assert pickling.serde.pickle_fallback is True
    assert allowed(pickling) == set(ALLOWED_MSGPACK_MODULES)

    assert allowed(with_o1agent_types(InMemorySaver(), extra=[Tree, mine])) == {
        mine,
        *ALLOWED_MSGPACK_MODULES,
    }


class XorCipher:
    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return "xor", bytes(b ^ 0x5A for b in plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        assert ciphername == "xor"
        return bytes(b ^ 0x5A for b in ciphertext)


def test_an_encrypted_serializer_stays_encrypted_and_allows_the_types():
    cipher = XorCipher()
    saver = with_o1agent_types(InMemorySaver(serde=EncryptedSerializer(cipher, JsonPlusSerializer())))
    assert isinstance(saver.serde, EncryptedSerializer) and saver.serde.cipher is cipher
    assert allowed(saver) == set(ALLOWED_MSGPACK_MODULES)
    node = Node(id="0.1", parent_id="0", depth=1)
    typ, data = saver.serde.dumps_typed({"node": node, "x": Expansion("0", k=3), "g": GenerationConfig()})
    assert typ.endswith("+xor") and b"o1agent" not in data
    assert saver.serde.loads_typed((typ, data)) == {
        "node": node,
        "x": Expansion("0", k=3),
        "g": GenerationConfig(),
    }


def test_an_unknown_serializer_is_left_alone():
    class Mine:
        def dumps_typed(self, obj):
            return "json", json.dumps(obj).encode()

        def loads_typed(self, data):
            return json.loads(data[1])

    saver = InMemorySaver(serde=Mine())
    assert with_o1agent_types(saver) is saver


def test_serializer_revives_every_listed_type():
    # Each listed class round-trips through the serializer as itself (a renamed or moved class
    # would be blocked and come back as a dict).
    serde = serializer()
    from o1agent.schema import Budget, Result, Step, ToolCall, Trace, TraceEvent, Usage

    samples = [
        Step(title="t"),
        ToolCall(name="calculator"),
        Node(id="0"),
        Tree.new("q"),
        Usage(nodes=2),
        TraceEvent(run_id="r", kind="start"),
        Trace(),
        Result(question="q", answer="a"),
        Budget(max_nodes=3),
        GenerationConfig(),
        Expansion("0"),
    ]
    assert {(type(s).__module__, type(s).__name__) for s in samples} == set(ALLOWED_MSGPACK_MODULES)
    for s in samples:
        back = serde.loads_typed(serde.dumps_typed(s))
        assert type(back) is type(s) and back == s
