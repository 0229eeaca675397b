"""A connection pool whose cost per request does not grow with the connections it holds.

httpcore2's ``AsyncConnectionPool`` re-plans the whole pool on every request start and every
response close (``_assign_requests_to_connections``): it walks every connection, asks each
idle one ``has_expired()`` (which polls its socket, through anyio's ``extra_attributes``
building a dict of every socket attribute, ``getpeername`` included), and removes the request
from a list. With n connections open that is O(n) work per request and O(n²) per wave of n
concurrent streams: 5,000 streams over 5,000 connections cost ~2.4x the client CPU per stream
of 1,000 (issue 12, point 26; ``benches/test_scale.py``).

Here each request touches only what it uses:

- idle connections are kept per origin, most recently released first; a request takes the
  newest (the likeliest still open) and probes only that one (``has_expired()``, once);
- a request that finds neither an idle connection nor room for a new one waits in a FIFO
  queue; a released connection (or the room a closed one leaves) goes to the first waiter;
- connections idle past ``keepalive_expiry`` are closed oldest first, by a check of the
  release time kept here (no syscall), on each acquire and release;
- the in-flight requests are a dict (``_requests``: O(1) to add and remove; empty when every
  response was closed, which is what tests check for a clean pool).

Limits keep httpcore2's meaning: ``max_connections`` counts every connection (connecting,
busy, idle), ``max_keepalive_connections`` the idle ones (the oldest idle one closes first),
and at ``max_connections`` an idle connection to another origin is closed to make room.
HTTP/1.1 only (no HTTP/2 multiplexing, no proxies): what ``PooledTransport`` runs.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import anyio
import httpcore2

__all__ = ["Pool"]

_Key = tuple[bytes, bytes, int]
"""An origin as a dict key (``httpcore2.Origin`` has ``__eq__`` but no ``__hash__``)."""
_Connection = httpcore2.AsyncConnectionInterface


def _key(origin: httpcore2.Origin) -> _Key:
    return (origin.scheme, origin.host, origin.port)


class _Waiter:
    """A request queued for a connection; ``connection`` is set before ``event`` is."""

    __slots__ = ("abandoned", "connection", "event", "key", "origin")

    def __init__(self, key: _Key, origin: httpcore2.Origin) -> None:
        self.key = key
        self.origin = origin
        self.event = anyio.Event()
        self.connection: _Connection | None = None
        self.abandoned = False


class Pool(httpcore2.AsyncConnectionPool):
    """httpcore2's pool API (limits, ``create_connection``, ``connections``, ``aclose``), with
    O(1) bookkeeping per request start and end instead of a pass over the pool."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._all: dict[_Connection, _Key] = {}
        """Every connection the pool holds (connecting, busy or idle), with its origin."""
        self._idle: collections.OrderedDict[_Connection, tuple[_Key, float]] = (
            collections.OrderedDict()
        )
        """Idle connections, oldest release first, with their origin and expiry time."""
        self._idle_by_key: dict[_Key, dict[_Connection, None]] = {}
        """The same connections per origin, most recent release last."""
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._requests: dict[object, None] = {}  # type: ignore[assignment]
        """One token per request from its start until its response is closed (or it fails)."""

    @property
    def connections(self) -> list[_Connection]:
        return list(self._all)

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        scheme = request.url.scheme.decode()
        if scheme == "":
            raise httpcore2.UnsupportedProtocol(
                "Request URL is missing an 'http://' or 'https://' protocol."
            )
        if scheme not in ("http", "https"):
            raise httpcore2.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'."
            )
        timeout = request.extensions.get("timeout", {}).get("pool")
        origin = request.url.origin
        token = object()
        self._requests[token] = None
        try:
            while True:
                connection = await self._acquire(origin, timeout)
                try:
                    response = await connection.handle_async_request(request)
                except httpcore2.ConnectionNotAvailable:
                    # Taken idle, found unusable when sending: drop it and try again.
                    await self._close(self._release(connection))
                    continue
                except BaseException:
                    await self._close(self._release(connection))
                    raise
                break
        except BaseException:
            self._requests.pop(token, None)
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpcore2.Response(
            status=response.status,
            headers=response.headers,
            content=_PoolStream(response.stream, self, connection, token),
            extensions=response.extensions,
        )

    async def _acquire(self, origin: httpcore2.Origin, timeout: float | None) -> _Connection:
        """An idle connection to ``origin``, a new one, or the first released after queueing."""
        key = _key(origin)
        closing: list[_Connection] = []
        try:
            if self._first_waiter() is None:
                connection = self._take(key, origin, closing)
                if connection is not None:
                    return connection
        finally:
            await self._close(closing)
        waiter = _Waiter(key, origin)
        self._waiters.append(waiter)
        try:
            with anyio.fail_after(timeout):
                await waiter.event.wait()
        except BaseException as exc:
            waiter.abandoned = True
            if waiter.connection is not None:
                # Handed a connection as this request was cancelled: pass it on.
                await self._close(self._release(waiter.connection))
            if isinstance(exc, TimeoutError):
                raise httpcore2.PoolTimeout(
                    f"no connection became available within the pool timeout ({timeout} s)"
                ) from None
            raise
        assert waiter.connection is not None
        return waiter.connection

    def _take(
        self, key: _Key, origin: httpcore2.Origin, closing: list[_Connection]
    ) -> _Connection | None:
        """The newest usable idle connection to ``key``, else a new connection if there is
        room (closing an idle one to another origin to make it), else ``None``."""
        self._expire(closing)
        idle = self._idle_by_key.get(key)
        while idle:
            connection, _ = idle.popitem()
            del self._idle[connection]
            # The one socket probe per reuse: a server may have closed it while idle.
            if connection.has_expired() or not connection.is_available():
                del self._all[connection]
                closing.append(connection)
                continue
            return connection
        if len(self._all) >= self._max_connections:
            if not self._idle:
                return None
            closing.append(self._evict_oldest())
        return self._new(origin)

    def _new(self, origin: httpcore2.Origin) -> _Connection:
        connection = self.create_connection(origin)
        self._all[connection] = _key(origin)
        return connection

    def _evict_oldest(self) -> _Connection:
        connection, (key, _) = self._idle.popitem(last=False)
        self._forget_idle(connection, key)
        del self._all[connection]
        return connection

    def _forget_idle(self, connection: _Connection, key: _Key) -> None:
        idle = self._idle_by_key[key]
        del idle[connection]
        if not idle:
            del self._idle_by_key[key]

    def _expire(self, closing: list[_Connection]) -> None:
        """Close the idle connections whose keep-alive ran out, oldest first."""
        if not self._idle or self._keepalive_expiry is None:
            return
        now = time.monotonic()
        idle = self._idle
        while idle:
            _, expires = idle[next(iter(idle))]
            if expires > now:
                return
            closing.append(self._evict_oldest())

    def _first_waiter(self) -> _Waiter | None:
        """The first queued request still waiting (cancelled ones are dropped here)."""
        waiters = self._waiters
        while waiters and waiters[0].abandoned:
            waiters.popleft()
        return waiters[0] if waiters else None

    def _release(self, connection: _Connection) -> list[_Connection]:
        """Take ``connection`` back from a finished request; what to close is returned."""
        closing: list[_Connection] = []
        key = self._all.get(connection)
        if key is None:
            return closing  # the pool was closed meanwhile
        reusable = connection.is_idle() and connection.is_connected()
        if not reusable:
            del self._all[connection]
            if connection.is_connected():
                closing.append(connection)  # a state no next request can use
        waiter = self._first_waiter()
        if waiter is not None:
            if reusable and waiter.key == key:
                self._hand(waiter, connection)
                return closing
            if reusable:
                del self._all[connection]
                closing.append(connection)
            if len(self._all) < self._max_connections:
                self._hand(waiter, self._new(waiter.origin))
            return closing
        if reusable:
            expires = (
                time.monotonic() + self._keepalive_expiry
                if self._keepalive_expiry is not None
                else float("inf")
            )
            self._idle[connection] = (key, expires)
            self._idle_by_key.setdefault(key, {})[connection] = None
            while len(self._idle) > self._max_keepalive_connections:
                closing.append(self._evict_oldest())
            self._expire(closing)
        return closing

    def _hand(self, waiter: _Waiter, connection: _Connection) -> None:
        self._waiters.popleft()
        waiter.connection = connection
        waiter.event.set()

    def _finish(self, token: object, connection: _Connection) -> list[_Connection]:
        self._requests.pop(token, None)
        return self._release(connection)

    async def _close(self, closing: list[_Connection]) -> None:
        if not closing:
            return
        with anyio.CancelScope(shield=True):
            for connection in closing:
                # A connection being discarded: an error closing its socket changes nothing.
                with contextlib.suppress(Exception):
                    await connection.aclose()

    async def aclose(self) -> None:
        closing = list(self._all)
        self._all.clear()
        self._idle.clear()
        self._idle_by_key.clear()
        await self._close(closing)

    def __repr__(self) -> str:
        idle = len(self._idle)
        waiting = sum(not w.abandoned for w in self._waiters)
        return (
            f"<{type(self).__name__} [Requests: {len(self._requests)} in flight, {waiting} "
            f"queued | Connections: {len(self._all) - idle} active, {idle} idle]>"
        )


class _PoolStream:
    """The response body; closing it gives the connection back to the pool. An iterator
    object (its ``__aiter__`` is the connection's own body iterator), so the pool adds no
    layer per chunk and leaves no async generator for the event loop to finalize."""

    __slots__ = ("_closed", "_connection", "_pool", "_stream", "_token")

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        pool: Pool,
        connection: _Connection,
        token: object,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._token = token
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return aiter(self._stream)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()
        finally:
            pool = self._pool
            await pool._close(pool._finish(self._token, self._connection))
