"""Responses over a WebSocket: the second transport of the ``responses`` wire API.

A turn is one ``response.create`` text frame; the reply is the same event objects the SSE
stream carries, one per text frame, so ``WebSocketStream`` is ``EventStream`` with another
source of payloads: every guarantee of the SSE path (retries only before anything was
received, one terminal event, the end reasons, bounds, masking) is the same code.

What is particular to sockets lives here:

* **Where a socket comes from.** A one-off call borrows an idle socket of its provider (or
  opens one) and gives it back once its reply ended cleanly; a ``Conversation`` keeps its own.
  A reply cut short (closed early, cancelled, idle, undecodable) closes its socket: a socket
  with a response still in flight cannot carry the next one.
* **Falling back.** A handshake that fails, is refused, times out, or a socket the server
  closes before its first message, sends the call over HTTP + SSE instead, and the client
  stops trying sockets for that provider for the rest of its life (as the runtime does).
  A ``401``/``403`` is not a fallback but an auth failure (after one credential renewal).
* **Chains.** A turn sent on the socket that holds the previous response carries only the
  new input and ``previous_response_id``; anywhere else it carries the whole context.
  ``previous_response_not_found`` and ``websocket_connection_limit_reached`` send the turn
  again at once, whole, on a new chain (the latter on a new socket).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import msgspec
import orjson

from ._websocket import HandshakeRejected, SocketClosed, SocketError, WebSocket, socket_url
from .auth import Credentials
from .errors import ConnectionFailedError
from .registry import Provider
from .transport import Call, EventStream, SocketEvent, Transport
from .wire import ErrorEvent, Message, Request, StreamDecoding
from .wire.responses import encode_body
from .wire.sse import EventTooLargeError

__all__ = [
    "BETA_HEADER",
    "CONNECTION_LIFETIME_S",
    "SocketHome",
    "Sockets",
    "Turn",
    "WebSocketStream",
]

BETA_HEADER = ("openai-beta", "responses_websockets=2026-02-06")
CONNECTION_LIFETIME_S = 3600.0
"""A provider ends a socket after 60 minutes; a socket this old is replaced between turns."""
_RENEW_BEFORE_S = 60.0
_MAX_IDLE = 32
"""Idle sockets kept per provider for one-off calls (more concurrent calls open more)."""
_MAX_RESENDS = 2
_RESEND_CODES = frozenset({"previous_response_not_found", "websocket_connection_limit_reached"})
_CLOSE_CODES = frozenset({"websocket_connection_limit_reached"})
"""Resend codes after which the socket itself is done."""
_DROPPED_BODY_KEYS = ("stream", "background", "stream_options")


def usable(provider: Provider) -> bool:
    """Whether a provider speaks Responses over a socket at all (``aws`` providers never)."""
    info = provider.info
    return info.supports_websockets and info.aws is None and info.wire_api.value == "responses"


class Turn:
    """One turn's content, in the two shapes it may travel in.

    ``request`` is the whole context (what HTTP sends, and a socket without the chain);
    ``new`` the messages since ``previous_id``'s response (what a chained frame sends).
    """

    __slots__ = ("new", "previous_id", "request")

    def __init__(
        self,
        request: Request,
        new: tuple[Message, ...] | None = None,
        previous_id: str | None = None,
    ) -> None:
        self.request = request
        self.new = new
        self.previous_id = previous_id

    def http_body(self) -> bytes:
        return orjson.dumps(encode_body(self.request))

    def frame(self, chained: bool) -> str:
        """The ``response.create`` frame: the create body without its transport-only keys,
        with only the new input and ``previous_response_id`` when ``chained``."""
        request = self.request
        if chained and self.new is not None and self.previous_id is not None:
            request = msgspec.structs.replace(request, messages=self.new)
        body = encode_body(request)
        for key in _DROPPED_BODY_KEYS:
            body.pop(key, None)
        frame: dict[str, Any] = {"type": "response.create"}
        frame.update(body)
        if chained and self.new is not None and self.previous_id is not None:
            frame["previous_response_id"] = self.previous_id
        return orjson.dumps(frame).decode("utf-8")


class SocketHome:
    """Where a stream takes its socket from and gives it back to: a provider's idle sockets
    (one-off calls) or a conversation's own. ``chained`` says whether a turn sent on
    ``socket`` may lean on the previous response."""

    def take(self) -> WebSocket | None:
        raise NotImplementedError

    def give(self, socket: WebSocket) -> None:
        raise NotImplementedError

    def chained(self, socket: WebSocket) -> bool:
        return False

    def unchain(self) -> None:
        """The chain is gone (the server lost the previous response)."""


class _Idle(SocketHome):
    __slots__ = ("_provider_id", "_sockets")

    def __init__(self, sockets: Sockets, provider_id: str) -> None:
        self._sockets = sockets
        self._provider_id = provider_id

    def take(self) -> WebSocket | None:
        return self._sockets.take(self._provider_id)

    def give(self, socket: WebSocket) -> None:
        self._sockets.give(self._provider_id, socket)


class _Fallback(Exception):
    """The socket cannot be had; the call goes over HTTP (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _old(socket: WebSocket) -> bool:
    return time.monotonic() - socket.opened_at > CONNECTION_LIFETIME_S - _RENEW_BEFORE_S


class Sockets:
    """A client's WebSocket state: the providers it fell back from, for good, and the idle
    sockets of one-off calls. Closed with the client."""

    def __init__(self) -> None:
        self.fallbacks: dict[str, str] = {}
        """Provider id → why its socket failed; those providers get HTTP from then on."""
        self._idle: dict[str, list[WebSocket]] = {}
        self._open: set[WebSocket] = set()
        self.bytes_sent = 0
        """Bytes every socket of this client wrote, handshakes included (benches read it)."""

    def __repr__(self) -> str:
        idle = sum(len(found) for found in self._idle.values())
        return f"Sockets({len(self._open)} open, {idle} idle, {len(self.fallbacks)} fallback(s))"

    def allowed(self, provider: Provider, *, strict: bool = False) -> bool:
        """Whether a call to ``provider`` tries a socket (``strict``: even after a fallback)."""
        return usable(provider) and (strict or provider.id not in self.fallbacks)

    def home(self, provider_id: str) -> SocketHome:
        return _Idle(self, provider_id)

    def take(self, provider_id: str) -> WebSocket | None:
        idle = self._idle.get(provider_id)
        while idle:
            socket = idle.pop()
            if not socket.closed and not _old(socket):
                return socket
            self._forget(socket)
        return None

    def give(self, provider_id: str, socket: WebSocket) -> None:
        idle = self._idle.setdefault(provider_id, [])
        if socket.closed or len(idle) >= _MAX_IDLE:
            self._forget(socket)
            return
        idle.append(socket)

    def opened(self, socket: WebSocket) -> None:
        self._open.add(socket)

    def _forget(self, socket: WebSocket) -> None:
        self._open.discard(socket)
        self.bytes_sent += socket.bytes_sent
        socket.bytes_sent = 0

    async def close(self, socket: WebSocket, *, politely: bool = True) -> None:
        try:
            if politely:
                await socket.aclose()
            else:
                await socket.abort()
        finally:
            # Counted after the close frame went out, so ``sent`` includes it.
            self._forget(socket)

    def sent(self) -> int:
        """Bytes written so far by every socket, open or closed."""
        return self.bytes_sent + sum(socket.bytes_sent for socket in self._open)

    async def aclose(self) -> None:
        sockets, self._open, self._idle = list(self._open), set(), {}
        for socket in sockets:
            try:
                await socket.aclose()
            finally:
                self.bytes_sent += socket.bytes_sent
                socket.bytes_sent = 0

    async def connect(
        self,
        transport: Transport,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        bound: float | None,
    ) -> WebSocket:
        """A new socket to ``provider``'s ``…/responses``, within its connect timeout (and
        ``bound``, on ``anyio.current_time()``'s clock). Raises ``_Fallback`` when the socket
        cannot be had for a reason HTTP may not share, a modelwire error otherwise."""
        http_url = transport.url(provider, "responses", credentials)
        url = socket_url(http_url)
        headers = transport.headers(provider, stream=True)
        for name in ("content-type", "accept", "accept-encoding"):
            headers.pop(name, None)
        headers[BETA_HEADER[0]] = BETA_HEADER[1]
        limit_s = provider.info.websocket_connect_timeout_ms / 1000
        renewed = False
        while True:
            request = httpx.Request("GET", http_url, headers=headers)
            await credentials.apply(request)
            handshake = dict(request.headers)
            del request
            started = time.perf_counter()
            timeout = limit_s
            if bound is not None:
                timeout = min(timeout, max(0.0, bound - anyio.current_time()))
            try:
                with anyio.fail_after(timeout):
                    socket = await WebSocket.connect(url, handshake)
            except TimeoutError:
                seconds = time.perf_counter() - started
                if bound is not None and anyio.current_time() >= bound:
                    raise
                raise _Fallback(
                    f"no handshake within websocket_connect_timeout_ms "
                    f"({provider.info.websocket_connect_timeout_ms} ms)"
                ) from None
            except HandshakeRejected as exc:
                status = exc.status
                transport.observer.socket(
                    call,
                    SocketEvent("refused", time.perf_counter() - started, f"HTTP {status}"),
                )
                if status in (401, 403):
                    if not renewed and await credentials.unauthorized():
                        renewed = True
                        continue
                    response = httpx.Response(status, headers=exc.headers, content=exc.body)
                    raise transport._http_error(provider, credentials, response, exc.body) from None
                raise _Fallback(f"the upgrade was refused with HTTP {status}") from None
            except SocketError as exc:
                raise _Fallback(transport._masked(str(exc), provider, credentials)) from None
            del handshake
            seconds = time.perf_counter() - started
            self.opened(socket)
            transport.observer.socket(call, SocketEvent("opened", seconds, None))
            return socket


class _Oversized(list[bytes]):
    """A batch holding a message over the event cap (the frame reader said so)."""


class _MessageFramer:
    """The payload cutter of a socket reply: each read is already a batch of whole messages;
    one over ``limit`` fails the stream as an SSE event over the cap would. Switched to the
    SSE framer when the reply moved to HTTP."""

    __slots__ = ("limit", "position", "sse")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.position = 0
        self.sse: Any = None

    def feed(self, batch: Any) -> list[bytes]:
        if self.sse is not None:
            found: list[bytes] = self.sse.feed(batch)
            return found
        limit = self.limit
        if type(batch) is _Oversized:
            for index, message in enumerate(batch):
                if len(message) > limit:
                    raise EventTooLargeError(
                        limit, self.position, data=True, completed=batch[:index]
                    )
                self.position += len(message)
        self.position += sum(map(len, batch))
        messages: list[bytes] = batch
        return messages


class _SocketReads:
    """One reply's reads on a socket: batches of whole messages (see ``WebSocket.receive``).

    A socket closed before the reply's first message is not a truncated reply: a fresh
    socket closed at once is the server refusing sockets (the call falls back to HTTP); a
    reused one had gone stale while idle (the turn goes again on a new socket)."""

    __slots__ = ("_http", "_idle_s", "_limit", "_messages", "_socket", "_stream", "fresh")

    def __init__(self, stream: WebSocketStream, socket: WebSocket, *, fresh: bool) -> None:
        self._stream = stream
        self._socket = socket
        self.fresh = fresh
        self._idle_s = stream._provider.info.stream_idle_timeout_ms / 1000
        self._limit = stream._max_event_bytes
        self._messages = 0
        self._http: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> _SocketReads:
        return self

    async def __anext__(self) -> Any:
        if self._http is not None:
            return await self._http.__anext__()
        while True:
            socket = self._socket
            # A bare scope, not fail_after: this runs once per read of every reply.
            scope = anyio.CancelScope(deadline=anyio.current_time() + self._idle_s)
            try:
                with scope:
                    batch = await socket.receive(self._limit)
                if scope.cancelled_caught:
                    raise httpx.ReadTimeout(f"no message for {self._idle_s:g} s")
            except SocketClosed as exc:
                if self._messages:
                    raise StopAsyncIteration from None
                replaced = await self._stream._replace_socket(socket, exc, fresh=self.fresh)
                if isinstance(replaced, WebSocket):
                    self._socket, self.fresh = replaced, True
                    continue
                self._http = replaced
                return await replaced.__anext__()
            except SocketError as exc:
                raise httpx.ReadError(str(exc)) from None
            self._messages += len(batch)
            if socket.oversized():
                return _Oversized(batch)
            return batch

    async def aclose(self) -> None:
        return None


class WebSocketStream(EventStream[Any]):
    """An ``EventStream`` whose attempts go over a socket (or, once fallen back, HTTP)."""

    def __init__(
        self,
        transport: Transport,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        path: str,
        turn: Turn,
        sockets: Sockets,
        home: SocketHome,
        *,
        raw: bool,
        deadline_s: float | None = None,
        first_event_timeout_s: float | None = None,
        max_event_bytes: int | None = None,
        strict: bool = False,
    ) -> None:
        """``strict``: the caller asked for the socket, so one that cannot be had raises
        ``ConnectionFailedError`` instead of falling back to HTTP."""
        super().__init__(
            transport,
            call,
            provider,
            credentials,
            path,
            b"",
            raw=raw,
            deadline_s=deadline_s,
            first_event_timeout_s=first_event_timeout_s,
            max_event_bytes=max_event_bytes,
        )
        call.transport = "websocket"
        self._turn = turn
        self._sockets = sockets
        self._home = home
        self._socket: WebSocket | None = None
        self._reusable = False
        self._chain_lost = False
        self._resends = 0
        self._framing: _MessageFramer | None = None
        self._bounds_now: tuple[float | None, float | None, float | None] = (None, None, None)
        self._sse_framer: Any = None
        self._strict = strict
        write = transport.timeout.write
        self._write_s = 30.0 if write is None else write
        self.sent_chained = False
        """Whether the last frame sent leaned on the previous response."""

    def __repr__(self) -> str:
        state = self.end_reason.value if self.end_reason else "open"
        return f"WebSocketStream({self.call.provider_id}, {self.call.transport}, {state})"

    # --- the hooks of EventStream._run ----------------------------------------------------

    async def _attempt_reads(
        self, limit: float | None, deadline: float | None, first_by: float | None
    ) -> tuple[AsyncIterator[bytes], bool]:
        self._bounds_now = (limit, deadline, first_by)
        self._reusable = False
        self._framing = self._sse_framer = None
        capped = self._capped(deadline)
        if self.call.transport == "http" or not self._sockets.allowed(
            self._provider, strict=self._strict
        ):
            return await self._over_http(None), capped
        if limit is None:
            return await self._over_socket(), capped
        # The handshake and the frame's send count against the bounds before the first event,
        # as an HTTP attempt's connect and upload do.
        with anyio.CancelScope(deadline=limit):
            return await self._over_socket(), capped
        if self._socket is not None:
            await self._sockets.close(self._socket, politely=False)
            self._socket = None
        raise self._deadline_error(deadline, first_by)

    async def _over_socket(self) -> AsyncIterator[bytes]:
        """This attempt on a socket: the home's (replaced when stale or old) or a new one."""
        socket = self._home.take()
        fresh = False
        if socket is not None and (socket.closed or _old(socket)):
            await self._sockets.close(socket)
            socket = None
            self.call.reconnects += 1
        if socket is None:
            try:
                socket = await self._connect()
            except _Fallback as exc:
                return await self._over_http(exc.reason)
            fresh = True
        else:
            self._transport.observer.socket(self.call, SocketEvent("reused", 0.0, None))
        sent = await self._send(socket, fresh=fresh)
        if not isinstance(sent, WebSocket):
            return sent
        return _SocketReads(self, sent, fresh=fresh)

    def _framer(self, decoding: StreamDecoding) -> Any:
        framing = self._framing = _MessageFramer(self._max_event_bytes)
        if self.call.transport == "http":
            framing.sse = decoding.framer
        else:
            self._sse_framer = decoding.framer
        return framing

    def _resend(self, terminal: ErrorEvent) -> bool:
        if terminal.code not in _RESEND_CODES or self._resends >= _MAX_RESENDS:
            return False
        if self.call.transport != "websocket":
            return False
        self._resends += 1
        self._chain_lost = True
        self._home.unchain()
        # The reply ended with the server's own error: the socket is clean unless the
        # server says it is done with it.
        self._reusable = terminal.code not in _CLOSE_CODES
        if not self._reusable:
            self.call.reconnects += 1
        return True

    async def _drain(self, reads: AsyncIterator[bytes]) -> None:
        if self.call.transport == "websocket":
            self._reusable = True
        else:
            await super()._drain(reads)

    async def _release(self, *, abandoned: bool = False) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            if self._reusable and not socket.closed:
                self._home.give(socket)
            else:
                # A reply still in flight: the socket cannot carry another one.
                await self._sockets.close(socket, politely=not abandoned)
        self._reusable = False
        await super()._release(abandoned=abandoned)

    async def _open(
        self, limit: float | None, deadline: float | None, first_by: float | None
    ) -> httpx.Response:
        if not self._body:
            self._body = self._turn.http_body()
        return await super()._open(limit, deadline, first_by)

    # --- sockets ------------------------------------------------------------------------------

    def _capped(self, deadline: float | None) -> bool:
        if deadline is None:
            return False
        left = deadline - anyio.current_time()
        return left * 1000 < self._provider.info.stream_idle_timeout_ms

    async def _connect(self) -> WebSocket:
        limit, deadline, first_by = self._bounds_now
        try:
            return await self._sockets.connect(
                self._transport, self.call, self._provider, self._credentials, limit
            )
        except TimeoutError:
            # The call's own bound passed during the handshake.
            raise self._deadline_error(deadline, first_by) from None

    async def _send(self, socket: WebSocket, *, fresh: bool) -> WebSocket | AsyncIterator[bytes]:
        """Send the turn's frame on ``socket`` (a stale idle one is replaced once); the socket
        it went on, or the HTTP reads when no socket could be had."""
        for _ in range(2):
            chained = not self._chain_lost and self._home.chained(socket)
            frame = self._turn.frame(chained)
            call = self.call
            call.attempts += 1
            self._socket = socket
            try:
                # A server that stops reading must not hold the send forever.
                with anyio.fail_after(self._write_s):
                    await socket.send_text(frame)
            except (SocketError, TimeoutError) as exc:
                if isinstance(exc, TimeoutError):
                    exc = SocketError(f"no progress sending the turn for {self._write_s:g} s")
                self._socket = None
                await self._sockets.close(socket, politely=False)
                if fresh:
                    what = "closed the socket" if isinstance(exc, SocketClosed) else "failed"
                    return await self._over_http(
                        f"the server {what} right after the handshake ({exc})"
                    )
                call.reconnects += 1
                try:
                    socket = await self._connect()
                except _Fallback as fallback:
                    return await self._over_http(fallback.reason)
                fresh = True
                continue
            self.sent_chained = chained
            return socket
        return await self._over_http("the socket failed twice")

    async def _replace_socket(
        self, socket: WebSocket, closed: SocketClosed, *, fresh: bool
    ) -> WebSocket | AsyncIterator[bytes]:
        """A socket closed before the reply's first message (see ``_SocketReads``)."""
        self._socket = None
        await self._sockets.close(socket, politely=False)
        if fresh:
            return await self._over_http(
                f"the server closed the socket right after the handshake ({closed})"
            )
        self.call.reconnects += 1
        try:
            replacement = await self._connect()
        except _Fallback as exc:
            return await self._over_http(exc.reason)
        self._chain_lost = True
        return await self._send(replacement, fresh=True)

    async def _over_http(self, reason: str | None) -> AsyncIterator[bytes]:
        """This attempt over HTTP + SSE; with ``reason``, the provider's fallback from now on."""
        call, provider = self.call, self._provider
        if reason is not None and self._strict:
            raise ConnectionFailedError(
                f"{provider.id}: no WebSocket ({reason}); the call asked for one, so it did "
                "not fall back to HTTP",
                provider_id=provider.id,
            )
        if reason is not None:
            self._sockets.fallbacks.setdefault(provider.id, reason)
            call.fallback = reason
            self._transport.observer.socket(call, SocketEvent("fallback", 0.0, reason))
        call.transport = "http"
        if self._framing is not None and self._sse_framer is not None:
            # Mid-reads (a socket closed at once): this attempt's framer cuts SSE from now on.
            self._framing.sse = self._sse_framer
        limit, deadline, first_by = self._bounds_now
        reads, _ = await EventStream._attempt_reads(self, limit, deadline, first_by)
        return reads
