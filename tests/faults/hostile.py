"""A hostile HTTP/1.1 server on raw asyncio streams: it says exactly the bytes a test scripts.

Not the mock (no HTTP library anywhere): each test hands ``serve`` a handler that reads
requests and writes whatever bytes, delays, resets and half-answers the fault needs. The server
runs its own asyncio loop in a background thread, so tests on asyncio and trio alike drive the
client on their own loop while the server misbehaves on another. ``close`` cancels every
handler and closes every socket, within a bounded wait, so no test can leave it running.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

import msgspec

__all__ = ["Conn", "HostileServer", "chat_body", "chat_stream", "chunk", "head", "sse"]

Handler = Callable[["Conn"], Awaitable[None]]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}
_MAX_HEAD = 64 * 1024
_CLOSING_TURNS = 20
_CLOSE_WAIT_S = 5.0


def head(
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
    length: int | None = None,
    content_type: str | None = "text/event-stream",
) -> bytes:
    """A response head; ``chunked`` adds ``transfer-encoding: chunked``, ``length`` a
    ``content-length``; neither means the body runs to the connection's end."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    if content_type is not None:
        lines.append(f"content-type: {content_type}")
    if chunked:
        lines.append("transfer-encoding: chunked")
    if length is not None:
        lines.append(f"content-length: {length}")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    """``data`` as one HTTP chunk (``b""`` gives the terminating chunk)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse(*payloads: object) -> bytes:
    """Server-sent events, one ``data:`` block per payload (str/bytes as-is, else JSON)."""
    out = []
    for payload in payloads:
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = msgspec.json.encode(payload)
        out.append(b"data: " + data + b"\n\n")
    return b"".join(out)


def chat_stream(*texts: str, done: bool = True) -> bytes:
    """A chat completions SSE body: one content delta per text, a ``stop`` chunk, ``[DONE]``."""
    base = {"id": "chatcmpl-h", "object": "chat.completion.chunk", "model": "hostile-model"}
    chunks: list[object] = [
        {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        for text in texts
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if done:
        chunks.append("[DONE]")
    return sse(*chunks)


def chat_body(text: str) -> bytes:
    """A non-streamed chat completion answering ``text``."""
    return msgspec.json.encode(
        {
            "id": "chatcmpl-h",
            "object": "chat.completion",
            "model": "hostile-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
    )


class Conn:
    """One accepted connection, used by a handler on the server's loop."""

    def __init__(
        self, server: HostileServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._server = server
        self.reader = reader
        self.writer = writer
        self.index = server.connections - 1
        """This connection's number, from 0, in accept order."""
        self.requests: list[bytes] = []
        """Every request read on this connection (head and body)."""

    async def read_request(self) -> bytes | None:
        """One request (head, then a ``content-length`` body); ``None`` at the client's EOF."""
        try:
            raw_head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        self._server.requests += 1
        length = 0
        for line in raw_head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        try:
            body = await self.reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        request = raw_head + body
        self.requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        """Write ``data`` and wait until the socket took it."""
        self.writer.write(data)
        await self.writer.drain()
        self._server.bytes_sent += len(data)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or end the handler (``ConnectionResetError``) as soon as the
        client closes the connection, as a real server notices it."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            if self.reader.at_eof() or self.writer.transport.is_closing():
                raise ConnectionResetError("the client closed the connection")
            await asyncio.sleep(min(left, 0.01))

    async def trickle(self, data: bytes, *, every: float, size: int = 1) -> None:
        """``data``, ``size`` bytes every ``every`` seconds."""
        for start in range(0, len(data), size):
            await self.send(data[start : start + size])
            await asyncio.sleep(every)

    def reset(self) -> None:
        """Abortive close: the client sees a connection reset (RST), not an orderly end."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close(self) -> None:
        """Orderly close (FIN)."""
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def _hold_until_eof(conn: Conn) -> None:
    """What a handler that returned leaves: the connection open until the client closes it."""
    try:
        while await conn.reader.read(65536):
            pass
    except ConnectionError:
        pass


class HostileServer:
    """A loopback HTTP/1.1 server answering each connection with the handler set by ``serve``.

    Started on construction (over TLS with ``tls``, a server context; then ``connections``
    counts completed handshakes); ``close`` stops it. Counters are updated on the server's
    thread and read from the test's (plain ints: reading one is atomic).
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self.requests = 0
        self.connections = 0
        self.open_connections = 0
        self.bytes_sent = 0
        """Bytes every ``Conn.send`` handed to the socket (drained), all connections."""
        self._handler: Handler = _hold_until_eof
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._transports: set[asyncio.BaseTransport] = set()
        """Every accepted connection's transport, from the moment it exists: a handler task
        cancelled before its first step never runs its ``finally``, so its socket would
        otherwise outlive the server."""
        self._loop = asyncio.new_event_loop()
        self._closed = False
        started: Future[asyncio.Server] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="hostile-server", daemon=True
        )
        self._thread.start()
        self._server = started.result(timeout=_CLOSE_WAIT_S)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    def __repr__(self) -> str:
        return f"HostileServer({self.url}, {self.connections} connection(s))"

    def _run(self, started: Future[asyncio.Server]) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            # TLS is started by each handler's task (``_accept``), not by the listener, so a
            # connection whose handshake fails is still one this server tracks and closes.
            loop = asyncio.get_running_loop()

            def protocol() -> asyncio.StreamReaderProtocol:
                reader = asyncio.StreamReader(limit=_MAX_HEAD, loop=loop)
                return _TrackedProtocol(self._transports, reader, self._accept, loop=loop)

            server = await loop.create_server(protocol, "127.0.0.1", 0)
            started.set_result(server)

        try:
            self._loop.run_until_complete(start())
        except BaseException as exc:
            started.set_exception(exc)
            return
        self._loop.run_forever()
        # A connection accepted while ``close`` ran has a handler task that started after
        # ``stop`` cancelled the others (and may sit in a TLS handshake): cancel whatever is
        # left, so its ``finally`` aborts its transport, before the loop closes.
        left = asyncio.all_tasks(self._loop)
        for task in left:
            task.cancel()
        if left:
            self._loop.run_until_complete(asyncio.wait(left, timeout=_CLOSE_WAIT_S))
        for transport in list(self._transports):
            transport.abort()  # type: ignore[attr-defined]
        # An aborted transport frees its socket in callbacks the loop schedules for its next
        # turns (a failed TLS handshake takes several); give them before the loop closes.
        for _ in range(_CLOSING_TURNS):
            self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            if self._tls is not None:
                await writer.start_tls(self._tls)
            self.connections += 1
            conn = Conn(self, reader, writer)
            await self._handler(conn)
            await _hold_until_eof(conn)
        except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            self._writers.discard(writer)
            writer.transport.abort()
            self.open_connections -= 1

    def serve(self, handler: Handler) -> None:
        """Answer every connection accepted from now on with ``handler``."""
        self._handler = handler

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on the server's loop and return its result (for inspecting state)."""
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=_CLOSE_WAIT_S)

    def close(self) -> None:
        """Cancel every handler, close every socket and the listener, stop the thread."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            for transport in list(self._transports):
                transport.abort()  # type: ignore[attr-defined]
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=_CLOSE_WAIT_S)
            for _ in range(_CLOSING_TURNS):  # the aborted transports' connection_lost callbacks
                await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=_CLOSE_WAIT_S * 2)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_CLOSE_WAIT_S)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _TrackedProtocol(asyncio.StreamReaderProtocol):
    """``asyncio.start_server``'s protocol, keeping each transport in ``tracked`` while it is
    open (see ``HostileServer._transports``)."""

    def __init__(self, tracked: set[asyncio.BaseTransport], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracked = tracked
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._tracked.add(transport)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._tracked.discard(self._transport)
        super().connection_lost(exc)
