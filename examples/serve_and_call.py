"""Serve o1agent as an OpenAI-compatible API and call it with the official ``openai`` client.

Run: ``python examples/serve_and_call.py``. Starts the server in a background thread on a free
loopback port (the same app ``o1agent serve --model embedded`` runs), then makes one plain and
one streaming request. ``reasoning_content`` deltas carry the steps; ``content`` the answer.
"""

from __future__ import annotations

import sys

import openai

from o1agent.schema import Budget
from o1agent.server import ReasonerPool, create_app, serve_in_thread


def main() -> None:
    # One Reasoner per served model (the model loads once); requests override its defaults.
    pool = ReasonerPool(strategy="greedy", reward="none", budget=Budget(max_nodes=4))
    app = create_app(pool, models=["embedded"], on_shutdown=pool.aclose)
    with serve_in_thread(app) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
        print("models:", [m.id for m in client.models.list()])
        question = [{"role": "user", "content": "What is 6 times 7?"}]
        resp = client.chat.completions.create(model="embedded", messages=question)
        print("answer:", repr(resp.choices[0].message.content), "usage:", resp.usage.total_tokens, "tokens")

        # Per-request search settings ride in extra_body.
        stream = client.chat.completions.create(
            model="embedded",
            messages=question,
            stream=True,
            extra_body={"strategy": "greedy", "budget": {"max_nodes": 3}},
        )
        for chunk in stream:
            for choice in chunk.choices:
                reasoning = (choice.delta.model_extra or {}).get("reasoning_content")
                if reasoning:
                    sys.stdout.write("  thinking: " + reasoning)
                if choice.delta.content:
                    print("streamed answer:", repr(choice.delta.content))


if __name__ == "__main__":
    main()
