"""The mock's Responses WebSocket: ``…/responses`` upgraded, one ``response.create`` per turn.

Each turn's reply is the same events the SSE stream carries (rendered by the same code), one
per text frame, so the two transports can be compared on equal terms. The server keeps what a
real one keeps per socket: the latest response (``store: false``), which is all a
``previous_response_id`` may name there, and its age, past which a turn is answered
``websocket_connection_limit_reached`` and the socket closed (60 minutes, or
``MockState.socket_lifetime_s``).

Knobs, like the SSE path's: ``ttft_ms``, ``delay_ms``, ``status`` (an ``error`` event),
``reset_after`` (close with 1011 after N events), ``stall_after``, ``malformed``,
``output_tokens``…, consumed one per turn from the queue; the handshake's ``x-mock-*`` headers
apply to every turn on the socket. Three act on the handshake itself — ``socket_refuse`` (an
HTTP answer instead of ``101``), ``socket_close`` (accept, then close at once with 1008) and
``socket_delay_ms`` (hold the handshake) — and a queued behaviour that sets one of them is
taken by the next handshake rather than the next turn. ``previous_not_found`` answers a turn
with ``previous_response_not_found`` whatever it names. A ``response.create`` with
``generate: false`` (a pre-warm) gets a response created and completed with no output.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import orjson
from starlette.types import Receive, Scope, Send

from ..wire.events import Completed, Start, Usage
from ._behavior import MockBehavior, from_headers
from ._render import render_error, render_stream
from ._script import ReplyOptions, reply_events, response_id_for

__all__ = ["serve_socket"]

_STALL_SECONDS = 3600.0


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }


def _error_frame(status: int, message: str, code: str | None = None) -> str:
    body = orjson.loads(render_error("responses", status, message, code=code))
    return orjson.dumps({"type": "error", "status": status, **body}).decode()


def _frames(blocks: list[bytes]) -> list[bytes]:
    """The ``data`` of each SSE block: the event object a socket sends as one frame."""
    frames = []
    for block in blocks:
        _, found, data = block.partition(b"data: ")
        frames.append((data if found else block).rstrip(b"\n"))
    return frames


async def serve_socket(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """One socket, from handshake to close."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    headers = _headers(scope)
    path = scope.get("path", "")
    state.record_socket("GET", path, headers, "")
    knobs = from_headers_or_none(headers)
    # Taken before the checks below: a handshake refused for its path or key uses it up too.
    handshake = state.next_handshake()
    if knobs is None:
        await _refuse(send, 400, "a x-mock-* header is malformed")
        return
    if handshake is not None:
        knobs = knobs.over(handshake)
    # The server's defaults count for the handshake's own knobs; turns get them per turn.
    gate = knobs.over(state.behavior)
    if not path.rstrip("/").endswith("/responses"):
        await _refuse(send, 404, f"no WebSocket route for {path}")
        return
    if not state.authorized(headers):
        await _refuse(send, 401, "invalid or missing credentials")
        return
    if gate.socket_delay_ms:
        await anyio.sleep(gate.socket_delay_ms / 1000)
    if gate.socket_refuse is not None:
        await _refuse(send, gate.socket_refuse, "WebSocket mode is not available here")
        return
    await send({"type": "websocket.accept"})
    state.sockets_opened += 1
    if gate.socket_close:
        await send({"type": "websocket.close", "code": 1008, "reason": "policy violation"})
        return
    opened = time.monotonic()
    latest: str | None = None
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            text = data.decode("utf-8", "replace")
        state.record_socket("WS", path, {}, text)
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            await _send(send, _error_frame(400, f"the frame is not JSON: {exc}"))
            continue
        if not isinstance(payload, dict) or payload.get("type") != "response.create":
            await _send(send, _error_frame(400, "expected a response.create event"))
            continue
        if time.monotonic() - opened >= state.socket_lifetime_s:
            await _send(
                send,
                _error_frame(
                    400,
                    "Responses websocket connection limit reached "
                    f"({state.socket_lifetime_s:g} s). Create a new websocket connection.",
                    code="websocket_connection_limit_reached",
                ),
            )
            await send({"type": "websocket.close", "code": 1000, "reason": "connection limit"})
            return
        behavior = knobs.over(state.next_behavior())
        previous = payload.get("previous_response_id")
        if behavior.previous_not_found or (
            previous is not None and previous != latest and previous not in state.stored
        ):
            await _send(
                send,
                _error_frame(
                    400,
                    "Previous response not found."
                    if previous is None
                    else f"Previous response with id '{previous}' not found.",
                    code="previous_response_not_found",
                ),
            )
            continue
        if payload.get("background"):
            await _send(send, _error_frame(400, "background is not supported over WebSocket"))
            continue
        # A turn counts in flight like a request, so peak_in_flight sees socket traffic too.
        state.enter()
        try:
            closed, response_id = await _reply(state, send, payload, behavior)
        finally:
            state.leave()
        if closed:
            return
        if response_id is not None:
            latest = response_id
            if payload.get("store") is True:
                state.stored.add(response_id)


def from_headers_or_none(headers: dict[str, str]) -> MockBehavior | None:
    try:
        return from_headers(headers)
    except ValueError:
        return None


async def _refuse(send: Send, status: int, message: str) -> None:
    body = render_error("responses", status, message)
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


async def _send(send: Send, text: str) -> None:
    await send({"type": "websocket.send", "text": text})


async def _reply(
    state: Any, send: Send, payload: dict[str, Any], behavior: MockBehavior
) -> tuple[bool, str | None]:
    """Stream one turn's reply: whether the socket was closed (or stalled), and the id of the
    response it completed (``None`` for an error)."""
    if behavior.status is not None:
        if behavior.ttft_ms:
            await anyio.sleep(behavior.ttft_ms / 1000)
        status = behavior.status
        message = behavior.error_message or f"mock failure with status {status}"
        await _send(send, _error_frame(status, message))
        return False, None
    options = ReplyOptions(
        output_tokens=behavior.output_tokens,
        reasoning=behavior.reasoning,
        tool_calls=behavior.tool_calls,
    )
    events = reply_events("responses", payload, options=options)
    if payload.get("generate") is False:
        # A pre-warm: the response is created and completed with no output.
        events = [event for event in events if isinstance(event, Start | Usage | Completed)]
    model = payload.get("model") if isinstance(payload.get("model"), str) else "mock-model"
    response_id = response_id_for("responses", state.next_sequence())
    frames = _frames(render_stream("responses", events, response_id=response_id, model=str(model)))
    if behavior.malformed == "json" and frames:
        frames.insert(1, b'{"type": "truncated", "delta": ')
    if behavior.ttft_ms:
        await anyio.sleep(behavior.ttft_ms / 1000)
    for index, frame in enumerate(frames):
        if behavior.reset_after is not None and index >= behavior.reset_after:
            await send({"type": "websocket.close", "code": 1011, "reason": "reset, as asked"})
            return True, None
        if behavior.stall_after is not None and index >= behavior.stall_after:
            await anyio.sleep(_STALL_SECONDS)
            return True, None
        if index and behavior.delay_ms:
            await anyio.sleep(behavior.delay_ms / 1000)
        if behavior.malformed == "sse" and index == 1:
            await send({"type": "websocket.send", "bytes": b'{"type": "\xff\xfe"}'})
        await send({"type": "websocket.send", "text": frame.decode("utf-8")})
    return False, response_id
