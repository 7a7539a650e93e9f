"""An agent that delegates a hard question to o1agent through the ``deep_reason`` tool.

Run: ``python examples/agent_tool.py``. The agent loop is LangGraph's prebuilt ReAct agent. Its
own LLM is a scripted fake here (SmolLM2-135M cannot call tools reliably and this example must
run offline); swap in any tool-calling chat model. The tool itself runs a real slow-thinking
search on the embedded model.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from o1agent.integrations import O1ChatModel

QUESTION = "Tom has 3 boxes with 5 pens in each box. How many pens does Tom have?"


class ScriptedAgentLLM(GenericFakeChatModel):
    """Stands in for a tool-calling LLM: asks deep_reason, then reports the tool's answer."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def main() -> None:
    from langgraph.prebuilt import create_react_agent

    tool = O1ChatModel(model="embedded", strategy="greedy", reward="none", budget={"max_nodes": 4}).as_tool()
    llm = ScriptedAgentLLM(
        messages=iter(
            [
                AIMessage(
                    content="", tool_calls=[{"name": tool.name, "args": {"question": QUESTION}, "id": "c1"}]
                ),
                AIMessage(content="I asked deep_reason; its answer is above."),
            ]
        )
    )
    agent = create_react_agent(llm, [tool])
    out = agent.invoke({"messages": [HumanMessage(QUESTION)]}, {"recursion_limit": 10})
    for m in out["messages"]:
        if isinstance(m, ToolMessage):
            result = m.artifact
            print(f"deep_reason -> {m.content!r} (score {result.score}, {result.usage.nodes} nodes)")
        else:
            print(f"{m.type}: {m.content or m.tool_calls}")


if __name__ == "__main__":
    main()
