"""The HTTP connection pool under every provider client: httpx's API over httpcore2's pool.

modelwire speaks ``httpx`` (its ``Request``, ``Response``, ``Limits``, ``Timeout`` and
exceptions are what the transport, credentials, observers and tests use). Underneath,
``httpx.AsyncClient`` normally drives ``httpcore`` 1.0, whose pool rescans every connection on
every request start and end (O(connections²), and idle connections handed to two requests at
once): at 64 concurrent streams that bookkeeping costs more client CPU than the streams
themselves. ``httpcore2`` (the pool ``httpx2`` and the official SDKs run on) fixed it. This
module plugs it in as an ``httpx.AsyncBaseTransport``, so nothing else changes; switching HTTP
stacks later (``httpx2`` itself, another pool) touches this module only.

One change to httpcore2's HTTP/1.1 connection: a response body goes up one part per socket read
rather than one per HTTP chunk (see ``_CoalescingHTTP11Connection``). It relies on three
protected names of httpcore2's (``_receive_event``, ``_h11_state``, the connection's
``_connect``), hence the upper bound on its version; ``tests/unit/test_http.py`` pins the
behaviour.

Two more jobs sit here, below httpx, so the stream path and the body path get them alike:
the time to receive a response head is bounded as a whole (the read timeout, over every read
of the head, so a server trickling one header byte at a time cannot hold a request forever),
and a ``gzip`` or ``deflate`` body is decoded as it arrives (``ACCEPT_ENCODING`` is what
modelwire advertises: exactly what is decoded here), handed up with its
``content-encoding`` removed so httpx does not decode it again.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any

import anyio
import h11
import httpcore2
import httpx

from ._pool import Pool
from ._redact import MASK

__all__ = ["ACCEPT_ENCODING", "CorruptBody", "PooledTransport", "masking_request_log"]

ACCEPT_ENCODING = "gzip, deflate"
"""What every request advertises: the content codings ``_DecodedBody`` decodes, no others."""
_DECODED = frozenset({"gzip", "x-gzip", "deflate"})

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


class CorruptBody(httpx.RemoteProtocolError):
    """A compressed body that does not decode: a protocol failure of the server's, but one no
    retry mends (the transport does not retry it)."""


def _decompressor(coding: str) -> Any:
    """A fresh incremental decoder for one content coding of ``_DECODED``."""
    if coding == "deflate":
        return _Deflate()
    return zlib.decompressobj(zlib.MAX_WBITS | 16)


class _Deflate:
    """``deflate`` as servers send it: zlib-wrapped (RFC 9110), or raw (a common mistake);
    which one is decided by the first bytes."""

    __slots__ = ("_inner", "_probe")

    def __init__(self) -> None:
        self._inner: Any = zlib.decompressobj()
        self._probe = True

    @property
    def eof(self) -> bool:
        return bool(self._inner.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._inner.unused_data)

    def decompress(self, data: bytes) -> bytes:
        if self._probe:
            self._probe = False
            try:
                return bytes(self._inner.decompress(data))
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self._inner.decompress(data))

    def flush(self) -> bytes:
        return bytes(self._inner.flush())


class _DecodedBody(httpx.AsyncByteStream):
    """A body in one or more content codings, decoded part by part as the reads come in.

    Every part the socket delivers is decoded at once (nothing waits for more bytes), so an
    event stream stays as prompt compressed as plain. A gzip body may hold several members;
    a body that ends inside one, or is not the coding it claims, raises ``CorruptBody``.
    """

    __slots__ = ("_body", "_codings", "_decoders", "_ended", "_fed")

    def __init__(self, body: _Body, codings: list[str]) -> None:
        self._body = body
        self._codings = codings
        # Codings are listed in the order they were applied: decode the last one first.
        self._decoders = [_decompressor(coding) for coding in reversed(codings)]
        self._ended = False
        self._fed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        aiter(self._body)
        return self

    def _decode(self, data: bytes) -> bytes:
        try:
            for index, decoder in enumerate(self._decoders):
                out = decoder.decompress(data)
                while decoder.eof and decoder.unused_data:
                    # Another gzip member follows (or trailing garbage, refused below).
                    rest = decoder.unused_data
                    decoder = self._decoders[index] = _decompressor(self._codings[-1 - index])
                    out += decoder.decompress(rest)
                data = out
        except zlib.error as exc:
            raise CorruptBody(
                f"the response body is not valid {', '.join(self._codings)} ({exc})"
            ) from None
        return data

    async def __anext__(self) -> bytes:
        while not self._ended:
            try:
                part = await self._body.__anext__()
            except StopAsyncIteration:
                self._ended = True
                if not self._fed:
                    break  # an empty body (a 204, a HEAD) has no coding to finish
                tail = b"".join(decoder.flush() for decoder in self._decoders)
                if not all(decoder.eof for decoder in self._decoders):
                    raise CorruptBody(
                        f"the {', '.join(self._codings)} response body ended before its end"
                    ) from None
                if tail:
                    return tail
                break
            if not part:
                continue
            self._fed = True
            data = self._decode(part)
            if data:
                return data
        raise StopAsyncIteration

    async def aclose(self) -> None:
        await self._body.aclose()


def _decoded(
    headers: list[tuple[bytes, bytes]], body: _Body
) -> tuple[list[tuple[bytes, bytes]], httpx.AsyncByteStream]:
    """The headers and body to hand httpx: unchanged without a ``content-encoding`` (one scan
    of the headers is the whole cost), decoded when every coding is one modelwire decodes, and
    unchanged for any other coding (the transport refuses it with a clear error)."""
    codings: list[str] | None = None
    for name, value in headers:
        if name.lower() == b"content-encoding":
            found = [c.strip().lower() for c in value.decode("latin-1").split(",") if c.strip()]
            codings = (codings or []) + found
    if not codings:
        return headers, body
    codings = [c for c in codings if c != "identity"]
    if not all(c in _DECODED for c in codings):
        return headers, body
    kept = [
        (name, value)
        for name, value in headers
        if name.lower() not in (b"content-encoding", b"content-length")
    ]
    return kept, (_DecodedBody(body, codings) if codings else body)


class _CoalescingHTTP11Connection(httpcore2.AsyncHTTP11Connection):
    """An HTTP/1.1 connection whose body yields everything one socket read delivered at once.

    A streamed reply arrives as one HTTP chunk per SSE event (hundreds per reply), yet a
    socket read usually brings many of them. httpcore hands them up one by one, and every
    layer above (httpcore's generators, httpx's iterators, the transport, the decoder) then
    pays per chunk. Here the chunks h11 has already parsed from the buffered bytes are joined
    before they go up; nothing waits for more bytes to do it, so the first token is not delayed.

    The body is read by ``_BodyReader``, an iterator object, instead of httpcore's nested
    async generators: when a stream is abandoned, the event loop finalizes every generator
    left suspended, each in its own task, and httpcore's (an outer one closing an inner one
    that the loop is also closing) collide with "aclose(): asynchronous generator is already
    running". An object with an ``aclose`` method has nothing for the loop to finalize.

    The head is read under one deadline (``_receive_response_headers``): httpcore's read
    timeout restarts at every read, so without it a head trickled a byte at a time never ends.
    """

    async def _receive_response_headers(
        self, request: httpcore2.Request
    ) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]], bytes]:
        limit: float | None = request.extensions.get("timeout", {}).get("read")
        if limit is None:
            return await super()._receive_response_headers(request)
        with anyio.move_on_after(limit):
            return await super()._receive_response_headers(request)
        raise httpcore2.ReadTimeout(f"the response head was not complete within {limit:g} s")

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        response = await super().handle_async_request(request)
        # httpcore's byte stream (never iterated now) still does the closing bookkeeping.
        response.stream = _BodyReader(self, request, closer=response.stream)
        return response

    _body_failure: Exception | None = None
    """A framing error held back behind the good chunks parsed before it (``_next_body_part``)."""

    async def _next_body_part(self, timeout: float | None) -> tuple[bytes | None, bool]:
        """Everything h11 can parse from the next read (one read only when nothing is
        buffered), and whether the body ended with it; ``(None, True)`` at the end.

        A framing error found after good chunks of the same read (a bad chunk size following
        them) is held back until those chunks have gone up: what was received is delivered
        whatever the read boundaries were, and the error follows on the next call.
        """
        failure = self._body_failure
        if failure is not None:
            self._body_failure = None
            raise failure
        state = self._h11_state
        while True:
            event: object = await self._receive_event(timeout=timeout)
            if type(event) is h11.Data:
                parts = [event.data]
                while True:
                    try:
                        event = state.next_event()
                    except h11.RemoteProtocolError as exc:
                        self._body_failure = httpcore2.RemoteProtocolError(str(exc))
                        event = h11.NEED_DATA
                        break
                    if type(event) is not h11.Data:
                        break
                    parts.append(event.data)
                part = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
                return part, event is not h11.NEED_DATA
            if event is h11.PAUSED or isinstance(event, h11.EndOfMessage):
                return None, True


class _BodyReader:
    """A response body as an async iterator object (see ``_CoalescingHTTP11Connection``).

    On any failure mid-body the response is closed (so the connection is dropped rather than
    reused in an unknown state) before the error goes up, as httpcore's own reader does.
    """

    __slots__ = ("_closer", "_connection", "_done", "_timeout")

    def __init__(
        self, connection: _CoalescingHTTP11Connection, request: httpcore2.Request, closer: Any
    ) -> None:
        self._connection = connection
        self._closer = closer
        self._timeout: float | None = request.extensions.get("timeout", {}).get("read")
        self._done = False

    def __aiter__(self) -> _BodyReader:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            part, self._done = await self._connection._next_body_part(self._timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise
        if part is None:
            raise StopAsyncIteration
        return part

    async def aclose(self) -> None:
        await self._closer.aclose()


class _Connection(httpcore2.AsyncHTTPConnection):
    """httpcore2's connection, speaking HTTP/1.1 through ``_CoalescingHTTP11Connection``.

    The pool runs HTTP/1.1 only (no ``http2``), so what changes from httpcore2's own connection
    is which HTTP/1.1 class serves the socket once it is open, and that the lock is taken only
    to open it: the pool hands a connection to one request at a time, and the HTTP/1.1
    connection refuses a second one itself (``ConnectionNotAvailable``), so httpcore2's lock
    around every request guarded nothing and cost a lock round trip per request.
    """

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        connection = self._connection
        if connection is None:
            async with self._request_lock:
                if self._connection is None:
                    try:
                        stream = await self._connect(request)
                    except BaseException:
                        self._connect_failed = True
                        raise
                    self._connection = _CoalescingHTTP11Connection(
                        origin=self._origin, stream=stream, keepalive_expiry=self._keepalive_expiry
                    )
                connection = self._connection
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(
                f"a request to {request.url.origin} on a connection to {self._origin}"
            )
        return await connection.handle_async_request(request)


def _coalescing_fits() -> bool:
    """Whether this httpcore2 has the protected members the coalescing connection builds on.

    Checked once at import; a release that renamed them gets httpcore2's stock pool (correct,
    one part per HTTP chunk) instead of failing at the first request.
    """
    return all(
        callable(getattr(kind, name, None))
        for kind, name in (
            (httpcore2.AsyncHTTP11Connection, "_receive_event"),
            (httpcore2.AsyncHTTP11Connection, "_receive_response_headers"),
            (httpcore2.AsyncHTTPConnection, "_connect"),
        )
    )


class _Pool(Pool):
    """modelwire's pool (``_pool.Pool``: O(1) per request, however many connections are open),
    handing out coalescing connections (proxies are not configured)."""

    def create_connection(self, origin: httpcore2.Origin) -> httpcore2.AsyncConnectionInterface:
        return _Connection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            http1=True,
            http2=False,
            retries=self._retries,
            local_address=self._local_address,
            uds=self._uds,
            network_backend=self._network_backend,
            socket_options=self._socket_options,
        )


_COALESCING = _coalescing_fits()


class PooledTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncHTTPTransport`` (HTTP/1.1, no proxy) over ``httpcore2``'s pool.

    ``httpx.AsyncClient`` ignores its own ``limits`` when given a transport; the pool takes them.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        pool = _Pool if _COALESCING else httpcore2.AsyncConnectionPool
        self._pool = pool(
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
            if _COALESCING:
                response = await self._pool.handle_async_request(core)
            else:
                response = await _bounded_head(self._pool, core)
        headers, body = _decoded(response.headers, _Body(response.stream))  # type: ignore[arg-type]
        return httpx.Response(
            status_code=response.status,
            headers=headers,
            stream=body,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


async def _bounded_head(
    pool: httpcore2.AsyncConnectionPool, request: httpcore2.Request
) -> httpcore2.Response:
    """The stock pool's request, its head bounded as a whole: that pool's connections restart
    the read timeout at every read, so the whole exchange up to the head gets one deadline,
    the sum of the request's own timeouts (pool wait, connect, write, read)."""
    timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
    parts = [timeouts.get(name) for name in ("pool", "connect", "write", "read")]
    if timeouts.get("read") is None:
        return await pool.handle_async_request(request)
    limit = sum(part for part in parts if part is not None)
    with anyio.move_on_after(limit):
        return await pool.handle_async_request(request)
    raise httpcore2.ReadTimeout(f"the response head was not complete within {limit:g} s")


_MASK_QUERY = contextvars.ContextVar("modelwire_mask_httpx_query", default=False)


class _MaskedQueryLog(logging.Filter):
    """Masks the query values in httpx's own ``HTTP Request: ...`` lines for modelwire's requests.

    httpx logs each request's full URL at INFO, and a provider's ``query_params`` may hold a
    key (``?key=...``, ``?api-version=...&sig=...``). Only records logged while modelwire is
    sending (``masking_request_log``) are touched; other httpx users in the process keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _MASK_QUERY.get() and isinstance(record.args, tuple):
            record.args = tuple(
                _masked(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def _masked(url: httpx.URL) -> httpx.URL | str:
    """``url`` with each query value replaced by the mask (names kept as they were sent)."""
    if not url.query:
        return url
    names = (item.partition(b"=")[0].decode("ascii") for item in url.query.split(b"&"))
    query = "&".join(f"{name}={MASK}" for name in names)
    return f"{url.copy_with(query=None)}?{query}"


_HTTPX_LOGGER = logging.getLogger("httpx")
_FILTER = _MaskedQueryLog()


@contextlib.contextmanager
def masking_request_log() -> Iterator[None]:
    """Within this block, httpx's request log lines show query values masked."""
    if _FILTER not in _HTTPX_LOGGER.filters:
        _HTTPX_LOGGER.addFilter(_FILTER)
    token = _MASK_QUERY.set(True)
    try:
        yield
    finally:
        _MASK_QUERY.reset(token)
