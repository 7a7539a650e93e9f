"""``LiteLLMPolicy``: any chat model LiteLLM can reach — hosted APIs or a local OpenAI-compatible server.

The model string is LiteLLM's ``provider/model`` (``openai/gpt-4o-mini``, ``anthropic/claude-...``,
``ollama/llama3``, ``hosted_vllm/...``, or ``openai/<alias>`` with ``api_base`` pointing at
``llama_cpp.server`` / vLLM / LM Studio). The provider is checked at construction, so a typo fails
before any request.

How the ``Policy`` contract is met over a chat API:

* **assistant_prefix.** Chat APIs cannot, in general, continue a partly written assistant turn.
  With ``prefix_mode="user"`` (the default) the prefix is appended to the last user message
  (``fold_prefix``: ``"Your answer so far: <steps> Now write Step 3."``) and a reply that echoes
  the prefix (or its last line, e.g. ``"Step 3:"``) has the echo stripped, so ``text`` is what
  follows the prefix, as with the embedded backend. ``prefix_mode="assistant"`` sends the prefix as a trailing
  assistant message instead, for providers that support prefill (Anthropic does).
* **n.** ``n`` is asked of the backend; if fewer choices come back (``llama_cpp.server`` silently
  ignores ``n``) the rest are made by separate requests seeded ``seed+i``, concurrently up to
  ``concurrency``, and the instance remembers (``supports_n``) so later calls go straight to that.
* **usage.** Every real request's prompt tokens are billed (the first completion of each request
  carries them, the others zero); dollars come from ``litellm.completion_cost`` (0.0 for a model
  without a price, such as a local alias); ``cached_tokens`` become ``reused_tokens``.
* **finish_reason.** Providers say ``"stop"`` both for end-of-turn and for a stop sequence. Only
  when no stop sequences were sent does ``"stop"`` unambiguously mean the model ended its turn,
  which the graph reads as ``"eos"``; otherwise ``"stop"`` is passed through. With
  ``stop_mode="client"`` the stop sequences are *not* sent: the reply is cut at the first one here
  (``finish_reason="stop"``, logprobs cut to match), and a reply that contains none and ended on
  its own is ``"eos"`` — so a chain over a chat API ends when the model ends its turn, as on the
  embedded backend. The price: the provider writes on past the stop sequence up to
  ``max_tokens`` (one step's worth), and those tokens are billed and counted.
* **errors.** Timeouts, 429, 5xx and connection errors are retried with bounded exponential
  backoff and jitter (``max_retries``); 4xx user errors are not. A backend that cannot be reached
  raises ``BackendUnreachableError`` naming ``api_base`` within seconds (the connect timeout is
  short even when the read timeout is long); anything else raises ``BackendError``.
* **llama_cpp.server quirks.** Its sampling defaults differ from the embedded backend's
  (``repeat_penalty`` 1.1): with a custom ``api_base`` on the ``openai`` provider,
  ``extra_body={"repeat_penalty": 1.0}`` is sent unless overridden; a server that rejects the
  field gets the request again without it, and the policy stops sending it.

Not here: prompt construction and step parsing (the graph), tool execution (``o1agent.tools``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
import openai
import tenacity

from .._env import env_default
from ..errors import BackendError, BackendUnreachableError, ConfigError, UnknownModelError
from .base import Completion, CompletionRequest, Message, TokenLogprob

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

PrefixMode = Literal["user", "assistant"]
StopMode = Literal["server", "client"]


class LiteLLMPolicy:
    """A ``Policy`` over ``litellm.acompletion``. See the module docstring for the contract."""

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
        prefix_mode: PrefixMode = "user",
        stop_mode: StopMode = "server",
        retry_wait: float = 0.25,
        **litellm_kwargs: Any,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise UnknownModelError(f"model must be a non-empty LiteLLM model string, got {model!r}")
        model = model.strip()
        try:
            _, provider, _, _ = litellm.get_llm_provider(model, api_base=api_base)
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
        if prefix_mode not in ("user", "assistant"):
            raise ConfigError(f"prefix_mode must be 'user' or 'assistant', got {prefix_mode!r}")
        if stop_mode not in ("server", "client"):
            raise ConfigError(f"stop_mode must be 'server' or 'client', got {stop_mode!r}")
        self.model = model
        self.provider: str = provider
        self.name = name or model
        self.api_base = api_base
        # OpenAI-compatible local servers accept any key, but the OpenAI client refuses to start
        # without one.
        self.api_key = api_key if api_key is not None else ("not-needed" if api_base else None)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.concurrency = int(concurrency)
        self.supports_n = supports_n
        self.prefix_mode: PrefixMode = prefix_mode
        self.stop_mode: StopMode = stop_mode
        self.retry_wait = float(retry_wait)
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
        self._closed = False
        self.requests_made = 0

    # -- protocol ----------------------------------------------------------------------------

    @property
    def supports_logprobs(self) -> bool:
        """True for OpenAI-compatible providers unless a call came back without logprobs."""
        if self._logprobs_ok is not None:
            return self._logprobs_ok
        return self.provider in _LOGPROB_PROVIDERS

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
        messages = self.build_messages(request)
        rendered = render_messages(messages)
        if request.n == 1 or self.supports_n is False:
            return await self._emulate_n(request, messages, rendered, start=0)
        first = await self._request(request, messages, rendered, n=request.n, seed=request.seed)
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
        rest = await self._emulate_n(request, messages, rendered, start=len(first))
        return first + rest

    # -- request building ----------------------------------------------------------------------

    def build_messages(self, request: CompletionRequest) -> list[dict[str, Any]]:
        """The chat messages sent for ``request``, with ``assistant_prefix`` folded in."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        prefix = request.assistant_prefix
        if not prefix:
            return messages
        if self.prefix_mode == "assistant":
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
        self, request: CompletionRequest, messages: list[dict[str, Any]], n: int, seed: int | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            **self._litellm_kwargs,
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            # We retry ourselves (tenacity); the OpenAI client's own retries would multiply ours.
            "max_retries": 0,
            "timeout": httpx.Timeout(self.timeout, connect=min(self.timeout, _CONNECT_TIMEOUT)),
        }
        if n > 1:
            params["n"] = n
        if seed is not None:
            params["seed"] = seed
        if request.stop and self.stop_mode == "server":
            params["stop"] = list(request.stop)
        if request.logprobs and self.supports_logprobs:
            params["logprobs"] = True
            if request.top_logprobs > 0:
                params["top_logprobs"] = request.top_logprobs
        if request.tools:
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
        self, request: CompletionRequest, messages: list[dict[str, Any]], rendered: str, *, start: int
    ) -> list[Completion]:
        seeds = [None if request.seed is None else request.seed + i for i in range(start, request.n)]
        results = await asyncio.gather(
            *(self._request(request, messages, rendered, n=1, seed=s) for s in seeds)
        )
        return [r[0] for r in results]

    async def _request(
        self,
        request: CompletionRequest,
        messages: list[dict[str, Any]],
        rendered: str,
        *,
        n: int,
        seed: int | None,
    ) -> list[Completion]:
        async with self._semaphore():
            t0 = time.perf_counter()
            response = await self._call_with_retries(self._params(request, messages, n, seed))
            elapsed = time.perf_counter() - t0
        return self._parse(response, request, rendered, seed=seed, seconds=elapsed)

    async def _call_with_retries(self, params: dict[str, Any]) -> Any:
        retrying = tenacity.AsyncRetrying(
            stop=self._stop,
            wait=tenacity.wait_exponential_jitter(initial=self.retry_wait, max=8.0, jitter=self.retry_wait),
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
        self.requests_made += 1
        try:
            return await litellm.acompletion(**params)
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
                self.requests_made += 1
                return await litellm.acompletion(**params)
            raise

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.max_retries + 1:
            return True
        # A refused connection means nothing listens there: one retry covers a server that is
        # restarting; more would only delay the error the user needs to see.
        exc = state.outcome.exception() if state.outcome else None
        refused = exc is not None and any(isinstance(e, ConnectionRefusedError) for e in _causes(exc))
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
        where = f" at {self.api_base}" if self.api_base else ""
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
        usage = _get(response, "usage")
        prompt_tokens = int(_get(usage, "prompt_tokens") or 0)
        completion_total = int(_get(usage, "completion_tokens") or 0)
        details = _get(usage, "prompt_tokens_details")
        reused = int(_get(details, "cached_tokens") or 0)
        dollars = self._cost(response)
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
            reason = _get(ch, "finish_reason")
            if self.stop_mode == "client" and request.stop:
                text, lps, cut = cut_at_stop(text, lps, request.stop)
                # Nothing was sent as a stop sequence, so a provider "stop" is the model's own end.
                reason = "stop" if cut else map_finish_reason(reason, [])
            else:
                reason = map_finish_reason(reason, request.stop)
            texts.append(text)
            parsed_lps.append(lps)
            reasons.append(reason)
        if request.logprobs and self.supports_logprobs and choices[0] is not None and parsed_lps[0] is None:
            logger.info("%s returned no logprobs although asked; not asking again", self.name)
            self._logprobs_ok = False
        split = _split_tokens(completion_total, texts, parsed_lps)
        out: list[Completion] = []
        for i, ch in enumerate(choices):
            lps = parsed_lps[i]
            out.append(
                Completion(
                    text=texts[i],
                    finish_reason=reasons[i],
                    prompt_tokens=prompt_tokens if i == 0 else 0,
                    completion_tokens=split[i],
                    reused_tokens=reused if i == 0 else 0,
                    dollars=dollars if i == 0 else 0.0,
                    seconds=seconds,
                    seed=seed,
                    logprobs=lps if request.logprobs else None,
                    tool_calls=parse_tool_calls(_get(_get(ch, "message"), "tool_calls")),
                    rendered_prompt=rendered,
                )
            )
        return out

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
