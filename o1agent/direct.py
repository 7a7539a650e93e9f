"""Direct answering: the question in one plain chat call — the baseline every search must beat.

``adirect(question, policy=...)`` sends the ``direct`` prompt template (the question and a
one-line "end with the final answer" instruction; ``prompts/g1/direct.md.j2``) as one chat turn,
with no step protocol, no assistant prefix and no stop sequences, and reads the answer leniently
from the reply (``parsing.lenient_answer``). ``n=1`` decodes greedily; ``n=k > 1`` samples k
replies at ``temperature`` in one request and answers with their majority vote
(self-consistency over direct answers, voted by ``search.best_of_n.vote`` exactly as best-of-N
votes), so ``direct-sc@k`` and best-of-N count votes one way. With ``adaptive=True``, ``n`` is a
cap: ``first`` replies are drawn, then ``wave`` more at a time until the vote is settled under
``adaptive_sc``'s stopping rule (``search.adaptive_sc.settled``: the two leading answers' Beta
posterior, or the Dirichlet one over all answers) or ``n`` were drawn — adaptive self-consistency
over direct answers, the eval's ``direct_asc``. ``Result.allocation`` then says what was drawn
and why it stopped.

It returns the same ``Result`` a search does — a root with one terminal child per reply, the
voted one as the path, usage as the policy reports it, and a trace — so evaluations, traces and
graders treat it like any method. What this is not: a search (no steps, no reward model, no
budget beyond ``max_tokens`` per reply) or a graph run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .parsing import lenient_answer
from .policies.base import RUN_KEY, Completion, CompletionRequest, Policy, derive_seed, seeded_scope, usage_of
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
    adaptive: bool = Field(
        default=False, description="sample in waves until the vote is settled, n being the cap"
    )
    first: int = Field(default=3, ge=1, le=64, description="adaptive: replies in the first wave")
    wave: int = Field(default=2, ge=1, le=64, description="adaptive: replies per later wave")
    rule: Literal["beta", "dirichlet"] = Field(default="beta", description="adaptive: the stopping rule")
    threshold: float = Field(
        default=0.9,
        gt=0.5,
        lt=1.0,
        description="adaptive: stop once the vote is settled with this probability",
    )


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
    adaptive = sampled and cfg.adaptive

    def request(n: int, wave: int) -> CompletionRequest:
        return CompletionRequest(
            messages=messages,
            assistant_prefix=prefix,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature if sampled else 0.0,
            n=n,
            # A fixed-n call keeps its historical seed; each adaptive wave gets its own.
            seed=derive_seed(seed, TEMPLATE, cfg.n, wave) if adaptive else derive_seed(seed, TEMPLATE, cfg.n),
            logprobs=policy.supports_logprobs,
            metadata={"purpose": TEMPLATE, "node_id": "0"},
        )

    run_id = uuid.uuid4().hex[:12]
    started = time.time()
    allocation: dict[str, Any] | None = None
    async with seeded_scope(policy, seed) as key:
        token = RUN_KEY.set(key)
        try:
            if not adaptive:
                outs = await policy.complete(request(cfg.n, 0))
            else:
                outs, allocation = await _sample_until_settled(policy, request, cfg)
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
    name = ("direct_asc" if adaptive else "direct_sc") if sampled else "direct"
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
        allocation=allocation,
    )


async def _sample_until_settled(
    policy: Policy, request: Callable[[int, int], CompletionRequest], cfg: DirectConfig
) -> tuple[list[Completion], dict[str, Any]]:
    """Draw replies in waves until the vote is settled or ``cfg.n`` were drawn; returns them and
    what was drawn and why it stopped (``Result.allocation``)."""
    from .search.adaptive_sc import settled, stop_reason
    from .search.chains import normalize_answer

    outs: list[Completion] = []
    counts: dict[str, int] = {}
    waves = 0
    posterior = 0.0
    while len(outs) < cfg.n:
        n = min(cfg.first if waves == 0 else cfg.wave, cfg.n - len(outs))
        wave = await policy.complete(request(n, waves))
        waves += 1
        outs.extend(wave)
        for out in wave:  # only the new replies: the earlier ones are counted already
            answer = lenient_answer(out.text, last_line=False)
            if answer:
                key = normalize_answer(answer)
                counts[key] = counts.get(key, 0) + 1
        posterior = settled(sorted(counts.values(), reverse=True), cfg.rule)
        if posterior >= cfg.threshold:
            break
    return outs, {
        "samples": len(outs),
        "waves": waves,
        "cap": cfg.n,
        "counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        "posterior": round(posterior, 4),
        "rule": cfg.rule,
        "stopped": stop_reason(posterior, cfg.threshold, len(outs)),
    }


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
