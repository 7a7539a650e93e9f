"""A locally trained checkpoint answers through `solve` and the CLI (`--model local:PATH`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from o1agent.errors import UnknownModelError
from o1agent.policies import make_policy


def test_missing_local_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(UnknownModelError):
        make_policy(f"local:{tmp_path / 'nothing-here'}")


@pytest.mark.slow
def test_cli_solves_with_the_local_base_checkpoint():
    cli = str(Path(sys.executable).with_name("o1agent"))
    proc = subprocess.run(
        [
            cli,
            "solve",
            "What is 2+3?",
            "--model",
            "local:base",
            "--strategy",
            "greedy",
            "--reward",
            "none",
            "--max-nodes",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["model"].startswith("local") and data["usage"]["completion_tokens"] > 0
    assert data["best_path"]
