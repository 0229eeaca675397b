"""The event-size cap: one rule for both framers, judged on the bytes, never on the reads.

``max_event_bytes`` bounds one line and one event's data. ``SSEDecoder`` and ``PayloadFramer``
must accept and refuse exactly the same streams, at the same read, with the same offset, and
that offset (where the offending line starts) must not move when the reads are cut
differently. A plain reading of the rules over the whole body is the reference.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwire.wire import (
    DEFAULT_MAX_EVENT_BYTES,
    ErrorEvent,
    EventTooLargeError,
    PayloadFramer,
    SSEDecoder,
    StreamDecoding,
    decode,
    decode_raw,
)

Outcome = tuple[list[bytes], tuple[int, int, bool] | None]
"""The payloads handed over, then (read number, offset, data?) of the refusal, if any."""


def cut(data: bytes, offsets: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(set(offsets)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def sizes(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def through(framer: SSEDecoder | PayloadFramer, reads: list[bytes]) -> Outcome:
    out: list[bytes] = []
    for number, chunk in enumerate(reads):
        try:
            got = framer.feed(chunk)
        except EventTooLargeError as exc:
            return out, (number, exc.offset, exc.data)
        if isinstance(framer, SSEDecoder):
            out += [event.data for event in got if event.data]  # type: ignore[union-attr]
        else:
            out += got  # type: ignore[arg-type]
    framer.close()
    return out, None


def both(reads: list[bytes], limit: int) -> tuple[Outcome, Outcome]:
    return (
        through(SSEDecoder(max_event_bytes=limit), reads),
        through(PayloadFramer(max_event_bytes=limit), reads),
    )


_LINE = re.compile(rb"([^\r\n]*)(\r\n|\r|\n)")


def reference(body: bytes, limit: int) -> tuple[list[bytes], tuple[int, bool] | None]:
    """Every payload, or the payloads before the first refusal and (offset, data?) of it."""
    start = 0
    if body.startswith(b"\xef\xbb\xbf"):
        start = 3
    elif len(body) < 3 and b"\xef\xbb\xbf".startswith(body):
        return [], None
    out: list[bytes] = []
    data: list[bytes] = []
    position = start
    for match in _LINE.finditer(body, start):
        line, at = match.group(1), match.start()
        position = match.end()
        if len(line) > limit:
            return out, (at, False)
        if not line:
            joined = b"\n".join(data)
            if joined:
                out.append(joined)
            data = []
            continue
        name, _, value = line.partition(b":")
        if name == b"data" and not line.startswith(b":"):
            data.append(value.removeprefix(b" "))
            if len(b"\n".join(data)) > limit:
                return out, (at, True)
    if len(body) - position > limit:
        return out, (position, False)
    return out, None


def matches_reference(body: bytes, limit: int, outcome: Outcome) -> None:
    """Same refusal (or none) as the reference; the payloads handed over before a refusal are
    a prefix of the reference's (the refused read's own events are never handed over)."""
    expected, refusal = reference(body, limit)
    handed, refused = outcome
    if refusal is None:
        assert (handed, refused) == (expected, None)
    else:
        assert refused is not None
        assert refused[1:] == refusal
        assert handed == expected[: len(handed)]


ATOMS = st.sampled_from(
    [
        *(b"data:", b"data: ", b"data: xxxxxxxx", b"event: e", b"event: ", b"id: 1", b": c"),
        *(b"xxxxxxxxxxxxxxxxxx", b"y", b"retry: 5", b"\xc3\xa9", b"\xff", b"\xef\xbb\xbf"),
        *(b"\n", b"\n", b"\n\n", b"\r", b"\r\n", b"\n\n\n"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    atoms=st.lists(ATOMS, max_size=40),
    limit=st.integers(1, 48),
    bom=st.booleans(),
    data=st.data(),
)
def test_property_both_framers_accept_and_refuse_alike_at_any_read_boundaries(
    atoms: list[bytes], limit: int, bom: bool, data: st.DataObject
) -> None:
    body = (b"\xef\xbb\xbf" if bom else b"") + b"".join(atoms)
    offsets = data.draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=16))
    reads = cut(body, offsets)
    lines, payloads = both(reads, limit)
    assert payloads == lines
    matches_reference(body, limit, lines)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200), limit=st.integers(1, 64), data=st.data())
def test_property_both_framers_agree_on_arbitrary_bytes(
    raw: bytes, limit: int, data: st.DataObject
) -> None:
    offsets = data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=16))
    lines, payloads = both(cut(raw, offsets), limit)
    assert payloads == lines
    matches_reference(raw, limit, lines)


BLOCKS = st.sampled_from(
    [
        b'data: {"a":1}\n\n',
        b'event: e\ndata: {"b":2}\n\n',
        b"data: " + b"z" * 30 + b"\n\n",
        b": keep-alive\n",
        b"id: 7\n",
        b"data: one\ndata: two\n",
        b"\n",
        b"data:" + b"w" * 70 + b"\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(blocks=st.lists(BLOCKS, max_size=80), limit=st.integers(8, 120), data=st.data())
def test_property_block_streams_near_the_limit_agree_with_the_reference(
    blocks: list[bytes], limit: int, data: st.DataObject
) -> None:
    body = b"".join(blocks)
    offsets = data.draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=30))
    lines, payloads = both(cut(body, offsets), limit)
    assert payloads == lines
    matches_reference(body, limit, lines)


# --- the refusal's offset names the line, whatever the read size ----------------------------


def offsets_by_read_size(body: bytes, limit: int) -> set[tuple[int, bool]]:
    seen: set[tuple[int, bool]] = set()
    for size in (len(body), 1024, 1, 7):
        for outcome in both(sizes(body, size), limit):
            assert outcome[1] is not None, size
            seen.add(outcome[1][1:])
    return seen


def test_a_long_line_is_refused_at_its_start_whole_in_kilobyte_reads_and_bytewise() -> None:
    prefix = b'data: {"a":1}\n\n: ping\r\nid: 4\r\n\r\n'
    body = prefix + b"data: " + b"x" * 5000 + b"\n\n"
    assert offsets_by_read_size(body, 4096) == {(len(prefix), False)}


def test_an_events_data_is_refused_at_the_line_that_passes_the_limit() -> None:
    prefix = b"data: a\r\n\r\n"
    lines = [b"data: " + b"y" * 900 + b"\n" for _ in range(5)]
    body = prefix + b"".join(lines) + b"\n"
    # 900 + 1 + 900 + 1 + 900 + 1 + 900 > 3000 at the fourth line
    assert offsets_by_read_size(body, 3000) == {(len(prefix) + 3 * len(lines[0]), True)}


def test_the_offset_counts_a_bom_and_every_cr() -> None:
    prefix = b"\xef\xbb\xbf: hi\r\n\r\r\n"
    body = prefix + b"data: " + b"q" * 100 + b"\r\n\r\n"
    assert offsets_by_read_size(body, 50) == {(len(prefix), False)}


def test_decode_names_the_knob_and_the_same_offset_for_any_read_size() -> None:
    head = b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    body = head + b'data: {"id":"c","choices":[{"delta":{"content":"' + b"x" * 20_000 + b"\n\n"
    messages = set()
    for size in (len(body), 1024, 1):
        events = list(decode("chat", sizes(body, size), max_event_bytes=10_000))
        error = events[-1]
        assert isinstance(error, ErrorEvent)
        assert error.code == "decode_error"
        messages.add(error.message)
    (message,) = messages
    assert message is not None
    assert f"starting at byte {len(head)}" in message
    assert "max_event_bytes (10000 bytes)" in message
    assert "stream_max_event_bytes" in message
    assert "--max-event-bytes" in message


def test_raw_mode_takes_the_limit_too() -> None:
    with pytest.raises(EventTooLargeError) as caught:
        list(decode_raw("chat", [b"data: " + b"x" * 300 + b"\n\n"], max_event_bytes=100))
    assert (caught.value.offset, caught.value.limit) == (0, 100)


# --- what both framers accept --------------------------------------------------------------


def test_many_short_lines_without_a_blank_line_are_accepted_by_both() -> None:
    limit = 1024
    body = b"".join(b": keep-alive %d\nid: %d\n" % (i, i) for i in range(5000))
    body += b"data: last\n\n"
    assert len(body) > 100 * limit
    for size in (len(body), 1024, 333):
        assert both(sizes(body, size), limit) == (([b"last"], None), ([b"last"], None))


def test_a_read_of_many_small_events_larger_than_the_limit_is_accepted_by_both() -> None:
    body = b"".join(b'event: e\ndata: {"n":%d}\n\n' % i for i in range(2000))
    expected = [b'{"n":%d}' % i for i in range(2000)]
    assert len(body) > 40 * 1024
    assert both([body], 1024) == ((expected, None), (expected, None))


def test_a_line_of_exactly_the_limit_is_accepted_and_blocks_resume_after_it() -> None:
    limit = 4096
    big = b"data: " + b"b" * (limit - 6) + b"\n\n"
    small = b"data: s\n\n" * 50
    framer = PayloadFramer(max_event_bytes=limit)
    assert through(framer, sizes(big + small, 512)) == ([big[6:-2]] + [b"s"] * 50, None)
    assert not framer._lines  # the line machine handed the stream back to the block view


def test_payload_framer_is_a_payload_view_of_the_decoder_on_a_large_event_stream() -> None:
    body = b"".join(
        b"event: delta\ndata: " + b"%d" % i * (i % 97) + b"\n\n"
        if i % 5
        else b": ping\ndata: " + b"p" * i + b"\n\n"
        for i in range(1, 800)
    )
    for size in (len(body), 4096, 1000, 77):
        lines, payloads = both(sizes(body, size), 2000)
        assert payloads == lines
        assert lines[1] is None


def test_the_limit_must_be_a_positive_int() -> None:
    with pytest.raises(ValueError, match="max_event_bytes must be at least 1"):
        SSEDecoder(max_event_bytes=0)
    with pytest.raises(TypeError, match="max_event_bytes must be an int"):
        StreamDecoding("chat", max_event_bytes="8M")  # type: ignore[arg-type]
    assert PayloadFramer().max_event_bytes == DEFAULT_MAX_EVENT_BYTES == 8 * 1024 * 1024


def test_the_refusal_survives_pickling_for_crash_reporters() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(EventTooLargeError(10, 42, data=True)))
    assert (error.limit, error.offset, error.data) == (10, 42, True)
    assert "at byte 42" in str(error)
