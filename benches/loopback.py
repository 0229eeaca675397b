"""Loopback helpers for the transport bench: the mock in its own process, and the pool experiment.

``MockServer`` runs ``modelwire mock`` in a child process, so the bench process holds only
clients and its CPU time is theirs alone. The child is this file run as a script: the same
command, with ``TCP_NODELAY`` set on the listening socket first. That guard dates from before
``modelwire.mock._server._bind`` created its socket with ``IPPROTO_TCP`` (asyncio turns Nagle off
only on sockets that say TCP, and with Nagle on a streamed reply stalls ~40 ms per request on the
client's delayed ACKs); it is now a no-op and ``python -m modelwire mock --port 0`` could replace
the launcher.

``Httpcore2Transport`` is the experiment that led to ``modelwire._http.PooledTransport``: an
``httpx.AsyncBaseTransport`` over ``httpcore2``'s pool, plugged in through ``Transport``'s
``http_transport`` seam. Now that the pooled transport is modelwire's default, the full-mode
experiment in ``test_transport.py`` skips itself.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpcore2
import httpx

__all__ = ["Httpcore2Transport", "MockServer"]

_STOP_TIMEOUT_S = 30.0


class MockServer:
    """``modelwire mock --port 0`` in a child process; ``with`` it, then use ``url``."""

    def __init__(self) -> None:
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        command = [sys.executable, str(Path(__file__).resolve()), "--port", "0"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self._process = process
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("listening on http://"):
            self._stop()
            raise RuntimeError(f"the mock did not start: {line!r}")
        self.url = line.removeprefix("listening on ")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# --- httpx's API over httpcore2's pool --------------------------------------------------------

_EXCEPTIONS = (
    "TimeoutException",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "NetworkError",
    "ConnectError",
    "ReadError",
    "WriteError",
    "ProxyError",
    "UnsupportedProtocol",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
)
_MAPPED: dict[type[Exception], type[httpx.TransportError]] = {
    getattr(httpcore2, name): getattr(httpx, name) for name in _EXCEPTIONS
}


def _translated(exc: Exception) -> Exception:
    """The httpx exception named like httpcore2's ``exc`` (the most specific), else ``exc``."""
    for kind in type(exc).__mro__:
        mapped = _MAPPED.get(kind)
        if mapped is not None:
            return mapped(str(exc))
    return exc


@contextlib.contextmanager
def _httpx_exceptions() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        translated = _translated(exc)
        if translated is exc:
            raise
        raise translated from exc


class _Body(httpx.AsyncByteStream):
    """The response body; an iterator object rather than an async generator, so a stream cut
    short leaves no generator here for the event loop to finalize."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream
        self._parts: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._parts = aiter(self._stream)
        return self

    async def __anext__(self) -> bytes:
        # Once per chunk: a bare ``try`` costs nothing until something is raised.
        assert self._parts is not None
        try:
            return await anext(self._parts)
        except StopAsyncIteration:
            raise
        except Exception as exc:
            translated = _translated(exc)
            if translated is exc:
                raise
            raise translated from exc

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _httpx_exceptions():
                await close()


class Httpcore2Transport(httpx.AsyncBaseTransport):
    """httpx's ``AsyncHTTPTransport`` (no proxy, HTTP/1.1) with httpcore2's pool underneath.

    ``httpx.AsyncClient`` ignores its own ``limits`` when given a transport, so the pool takes
    them here.
    """

    def __init__(self, limits: httpx.Limits, *, verify: Any = True) -> None:
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_exceptions():
            response = await self._pool.handle_async_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),  # type: ignore[arg-type]
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


# --- the child process --------------------------------------------------------------------------


def _serve(argv: list[str]) -> int:
    from modelwire.cli import main
    from modelwire.mock import _server

    bind = getattr(_server, "_bind", None)
    if bind is not None:

        def nodelay_bind(host: str, port: int) -> socket.socket:
            sock: socket.socket = bind(host, port)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock

        _server._bind = nodelay_bind
    return main(["mock", *argv])


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
