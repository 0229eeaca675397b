"""The SSE decoder: spec §7-8 rules, read-boundary independence, property tests, bounded memory."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwire.errors import StreamDecodeError
from modelwire.wire import SSEDecoder, SSEEvent, aiter_sse, iter_sse
from modelwire.wire.sse import PayloadFramer


def decode(*chunks: bytes, **options: int) -> list[SSEEvent]:
    return list(iter_sse(chunks, **options))


def ev(data: bytes, event: str = "message", id: str | None = None) -> SSEEvent:
    return SSEEvent(event, data, id)


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def cut(data: bytes, offsets: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(set(offsets)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def test_plain_data_events() -> None:
    assert decode(b"data: a\n\ndata: b\n\n") == [ev(b"a"), ev(b"b")]


@pytest.mark.parametrize(
    ("line", "value"),
    [(b"data:x", b"x"), (b"data:  x", b" x"), (b"data: [DONE]", b"[DONE]"), (b"data", b"")],
)
def test_one_leading_space_is_removed_from_values(line: bytes, value: bytes) -> None:
    assert decode(line + b"\n\n") == [ev(value)]


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending_works(ending: bytes) -> None:
    body = ending.join([b"event: e", b"data: 1", b"", b"data: 2", b"", b""])
    assert decode(body) == [ev(b"1", "e"), ev(b"2")]


def test_mixed_line_endings_in_one_stream() -> None:
    assert decode(b"data: a\r\n\r\ndata: b\r\rdata: c\n\r\n") == [ev(b"a"), ev(b"b"), ev(b"c")]


def test_cr_and_lf_split_across_reads_are_one_line_end() -> None:
    events = decode(b"data: a\r", b"\n", b"\r", b"\ndata: b\r\n\r\n")
    assert events == [ev(b"a"), ev(b"b")]


def test_a_stream_whose_last_byte_is_a_cr_dispatches() -> None:
    assert decode(b"data: a\r\r") == [ev(b"a")]


def test_multi_line_data_joins_with_lf() -> None:
    assert decode(b'data: {"a":\ndata: 1}\n\n') == [ev(b'{"a":\n1}')]


def test_comments_anywhere_including_between_data_lines() -> None:
    body = b": keepalive\n:\ndata: a\n: OPENROUTER PROCESSING\ndata: b\n\n:\n\n"
    assert decode(body) == [ev(b"a\nb")]


def test_extra_blank_lines_dispatch_nothing() -> None:
    assert decode(b"\n\n\ndata: a\n\n\n\n\ndata: b\n\n\n") == [ev(b"a"), ev(b"b")]


def test_blocks_without_data_produce_no_event_and_reset_the_type() -> None:
    body = b"event: ping\n\nid: 5\n\nretry: 3000\n\ndata: x\n\n"
    decoder = SSEDecoder()
    assert decoder.feed(body) == [ev(b"x", "message", "5")]
    assert decoder.retry_ms == 3000
    assert decoder.last_event_id == "5"


def test_id_survives_dispatch_and_nul_ids_are_ignored() -> None:
    body = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x003\ndata: c\n\nid\ndata: d\n\n"
    assert decode(body) == [ev(b"a", id="1"), ev(b"b", id="1"), ev(b"c", id="1"), ev(b"d", id="")]


@pytest.mark.parametrize("value", [b"abc", b"12a", b"  1", b"-5", b"\xd9\xa3"])
def test_retry_applies_only_to_ascii_digits(value: bytes) -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 7\n\nretry:" + value + b"\n\n")
    assert decoder.retry_ms == 7


def test_unknown_fields_are_ignored() -> None:
    assert decode(b"foo: bar\nbaz\ndata: a\n\n") == [ev(b"a")]


def test_event_type_from_the_event_field() -> None:
    assert decode(b"event:delta\ndata: a\n\nevent: \ndata: b\n\n") == [
        ev(b"a", "delta"),
        ev(b"b"),
    ]


def test_bom_is_stripped_once_even_split_across_reads() -> None:
    body = b"\xef\xbb\xbfdata: a\n\n"
    assert decode(body) == [ev(b"a")]
    assert decode(*bytewise(body)) == [ev(b"a")]
    assert decode(b"\xef\xbb", b"\xbf\xef\xbb\xbfdata: a\n\n") == []  # only the first BOM
    assert decode(b"data: \xef\xbb\xbfa\n\n") == [ev(b"\xef\xbb\xbfa")]


def test_a_lone_partial_bom_is_data_when_the_bom_does_not_complete() -> None:
    assert decode(b"\xef", b"data: a\n\n") == []  # "\xefdata" is an unknown field
    assert decode(b"\xef\xbb", b"\n\ndata: a\n\n") == [ev(b"a")]


def test_undispatched_event_at_eof_is_discarded() -> None:
    assert decode(b"data: a\n\ndata: b\n") == [ev(b"a")]
    assert decode(b"data: a\n\ndata: b") == [ev(b"a")]


def test_utf8_split_inside_a_code_point_is_reassembled() -> None:
    text = "\u2212\u00bd \U0001f642"  # minus sign, one half, a smiling face: 3, 2, 4 bytes
    body = f"data: {text}\n\n".encode()
    assert decode(*bytewise(body)) == [ev(text.encode())]


def test_invalid_utf8_data_stays_bytes_and_fails_only_when_read_as_text() -> None:
    (event,) = decode(b"data: \xff\xfe\n\n")
    with pytest.raises(StreamDecodeError, match="not valid UTF-8"):
        _ = event.text


@pytest.mark.parametrize("split", [False, True])
def test_invalid_utf8_in_event_names_and_ids_becomes_replacement_characters(split: bool) -> None:
    body = b": \xff comment\nevent: a\xffb\nid: 7\xc3\ndata: x\n\nevent: \xe2\x88\ndata: y\n\n"
    events = decode(*bytewise(body)) if split else decode(body)
    assert events == [ev(b"x", "a\ufffdb", "7\ufffd"), ev(b"y", "\ufffd", "7\ufffd")]
    assert payloads(*(bytewise(body) if split else [body])) == [b"x", b"y"]


def test_text_decodes_utf8() -> None:
    assert ev("é".encode()).text == "é"


def test_a_line_past_the_limit_is_refused_without_buffering_it_all() -> None:
    decoder = SSEDecoder(max_event_bytes=1024)
    decoder.feed(b"data: ")
    for _ in range(15):
        decoder.feed(b"x" * 64)
    with pytest.raises(StreamDecodeError, match=r"longer than max_event_bytes \(1024 bytes\)"):
        decoder.feed(b"x" * 64)
    with pytest.raises(StreamDecodeError):
        decode(b"data: " + b"x" * 2000 + b"\n\n", max_event_bytes=1024)
    with pytest.raises(StreamDecodeError):
        decode(b"data: " + b"x" * 600 + b"\ndata: " + b"y" * 600 + b"\n\n", max_event_bytes=1024)


def test_ten_megabyte_line_is_refused_by_default() -> None:
    decoder = SSEDecoder()
    chunk = b"x" * 4096
    decoder.feed(b"data: ")
    reads = 0

    def feed_until_refused() -> None:
        nonlocal reads
        while reads < 10 * 1024 * 1024 // 4096:
            reads += 1
            decoder.feed(chunk)

    with pytest.raises(StreamDecodeError):
        feed_until_refused()
    assert reads * 4096 <= 8 * 1024 * 1024 + 4096


def test_large_line_within_the_limit_arrives_whole() -> None:
    payload = b"y" * 1_000_000
    body = b"data: " + payload + b"\n\n"
    assert decode(*cut(body, range(4096, len(body), 4096))) == [ev(payload)]


def test_position_counts_every_byte_fed() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"\xef\xbb\xbfdata: a\r")
    decoder.feed(b"\n\n")
    assert decoder.position == 13


def test_events_continue_across_reads_mid_block() -> None:
    assert decode(b"event: e\nda", b"ta: 1\n", b"data: 2\n", b"\n") == [ev(b"1\n2", "e")]


async def test_async_iterator_matches_the_sync_one(anyio_backend: str) -> None:
    body = b"event: e\r\ndata: 1\r\n\r\n: c\ndata: 2\n\n"

    async def reads() -> AsyncIterator[bytes]:
        for piece in bytewise(body):
            yield piece

    assert [e async for e in aiter_sse(reads())] == decode(body)


# --- the shared conformance vectors: read boundaries never matter ---------------------------


def vector_streams(shared: Path) -> list[Path]:
    return sorted((shared / "spec" / "vectors").glob("*.sse"))


def test_vectors_decode_identically_at_any_read_boundaries(shared: Path) -> None:
    import msgspec

    streams = vector_streams(shared)
    assert len(streams) == 16
    rng = random.Random(20261125)
    for path in streams:
        body = path.read_bytes()
        whole = decode(body)
        assert whole, path.name
        assert decode(*bytewise(body)) == whole, path.name
        cuts_file = path.with_suffix(".chunks.json")
        if cuts_file.exists():
            cuts = msgspec.json.decode(cuts_file.read_bytes())["cuts"]
            assert decode(*cut(body, cuts)) == whole, path.name
        for _ in range(300):
            offsets = rng.sample(range(1, len(body)), rng.randint(1, min(40, len(body) - 1)))
            assert decode(*cut(body, offsets)) == whole, path.name


# --- property: decode(serialize(events)) == events ------------------------------------------

FIELD_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=12,
)
EVENTS = st.lists(
    st.tuples(
        st.one_of(st.none(), FIELD_TEXT.filter(lambda t: t.strip() == t and t != "")),
        st.lists(FIELD_TEXT, min_size=1, max_size=4),
        st.one_of(st.none(), FIELD_TEXT),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(events=EVENTS, data=st.data())
def test_property_decode_inverts_serialize(
    events: list[tuple[str | None, list[str], str | None]], data: st.DataObject
) -> None:
    endings = [b"\n", b"\r", b"\r\n"]
    body = bytearray()
    expected: list[SSEEvent] = []
    last_id: str | None = None

    def line(text: bytes) -> None:
        # After a CR, a blank line ending in a bare LF would merge into one CRLF line end.
        allowed = endings[1:] if not text and body.endswith(b"\r") else endings
        body.extend(text + data.draw(st.sampled_from(allowed)))

    for kind, lines, event_id in events:
        for _ in range(data.draw(st.integers(0, 2))):
            line(b": comment")
        if kind is not None:
            line(b"event: " + kind.encode())
        if event_id is not None:
            line(b"id: " + event_id.encode())
            last_id = event_id
        for value in lines:
            line(b"data: " + value.encode())
            if data.draw(st.booleans()):
                line(b":")
        line(b"")
        for _ in range(data.draw(st.integers(0, 2))):
            line(b"")
        expected.append(ev("\n".join(lines).encode(), kind or "message", last_id))
    raw = bytes(body)
    offsets = data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=20))
    assert decode(*cut(raw, offsets)) == expected


# --- differential: the fast decoder against a plain reading of the spec ---------------------


def reference_decode(body: bytes) -> list[SSEEvent]:
    """The spec's algorithm, line by line over the whole body, with no fast paths."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    lines.pop()  # what follows the last line end is an unterminated line: never processed
    out: list[SSEEvent] = []
    data: list[bytes] = []
    kind = ""
    last_id: str | None = None
    for line in lines:
        if not line:
            if data:
                out.append(SSEEvent(kind or "message", b"\n".join(data), last_id))
            data, kind = [], ""
            continue
        if line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if name == b"data":
            data.append(value)
        elif name == b"event":
            kind = value.decode()
        elif name == b"id" and b"\x00" not in value:
            last_id = value.decode()
    return out


def test_a_cr_inside_a_read_does_not_swallow_the_next_reads_lf() -> None:
    body = b"data: \r\r\rid: x\ndata: a\r\r\r\r"
    assert decode(*cut(body, [7, 14, 19, 23])) == [ev(b""), ev(b"a", id="x")]
    assert decode(*cut(body, [7, 14, 19, 23])) == reference_decode(body)


SSE_ATOMS = st.sampled_from(
    [
        *(b"data", b"data:", b"data: ", b"event: e", b"id: x", b"retry: 5", b": c", b"a"),
        *(b"\xc3\xa9", b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(atoms=st.lists(SSE_ATOMS, max_size=30), data=st.data())
def test_property_matches_the_reference_on_arbitrary_streams(
    atoms: list[bytes], data: st.DataObject
) -> None:
    raw = b"".join(atoms)
    offsets = data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=12))
    assert decode(*cut(raw, offsets)) == reference_decode(raw)


# --- the payload framer: the codecs' fast view must equal the full decoder's data -----------


def payloads(*chunks: bytes) -> list[bytes]:
    framer = PayloadFramer()
    out = [data for chunk in chunks for data in framer.feed(chunk)]
    assert framer.close() == []
    return out


@settings(max_examples=500, deadline=None)
@given(atoms=st.lists(SSE_ATOMS, max_size=40), data=st.data())
def test_property_payload_framer_matches_the_reference(
    atoms: list[bytes], data: st.DataObject
) -> None:
    raw = b"".join(atoms)
    offsets = data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=12))
    expected = [event.data for event in reference_decode(raw) if event.data]
    assert payloads(*cut(raw, offsets)) == expected


BLOCKS = st.sampled_from(
    [
        b'data: {"a":1}\n\n',
        b'event: e\ndata: {"b":2}\n\n',
        b"data: \n\n",
        b": keep-alive\n\n",
        b"id: 7\ndata: x\n\n",
        b"data: one\ndata: two\n\n",
        b"event: e\n\n",
        b"\n",
        b"data:tight\n\n",
    ]
)


@settings(max_examples=500, deadline=None)
@given(blocks=st.lists(BLOCKS, max_size=60), data=st.data())
def test_property_payload_framer_on_block_mixes(blocks: list[bytes], data: st.DataObject) -> None:
    raw = b"".join(blocks)
    offsets = data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=20))
    expected = [event.data for event in reference_decode(raw) if event.data]
    assert payloads(*cut(raw, offsets)) == expected


def test_payload_framer_gives_up_the_block_view_after_repeated_misses() -> None:
    odd = b": ping\ndata: 1\n\n"
    framer = PayloadFramer()
    got = [data for _ in range(20) for data in framer.feed(odd)]
    assert got == [b"1"] * 20
    assert framer._lines


def test_payload_framer_hands_over_on_a_bom_or_a_cr() -> None:
    assert payloads(b"\xef\xbb", b"\xbfdata: a\n\n") == [b"a"]
    assert payloads(b"data: a\n", b"\ndata: b\r\n\r\n") == [b"a", b"b"]
    assert payloads(b"data: a\n", b"\n") == [b"a"]


def test_payload_framer_refuses_an_endless_block() -> None:
    framer = PayloadFramer(max_event_bytes=1000)
    framer.feed(b"data: " + b"x" * 900)
    with pytest.raises(StreamDecodeError):
        framer.feed(b"x" * 200)
