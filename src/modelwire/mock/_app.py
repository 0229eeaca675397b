"""The mock provider's ASGI application: routing, credentials, knobs, the request log.

Built on Starlette because the mock must speak real HTTP/1.1 (chunked streaming, keep-alive,
abrupt resets) exactly as a provider's front end does; a hand-rolled server would test our
client against our own reading of HTTP. Every wire path is matched by its suffix, so any
base-path prefix works (``/openai/v1/responses``, ``/anthropic/v1/messages``).

Besides replies and model lists it answers ``GET …/models/{id}`` (a 404 in the API's error
shape for an id it does not serve) and Anthropic's ``POST …/messages/count_tokens``, as the
official SDKs call them; a Chat stream ends with a usage chunk (``choices: []``) only when
``stream_options.include_usage`` asks, as OpenAI's does.

Every reply carries the delays it was served with (``x-mock-ttft-ms``, ``x-mock-delay-ms``
response headers, in ms), so a client of a jittered mock in another process can check what it
measured against what the server did.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import deque
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._redact import MASK, is_sensitive_header
from ..wire.events import Event, Usage
from ._behavior import HEADER_PREFIX, Jitter, MockBehavior, from_headers
from ._render import (
    render_body,
    render_error,
    render_model,
    render_model_not_found,
    render_models,
    render_models_page,
    render_stream,
)
from ._script import ReplyOptions, input_token_count, reply_events, response_id_for
from ._socket import serve_socket

__all__ = ["DEFAULT_MODELS", "MockState", "build_app"]

DEFAULT_MODELS = ("mock-model", "mock-reasoner", "mock-mini")
STALL_SECONDS = 3600.0
"""A stall lasts until the client gives up or the server shuts down."""


class ConnectionReset(Exception):
    """Raised inside a streaming body to make the server drop the connection mid-response."""


class MockState:
    """What one mock server knows: its knobs, its credentials, and every request it saw."""

    def __init__(
        self,
        *,
        behavior: MockBehavior | None = None,
        jitter: Jitter | None = None,
        require_bearer: str | None = None,
        require_api_key: str | None = None,
        require_sigv4: bool = False,
        log_path: Path | None = None,
        models: tuple[str, ...] = DEFAULT_MODELS,
        socket_lifetime_s: float = 3600.0,
        serial: bool = False,
    ) -> None:
        self.behavior = behavior or MockBehavior()
        self.jitter = jitter or Jitter()
        """Spread of ``behavior``'s delays, drawn per request from ``_rng``."""
        self._rng = random.Random(self.jitter.seed)
        self.require_bearer = require_bearer
        self.require_api_key = require_api_key
        self.require_sigv4 = require_sigv4
        self.log_path = log_path
        if log_path is not None:
            # Fail now, where the caller is, rather than with a 500 on every request later.
            with log_path.open("ab"):
                pass
        self.models = models
        self.requests: list[dict[str, Any]] = []
        """Every request, as logged (credentials masked), oldest first."""
        self._queue: deque[MockBehavior] = deque()
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)
        self.in_flight = 0
        """Requests received whose response has not been sent in full yet."""
        self.peak_in_flight = 0
        """The most ``in_flight`` has been (since the start or ``reset_peak``)."""
        self.serial = serial
        """Answer one HTTP request at a time, the rest queueing (a provider at capacity)."""
        self._serial_lock: anyio.Lock | None = None
        self.socket_lifetime_s = socket_lifetime_s
        """A WebSocket's age past which its next turn is refused (the 60-minute limit)."""
        self.sockets_opened = 0
        """WebSocket handshakes accepted."""
        self.stored: set[str] = set()
        """Ids of responses created with ``store: true`` (chainable from any socket)."""

    def serial_lock(self) -> anyio.Lock:
        """The lock ``serial`` queues requests on, made in the server's own event loop."""
        if self._serial_lock is None:
            self._serial_lock = anyio.Lock()
        return self._serial_lock

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_in_flight = self.in_flight

    def enqueue(self, *behaviors: MockBehavior) -> None:
        """Behaviours for the next requests, one each, before the defaults apply again."""
        with self._lock:
            self._queue.extend(behaviors)

    def next_behavior(self) -> MockBehavior:
        """The next queued behaviour (not a handshake's) over the defaults, with this
        request's draws applied to the defaults only (a queued delay is used as given)."""
        with self._lock:
            queued = self._take_queued()
            defaults = (
                self.jitter.spread(self.behavior, self._rng)
                if self.jitter.active
                else self.behavior
            )
        return defaults if queued is None else queued.over(defaults)

    def _take_queued(self) -> MockBehavior | None:
        """The first queued behaviour that is not a handshake's (those wait for the next
        WebSocket handshake, so a call that fell back to HTTP does not use them up)."""
        for index, queued in enumerate(self._queue):
            if not queued.for_handshake:
                del self._queue[index]
                return queued
        return None

    def next_handshake(self) -> MockBehavior | None:
        """The queued behaviour at the head of the queue if it acts on a handshake."""
        with self._lock:
            if self._queue and self._queue[0].for_handshake:
                return self._queue.popleft()
        return None

    def record_socket(self, method: str, path: str, headers: Mapping[str, str], body: str) -> None:
        """A WebSocket handshake (``GET``) or a frame it received (``WS``), logged like a
        request."""
        entry = {
            "method": method,
            "path": path,
            "query": "",
            "headers": _logged_headers(headers),
            "body": body,
        }
        with self._lock:
            self.requests.append(entry)
            if self.log_path is not None:
                with self.log_path.open("ab") as log:
                    log.write(orjson.dumps(entry) + b"\n")

    def next_sequence(self) -> int:
        with self._lock:
            return next(self._sequence)

    def record(self, request: Request, body: bytes) -> None:
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": _logged_query(request.url.query),
            "headers": _logged_headers(request.headers),
            "body": body.decode("utf-8", "replace"),
        }
        with self._lock:
            self.requests.append(entry)
            if self.log_path is not None:
                with self.log_path.open("ab") as log:
                    log.write(orjson.dumps(entry) + b"\n")

    def authorized(self, headers: Mapping[str, str]) -> bool:
        """Any one configured credential suffices; with none configured, everyone is let in."""
        checks: list[bool] = []
        authorization = headers.get("authorization", "")
        if self.require_bearer is not None:
            checks.append(authorization == f"Bearer {self.require_bearer}")
        if self.require_api_key is not None:
            checks.append(headers.get("x-api-key") == self.require_api_key)
        if self.require_sigv4:
            checks.append(
                authorization.startswith("AWS4-HMAC-SHA256 Credential=")
                and "Signature=" in authorization
                and "x-amz-date" in headers
            )
        return not checks or any(checks)


def _logged_query(query: str) -> str:
    """Names kept, every value masked: providers put keys in the query (``?key=…``)."""
    if not query:
        return query
    return "&".join(f"{item.partition('=')[0]}={MASK}" for item in query.split("&"))


def _logged_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased names; a credential keeps its scheme (``Bearer ****``) and loses its value."""
    logged: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if is_sensitive_header(lowered):
            scheme, _, rest = value.partition(" ")
            if scheme == "AWS4-HMAC-SHA256":
                value = f"{scheme} {MASK}"
            else:
                value = f"{scheme} {MASK}" if rest and scheme.isalnum() else MASK
        logged[lowered] = value
    return logged


_MODELS_SEGMENT = "/models/"


def _route(method: str, path: str, headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(wire API, what is asked: ``reply``, ``count_tokens``, ``models`` or ``model:<id>``)."""
    trimmed = path.rstrip("/")
    if method == "POST":
        if trimmed.endswith("/chat/completions"):
            return "chat", "reply"
        if trimmed.endswith("/responses"):
            return "responses", "reply"
        if trimmed.endswith("/messages"):
            return "messages", "reply"
        if trimmed.endswith("/messages/count_tokens"):
            return "messages", "count_tokens"
        return None
    if method != "GET":
        return None
    # A listing is asked the same way by both families; Anthropic's SDKs always send these.
    anthropic = "anthropic-version" in headers or "x-api-key" in headers
    wire_api = "messages" if anthropic else "chat"
    if trimmed.endswith("/models"):
        return wire_api, "models"
    _, found, model_id = trimmed.rpartition(_MODELS_SEGMENT)
    if found and model_id:
        return wire_api, f"model:{model_id}"
    return None


def build_app(state: MockState) -> ASGIApp:
    """The ASGI app serving ``state``."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        state.record(request, body)
        route = _route(request.method, request.url.path, request.headers)
        if route is None:
            return _json(404, {"error": {"message": f"no route for {request.url.path}"}})
        wire_api, asked = route
        if not state.authorized(request.headers):
            return Response(
                render_error(wire_api, 401, "invalid or missing credentials"),
                status_code=401,
                media_type="application/json",
            )
        try:
            behavior = from_headers(request.headers).over(state.next_behavior())
        except ValueError as exc:
            return Response(
                render_error(wire_api, 400, str(exc)), 400, media_type="application/json"
            )
        served = _served(behavior)
        if behavior.status is not None:
            return await _failure(wire_api, behavior, served)
        if request.method == "GET":
            if behavior.ttft_ms:
                await anyio.sleep(behavior.ttft_ms / 1000)
            answer = (
                _models(wire_api, state.models, request.query_params)
                if asked == "models"
                else _model(wire_api, state.models, asked.removeprefix("model:"))
            )
            answer.headers.update(served)
            return answer
        if behavior.replay is not None:
            return StreamingResponse(
                _paced(behavior.replay.pieces(), behavior),
                media_type=behavior.replay.content_type,
                headers=served,
            )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return Response(
                render_error(wire_api, 400, f"request body is not JSON: {exc}"),
                400,
                media_type="application/json",
            )
        if not isinstance(payload, dict):
            return Response(
                render_error(wire_api, 400, "request body must be a JSON object"),
                400,
                media_type="application/json",
            )
        if asked == "count_tokens":
            counted = {"input_tokens": input_token_count(wire_api, payload)}
            return Response(orjson.dumps(counted), media_type="application/json", headers=served)
        options = ReplyOptions(
            output_tokens=behavior.output_tokens,
            reasoning=behavior.reasoning,
            tool_calls=behavior.tool_calls,
        )
        events = reply_events(wire_api, payload, options=options)
        model = payload.get("model") if isinstance(payload.get("model"), str) else "mock-model"
        response_id = response_id_for(wire_api, state.next_sequence())
        if not payload.get("stream"):
            if behavior.ttft_ms:
                await anyio.sleep(behavior.ttft_ms / 1000)
            rendered = render_body(wire_api, events, response_id=response_id, model=str(model))
            return Response(rendered, media_type="application/json", headers=served)
        if wire_api == "chat" and not _includes_usage(payload):
            events = _without_usage(events)
        blocks = render_stream(wire_api, events, response_id=response_id, model=str(model))
        if behavior.malformed is not None and blocks:
            blocks.insert(1, _MALFORMED[behavior.malformed])
        return StreamingResponse(
            _paced(blocks, behavior),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-request-id": response_id, **served},
        )

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        """The app, counting requests in flight until their response is sent in full (a
        streamed response's call returns only after its last chunk)."""
        if scope["type"] == "websocket":
            await serve_socket(state, scope, receive, send)
            return
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        state.enter()
        try:
            if state.serial:
                # The whole exchange, body included, before the next request is looked at.
                async with state.serial_lock():
                    await app(scope, receive, send)
            else:
                await app(scope, receive, send)
        finally:
            state.leave()

    return counted


_MALFORMED = {
    "json": b'data: {"type": "truncated", "delta": \n\n',
    # Invalid UTF-8 in `data` (an `event:` name would be repaired to U+FFFD, as SSE says).
    "sse": b'data: {"type": "\xff\xfe"}\n\n',
}


async def _paced(blocks: list[bytes], behavior: MockBehavior) -> AsyncIterator[bytes]:
    """Yield the body's pieces with the behaviour's delays, reset and stall."""
    if behavior.ttft_ms:
        await anyio.sleep(behavior.ttft_ms / 1000)
    for index, block in enumerate(blocks):
        if behavior.reset_after is not None and index >= behavior.reset_after:
            raise ConnectionReset(f"reset after {index} events, as asked")
        if behavior.stall_after is not None and index >= behavior.stall_after:
            await anyio.sleep(STALL_SECONDS)
            return
        if index and behavior.delay_ms:
            await anyio.sleep(behavior.delay_ms / 1000)
        yield block


def _served(behavior: MockBehavior) -> dict[str, str]:
    return {
        f"{HEADER_PREFIX}ttft-ms": str(behavior.ttft_ms or 0),
        f"{HEADER_PREFIX}delay-ms": str(behavior.delay_ms or 0),
    }


async def _failure(wire_api: str, behavior: MockBehavior, served: dict[str, str]) -> Response:
    if behavior.ttft_ms:
        await anyio.sleep(behavior.ttft_ms / 1000)
    status = behavior.status or 500
    headers: dict[str, str] = {"x-request-id": f"req_mock_{status}", **served}
    if behavior.retry_after is not None:
        headers["retry-after"] = behavior.retry_after
    if behavior.retry_after_ms is not None:
        headers["retry-after-ms"] = str(behavior.retry_after_ms)
    if behavior.should_retry is not None:
        headers["x-should-retry"] = "true" if behavior.should_retry else "false"
    message = behavior.error_message or f"mock failure with status {status}"
    return Response(
        render_error(wire_api, status, message),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _includes_usage(payload: Mapping[str, Any]) -> bool:
    """Whether a Chat request asks for the stream's usage chunk (OpenAI sends none unless)."""
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _without_usage(events: list[Event]) -> list[Event]:
    return [event for event in events if not isinstance(event, Usage)]


def _model(wire_api: str, models: tuple[str, ...], model_id: str) -> Response:
    if model_id not in models:
        return Response(
            render_model_not_found(wire_api, model_id),
            status_code=404,
            media_type="application/json",
        )
    return Response(render_model(wire_api, model_id), media_type="application/json")


def _models(wire_api: str, models: tuple[str, ...], query: Mapping[str, str]) -> Response:
    if wire_api != "messages":
        return Response(render_models(wire_api, models), media_type="application/json")
    try:
        limit = max(1, int(query.get("limit", "20")))
    except ValueError:
        limit = 20
    after = query.get("after_id")
    start = models.index(after) + 1 if after in models else 0
    page = models[start : start + limit]
    has_more = start + limit < len(models)
    return Response(render_models_page(page, has_more=has_more), media_type="application/json")


def _json(status: int, body: object) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
