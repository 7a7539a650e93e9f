"""The reasoning graph: one LangGraph state machine, compiled once, for every search strategy.

    decompose -> select -> propose -> verify -> (revise -> verify)* -> select -> ... -> finalize

* ``state.py`` — ``ReasoningState`` and its reducers (the tree, usage and events channels);
* ``context.py`` — ``RunContext`` (policy, strategy, reward, budget, prompts, generation,
  tools, seed) passed per run through LangGraph's ``context_schema`` / ``Runtime``;
* ``nodes.py`` — the module-level node and router functions;
* ``expand.py`` — candidates and new nodes (``make_child``, shared by propose and revise);
* ``answer.py`` — ``choose_answer`` and the ``Result``, for finalize and partial results;
* ``events.py`` — slim live events, and the full trace built at finalize;
* ``build.py`` — the keyword-only factory and the shared compiled graph.

Live progress: nodes emit ``stream_mode="custom"`` events (dicts with a ``kind`` key, the same
kinds as the trace) through LangGraph's stream writer.
"""

from .answer import Answer, build_result, choose_answer, full_result
from .build import build_reasoning_graph, shared_graph
from .context import RunContext, make_context
from .nodes import bind_context, new_run_id
from .state import ReasoningState

__all__ = [
    "Answer",
    "ReasoningState",
    "RunContext",
    "bind_context",
    "build_reasoning_graph",
    "build_result",
    "choose_answer",
    "full_result",
    "make_context",
    "new_run_id",
    "shared_graph",
]
