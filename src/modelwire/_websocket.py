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
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.events import Ping as PingEvent
from wsproto.extensions import PerMessageDeflate
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ._ws_frames import Close, FrameReader, Ping, ProtocolViolation

__all__ = [
    "Handshake",
    "HandshakeRejected",
    "SocketClosed",
    "SocketError",
    "WebSocket",
    "socket_url",
]

_READ = 64 * 1024
_HEAD_LIMIT = 64 * 1024
"""Bytes of a handshake answer read while looking for its head's end (h11 refuses a longer
head anyway)."""
_CLOSING_LIMIT = 1 << 20
"""The message cap while closing or before a turn: what arrives then is dropped."""
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
        "_frames",
        "_pending",
        "_protocol",
        "_stream",
        "_trailing",
        "bytes_received",
        "bytes_sent",
        "closed",
        "handshake",
        "opened_at",
    )

    def __init__(self, stream: anyio.abc.ByteStream, protocol: WSConnection) -> None:
        self._stream = stream
        self._protocol = protocol
        self._pending: deque[bytes | Ping | Close] = deque()
        self._frames: FrameReader | None = None
        self._trailing = b""
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
        # wsproto reads the response head only: frames that arrived with it are the frame
        # reader's (wsproto would otherwise parse them, at ten times the cost).
        head = b""
        while True:
            head += await self._read()
            cut = head.find(b"\r\n\r\n")
            if cut >= 0 or len(head) > _HEAD_LIMIT:
                break
        if cut < 0 or cut > _HEAD_LIMIT:
            raise SocketError(
                f"the server broke the WebSocket protocol (an answer head over "
                f"{_HEAD_LIMIT // 1024} KiB)"
            )
        head, trailing = head[: cut + 4], head[cut + 4 :]
        for event in self._handshake_events(head):
            if isinstance(event, AcceptConnection):
                offered = next(
                    (found for found in event.extensions if isinstance(found, PerMessageDeflate)),
                    None,
                )
                self._opened(
                    Handshake(_headers(event.extra_headers), offered is not None),
                    reset_each_message=bool(
                        offered is not None and offered.server_no_context_takeover
                    ),
                    trailing=trailing,
                )
                return
            if isinstance(event, RejectConnection):
                await self._rejected(event, trailing)
        raise SocketError("the server's answer to the upgrade is incomplete")

    def _opened(
        self, handshake: Handshake, *, reset_each_message: bool = False, trailing: bytes = b""
    ) -> None:
        """The upgrade is done: frames from here on are the frame reader's. (Benches call
        this on a socket whose ``protocol`` they took past the handshake themselves.)"""
        self.handshake = handshake
        self._frames = FrameReader(deflate=handshake.deflate, reset_each_message=reset_each_message)
        self._trailing = trailing

    def oversized(self) -> bool:
        """Whether a message received since the last call was over its limit (then cleared)."""
        frames = self._frames
        if frames is None or not frames.oversized:
            return False
        frames.oversized = False
        return True

    def _handshake_events(self, data: bytes) -> list[Event]:
        try:
            self._protocol.receive_data(data)
            return list(self._protocol.events())
        except RemoteProtocolError as exc:
            raise SocketError(f"the server broke the WebSocket protocol ({exc})") from None

    async def _rejected(self, event: RejectConnection, rest: bytes) -> None:
        """Raise ``HandshakeRejected`` with the refusal's body, read to its end or 16 KiB."""
        headers = _headers(event.headers)
        body: list[bytes] = []
        size = 0
        finished = not event.has_body
        data = rest
        while not finished and size < _REJECTION_BODY:
            for found in self._handshake_events(data) if data else []:
                if isinstance(found, RejectData):
                    body.append(found.data)
                    size += len(found.data)
                    finished = finished or found.body_finished
            if finished or size >= _REJECTION_BODY:
                break
            try:
                data = await self._read()
            except SocketClosed:
                break
        raise HandshakeRejected(event.status_code, headers, b"".join(body)[:_REJECTION_BODY])

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        if self.closed:
            raise SocketClosed(None, "the socket is closed")
        if self._protocol.state != ConnectionState.OPEN:
            raise SocketClosed(None, f"the socket is {self._protocol.state.name.lower()}")
        if self._trailing and self._frames is not None:
            # The server may have closed in the same read as its 101 (a policy rejection).
            trailing, self._trailing = self._trailing, b""
            try:
                messages = self._frames.feed(trailing, _CLOSING_LIMIT)
                self._pending.extend(_interleaved(messages, self._frames.controls))
            except ProtocolViolation as exc:
                await self._fail(1002)
                raise SocketError(f"the server broke the WebSocket protocol ({exc})") from None
        close = next((item for item in self._pending if isinstance(item, Close)), None)
        if close is not None:
            await self._answer_close(close)
            raise SocketClosed(close.code, close.reason)
        try:
            data = self._protocol.send(TextMessage(data=text))
        except LocalProtocolError:
            # Its message quotes the frame: the caller's content stays out of errors.
            raise SocketError("the socket cannot send in its current state") from None
        await self._write(data)

    async def receive(self, limit: int) -> list[bytes]:
        """The whole messages the next read completes, at least one, in order; pings are
        answered on the way. A batch, not one message, so a reply's events cost one read and
        one bound each time the socket is read, as SSE's do.

        A message longer than ``limit`` is not kept past ``limit + 1`` bytes: it comes out
        longer than ``limit``, and the caller fails the stream on it. Text is handed on as
        its UTF-8 bytes unchecked: the JSON decoder that reads every payload rejects invalid
        UTF-8 itself.
        """
        frames = self._frames
        if frames is None:
            raise SocketError("the socket was never opened")
        done: list[bytes] = []
        pending = self._pending
        while True:
            if not pending:
                if done:
                    return done
                if self._trailing:
                    data, self._trailing = self._trailing, b""
                else:
                    data = await self._read()
                try:
                    messages = frames.feed(data, limit)
                except ProtocolViolation as exc:
                    await self._fail(1002)
                    raise SocketError(f"the server broke the WebSocket protocol ({exc})") from None
                controls = frames.controls
                if not controls:
                    # The common case: messages only, handed on as the reader made them.
                    if done:
                        done += messages
                    else:
                        done = messages
                    continue
                pending.extend(_interleaved(messages, controls))
            while pending:
                item = pending.popleft()
                if type(item) is bytes:
                    done.append(item)
                elif isinstance(item, Ping):
                    await self._write(self._protocol.send(PingEvent(item.payload).response()))
                elif isinstance(item, Close):
                    await self._answer_close(item)
                    if done:
                        # The messages before the close were received: they go first.
                        pending.appendleft(item)
                        return done
                    raise SocketClosed(item.code, item.reason)

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
                        await self._await_close()
            except SocketError:
                pass
            finally:
                await self.abort()

    async def _await_close(self) -> None:
        """Read (and drop) what the server still sends until its close frame or the end."""
        frames = self._frames
        if frames is None:
            return
        while True:
            try:
                frames.feed(await self._read(), _CLOSING_LIMIT)
            except ProtocolViolation:
                return
            if any(isinstance(control, Close) for _, control in frames.controls):
                return

    async def abort(self) -> None:
        """Drop the stream at once (no close frame); the file descriptor is freed here, on
        every path that ends the socket, not left to the garbage collector."""
        if self._aborted:
            return
        self.closed = self._aborted = True
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(OSError, anyio.BrokenResourceError, ssl.SSLError):
                await self._stream.aclose()

    async def _answer_close(self, close: Close) -> None:
        """Answer the server's close frame with ours (RFC 6455 §5.5.1), then drop the stream."""
        if self._aborted:
            return
        try:
            if self._protocol.state == ConnectionState.OPEN:
                code = close.code if close.code is not None else 1000
                await self._write(self._protocol.send(CloseConnection(code=code)))
        except (SocketError, LocalProtocolError):
            pass
        await self.abort()

    async def _fail(self, code: int) -> None:
        """Close with ``code`` (best effort) after a violation, then drop the stream."""
        await self._answer_close(Close(code, ""))

    async def _write(self, data: bytes) -> None:
        try:
            await self._stream.send(data)
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            await self.abort()
            raise SocketError(f"{type(exc).__name__} while sending") from None
        self.bytes_sent += len(data)

    async def _read(self) -> bytes:
        """The next bytes the server sent; its stream ending is ``SocketClosed``."""
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
        return data


def _interleaved(
    messages: list[bytes], controls: list[tuple[int, Ping | Close]]
) -> list[bytes | Ping | Close]:
    """Messages and control frames back in the order they came."""
    out: list[bytes | Ping | Close] = []
    taken = 0
    for before, control in controls:
        out += messages[taken:before]
        out.append(control)
        taken = before
    out += messages[taken:]
    return out


def _headers(pairs: object) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in pairs or ():  # type: ignore[attr-defined]
        key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        found[key.lower()] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return found
