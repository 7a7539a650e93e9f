"""Training data from search traces: SFT rows, step-level DPO pairs, PRM labels, GRPO prompts.

One reader of the one trace schema (``TraceEvent`` JSONL, see ``o1agent.schema``). Every search
run leaves a tree whose nodes carry the policy's steps and the verifier's scores; this module turns
those trees into the four kinds of data the trainers in ``o1agent.learn.train`` consume:

* **SFT rows** — the best *verified* path per problem (its final node's ``outcome_score`` is at
  least ``threshold``), rendered with the graph's own ``propose`` prompt so that training text is
  exactly the text the policy continues at inference time.
* **DPO pairs** — siblings (same parent, so the same prompt prefix) whose values differ by at least
  ``margin``: prompt = the prefix, chosen/rejected = the two step texts.
* **PRM labels** — Math-Shepherd style: a step's soft label is the fraction of the finished
  rollouts below it (its terminal descendants, itself included) that reach a correct answer; the
  hard label is 1 when any does. Per step (``prm_labels``) or per whole rollout (``prm_paths``).
* **GRPO prompts + reward functions** — the first-step prompt per problem, and TRL-shaped reward
  callables that grade with o1agent's own graders (``answers_equivalent``) or any scorer such as a
  reasoning-gym dataset's ``score_answer``.

Everything here is pure and deterministic (rows are sorted by problem, then node id); it does not
import torch, transformers or TRL and never calls a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ConfigError
from ..graph.expand import steps_for_prompt  # the graph's own rendering of steps: one home
from ..parsing import lenient_answer
from ..policies.chat_template import DEFAULT_EOS, render_chat
from ..prompts import PromptSet, load_prompts
from ..schema import Node, Step, Trace, TraceEvent, Tree, tree_from_events

# The fallback chat template is ChatML, the same fallback LlamaCppPolicy uses; SmolLM2's own
# template renders identically whenever the first message is a system message (g1 prompts always
# have one). Rendering has one home: ``o1agent.policies.chat_template``.


class SFTRow(BaseModel):
    """One supervised example: a whole verified solution, continued from the first-step prompt."""

    problem: str
    run_id: str
    node_ids: list[str]
    messages: list[dict[str, str]] = Field(description="system/user messages plus the assistant solution")
    prompt: str = Field(description="the rendered prompt text the policy sees before step 1")
    completion: str = Field(description="what follows the prompt: every step, then the end-of-turn token")
    answer: str | None = None
    score: float


class PreferencePair(BaseModel):
    """Two sibling steps after the same prefix, the better one ``chosen``."""

    problem: str
    run_id: str
    parent_id: str
    chosen_id: str
    rejected_id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_value: float
    rejected_value: float


class PRMLabel(BaseModel):
    """Math-Shepherd label of one step: how often rollouts from it reach a correct answer."""

    problem: str
    run_id: str
    node_id: str
    prompt: str = Field(description="the rendered prompt up to and including this step's label")
    step: str = Field(description="the step text (what the policy generated after the label)")
    soft: float = Field(description="correct rollouts / rollouts below this step")
    hard: int = Field(description="1 if any rollout below this step is correct")
    rollouts: int


class PRMPath(BaseModel):
    """One graded rollout as a whole: its steps in order with each step's Math-Shepherd label —
    the shape of stepwise-supervision datasets (Math-Shepherd, TRL's PRM data)."""

    problem: str
    run_id: str
    node_ids: list[str]
    steps: list[str] = Field(description="each step's text as the policy wrote it (title line first)")
    soft: list[float] = Field(description="per step: correct rollouts / rollouts below it")
    hard: list[int] = Field(description="per step: 1 if any rollout below it is correct")
    correct: bool = Field(description="whether this rollout's own answer was graded correct")


class GRPOPrompt(BaseModel):
    """One RL prompt: the first-step prompt of a problem plus what graders need."""

    prompt: str
    question: str
    answer: str
    metadata: str = Field(default="{}", description="JSON of the source item's metadata (for scorers)")


# ---- reading traces ------------------------------------------------------------------------------


def load_trees(sources: Iterable[str | Path | Trace | TraceEvent]) -> list[tuple[str, Tree]]:
    """Rebuild every run's tree from JSONL files, ``Trace`` objects or loose events.

    Returns ``(run_id, tree)`` pairs in first-seen order. Events are grouped by ``run_id`` so a
    file holding many runs (the usual case for a training-time search) yields many trees.
    """
    events: list[TraceEvent] = []
    for src in sources:
        if isinstance(src, TraceEvent):
            events.append(src)
        elif isinstance(src, Trace):
            events.extend(src.events)
        else:
            path = Path(src)
            files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
            if not files or not all(f.exists() for f in files):
                raise ConfigError(f"no trace file at {path}")
            for f in files:
                events.extend(Trace.read_jsonl(f).events)
    by_run: dict[str, list[TraceEvent]] = {}
    for ev in events:
        by_run.setdefault(ev.run_id, []).append(ev)
    out = []
    for run_id, evs in by_run.items():
        evs.sort(key=lambda e: e.seq)
        tree = tree_from_events(evs)
        if len(tree) > 1:
            out.append((run_id, tree))
    return out


def _id_key(node_id: str) -> tuple[int, ...]:
    # "0.10" sorts after "0.9": compare ids numerically, part by part.
    return tuple(int(p) for p in node_id.split(".") if p.isdigit())


def _rollouts(tree: Tree) -> list[Node]:
    """Finished, graded rollouts: final steps with an outcome score (revised-away ones excluded)."""
    return [
        n
        for n in tree.nodes.values()
        if n.step.is_final and n.outcome_score is not None and n.status not in ("revised", "failed")
    ]


def is_correct(node: Node, threshold: float = 1.0) -> bool:
    return node.outcome_score is not None and node.outcome_score >= threshold


def grade_with_gold(trees: Sequence[tuple[str, Tree]], gold: dict[str, str]) -> list[tuple[str, Tree]]:
    """The trees with every final step of a question in ``gold`` re-graded against its gold answer
    (``outcome_score`` 1.0 or 0.0, ``answers_equivalent``), so that "verified" means correct even
    when the search's own reward was a judge. Questions without gold keep their scores."""
    from ..rewards.answer import answers_equivalent

    out = []
    for run_id, tree in trees:
        ref = gold.get(tree.root.step.text)
        if ref is None:
            out.append((run_id, tree))
            continue
        update = {
            n.id: n.model_copy(
                update={
                    "outcome_score": float(
                        answers_equivalent(ref, n.step.answer or completion_answer(n.step.raw))
                    )
                }
            )
            for n in tree.nodes.values()
            if n.step.is_final and n.id != tree.root_id
        }
        out.append((run_id, tree.merged(update)))
    return out


def step_values(tree: Tree, threshold: float = 1.0) -> dict[str, tuple[float, float, int]]:
    """``node_id -> (soft, hard, rollouts)`` for every node with at least one graded rollout below.

    A final node is its own (single) rollout. The root gets a value too (the problem's pass rate).
    """
    stats: dict[str, list[int]] = {}
    for leaf in _rollouts(tree):
        ok = int(is_correct(leaf, threshold))
        for nid in [leaf.id, *tree.ancestors(leaf.id)]:
            s = stats.setdefault(nid, [0, 0])
            s[0] += ok
            s[1] += 1
    return {nid: (c / n, float(c > 0), n) for nid, (c, n) in stats.items()}


# ---- rendering -----------------------------------------------------------------------------------


class Renderer:
    """Renders the graph's ``propose`` prompt for a question and a partial path."""

    def __init__(self, prompts: PromptSet | str = "g1", chat_template: str | None = None) -> None:
        self.prompts = load_prompts(prompts) if isinstance(prompts, str) else prompts
        self.chat_template = chat_template

    def parts(self, question: str, path: list[Node]) -> tuple[list[dict[str, str]], str]:
        return self.parts_steps(question, [n.step for n in path])

    def parts_steps(self, question: str, steps: Sequence[Step]) -> tuple[list[dict[str, str]], str]:
        """``parts`` for bare steps (a solution not in a tree, e.g. ``learn.shepherd``'s)."""
        messages, prefix = self.prompts.render(
            "propose", question=question, subgoals=[], steps=steps_for_prompt(steps), tools=""
        )
        return [m.model_dump() for m in messages], prefix

    def prompt(self, question: str, path: list[Node]) -> str:
        return self.prompt_steps(question, [n.step for n in path])

    def prompt_steps(self, question: str, steps: Sequence[Step]) -> str:
        messages, prefix = self.parts_steps(question, steps)
        return render_chat(messages, prefix, self.chat_template)


def solution_text(renderer: Renderer, question: str, path: list[Node]) -> tuple[str, str]:
    """``(first-step prefix, completion without end-of-turn)`` for a full path.

    The completion is what the graph's prompt grows by as steps are appended, so a policy trained on
    it sees at step k exactly the prefix the graph renders at step k.
    """
    _, prefix0 = renderer.parts(question, [])
    _, full = renderer.parts(question, path)
    nxt = f"Step {len(path) + 1}:"
    if not full.startswith(prefix0) or not full.endswith(nxt):
        raise ConfigError(
            "the propose template does not extend its prefix step by step; cannot build SFT text"
        )
    return prefix0, full[len(prefix0) : len(full) - len(nxt)].rstrip()


# ---- SFT -----------------------------------------------------------------------------------------


def _path_rank(tree: Tree, leaf: Node) -> tuple[float, float, int, tuple[int, ...]]:
    path = tree.path(leaf.id)
    scores = [n.step_score if n.step_score is not None else (n.score or 0.0) for n in path[:-1]]
    mean = sum(scores) / len(scores) if scores else 0.0
    # Best outcome, then best mean process score, then shortest, then earliest id (deterministic).
    return (-(leaf.outcome_score or 0.0), -mean, len(path), _id_key(leaf.id))


def sft_rows(
    trees: Sequence[tuple[str, Tree]],
    *,
    threshold: float = 1.0,
    per_problem: int = 1,
    prompts: PromptSet | str = "g1",
    chat_template: str | None = None,
    eos: str = DEFAULT_EOS,
) -> list[SFTRow]:
    """Best verified paths: up to ``per_problem`` distinct correct solutions per question."""
    renderer = Renderer(prompts, chat_template)
    candidates: dict[str, list[tuple[tuple[Any, ...], str, Tree, Node]]] = {}
    for run_id, tree in trees:
        question = tree.root.step.text
        for leaf in _rollouts(tree):
            if is_correct(leaf, threshold):
                candidates.setdefault(question, []).append(
                    ((*_path_rank(tree, leaf), run_id), run_id, tree, leaf)
                )
    rows: list[SFTRow] = []
    for question in sorted(candidates):
        seen: set[str] = set()
        for _, run_id, tree, leaf in sorted(candidates[question], key=lambda c: c[0]):
            path = tree.path(leaf.id)
            prefix0, body = solution_text(renderer, question, path)
            if body in seen:  # the same text found by two runs is one example, not two
                continue
            seen.add(body)
            messages, _ = renderer.parts(question, [])
            rows.append(
                SFTRow(
                    problem=question,
                    run_id=run_id,
                    node_ids=[n.id for n in path],
                    messages=[*messages, {"role": "assistant", "content": prefix0 + body}],
                    prompt=render_chat(messages, prefix0, chat_template),
                    completion=body + eos,
                    answer=leaf.step.answer,
                    score=float(leaf.outcome_score or 0.0),
                )
            )
            if len(seen) >= per_problem:
                break
    return rows


# ---- DPO -----------------------------------------------------------------------------------------


def node_value(node: Node, values: dict[str, tuple[float, float, int]]) -> float | None:
    """A step's value for preferences: its rollout pass rate when known, else its verifier score."""
    if node.id in values:
        return values[node.id][0]
    if node.step_score is not None:
        return node.step_score
    return node.score


def preference_pairs(
    trees: Sequence[tuple[str, Tree]],
    *,
    margin: float = 0.5,
    threshold: float = 1.0,
    max_pairs_per_parent: int = 4,
    prompts: PromptSet | str = "g1",
    chat_template: str | None = None,
    eos: str = DEFAULT_EOS,
) -> list[PreferencePair]:
    """Step-level pairs: siblings whose values differ by at least ``margin``.

    Final steps get the end-of-turn token appended (the model must learn to stop there); other
    steps end where the graph's stop string cuts them.
    """
    renderer = Renderer(prompts, chat_template)
    pairs: list[PreferencePair] = []
    for run_id, tree in trees:
        question = tree.root.step.text
        values = step_values(tree, threshold)
        for parent_id in sorted(tree.nodes, key=_id_key):
            kids = [c for c in tree.children(parent_id) if c.status != "failed" and c.step.raw.strip()]
            scored = [(v, c) for c in kids if (v := node_value(c, values)) is not None]
            found: list[PreferencePair] = []
            prompt = renderer.prompt(question, tree.path(parent_id))
            seen: set[tuple[str, str]] = set()
            for va, a in scored:
                for vb, b in scored:
                    if va - vb < margin or a.step.raw.strip() == b.step.raw.strip():
                        continue
                    key = (a.step.raw, b.step.raw)
                    if key in seen:
                        continue
                    seen.add(key)
                    found.append(
                        PreferencePair(
                            problem=question,
                            run_id=run_id,
                            parent_id=parent_id,
                            chosen_id=a.id,
                            rejected_id=b.id,
                            prompt=prompt,
                            chosen=" " + a.step.raw + (eos if a.step.is_final else ""),
                            rejected=" " + b.step.raw + (eos if b.step.is_final else ""),
                            chosen_value=va,
                            rejected_value=vb,
                        )
                    )
            # Largest gaps first: those carry the clearest signal when a parent has many pairs.
            found.sort(
                key=lambda p: (
                    -(p.chosen_value - p.rejected_value),
                    _id_key(p.chosen_id),
                    _id_key(p.rejected_id),
                )
            )
            pairs.extend(found[:max_pairs_per_parent])
    pairs.sort(
        key=lambda p: (
            p.problem,
            p.run_id,
            _id_key(p.parent_id),
            _id_key(p.chosen_id),
            _id_key(p.rejected_id),
        )
    )
    return pairs


# ---- PRM -----------------------------------------------------------------------------------------


def prm_labels(
    trees: Sequence[tuple[str, Tree]],
    *,
    threshold: float = 1.0,
    prompts: PromptSet | str = "g1",
    chat_template: str | None = None,
) -> list[PRMLabel]:
    """Math-Shepherd labels for every step that has at least one graded rollout below it."""
    renderer = Renderer(prompts, chat_template)
    out: list[PRMLabel] = []
    for run_id, tree in trees:
        question = tree.root.step.text
        values = step_values(tree, threshold)
        for nid in sorted(values, key=_id_key):
            if nid == tree.root_id:
                continue
            node = tree.get(nid)
            soft, hard, n = values[nid]
            out.append(
                PRMLabel(
                    problem=question,
                    run_id=run_id,
                    node_id=nid,
                    prompt=renderer.prompt(question, tree.path(node.parent_id or tree.root_id)),
                    step=" " + node.step.raw,
                    soft=soft,
                    hard=int(hard),
                    rollouts=n,
                )
            )
    out.sort(key=lambda r: (r.problem, r.run_id, _id_key(r.node_id)))
    return out


def prm_paths(trees: Sequence[tuple[str, Tree]], *, threshold: float = 1.0) -> list[PRMPath]:
    """Every graded rollout's path with per-step labels (the same ``step_values`` as ``prm_labels``).

    The same step texts reached by two runs of one question are one path, not two."""
    out: list[PRMPath] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for run_id, tree in trees:
        question = tree.root.step.text
        values = step_values(tree, threshold)
        for leaf in sorted(_rollouts(tree), key=lambda n: _id_key(n.id)):
            path = tree.path(leaf.id)
            steps = tuple(n.step.raw.strip() for n in path)
            if (question, steps) in seen:
                continue
            seen.add((question, steps))
            out.append(
                PRMPath(
                    problem=question,
                    run_id=run_id,
                    node_ids=[n.id for n in path],
                    steps=list(steps),
                    soft=[values[n.id][0] for n in path],
                    hard=[int(values[n.id][1]) for n in path],
                    correct=is_correct(leaf, threshold),
                )
            )
    out.sort(key=lambda r: (r.problem, r.run_id, _id_key(r.node_ids[-1])))
    return out


# ---- GRPO ----------------------------------------------------------------------------------------


def grpo_prompts(
    items: Iterable[dict[str, Any]],
    *,
    prompts: PromptSet | str = "g1",
    chat_template: str | None = None,
) -> list[GRPOPrompt]:
    """First-step prompts for items shaped like reasoning-gym's (``question``, ``answer``, ``metadata``)."""
    renderer = Renderer(prompts, chat_template)
    return [
        GRPOPrompt(
            prompt=renderer.prompt(it["question"], []),
            question=it["question"],
            answer=str(it["answer"]),
            metadata=json.dumps(it.get("metadata") or {}, sort_keys=True, default=str),
        )
        for it in items
    ]


def completion_answer(completion: str) -> str:
    """The answer a generated solution states, read as leniently as the graph reads it."""
    return lenient_answer(completion) or ""


RewardFunc = Callable[..., list[float]]


def answer_reward() -> RewardFunc:
    """A TRL reward function: 1.0 when the completion's answer equals the ``answer`` column
    (``answers_equivalent``: math-verify, then a normalised compare), else 0.0."""
    from ..rewards.answer import answers_equivalent

    def answer_correct(completions: list[Any], answer: list[str], **_: Any) -> list[float]:
        return [
            1.0 if answers_equivalent(g, completion_answer(_text(c))) else 0.0
            for c, g in zip(completions, answer, strict=True)
        ]

    return answer_correct


def scorer_reward(scorer: Callable[[str, dict[str, Any]], float], name: str = "scorer") -> RewardFunc:
    """A TRL reward function from ``scorer(answer, item)`` (item = question/answer/metadata)."""

    def reward(
        completions: list[Any], question: list[str], answer: list[str], metadata: list[str], **_: Any
    ) -> list[float]:
        out = []
        for c, q, a, m in zip(completions, question, answer, metadata, strict=True):
            item = {"question": q, "answer": a, "metadata": json.loads(m)}
            try:
                out.append(float(scorer(completion_answer(_text(c)), item)))
            except Exception:  # a scorer choking on odd output is a wrong answer, not a crash
                out.append(0.0)
        return out

    reward.__name__ = name
    return reward


def reasoning_gym_reward(dataset: str, **config: Any) -> RewardFunc:
    """Reward function grading with reasoning-gym's ``score_answer`` for ``dataset`` (through
    ``o1agent.gym``: a bad name or config is a ``ConfigError`` here, not mid-training)."""
    from ..gym import GymTask

    task = GymTask(dataset, config)
    return scorer_reward(task.score, name=f"rg_{dataset}")


def _text(completion: Any) -> str:
    # TRL passes strings for text datasets and [{"role", "content"}] lists for conversational ones.
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file that a resumable run appends to; none if it is missing. A line
    that does not parse (torn by a kill mid-write) is skipped, so its work is done again."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def write_jsonl(rows: Iterable[BaseModel], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(r.model_dump_json() + "\n")
    return path
