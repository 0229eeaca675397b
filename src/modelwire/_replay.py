"""``modelwire decode``: replay a captured stream through a codec, one JSON line per event.

For someone debugging a provider, the useful answers are "what did modelwire make of these
bytes" and, when it failed, "where". So the output is the common events in exactly the spec's
key sets, then the aggregate, and a decode failure is located by byte range in the file. The
commonest mistake, a capture replayed with the wrong ``--wire``, is named as such: when the
payloads look like another wire API's, stderr says which.

A ``--cuts`` file (``.chunks.json``, as the spec's vectors ship) is a JSON object
``{"cuts": [o1, o2, ...], "length": n}``: the byte offsets where one read ends and the next
begins, strictly increasing inside the stream, and optionally the stream's size, which must
match; other keys (``stream``, ``notes``) are ignored.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import msgspec
import orjson

from .errors import ModelwireError
from .wire import ErrorEvent, Event, ResponseAccumulator, SSEDecoder, StreamDecoding

__all__ = ["CUTS_FORMAT", "replay", "sniff_wire_api"]

CUTS_FORMAT = (
    'a JSON object {"cuts": [O1, O2, ...], "length": N}: strictly increasing byte offsets '
    "where one read ends and the next begins, and (optional) the stream's size in bytes"
)
_SNIFF_EVENTS = 8
"""Payloads looked at to guess a stream's wire API: its first few say which API it is."""
_MESSAGES_TYPES = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "ping",
    }
)


class _Cuts(msgspec.Struct):
    cuts: list[int]
    length: int | None = None


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ModelwireError(f"cannot read {path}: {exc.strerror or exc}") from exc


def reads_from_cuts(body: bytes, cuts_file: Path) -> list[bytes]:
    """The reads a ``.chunks.json`` file describes: ``body[0:o1]``, ``body[o1:o2]``, …"""
    try:
        spec = msgspec.json.decode(cuts_file.read_bytes(), type=_Cuts)
    except OSError as exc:
        raise ModelwireError(f"cannot read {cuts_file}: {exc.strerror or exc}") from exc
    except msgspec.DecodeError as exc:
        raise ModelwireError(
            f"{cuts_file}: not a chunks file ({exc}); expected {CUTS_FORMAT}"
        ) from None
    if spec.length is not None and spec.length != len(body):
        raise ModelwireError(
            f"{cuts_file} describes a {spec.length}-byte stream but the input has {len(body)}"
        )
    points = [0, *spec.cuts, len(body)]
    if any(b <= a for a, b in itertools.pairwise(points)):
        raise ModelwireError(f"{cuts_file}: cuts must increase strictly within (0, {len(body)})")
    return [body[a:b] for a, b in itertools.pairwise(points)]


def reads_of_size(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def event_byte_range(body: bytes, number: int) -> tuple[int, int] | None:
    """Where the ``number``-th event with data (from 1) sits: first and last byte, inclusive.

    The range starts right after the previous event, so comments or data-less blocks in
    between are included.

    Only run after a failure, so it can afford to refeed one byte at a time and learn exactly
    which byte completed each event.
    """
    framer = SSEDecoder()
    seen = 0
    start = 0
    for offset in range(len(body)):
        for event in framer.feed(body[offset : offset + 1]):
            if event.data:
                seen += 1
                if seen == number:
                    return start, offset
                start = offset + 1
    return None


def sniff_wire_api(body: bytes) -> str | None:
    """The wire API a stream's first payloads look like, or ``None`` when they say nothing.

    Chat chunks carry ``choices`` (or ``object: chat.completion.chunk``); Messages events a
    ``type`` from its event set; Responses events a ``type`` starting ``response.``. Errors and
    keep-alives fit several, so only the first payload that fits one API decides.
    """
    framer = SSEDecoder()
    looked = 0
    try:
        events = [*framer.feed(body), *framer.close()]
    except ModelwireError:  # not SSE at all: the decode's own error says so
        return None
    for event in events:
        if not event.data or event.data == "[DONE]":
            continue
        looked += 1
        if looked > _SNIFF_EVENTS:
            break
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(payload, dict):
            continue
        kind = payload.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            return "responses"
        if kind in _MESSAGES_TYPES:
            return "messages"
        if "choices" in payload or payload.get("object") == "chat.completion.chunk":
            return "chat"
    return None


def replay(
    wire_api: str,
    path: str,
    reads: Iterable[bytes],
    body: bytes,
    out: TextIO,
    *,
    max_event_bytes: int | None = None,
) -> int:
    """Print the events and the aggregate; 0 when the stream completed, 1 when it failed (or
    when its payloads are another wire API's)."""
    decoding = (
        StreamDecoding(wire_api)
        if max_event_bytes is None
        else StreamDecoding(wire_api, max_event_bytes=max_event_bytes)
    )
    accumulator = ResponseAccumulator()
    failure: ErrorEvent | None = None

    def emit(events: list[Event]) -> None:
        nonlocal failure
        for event in events:
            accumulator.add(event)
            if isinstance(event, ErrorEvent):
                failure = event
            out.write(msgspec.json.encode(event).decode())
            out.write("\n")

    for chunk in reads:
        emit(decoding.feed(chunk))
        if decoding.done:
            break
    else:
        emit(decoding.close())
    out.write(orjson.dumps({"type": "final", **accumulator.result().summary()}).decode())
    out.write("\n")
    out.flush()
    looks_like = sniff_wire_api(body)
    if looks_like is not None and looks_like != wire_api:
        # Another API's payloads mostly decode to nothing rather than to an error, so this is
        # said whatever the outcome: an empty reply that "completed" is the confusing case.
        print(
            f"modelwire: {path}: this stream does not look like --wire {wire_api}: its payloads "
            f"look like the {looks_like} API (try --wire {looks_like})",
            file=sys.stderr,
        )
        return 1
    if failure is None:
        return 0
    failed_at = decoding.codec.failed_event
    if failed_at is not None:
        where = event_byte_range(body, failed_at)
        located = f" (bytes {where[0]}-{where[1]})" if where else ""
        print(f"modelwire: {path}: SSE event #{failed_at}{located} is malformed", file=sys.stderr)
    return 1
