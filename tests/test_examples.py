"""Runs every example script end to end on the embedded model (slow): each must exit 0 and print
what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CASES = {
    "langchain_app.py": ["thinking: [Step", "streamed answer:", "chain answer:", "strategy=greedy", "usage:"],
    "agent_tool.py": ["deep_reason ->", "I asked deep_reason"],
    "subgraph.py": ["[reason] propose", "answer "],
    "serve_and_call.py": ["models: ['embedded']", "answer:", "thinking: [Step", "streamed answer:"],
    "prompt_demo.py": ["question: A baker", "step 0.0:", "answer:", "trace:"],
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs(script: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for needle in CASES[script]:
        assert needle in proc.stdout, f"{script}: {needle!r} missing from:\n{proc.stdout}"
