"""The pooled HTTP transport: bodies as each socket read delivered them, errors as httpx's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpcore2
import httpx
import pytest

from modelwire import _http
from modelwire._http import PooledTransport


def chunked(*parts: bytes) -> bytes:
    """``parts`` in chunked transfer coding, terminating chunk included."""
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


async def read_request(stream: anyio.abc.SocketStream) -> bytes:
    """One request's head and its ``content-length`` body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await stream.receive()
    return head


@asynccontextmanager
async def server(
    respond: Callable[[anyio.abc.SocketStream, int], object],
) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback HTTP/1.1 server answering each request on a connection with ``respond``.

    Yields its base URL and the number of connections accepted so far (a one-item list).
    """
    accepted = [0]

    async def serve(stream: anyio.abc.SocketStream) -> None:
        accepted[0] += 1
        async with stream:
            index = 0
            while True:
                try:
                    await read_request(stream)
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return
                await respond(stream, index)  # type: ignore[misc]
                index += 1

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}", accepted
        finally:
            group.cancel_scope.cancel()


def client() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=30)
    return httpx.AsyncClient(transport=PooledTransport(limits), timeout=5)


@pytest.mark.anyio
async def test_chunks_that_arrive_together_come_up_as_one_part(anyio_backend: str) -> None:
    events = [b"data: %d\n\n" % n for n in range(200)]

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(HEAD + chunked(*events))

    async with (
        server(respond) as (url, _),
        client() as http,
        http.stream("POST", url + "/v1/chat/completions", content=b"{}") as response,
    ):
        parts = [part async for part in response.aiter_raw()]
    assert b"".join(parts) == b"".join(events)
    assert len(parts) < len(events) / 10


@pytest.mark.anyio
async def test_a_part_goes_up_without_waiting_for_later_chunks(anyio_backend: str) -> None:
    first_seen = anyio.Event()

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(HEAD + b"a\r\ndata: one\n\r\n")
        with anyio.fail_after(5):
            await first_seen.wait()
        await stream.send(b"a\r\ndata: two\n\r\n0\r\n\r\n")

    async with (
        server(respond) as (url, _),
        client() as http,
        http.stream("POST", url + "/s", content=b"{}") as response,
    ):
        parts = []
        async for part in response.aiter_raw():
            parts.append(part)
            first_seen.set()
    assert parts == [b"data: one\n", b"data: two\n"]


@pytest.mark.anyio
async def test_a_chunk_split_across_reads_is_joined(anyio_backend: str) -> None:
    body = chunked(b"x" * 3000, b"y" * 5)

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(HEAD + body[:7])
        await anyio.sleep(0.01)
        await stream.send(body[7:1500])
        await anyio.sleep(0.01)
        await stream.send(body[1500:])

    async with server(respond) as (url, _), client() as http:
        response = await http.post(url + "/s", content=b"{}")
    assert response.content == b"x" * 3000 + b"y" * 5


@pytest.mark.anyio
async def test_the_connection_is_reused_after_a_coalesced_body(anyio_backend: str) -> None:
    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        if index % 2:
            reply = b"reply %d" % index
            await stream.send(
                b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(reply), reply)
            )
        else:
            await stream.send(HEAD + chunked(b"data: a\n\n", b"data: b\n\n"))

    async with server(respond) as (url, accepted), client() as http:
        bodies = [(await http.post(url + "/s", content=b"{}")).content for _ in range(4)]
    stream = b"data: a\n\ndata: b\n\n"
    assert bodies == [stream, b"reply 1", stream, b"reply 3"]
    assert accepted == [1]


@pytest.mark.anyio
async def test_malformed_chunk_framing_is_an_httpx_protocol_error(anyio_backend: str) -> None:
    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(HEAD + b"5\r\nhello\r\nzz\r\nnope\r\n")

    async with server(respond) as (url, _), client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(url + "/s", content=b"{}")


@pytest.mark.anyio
async def test_a_connection_closed_mid_body_is_an_httpx_protocol_error(anyio_backend: str) -> None:
    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(HEAD + b"5\r\nhello\r\n5\r\nwor")
        await stream.aclose()

    async with server(respond) as (url, _), client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(url + "/s", content=b"{}")


@pytest.mark.anyio
async def test_a_read_timeout_mid_body_is_an_httpx_read_timeout(anyio_backend: str) -> None:
    release = anyio.Event()

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(HEAD + b"5\r\nhello\r\n")
        with anyio.move_on_after(5):
            await release.wait()

    async def read_all(http: httpx.AsyncClient, url: str) -> None:
        async with http.stream("POST", url + "/s", content=b"{}", timeout=0.2) as response:
            async for _ in response.aiter_raw():
                pass

    async with server(respond) as (url, _), client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await read_all(http, url)
        release.set()


def test_this_httpcore2_has_what_the_coalescing_connection_builds_on() -> None:
    assert _http._coalescing_fits()
    pool = PooledTransport(httpx.Limits())._pool
    assert type(pool) is _http._Pool


def test_a_httpcore2_without_those_members_gets_the_stock_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(httpcore2.AsyncHTTP11Connection, "_receive_event")
    assert not _http._coalescing_fits()
    monkeypatch.setattr(_http, "_COALESCING", _http._coalescing_fits())
    pool = PooledTransport(httpx.Limits())._pool
    assert type(pool) is httpcore2.AsyncConnectionPool


def test_httpx_request_lines_are_masked_only_inside_masking_request_log() -> None:
    url = httpx.URL("https://h.example/v1/x?api-version=1&sig=s3cr3t")

    def shown() -> str:
        record = logging.LogRecord("httpx", logging.INFO, "", 0, "%s %s", ("POST", url), None)
        assert _http._FILTER.filter(record)
        return record.getMessage()

    assert shown() == f"POST {url}"
    with _http.masking_request_log():
        assert shown() == "POST https://h.example/v1/x?api-version=****&sig=****"
    assert shown() == f"POST {url}"
