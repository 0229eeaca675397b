"""The client socket against a raw server on loopback (wsproto's server side over plain anyio
TCP, not the mock): whatever the read boundaries, fragments, pings, caps, rejections, closes
and a server that breaks the protocol come out as the module says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from modelwire._websocket import (
    HandshakeRejected,
    SocketClosed,
    SocketError,
    WebSocket,
    socket_url,
)

Script = Callable[[anyio.abc.SocketStream, WSConnection], Awaitable[None]]


async def _accept(stream: anyio.abc.SocketStream, deflate: bool = False) -> WSConnection:
    server = WSConnection(ConnectionType.SERVER)
    while True:
        server.receive_data(await stream.receive())
        for event in server.events():
            if isinstance(event, Request):
                extensions = [PerMessageDeflate()] if deflate else []
                await stream.send(server.send(AcceptConnection(extensions=extensions)))
                return server


@asynccontextmanager
async def serving(
    script: Script, *, handshake: bool = True, deflate: bool = False
) -> AsyncIterator[str]:
    """A server running ``script`` on each connection after (or, without ``handshake``,
    instead of) accepting the upgrade; yields the URL to connect to."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            if handshake:
                server = await _accept(stream, deflate)
            else:
                server = WSConnection(ConnectionType.SERVER)
            with anyio.move_on_after(5):
                await script(stream, server)

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}/v1/responses"
        finally:
            group.cancel_scope.cancel()


async def trickle(stream: anyio.abc.SocketStream, data: bytes) -> None:
    """Every byte in its own write, a pause between: reads end anywhere."""
    for index in range(len(data)):
        await stream.send(data[index : index + 1])
        await anyio.sleep(0)


async def received(socket: WebSocket, count: int, limit: int = 1 << 20) -> list[bytes]:
    messages: list[bytes] = []
    with anyio.fail_after(5):
        while len(messages) < count:
            messages += await socket.receive(limit)
    return messages


async def test_messages_are_the_same_however_the_bytes_are_cut(anyio_backend: str) -> None:
    texts = ['{"type": "a"}', '{"type": "b", "text": "é ✓"}', "x" * 300]

    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        data = b"".join(server.send(TextMessage(data=text)) for text in texts)
        await trickle(stream, data)
        await anyio.sleep(1)

    async with serving(script) as url:
        socket = await WebSocket.connect(socket_url(url), {}, deflate=False)
        try:
            assert await received(socket, 3) == [text.encode() for text in texts]
        finally:
            await socket.abort()


async def test_fragmented_messages_are_reassembled(anyio_backend: str) -> None:
    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        await stream.send(server.send(TextMessage(data='{"type": ', message_finished=False)))
        await stream.send(server.send(TextMessage(data='"split"}', message_finished=True)))
        await anyio.sleep(1)

    async with serving(script) as url:
        socket = await WebSocket.connect(socket_url(url), {})
        try:
            assert await received(socket, 1) == [b'{"type": "split"}']
        finally:
            await socket.abort()


async def test_a_ping_is_answered_and_the_message_after_it_arrives(anyio_backend: str) -> None:
    ponged = anyio.Event()

    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        await stream.send(server.send(Ping(payload=b"are you there")))
        while not ponged.is_set():
            server.receive_data(await stream.receive())
            if any(isinstance(event, Pong) for event in server.events()):
                ponged.set()
        await stream.send(server.send(TextMessage(data="after the ping")))
        await anyio.sleep(1)

    async with serving(script) as url:
        socket = await WebSocket.connect(socket_url(url), {})
        try:
            assert await received(socket, 1) == [b"after the ping"]
            assert ponged.is_set()
        finally:
            await socket.abort()


async def test_a_message_over_the_limit_is_cut_to_one_byte_past_it(anyio_backend: str) -> None:
    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        for part in range(10):
            finished = part == 9
            await stream.send(server.send(TextMessage(data="y" * 100, message_finished=finished)))
        await stream.send(server.send(TextMessage(data="small")))
        await anyio.sleep(1)

    async with serving(script) as url:
        socket = await WebSocket.connect(socket_url(url), {})
        try:
            big, small = await received(socket, 2, limit=250)
            assert len(big) == 251
            assert small == b"small"
        finally:
            await socket.abort()


async def test_deflated_messages_are_inflated(anyio_backend: str) -> None:
    text = '{"type": "response.output_text.delta", "delta": "' + "abc" * 500 + '"}'

    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        await stream.send(server.send(TextMessage(data=text)))
        await anyio.sleep(1)

    async with serving(script, deflate=True) as url:
        socket = await WebSocket.connect(socket_url(url), {})
        try:
            assert socket.handshake.deflate
            assert await received(socket, 1) == [text.encode()]
            assert socket.bytes_received < len(text)
        finally:
            await socket.abort()


async def test_a_close_frame_is_answered_and_raised_after_the_messages_before_it(
    anyio_backend: str,
) -> None:
    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        await stream.send(
            server.send(TextMessage(data="last words"))
            + server.send(CloseConnection(code=1011, reason="going away"))
        )
        await anyio.sleep(1)

    async with serving(script) as url:
        socket = await WebSocket.connect(socket_url(url), {})
        assert await received(socket, 1) == [b"last words"]
        with pytest.raises(SocketClosed) as caught:
            await socket.receive(1024)
        assert caught.value.code == 1011
        assert "going away" in str(caught.value)
        assert socket.closed


async def test_a_connection_dropped_without_a_close_frame_is_a_close_with_no_code(
    anyio_backend: str,
) -> None:
    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        await stream.aclose()

    async with serving(script) as url:
        socket = await WebSocket.connect(socket_url(url), {})
        with pytest.raises(SocketClosed) as caught, anyio.fail_after(5):
            await socket.receive(1024)
        assert caught.value.code is None


async def test_garbage_after_the_handshake_is_a_socket_error(anyio_backend: str) -> None:
    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        await stream.send(b"\xff\xff\xff\xff not a frame")
        await anyio.sleep(1)

    async with serving(script) as url:
        socket = await WebSocket.connect(socket_url(url), {})
        with pytest.raises(SocketError, match="broke the WebSocket protocol"), anyio.fail_after(5):
            await socket.receive(1024)
        assert socket.closed


async def test_a_refusal_keeps_its_status_and_at_most_16_kib_of_its_body(
    anyio_backend: str,
) -> None:
    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        while b"\r\n\r\n" not in await stream.receive():
            pass
        body = b'{"error": {"message": "no sockets here"}}' + b" " * 100_000
        head = f"HTTP/1.1 426 Upgrade Required\r\ncontent-length: {len(body)}\r\n\r\n"
        await trickle(stream, head.encode())
        await stream.send(body)
        await anyio.sleep(1)

    async with serving(script, handshake=False) as url:
        with pytest.raises(HandshakeRejected) as caught, anyio.fail_after(5):
            await WebSocket.connect(socket_url(url), {})
    assert caught.value.status == 426
    assert caught.value.body.startswith(b'{"error"')
    assert len(caught.value.body) <= 16 * 1024


async def test_nothing_listening_is_a_socket_error_naming_no_headers(anyio_backend: str) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with pytest.raises(SocketError) as caught:
        await WebSocket.connect(
            socket_url(f"http://127.0.0.1:{port}/v1/responses"),
            {"authorization": "Bearer sk-never-shown"},
        )
    assert "sk-never-shown" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_urls_become_socket_urls_with_path_and_query_kept() -> None:
    assert str(socket_url("https://api.example.com/v1/responses?a=1")) == (
        "wss://api.example.com/v1/responses?a=1"
    )
    assert str(socket_url("http://127.0.0.1:8080/responses")) == "ws://127.0.0.1:8080/responses"


async def test_a_url_of_another_scheme_is_refused(anyio_backend: str) -> None:
    with pytest.raises(SocketError, match="ws:// or wss://"):
        await WebSocket.connect(socket_url("ftp://example.com/x"), {})


async def test_closing_politely_sends_a_close_frame_and_twice_is_harmless(
    anyio_backend: str,
) -> None:
    got: list[int | None] = []

    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        while not got:
            server.receive_data(await stream.receive())
            for event in server.events():
                if isinstance(event, CloseConnection):
                    got.append(event.code)
                    await stream.send(server.send(event.response()))

    async with serving(script) as url:
        socket = await WebSocket.connect(socket_url(url), {})
        with anyio.fail_after(5):
            await socket.aclose()
            await socket.aclose()
        assert got == [1000]
        with pytest.raises(SocketClosed):
            await socket.send_text("too late")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
            "Bad accept token",
        ),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "Missing header"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 100_000 + b"\r\n\r\n", "broke the WebSocket"),
        (b"not http at all\r\n\r\n", "broke the WebSocket"),
    ],
    ids=["bad-accept", "no-upgrade-headers", "huge-head", "garbage"],
)
async def test_a_hostile_handshake_answer_is_a_socket_error(
    answer: bytes, expected: str, anyio_backend: str
) -> None:
    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        await stream.receive()
        await stream.send(answer)
        await anyio.sleep(1)

    async with serving(script, handshake=False) as url:
        with pytest.raises(SocketError, match=expected), anyio.fail_after(5):
            await WebSocket.connect(socket_url(url), {})


async def test_a_redirect_on_the_upgrade_is_a_refusal_not_followed(anyio_backend: str) -> None:
    async def script(stream: anyio.abc.SocketStream, server: WSConnection) -> None:
        await stream.receive()
        await stream.send(
            b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\nContent-Length: 0\r\n\r\n"
        )
        await anyio.sleep(1)

    async with serving(script, handshake=False) as url:
        with pytest.raises(HandshakeRejected) as caught, anyio.fail_after(5):
            await WebSocket.connect(socket_url(url), {})
    assert caught.value.status == 302
