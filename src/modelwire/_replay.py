"""``modelwire decode``: replay a captured stream through a codec, one JSON line per event.

For someone debugging a provider, the useful answers are "what did modelwire make of these
bytes" and, when it failed, "where". So the output is the common events in exactly the spec's
key sets, then the aggregate, and a decode failure is located by byte range in the file.
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

__all__ = ["replay"]


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
        raise ModelwireError(f"{cuts_file}: not a chunks file: {exc}") from exc
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


def replay(wire_api: str, path: str, reads: Iterable[bytes], body: bytes, out: TextIO) -> int:
    """Print the events and the aggregate; 0 when the stream completed, 1 when it failed."""
    decoding = StreamDecoding(wire_api)
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
    if failure is None:
        return 0
    failed_at = decoding.codec.failed_event
    if failed_at is not None:
        where = event_byte_range(body, failed_at)
        located = f" (bytes {where[0]}-{where[1]})" if where else ""
        print(f"modelwire: {path}: SSE event #{failed_at}{located} is malformed", file=sys.stderr)
    return 1
