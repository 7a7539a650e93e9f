"""The evaluation harness on the real embedded model (SmolLM2-135M): a 5-item eval writes
items.jsonl, summary.md, scaling.png and traces; the Ray executor gives the same answers and
grades per item as the local one for the same seed. Slow (CI runs them); kept small."""

from __future__ import annotations

import json

import pytest

from o1agent.evaluation import EvalConfig, run_eval
from o1agent.schema import Trace

pytestmark = pytest.mark.slow

# Two methods (greedy, and self-consistency whose n=2 samples exercise the seeded sampler), one
# small budget, short steps: about a minute of CPU per run.
CONFIG = {
    "dataset": "reasoning_gym:chain_sum",
    "dataset_config": {"min_terms": 2, "max_terms": 2, "max_digits": 1},
    "n": 5,
    "seed": 1,
    "strategies": ["greedy", "self_consistency"],
    "baselines": False,
    "budgets": [700],
    "model": "embedded",
    "reward": "none",
    "overrides": {"step_tokens": 32, "max_depth": 2},
    "sample_tokens": 350,
}


def rows_of(out):
    return [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]


def comparable(rows):
    # Everything but timing and the random run ids must agree between executors.
    return {
        (r["item_id"], r["strategy"]): (r["answer"], r["correct"], r["score"], r["tokens"], r["nodes"])
        for r in rows
    }


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_local")
    return out, run_eval(EvalConfig(**CONFIG, out=out))


def test_five_item_eval_on_the_embedded_model(local_run):
    out, s = local_run
    rows = rows_of(out)
    assert len(rows) == 10 and {r["strategy"] for r in rows} == {"greedy", "self_consistency"}
    assert all(r["answer"] and r["tokens"] > 0 and r["error"] is None for r in rows)
    assert all(r["strategy_config"]["n"] == 2 for r in rows if r["strategy"] == "self_consistency")
    greedy = s.get("greedy", 700)
    assert greedy.n == 5 and 0.0 <= greedy.ci_low <= greedy.accuracy <= greedy.ci_high <= 1.0
    assert greedy.mean_tokens > 0 and greedy.mean_seconds > 0
    # Self-consistency samples twice: it spends more than greedy under the same budget.
    assert s.get("self_consistency", 700).mean_tokens > greedy.mean_tokens
    md = (out / "summary.md").read_text()
    assert "| greedy | 700 | 5 |" in md and "| self_consistency | 700 | 5 |" in md
    assert (out / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    trace = Trace.read_jsonl(out / "traces" / "greedy@700.jsonl")
    assert set(trace.run_ids()) == {r["trace_id"] for r in rows if r["strategy"] == "greedy"}


def test_ray_executor_gives_the_same_rows_as_local(local_run, tmp_path):
    out, _ = local_run
    s = run_eval(EvalConfig(**CONFIG, out=tmp_path, executor="ray"))
    assert s.rows == 10
    assert comparable(rows_of(tmp_path)) == comparable(rows_of(out))


POLICY_MODULE = """
import re
from o1agent.policies.scripted import ScriptedPolicy

def respond(req):
    text = "\\n".join(m.content for m in req.messages)
    found = re.findall(r"problem: ([\\d\\s+\\-]+)=", text)
    val = eval(found[-1]) if found else 0
    return [f"Final answer: {val + (val % 2)}"] * req.n

def make():
    return ScriptedPolicy(respond, name="scripted")
"""


def test_ray_workers_build_a_py_module_policy_themselves(tmp_path, monkeypatch):
    # "py:module:attr" is resolved inside each Ray task (workers inherit PYTHONPATH), and the
    # rows match the local executor's.
    (tmp_path / "evalpolicy_ray.py").write_text(POLICY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    cfg = {**CONFIG, "model": "py:evalpolicy_ray:make", "overrides": {}, "n": 4, "budgets": [400]}
    local = run_eval(EvalConfig(**cfg, out=tmp_path / "local"))
    ray = run_eval(EvalConfig(**cfg, out=tmp_path / "ray", executor="ray"))
    assert local.rows == ray.rows == 8
    assert comparable(rows_of(tmp_path / "ray")) == comparable(rows_of(tmp_path / "local"))
    assert {r["model"] for r in rows_of(tmp_path / "ray")} == {"scripted"}
