"""One client WebSocket over anyio: the handshake, text messages in and out, the close.

``wsproto`` does the protocol (framing, masking, permessage-deflate, the close handshake) and
owns no I/O; this module feeds it from an anyio byte stream, so the same code runs on asyncio
and trio. ``websockets``, the other maintained library, brings its own asyncio I/O and no trio.

Nothing here knows about providers or events: the WebSocket transport (``_ws_transport``)
decides what a refused handshake or a closed socket means. Every failure below the socket
(``OSError``, anyio's stream errors, TLS errors, a protocol violation) surfaces as one of this
module's ``SocketError`` kinds, carrying only a description, never the request's headers.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections import deque
from collections.abc import Mapping

import anyio
import anyio.abc
import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

__all__ = [
    "Handshake",
    "HandshakeRejected",
    "SocketClosed",
    "SocketError",
    "WebSocket",
    "socket_url",
]

_READ = 64 * 1024
_REJECTION_BODY = 16 * 1024
"""Bytes of a refused handshake's body kept for the error's excerpt."""
_CLOSE_WITHIN_S = 1.0
"""How long a polite close may wait for the peer's close frame before the socket is dropped."""
_HANDSHAKE_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "content-length",
        "content-type",
        "accept-encoding",
        "transfer-encoding",
    }
)
"""Headers the handshake sets itself, or that mean nothing on a GET with no body."""

_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """The same verifying context httpx uses (certifi's roots), built once: it costs ~20 ms."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


class SocketError(Exception):
    """The socket failed: could not connect, broke, or broke the protocol."""


class SocketClosed(SocketError):
    """The peer closed the socket (a close frame, or the stream ended)."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        shown = f"code {code}" if code is not None else "no close frame"
        super().__init__(f"the server closed the socket ({shown}{': ' + reason if reason else ''})")


class HandshakeRejected(SocketError):
    """The server answered the upgrade with an HTTP response instead of ``101``."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = dict(headers)
        self.body = body
        super().__init__(f"the server refused the upgrade with HTTP {status}")


class Handshake:
    """What the handshake agreed: the response's headers and whether messages are deflated."""

    __slots__ = ("deflate", "headers")

    def __init__(self, headers: dict[str, str], deflate: bool) -> None:
        self.headers = headers
        self.deflate = deflate


def socket_url(http_url: str) -> httpx.URL:
    """A request URL as a socket's: ``http→ws``, ``https→wss``, path and query kept."""
    url = httpx.URL(http_url)
    scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
    return url.copy_with(scheme=scheme)


class WebSocket:
    """A client WebSocket. ``connect`` opens it; ``send_text``/``receive`` one message at a
    time; ``aclose`` ends it. Not safe for concurrent receivers (one response per socket)."""

    __slots__ = (
        "_aborted",
        "_parts",
        "_pending",
        "_protocol",
        "_size",
        "_stream",
        "bytes_received",
        "bytes_sent",
        "closed",
        "handshake",
        "opened_at",
    )

    def __init__(self, stream: anyio.abc.ByteStream, protocol: WSConnection) -> None:
        self._stream = stream
        self._protocol = protocol
        self._pending: deque[Event] = deque()
        self._parts: list[bytes] = []
        self._size = 0
        self.closed = False
        self._aborted = False
        self.opened_at = time.monotonic()
        self.bytes_sent = 0
        self.bytes_received = 0
        self.handshake = Handshake({}, deflate=False)

    def __repr__(self) -> str:
        return f"WebSocket({'closed' if self.closed else 'open'})"

    @classmethod
    async def connect(
        cls,
        url: httpx.URL,
        headers: Mapping[str, str],
        *,
        deflate: bool = True,
    ) -> WebSocket:
        """Connect and upgrade; the caller bounds the time with a cancel scope.

        Raises ``HandshakeRejected`` for an HTTP answer, ``SocketError`` for anything else.
        """
        if url.scheme not in ("ws", "wss"):
            raise SocketError(f"a WebSocket URL is ws:// or wss://, not {url.scheme}://")
        host = url.host
        port = url.port or (443 if url.scheme == "wss" else 80)
        try:
            if url.scheme == "wss":
                stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                    host, port, tls=True, ssl_context=_tls(), tls_standard_compatible=False
                )
            else:
                stream = await anyio.connect_tcp(host, port)
        except (OSError, ssl.SSLError, anyio.BrokenResourceError) as exc:
            raise SocketError(f"{type(exc).__name__} connecting to {host}:{port}") from None
        except BaseException:
            raise
        socket = cls(stream, WSConnection(ConnectionType.CLIENT))
        try:
            await socket._upgrade(url, headers, deflate=deflate)
        except BaseException:
            await socket.abort()
            raise
        return socket

    async def _upgrade(self, url: httpx.URL, headers: Mapping[str, str], *, deflate: bool) -> None:
        default_port = 443 if url.scheme == "wss" else 80
        host = url.host if url.port in (None, default_port) else f"{url.host}:{url.port}"
        target = url.raw_path.decode("ascii")
        extra = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
            if name.lower() not in _HANDSHAKE_HEADERS
        ]
        extensions = [PerMessageDeflate()] if deflate else []
        try:
            await self._write(
                self._protocol.send(
                    Request(host=host, target=target, extra_headers=extra, extensions=extensions)
                )
            )
        except LocalProtocolError as exc:
            raise SocketError(f"the handshake cannot be sent as built ({exc})") from None
        rejected: RejectConnection | None = None
        body: list[bytes] = []
        size = 0
        while True:
            events = await self._events()
            for index, event in enumerate(events):
                if isinstance(event, AcceptConnection):
                    # Messages that came in the same read as the 101 are the first ones.
                    self._pending.extend(events[index + 1 :])
                    self.handshake = Handshake(
                        _headers(event.extra_headers),
                        deflate=any(
                            isinstance(found, PerMessageDeflate) for found in event.extensions
                        ),
                    )
                    return
                if isinstance(event, RejectConnection):
                    rejected = event
                    if not event.has_body:
                        raise HandshakeRejected(event.status_code, _headers(event.headers), b"")
                elif isinstance(event, RejectData) and rejected is not None:
                    if size < _REJECTION_BODY:
                        body.append(event.data)
                        size += len(event.data)
                    if event.body_finished:
                        raise HandshakeRejected(
                            rejected.status_code,
                            _headers(rejected.headers),
                            b"".join(body)[:_REJECTION_BODY],
                        )
                    if size >= _REJECTION_BODY:
                        raise HandshakeRejected(
                            rejected.status_code,
                            _headers(rejected.headers),
                            b"".join(body)[:_REJECTION_BODY],
                        )

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        if self.closed:
            raise SocketClosed(None, "the socket is closed")
        if self._protocol.state != ConnectionState.OPEN:
            # The server's close frame came first (often in the same read as the 101).
            close = next((e for e in self._pending if isinstance(e, CloseConnection)), None)
            if close is not None:
                raise SocketClosed(close.code, close.reason or "")
            raise SocketClosed(None, f"the socket is {self._protocol.state.name.lower()}")
        try:
            data = self._protocol.send(TextMessage(data=text))
        except LocalProtocolError:
            # Its message quotes the frame: the caller's content stays out of errors.
            raise SocketError("the socket cannot send in its current state") from None
        await self._write(data)

    async def receive(self, limit: int) -> list[bytes]:
        """The whole messages the next read completes (text as UTF-8), at least one, in
        order; pings are answered on the way. A batch, not one message, so a reply's events
        cost one read and one bound each time the socket is read, as SSE's do.

        A message longer than ``limit`` is not kept past ``limit + 1`` bytes: it comes out
        longer than ``limit``, and the caller fails the stream on it.
        """
        done: list[bytes] = []
        pending = self._pending
        while True:
            if not pending:
                if done:
                    return done
                pending.extend(await self._events())
            while pending:
                event = pending.popleft()
                if isinstance(event, TextMessage | BytesMessage):
                    data = event.data
                    chunk = data.encode("utf-8") if isinstance(data, str) else bytes(data)
                    if event.message_finished and not self._parts:
                        done.append(chunk if len(chunk) <= limit else chunk[: limit + 1])
                        continue
                    if self._size <= limit:
                        self._parts.append(chunk)
                        self._size += len(chunk)
                    if event.message_finished:
                        message = b"".join(self._parts)
                        self._parts, self._size = [], 0
                        done.append(message[: limit + 1] if len(message) > limit else message)
                elif isinstance(event, Ping):
                    await self._write(self._protocol.send(event.response()))
                elif isinstance(event, CloseConnection):
                    await self._answer_close(event)
                    if done:
                        # The messages before the close were received: they go first.
                        pending.appendleft(event)
                        return done
                    raise SocketClosed(event.code, event.reason or "")

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close politely (a close frame, a short wait for the peer's), then drop the stream.
        Safe to call twice and while cancelled."""
        if self.closed:
            return
        with anyio.CancelScope(shield=True):
            try:
                if self._protocol.state == ConnectionState.OPEN:
                    closing = CloseConnection(code=code, reason=reason)
                    await self._write(self._protocol.send(closing))
                    with anyio.move_on_after(_CLOSE_WITHIN_S):
                        answered = False
                        while not answered:
                            answered = any(
                                isinstance(event, CloseConnection) for event in await self._events()
                            )
            except SocketError:
                pass
            finally:
                await self.abort()

    async def abort(self) -> None:
        """Drop the stream at once (no close frame); the file descriptor is freed here, on
        every path that ends the socket, not left to the garbage collector."""
        if self._aborted:
            return
        self.closed = self._aborted = True
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(OSError, anyio.BrokenResourceError, ssl.SSLError):
                await self._stream.aclose()

    async def _answer_close(self, event: CloseConnection) -> None:
        try:
            if self._protocol.state is ConnectionState.REMOTE_CLOSING:
                await self._write(self._protocol.send(event.response()))
        except (SocketError, LocalProtocolError):
            pass
        await self.abort()

    async def _write(self, data: bytes) -> None:
        try:
            await self._stream.send(data)
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            await self.abort()
            raise SocketError(f"{type(exc).__name__} while sending") from None
        self.bytes_sent += len(data)

    async def _events(self) -> list[Event]:
        """The events the next read completes (at least one; a read may complete none)."""
        while True:
            try:
                data = await self._stream.receive(_READ)
            except anyio.EndOfStream:
                await self.abort()
                raise SocketClosed(None, "") from None
            except (
                OSError,
                ssl.SSLError,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
            ) as exc:
                await self.abort()
                raise SocketError(f"{type(exc).__name__} while receiving") from None
            self.bytes_received += len(data)
            try:
                self._protocol.receive_data(data)
                events = list(self._protocol.events())
            except RemoteProtocolError as exc:
                await self.abort()
                raise SocketError(f"the server broke the WebSocket protocol ({exc})") from None
            if events:
                return events


def _headers(pairs: object) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in pairs or ():  # type: ignore[attr-defined]
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        found[key.lower()] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return found
