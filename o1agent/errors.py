"""Errors raised by o1agent.

Two families, as in pydantic-ai's ``exceptions.py``:

* ``UserError`` — the caller asked for something invalid (empty question, unknown model or
  strategy, a budget of zero). Fix the call; retrying will not help.
* ``RunError`` — the call was valid but the run failed (backend unreachable, backend kept
  returning garbage). Work done so far is never thrown away: where a partial ``Result`` exists it
  is attached as ``.partial``.

Every error class of the package is defined here, so one import gives them all and a caller can
catch a family without importing the module that raises it (the server, the checkpoint store,
the learning tools). Modules that raise them import them from here; their old names there stay
importable. Every error names what was wrong in its message. Nothing here imports heavy
dependencies.

What this is not: the place where errors are turned into exit codes or HTTP responses (the CLI
and the server do that).
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


class UnknownToolError(ConfigError):
    """The tool name is not registered, or the object cannot be turned into a tool."""


class MCPError(ConfigError):
    """An MCP server's tools cannot be loaded: langchain-mcp-adapters is not installed, the server
    does not start or answer, or it serves no tools."""


class ToolSchemaError(ConfigError):
    """A function tool's definition (name, description or JSON-schema parameters) is invalid.
    ``tool`` names it (its name, or its position when it has none)."""

    def __init__(self, message: str, *, tool: str) -> None:
        super().__init__(message)
        self.tool = tool


class CalculatorError(UserError):
    """The expression is not plain arithmetic, or would be too large to compute."""


class SandboxUnavailableError(ConfigError):
    """Model-written code cannot be contained here: ``bwrap`` (bubblewrap) is missing or cannot
    create namespaces. Install it (``apt-get install bubblewrap``) or opt in to ``unsafe_local=True``."""


class CheckpointError(UserError):
    """The checkpoint store or thread asked for does not exist or cannot be used."""


class LearnError(ConfigError):
    """A learning input (checkpoint, data, option) is unusable."""


class ExportError(LearnError):
    """The checkpoint cannot be written as a GGUF (architecture or shape mismatch)."""


class DatasetExportError(LearnError):
    """Traces cannot be written as another trainer's dataset (``o1agent train export --format``)."""


class UnknownExportFormatError(DatasetExportError):
    """The export format named is not one o1agent writes."""


class NoTracesError(DatasetExportError):
    """The trace files given hold no search run to export (empty, or only single-node runs)."""


class MissingGoldError(DatasetExportError):
    """RL rows were asked for but no gold answer is known for the traces' questions."""


class ServerError(O1AgentError):
    """An HTTP-level failure with the status and OpenAI error type/code to report (and headers
    to send with it, e.g. ``Retry-After`` on a 503)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.code = code
        self.headers = headers or {}


class ClientDisconnectedError(ServerError):
    """The client closed the connection before its reply: the run was cancelled (nginx's 499)."""

    def __init__(self, message: str = "the client closed the connection") -> None:
        super().__init__(499, message, type_="server_error", code="client_disconnected")


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
