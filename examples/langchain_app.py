"""LCEL chain with O1ChatModel: prompt | slow-thinking model | parser, on the embedded model.

Run: ``python examples/langchain_app.py``. Streams the reasoning steps as the search makes them,
then prints the answer and the run's metadata. Small budget so it finishes in well under a minute.
"""

from __future__ import annotations

import sys

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from o1agent.integrations import O1ChatModel


def main() -> None:
    model = O1ChatModel(model="embedded", strategy="greedy", reward="none", budget={"max_nodes": 3})
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Solve the problem step by step."), ("human", "{question}")]
    )
    question = "A shop sells pens at 2 dollars each. How much do 4 pens cost?"

    # 1. Streaming: reasoning chunks first (additional_kwargs["reasoning_content"]), then the answer.
    #    Chunks add up to the full message, with metadata and usage.
    full = None
    for chunk in (prompt | model).stream({"question": question}):
        reasoning = chunk.additional_kwargs.get("reasoning_content")
        if reasoning:
            sys.stdout.write("  thinking: " + reasoning)
        full = chunk if full is None else full + chunk
    assert full is not None
    print(f"streamed answer: {full.content!r}")
    md = full.response_metadata
    print(f"strategy={md['strategy']} score={md['score']} nodes={md['nodes']} run_id={md['run_id']}")
    print("usage:", full.usage_metadata)

    # 2. A plain chain with a parser: just the answer string.
    chain = prompt | model | StrOutputParser()
    print("chain answer:", repr(chain.invoke({"question": question})))


if __name__ == "__main__":
    main()
