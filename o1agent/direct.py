"""Direct answering: the question in one plain chat call — the baseline every search must beat.

``adirect(question, policy=...)`` sends the ``direct`` prompt template (the question and a
one-line "end with the final answer" instruction; ``prompts/g1/direct.md.j2``) as one chat turn,
with no step protocol, no assistant prefix and no stop sequences, and reads the answer leniently
from the reply (``parsing.lenient_answer``). ``n=1`` decodes greedily; ``n=k > 1`` samples k
replies at ``temperature`` in one request and answers with their majority vote
(self-consistency over direct answers, voted by ``search.best_of_n.vote`` exactly as best-of-N
votes), so ``direct-sc@k`` and best-of-N count votes one way.

It returns the same ``Result`` a search does — a root with one terminal child per reply, the
voted one as the path, usage as the policy reports it, and a trace — so evaluations, traces and
graders treat it like any method. What this is not: a search (no steps, no reward model, no
budget beyond ``max_tokens`` per reply) or a graph run.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .parsing import lenient_answer
from .policies.base import RUN_KEY, CompletionRequest, Policy, derive_seed, seeded_scope, usage_of
from .prompts import PromptSet, load_prompts
from .schema import Node, Result, Step, Trace, TraceEvent, Tree, Usage

TEMPLATE = "direct"


class DirectConfig(BaseModel):
    """Settings of direct answering (the eval's ``direct`` and ``direct_sc`` methods)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(
        default=1, ge=1, le=64, description="replies: 1 = one greedy call; k > 1 = k samples, majority vote"
    )
    temperature: float = Field(default=0.7, gt=0.0, le=2.0, description="sampling temperature when n > 1")
    max_tokens: int = Field(default=512, ge=8, le=4096, description="max new tokens per reply")


def direct_config(config: DirectConfig | dict[str, Any] | None = None, **overrides: Any) -> DirectConfig:
    """A ``DirectConfig`` from an object or dict plus overrides; bad values are a ``ConfigError``."""
    base = config.model_dump() if isinstance(config, DirectConfig) else dict(config or {})
    try:
        return DirectConfig.model_validate({**base, **overrides})
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid direct config: {errs}") from None


async def adirect(
    question: str,
    *,
    policy: Policy,
    config: DirectConfig | dict[str, Any] | None = None,
    prompts: str | Path | PromptSet = "g1",
    seed: int | None = 0,
    **overrides: Any,
) -> Result:
    """Answer ``question`` directly (see the module docstring). ``overrides`` are ``DirectConfig``
    fields (``n=8``); ``seed=None`` is really unseeded."""
    from .reasoner import validate_question
    from .search.best_of_n import vote

    cfg = direct_config(config, **overrides)
    q = validate_question(question)
    prompt_set = prompts if isinstance(prompts, PromptSet) else load_prompts(prompts)
    messages, prefix = prompt_set.render(TEMPLATE, question=q)
    sampled = cfg.n > 1
    request = CompletionRequest(
        messages=messages,
        assistant_prefix=prefix,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature if sampled else 0.0,
        n=cfg.n,
        seed=derive_seed(seed, TEMPLATE, cfg.n),
        logprobs=policy.supports_logprobs,
        metadata={"purpose": TEMPLATE, "node_id": "0"},
    )
    run_id = uuid.uuid4().hex[:12]
    started = time.time()
    async with seeded_scope(policy, seed) as key:
        token = RUN_KEY.set(key)
        try:
            outs = await policy.complete(request)
        finally:
            RUN_KEY.reset(token)
    tree = Tree.new(q)
    root = tree.root
    children: list[Node] = []
    usage = Usage(started_at=started, nodes=len(outs))
    for i, out in enumerate(outs):
        # A vote counts only stated answers or numbers (a line of prose is no answer); a single
        # reply may fall back to its last line, as a finished chain does.
        answer = lenient_answer(out.text, last_line=not sampled)
        children.append(
            Node(
                id=f"{root.id}.{i}",
                parent_id=root.id,
                depth=1,
                step=Step(
                    title="", text=out.text.strip(), raw=out.text.strip(), answer=answer, is_final=True
                ),
                status="terminal",
                verify=False,
                prompt=out.rendered_prompt if i == 0 else "",
                raw_output=out.text,
                finish_reason=out.finish_reason,
                mean_logprob=out.mean_logprob,
                seed=out.seed,
                prompt_tokens=out.prompt_tokens,
                completion_tokens=out.completion_tokens,
                reused_tokens=out.reused_tokens,
                seconds=out.seconds,
            )
        )
    usage = usage + usage_of(outs)
    nodes = {root.id: root.model_copy(update={"children": [c.id for c in children], "status": "expanded"})}
    nodes.update({c.id: c for c in children})
    tree = Tree(nodes=nodes)
    chosen = vote(children, "majority") if sampled else (children[0] if children else None)
    if chosen is None and children:  # no reply stated anything countable: the first one stands
        chosen = children[0]
    answer = (chosen.step.answer if chosen is not None else None) or None
    no_answer = None if answer else ("no reply stated an answer" if children else "the model gave no reply")
    name = "direct_sc" if sampled else "direct"
    events = [
        TraceEvent(run_id=run_id, seq=0, kind="start", node_id=root.id, output=q, data={"strategy": name})
    ]
    for c in children:
        events.append(
            TraceEvent(
                run_id=run_id,
                seq=len(events),
                kind="propose",
                node_id=c.id,
                parent_id=root.id,
                depth=1,
                prompt=c.prompt or None,
                output=c.raw_output,
                step=c.step,
                tokens={
                    "prompt": c.prompt_tokens,
                    "completion": c.completion_tokens,
                    "reused": c.reused_tokens,
                },
                seconds=c.seconds,
            )
        )
    events.append(
        TraceEvent(
            run_id=run_id,
            seq=len(events),
            kind="finalize",
            node_id=chosen.id if chosen is not None else None,
            output=answer or "",
            data={"answer": answer, "votes": [c.step.answer for c in children]},
        )
    )
    return Result(
        question=q,
        answer=answer,
        no_answer_reason=no_answer,
        score=None,
        best_path=[chosen] if chosen is not None else [],
        tree=tree,
        usage=usage,
        strategy=name,
        model=policy.name,
        run_id=run_id,
        seconds=time.time() - started,
        trace=Trace(events=events),
    )


def direct(question: str, *, model: str | Policy = "embedded", **kwargs: Any) -> Result:
    """Synchronous ``adirect``; a model named by string is loaded once per process."""
    import asyncio

    from .policies.shared import shared_policy

    policy = shared_policy(model)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(adirect(question, policy=policy, **kwargs))
    raise RuntimeError("direct() was called inside a running event loop; use 'await adirect(...)'")
