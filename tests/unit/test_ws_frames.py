"""The server-frame reader: the same messages whatever the read boundaries, fragments and
compression; every protocol violation refused; memory bounded by the message cap."""

from __future__ import annotations

import itertools
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwire._ws_frames import Close, FrameReader, Ping, ProtocolViolation

LIMIT = 1 << 20


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """One unmasked (server) frame, by RFC 6455 §5.2."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    if size < 126:
        head = bytes([first, size])
    elif size < 1 << 16:
        head = bytes([first, 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, 127]) + size.to_bytes(8, "big")
    return head + payload


def deflated(compressor: zlib._Compress, data: bytes) -> bytes:
    """One message's permessage-deflate payload (RFC 7692 §7.2.1: the sync tail removed)."""
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def read_all(reader: FrameReader, data: bytes, cuts: list[int], limit: int = LIMIT) -> list[object]:
    out: list[object] = []
    points = [0, *sorted({cut for cut in cuts if 0 < cut < len(data)}), len(data)]
    for start, stop in itertools.pairwise(points):
        out += in_order(reader, reader.feed(data[start:stop], limit))
    return out


def in_order(reader: FrameReader, messages: list[bytes]) -> list[object]:
    """One feed's messages with its control frames put back where they came."""
    out: list[object] = []
    taken = 0
    for before, control in reader.controls:
        out += messages[taken:before]
        out.append(control)
        taken = before
    return out + messages[taken:]


def shown(items: list[object]) -> list[object]:
    return [
        ("ping", item.payload)
        if isinstance(item, Ping)
        else ("close", item.code, item.reason)
        if isinstance(item, Close)
        else item
        for item in items
    ]


messages = st.lists(
    st.tuples(
        st.text(max_size=300).map(str.encode) | st.binary(min_size=70_000, max_size=70_010),
        st.integers(min_value=1, max_value=4),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow],
)
@given(messages, st.lists(st.integers(min_value=0, max_value=400_000), max_size=30), st.booleans())
def test_messages_come_out_whole_and_in_order_however_the_bytes_are_cut(
    sent: list[tuple[bytes, int, bool]], cuts: list[int], deflate: bool
) -> None:
    compressor = zlib.compressobj(wbits=-15)
    wire = b""
    expected: list[object] = []
    for payload, pieces, ping_between in sent:
        body = deflated(compressor, payload) if deflate else payload
        step = max(1, len(body) // pieces)
        chunks = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            wire += frame(1 if index == 0 else 0, chunk, fin=last, rsv1=deflate and index == 0)
            if ping_between and not last:
                wire += frame(9, b"hb")
                expected.append(("ping", b"hb"))
        expected.append(payload)
    wire += frame(8, (1000).to_bytes(2, "big") + b"bye")
    expected.append(("close", 1000, "bye"))
    reader = FrameReader(deflate=deflate)
    assert shown(read_all(reader, wire, cuts)) == expected


def test_a_pong_is_dropped_and_a_close_without_a_code_has_none() -> None:
    reader = FrameReader()
    items = in_order(reader, reader.feed(frame(10, b"") + frame(8, b""), LIMIT))
    assert not reader.oversized
    assert shown(items) == [("close", None, "")]


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (bytes([0x81, 0x80 | 2]) + b"mask" + b"hi", "masked"),
        (frame(1, b"x")[:1].replace(b"\x81", b"\xa1") + frame(1, b"x")[1:], "reserved bit"),
        (frame(1, b"x", rsv1=True), "reserved bit"),
        (frame(9, b"x" * 126), "control frame"),
        (frame(9, b"x", fin=False), "control frame"),
        (frame(0, b"x"), "continuation"),
        (frame(1, b"a", fin=False) + frame(1, b"b"), "new message"),
        (frame(3, b"x"), "unknown opcode"),
        (frame(11, b""), "unknown control"),
        (frame(8, b"\x03"), "one-byte"),
    ],
    ids=[
        "masked",
        "rsv2",
        "rsv1-without-deflate",
        "long-control",
        "fragmented-control",
        "stray-continuation",
        "interleaved",
        "opcode-3",
        "opcode-11",
        "close-1-byte",
    ],
)
def test_protocol_violations_are_refused(wire: bytes, why: str) -> None:
    with pytest.raises(ProtocolViolation, match=why):
        FrameReader().feed(wire, LIMIT)


def test_rsv1_on_a_continuation_is_refused_even_with_deflate() -> None:
    wire = frame(1, b"a", fin=False) + frame(0, b"b", rsv1=True)
    with pytest.raises(ProtocolViolation, match="reserved bit"):
        FrameReader(deflate=True).feed(wire, LIMIT)


def test_a_long_frame_is_kept_only_to_one_byte_past_the_limit_as_it_arrives() -> None:
    reader = FrameReader()
    payload = b"z" * 5_000_000
    wire = frame(1, payload) + frame(1, b"next")
    out: list[object] = []
    for start in range(0, len(wire), 65_536):
        out += reader.feed(wire[start : start + 65_536], 1000)
        # Never more than one read's worth plus the capped message held.
        assert len(reader._buffer) <= 65_536
        assert sum(len(part) for part in reader._parts) <= 1001
    assert [len(item) for item in out if isinstance(item, bytes)] == [1001, 4]
    assert reader.oversized


def test_an_inflated_message_over_the_limit_stops_the_reader() -> None:
    compressor = zlib.compressobj(wbits=-15)
    bomb = deflated(compressor, b"\x00" * 10_000_000)
    after = deflated(compressor, b"after")
    reader = FrameReader(deflate=True)
    out = reader.feed(frame(1, bomb, rsv1=True) + frame(1, after, rsv1=True), 1000)
    assert [len(item) for item in out if isinstance(item, bytes)] == [1001]
    assert reader.spent()
    assert reader.feed(frame(1, b"more"), 1000) == []


def test_no_context_takeover_inflates_each_message_afresh() -> None:
    wire = b""
    for text in (b"one one one", b"two two two"):
        compressor = zlib.compressobj(wbits=-15)
        wire += frame(1, deflated(compressor, text), rsv1=True)
    reader = FrameReader(deflate=True, reset_each_message=True)
    assert reader.feed(wire, LIMIT) == [b"one one one", b"two two two"]


def test_a_message_that_does_not_inflate_is_a_violation() -> None:
    with pytest.raises(ProtocolViolation, match="does not inflate"):
        FrameReader(deflate=True).feed(frame(1, b"\xff\xff\xff\xff", rsv1=True), LIMIT)
