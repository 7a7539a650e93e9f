"""``LiteLLMPolicy``: any chat model LiteLLM can reach — hosted APIs or a local OpenAI-compatible server.

The model string is LiteLLM's ``provider/model`` (``openai/gpt-4o-mini``, ``anthropic/claude-...``,
``ollama/llama3``, ``hosted_vllm/...``, or ``openai/<alias>`` with ``api_base`` pointing at
``llama_cpp.server`` / vLLM / LM Studio). The provider is checked at construction, so a typo fails
before any request.

How the ``Policy`` contract is met:

* **assistant_prefix: how a step is continued** (``mode``, detected once per backend at its first
  call and logged at INFO):

  - ``"completions"`` — the text-completion endpoint (``/v1/completions``, LiteLLM's
    ``atext_completion``) with the served model's chat template applied here
    (``o1agent.policies.chat_template``) and the prefix appended: the model continues its own step
    exactly, token for token as the embedded backend does. Every local OpenAI-compatible server
    (``llama_cpp.server``, llama.cpp's ``llama-server``, vLLM, SGLang) serves it. The template comes
    from ``chat_template=`` (``"embedded"``, a ``.gguf`` path, a tokenizer folder, a Hugging Face
    repo id in the local cache, or Jinja text), else from the server (``GET /props``) or the
    local Hugging Face cache under the served model's name; ``ConfigError`` when there is none.
  - ``"prefill"`` — the prefix as a trailing assistant message, for providers that continue one
    (Anthropic).
  - ``"fold"`` — the fallback for chat APIs with neither: the prefix is appended to the last user
    message (``fold_prefix``: ``"Your answer so far: <steps> Now write Step 3."``) and a reply that
    echoes the prefix (or its last line, e.g. ``"Step 3:"``) has the echo stripped.
  - ``"auto"`` (default) — ``completions`` when a template is given or found for a local
    OpenAI-compatible ``api_base`` (falling back to ``fold``, with a warning, if the server turns
    out not to serve ``/v1/completions``), ``prefill`` for Anthropic, ``fold`` otherwise.

  Requests carrying native ``tools`` always use the chat endpoint.
* **n.** ``n`` is asked of the backend; if fewer choices come back (``llama_cpp.server`` silently
  ignores ``n``) the rest are made by separate requests seeded ``seed+i``, concurrently up to
  ``concurrency``, and the instance remembers (``supports_n``) so later calls go straight to that.
* **usage.** Every real request's prompt tokens are billed (the first completion of each request
  carries them, the others zero); dollars come from ``litellm.completion_cost`` (0.0 for a model
  without a price, such as a local alias); ``cached_tokens`` become ``reused_tokens``.
* **finish_reason.** Providers say ``"stop"`` both for end-of-turn and for a stop sequence. Only
  when no stop sequences were sent does ``"stop"`` unambiguously mean the model ended its turn,
  which the graph reads as ``"eos"``; otherwise ``"stop"`` is passed through. On the completions
  endpoint the two are told apart where the server says which (vLLM's ``stop_reason``, SGLang's
  ``matched_stop``) or where token logprobs run past the returned text into a stop sequence
  (``llama_cpp.server``), so a chain ends where the model ends it, as on the embedded backend. With
  ``stop_mode="client"`` the stop sequences are *not* sent: the reply is cut at the first one here
  (``finish_reason="stop"``, logprobs cut to match), and a reply that contains none and ended on
  its own is ``"eos"`` — so a chain over a chat API ends when the model ends its turn, as on the
  embedded backend. The price: the provider writes on past the stop sequence up to
  ``max_tokens`` (one step's worth), and those tokens are billed and counted.
* **errors.** Timeouts, 429, 5xx, connection errors and unreadable replies are retried with
  bounded exponential backoff and jitter (``max_retries``); 4xx user errors are not. A 429/503
  carrying ``Retry-After`` (seconds or an HTTP date; ``retry-after-ms`` too) is retried no sooner
  than it says; one asking for more than ``max_retry_after`` seconds fails at once. A backend that cannot be reached
  raises ``BackendUnreachableError`` naming ``api_base`` within seconds (the connect timeout is
  short even when the read timeout is long); anything else raises ``BackendError``.
* **llama_cpp.server quirks.** Its sampling defaults differ from the embedded backend's
  (``repeat_penalty`` 1.1): with a custom ``api_base`` on the ``openai`` provider,
  ``extra_body={"repeat_penalty": 1.0}`` is sent unless overridden; a server that rejects the
  field gets the request again without it, and the policy stops sending it. It computes token
  logprobs in Python, sorting the whole vocabulary per token (measured: 60 tokens in 7.7 s with
  logprobs, 1.5 s without); ``logprobs=False`` never asks for them, and a ``"stop"`` on the
  completions endpoint is then told from end-of-sequence by re-counting tokens through the
  server's tokenize endpoint (``/extras/tokenize/count``; llama-server's and vLLM's ``/tokenize``).
* **budget.** ``bills_prompt_per_choice`` tells the graph's budget meter that each of ``n``
  choices costs its own prompt unless the backend serves ``n`` itself.

Not here: prompt construction and step parsing (the graph), tool execution (``o1agent.tools``).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
import openai
import tenacity

from .._aio import PerLoop
from .._env import env_default
from ..errors import BackendError, BackendUnreachableError, ConfigError, UnknownModelError
from .base import Completion, CompletionRequest, Message, TokenLogprob
from .chat_template import ChatTemplate, discover_chat_template

# LiteLLM fetches its cost map from the network at import unless told not to (read only then).
with env_default("LITELLM_LOCAL_MODEL_COST_MAP", "True"):
    import litellm

logger = logging.getLogger(__name__)

# LiteLLM prints "Give Feedback / Get Help" banners to stdout on every mapped exception; that
# would corrupt ``o1agent solve --json`` output and clutters logs. Errors still reach us intact.
litellm.suppress_debug_info = True

# Providers that speak the OpenAI chat API closely enough to return token logprobs.
_LOGPROB_PROVIDERS = frozenset(
    {
        "openai",
        "text-completion-openai",
        "hosted_vllm",
        "vllm",
        "azure",
        "lm_studio",
        "llamafile",
        "together_ai",
        "fireworks_ai",
        "deepseek",
        "openrouter",
        "xai",
    }
)

# Seconds to wait for a TCP connection: a dead api_base should fail in seconds even when a slow
# model legitimately needs a long read timeout.
_CONNECT_TIMEOUT = 5.0

Mode = Literal["auto", "completions", "prefill", "fold"]


@dataclass(frozen=True)
class _Payload:
    """What one request sends: a raw ``prompt`` (completions) or chat ``messages``, and the
    text traces show for it (the exact prompt, or a readable rendering of the messages)."""

    prompt: str | None
    messages: list[dict[str, Any]] | None
    rendered: str


StopMode = Literal["server", "client"]

# Providers whose chat API continues a trailing assistant message (prefill).
_PREFILL_PROVIDERS = frozenset({"anthropic"})
# Providers that, with an api_base, are OpenAI-compatible servers serving /v1/completions.
_COMPLETION_PROVIDERS = frozenset(
    {"openai", "text-completion-openai", "hosted_vllm", "vllm", "llamafile", "lm_studio", "openai_like"}
)
# Tokenize endpoints of OpenAI-compatible servers: path -> request body.
_TOKENIZE_ROUTES: dict[str, Any] = {
    "/extras/tokenize/count": lambda model, text: {"input": text, "model": model},  # llama_cpp.server
    "/tokenize": lambda model, text: {"content": text, "prompt": text, "model": model},  # llama-server, vLLM
}


def _token_count(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("count"), int):
        return data["count"]
    tokens = data.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None


_MODE_TEXT = {
    "completions": "steps continue exactly on the text-completion endpoint",
    "prefill": "steps continue from a trailing assistant message (prefill)",
    "fold": "steps are folded into the user turn (the API can neither complete text nor prefill)",
}


class LiteLLMPolicy:
    """A ``Policy`` over LiteLLM (chat or text completions). See the module docstring."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        concurrency: int = 4,
        extra_body: dict[str, Any] | None = None,
        supports_n: bool | None = None,
        name: str | None = None,
        mode: Mode = "auto",
        chat_template: str | Path | ChatTemplate | None = None,
        stop_mode: StopMode = "server",
        retry_wait: float = 0.25,
        max_retry_after: float = 60.0,
        logprobs: bool = True,
        **litellm_kwargs: Any,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise UnknownModelError(f"model must be a non-empty LiteLLM model string, got {model!r}")
        model = model.strip()
        try:
            served, provider, _, _ = litellm.get_llm_provider(model, api_base=api_base)
        except Exception as exc:  # LiteLLM raises BadRequestError for an unknown provider
            raise UnknownModelError(
                f"LiteLLM does not know the provider of model {model!r}: use 'provider/model', e.g. "
                f"'openai/gpt-4o-mini' or 'openai/<alias>' with api_base for an OpenAI-compatible server "
                f"({type(exc).__name__})"
            ) from None
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        if mode not in ("auto", "completions", "prefill", "fold"):
            raise ConfigError(f"mode must be 'auto', 'completions', 'prefill' or 'fold', got {mode!r}")
        if stop_mode not in ("server", "client"):
            raise ConfigError(f"stop_mode must be 'server' or 'client', got {stop_mode!r}")
        if max_retry_after < 0:
            raise ConfigError(f"max_retry_after must be >= 0, got {max_retry_after}")
        self.model = model
        self.provider: str = provider
        self.served_model: str = served
        self.name = name or model
        self.api_base = api_base
        # OpenAI-compatible local servers accept any key, but the OpenAI client refuses to start
        # without one.
        self.api_key = api_key if api_key is not None else ("not-needed" if api_base else None)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.concurrency = int(concurrency)
        self.supports_n = supports_n
        self.requested_mode: Mode = mode
        # Loaded now, so a bad template fails at construction rather than at the first step.
        self.chat_template: ChatTemplate | None = (
            ChatTemplate.load(chat_template) if chat_template is not None else None
        )
        self.mode: Mode | None = None if mode == "auto" or mode == "completions" else mode
        self._mode_checked = mode != "auto"  # auto: the first completions call confirms the endpoint
        self.stop_mode: StopMode = stop_mode
        self.retry_wait = float(retry_wait)
        self.max_retry_after = float(max_retry_after)
        self.ask_logprobs = bool(logprobs)
        self._default_extra: dict[str, Any] = {}
        if api_base and provider == "openai" and urlparse(api_base).hostname != "api.openai.com":
            # llama_cpp.server defaults to repeat_penalty 1.1; 1.0 matches the embedded backend.
            self._default_extra = {"repeat_penalty": 1.0}
        self._user_extra = dict(extra_body or {})
        # drop_params: a provider that lacks seed/logprobs/n gets them dropped, not a 400.
        # tool_choice without tools is a 400 on OpenAI: it is sent only with a request's tools.
        self._tool_choice = litellm_kwargs.pop("tool_choice", None)
        self._litellm_kwargs: dict[str, Any] = {"drop_params": True, **litellm_kwargs}
        self._logprobs_ok: bool | None = None
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: asyncio.AbstractEventLoop | None = None
        self._mode_lock = PerLoop(asyncio.Lock)
        self._text_client = PerLoop(self._new_text_client)
        # Which tokenize endpoint the server has (a path), False for none, None before asking.
        self._tokenize_route: str | bool | None = None
        self._closed = False
        self.requests_made = 0

    # -- protocol ----------------------------------------------------------------------------

    @property
    def supports_logprobs(self) -> bool:
        """True for OpenAI-compatible providers unless a call came back without logprobs (or the
        policy was told not to ask: ``logprobs=False``)."""
        if not self.ask_logprobs:
            return False
        if self._logprobs_ok is not None:
            return self._logprobs_ok
        return self.provider in _LOGPROB_PROVIDERS

    @property
    def bills_prompt_per_choice(self) -> bool:
        """Whether each of ``n`` choices costs its own prompt: yes unless the backend serves ``n``."""
        return self.supports_n is not True

    @property
    def prices_tokens(self) -> bool:
        """True when LiteLLM knows a per-token price for this model (or the caller gave one), so
        ``Budget.max_dollars`` can bound it; a model it cannot price would read $0 forever."""
        if any(k in self._litellm_kwargs for k in ("input_cost_per_token", "output_cost_per_token")):
            return True
        try:
            info = litellm.get_model_info(self.model)
        except Exception:  # LiteLLM raises for a model missing from its cost map
            return False
        return bool(info.get("input_cost_per_token") or info.get("output_cost_per_token"))

    async def aclose(self) -> None:
        # LiteLLM's HTTP clients are process-wide and shared with other users of litellm, so
        # closing them here would break unrelated code; there is nothing of ours to release.
        self._closed = True

    async def complete(self, request: CompletionRequest) -> list[Completion]:
        if request.n < 1:
            raise ConfigError(f"n must be >= 1, got {request.n}")
        mode = await self.resolve_mode()
        if mode == "completions" and request.tools:
            mode = "fold"  # native tool calls exist only on the chat endpoint
        try:
            return await self._complete_as(request, mode)
        except BackendError as exc:
            # auto guessed /v1/completions; a 404 before any success there means it is not served.
            if mode != "completions" or self._mode_checked or not _is_not_found(exc):
                raise
            logger.warning(
                "%s: the server does not serve /v1/completions (%s); %s from now on",
                self.name,
                _short(exc),
                _MODE_TEXT["fold"],
            )
            self.mode = "fold"
            self._mode_checked = True
            return await self._complete_as(request, "fold")

    async def _complete_as(self, request: CompletionRequest, mode: Mode) -> list[Completion]:
        payload = self.build_payload(request, mode)
        if request.n == 1 or self.supports_n is False:
            return await self._emulate_n(request, payload, start=0)
        first = await self._request(request, payload, n=request.n, seed=request.seed)
        if len(first) >= request.n:
            self.supports_n = True
            return first[: request.n]
        if self.supports_n is None:
            logger.info(
                "%s returned %d of %d choices: emulating n with seeded requests from now on",
                self.name,
                len(first),
                request.n,
            )
        self.supports_n = False
        rest = await self._emulate_n(request, payload, start=len(first))
        return first + rest

    def _new_text_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.api_base,
            api_key=self.api_key or "not-needed",
            max_retries=0,  # we retry ourselves (tenacity)
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, _CONNECT_TIMEOUT)),
        )

    # -- mode --------------------------------------------------------------------------------------

    async def resolve_mode(self) -> Mode:
        """How steps are continued on this backend, decided once (see the module docstring)."""
        if self.mode is not None:
            return self.mode
        async with self._mode_lock.get():
            if self.mode is None:
                mode, why = await self._detect_mode()
                logger.info("%s%s: %s (%s)", self.name, self._where(), _MODE_TEXT[mode], why)
                self.mode = mode
        return self.mode

    def _where(self) -> str:
        return f" at {self.api_base}" if self.api_base else ""

    async def _detect_mode(self) -> tuple[Mode, str]:
        if self.chat_template is not None:
            return "completions", f"chat template from {self.chat_template.origin}"
        local = bool(self.api_base) and self.provider in _COMPLETION_PROVIDERS
        if local and self.api_base:
            found = await discover_chat_template(self.api_base, self.served_model, api_key=self.api_key)
            if found is not None:
                self.chat_template = found
                return "completions", f"chat template from {found.origin}"
        if self.requested_mode == "completions":
            raise ConfigError(
                f"{self.name}: mode='completions' needs the served model's chat template and none was found "
                f"(the server{self._where()} exposes none and {self.served_model!r} is not in the local "
                "Hugging Face cache): pass chat_template= a .gguf path, 'embedded', a tokenizer folder, "
                "a cached Hugging Face repo id or the Jinja text"
            )
        if self.provider in _PREFILL_PROVIDERS:
            return "prefill", f"{self.provider} continues a trailing assistant message"
        if local:
            return "fold", (
                f"no chat template for {self.served_model!r}: pass chat_template= (a .gguf path, "
                "'embedded', a tokenizer folder or repo id) to continue steps exactly"
            )
        return "fold", f"provider {self.provider!r} has no text completions or prefill here"

    # -- request building ----------------------------------------------------------------------

    def build_payload(self, request: CompletionRequest, mode: Mode) -> _Payload:
        """What is sent for ``request`` in ``mode``: a raw prompt or chat messages."""
        if mode == "completions":
            assert self.chat_template is not None  # resolve_mode found one
            prompt = self.chat_template.render(request.messages, request.assistant_prefix)
            return _Payload(prompt=prompt, messages=None, rendered=prompt)
        messages = self.build_messages(request, mode)
        return _Payload(prompt=None, messages=messages, rendered=render_messages(messages))

    def build_messages(self, request: CompletionRequest, mode: Mode = "fold") -> list[dict[str, Any]]:
        """The chat messages sent for ``request``: the prefix as a trailing assistant message
        (``prefill``) or folded into the last user message (``fold``)."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        prefix = request.assistant_prefix
        if not prefix:
            return messages
        if mode == "prefill":
            return [*messages, {"role": "assistant", "content": prefix}]
        note = "\n\n" + fold_prefix(prefix)
        if messages and messages[-1]["role"] == "user":
            messages[-1] = {"role": "user", "content": messages[-1]["content"] + note}
        else:
            messages.append({"role": "user", "content": note.lstrip()})
        return messages

    def _extra_body(self) -> dict[str, Any] | None:
        body = {**self._default_extra, **self._user_extra}
        return body or None

    def _params(
        self, request: CompletionRequest, payload: _Payload, n: int, seed: int | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            **self._litellm_kwargs,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            # We retry ourselves (tenacity); the OpenAI client's own retries would multiply ours.
            "max_retries": 0,
            "timeout": httpx.Timeout(self.timeout, connect=min(self.timeout, _CONNECT_TIMEOUT)),
        }
        if payload.prompt is not None:
            # The raw OpenAI text-completion route, whatever provider prefix named the server.
            params["model"] = f"text-completion-openai/{self.served_model}"
            params["prompt"] = payload.prompt
            # LiteLLM builds (and never closes) a new client and connection pool per text
            # completion unless given one: ours is kept per event loop and reuses connections.
            params["client"] = self._text_client.get()
        else:
            params["model"] = self.model
            params["messages"] = payload.messages
        if n > 1:
            params["n"] = n
        if seed is not None:
            params["seed"] = seed
        if request.stop and self.stop_mode == "server":
            params["stop"] = list(request.stop)
        if request.logprobs and self.supports_logprobs:
            if payload.prompt is not None:
                params["logprobs"] = max(1, request.top_logprobs)  # legacy API: an int, top-k
            else:
                params["logprobs"] = True
                if request.top_logprobs > 0:
                    params["top_logprobs"] = request.top_logprobs
        if request.tools and payload.messages is not None:
            params["tools"] = request.tools
            if self._tool_choice is not None:
                params["tool_choice"] = self._tool_choice
            # LiteLLM checks tool lists for MCP gateway tools by importing its proxy package,
            # which needs the optional 'mcp' dependency; plain function tools never need it.
            params.setdefault("_skip_mcp_handler", True)
        if self.api_base:
            params["api_base"] = self.api_base
        if self.api_key is not None:
            params["api_key"] = self.api_key
        extra = self._extra_body()
        if extra:
            params["extra_body"] = extra
        return params

    # -- requests ------------------------------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore:
        # A semaphore belongs to one event loop; solve() runs each question in a fresh loop.
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem = asyncio.Semaphore(self.concurrency)
            self._sem_loop = loop
        return self._sem

    async def _emulate_n(
        self, request: CompletionRequest, payload: _Payload, *, start: int
    ) -> list[Completion]:
        seeds = [None if request.seed is None else request.seed + i for i in range(start, request.n)]
        results = await asyncio.gather(*(self._request(request, payload, n=1, seed=s) for s in seeds))
        return [r[0] for r in results]

    async def _request(
        self, request: CompletionRequest, payload: _Payload, *, n: int, seed: int | None
    ) -> list[Completion]:
        async with self._semaphore():
            t0 = time.perf_counter()
            response = await self._call_with_retries(self._params(request, payload, n, seed))
            elapsed = time.perf_counter() - t0
        if payload.prompt is not None:
            return await self._parse_text(response, request, payload.rendered, seed=seed, seconds=elapsed)
        return self._parse(response, request, payload.rendered, seed=seed, seconds=elapsed)

    async def _call_with_retries(self, params: dict[str, Any]) -> Any:
        backoff = tenacity.wait_exponential_jitter(initial=self.retry_wait, max=8.0, jitter=self.retry_wait)

        def wait(state: tenacity.RetryCallState) -> float:
            # A server that says when to come back is believed: never sooner than Retry-After.
            exc = state.outcome.exception() if state.outcome else None
            after = retry_after_seconds(exc) if exc is not None else None
            return backoff(state) if after is None else after + self.retry_wait * random.random()

        retrying = tenacity.AsyncRetrying(
            stop=self._stop,
            wait=wait,
            retry=tenacity.retry_if_exception(is_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._call_once(params)
        except Exception as exc:
            raise self._map_error(exc) from exc
        raise BackendError(f"{self.name}: no attempt was made")  # unreachable: stop_after_attempt >= 1

    async def _send(self, params: dict[str, Any]) -> Any:
        self.requests_made += 1
        if "prompt" in params:
            return await litellm.atext_completion(**params)
        return await litellm.acompletion(**params)

    async def _call_once(self, params: dict[str, Any]) -> Any:
        try:
            return await self._call_litellm(params)
        except Exception as exc:
            # LiteLLM chains the network error (refused, DNS) only as __context__, and re-raising
            # the exception inside another except block (tenacity's reraise under solve()'s
            # asyncio.run) replaces __context__: pinned as __cause__, is_unreachable still sees it.
            if exc.__cause__ is None and exc.__context__ is not None:
                exc.__cause__ = exc.__context__
            raise

    async def _call_litellm(self, params: dict[str, Any]) -> Any:
        try:
            response = await self._send(params)
        except litellm.BadRequestError as exc:
            # Our repeat_penalty default is for llama_cpp.server; a server that rejects unknown
            # fields gets the request again without it, and never sees it again.
            if "repeat_penalty" in self._default_extra and "repeat_penalty" in str(exc):
                logger.info("%s rejected repeat_penalty; not sending it any more", self.name)
                self._default_extra = {}
                params = {k: v for k, v in params.items() if k != "extra_body"}
                extra = self._extra_body()
                if extra:
                    params["extra_body"] = extra
                return await self._send(params)
            raise
        if "prompt" in params:
            self._mode_checked = True
        return response

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.max_retries + 1:
            return True
        exc = state.outcome.exception() if state.outcome else None
        if exc is None:
            return False
        after = retry_after_seconds(exc)
        if after is not None and after > self.max_retry_after:
            logger.warning(
                "%s asks to retry in %.0fs, more than max_retry_after=%.0fs: giving up",
                self.name,
                after,
                self.max_retry_after,
            )
            return True
        # A refused connection means nothing listens there: one retry covers a server that is
        # restarting; more would only delay the error the user needs to see.
        refused = any(isinstance(e, ConnectionRefusedError) for e in _causes(exc))
        return refused and state.attempt_number >= 2

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "%s: attempt %d failed (%s: %s); retrying in %.2fs",
            self.name,
            state.attempt_number,
            type(exc).__name__,
            _short(exc),
            wait,
        )

    def _map_error(self, exc: Exception) -> Exception:
        if isinstance(exc, BackendError | ConfigError):
            return exc
        where = self._where()
        if is_unreachable(exc):
            # Name the network error itself (refused, DNS), not LiteLLM's "HTTP 500" wrapper of it.
            root = next((e for e in reversed(_causes(exc)) if isinstance(e, _NETWORK_ERRORS)), exc)
            return BackendUnreachableError(
                f"{self.name}: backend{where} is unreachable: {type(root).__name__}: {_short(root)}"
            )
        status = getattr(exc, "status_code", None)
        tried = f" after {self.max_retries + 1} attempts" if is_retryable(exc) else ""
        code = f" (HTTP {status})" if isinstance(status, int) else ""
        return BackendError(f"{self.name}{where} failed{code}{tried}: {type(exc).__name__}: {_short(exc)}")

    # -- response parsing ------------------------------------------------------------------------

    def _parse(
        self, response: Any, request: CompletionRequest, rendered: str, *, seed: int | None, seconds: float
    ) -> list[Completion]:
        choices = list(_get(response, "choices") or [])
        if not choices:
            logger.warning("%s returned no choices; treating it as one empty completion", self.name)
            choices = [None]
        texts: list[str] = []
        parsed_lps: list[list[TokenLogprob] | None] = []
        reasons: list[str | None] = []
        for ch in choices:
            msg = _get(ch, "message")
            text = strip_prefix_echo(_get(msg, "content") or "", request.assistant_prefix)
            lps = parse_logprobs(_get(ch, "logprobs"))
            text, lps, reason = self._finish(text, lps, _get(ch, "finish_reason"), request)
            texts.append(text)
            parsed_lps.append(lps)
            reasons.append(reason)
        tool_calls = [parse_tool_calls(_get(_get(ch, "message"), "tool_calls")) for ch in choices]
        return self._completions(
            response,
            request,
            rendered,
            choices,
            texts,
            parsed_lps,
            reasons,
            tool_calls,
            seed=seed,
            seconds=seconds,
        )

    async def _parse_text(
        self, response: Any, request: CompletionRequest, rendered: str, *, seed: int | None, seconds: float
    ) -> list[Completion]:
        choices = list(_get(response, "choices") or [])
        if not choices:
            logger.warning("%s returned no choices; treating it as one empty completion", self.name)
            choices = [None]
        raw = _raw_choices(response)
        texts: list[str] = []
        parsed_lps: list[list[TokenLogprob] | None] = []
        reasons: list[str | None] = []
        for i, ch in enumerate(choices):
            text = _get(ch, "text") or ""
            lps = parse_text_logprobs(_get(ch, "logprobs"))
            reason = _get(ch, "finish_reason")
            if reason == "stop" and request.stop and self.stop_mode == "server":
                told = text_stop_reason(text, lps, request.stop, raw[i] if i < len(raw) else {})
                if told is None and len(choices) == 1:
                    told = await self._stop_by_count(rendered + text, _get(response, "usage"))
                reason = told or "stop"
            text, lps, reason = self._finish(text, lps, reason, request)
            texts.append(text)
            parsed_lps.append(lps)
            reasons.append(reason)
        return self._completions(
            response,
            request,
            rendered,
            choices,
            texts,
            parsed_lps,
            reasons,
            [[] for _ in choices],
            seed=seed,
            seconds=seconds,
        )

    async def _stop_by_count(self, full_text: str, usage: Any) -> str | None:
        """Tell end-of-sequence from a stop sequence by counting: the tokens the server generated
        include a stop sequence it cut from the text, so ``prompt + completion`` tokens exceed
        those of the prompt and the returned text re-tokenised. Uses the server's tokenize
        endpoint (llama.cpp's servers); ``None`` when there is none."""
        total = int(_get(usage, "prompt_tokens") or 0) + int(_get(usage, "completion_tokens") or 0)
        if not total or not self.api_base:
            return None
        counted = await self._count_tokens(full_text)
        if counted is None:
            return None
        # Equal counts: nothing was cut. More generated than returned: the stop sequence was.
        return "eos" if counted >= total else "stop"

    async def _count_tokens(self, text: str) -> int | None:
        if self._tokenize_route is False or not self.api_base:
            return None
        root = self.api_base.rstrip("/").removesuffix("/v1")
        routes = [self._tokenize_route] if isinstance(self._tokenize_route, str) else list(_TOKENIZE_ROUTES)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with httpx.AsyncClient(timeout=min(self.timeout, 10.0)) as client:
            for route in routes:
                body = _TOKENIZE_ROUTES[route](self.served_model, text)
                try:
                    resp = await client.post(f"{root}{route}", json=body, headers=headers)
                    data = resp.json() if resp.status_code == 200 else None
                except (httpx.HTTPError, ValueError):
                    data = None
                count = _token_count(data)
                if count is not None:
                    self._tokenize_route = route
                    return count
        if self._tokenize_route is None:
            logger.info(
                "%s has no tokenize endpoint: a 'stop' without logprobs stays ambiguous (end of turn "
                "or stop sequence)",
                self.name,
            )
            self._tokenize_route = False
        return None

    def _finish(
        self, text: str, lps: list[TokenLogprob] | None, reason: str | None, request: CompletionRequest
    ) -> tuple[str, list[TokenLogprob] | None, str | None]:
        if reason == "eos":  # already told apart from a stop sequence
            return text, lps, reason
        if self.stop_mode == "client" and request.stop:
            text, lps, cut = cut_at_stop(text, lps, request.stop)
            # Nothing was sent as a stop sequence, so a provider "stop" is the model's own end.
            return text, lps, "stop" if cut else map_finish_reason(reason, [])
        return text, lps, map_finish_reason(reason, request.stop)

    def _completions(
        self,
        response: Any,
        request: CompletionRequest,
        rendered: str,
        choices: list[Any],
        texts: list[str],
        parsed_lps: list[list[TokenLogprob] | None],
        reasons: list[str | None],
        tool_calls: list[list[dict[str, Any]]],
        *,
        seed: int | None,
        seconds: float,
    ) -> list[Completion]:
        usage = _get(response, "usage")
        prompt_tokens = int(_get(usage, "prompt_tokens") or 0)
        completion_total = int(_get(usage, "completion_tokens") or 0)
        reused = int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens") or 0)
        dollars = self._cost(response)
        # An empty reply carries no token logprobs on some servers: only a reply with text tells.
        if request.logprobs and self.supports_logprobs and texts[0] and parsed_lps[0] is None:
            logger.info("%s returned no logprobs although asked; not asking again", self.name)
            self._logprobs_ok = False
        split = _split_tokens(completion_total, texts, parsed_lps)
        return [
            Completion(
                text=texts[i],
                finish_reason=reasons[i],
                prompt_tokens=prompt_tokens if i == 0 else 0,
                completion_tokens=split[i],
                reused_tokens=reused if i == 0 else 0,
                dollars=dollars if i == 0 else 0.0,
                seconds=seconds,
                seed=seed,
                logprobs=parsed_lps[i] if request.logprobs else None,
                tool_calls=tool_calls[i],
                rendered_prompt=rendered,
            )
            for i in range(len(choices))
        ]

    def _cost(self, response: Any) -> float:
        try:
            return float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception as exc:  # local aliases have no price: that is not an error
            logger.debug("%s: no cost for this response (%s: %s)", self.name, type(exc).__name__, _short(exc))
            return 0.0

    def __repr__(self) -> str:
        return (
            f"LiteLLMPolicy(model={self.model!r}, api_base={self.api_base!r}, supports_n={self.supports_n})"
        )


# -- helpers (pure; public so tests and other backends can use them) ------------------------------


def _get(obj: Any, key: str) -> Any:
    """Attribute or dict access: LiteLLM objects are pydantic, test doubles and raw JSON are dicts."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _short(exc: BaseException | None, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) if exc is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _causes(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(out) < 10 and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


_NETWORK_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.NetworkError,
    ConnectionError,
    openai.APITimeoutError,
)


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the backend could not be reached (refused, DNS, connect/read timeout)."""
    chain = _causes(exc)
    if any(isinstance(e, _NETWORK_ERRORS) for e in chain):
        return True
    if isinstance(exc, openai.APIConnectionError):
        # LiteLLM wraps *everything* it does not recognise (even an ImportError) as
        # APIConnectionError; only network-looking causes or messages mean "unreachable".
        text = str(exc).lower()
        return any(
            s in text for s in ("connection refused", "connect error", "connection error", "name or service")
        )
    return False


def is_retryable(exc: BaseException) -> bool:
    """Timeouts, rate limits, 5xx and connection failures are worth retrying; 4xx are not."""
    if isinstance(exc, openai.APITimeoutError | openai.RateLimitError):
        return True
    if is_unreachable(exc):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status == 429 or (status >= 500 and not isinstance(exc, openai.APIConnectionError))
    return False


def _is_not_found(exc: BaseException) -> bool:
    return any(
        isinstance(e, litellm.NotFoundError | openai.NotFoundError)
        or getattr(e, "status_code", None) in (404, 405)
        for e in _causes(exc)
    )


def retry_after_seconds(exc: BaseException, *, now: float | None = None) -> float | None:
    """Seconds a 429/503 asked to wait (``retry-after-ms``, ``Retry-After`` in seconds or as an
    HTTP date), read from the headers anywhere in ``exc``'s cause chain; ``None`` if none.
    LiteLLM keeps the vendor's headers on the wrapped errors, not on the one it raises."""
    for e in _causes(exc):
        for headers in (getattr(e, "headers", None), getattr(getattr(e, "response", None), "headers", None)):
            if not headers:
                continue
            try:
                ms = headers.get("retry-after-ms")
                value = headers.get("retry-after")
            except Exception:  # not a mapping
                continue
            if ms is not None:
                try:
                    return max(0.0, float(ms) / 1000.0)
                except ValueError:
                    pass
            if value is None:
                continue
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
            try:
                when = email.utils.parsedate_to_datetime(str(value))
            except (TypeError, ValueError):
                continue
            return max(0.0, when.timestamp() - (now if now is not None else time.time()))
    return None


def map_finish_reason(reason: str | None, stop: Sequence[str]) -> str | None:
    """``"stop"`` means end-of-turn only when no stop sequence could have caused it."""
    if reason is None:
        return None
    reason = str(reason)
    if reason in ("stop", "end_turn", "eos") and not any(stop):
        return "eos"
    if reason in ("end_turn", "stop_sequence"):
        return "stop"
    if reason == "max_tokens":
        return "length"
    return reason


def cut_at_stop(
    text: str, logprobs: list[TokenLogprob] | None, stop: Sequence[str]
) -> tuple[str, list[TokenLogprob] | None, bool]:
    """``text`` up to the first stop sequence (excluded, as a server would), the logprobs of the
    tokens that make up what is kept (a token straddling the cut is kept), and whether it was cut."""
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if not hits:
        return text, logprobs, False
    end = min(hits)
    if logprobs is None:
        return text[:end], None, True
    kept: list[TokenLogprob] = []
    pos = 0
    for t in logprobs:
        if pos >= end:
            break
        kept.append(t)
        pos += len(t.token)
    return text[:end], kept, True


def render_messages(messages: Sequence[dict[str, Any] | Message]) -> str:
    """A readable rendering of chat messages, for traces: one ``[role]`` block per message."""
    parts = []
    for m in messages:
        role = m.role if isinstance(m, Message) else m.get("role", "")
        content = m.content if isinstance(m, Message) else m.get("content", "")
        parts.append(f"[{role}]\n{content if isinstance(content, str) else json.dumps(content)}")
    return "\n\n".join(parts)


def fold_prefix(prefix: str) -> str:
    """The instruction that carries ``assistant_prefix`` inside a user message.

    A prefix ending in a short label line (``"...\n\nStep 3:"``) becomes "Your answer so far:
    <earlier lines> Now write Step 3." Measured on SmolLM2-135M over llama_cpp.server (9 propose
    prompts, greedy): this wording gave 9/9 usable steps, while "Your reasoning so far: <prefix>
    Continue from there." was parroted back ("Step 3: Continue from there.") on most prompts.
    """
    text = prefix.strip()
    head, _, last = text.rpartition("\n")
    last = last.strip()
    if last and len(last) <= 40 and last.endswith(":"):
        ask = f"Now write {last[:-1].strip()}."
        return f"Your answer so far:\n{head.strip()}\n\n{ask}" if head.strip() else ask
    return f"Your answer so far:\n{text}\n\nContinue it from exactly where it stops."


def strip_prefix_echo(text: str, prefix: str) -> str:
    """Drop a repetition of ``prefix`` (or of its last line, e.g. ``"Step 3:"``) at the start of
    ``text``: chat models asked to continue often restate where they are."""
    if not text or not prefix.strip():
        return text
    body = text.lstrip()
    whole = prefix.strip()
    last = whole.splitlines()[-1].strip()
    for echo in (whole, last if len(last) <= 40 else ""):
        if echo and _starts_with_whole(body, echo):
            return body[len(echo) :].lstrip(" ")
    return text


def _starts_with_whole(text: str, head: str) -> bool:
    # "Step 2" must not match the start of "Step 20": the echo has to end at a word boundary.
    if not text.startswith(head):
        return False
    nxt = text[len(head) : len(head) + 1]
    return not (nxt.isalnum() and head[-1].isalnum())


def parse_logprobs(raw: Any) -> list[TokenLogprob] | None:
    """OpenAI-style ``choice.logprobs`` (``{"content": [{token, logprob, top_logprobs}]}``) to
    ``TokenLogprob``s; ``None`` when the choice has none."""
    content = _get(raw, "content")
    if not content:
        return None
    out: list[TokenLogprob] = []
    for item in content:
        token = _get(item, "token") or ""
        lp = _get(item, "logprob")
        if lp is None:
            continue
        top: dict[str, float] = {}
        for alt in _get(item, "top_logprobs") or []:
            alt_tok, alt_lp = _get(alt, "token"), _get(alt, "logprob")
            if alt_tok is None or alt_lp is None:
                continue
            # Two alternatives can share a surface form: keep the larger (they are log-probs).
            top[alt_tok] = max(float(alt_lp), top.get(alt_tok, float("-inf")))
        out.append(TokenLogprob(token=token, logprob=float(lp), top=top))
    return out or None


def parse_text_logprobs(raw: Any) -> list[TokenLogprob] | None:
    """Legacy text-completion ``choice.logprobs`` (``{tokens, token_logprobs, top_logprobs}``) to
    ``TokenLogprob``s; ``None`` when the choice has none, ``[]`` when it generated no token."""
    tokens = _get(raw, "tokens")
    values = _get(raw, "token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list):
        return None
    tops = _get(raw, "top_logprobs") or []
    out: list[TokenLogprob] = []
    for i, (token, lp) in enumerate(zip(tokens, values, strict=False)):
        if lp is None:
            continue
        top = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        out.append(
            TokenLogprob(token=str(token), logprob=float(lp), top={str(k): float(v) for k, v in top.items()})
        )
    return out  # [] for a completion of no tokens: logprobs were given, there were none


def text_stop_reason(
    text: str, logprobs: list[TokenLogprob] | None, stop: Sequence[str], raw: dict[str, Any]
) -> str | None:
    """``"eos"`` or ``"stop"`` for a text completion the server reported as ``"stop"``: from the
    server's own word where it gives one (vLLM's ``stop_reason``: ``None`` for end of sequence;
    SGLang's ``matched_stop``), else from the logprobs, whose tokens run on past the returned text
    into the stop sequence when one cut it (``llama_cpp.server``). ``None``: cannot tell."""
    for key in ("stop_reason", "matched_stop"):
        if key in raw:
            value = raw[key]
            if value is None:
                return "eos"
            return "stop" if isinstance(value, str) and value in stop else "eos"
    if logprobs is not None:
        generated = "".join(t.token for t in logprobs)
        ran_on = len(generated) > len(text) and any(
            s and s in generated[max(0, len(text) - 1) :] for s in stop
        )
        return "stop" if ran_on else "eos"
    return None


def _raw_choices(response: Any) -> list[dict[str, Any]]:
    """The choices of the server's JSON as received (LiteLLM's objects drop unknown fields such
    as vLLM's ``stop_reason``); empty when it kept no copy."""
    hidden = getattr(response, "_hidden_params", None)
    raw = getattr(hidden, "original_response", None) if hidden is not None else None
    if raw is None and isinstance(hidden, dict):
        raw = hidden.get("original_response")
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        return []
    choices = data.get("choices") if isinstance(data, dict) else None
    return [c if isinstance(c, dict) else {} for c in choices] if isinstance(choices, list) else []


def parse_tool_calls(raw: Any) -> list[dict[str, Any]]:
    """Native tool calls to dicts: ``id``, ``name``, ``arguments`` (parsed JSON object, ``{}``
    when the model wrote invalid JSON) and ``raw_arguments`` (the string as generated)."""
    out: list[dict[str, Any]] = []
    for call in raw or []:
        fn = _get(call, "function")
        raw_args = _get(fn, "arguments")
        raw_args = raw_args if isinstance(raw_args, str) else json.dumps(raw_args or {})
        try:
            args = json.loads(raw_args) if raw_args.strip() else {}
        except json.JSONDecodeError:
            args = {}
        out.append(
            {
                "id": _get(call, "id"),
                "name": _get(fn, "name") or "",
                "arguments": args if isinstance(args, dict) else {"value": args},
                "raw_arguments": raw_args,
            }
        )
    return out


def _split_tokens(total: int, texts: list[str], lps: list[list[TokenLogprob] | None]) -> list[int]:
    """Per-choice completion tokens. Exact for one choice or when logprobs count the tokens;
    otherwise ``total`` is shared in proportion to text length (the API reports only the sum)."""
    k = len(texts)
    if k == 1:
        return [total]
    if all(lp is not None for lp in lps):
        counts = [len(lp or []) for lp in lps]
        if sum(counts) == total or total == 0:
            return counts
    lengths = [max(1, len(t)) for t in texts]
    shares = [total * n // sum(lengths) for n in lengths]
    shares[-1] += total - sum(shares)
    return shares
