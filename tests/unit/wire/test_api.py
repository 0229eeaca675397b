"""The wire entry points on bad input: every failure is one terminal event or a typed error."""

from __future__ import annotations

import itertools
import random
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from modelwire.errors import StreamDecodeError
from modelwire.wire import (
    Completed,
    ErrorEvent,
    Event,
    Request,
    SSEDecoder,
    Start,
    StreamDecoding,
    TextDelta,
    adecode_raw,
    decode,
    decode_raw,
    encode,
    user,
)
from modelwire.wire._codecs import codec_for

HELLO = b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
FINISH = b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
DONE = b"data: [DONE]\n\n"


def only_error(events: list[Event]) -> ErrorEvent:
    terminal = events[-1]
    assert isinstance(terminal, ErrorEvent)
    assert sum(isinstance(e, ErrorEvent | Completed) for e in events) == 1
    return terminal


def test_a_truncated_stream_ends_with_stream_truncated_and_keeps_what_arrived() -> None:
    events = list(decode("chat", [HELLO, b'data: {"id":"c","cho']))
    assert events[:2] == [Start("c", "m"), TextDelta("hi")]
    error = only_error(events)
    assert (error.code, error.retryable) == ("stream_truncated", True)


def test_invalid_json_is_a_decode_error_naming_the_event_and_the_offset() -> None:
    bad = b"data: {not json}\n\n"
    events = list(decode("chat", [HELLO, bad, FINISH]))
    error = only_error(events)
    assert error.code == "decode_error"
    assert error.retryable is False
    assert error.message is not None
    assert "event #2" in error.message
    assert f"first {len(HELLO) + len(bad)} bytes" in error.message
    assert "{not json}" in error.message


def test_wrongly_typed_json_is_a_decode_error_with_the_json_path() -> None:
    events = list(decode("chat", [b'data: {"choices": 5}\n\n']))
    error = only_error(events)
    assert error.message is not None
    assert "$.choices" in error.message


def test_non_utf8_bytes_in_data_are_a_decode_error() -> None:
    body = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"\xff"}}]}\n\n'
    assert only_error(list(decode("chat", [body]))).code == "decode_error"


def test_non_utf8_bytes_in_fields_no_codec_reads_do_not_fail_the_stream() -> None:
    body = b"event: \xff\nid: \xfe\n: \xfd\n" + HELLO + b"event: chunk\xc3\n" + FINISH + DONE
    events = list(decode("chat", [body]))
    assert events == [Start("c", "m"), TextDelta("hi"), Completed("stop", "stop")]


def test_events_after_the_terminal_one_are_ignored_and_counted() -> None:
    decoding = StreamDecoding("chat")
    events = decoding.feed(HELLO + FINISH + DONE + HELLO + DONE)
    assert events[-1] == Completed("stop", "stop")
    assert decoding.done
    assert decoding.codec.events_after_terminal == 2
    assert decoding.feed(HELLO) == []
    assert decoding.close() == []


def test_decode_stops_reading_after_the_terminal_event() -> None:
    pulled: list[int] = []

    def reads() -> Iterator[bytes]:
        for number, chunk in enumerate([HELLO, FINISH + DONE, HELLO, HELLO]):
            pulled.append(number)
            yield chunk

    assert list(decode("chat", reads()))[-1] == Completed("stop", "stop")
    assert pulled == [0, 1]


def test_a_ten_megabyte_line_is_refused_with_bounded_memory() -> None:
    limit = 1024 * 1024
    piece = b"x" * 65536

    def reads() -> Iterator[bytes]:
        yield b'data: {"id":"'
        for _ in range(160):  # 10 MiB, never terminated
            yield piece

    tracemalloc.start()
    try:
        events = list(decode("chat", reads(), max_event_bytes=limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    error = only_error(events)
    assert error.code == "decode_error"
    assert error.message is not None
    assert "SSE line starting at byte 0 is longer than max_event_bytes (1048576 bytes)" in (
        error.message
    )
    assert "stream_max_event_bytes" in error.message
    assert "--max-event-bytes" in error.message
    assert peak < 4 * limit


def test_raw_mode_raises_a_typed_error_on_bad_data() -> None:
    with pytest.raises(StreamDecodeError, match="invalid event data"):
        list(decode_raw("chat", [b"data: {oops\n\n"]))


def test_unknown_wire_apis_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="unknown wire API 'grpc'"):
        list(decode("grpc", [HELLO]))
    with pytest.raises(ValueError, match="unknown wire API"):
        encode("grpc", Request(model="m", messages=(user("x"),)))


# --- raw mode on the fast framer gives what the general decoder gave ------------------------


def raw_by_the_general_decoder(wire_api: str, reads: list[bytes]) -> list[object]:
    """Raw mode as it was built before it moved onto the payload framer: every SSE event with
    data through ``SSEDecoder``, then the codec's native decode."""
    native = codec_for(wire_api).stream_decoder.native
    framer = SSEDecoder()
    out: list[object] = []
    for chunk in reads:
        for event in framer.feed(chunk):
            if event.data:
                typed = native(event.data)
                if typed is not None:
                    out.append(typed)
    return out


def test_raw_mode_gives_the_general_decoders_events_on_every_vector_at_any_reads(
    shared: Path,
) -> None:
    rng = random.Random(12)
    streams = sorted((shared / "spec" / "vectors").glob("*.sse"))
    assert streams
    for path in streams:
        wire_api = path.name.split("-")[0]
        body = path.read_bytes()
        expected = raw_by_the_general_decoder(wire_api, [body])
        assert expected, path.name
        for _ in range(30):
            points = sorted(rng.sample(range(1, len(body)), rng.randint(1, 30)))
            reads = [body[a:b] for a, b in itertools.pairwise([0, *points, len(body)])]
            assert list(decode_raw(wire_api, reads)) == expected, path.name
            assert raw_by_the_general_decoder(wire_api, reads) == expected, path.name


async def test_async_raw_mode_matches_the_sync_one(anyio_backend: str) -> None:
    body = HELLO + b": ping\r\n\r\n" + FINISH + DONE

    async def reads() -> AsyncIterator[bytes]:
        for i in range(len(body)):
            yield body[i : i + 1]

    got = [item async for item in adecode_raw("chat", reads())]
    assert got == list(decode_raw("chat", [body])) == raw_by_the_general_decoder("chat", [body])
    assert len(got) == 2


def test_raw_mode_hands_over_the_events_before_a_bad_one_in_the_same_read() -> None:
    items = decode_raw("chat", [HELLO + HELLO + b"data: {oops\n\n" + HELLO])
    assert next(items) == next(items)
    with pytest.raises(StreamDecodeError, match="invalid event data in the stream's first"):
        next(items)


@pytest.mark.parametrize(
    "oversized",
    [
        pytest.param(b"data: " + b"x" * 300 + b"\n\n", id="a-whole-line"),
        pytest.param(b"data: " + b"x" * 300, id="an-unfinished-line"),
        pytest.param(b"data: " + b"x" * 100 + b"\ndata: " + b"y" * 100 + b"\n", id="event-data"),
    ],
)
def test_events_before_an_oversized_line_are_kept_at_any_read_size(oversized: bytes) -> None:
    body = HELLO + HELLO + oversized
    expected = None
    for size in (len(body), 1, 7, len(HELLO), len(HELLO) * 2 + 3):
        reads = [body[i : i + size] for i in range(0, len(body), size)]
        events = list(decode("chat", reads, max_event_bytes=150))
        assert [type(e) for e in events] == [Start, TextDelta, TextDelta, ErrorEvent], size
        assert only_error(events).code == "decode_error"
        assert expected in (None, events), f"read size {size} changed the events"
        expected = events
        raw = decode_raw("chat", reads, max_event_bytes=150)
        assert next(raw) == next(raw)
        with pytest.raises(StreamDecodeError, match="max_event_bytes"):
            next(raw)
