"""TransformersPolicy: the Policy protocol over a local checkpoint."""

from __future__ import annotations

import pytest

from o1agent.errors import UnknownModelError
from o1agent.policies.base import CompletionRequest, Policy
from o1agent.prompts import load_prompts


def test_missing_checkpoint_is_unknown_model(tmp_path):
    from o1agent.policies.transformers import TransformersPolicy

    with pytest.raises(UnknownModelError, match="no checkpoint folder"):
        TransformersPolicy(f"local:{tmp_path / 'nope'}")


def test_make_policy_resolves_local_to_the_transformers_backend(tmp_path):
    from o1agent.policies import make_policy

    with pytest.raises(UnknownModelError, match=r"no checkpoint folder at .*nope"):
        make_policy(f"local:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownModelError, match="neither a model"):
        make_policy(f"local:{tmp_path / 'empty'}")


def test_o1agent_imports_without_torch():
    import subprocess
    import sys

    code = "import o1agent, o1agent.learn.data, o1agent.learn.cli, o1agent.policies.transformers, o1agent.gym, o1agent.rewards, sys; print(any(m.startswith(('torch', 'transformers', 'trl')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def policy():
    from o1agent.policies import make_policy
    from o1agent.policies.transformers import TransformersPolicy

    p = make_policy("local:base")
    assert isinstance(p, TransformersPolicy)
    return p


def _req(**kw):
    msgs, prefix = load_prompts("g1").render(
        "propose", question="What is 4 + 5?", subgoals=[], steps=[], tools=""
    )
    return CompletionRequest(messages=msgs, assistant_prefix=prefix, **kw)


@pytest.mark.slow
async def test_greedy_stop_counts_and_render(policy):
    from o1agent.learn.data import render_chat

    assert isinstance(policy, Policy)
    req = _req(max_tokens=40, stop=["Step 2:"], logprobs=True, n=2)
    outs = await policy.complete(req)
    assert len(outs) == 2 and outs[0].text == outs[1].text  # greedy: identical copies
    first = outs[0]
    assert "Step 2:" not in first.text and first.finish_reason in ("stop", "eos", "length")
    assert first.prompt_tokens > 50 and outs[1].prompt_tokens == 0 and first.completion_tokens > 0
    assert first.mean_logprob is not None and first.mean_logprob < 0
    assert first.rendered_prompt == render_chat(
        [m.model_dump() for m in req.messages], req.assistant_prefix, policy.chat_template
    )
    assert first.rendered_prompt.endswith("<|im_start|>assistant\nStep 1:")


@pytest.mark.slow
async def test_sampling_is_seeded(policy):
    a = await policy.complete(_req(max_tokens=12, temperature=1.0, n=3, seed=7))
    b = await policy.complete(_req(max_tokens=12, temperature=1.0, n=3, seed=7))
    assert [c.text for c in a] == [c.text for c in b]
    assert len({c.text for c in a}) > 1  # three samples at T=1 are not all the same
