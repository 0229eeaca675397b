"""The HTTP connection pool under every provider client: httpx's API over httpcore2's pool.

modelwire speaks ``httpx`` (its ``Request``, ``Response``, ``Limits``, ``Timeout`` and
exceptions are what the transport, credentials, observers and tests use). Underneath,
``httpx.AsyncClient`` normally drives ``httpcore`` 1.0, whose pool rescans every connection on
every request start and end (O(connections²), and idle connections handed to two requests at
once): at 64 concurrent streams that bookkeeping costs more client CPU than the streams
themselves. ``httpcore2`` (the pool ``httpx2`` and the official SDKs run on) fixed it. This
module plugs it in as an ``httpx.AsyncBaseTransport``, so nothing else changes; switching HTTP
stacks later (``httpx2`` itself, another pool) touches this module only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator

import httpcore2
import httpx

__all__ = ["PooledTransport"]

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
    short leaves no generator of ours for the event loop to finalize."""

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


class PooledTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncHTTPTransport`` (HTTP/1.1, no proxy) over ``httpcore2``'s pool.

    ``httpx.AsyncClient`` ignores its own ``limits`` when given a transport; the pool takes them.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
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
