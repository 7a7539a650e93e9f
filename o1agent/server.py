"""An OpenAI-compatible HTTP server for o1agent: ``o1agent serve --model embedded --strategy dfs``.

Endpoints: ``POST /v1/chat/completions`` (non-streaming and SSE streaming) and ``GET /v1/models``.
Any OpenAI client works unchanged; o1agent-specific settings ride in extra body fields:

* ``strategy`` (a registered strategy name), ``strategy_config`` (dict), ``budget`` (dict of
  ``Budget`` fields, merged over the served default), ``reward`` (reward name) and ``seed`` (the
  OpenAI field; without it a run is unseeded, as in OpenAI's API) — per request.
* The strategy may also ride in the model name, for clients that cannot send extra fields:
  ``model="beam:embedded"``. ``/v1/models`` lists every served model and every
  ``strategy:model`` combination.

Tools (``tools`` / ``tool_choice``):

* o1agent's own tools (``o1agent serve --tools calculator,python``, or names in a request's
  ``tools`` list, which then replace the served ones) run inside the reasoning steps, exactly as
  ``solve(tools=...)`` runs them; their calls stream in ``reasoning_content``.
* OpenAI function tools (``{"type": "function", ...}`` entries of ``tools``) are *external*: they
  are described to the steps like the others, but a step that calls one ends there. When the
  search's outcome is such a call, the response carries ``tool_calls`` (arguments validated
  against the schema; invalid ones are never sent, the step gets an error observation instead)
  with ``finish_reason="tool_calls"`` and the reasoning so far in ``reasoning_content``. The next
  request, carrying the assistant's ``tool_calls`` and the ``role: "tool"`` results, continues
  from the messages alone (``o1agent.chat.continue_from_turns``): no session is kept.
* ``tool_choice``: ``"auto"`` (default), ``"none"`` (functions not offered), ``"required"`` (the
  outcome must be a call) or ``{"type": "function", "function": {"name": ...}}`` (only that
  function, required). A bad function definition is a 400 naming the tool.

Each served model has one ``Reasoner`` (loaded once, over the one compiled graph); a request's
settings become a new run context for it, never a new graph or a reloaded model.

The question is the last user message; earlier turns are given to the model as context. While
streaming, each reasoning step is sent as it is produced in ``delta.reasoning_content`` (the field
DeepSeek-R1 / vLLM use), the answer follows as ``delta.content`` (or the call as
``delta.tool_calls``), then ``data: [DONE]``. A non-streamed reply carries
``message.reasoning_content`` too. Usage is reported in the response (and, when streaming, in
the last chunk); every completion token of the search counts as a reasoning token.

Errors use OpenAI's body ``{"error": {"message", "type", "code"}}``: invalid input is a 4xx, a
failing backend a 5xx, and every run is bounded by ``request_timeout`` so no connection hangs.

The operator's limits hold under load and against clients (``o1agent.serving`` keeps the count):

* The served budget is a ceiling. A request's ``budget`` may lower any bound; a larger value or
  ``null`` is clipped to the server's, never a 400 (the run still answers), and the reply says
  so: the ``X-O1agent-Budget-Clipped`` header (``max_tokens=4000,max_nodes=64``) and
  ``o1agent.budget_clipped`` (``{field: {"requested", "allowed"}}``, also in the last streamed
  chunk).
* At most ``max_concurrent_runs`` run at once; others wait in a FIFO of ``max_queued`` for up to
  ``queue_timeout`` seconds. A full line or a wait that ran out is a 503 ``server_busy`` with
  ``Retry-After``. ``request_timeout`` counts from the moment a run starts, so waiting in line
  does not use it up (a 504 ``timeout`` is a run that really took that long).
* A client that closes its connection (queued, running, streaming or not) cancels its run; the
  embedded model stops decoding at the next token.
* Nothing slow runs on the event loop: model loading and run setup go to a worker thread, and so
  do decoding and grading. ``/health`` reports the counters and the loop's lag.

This module is the HTTP layer only: it does not queue work across processes, keep sessions, or
implement the rest of the OpenAI API (no ``n > 1``, no logprobs, one tool call per reply).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
import typer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .chat import Turn, continue_from_turns, reasoning_of, step_text, text_of
from .errors import ClientDisconnectedError, O1AgentError, RunError, ServerError, UserError
from .reasoner import Reasoner
from .sanitize import dumps, json_safe
from .schema import Budget, Result, Step, ToolCall
from .serving import Admission, LoopLagMonitor, Slot

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1_000_000
CLIPPED_HEADER = "X-O1agent-Budget-Clipped"

T = TypeVar("T")


# The Reasoner serving a model id; called per request (it should cache: see ReasonerPool). It may
# be sync or async; it must not close shared policies (the server closes them on shutdown).
ReasonerProvider = Callable[[str], "Reasoner | Awaitable[Reasoner]"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat request o1agent uses, plus its extra fields."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    seed: int | None = None
    n: int | None = None
    strategy: str | None = None
    strategy_config: dict[str, Any] | None = None
    budget: dict[str, Any] | None = None
    reward: str | None = None
    # OpenAI function tools (dicts) and o1agent tool names (strings), mixed as the client likes.
    tools: list[dict[str, Any] | str] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None  # a reply carries at most one call, so both values hold


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


def _turn(i: int, m: ChatMessage) -> Turn:
    extra = m.model_extra or {}
    calls: list[ToolCall] = []
    for j, c in enumerate(extra.get("tool_calls") or [] if m.role == "assistant" else []):
        fn = c.get("function") if isinstance(c, dict) else None
        raw = fn.get("arguments", "{}") if isinstance(fn, dict) else None
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            args = None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(args, dict):
            raise ServerError(
                400,
                f"messages[{i}].tool_calls[{j}] needs a function name and JSON object arguments",
                code="invalid_tool_call",
            )
        calls.append(
            ToolCall(name=fn["name"], arguments=args, id=c.get("id") or f"call_{i}_{j}", external=True)
        )
    cid = extra.get("tool_call_id")
    return Turn(role=m.role, text=text_of(m.content), tool_calls=tuple(calls), tool_call_id=cid)


def question_of(messages: list[ChatMessage]) -> tuple[str, list[Step]]:
    """The question of a chat request and the prior steps it continues (a tool call the client
    ran, with its result): see ``o1agent.chat.continue_from_turns``."""
    if not any(m.role == "user" for m in messages):
        raise ServerError(400, "messages must contain a user message", code="missing_user_message")
    turns = [_turn(i, m) for i, m in enumerate(messages)]
    try:
        return continue_from_turns(turns)
    except UserError as exc:
        raise ServerError(400, str(exc), code="empty_question") from None


def resolve_model(name: str, models: list[str]) -> tuple[str, str | None]:
    """``(served model id, strategy named in the model, if any)`` for a request's ``model``:
    ``"beam:embedded"`` is the served ``embedded`` under the ``beam`` strategy."""
    from .search.base import available_strategies

    if name in models:
        return name, None
    strategy, sep, base = name.partition(":")
    if sep and base in models and strategy in available_strategies():
        return base, strategy
    raise ServerError(
        404,
        f"the model {name!r} does not exist; this server has {models}, each also as STRATEGY:MODEL "
        f"with a strategy of {available_strategies()}",
        code="model_not_found",
    )


def tools_of(req: ChatRequest, reasoner: Reasoner) -> dict[str, Any]:
    """The run overrides a request's ``tools`` and ``tool_choice`` make (none when it has neither).

    Strings name o1agent tools (they replace the served ones); function entries are external
    tools; ``tool_choice`` filters and requires them. Bad definitions raise ``ToolSchemaError``."""
    from .tools import function_tool, make_tools

    if req.tools is None and req.tool_choice is None:
        return {}
    specs = req.tools or []
    names = [t for t in specs if isinstance(t, str)]
    functions = [function_tool(t, position=i) for i, t in enumerate(specs) if not isinstance(t, str)]
    choice = req.tool_choice if req.tool_choice is not None else "auto"
    required = choice == "required"
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if choice.get("type") != "function" or not isinstance(name, str):
            raise ServerError(
                400,
                'tool_choice must be {"type": "function", "function": {"name": ...}}',
                code="invalid_tool_choice",
            )
        if name not in {f.name for f in functions}:
            raise ServerError(
                400,
                f"tool_choice names {name!r}, which is not among the request's functions",
                code="invalid_tool_choice",
            )
        functions, required = [f for f in functions if f.name == name], True
    elif choice == "none":
        functions = []
    elif choice not in ("auto", "required"):
        raise ServerError(
            400,
            f"tool_choice {choice!r} is not 'none', 'auto', 'required' or a function",
            code="invalid_tool_choice",
        )
    if required and not functions:
        raise ServerError(
            400, "tool_choice='required' needs function tools in 'tools'", code="invalid_tool_choice"
        )
    local = list(make_tools(names).values()) if names else list(reasoner.context.tools.values())
    return {"tools": make_tools([*local, *functions]), "tool_choice": "required" if required else "auto"}


def tool_calls_body(calls: list[ToolCall], *, stream: bool = False) -> list[dict[str, Any]]:
    """Pending calls in OpenAI's ``tool_calls`` form (streamed deltas also carry their index)."""
    out = []
    for i, c in enumerate(calls):
        body: dict[str, Any] = {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
        }
        out.append({"index": i, **body} if stream else body)
    return out


def finish_reason(result: Result) -> str:
    if result.tool_calls:
        return "tool_calls"
    return "length" if result.budget_exhausted else "stop"


def usage_body(result: Result) -> dict[str, Any]:
    u = result.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.reused_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.completion_tokens},
    }


def o1agent_body(result: Result, clipped: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "budget_clipped": clipped or {},
        "run_id": result.run_id,
        "strategy": result.strategy,
        "score": result.score,
        "nodes": result.usage.nodes,
        "calls": result.usage.calls,
        "dollars": result.usage.dollars,
        "seconds": result.seconds,
        "budget_exhausted": result.budget_exhausted,
        "exhausted_by": result.exhausted_by,
        "path": [n.id for n in result.best_path],
        "no_answer_reason": result.no_answer_reason,
    }


async def _disconnected(request: Request) -> None:
    """Return once the client has closed the connection (the body must be read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``, cancelling it (and waiting until it has stopped) if the client closes the
    connection first; then raise ``ClientDisconnectedError``."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    left = False
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        left = not task.done()
    finally:
        task.cancel()
        gone.cancel()
        await asyncio.gather(task, gone, return_exceptions=True)
    if left:
        raise ClientDisconnectedError()
    return task.result()


@dataclass
class Prepared:
    """A validated request, ready to run."""

    req: ChatRequest
    question: str
    reasoner: Reasoner
    overrides: dict[str, Any]
    clipped: dict[str, Any]  # budget bounds clipped to the server's (field → requested/allowed)
    headers: dict[str, str]  # sent with the reply (the clipped-budget header)


class RunStream(StreamingResponse):
    """The SSE reply of a run: it gives the run's slot back however the stream ends, even when the
    client left before the first byte (Starlette then never starts the generator)."""

    def __init__(self, content: AsyncIterator[str], *, slot: Slot, headers: dict[str, str]) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.slot = slot

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A cancelled stream leaves the generator suspended: close it now (that cancels and
            # awaits its run) rather than whenever it is garbage-collected.
            closing = getattr(self.body_iterator, "aclose", None)
            if closing is not None:
                await closing()
            self.slot.release()


def create_app(
    reasoners: ReasonerProvider,
    *,
    models: list[str],
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    request_timeout: float = 600.0,
    max_concurrent_runs: int = 8,
    max_queued: int = 256,
    queue_timeout: float | None = 600.0,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """Build the FastAPI app. ``reasoners(model_id)`` gives the Reasoner serving that model; its
    strategy and reward are the defaults a request's extra fields override, and its budget is
    both the default and the ceiling (a request may only lower it). A sync ``reasoners`` runs in
    a worker thread, so it may load a model.

    ``models`` are the ids clients may ask for (the first is the default in ``/v1/models``).
    ``max_concurrent_runs`` bounds runs in flight; up to ``max_queued`` more wait for a slot, each
    for at most ``queue_timeout`` seconds (then, or when the line is full: 503 + Retry-After).
    ``request_timeout`` bounds each run from the moment it starts. ``app.state.stats`` and
    ``app.state.loop_lag`` are the counters and the loop-lag monitor ``/health`` reports.
    """
    if not models:
        raise UserError("create_app needs at least one model id")
    if request_timeout <= 0 or max_body_bytes <= 0 or max_concurrent_runs < 1 or max_queued < 0:
        raise UserError(
            "request_timeout, max_body_bytes and max_concurrent_runs must be positive, max_queued >= 0"
        )
    if queue_timeout is not None and queue_timeout <= 0:
        raise UserError("queue_timeout must be positive or None")
    created = int(time.time())
    admission = Admission(max_active=max_concurrent_runs, max_queued=max_queued, queue_timeout=queue_timeout)
    stats = admission.stats
    loop_lag = LoopLagMonitor()

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        loop_lag.start()
        yield
        await loop_lag.stop()
        if on_shutdown is not None:
            await on_shutdown()

    app = FastAPI(title="o1agent", version="0.1.0", lifespan=lifespan)
    app.state.stats = stats
    app.state.loop_lag = loop_lag

    def err(
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return JSONResponse(json_safe(error_body(message, type_, code)), status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> Any:
        return err(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404 else None)

    @app.exception_handler(ServerError)
    async def _server_error(_req: Request, exc: ServerError) -> Any:
        return err(exc.status, str(exc), exc.type, exc.code, exc.headers)

    def check_auth(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        # compare_digest: the time taken must not reveal how much of the key was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise ServerError(401, "invalid or missing API key", code="invalid_api_key")

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise ServerError(413, f"request body over {max_body_bytes} bytes", code="request_too_large")
        chunks: list[bytes] = []
        size = 0
        # Count while reading: a chunked body has no Content-Length to check up front.
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise ServerError(413, f"request body over {max_body_bytes} bytes", code="request_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    def parse_request(raw: bytes) -> ChatRequest:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServerError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
        if not isinstance(data, dict):
            raise ServerError(400, "the body must be a JSON object", code="invalid_json")
        if "messages" not in data:
            raise ServerError(400, "'messages' is required", code="missing_messages")
        try:
            req = ChatRequest.model_validate(data)
        except ValidationError as exc:
            errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            raise ServerError(400, f"invalid request: {errs}", code="invalid_request") from None
        if req.n not in (None, 1):
            raise ServerError(400, "only n=1 is supported", code="unsupported_n")
        return req

    def overrides_of(
        req: ChatRequest, reasoner: Reasoner, named: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run overrides of a request, and the budget bounds clipped to the server's."""
        out: dict[str, Any] = {"seed": req.seed, **tools_of(req, reasoner)}
        clipped: dict[str, Any] = {}
        if named is not None:
            if req.strategy is not None and req.strategy != named:
                raise ServerError(
                    400,
                    f"the model {req.model!r} names the strategy {named!r} but the body asks for {req.strategy!r}",
                    code="conflicting_strategy",
                )
            req = req.model_copy(update={"strategy": named})
        if req.strategy is not None or req.strategy_config is not None:
            out["strategy"] = req.strategy or reasoner.strategy
            if req.strategy_config is not None:
                out["strategy_config"] = req.strategy_config
                if req.strategy is None:
                    out.pop("strategy")
        if req.budget is not None:
            # The served budget is a ceiling: a request may lower a bound, never lift it.
            asked = Budget(**{**reasoner.budget.model_dump(), **req.budget})
            out["budget"], clipped = asked.within(reasoner.budget)
            if clipped:
                logger.info("request budget clipped to the server's ceiling: %s", clipped)
        if req.reward is not None:
            out["reward"] = req.reward
        return out, clipped

    def setup(req: ChatRequest, model_id: str, named: str | None) -> Any:
        """The blocking part of a request's setup (a sync provider may load a model; a reward
        or tool may load or probe something): run in a worker thread."""
        made = reasoners(model_id)
        if asyncio.iscoroutine(made):
            return made, None
        overrides, clipped = overrides_of(req, made, named)  # type: ignore[arg-type]
        made.context_for(**overrides)  # type: ignore[union-attr]  # validate before streaming
        return made, (overrides, clipped)

    async def prepare(request: Request) -> Prepared:
        check_auth(request)
        req = parse_request(await read_body(request))
        model_id, named = resolve_model(req.model, models)
        question, prior = question_of(req.messages)
        try:
            reasoner, done = await asyncio.to_thread(setup, req, model_id, named)
            if done is None:  # an async provider: await it here, then set up in a thread
                reasoner = await reasoner
                done = await asyncio.to_thread(overrides_of, req, reasoner, named)
                await asyncio.to_thread(reasoner.context_for, **done[0])
            overrides, clipped = done
            overrides["prior_steps"] = prior
        except ServerError:
            raise
        except UserError as exc:
            raise ServerError(400, str(exc), code=type(exc).__name__) from None
        except O1AgentError as exc:
            raise ServerError(
                500, f"could not set up the model: {exc}", type_="server_error", code="backend_error"
            ) from None
        headers = {CLIPPED_HEADER: ",".join(f"{k}={v['allowed']:g}" for k, v in clipped.items())}
        return Prepared(req, question, reasoner, overrides, clipped, headers if clipped else {})

    @app.get("/v1/models")
    async def list_models(request: Request) -> Any:
        from .search.base import available_strategies

        check_auth(request)
        ids = [*models, *(f"{s}:{m}" for m in models for s in available_strategies())]
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": created, "owned_by": "o1agent"} for m in ids],
        }

    @app.get("/health")
    async def health() -> Any:
        return {"status": "ok", "runs": stats.as_dict(), "loop_lag": loop_lag.summary()}

    async def timed_run(p: Prepared) -> Result:
        # The timeout starts here, once the run has its slot: waiting in line is not running.
        async with asyncio.timeout(request_timeout):
            return await p.reasoner.asolve(p.question, **p.overrides)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        p = await prepare(request)
        req, overrides = p.req, p.overrides
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        try:
            slot = await unless_disconnected(request, admission.acquire())
        except ClientDisconnectedError:
            logger.info("client left while its request waited for a run slot")
            raise
        if req.stream:
            include_usage = bool((req.stream_options or {}).get("include_usage", True))
            return RunStream(
                stream_run(p, cid, include_usage),
                slot=slot,
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **p.headers},
            )
        try:
            result = await unless_disconnected(request, timed_run(p))
        except ClientDisconnectedError:
            stats.cancelled += 1
            logger.info("client left: its run was cancelled")
            raise
        except TimeoutError:
            stats.timed_out += 1
            return err(504, f"the run took longer than {request_timeout:g}s", "server_error", "timeout")
        except UserError as exc:
            stats.failed += 1
            return err(400, str(exc), code=type(exc).__name__)
        except (RunError, O1AgentError) as exc:
            stats.failed += 1
            logger.warning("run failed: %s", exc)
            return err(502, f"the model backend failed: {exc}", "server_error", "backend_error")
        except Exception as exc:  # an unexpected bug must still answer, not drop the connection
            stats.failed += 1
            logger.exception("unexpected failure")
            return err(500, f"internal error: {type(exc).__name__}: {exc}", "server_error", "internal_error")
        finally:
            slot.release()
        stats.finished += 1
        missing = missing_call(result, overrides)
        if missing is not None:
            return JSONResponse(json_safe(missing), status_code=502, headers=p.headers)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if result.tool_calls else result.answer,
            "reasoning_content": reasoning_of(result).rstrip("\n"),
        }
        if result.tool_calls:
            message["tool_calls"] = tool_calls_body(result.tool_calls)
        body = {
            "id": cid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason(result), "logprobs": None}
            ],
            "usage": usage_body(result),
            "o1agent": o1agent_body(result, p.clipped),
        }
        # json_safe: the model's text and scores may hold what JSON cannot (lone surrogates, NaN).
        return JSONResponse(json_safe(body), headers=p.headers)

    def missing_call(result: Result, overrides: dict[str, Any]) -> dict[str, Any] | None:
        """The error body when a call was required and the model made no valid one."""
        if overrides.get("tool_choice") != "required" or result.tool_calls:
            return None
        why = next(
            (
                e.data["finalize_error"]
                for e in result.trace
                if e.kind == "finalize" and "finalize_error" in e.data
            ),
            "the model made no valid call",
        )
        return error_body(f"tool_choice required a call: {why}", "server_error", "no_tool_call")

    def chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        return f"data: {dumps(body)}\n\n"

    def stream_failure(exc: BaseException) -> dict[str, Any]:
        """The error event ending a stream whose run raised ``exc`` (counted)."""
        if isinstance(exc, TimeoutError):
            stats.timed_out += 1
            return error_body(f"the run took longer than {request_timeout:g}s", "server_error", "timeout")
        stats.failed += 1
        if isinstance(exc, UserError):
            return error_body(str(exc), code=type(exc).__name__)
        if isinstance(exc, O1AgentError):
            return error_body(f"the model backend failed: {exc}", "server_error", "backend_error")
        # The stream must end with an error event, never just stop.
        logger.error("unexpected failure while streaming", exc_info=exc)
        return error_body(f"internal error: {type(exc).__name__}: {exc}", "server_error", "internal_error")

    async def stream_run(p: Prepared, cid: str, include_usage: bool) -> AsyncIterator[str]:
        model = p.req.model
        yield chunk(cid, model, {"role": "assistant", "content": ""})
        # The run is a task of its own feeding this generator: its timeout then never fires
        # while the generator is suspended in a yield, and when the client leaves (Starlette
        # cancels the stream, RunStream closes this generator) the run is cancelled and has
        # stopped before the slot is given back.
        events: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()

        async def produce() -> None:
            try:
                async with asyncio.timeout(request_timeout):
                    async for ev in p.reasoner.astream(p.question, **p.overrides):
                        events.put_nowait(ev)
            except BaseException as exc:
                events.put_nowait(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                events.put_nowait(None)

        producer = asyncio.ensure_future(produce())
        result: Result | None = None
        failure: dict[str, Any] | None = None
        try:
            while (item := await events.get()) is not None:
                if isinstance(item, BaseException):
                    failure = stream_failure(item)
                    break
                if item.get("kind") == "result":
                    result = item["result"]
                    continue
                text = step_text(item)
                if text:
                    yield chunk(cid, model, {"reasoning_content": text})
        except (asyncio.CancelledError, GeneratorExit):
            stats.cancelled += 1
            logger.info("client left: its streamed run was cancelled")
            raise
        finally:
            producer.cancel()
            # Starlette (anyio) cancels this generator on every await once the client has left:
            # shield the wait, so the slot is given back only once the run has really stopped.
            with anyio.CancelScope(shield=True):
                await asyncio.gather(producer, return_exceptions=True)
        if failure is None and result is not None:
            failure = missing_call(result, p.overrides)
            if failure is not None:
                stats.failed += 1
        if failure is not None or result is None:
            # Status 200 is already sent: OpenAI's clients raise on a data event holding "error".
            failure = failure or error_body("the run ended without a result", "server_error", "no_result")
            yield f"data: {dumps(failure)}\n\n"
            yield "data: [DONE]\n\n"
            return
        stats.finished += 1
        if result.tool_calls:
            yield chunk(cid, model, {"tool_calls": tool_calls_body(result.tool_calls, stream=True)})
        elif result.answer is not None:  # no answer: no content (o1agent.no_answer_reason says why)
            yield chunk(cid, model, {"content": result.answer})
        yield chunk(cid, model, {}, finish_reason(result))
        if include_usage:
            tail = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": usage_body(result),
                "o1agent": o1agent_body(result, p.clipped),
            }
            yield f"data: {dumps(tail)}\n\n"
        yield "data: [DONE]\n\n"

    return app


class ReasonerPool:
    """A ``ReasonerProvider``: one ``Reasoner`` per served model id, made on first use.

    Models named by string are loaded once per process (``policies.shared``); ``add`` serves a
    policy object (a test double, a model loaded by hand) under an id. Every Reasoner shares the
    one compiled graph; requests override its defaults per run.
    """

    def __init__(
        self,
        *,
        strategy: str = "dfs",
        reward: str | None = "judge",
        budget: Budget | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
        concurrency: int = 4,
        **reasoner_kwargs: Any,
    ) -> None:
        from .search.base import make_strategy

        make_strategy(strategy)  # a bad default fails now, not on the first request
        self.defaults: dict[str, Any] = {
            "strategy": strategy,
            "reward": reward if reward is not None else "none",
            "budget": budget,
            "api_base": api_base,
            "api_key": api_key,
            "concurrency": concurrency,
            **reasoner_kwargs,
        }
        self._reasoners: dict[str, Reasoner] = {}
        self._models: dict[str, Any] = {}
        # The server calls the pool from worker threads: one model is loaded once.
        self._guard = threading.Lock()

    def add(self, model_id: str, model: Any) -> None:
        """Serve ``model`` (a model string or a Policy object) as ``model_id``."""
        with self._guard:
            self._models[model_id] = model
            self._reasoners.pop(model_id, None)

    def __call__(self, model_id: str) -> Reasoner:
        with self._guard:
            reasoner = self._reasoners.get(model_id)
            if reasoner is None:
                model = self._models.get(model_id, model_id)
                reasoner = self._reasoners[model_id] = Reasoner(model=model, **self.defaults)
            return reasoner

    async def aclose(self) -> None:
        from .policies.shared import close_shared_policies

        with self._guard:
            self._reasoners.clear()
        await close_shared_policies()


def register(app: Any) -> None:
    """Add ``o1agent serve`` to the CLI. Raises ImportError when the server extra is missing."""
    import importlib.util

    # Fail the registration (the group is then hidden) when the server extra is not installed.
    if importlib.util.find_spec("uvicorn") is None:
        raise ImportError("o1agent serve needs uvicorn: pip install 'o1agent[server]'")

    @app.command()
    def serve(
        model: Annotated[
            str, typer.Option(help="'embedded', a .gguf path, or a LiteLLM model string.")
        ] = "embedded",
        strategy: Annotated[
            str, typer.Option(help="Default search strategy (requests may override).")
        ] = "dfs",
        reward: Annotated[str, typer.Option(help="Default reward model name.")] = "judge",
        host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 exposes it).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        api_key: Annotated[
            str | None, typer.Option(envvar="O1AGENT_SERVER_KEY", help="Require 'Authorization: Bearer KEY'.")
        ] = None,
        api_base: Annotated[
            str | None, typer.Option(help="Base URL of the backend (LiteLLM models).")
        ] = None,
        served_name: Annotated[
            list[str] | None, typer.Option(help="Extra model ids clients may use.")
        ] = None,
        max_tokens: Annotated[
            int | None,
            typer.Option(help="Token budget per request: the default and the most a request gets."),
        ] = 4000,
        max_nodes: Annotated[
            int | None, typer.Option(help="Node budget per request: the default and the most a request gets.")
        ] = 64,
        max_seconds: Annotated[
            float | None,
            typer.Option(help="Wall-clock budget per request: the default and the most a request gets."),
        ] = None,
        timeout: Annotated[
            float, typer.Option(help="Hard limit per run, seconds, counted from when it starts (not queued).")
        ] = 600.0,
        max_concurrent: Annotated[int, typer.Option(help="Runs at once; later requests queue.")] = 8,
        max_queue: Annotated[
            int, typer.Option(help="Requests that may wait for a run slot; more get 503 + Retry-After.")
        ] = 256,
        queue_timeout: Annotated[
            float, typer.Option(help="Longest wait for a run slot, seconds (then 503 + Retry-After).")
        ] = 600.0,
        max_body: Annotated[int, typer.Option(help="Largest request body, bytes.")] = DEFAULT_MAX_BODY_BYTES,
        tools: Annotated[
            str | None,
            typer.Option(help="o1agent tools the steps may call, comma-separated (calculator, python)."),
        ] = None,
        mcp: Annotated[
            list[str] | None,
            typer.Option(
                help="An MCP server whose tools the steps may call (command or http(s) URL). Repeatable."
            ),
        ] = None,
    ) -> None:
        """Serve an OpenAI-compatible /v1/chat/completions endpoint backed by slow thinking."""
        import gc

        import uvicorn

        from .options import split_items

        try:
            budget = Budget(max_tokens=max_tokens, max_nodes=max_nodes, max_seconds=max_seconds)
            from .cli import tool_specs

            names = [t.strip() for t in split_items(tools or "") if t.strip()]
            specs = tool_specs(names, mcp)
            pool = ReasonerPool(
                strategy=strategy, reward=reward, budget=budget, api_base=api_base, tools=specs or None
            )
            loaded = pool(model)  # load the model before accepting connections
            for alias in served_name or []:
                # Extra served names map to the one loaded model, not resolved as model strings.
                pool.add(alias, loaded.policy)
            fastapi_app = create_app(
                pool,
                models=[model, *(served_name or [])],
                api_key=api_key,
                max_body_bytes=max_body,
                request_timeout=timeout,
                max_concurrent_runs=max_concurrent,
                max_queued=max_queue,
                queue_timeout=queue_timeout,
                on_shutdown=pool.aclose,
            )
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        # Everything loaded so far (the model, LangGraph, LiteLLM: ~10^6 objects) lives as long
        # as the process: keep it out of the collector, or each full collection stops the event
        # loop for ~0.1 s. This process is the server's own, so its GC settings are ours to set.
        gc.collect()
        gc.freeze()
        uvicorn.run(fastapi_app, host=host, port=port, log_level="warning")


@contextmanager
def serve_in_thread(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 30.0
) -> Iterator[str]:
    """Run ``app`` under uvicorn in a daemon thread; yield its base URL (``http://host:port/v1``).

    For tests, notebooks and examples. ``port=0`` picks a free port. The server is stopped (and
    its lifespan shutdown run) when the block exits.
    """
    import socket
    import threading

    import uvicorn

    if port == 0:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"o1agent-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ServerError(500, f"the server did not start on {host}:{port}", type_="server_error")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
