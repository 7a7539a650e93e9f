"""LangChain/LangGraph integration: O1ChatModel, the deep_reason tool in a real agent loop, and the
reasoning graph as a subgraph with its custom stream events."""

from __future__ import annotations

import asyncio
import operator
import time
from typing import Annotated, Any, TypedDict

import pytest
from helpers import TableReward, step_responder
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph

from o1agent.errors import InvalidQuestionError
from o1agent.integrations import O1ChatModel, reasoning_subgraph
from o1agent.policies import ScriptedPolicy
from o1agent.schema import Result

SCRIPT = {
    "0": ["Bad start\nwrong idea", "Good start\nmultiply 3 by 4"],
    "0.0": ["Dead end\nnonsense"],
    "0.1": ["Finish\n3*4 = 12\nFinal answer: 12"],
}
TABLE = {"Bad": 0.6, "Good": 0.55, "Dead": 0.1, "Finish": 0.9}
QUESTION = "A farmer has 3 pens with 4 sheep in each. How many sheep?"


def scripted_model(latency: float = 0.0, **kw: Any) -> O1ChatModel:
    return O1ChatModel(
        model=ScriptedPolicy(step_responder(SCRIPT), latency=latency),
        reward=TableReward(TABLE),
        strategy="dfs",
        strategy_config={"k": 2, "threshold": 0.5, "greedy_first": False},
        **kw,
    )


def test_invoke_returns_the_answer_with_metadata_and_usage():
    msg = scripted_model().invoke(QUESTION)
    assert isinstance(msg, AIMessage)
    assert msg.content == "12"
    md = msg.response_metadata
    assert md["strategy"] == "dfs" and md["score"] == 0.9 and md["path"] == ["0.1", "0.1.0"]
    assert md["run_id"] and md["tokens"]["completion"] > 0 and md["cost"] == 0.0
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["total_tokens"] == md["tokens"]["prompt"] + md["tokens"]["completion"]
    assert "Finish" in msg.additional_kwargs["reasoning_content"]


async def test_ainvoke_and_per_call_overrides():
    model = scripted_model()
    msg = await model.ainvoke([SystemMessage("Be careful."), HumanMessage(QUESTION)])
    assert msg.content == "12"
    # A node budget of 1 stops the search after the first expansion: an override, not the default.
    small = await model.ainvoke(QUESTION, budget={"max_nodes": 1})
    assert small.response_metadata["budget_exhausted"] is True
    bound = model.bind(strategy="greedy", strategy_config={})
    assert (await bound.ainvoke(QUESTION)).response_metadata["strategy"] == "greedy"


def test_no_human_message_is_a_clear_error():
    with pytest.raises(InvalidQuestionError, match="no user message"):
        scripted_model().invoke([SystemMessage("only a system prompt")])


def test_stream_yields_reasoning_as_it_happens_then_the_answer():
    model = scripted_model(latency=0.15)
    t0 = time.monotonic()
    chunks: list[tuple[float, AIMessageChunk]] = [(time.monotonic() - t0, c) for c in model.stream(QUESTION)]
    reasoning = [(t, c) for t, c in chunks if c.additional_kwargs.get("reasoning_content")]
    answers = [(t, c) for t, c in chunks if c.content]
    assert len(reasoning) >= 5 and len(answers) == 1
    assert answers[0][1].content == "12"
    assert all(t <= answers[0][0] for t, _ in reasoning)
    # Streamed live: the first step came well before the search ended (several 0.15 s calls later).
    assert answers[0][0] - reasoning[0][0] >= 0.3
    total = chunks[0][1]
    for _, c in chunks[1:]:
        total = total + c
    assert total.content == "12"
    assert "[backtrack from 0.0 to 0.1]" in total.additional_kwargs["reasoning_content"]
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0
    assert total.response_metadata["score"] == 0.9


async def test_astream_and_batch():
    model = scripted_model()
    kinds = []
    async for c in model.astream(QUESTION):
        if c.content or c.additional_kwargs.get("reasoning_content"):
            kinds.append("answer" if c.content else "reasoning")
    assert kinds[-1] == "answer" and kinds.count("answer") == 1 and "reasoning" in kinds
    outs = await model.abatch([QUESTION, QUESTION])
    assert [o.content for o in outs] == ["12", "12"]
    outs = await asyncio.to_thread(model.batch, [QUESTION] * 3)
    assert [o.content for o in outs] == ["12"] * 3


def test_lcel_chain():
    prompt = ChatPromptTemplate.from_messages([("system", "Answer with a number."), ("human", "{q}")])
    chain = prompt | scripted_model() | RunnableLambda(lambda m: int(m.content))
    assert chain.invoke({"q": QUESTION}) == 12


class ToolCallingFake(GenericFakeChatModel):
    """Scripted agent LLM: emits the given messages in order; accepts tools (ignores them)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        self.__dict__["bound_tools"] = [t.name for t in tools]
        return self


def test_deep_reason_tool_inside_a_react_agent():
    from langgraph.prebuilt import create_react_agent

    tool = scripted_model().as_tool()
    assert isinstance(tool, BaseTool) and tool.name == "deep_reason"
    agent_llm = ToolCallingFake(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[{"name": "deep_reason", "args": {"question": QUESTION}, "id": "call_1"}],
                ),
                AIMessage(content="The farmer has 12 sheep."),
            ]
        )
    )
    agent = create_react_agent(agent_llm, [tool])
    out = agent.invoke({"messages": [HumanMessage("How many sheep does the farmer have?")]})
    msgs = out["messages"]
    tool_msgs = [m for m in msgs if isinstance(m, ToolMessage)]
    assert agent_llm.__dict__["bound_tools"] == ["deep_reason"]
    assert len(tool_msgs) == 1 and tool_msgs[0].content == "12" and tool_msgs[0].name == "deep_reason"
    assert isinstance(tool_msgs[0].artifact, Result) and tool_msgs[0].artifact.score == 0.9
    assert msgs[-1].content == "The farmer has 12 sheep."


async def test_tool_async_invocation_returns_answer():
    tool = scripted_model().as_tool()
    msg = await tool.ainvoke(
        {"type": "tool_call", "name": "deep_reason", "args": {"question": QUESTION}, "id": "c"}
    )
    assert msg.content == "12"


async def test_reasoning_graph_streams_custom_events_before_the_end():
    graph = reasoning_subgraph(
        ScriptedPolicy(step_responder(SCRIPT)),
        TableReward(TABLE),
        strategy_config={"k": 2, "threshold": 0.5, "greedy_first": False},
    )
    seen: list[str] = []
    async for mode, chunk in graph.astream(
        {"question": QUESTION, "run_id": "r"}, {"recursion_limit": 1000}, stream_mode=["custom", "updates"]
    ):
        seen.append(chunk["kind"] if mode == "custom" else f"node:{next(iter(chunk))}")
    assert seen.index("propose") < seen.index("verify") < seen.index("node:finalize")
    for kind in ("start", "select", "propose", "verify", "prune", "backtrack", "finalize"):
        assert kind in seen, kind
    # Each expansion's events arrive before its node's update, i.e. while the run is going.
    assert seen.index("propose") < seen.index("node:propose")


class Outer(TypedDict, total=False):
    question: str
    result: Result
    log: Annotated[list[str], operator.add]
    report: str


async def test_reasoning_graph_as_a_subgraph_of_a_user_graph():
    sub = reasoning_subgraph(
        ScriptedPolicy(step_responder(SCRIPT)),
        TableReward(TABLE),
        strategy_config={"k": 2, "threshold": 0.5, "greedy_first": False},
    )

    def prepare(state: Outer) -> dict[str, Any]:
        return {"question": state["question"].strip(), "log": ["prepared"]}

    def report(state: Outer) -> dict[str, Any]:
        r = state["result"]
        return {"report": f"{r.answer} (score {r.score})", "log": ["reported"]}

    b = StateGraph(Outer)
    b.add_node("prepare", prepare)
    b.add_node("reason", sub)
    b.add_node("report", report)
    b.add_edge(START, "prepare")
    b.add_edge("prepare", "reason")
    b.add_edge("reason", "report")
    b.add_edge("report", END)
    outer = b.compile()
    custom: list[tuple[tuple[str, ...], str]] = []
    final: dict[str, Any] = {}
    async for ns, mode, chunk in outer.astream(
        {"question": f"  {QUESTION}  "},
        {"recursion_limit": 1000},
        stream_mode=["custom", "values"],
        subgraphs=True,
    ):
        if mode == "custom":
            custom.append((ns, chunk["kind"]))
        elif ns == ():
            final = chunk
    assert final["report"] == "12 (score 0.9)" and final["log"] == ["prepared", "reported"]
    kinds = [k for _, k in custom]
    assert "propose" in kinds and "verify" in kinds and "backtrack" in kinds
    assert all(ns and ns[0].startswith("reason") for ns, _ in custom)


@pytest.mark.slow
def test_o1chatmodel_on_the_embedded_model():
    model = O1ChatModel(model="embedded", strategy="greedy", reward="none", budget={"max_nodes": 3})
    chunks = list(model.stream("What is 2 + 3?"))
    assert any(c.additional_kwargs.get("reasoning_content") for c in chunks)
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0
    assert total.response_metadata["model_name"].startswith("embedded")
