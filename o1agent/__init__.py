"""o1agent: o1-style slow thinking for any language model.

``solve(question)`` runs a LangGraph search over reasoning steps — propose, verify, revise,
backtrack — on the embedded SmolLM2 model or any LiteLLM backend, and returns a ``Result`` with
the answer, the search tree, usage and a trace.
"""

from __future__ import annotations

from .errors import (
    BackendError,
    BackendUnreachableError,
    ConfigError,
    InvalidQuestionError,
    O1AgentError,
    RunError,
    UnknownModelError,
    UnknownRewardError,
    UnknownStrategyError,
    UserError,
)
from .graph import build_reasoning_graph
from .reasoner import Reasoner, asolve, solve
from .schema import Budget, Node, Result, Step, Trace, TraceEvent, Tree, Usage

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendUnreachableError",
    "Budget",
    "ConfigError",
    "InvalidQuestionError",
    "Node",
    "O1AgentError",
    "Reasoner",
    "Result",
    "RunError",
    "Step",
    "Trace",
    "TraceEvent",
    "Tree",
    "UnknownModelError",
    "UnknownRewardError",
    "UnknownStrategyError",
    "Usage",
    "UserError",
    "__version__",
    "asolve",
    "build_reasoning_graph",
    "solve",
]
