"""The pooled HTTP transport: bodies as each socket read delivered them, errors as httpx's,
heads bounded as a whole, gzip and deflate decoded as they arrive."""

from __future__ import annotations

import gzip
import logging
import zlib
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


def head_with(*headers: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def gzip_members(*parts: bytes) -> list[bytes]:
    """Each part flushed on its own (decodable as it arrives), all in one gzip member."""
    encoder = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    out = [encoder.compress(part) + encoder.flush(zlib.Z_SYNC_FLUSH) for part in parts]
    out[-1] += encoder.flush()
    return out


@pytest.mark.anyio
@pytest.mark.parametrize("coalescing", [True, False])
async def test_a_head_trickled_a_byte_per_read_is_bounded_as_a_whole(
    anyio_backend: str, coalescing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_http, "_COALESCING", coalescing)

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        with anyio.move_on_after(5):
            for byte in HEAD:  # each byte well within the read timeout, the head never
                await stream.send(bytes([byte]))
                await anyio.sleep(0.05)

    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(0.2)
    async with (
        server(respond) as (url, _),
        httpx.AsyncClient(transport=PooledTransport(limits), timeout=timeout) as http,
    ):
        with anyio.fail_after(4), pytest.raises(httpx.ReadTimeout):
            await http.post(url + "/s", content=b"{}")


@pytest.mark.anyio
async def test_a_gzip_stream_is_decoded_part_by_part_without_its_encoding_header(
    anyio_backend: str,
) -> None:
    events = [b"data: %d\n\n" % n for n in range(3)]
    parts = gzip_members(*events)
    seen = anyio.Event()

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(
            head_with(b"content-encoding: gzip", b"transfer-encoding: chunked")
            + chunked(parts[0])[:-5]
        )
        with anyio.fail_after(5):
            await seen.wait()
        await stream.send(chunked(*parts[1:]))

    async with (
        server(respond) as (url, _),
        client() as http,
        http.stream("POST", url + "/s", content=b"{}") as response,
    ):
        assert "content-encoding" not in response.headers
        got = []
        async for part in response.aiter_raw():
            got.append(part)
            seen.set()
    assert got[0] == events[0]  # decoded before the rest was even sent
    assert b"".join(got) == b"".join(events)


@pytest.mark.anyio
@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_deflate_is_decoded_zlib_wrapped_or_raw(anyio_backend: str, wbits: int) -> None:
    body = b"hello deflate " * 100
    encoder = zlib.compressobj(wbits=wbits)
    encoded = encoder.compress(body) + encoder.flush()

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(
            head_with(b"content-encoding: deflate", b"content-length: %d" % len(encoded)) + encoded
        )

    async with server(respond) as (url, _), client() as http:
        response = await http.post(url + "/s", content=b"{}")
    assert response.content == body
    assert "content-length" not in response.headers


@pytest.mark.anyio
async def test_several_gzip_members_decode_as_one_body(anyio_backend: str) -> None:
    encoded = gzip.compress(b"first ") + gzip.compress(b"second")

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(
            head_with(b"content-encoding: gzip", b"content-length: %d" % len(encoded)) + encoded
        )

    async with server(respond) as (url, _), client() as http:
        assert (await http.post(url + "/s", content=b"{}")).content == b"first second"


@pytest.mark.anyio
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
async def test_a_corrupt_gzip_body_raises_corrupt_body(anyio_backend: str, damage: str) -> None:
    encoded = gzip.compress(b"x" * 5000)
    encoded = encoded[:-12] if damage == "truncated" else b"not gzip at all"

    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(
            head_with(b"content-encoding: gzip", b"content-length: %d" % len(encoded)) + encoded
        )

    async with server(respond) as (url, _), client() as http:
        with pytest.raises(_http.CorruptBody):
            await http.post(url + "/s", content=b"{}")


@pytest.mark.anyio
async def test_an_empty_body_with_an_encoding_is_empty(anyio_backend: str) -> None:
    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        await stream.send(head_with(b"content-encoding: gzip", b"content-length: 0"))

    async with server(respond) as (url, _), client() as http:
        assert (await http.post(url + "/s", content=b"{}")).content == b""


@pytest.mark.anyio
async def test_an_undecoded_encoding_is_left_as_is_and_plain_bodies_are_not_wrapped(
    anyio_backend: str,
) -> None:
    async def respond(stream: anyio.abc.SocketStream, index: int) -> None:
        coding = b"content-encoding: br" if index == 0 else b"x-plain: 1"
        await stream.send(head_with(coding, b"content-length: 4") + b"\x0b\x01\x80a")

    async with server(respond) as (url, _), client() as http:
        async with http.stream("POST", url + "/s", content=b"{}") as response:
            assert response.headers["content-encoding"] == "br"
            assert [part async for part in response.aiter_raw()] == [b"\x0b\x01\x80a"]
        async with http.stream("POST", url + "/s", content=b"{}") as response:
            assert response.stream._stream.__class__ is _http._Body  # type: ignore[attr-defined]
            assert await response.aread() == b"\x0b\x01\x80a"
