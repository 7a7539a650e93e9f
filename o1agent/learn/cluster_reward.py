"""Verifiable-reward functions for verl and OpenRLHF, grading as o1agent grades.

Both trainers load a reward function *from a file path*, outside any package, so this module uses
absolute imports only (``o1agent`` must be installed where the trainer's workers run):

* verl — ``custom_reward_function.path=$(python -c 'import o1agent.learn.cluster_reward as m;
  print(m.__file__)')``, name ``compute_score``; verl calls ``compute_score(data_source,
  solution_str, ground_truth, extra_info)`` per response (``docs/preparation/reward_function.rst``).
* OpenRLHF — ``--reward.remote_url`` the same path; ``openrlhf/utils/agent.py`` loads
  ``reward_func(queries, prompts, labels)`` from it, where ``queries`` are prompt + response text
  and ``labels`` the ``--data.label_key`` column; it returns ``rewards``/``scores`` tensors.

A response earns 1.0 when the answer it states (read leniently, as the graph reads it:
``o1agent.learn.data.completion_answer``) equals the gold answer under ``answers_equivalent``
(math-verify, then a normalised compare), else 0.0. The rows come from ``o1agent train export``
(``o1agent.learn.formats``). Not here: task-specific scorers (use ``data.scorer_reward`` with TRL).
"""

from __future__ import annotations

from typing import Any

from o1agent.learn.data import completion_answer
from o1agent.rewards.answer import answers_equivalent


def compute_score(
    data_source: str, solution_str: str, ground_truth: str, extra_info: dict[str, Any] | None = None
) -> float:
    """verl's custom reward: 1.0 if ``solution_str`` states ``ground_truth``, else 0.0."""
    return 1.0 if answers_equivalent(str(ground_truth), completion_answer(solution_str)) else 0.0


def reward_func(queries: list[str], prompts: list[str], labels: list[str], **_: Any) -> dict[str, Any]:
    """OpenRLHF's custom reward: the response is ``query`` after its ``prompt``."""
    import torch

    scores = []
    for query, prompt, label in zip(queries, prompts, labels, strict=True):
        response = query[len(prompt) :] if query.startswith(prompt) else query
        scores.append(compute_score("o1agent", response, label))
    t = torch.tensor(scores, dtype=torch.float)
    return {"rewards": t, "scores": t, "extra_logs": {"accuracy": float(t.mean()) if len(scores) else 0.0}}
