"""What a stream delivers never depends on how its bytes were cut into reads (issue 12, point 3).

Retry is decided by what was *received*: once a content event was decoded, the caller gets it
and then the terminal event, with no re-send, whether the failure came in the same read or
later. The property runs on an injected httpx transport whose body yields exactly the reads a
test chooses (so every split is exact); the hostile-server cases check the real socket path.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwire import Client, Completed, ErrorEvent, ProviderInfo, ProviderRegistry, WireApi, user
from modelwire.transport import RetryPolicy, Transport

from .conftest import LIVENESS_S, PROVIDER, Sleeps, hostile_client, pool_is_clean
from .hostile import Conn, HostileServer, chat_stream, chunk, head, sse

HI = {"model": "hostile-model", "messages": (user("hi"),)}
BASE = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "model": "boundary-model"}
ROLE = {**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
FINISH = {**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
OVERLOADED = {"error": {"type": "server_error", "message": "overloaded, try again"}}
ENDINGS = ("completed", "error_event", "truncated", "transport_error")


def text_chunk(text: str) -> dict[str, Any]:
    return {**BASE, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def body_for(texts: list[str], ending: str) -> bytes:
    """A chat SSE body: the role chunk, one chunk per text, then the ending's bytes (none for a
    truncation or a transport error: the body just stops there)."""
    payloads: list[object] = [ROLE, *(text_chunk(text) for text in texts)]
    if ending == "completed":
        payloads += [FINISH, "[DONE]"]
    elif ending == "error_event":
        payloads.append(OVERLOADED)
    return sse(*payloads)


GOOD = body_for(["re", "try"], "completed")
"""What every re-request gets."""


class Reads(httpx.AsyncByteStream):
    """A body that yields exactly ``reads``, then raises ``error`` if one is given (an iterator
    object, so a body closed early leaves no generator for the event loop to finalize)."""

    def __init__(self, reads: list[bytes], error: Exception | None) -> None:
        self._reads = iter(reads)
        self._error = error

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        await anyio.lowlevel.checkpoint()
        part = next(self._reads, None)
        if part is not None:
            return part
        if self._error is not None:
            raise self._error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._reads = iter(())
        self._error = None


class Scripted(httpx.AsyncBaseTransport):
    """Answers the first request with ``first`` (reads, error) and every later one with
    ``GOOD`` in one read; counts requests."""

    def __init__(self, reads: list[bytes], error: Exception | None) -> None:
        self.first = (reads, error)
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        reads, error = self.first if self.requests == 1 else ([GOOD], None)
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Reads(reads, error)
        )


def scripted_client(scripted: Scripted) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register(
        PROVIDER,
        ProviderInfo(
            name="Scripted",
            base_url="http://scripted.invalid/v1",
            wire_api=WireApi.CHAT,
            stream_max_retries=1,
            request_max_retries=0,
        ),
    )
    engine = Transport(
        sleep=Sleeps(),
        rand=lambda low, high: 0.0,
        policy=RetryPolicy(),
        http_transport=lambda provider: scripted,
    )
    return Client(registry, env={}, transport=engine, telemetry=False)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted({cut for cut in cuts if 0 < cut < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


async def outcome(reads: list[bytes], ending: str, *, raw: bool) -> tuple[list[bytes], int]:
    """Every event the caller got (JSON, so runs compare), and the requests sent."""
    error = httpx.ReadError("connection reset") if ending == "transport_error" else None
    scripted = Scripted(reads, error)
    got: list[bytes] = []
    async with scripted_client(scripted) as client:
        if raw:
            try:
                async with client.stream_raw(PROVIDER, **HI) as stream:
                    async for item in stream:
                        got.append(msgspec.json.encode(item))
            except Exception as exc:  # the outcome includes what was raised
                got.append(type(exc).__name__.encode())
        else:
            async with client.stream(PROVIDER, **HI) as events:
                async for event in events:
                    got.append(msgspec.json.encode(event))
    return got, scripted.requests


TEXTS = st.lists(st.text(alphabet="abc xyz", min_size=1, max_size=4), max_size=4)
CUTS = st.lists(st.integers(min_value=1, max_value=2000), max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=TEXTS, ending=st.sampled_from(ENDINGS), cuts=CUTS, raw=st.booleans())
def test_any_split_of_a_reply_into_reads_gives_the_same_events_and_request_count(
    anyio_backend: str, texts: list[str], ending: str, cuts: list[int], raw: bool
) -> None:
    data = body_for(texts, ending)

    async def both() -> tuple[tuple[list[bytes], int], tuple[list[bytes], int]]:
        return (
            await outcome([data], ending, raw=raw),
            await outcome(split(data, cuts), ending, raw=raw),
        )

    whole, pieces = anyio.run(both, backend=anyio_backend)
    assert pieces == whole
    events, requests = whole
    failed = ending != "completed"
    # Only a reply that failed before any content event is re-requested; in raw mode the role
    # chunk is already one of the provider's events (it reaches the caller), so none is.
    assert requests == (2 if failed and not texts and not raw else 1)
    if not raw and texts:
        terminal = msgspec.json.decode(events[-1])
        assert terminal["type"] == ("error" if failed else "completed")
        texts_got = [msgspec.json.decode(e).get("text") for e in events[1:-1]]
        assert texts_got[: len(texts)] == texts


async def test_content_then_a_retryable_error_event_in_one_read_is_kept_not_resent(
    anyio_backend: str,
) -> None:
    events, requests = await outcome(
        [body_for(["a", "b"], "error_event")], "error_event", raw=False
    )
    decoded = [msgspec.json.decode(e) for e in events]
    assert [e["type"] for e in decoded] == ["start", "text_delta", "text_delta", "error"]
    assert decoded[-1]["code"] == "server_error"
    assert requests == 1


# --- the real socket path: the hostile server, writes split by small sleeps ----------------


def error_stream(*texts: str) -> bytes:
    return sse(ROLE, *(text_chunk(t) for t in texts), OVERLOADED)


@pytest.mark.parametrize("gap_s", [0.0, 0.05])
async def test_content_then_an_error_event_gives_the_same_events_with_or_without_a_gap(
    hostile: HostileServer, anyio_backend: str, gap_s: float
) -> None:
    body = error_stream("one", "two")
    cut = body.index(b'data: {"error"')

    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            if gap_s:
                await conn.send(head(chunked=True) + chunk(body[:cut]))
                await conn.sleep(gap_s)
                await conn.send(chunk(body[cut:]) + chunk(b""))
            else:
                await conn.send(
                    head(chunked=True) + chunk(body[:cut]) + chunk(body[cut:]) + chunk(b"")
                )

    hostile.serve(handler)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            events = [event async for event in client.stream(PROVIDER, **HI)]
            pool_is_clean(client)
    assert [type(e).__name__ for e in events] == [
        "Start",
        "TextDelta",
        "TextDelta",
        "ErrorEvent",
    ]
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "server_error"
    assert hostile.requests == 1


@pytest.mark.parametrize("gap_s", [0.0, 0.05])
async def test_content_then_a_bad_chunk_size_keeps_the_content_with_or_without_a_gap(
    hostile: HostileServer, anyio_backend: str, gap_s: float
) -> None:
    good = chunk(sse(ROLE, text_chunk("one"), text_chunk("two")))
    bad = b"zz\r\nnot a chunk\r\n"

    async def handler(conn: Conn) -> None:
        if await conn.read_request() is None:
            return
        if not gap_s:
            await conn.send(head(chunked=True) + good + bad)  # one write: one read, on loopback
            return
        await conn.send(head(chunked=True) + good)
        await conn.sleep(gap_s)
        await conn.send(bad)

    hostile.serve(handler)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            events = [event async for event in client.stream(PROVIDER, **HI)]
            pool_is_clean(client)
    assert [type(e).__name__ for e in events] == [
        "Start",
        "TextDelta",
        "TextDelta",
        "ErrorEvent",
    ]
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "stream_truncated"
    assert hostile.requests == 1


async def test_a_reply_in_one_byte_reads_streams_like_one_in_one_read(
    hostile: HostileServer, anyio_backend: str
) -> None:
    body = chat_stream("he", "llo")

    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(head(length=len(body)))
            await conn.trickle(body, every=0.0005, size=7)

    hostile.serve(handler)
    with anyio.fail_after(LIVENESS_S):
        async with hostile_client(hostile) as client:
            events = [event async for event in client.stream(PROVIDER, **HI)]
            pool_is_clean(client)
    assert isinstance(events[-1], Completed)
    assert "".join(getattr(e, "text", "") for e in events) == "hello"
    assert hostile.requests == 1
