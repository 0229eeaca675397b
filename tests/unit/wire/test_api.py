"""The wire entry points on bad input: every failure is one terminal event or a typed error."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from modelwire.errors import StreamDecodeError
from modelwire.wire import (
    Completed,
    ErrorEvent,
    Event,
    Request,
    Start,
    StreamDecoding,
    TextDelta,
    decode,
    decode_raw,
    encode,
    user,
)

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


def test_non_utf8_bytes_in_an_event_name_are_a_decode_error() -> None:
    assert only_error(list(decode("chat", [b"event: \xff\ndata: x\n\n"]))).code == "decode_error"


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
        events = list(decode("chat", reads(), max_line_bytes=limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    error = only_error(events)
    assert error.code == "decode_error"
    assert error.message is not None
    assert "longer than 1048576 bytes" in error.message
    assert peak < 4 * limit


def test_raw_mode_raises_a_typed_error_on_bad_data() -> None:
    with pytest.raises(StreamDecodeError, match="invalid event data"):
        list(decode_raw("chat", [b"data: {oops\n\n"]))


def test_unknown_wire_apis_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="unknown wire API 'grpc'"):
        list(decode("grpc", [HELLO]))
    with pytest.raises(ValueError, match="unknown wire API"):
        encode("grpc", Request(model="m", messages=(user("x"),)))
