"""Errors raised by o1agent.

Two families, as in pydantic-ai's ``exceptions.py``:

* ``UserError`` — the caller asked for something invalid (empty question, unknown model or
  strategy, a budget of zero). Fix the call; retrying will not help.
* ``RunError`` — the call was valid but the run failed (backend unreachable, backend kept
  returning garbage). Work done so far is never thrown away: where a partial ``Result`` exists it
  is attached as ``.partial``.

Every error names what was wrong in its message. Nothing here imports heavy dependencies.
"""

from __future__ import annotations

from typing import Any


class O1AgentError(Exception):
    """Base class of every error o1agent raises on purpose."""


class UserError(O1AgentError, ValueError):
    """The request itself is invalid."""


class InvalidQuestionError(UserError):
    """The question is empty or not a string."""


class UnknownModelError(UserError):
    """The model string names no backend o1agent can reach."""


class UnknownStrategyError(UserError):
    """The strategy name is not in the registry."""


class UnknownRewardError(UserError):
    """The reward name is not in the registry."""


class ConfigError(UserError):
    """A configuration value (budget, strategy config, prompt style, ...) is invalid."""


class PromptError(UserError):
    """A prompt template is missing or fails to render."""


class RunError(O1AgentError, RuntimeError):
    """The run failed after it started. ``partial`` holds the best result so far, if any."""

    def __init__(self, message: str, *, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


class BackendError(RunError):
    """A model backend failed (bad response, server error after retries)."""


class BackendUnreachableError(BackendError):
    """The backend could not be reached at all (connection refused, DNS, timeout)."""


class ToolError(RunError):
    """A tool failed in a way the step cannot absorb (used by the tool layer)."""
