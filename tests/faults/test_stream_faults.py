"""Faults on the stream loop (``EventStream``), thrown by the hostile server: the end after the
terminal event, deadlines, error text with a key in it, the event-size knob, a huge non-SSE
answer.

Each test asserts the outcome, a generous wall-clock bound (``LIVENESS_S``; the bounds under
test are a fraction of a second, and each stall would last far longer), how many requests the
server saw, and that the client's pool holds nothing afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from modelwire import Client, Completed, ErrorEvent, Start, TextDelta, user
from modelwire.errors import DeadlineExceeded, StreamDecodeError, StreamIdleTimeout
from modelwire.transport import Call, CallObserver, EndReason, RetryPolicy

from .conftest import KEY, LIVENESS_S, PROVIDER, hostile_client, pool_is_clean
from .hostile import Conn, HostileServer, chat_body, chat_stream, chunk, head, sse

HI: dict[str, Any] = {"model": "hostile-model", "messages": (user("hi"),)}
MIB = 1024 * 1024
BASE = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "hostile-model"}
ROLE = sse({**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
SLOW_IDLE_MS = 30_000
"""An idle timeout far past every bound under test: only the bound can end the call in time."""


def text(piece: str) -> bytes:
    return sse({**BASE, "choices": [{"index": 0, "delta": {"content": piece}}]})


class Ends(CallObserver):
    """How each call ended, as telemetry hears it."""

    def __init__(self) -> None:
        self.ends: list[tuple[EndReason, BaseException | None]] = []

    def end(self, call: Call, reason: EndReason, error: BaseException | None) -> None:
        self.ends.append((reason, error))


async def polite(conn: Conn) -> None:
    while (request := await conn.read_request()) is not None:
        if b'"stream":true' in request:
            await conn.send(head(chunked=True) + chunk(chat_stream("hel", "lo")) + chunk(b""))
        else:
            body = chat_body("hello")
            await conn.send(head(content_type="application/json", length=len(body)) + body)


def first_then(first: Callable[[Conn], Awaitable[None]]) -> Callable[[Conn], Awaitable[None]]:
    """``first`` on the first connection, ``polite`` on every later one."""

    async def handler(conn: Conn) -> None:
        await (first(conn) if conn.index == 0 else polite(conn))

    return handler


def sends_then_stalls(*parts: bytes, every: float = 0.0) -> Callable[[Conn], Awaitable[None]]:
    """A chunked stream of ``parts`` (``every`` seconds apart), then silence."""

    async def handler(conn: Conn) -> None:
        if await conn.read_request() is None:
            return
        await conn.send(head(chunked=True))
        for part in parts:
            await conn.send(chunk(part))
            if every:
                await conn.sleep(every)
        await conn.sleep(60)

    return handler


def client_over(
    server: HostileServer,
    *,
    observer: CallObserver | None = None,
    policy: RetryPolicy | None = None,
    **options: Any,
) -> Client:
    """``hostile_client``'s provider and transport, in a client built with ``options``."""
    info = {k: options.pop(k) for k in list(options) if k.startswith(("stream_", "request_"))}
    transport: dict[str, Any] = {}
    if observer is not None:
        transport["observer"] = observer
    if policy is not None:
        transport["policy"] = policy
    base = hostile_client(server, transport=transport, **info)
    client = Client(
        base.registry, env=base.env, transport=base.transport, telemetry=False, **options
    )
    # Built now, not inside the first call's bounds: the pool's TLS context takes a while.
    client.transport.client(client.provider(PROVIDER))
    return client


# --- 6. after the terminal event the caller's loop ends at once -------------------------------


async def test_a_done_body_that_never_ends_completes_at_once_and_the_next_request_works(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(first_then(sends_then_stalls(chat_stream("hel", "lo"))))
    ends = Ends()
    with anyio.fail_after(LIVENESS_S):
        async with client_over(
            hostile, observer=ends, stream_idle_timeout_ms=SLOW_IDLE_MS
        ) as client:
            started = anyio.current_time()
            stream = client.stream(PROVIDER, **HI)
            events = [event async for event in stream]
            took = anyio.current_time() - started
            assert isinstance(events[-1], Completed)
            assert stream.end_reason is EndReason.COMPLETED
            pool_is_clean(client)
            again = [event async for event in client.stream(PROVIDER, **HI)]
            assert isinstance(again[-1], Completed)
            pool_is_clean(client)
    assert took < 1.0  # the stall lasts 60 s and the idle timeout is 30 s
    assert [reason for reason, _ in ends.ends] == [EndReason.COMPLETED, EndReason.COMPLETED]
    assert hostile.requests == 2
    assert hostile.connections == 2  # the body that never ended was not reused


async def test_a_finished_body_that_ends_promptly_keeps_its_connection(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(polite)
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile) as client:
            for _ in range(3):
                events = [event async for event in client.stream(PROVIDER, **HI)]
                assert isinstance(events[-1], Completed)
            pool_is_clean(client)
    assert hostile.requests == 3
    assert hostile.connections == 1


# --- 8. deadlines ------------------------------------------------------------------------------


async def test_a_stream_deadline_ends_a_stall_before_headers_without_retrying(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def silent(conn: Conn) -> None:
        await conn.read_request()
        await conn.sleep(60)

    hostile.serve(silent)
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile, stream_idle_timeout_ms=SLOW_IDLE_MS) as client:
            started = anyio.current_time()
            with pytest.raises(DeadlineExceeded, match=r"deadline of 0\.3 s") as caught:
                async for _ in client.stream(PROVIDER, **HI, deadline_s=0.3):
                    pass
            took = anyio.current_time() - started
            pool_is_clean(client)
    assert 0.25 < took < 2.0
    assert caught.value.limit_s == 0.3
    assert caught.value.attempts == 1
    assert hostile.requests == 1


async def test_a_first_event_bound_ends_a_stream_that_sends_only_its_start(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(sends_then_stalls(ROLE))
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile, stream_idle_timeout_ms=SLOW_IDLE_MS) as client:
            started = anyio.current_time()
            with pytest.raises(
                DeadlineExceeded, match=r"first_event_timeout_s of 0\.3 s"
            ) as caught:
                async for _ in client.stream(PROVIDER, **HI, first_event_timeout_s=0.3):
                    pass
            took = anyio.current_time() - started
            pool_is_clean(client)
    assert took < 2.0
    assert caught.value.limit_s == 0.3
    assert hostile.requests == 1


async def test_a_first_event_bound_counts_across_retries(
    hostile: HostileServer, anyio_backend: str
) -> None:
    """Each attempt drops after the start; the bound runs from the call's start, not the
    attempt's, so it ends the call although every single attempt is short."""

    async def drops(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(head(chunked=True) + chunk(ROLE))
            await conn.sleep(0.1)
            conn.reset()
            return

    hostile.serve(drops)
    quick = RetryPolicy(base_delay_s=0.01, max_delay_s=0.01, jitter=0.0)
    with anyio.fail_after(LIVENESS_S):
        async with client_over(
            hostile, policy=quick, stream_idle_timeout_ms=SLOW_IDLE_MS, stream_max_retries=50
        ) as client:
            started = anyio.current_time()
            with pytest.raises(DeadlineExceeded, match="first_event_timeout_s"):
                async for _ in client.stream(PROVIDER, **HI, first_event_timeout_s=0.6):
                    pass
            took = anyio.current_time() - started
            pool_is_clean(client)
    assert took < 2.0
    assert 2 <= hostile.requests < 50


async def test_a_deadline_after_content_ends_the_stream_with_a_deadline_event(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(sends_then_stalls(ROLE + text("one") + text("two")))
    ends = Ends()
    with anyio.fail_after(LIVENESS_S):
        async with client_over(
            hostile, observer=ends, stream_idle_timeout_ms=SLOW_IDLE_MS
        ) as client:
            started = anyio.current_time()
            stream = client.stream(PROVIDER, **HI, deadline_s=0.4)
            events = [event async for event in stream]
            took = anyio.current_time() - started
            pool_is_clean(client)
    assert [type(e) for e in events] == [Start, TextDelta, TextDelta, ErrorEvent]
    terminal = events[-1]
    assert isinstance(terminal, ErrorEvent)
    assert terminal.code == "deadline_exceeded"
    assert not terminal.retryable
    assert stream.end_reason is EndReason.FAILED
    assert stream.call.error_code == "DeadlineExceeded"
    assert 0.35 < took < 2.0
    assert hostile.requests == 1


async def test_a_deadline_cuts_a_trickle_that_never_trips_the_idle_timeout(
    hostile: HostileServer, anyio_backend: str
) -> None:
    pieces = [ROLE] + [text(f"t{i}") for i in range(200)]
    hostile.serve(sends_then_stalls(*pieces, every=0.05))
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile, stream_idle_timeout_ms=300) as client:
            started = anyio.current_time()
            events = [event async for event in client.stream(PROVIDER, **HI, deadline_s=0.5)]
            took = anyio.current_time() - started
            pool_is_clean(client)
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "deadline_exceeded"
    assert sum(isinstance(e, TextDelta) for e in events) >= 2
    assert took < 2.0
    assert hostile.requests == 1


async def test_a_raw_stream_past_its_deadline_after_events_raises_deadline_exceeded(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(sends_then_stalls(ROLE + text("one")))
    got: list[object] = []
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile, stream_idle_timeout_ms=SLOW_IDLE_MS) as client:
            with pytest.raises(DeadlineExceeded):  # noqa: PT012 - raised mid-iteration
                async with client.stream_raw(PROVIDER, **HI, deadline_s=0.3) as stream:
                    async for item in stream:
                        got.append(item)
            pool_is_clean(client)
    assert len(got) == 2
    assert hostile.requests == 1


async def test_the_clients_default_deadline_applies_and_a_per_call_none_lifts_it(
    hostile: HostileServer, anyio_backend: str
) -> None:
    hostile.serve(sends_then_stalls(ROLE))
    with anyio.fail_after(LIVENESS_S):
        async with client_over(
            hostile, deadline_s=0.2, stream_idle_timeout_ms=1500, stream_max_retries=0
        ) as client:
            with pytest.raises(DeadlineExceeded):
                async for _ in client.stream(PROVIDER, **HI):
                    pass
            with pytest.raises(StreamIdleTimeout):
                async for _ in client.stream(PROVIDER, **HI, deadline_s=None):
                    pass
            pool_is_clean(client)
    assert hostile.requests == 2


async def test_a_stream_retry_whose_backoff_would_pass_the_deadline_is_not_made(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def drops(conn: Conn) -> None:
        if await conn.read_request() is not None:
            await conn.send(head(chunked=True) + chunk(ROLE))
            conn.reset()

    hostile.serve(drops)
    slow = RetryPolicy(base_delay_s=5.0, jitter=0.0)
    with anyio.fail_after(LIVENESS_S):
        # the first backoff, 5 s, would pass the 1 s deadline: no second request
        async with client_over(hostile, policy=slow, stream_max_retries=5) as client:
            with pytest.raises(DeadlineExceeded):
                async for _ in client.stream(PROVIDER, **HI, deadline_s=1.0):
                    pass
            pool_is_clean(client)
    assert hostile.requests == 1


async def test_complete_first_event_bound_covers_the_head_and_not_the_body(
    hostile: HostileServer, anyio_backend: str
) -> None:
    body = chat_body("hello")

    async def handler(conn: Conn) -> None:
        if await conn.read_request() is None:
            return
        if conn.index == 0:
            await conn.sleep(60)  # no head at all
        await conn.send(head(content_type="application/json", length=len(body)))
        await conn.sleep(0.4)  # the body comes after the first-event bound: it does not apply
        await conn.send(body)

    hostile.serve(handler)
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile, stream_idle_timeout_ms=SLOW_IDLE_MS) as client:
            with pytest.raises(DeadlineExceeded, match="no response head") as caught:
                await client.complete(PROVIDER, **HI, first_event_timeout_s=0.2)
            assert caught.value.limit_s == 0.2
            response = await client.complete(PROVIDER, **HI, first_event_timeout_s=0.2)
            assert response.text == "hello"
            pool_is_clean(client)
    assert hostile.requests == 2


async def test_complete_deadline_bounds_the_whole_call(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def silent(conn: Conn) -> None:
        await conn.read_request()
        await conn.sleep(60)

    hostile.serve(silent)
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile, stream_idle_timeout_ms=SLOW_IDLE_MS) as client:
            with pytest.raises(DeadlineExceeded) as caught:
                await client.complete(PROVIDER, **HI, deadline_s=0.3)
            pool_is_clean(client)
    assert caught.value.limit_s == 0.3
    assert hostile.requests == 1


# --- 14. a provider's error text never shows a key ---------------------------------------------


async def test_a_mid_stream_error_event_echoing_the_key_is_masked(
    hostile: HostileServer, anyio_backend: str
) -> None:
    echo = sse({"error": {"type": "invalid_request_error", "message": f"bad key {KEY} used"}})
    hostile.serve(sends_then_stalls(ROLE + text("one") + echo))
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile) as client:
            stream = client.stream(PROVIDER, **HI)
            events = [event async for event in stream]
            pool_is_clean(client)
    terminal = events[-1]
    assert isinstance(terminal, ErrorEvent)
    assert terminal.message is not None
    assert "bad key" in terminal.message
    assert KEY not in terminal.message
    assert KEY not in repr(events)
    assert hostile.requests == 1


# --- 13. the event-size knob --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["client", "provider"])
async def test_max_event_bytes_from_the_client_or_the_provider_caps_an_event(
    hostile: HostileServer, anyio_backend: str, where: str
) -> None:
    # The big event in a read of its own (see test_read_boundaries for why that matters).
    hostile.serve(sends_then_stalls(ROLE + text("one"), text("x" * 8192), every=0.05))
    options: dict[str, Any] = (
        {"max_event_bytes": 4096} if where == "client" else {"stream_max_event_bytes": 4096}
    )
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile, **options) as client:
            events = [event async for event in client.stream(PROVIDER, **HI)]
            pool_is_clean(client)
    assert [type(e) for e in events] == [Start, TextDelta, ErrorEvent]
    terminal = events[-1]
    assert isinstance(terminal, ErrorEvent)
    assert terminal.code == "decode_error"
    assert terminal.message is not None
    assert "max_event_bytes" in terminal.message
    assert hostile.requests == 1


async def test_the_clients_max_event_bytes_overrides_a_smaller_provider_cap(
    hostile: HostileServer, anyio_backend: str
) -> None:
    finish = sse({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    hostile.serve(sends_then_stalls(ROLE + text("x" * 8192) + finish + b"data: [DONE]\n\n"))
    with anyio.fail_after(LIVENESS_S):
        async with client_over(
            hostile, max_event_bytes=64 * 1024, stream_max_event_bytes=4096
        ) as client:
            events = [event async for event in client.stream(PROVIDER, **HI)]
            pool_is_clean(client)
    assert isinstance(events[-1], Completed), events[-1]
    assert hostile.requests == 1


# --- 5. a huge answer that is not an event stream ---------------------------------------------


async def test_a_huge_html_answer_to_a_stream_is_refused_after_an_excerpt(
    hostile: HostileServer, anyio_backend: str
) -> None:
    async def portal(conn: Conn) -> None:
        await conn.read_request()
        total = 200 * MIB
        prefix = b"<html><body>Sign in to the hotel Wi-Fi"
        await conn.send(head(content_type="text/html", length=total) + prefix)
        block = b"x" * (64 * 1024)
        for _ in range(total // len(block)):
            await conn.send(block)

    hostile.serve(portal)
    with anyio.fail_after(LIVENESS_S):
        async with client_over(hostile) as client:
            with pytest.raises(StreamDecodeError, match="text/html: <html><body>Sign in"):
                async for _ in client.stream(PROVIDER, **HI):
                    pass
            pool_is_clean(client)
    assert hostile.bytes_sent < 64 * MIB
    assert hostile.requests == 1


# --- the arguments are checked where they are given -------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"deadline_s": 0}, ValueError),
        ({"deadline_s": -1.0}, ValueError),
        ({"deadline_s": "10"}, TypeError),
        ({"first_event_timeout_s": True}, TypeError),
        ({"first_event_timeout_s": float("nan")}, ValueError),
        ({"max_event_bytes": 0}, ValueError),
        ({"max_event_bytes": 1.5}, TypeError),
    ],
)
def test_bad_bounds_are_refused_when_the_client_is_built(
    hostile: HostileServer, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match=next(iter(options))):
        client_over(hostile, **options)


def test_a_bad_per_call_bound_is_refused_before_anything_is_sent(hostile: HostileServer) -> None:
    client = client_over(hostile)
    with pytest.raises(ValueError, match="deadline_s"):
        client.stream(PROVIDER, **HI, deadline_s=-1)
    with pytest.raises(TypeError, match="first_event_timeout_s"):
        client.stream_raw(PROVIDER, **HI, first_event_timeout_s="1")
    assert hostile.requests == 0
