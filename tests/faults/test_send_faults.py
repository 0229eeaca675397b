"""Faults on the request/response path (``send``, ``complete``), thrown by the hostile server.

Each test asserts the outcome (the exact error, or the reply), a generous wall-clock bound
(``LIVENESS_S`` against configured bounds of a fraction of a second), how many requests the
server saw, and that the client's pool holds nothing afterwards.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from modelwire import Client, Completed, Response, TextDelta, user
from modelwire.errors import (
    AuthError,
    ConfigError,
    ConnectionFailedError,
    DeadlineExceeded,
    ProviderError,
    ResponseTimeout,
    StreamIdleTimeout,
    UnusableResponseError,
)
from modelwire.registry import Provider
from modelwire.transport import RetryPolicy, Transport

from .conftest import KEY, LIVENESS_S, PROVIDER, Sleeps, hostile_client, pool_is_clean
from .hostile import Conn, HostileServer, chat_body, chat_stream, chunk, head

HI: dict[str, Any] = {"model": "hostile-model", "messages": (user("hi"),)}
JSON = "application/json"
MIB = 1024 * 1024


def json_reply(body: bytes, **headers: str) -> bytes:
    """A 200 JSON reply with ``body``."""
    return head(content_type=JSON, length=len(body), headers=headers) + body


async def stall(conn: Conn) -> None:
    """Read the request, then answer nothing."""
    await conn.read_request()
    await conn.sleep(60)


async def polite(conn: Conn) -> None:
    """Answer every request on the connection properly."""
    while (request := await conn.read_request()) is not None:
        if b'"stream":true' in request:
            await conn.send(head(chunked=True) + chunk(chat_stream("hel", "lo")) + chunk(b""))
        else:
            await conn.send(json_reply(chat_body("hello")))


def first_then(first: Callable[[Conn], Awaitable[None]]) -> Callable[[Conn], Awaitable[None]]:
    """``first`` on the first connection, ``polite`` on every later one."""

    async def handler(conn: Conn) -> None:
        await (first(conn) if conn.index == 0 else polite(conn))

    return handler


async def call(client: Client, *, stream: bool) -> object:
    """One call, streamed (its text) or not (its ``Response``)."""
    return await text_of(client) if stream else await client.complete(PROVIDER, **HI)


async def text_of(client: Client) -> str:
    events = [event async for event in client.stream(PROVIDER, **HI)]
    assert isinstance(events[-1], Completed), events[-1]
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def complete_by(client: Client, limit_s: float) -> Response:
    """``complete`` with a transport deadline ``limit_s`` from now."""
    provider, credentials, call, path, body = client._prepare(
        PROVIDER, None, dict(HI), stream=False
    )
    call.deadline_s = limit_s
    deadline = anyio.current_time() + limit_s
    return await client.transport.complete(
        call, provider, credentials, path, body, deadline=deadline
    )


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for the server's side to catch up with what the client did."""
    with anyio.fail_after(LIVENESS_S):
        while not condition():
            await anyio.sleep(0.01)


# 1. complete() fails typed, bounded, and leaves a clean pool.


async def test_complete_reset_mid_body_retries_then_raises_connection_failed(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def cut(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(head(content_type=JSON, length=1000) + b'{"id": "chatcmpl-h", ')
        await conn.sleep(0.05)
        conn.reset()

    hostile.serve(cut)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(ConnectionFailedError, match="mid-body"):
                await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
    assert hostile.requests == 2


async def test_complete_with_a_body_cut_once_is_retried_and_succeeds(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def cut(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(head(content_type=JSON, length=1000) + b'{"id": ')
        await conn.sleep(0.05)
        conn.reset()

    hostile.serve(first_then(cut))
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            response = await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
    assert response.text == "hello"
    assert hostile.requests == 2


async def test_complete_stalled_before_headers_raises_response_timeout(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(stall)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(ResponseTimeout, match="no response headers") as caught:
                await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.attempts == 2
    assert hostile.requests == 2


async def test_complete_stalled_mid_body_raises_response_timeout(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def half(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(head(content_type=JSON, length=1000) + b'{"id": ')
        await conn.sleep(60)

    hostile.serve(half)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(ResponseTimeout, match="mid-body"):
                await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
    assert hostile.requests == 2


@pytest.mark.parametrize("phase", ["head", "body"])
async def test_a_cancelled_complete_leaves_a_clean_pool(
    hostile: HostileServer, anyio_backend: str, phase: str
) -> None:
    async def half(conn: Conn) -> None:
        await conn.read_request()
        if phase == "body":
            await conn.send(head(content_type=JSON, length=1000) + b'{"id": ')
        await conn.sleep(60)

    hostile.serve(half)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile, stream_idle_timeout_ms=10_000) as client:
            with anyio.move_on_after(0.3) as scope:
                await client.complete(PROVIDER, **HI)
            assert scope.cancelled_caught
            pool_is_clean(client)
            await until(lambda: hostile.open_connections == 0)
    assert hostile.requests == 1


# 2. Compressed bodies: what is advertised is decoded, on streams and bodies alike.


def gzip_parts(*parts: bytes) -> list[bytes]:
    """``parts`` compressed as one gzip member, each flushed so it decodes on arrival."""
    encoder = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    out = [encoder.compress(part) + encoder.flush(zlib.Z_SYNC_FLUSH) for part in parts]
    out[-1] += encoder.flush()
    return out


def deflated(data: bytes, *, raw: bool) -> bytes:
    encoder = zlib.compressobj(wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return encoder.compress(data) + encoder.flush()


def accept_encoding(request: bytes) -> str:
    for line in request.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"accept-encoding":
            return value.strip().decode()
    return ""


async def test_a_gzip_event_stream_is_decoded_as_it_arrives(
    hostile: HostileServer, anyio_backend: str
) -> None:
    seen: list[bytes] = []

    async def gzipped(conn: Conn) -> None:
        request = await conn.read_request()
        assert request is not None
        seen.append(request)
        await conn.send(head(chunked=True, headers={"content-encoding": "gzip"}))
        events = chat_stream("hel", "lo").split(b"\n\n")
        for part in gzip_parts(*(event + b"\n\n" for event in events if event)):
            await conn.send(chunk(part))
            await conn.sleep(0.01)
        await conn.send(chunk(b""))

    hostile.serve(gzipped)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            assert await text_of(client) == "hello"
            pool_is_clean(client)
    assert accept_encoding(seen[0]) == "gzip, deflate"
    assert hostile.requests == 1


@pytest.mark.parametrize("coding", ["gzip", "deflate-zlib", "deflate-raw"])
async def test_a_compressed_json_body_is_decoded(
    hostile: HostileServer, anyio_backend: str, coding: str
) -> None:
    body = chat_body("hello" * 1000)
    if coding == "gzip":
        encoded, name = b"".join(gzip_parts(body)), "gzip"
    else:
        encoded, name = deflated(body, raw=coding == "deflate-raw"), "deflate"

    async def compressed(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(json_reply(encoded, **{"content-encoding": name}))

    hostile.serve(compressed)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            assert (await client.complete(PROVIDER, **HI)).text == "hello" * 1000
            assert (await client.complete(PROVIDER, **HI)).text == "hello" * 1000
            pool_is_clean(client)
    assert hostile.requests == 2
    assert hostile.connections == 1  # a decoded body leaves its connection reusable


@pytest.mark.parametrize("stream", [False, True])
async def test_an_encoding_modelwire_does_not_decode_is_a_clear_error_not_retried(
    hostile: HostileServer, anyio_backend: str, stream: bool
) -> None:
    async def brotli(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(json_reply(b"\x8b\x02\x80garbage", **{"content-encoding": "br"}))

    hostile.serve(brotli)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(UnusableResponseError, match="'br'") as caught:
                await call(client, stream=stream)
            pool_is_clean(client)
    assert caught.value.status == 200
    assert hostile.requests == 1


async def test_a_corrupt_gzip_body_is_a_typed_error_not_retried(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def corrupt(conn: Conn) -> None:
        await conn.read_request()
        body = b"".join(gzip_parts(chat_body("hello")))
        await conn.send(
            json_reply(body[:20] + b"\xff" * 16 + body[36:], **{"content-encoding": "gzip"})
        )

    hostile.serve(corrupt)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(UnusableResponseError, match="not valid gzip"):
                await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
    assert hostile.requests == 1


# 4. A trickled head is bounded as a whole.


@pytest.mark.parametrize("stream", [False, True])
async def test_a_head_trickled_a_byte_at_a_time_times_out_as_a_whole(
    hostile: HostileServer, anyio_backend: str, stream: bool
) -> None:
    async def trickle(conn: Conn) -> None:
        await conn.read_request()
        # 100 ms per byte is under the 300 ms idle timeout, so only a bound on the whole
        # head ends this (the head takes ~10 s).
        await conn.trickle(head(chunked=True), every=0.1)

    hostile.serve(trickle)
    expected = StreamIdleTimeout if stream else ResponseTimeout
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(expected, match="no response headers complete within 300 ms"):
                await call(client, stream=stream)
            pool_is_clean(client)
    assert hostile.requests == 2


# 5. Huge bodies are read only as far as an excerpt needs, then their connection is closed.


def endless(status: int, content_type: str, prefix: bytes) -> Callable[[Conn], Awaitable[None]]:
    """A 200 MB body of ``content_type`` with ``status``, written until the client hangs up."""

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        total = 200 * MIB
        await conn.send(head(status, content_type=content_type, length=total) + prefix)
        block = b"x" * (64 * 1024)
        for _ in range((total - len(prefix)) // len(block)):
            await conn.send(block)

    return handler


async def test_a_huge_html_answer_to_complete_is_refused_after_an_excerpt(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(endless(200, "text/html", b"<html><body>Sign in to the hotel Wi-Fi"))
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(UnusableResponseError, match="text/html, not JSON") as caught:
                await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
            http = client.transport._clients[PROVIDER]
            assert not http._transport._pool.connections  # type: ignore[attr-defined]
            await until(lambda: hostile.open_connections == 0)
    assert caught.value.excerpt is not None
    assert caught.value.excerpt.startswith("<html><body>Sign in")
    assert len(caught.value.excerpt) <= 500
    assert hostile.bytes_sent < 64 * MIB  # socket buffers, never the 200 MB
    assert hostile.requests == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_a_huge_error_body_is_read_only_for_its_excerpt(
    hostile: HostileServer, anyio_backend: str, stream: bool
) -> None:
    hostile.serve(endless(400, "text/plain", b"bad request: " + b"y" * 100))
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(ProviderError, match="HTTP 400: bad request") as caught:
                await call(client, stream=stream)
            pool_is_clean(client)
            await until(lambda: hostile.open_connections == 0)
    assert caught.value.status == 400
    assert hostile.bytes_sent < 64 * MIB
    assert hostile.requests == 1


@pytest.mark.parametrize("cut", [480, 492, 496, 499])
async def test_a_key_cut_by_the_excerpt_shows_no_part_of_itself(
    hostile: HostileServer, anyio_backend: str, cut: int
) -> None:
    """The excerpt is cut at 500 characters; a key echoed across that cut is masked whole."""
    body = b"x" * cut + KEY.encode() + b" and more"

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(head(400, content_type="text/plain", length=len(body)) + body)

    hostile.serve(handler)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(ProviderError) as caught:
                await call(client, stream=False)
    shown = f"{caught.value} {caught.value!r} {caught.value.excerpt}"
    assert KEY[:4] not in shown.replace("x" * cut, "")


async def test_a_json_body_over_the_cap_is_refused_unread(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def huge(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(head(content_type=JSON, length=64 * MIB + 1) + b'{"id": ')
        await conn.sleep(60)

    hostile.serve(huge)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            with pytest.raises(UnusableResponseError, match="over 64 MiB"):
                await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
    assert hostile.requests == 1


# 7. Failures no retry can mend are not retried.


@pytest.mark.parametrize("base_url", ["{host}/v1", "ftp://{host}/v1", "http://[::1/v1"])
async def test_a_url_that_can_never_work_is_one_config_error_without_retries(
    hostile: HostileServer, anyio_backend: str, base_url: str
) -> None:
    sleeps = Sleeps()
    url = base_url.format(host=hostile.url.removeprefix("http://"))
    with anyio.fail_after(LIVENESS_S), pytest.raises(ConfigError, match="base_url"):
        async with hostile_client(hostile, base_url=url, sleep=sleeps) as client:
            await client.complete(PROVIDER, **HI)
    assert sleeps.delays == []
    assert hostile.requests == 0


class BadHeaderTransport(Transport):
    """Sends a header h11 refuses to write (a CR LF inside its value)."""

    def headers(self, provider: Provider, *, stream: bool) -> dict[str, str]:
        return {**super().headers(provider, stream=stream), "x-bad": "a\r\nb"}


async def test_a_request_that_cannot_be_sent_as_built_is_not_retried(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(polite)
    sleeps = Sleeps()
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile, sleep=sleeps, engine=BadHeaderTransport) as client:
            with pytest.raises(ConnectionFailedError, match="cannot be sent as built"):
                await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
    assert sleeps.delays == []
    assert hostile.requests == 0


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[HostileServer]:
    """A hostile server over TLS with a certificate no trust store knows."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    command += ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=30,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = HostileServer(tls=context)
    try:
        yield server
    finally:
        server.close()


async def test_a_certificate_that_does_not_verify_is_not_retried(
    self_signed: HostileServer, anyio_backend: str
) -> None:
    self_signed.serve(polite)
    sleeps = Sleeps()
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(self_signed, sleep=sleeps) as client:
            with pytest.raises(ConnectionFailedError, match=r"certificate .* does not verify"):
                await client.complete(PROVIDER, **HI)
            pool_is_clean(client)
        # The server's side of the failed handshake is closed too (its handler has ended).
        await until(lambda: self_signed.open_connections == 0)
    assert sleeps.delays == []
    assert self_signed.connections == 0  # no handshake completed
    assert self_signed.requests == 0


# 16. No exception modelwire raises reaches a credential-bearing object.


def reachable(root: BaseException) -> Iterator[object]:
    """Every object reachable from ``root`` through causes, contexts, args and attributes."""
    seen: set[int] = set()
    stack: list[object] = [root]
    while stack and len(seen) < 100_000:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, BaseException):
            stack.extend((item.__cause__, item.__context__, *item.args))
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        if hasattr(item, "__dict__") and not isinstance(item, type):
            stack.extend(vars(item).values())


def assert_carries_no_credential(error: BaseException) -> None:
    for item in reachable(error):
        assert not isinstance(item, httpx.Request | httpx.Response), type(item)
        assert type(item).__module__.split(".")[0] not in ("httpx", "httpcore2", "h11"), item
        if isinstance(item, str | BaseException):
            assert KEY not in str(item), item
            assert KEY not in repr(item), item


async def test_raised_errors_reach_no_request_and_no_key(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def each(conn: Conn) -> None:
        await conn.read_request()
        if conn.index in (0, 1):  # reset before any head, twice: ConnectionFailedError
            conn.reset()
        elif conn.index == 2:  # a 401 echoing the key: AuthError
            echo = b'{"error": {"message": "bad key ' + KEY.encode() + b'"}}'
            await conn.send(head(401, content_type=JSON, length=len(echo)) + echo)
        else:  # stalls: ResponseTimeout, then DeadlineExceeded
            await conn.sleep(60)

    errors: list[BaseException] = []
    hostile.serve(each)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile, query_params={"key": KEY}) as client:
            for kind in (ConnectionFailedError, AuthError, ResponseTimeout):
                with pytest.raises(kind) as caught:
                    await client.complete(PROVIDER, **HI)
                errors.append(caught.value)
            with pytest.raises(DeadlineExceeded) as late:
                await complete_by(client, 0.2)
            errors.append(late.value)
            pool_is_clean(client)
    assert type(errors[0].__cause__).__name__ == "TransportCause"
    for error in errors:
        assert_carries_no_credential(error)


# The deadline bounds attempts, backoff sleeps and the body.


@pytest.mark.parametrize("phase", ["head", "body"])
async def test_a_deadline_ends_a_stalled_complete_before_its_idle_timeout(
    hostile: HostileServer, anyio_backend: str, phase: str
) -> None:
    async def half(conn: Conn) -> None:
        await conn.read_request()
        if phase == "body":
            await conn.send(head(content_type=JSON, length=1000) + b'{"id": ')
        await conn.sleep(60)

    hostile.serve(half)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile, stream_idle_timeout_ms=30_000) as client:
            with pytest.raises(DeadlineExceeded) as caught:
                await complete_by(client, 0.3)
            pool_is_clean(client)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.attempts == 1
    assert caught.value.limit_s == 0.3
    assert hostile.requests == 1


async def test_a_backoff_sleep_that_would_pass_the_deadline_ends_the_retries(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def unavailable(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(head(503, content_type=JSON, length=2) + b"{}")

    hostile.serve(unavailable)
    sleeps = Sleeps()  # no real time passes in a backoff: only the deadline check decides
    policy = RetryPolicy(base_delay_s=1.0, jitter=0.0)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(
            hostile, sleep=sleeps, request_max_retries=10, transport={"policy": policy}
        ) as client:
            with pytest.raises(DeadlineExceeded, match="HTTP 503") as caught:
                await complete_by(client, 2.5)
            pool_is_clean(client)
    assert sleeps.delays == [1.0, 2.0]  # the next, 4 s, would pass the deadline
    assert isinstance(caught.value.__cause__, ProviderError)
    assert caught.value.attempts == 3
    assert hostile.requests == 3


async def test_a_well_behaved_hostile_server_streams_and_completes(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(polite)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            assert await text_of(client) == "hello"
            assert (await client.complete(PROVIDER, **HI)).text == "hello"
            pool_is_clean(client)
    assert hostile.requests == 2
    assert hostile.connections == 1
