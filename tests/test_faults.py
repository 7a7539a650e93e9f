"""Faults on a real HTTP path: a run whose backend starts failing mid-way raises a ``RunError``
carrying its partial result and the exact tokens delivered (loopback fake server), and the
reliability fault run (``benchmarks/reliability/faults.py``) against a real ``llama_cpp.server``
behind the fault proxy keeps its promises: no overshoot beyond one step, accounting equal to the
server's usage, no RunError without ``.partial``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from fault_proxy import FaultProxy

from o1agent import Reasoner
from o1agent.config import GenerationConfig
from o1agent.errors import BackendError, RunError
from o1agent.policies.litellm import LiteLLMPolicy

REPO = Path(__file__).resolve().parent.parent


def _load_faults():
    spec = importlib.util.spec_from_file_location(
        "reliability_faults", REPO / "benchmarks/reliability/faults.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["reliability_faults"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_a_backend_that_dies_mid_run_leaves_a_partial_with_exact_usage() -> None:
    # One good reply, then nothing but 500s: the run fails after its first node.
    with FaultProxy(script=["ok", *["500"] * 10]) as proxy:
        policy = LiteLLMPolicy(
            "openai/fake", api_base=proxy.base_url, mode="fold", max_retries=1, retry_wait=0.01
        )
        r = Reasoner(model=policy, strategy="greedy", strategy_config={"max_depth": 8}, reward=None)
        with pytest.raises(RunError) as info:
            r.solve("What is 2+3?")
    assert isinstance(info.value, BackendError) and "HTTP 500" in str(info.value)
    partial = info.value.partial
    assert partial is not None and len(partial.tree) == 2  # the root and the step that came back
    assert partial.usage.total_tokens == proxy.delivered[""] == 6  # the fake bills 5 + 1 tokens


@pytest.mark.slow
def test_fault_run_against_a_real_server(llama_server) -> None:
    faults = _load_faults()
    report = faults.fault_runs(3, base_url=llama_server.base_url, alias=llama_server.alias, seed=1)
    assert report.runs == 3 and report.faults_injected > 0
    assert report.max_overshoot_tokens <= GenerationConfig().step_tokens
    assert report.accounting_mismatches == 0
    assert report.errors_without_partial == 0
    assert report.finished + len(report.errors) == 3
