"""``RunContext``: everything one run uses that is not state — passed through LangGraph's
``context_schema`` / ``Runtime`` so one compiled graph serves every configuration.

The compiled graph holds no policy, strategy or budget. Each run brings a frozen ``RunContext``
(``graph.ainvoke(inputs, context=ctx)``); a per-call override (another strategy, budget, reward,
seed or tool set) is a new context over the same graph, never a recompile. Node functions read it
as ``runtime.context``.

``make_context`` is the one place names are resolved and validated; it checks every name before
loading anything so a typo fails fast. It does not load models itself: the policy comes in
resolved (see ``o1agent.policies``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._aio import PerLoop
from ..cleanup import StepCleanup, make_cleanup
from ..config import GenerationConfig, make_generation
from ..errors import ConfigError
from ..policies.base import Policy
from ..prompts import PromptSet, load_prompts
from ..rewards.base import RewardModel
from ..schema import Budget
from ..search.base import SearchStrategy, make_strategy, with_generation


@dataclass(frozen=True)
class RunContext:
    """What one run of the reasoning graph uses. Immutable: derive variants with ``replace``.

    ``tools`` is the resolved tool table (name → tool); ``seed=None`` is really unseeded.
    ``concurrency`` caps concurrent backend calls inside one node of this run.
    ``tool_choice="required"``: the run's outcome must be a call of an external tool (see
    ``o1agent.graph.actions``); ``"auto"`` lets the search decide.
    """

    policy: Policy
    strategy: SearchStrategy
    prompts: PromptSet
    reward: RewardModel | None = None
    budget: Budget = field(default_factory=Budget)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    tools: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = 0
    decompose: bool = False
    concurrency: int = 4
    max_tool_rounds: int = 4
    tool_choice: Literal["auto", "required"] = "auto"
    cleanup: StepCleanup = field(default_factory=StepCleanup)
    run_key: object | None = field(default=None, compare=False, repr=False)
    """Set by ``Reasoner`` for a run that holds its policy exclusively (``reproducible_run``)."""
    run_tasks: weakref.WeakSet[asyncio.Task[Any]] | None = field(default=None, compare=False, repr=False)
    """Set by ``Reasoner``: the tasks of this run (``policies.base.RUN_TASKS``), cancelled with it."""
    # Derived once per context (see __post_init__): tool prompt text, example and stop sequences, and the
    # per-event-loop semaphore that bounds this run's concurrent backend calls.
    tool_text: str = field(default="", init=False, compare=False)
    tool_example: str = field(default="", init=False, compare=False)
    tool_stops: tuple[str, ...] = field(default=(), init=False, compare=False)
    limiter: PerLoop[asyncio.Semaphore] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ConfigError(f"seed must be an int or None, got {self.seed!r}")
        if self.max_tool_rounds < 1:
            raise ConfigError(f"max_tool_rounds must be >= 1, got {self.max_tool_rounds}")
        check_budget(self.budget, self.policy)
        if self.tool_choice not in ("auto", "required"):
            raise ConfigError(f"tool_choice must be 'auto' or 'required', got {self.tool_choice!r}")
        if self.tool_choice == "required" and not any(
            getattr(t, "external", False) for t in self.tools.values()
        ):
            raise ConfigError("tool_choice='required' needs at least one external (function) tool")
        if getattr(self.strategy, "generation", None) != self.generation:
            # One home for generation settings: the strategy reads the same object as the nodes.
            object.__setattr__(self, "strategy", with_generation(self.strategy, self.generation))
        if self.tools:
            from ..tools import stop_sequences, tool_descriptions
            from ..tools.protocol import tool_example

            text = tool_descriptions(dict(self.tools), require_external=self.tool_choice == "required")
            object.__setattr__(self, "tool_text", text)
            object.__setattr__(self, "tool_example", tool_example(dict(self.tools)))
            object.__setattr__(self, "tool_stops", tuple(stop_sequences(dict(self.tools))))
        n = self.concurrency
        object.__setattr__(self, "limiter", PerLoop(lambda: asyncio.Semaphore(n)))

    def replace(self, **changes: Any) -> RunContext:
        """A copy with ``changes`` (e.g. ``budget=...``), re-derived and re-validated."""
        return dataclasses.replace(self, **changes)


def resolve_prompts(prompts: str | Path | PromptSet) -> PromptSet:
    if isinstance(prompts, PromptSet):
        return prompts
    if isinstance(prompts, str | Path):
        return load_prompts(prompts)
    raise ConfigError(f"prompts must be a style name, a folder or a PromptSet, got {type(prompts).__name__}")


def resolve_tools(tools: Sequence[Any] | Mapping[str, Any] | None) -> dict[str, Any]:
    if not tools:
        return {}
    if isinstance(tools, Mapping):
        return dict(tools)
    from ..tools import make_tools

    return make_tools(list(tools))


def check_budget(budget: Budget, policy: Policy) -> None:
    """A dollar bound needs a policy that prices its calls; otherwise it would read $0 forever."""
    if budget.max_dollars is not None and not getattr(policy, "prices_tokens", False):
        raise ConfigError(
            f"max_dollars={budget.max_dollars} but the model {policy.name!r} reports no prices "
            "(a local model, or one LiteLLM cannot price): bound tokens or seconds instead"
        )


def make_context(
    *,
    policy: Policy,
    strategy: SearchStrategy | str = "dfs",
    strategy_config: Any = None,
    generation: GenerationConfig | dict[str, Any] | None = None,
    budget: Budget | None = None,
    prompts: str | Path | PromptSet = "g1",
    tools: Sequence[Any] | Mapping[str, Any] | None = None,
    cleanup: StepCleanup | str | None = None,
    **fields: Any,
) -> RunContext:
    """Build a ``RunContext`` from names or objects (the graph-level analogue of ``Reasoner``).

    Names are resolved here; ``fields`` (``reward``, ``seed``, ``decompose``, ``concurrency``,
    ``max_tool_rounds``, ``tool_choice``) go to ``RunContext`` as they are, which validates them."""
    gen = make_generation(generation)
    prompt_set = resolve_prompts(prompts)
    budget = budget or Budget()
    return RunContext(
        policy=policy,
        strategy=make_strategy(strategy, strategy_config, generation=gen),
        prompts=prompt_set,
        budget=budget,
        generation=gen,
        tools=resolve_tools(tools),
        cleanup=make_cleanup(cleanup, prompt_set.name),
        **fields,
    )
