"""The mock's Responses WebSocket, driven by a raw client socket: what a turn streams, what the
log records, how chains resolve, and every knob, so the socket transport's tests stand on a
server whose behaviour is itself proven."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
import httpx
import orjson
import pytest

from modelwire._websocket import HandshakeRejected, SocketClosed, WebSocket, socket_url
from modelwire.mock import MockBehavior, MockProvider

SECRET = "sk-socket-secret-7"
LIMIT = 1 << 20
BOUND_S = 10.0
"""Every wait on the mock is bounded: a broken knob fails the test instead of hanging it."""
QUIET_S = 0.05
"""A window in which a held reply must send nothing; the holds below are many times longer,
so only an ignored knob can fill it."""
HOLD_MS = 400
BODY: dict[str, Any] = {"model": "mock-model", "input": "a b c", "store": False}
TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


def create(**fields: Any) -> str:
    """A ``response.create`` frame for ``BODY`` with ``fields`` on top."""
    return orjson.dumps({"type": "response.create", **BODY, **fields}).decode()


async def connect(
    mock: MockProvider, headers: dict[str, str] | None = None, path: str = "/v1/responses"
) -> WebSocket:
    with anyio.fail_after(BOUND_S):
        return await WebSocket.connect(socket_url(mock.url(path)), headers or {})


async def rejection(
    mock: MockProvider, headers: dict[str, str] | None = None, path: str = "/v1/responses"
) -> HandshakeRejected:
    """How the upgrade was refused; a test fails (with the socket closed) if it was not."""
    try:
        ws = await connect(mock, headers, path)
    except HandshakeRejected as refused:
        return refused
    await ws.aclose()
    pytest.fail("the upgrade was accepted")


async def turn(ws: WebSocket, frame: str) -> list[dict[str, Any]]:
    """Send one frame and read events up to the first terminal one."""
    await ws.send_text(frame)
    events: list[dict[str, Any]] = []
    with anyio.fail_after(BOUND_S):
        while not events or events[-1]["type"] not in TERMINAL:
            events += [orjson.loads(message) for message in await ws.receive(LIMIT)]
    return events


async def until_closed(ws: WebSocket) -> tuple[list[bytes], SocketClosed]:
    """Every message up to the server's close, and the close."""
    messages: list[bytes] = []
    with anyio.fail_after(BOUND_S):
        while True:
            try:
                messages += await ws.receive(LIMIT)
            except SocketClosed as closed:
                return messages, closed


async def nothing_within(ws: WebSocket, seconds: float) -> bool:
    """Whether no message arrives for ``seconds``."""
    with anyio.move_on_after(seconds):
        await ws.receive(LIMIT)
        return False
    return True


def completed_id(events: list[dict[str, Any]]) -> str:
    assert events[-1]["type"] == "response.completed", events[-1]
    return str(events[-1]["response"]["id"])


def error_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The turn's ``error`` event, which must be all it got."""
    assert [event["type"] for event in events] == ["error"], events
    return events[0]


def normalized(value: Any, seen: dict[str, str] | None = None) -> Any:
    """``value`` with each distinct ``id``/``item_id`` replaced by its order of appearance:
    the two transports' replies differ only in the ids the mock mints per response."""
    seen = {} if seen is None else seen
    if isinstance(value, list):
        return [normalized(item, seen) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        if key in ("id", "item_id") and isinstance(item, str):
            result[key] = seen.setdefault(item, f"id-{len(seen)}")
        else:
            result[key] = normalized(item, seen)
    return result


async def sse_events(mock: MockProvider, body: dict[str, Any]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=BOUND_S) as http:
        reply = await http.post(mock.url("/v1/responses"), json={**body, "stream": True})
    assert reply.status_code == 200
    lines = reply.content.split(b"\n")
    return [orjson.loads(line.removeprefix(b"data: ")) for line in lines if line[:6] == b"data: "]


async def test_a_turn_streams_the_event_objects_the_sse_stream_of_the_same_body_carries(
    mock: MockProvider, anyio_backend: str
) -> None:
    over_http = await sse_events(mock, BODY)
    ws = await connect(mock)
    try:
        over_socket = await turn(ws, create())
    finally:
        await ws.aclose()
    assert [event["type"] for event in over_socket] == [event["type"] for event in over_http]
    assert normalized(over_socket) == normalized(over_http)
    deltas = [event["delta"] for event in over_socket if event["type"].endswith("text.delta")]
    assert "".join(deltas) == "Echo: a b c"


async def test_the_handshake_and_each_frame_are_logged_in_order_as_get_then_ws(
    mock: MockProvider, anyio_backend: str
) -> None:
    ws = await connect(mock, path="/openai/v1/responses")
    first, second = create(), '{"type": "response.cancel"}'
    try:
        await turn(ws, first)
        await turn(ws, second)
    finally:
        await ws.aclose()
    logged = [(entry["method"], entry["path"], entry["body"]) for entry in mock.requests]
    assert logged == [
        ("GET", "/openai/v1/responses", ""),
        ("WS", "/openai/v1/responses", first),
        ("WS", "/openai/v1/responses", second),
    ]
    assert mock.requests[0]["headers"]["upgrade"] == "websocket"
    assert mock.state.sockets_opened == 1


async def test_a_logged_handshake_keeps_the_bearer_scheme_and_masks_the_key(
    anyio_backend: str,
) -> None:
    async with MockProvider(require_bearer=SECRET) as mock:
        ws = await connect(mock, {"authorization": f"Bearer {SECRET}"})
        try:
            await turn(ws, create())
        finally:
            await ws.aclose()
    assert [entry["method"] for entry in mock.requests] == ["GET", "WS"]
    assert mock.requests[0]["headers"]["authorization"] == "Bearer ****"
    assert SECRET not in repr(mock.requests)


async def test_a_turn_may_chain_from_the_latest_response_on_its_socket_only(
    mock: MockProvider, anyio_backend: str
) -> None:
    ws = await connect(mock)
    try:
        first = completed_id(await turn(ws, create()))
        second = completed_id(await turn(ws, create(previous_response_id=first)))
        # store: false keeps only the latest response: the first one is gone now.
        stale = error_of(await turn(ws, create(previous_response_id=first)))
        third = await turn(ws, create(previous_response_id=second))
    finally:
        await ws.aclose()
    assert second != first
    assert stale["status"] == 400
    assert stale["error"]["code"] == "previous_response_not_found"
    assert first in stale["error"]["message"]
    completed_id(third)


async def test_naming_an_unknown_response_is_previous_response_not_found_and_the_socket_lives(
    mock: MockProvider, anyio_backend: str
) -> None:
    ws = await connect(mock)
    try:
        missing = error_of(await turn(ws, create(previous_response_id="resp_nowhere")))
        after = await turn(ws, create())
    finally:
        await ws.aclose()
    assert missing["status"] == 400
    assert missing["error"]["code"] == "previous_response_not_found"
    assert missing["error"]["type"] == "invalid_request_error"
    completed_id(after)


async def test_a_stored_response_chains_from_another_socket_and_an_unstored_one_does_not(
    mock: MockProvider, anyio_backend: str
) -> None:
    first = await connect(mock)
    try:
        stored = completed_id(await turn(first, create(store=True)))
        unstored = completed_id(await turn(first, create()))
    finally:
        await first.aclose()
    second = await connect(mock)
    try:
        chained = await turn(second, create(previous_response_id=stored))
        lost = error_of(await turn(second, create(previous_response_id=unstored)))
    finally:
        await second.aclose()
    completed_id(chained)
    assert lost["error"]["code"] == "previous_response_not_found"


@pytest.mark.parametrize("how", ["queued", "header"])
async def test_socket_refuse_answers_the_upgrade_with_that_status_and_a_json_error(
    mock: MockProvider, anyio_backend: str, how: str
) -> None:
    if how == "queued":
        mock.enqueue(MockBehavior(socket_refuse=503))
        refused = await rejection(mock)
    else:
        refused = await rejection(mock, {"x-mock-socket-refuse": "503"})
    assert refused.status == 503
    assert refused.headers["content-type"] == "application/json"
    assert orjson.loads(refused.body)["error"]["type"] == "server_error"
    assert mock.state.sockets_opened == 0
    ws = await connect(mock)
    await ws.aclose()
    assert mock.state.sockets_opened == 1


async def test_socket_refuse_set_as_the_servers_default_refuses_every_upgrade(
    anyio_backend: str,
) -> None:
    async with MockProvider(behavior=MockBehavior(socket_refuse=503)) as mock:
        refused = await rejection(mock)
    assert refused.status == 503


async def test_socket_close_accepts_the_upgrade_then_closes_with_1008(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(socket_close=True))
    ws = await connect(mock)
    messages, closed = await until_closed(ws)
    assert messages == []
    assert closed.code == 1008
    assert mock.state.sockets_opened == 1
    assert [entry["method"] for entry in mock.requests] == ["GET"]


async def test_socket_delay_ms_holds_the_handshake_after_receiving_it(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(socket_delay_ms=HOLD_MS))
    opened: list[WebSocket] = []
    done = anyio.Event()

    async def open_socket() -> None:
        opened.append(await connect(mock))
        done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(open_socket)
        with anyio.fail_after(BOUND_S):
            while not mock.requests:
                await anyio.sleep(0.005)
        # The server has the handshake; it must not answer it for a while yet.
        with anyio.move_on_after(QUIET_S):
            await done.wait()
        held = not done.is_set()
        with anyio.fail_after(BOUND_S):
            await done.wait()
    try:
        assert held
        assert [entry["method"] for entry in mock.requests] == ["GET"]
        completed_id(await turn(opened[0], create()))
    finally:
        await opened[0].aclose()


async def test_previous_not_found_answers_a_turn_with_previous_response_not_found(
    mock: MockProvider, anyio_backend: str
) -> None:
    ws = await connect(mock)
    try:
        latest = completed_id(await turn(ws, create()))
        mock.enqueue(MockBehavior(previous_not_found=True))
        refused = error_of(await turn(ws, create(previous_response_id=latest)))
        again = await turn(ws, create())
    finally:
        await ws.aclose()
    assert refused["status"] == 400
    assert refused["error"]["code"] == "previous_response_not_found"
    completed_id(again)


async def test_status_answers_the_turn_with_an_error_event_and_keeps_the_socket(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(status=429))
    ws = await connect(mock)
    try:
        limited = error_of(await turn(ws, create()))
        after = await turn(ws, create())
    finally:
        await ws.aclose()
    assert limited["status"] == 429
    assert limited["error"]["code"] == "rate_limit_exceeded"
    assert limited["error"]["message"] == "mock failure with status 429"
    completed_id(after)


async def test_handshake_headers_set_the_knobs_of_every_turn_on_the_socket(
    mock: MockProvider, anyio_backend: str
) -> None:
    ws = await connect(mock, {"x-mock-status": "429"})
    try:
        first = error_of(await turn(ws, create()))
        second = error_of(await turn(ws, create()))
    finally:
        await ws.aclose()
    assert first["status"] == second["status"] == 429


async def test_a_malformed_knob_header_or_a_path_without_a_socket_is_refused(
    mock: MockProvider, anyio_backend: str
) -> None:
    bad_knob = await rejection(mock, {"x-mock-status": "soon"})
    no_route = await rejection(mock, path="/v1/chat/completions")
    assert bad_knob.status == 400
    assert no_route.status == 404
    assert mock.state.sockets_opened == 0


async def test_reset_after_sends_that_many_events_then_closes_with_1011(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(reset_after=3))
    ws = await connect(mock)
    await ws.send_text(create())
    messages, closed = await until_closed(ws)
    assert len(messages) == 3
    assert closed.code == 1011


async def test_stall_after_sends_that_many_events_then_nothing_with_the_socket_open(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(stall_after=2))
    ws = await connect(mock)
    try:
        await ws.send_text(create())
        messages: list[bytes] = []
        with anyio.fail_after(BOUND_S):
            while len(messages) < 2:
                messages += await ws.receive(LIMIT)
        assert len(messages) == 2
        assert await nothing_within(ws, QUIET_S * 4)
        assert not ws.closed
    finally:
        # The stalled server reads nothing more, so a polite close would wait for its answer.
        await ws.abort()


@pytest.mark.parametrize("kind", ["json", "sse"])
async def test_malformed_sends_an_undecodable_frame_after_the_first_event(
    mock: MockProvider, anyio_backend: str, kind: Literal["json", "sse"]
) -> None:
    mock.enqueue(MockBehavior(malformed=kind))
    ws = await connect(mock)
    try:
        await ws.send_text(create())
        messages: list[bytes] = []
        with anyio.fail_after(BOUND_S):
            while not messages or b"response.completed" not in messages[-1]:
                messages += await ws.receive(LIMIT)
    finally:
        await ws.aclose()
    assert orjson.loads(messages[0])["type"] == "response.created"
    if kind == "json":
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(messages[1])
    else:
        with pytest.raises(UnicodeDecodeError):
            messages[1].decode("utf-8")
    assert [orjson.loads(message)["type"] for message in messages[2:]][-1] == "response.completed"


async def test_ttft_ms_holds_the_first_event(mock: MockProvider, anyio_backend: str) -> None:
    mock.enqueue(MockBehavior(ttft_ms=HOLD_MS))
    ws = await connect(mock)
    try:
        await ws.send_text(create())
        held = await nothing_within(ws, QUIET_S)
        events = [orjson.loads(message) for message in await ws.receive(LIMIT)]
    finally:
        await ws.aclose()
    assert held
    assert events[0]["type"] == "response.created"


async def test_delay_ms_spaces_the_events(mock: MockProvider, anyio_backend: str) -> None:
    mock.enqueue(MockBehavior(delay_ms=HOLD_MS))
    ws = await connect(mock)
    try:
        await ws.send_text(create())
        with anyio.fail_after(BOUND_S):
            first = await ws.receive(LIMIT)
        held = await nothing_within(ws, QUIET_S)
        with anyio.fail_after(BOUND_S):
            second = await ws.receive(LIMIT)
    finally:
        await ws.aclose()
    assert [orjson.loads(message)["type"] for message in first] == ["response.created"]
    assert held
    assert orjson.loads(second[0])["type"] == "response.in_progress"


@pytest.mark.parametrize("authorization", [None, "Bearer sk-wrong"])
async def test_require_bearer_refuses_a_missing_or_wrong_key_with_401(
    anyio_backend: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    async with MockProvider(require_bearer=SECRET) as mock:
        refused = await rejection(mock, headers)
        ws = await connect(mock, {"authorization": f"Bearer {SECRET}"})
        await ws.aclose()
        assert mock.state.sockets_opened == 1
    assert refused.status == 401
    assert orjson.loads(refused.body)["error"]["code"] == "invalid_api_key"
    assert SECRET.encode() not in refused.body


async def test_a_turn_past_the_sockets_lifetime_is_refused_and_the_socket_closed(
    anyio_backend: str,
) -> None:
    async with MockProvider(socket_lifetime_s=0.05) as mock:
        ws = await connect(mock)
        await anyio.sleep(0.1)
        expired = error_of(await turn(ws, create()))
        messages, closed = await until_closed(ws)
    assert expired["status"] == 400
    assert expired["error"]["code"] == "websocket_connection_limit_reached"
    assert messages == []
    assert closed.code == 1000


@pytest.mark.parametrize(
    "frame",
    ['{"type": "response.cancel"}', "[1, 2]", "not json", create(background=True)],
    ids=["another-type", "not-an-object", "not-json", "background"],
)
async def test_a_frame_that_is_not_a_usable_response_create_gets_an_error_event(
    mock: MockProvider, anyio_backend: str, frame: str
) -> None:
    ws = await connect(mock)
    try:
        refused = error_of(await turn(ws, frame))
        after = await turn(ws, create())
    finally:
        await ws.aclose()
    assert refused["status"] == 400
    assert refused["error"]["type"] == "invalid_request_error"
    completed_id(after)


async def test_a_queued_handshake_knob_goes_to_the_next_handshake_and_a_turn_knob_waits(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(socket_refuse=503), MockBehavior(status=429))
    refused = await rejection(mock)
    ws = await connect(mock)
    try:
        first = error_of(await turn(ws, create()))
        second = await turn(ws, create())
    finally:
        await ws.aclose()
    assert refused.status == 503
    assert first["status"] == 429
    completed_id(second)


async def test_a_handshake_passes_over_a_turn_knob_at_the_head_of_the_queue(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(status=429), MockBehavior(socket_refuse=503))
    ws = await connect(mock)
    try:
        first = error_of(await turn(ws, create()))
    finally:
        await ws.aclose()
    refused = await rejection(mock)
    assert first["status"] == 429
    assert refused.status == 503
