"""A prompt-file-driven demo: the question and the search settings come from a text file.

Run: ``python examples/prompt_demo.py [PROMPT_FILE]``. The file holds ``key: value`` settings,
a line ``---``, then the question (any number of lines). Without an argument a built-in demo
file is used. Settings: ``strategy``, ``prompts`` (a prompt style such as ``g1`` or
``thinking``, or a folder of templates), ``reward``, ``max_nodes``, ``max_tokens``, ``seed``.
The trace is written next to the file so ``o1agent viz`` can draw the tree.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from o1agent import Reasoner

DEMO = """strategy: greedy
prompts: g1
reward: none
max_nodes: 4
seed: 0
---
A baker makes 4 trays of 6 rolls. How many rolls is that?
"""


def parse_prompt_file(text: str) -> tuple[dict[str, str], str]:
    head, sep, body = text.partition("\n---\n")
    if not sep:
        return {}, text.strip()
    settings = {}
    for line in head.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition(":")
            settings[key.strip()] = value.strip()
    return settings, body.strip()


def main() -> None:
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    else:
        path = Path(tempfile.mkdtemp(prefix="o1agent-demo-")) / "demo.prompt"
        path.write_text(DEMO)
    settings, question = parse_prompt_file(path.read_text())
    reasoner = Reasoner(
        model=settings.get("model", "embedded"),
        strategy=settings.get("strategy", "greedy"),
        prompts=settings.get("prompts", "g1"),
        reward=settings.get("reward", "none"),
        budget={
            "max_nodes": int(settings.get("max_nodes", 4)),
            "max_tokens": int(settings.get("max_tokens", 4000)),
        },
        seed=int(settings.get("seed", 0)),
    )
    print(f"prompt file: {path}\nquestion: {question}")
    result = reasoner.solve(question, on_event=lambda ev: _show(ev))
    trace = result.trace.write_jsonl(path.with_suffix(".trace.jsonl"))
    print(f"answer: {result.answer!r} · {result.usage.total_tokens} tokens · trace: {trace}")


def _show(ev: dict) -> None:
    if ev.get("kind") in ("propose", "revise"):
        print(f"  step {ev.get('node_id')}: {(ev.get('text') or '').strip()[:100]!r}")


if __name__ == "__main__":
    main()
