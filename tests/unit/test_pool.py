"""The connection pool: httpcore2's limits and reuse, at a cost per request that does not grow
with the connections it holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpcore2
import httpx
import pytest

from modelwire._http import PooledTransport
from modelwire._pool import Pool

REPLY = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


async def read_request(stream: anyio.abc.SocketStream) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()


@asynccontextmanager
async def server(
    after_reply: Callable[[], object] | None = None,
    *,
    gate: anyio.Event | None = None,
    close_after_reply: bool = False,
) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server answering ``REPLY`` to each request; yields its URL and the number of
    connections accepted (a one-item list). ``gate``: each reply waits for it to be set."""
    accepted = [0]

    async def serve(stream: anyio.abc.SocketStream) -> None:
        accepted[0] += 1
        async with stream:
            while True:
                try:
                    await read_request(stream)
                    if gate is not None:
                        with anyio.fail_after(5):
                            await gate.wait()
                    await stream.send(REPLY)
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return
                if close_after_reply:
                    return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}/", accepted
        finally:
            group.cancel_scope.cancel()


def client(
    max_connections: int = 4, max_keepalive: int = 4, keepalive_s: float = 30.0, pool_s: float = 5
) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive,
        keepalive_expiry=keepalive_s,
    )
    timeout = httpx.Timeout(5, pool=pool_s)
    return httpx.AsyncClient(transport=PooledTransport(limits), timeout=timeout)


def pool_of(http: httpx.AsyncClient) -> Pool:
    pool = http._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, Pool)
    return pool


def assert_clean(pool: Pool) -> None:
    assert not pool._requests
    assert all(c.is_idle() or c.is_closed() for c in pool.connections)


@pytest.mark.anyio
async def test_sequential_requests_reuse_one_connection(anyio_backend: str) -> None:
    async with server() as (url, accepted), client() as http:
        for _ in range(5):
            assert (await http.get(url)).content == b"ok"
        assert accepted == [1]
        assert_clean(pool_of(http))


@pytest.mark.anyio
async def test_requests_beyond_max_connections_wait_and_all_complete(anyio_backend: str) -> None:
    gate = anyio.Event()
    bodies: list[bytes] = []

    async def one(http: httpx.AsyncClient) -> None:
        bodies.append((await http.get(url)).content)

    async with server(gate=gate) as (url, accepted), client(max_connections=2) as http:
        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(one, http)
            with anyio.fail_after(5):
                while accepted[0] < 2:
                    await anyio.sleep(0.01)
            await anyio.sleep(0.05)
            assert accepted == [2]
            assert "4 queued" in repr(pool_of(http))
            gate.set()
        assert bodies == [b"ok"] * 6
        assert accepted == [2]
        assert len(pool_of(http).connections) == 2
        assert_clean(pool_of(http))


@pytest.mark.anyio
async def test_a_request_finding_the_pool_full_past_its_pool_timeout_is_a_pool_timeout(
    anyio_backend: str,
) -> None:
    gate = anyio.Event()
    async with (
        server(gate=gate) as (url, _),
        client(max_connections=1, pool_s=0.1) as http,
        anyio.create_task_group() as group,
    ):
        group.start_soon(http.get, url)
        await anyio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await http.get(url)
        gate.set()
    assert_clean(pool_of(http))
    assert "0 queued" in repr(pool_of(http))


@pytest.mark.anyio
async def test_a_cancelled_queued_request_leaves_nothing_behind(anyio_backend: str) -> None:
    gate = anyio.Event()
    async with server(gate=gate) as (url, accepted), client(max_connections=1) as http:
        async with anyio.create_task_group() as group:
            group.start_soon(http.get, url)
            await anyio.sleep(0.05)
            with anyio.move_on_after(0.05) as scope:
                await http.get(url)
            assert scope.cancelled_caught
            gate.set()
        assert (await http.get(url)).content == b"ok"
        assert accepted == [1]
        assert_clean(pool_of(http))
        assert "0 queued" in repr(pool_of(http))


@pytest.mark.anyio
async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    anyio_backend: str,
) -> None:
    async with server(close_after_reply=True) as (url, accepted), client() as http:
        for _ in range(3):
            assert (await http.get(url)).content == b"ok"
            await anyio.sleep(0.05)  # the server's close reaches the idle socket
        assert accepted == [3]
        assert len([c for c in pool_of(http).connections if not c.is_closed()]) <= 1


@pytest.mark.anyio
async def test_idle_connections_past_their_keepalive_are_closed(anyio_backend: str) -> None:
    async with server() as (url, accepted), client(keepalive_s=0.05) as http:
        await http.get(url)
        (first,) = pool_of(http).connections
        await anyio.sleep(0.1)
        await http.get(url)
        assert accepted == [2]
        assert first.is_closed()
        assert first not in pool_of(http).connections


@pytest.mark.anyio
async def test_only_max_keepalive_idle_connections_are_kept(anyio_backend: str) -> None:
    gate = anyio.Event()
    async with server(gate=gate) as (url, accepted), client(max_keepalive=1) as http:
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(http.get, url)
            with anyio.fail_after(5):
                while accepted[0] < 3:
                    await anyio.sleep(0.01)
            gate.set()
        assert len(pool_of(http).connections) == 1
        assert_clean(pool_of(http))


class _Stream:
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"ok"

    async def aclose(self) -> None:
        self._connection.busy = False


class FakeConnection(httpcore2.AsyncConnectionInterface):
    """A connected HTTP/1.1 connection that counts how often the pool looks at it."""

    def __init__(self, origin: httpcore2.Origin) -> None:
        self.origin = origin
        self.busy = False
        self.looks = 0

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        self.busy = True
        return httpcore2.Response(200, content=_Stream(self))

    def can_handle_request(self, origin: httpcore2.Origin) -> bool:
        return origin == self.origin

    def has_expired(self) -> bool:
        self.looks += 1
        return False

    def is_available(self) -> bool:
        return not self.busy

    def is_idle(self) -> bool:
        self.looks += 1
        return not self.busy

    def is_closed(self) -> bool:
        self.looks += 1
        return False

    def is_connected(self) -> bool:
        return True

    async def aclose(self) -> None:
        pass


class FakePool(Pool):
    def __init__(self) -> None:
        super().__init__(max_connections=None, max_keepalive_connections=None)
        self.made: list[FakeConnection] = []

    def create_connection(self, origin: httpcore2.Origin) -> httpcore2.AsyncConnectionInterface:
        connection = FakeConnection(origin)
        self.made.append(connection)
        return connection


@pytest.mark.anyio
async def test_a_request_looks_at_only_the_connection_it_uses(anyio_backend: str) -> None:
    pool = FakePool()
    request = httpcore2.Request("GET", "http://h.example/")
    opened = [await pool.handle_async_request(request) for _ in range(200)]
    for response in opened:
        await response.aclose()
    assert len(pool.made) == 200
    for connection in pool.made:
        connection.looks = 0
    response = await pool.handle_async_request(request)
    await response.aclose()
    looked = [c for c in pool.made if c.looks]
    assert len(looked) == 1
    assert looked[0].looks <= 4
    assert len(pool.made) == 200
    assert not pool._requests
