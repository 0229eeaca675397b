"""The wire layer's entry points: encode a request, decode a stream or a body.

These are the functions the transport and users build on. They are pure: bytes in, events
out, with no I/O of their own, so the same code serves a live HTTP stream, a replayed capture
(``modelwire decode``) and the benchmarks.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import msgspec
import orjson

from ..errors import StreamDecodeError
from ._codecs import codec_for
from ._stream import StreamCodec
from .endpoints import stream_path
from .events import Event, Response, ResponseAccumulator
from .request import Request
from .sse import DEFAULT_MAX_EVENT_BYTES, EventTooLargeError, PayloadFramer

__all__ = [
    "StreamDecoding",
    "adecode",
    "adecode_raw",
    "collect",
    "decode",
    "decode_raw",
    "decode_response",
    "encode",
    "encode_body",
    "stream_decoder",
]


def encode_body(wire_api: str, request: Request) -> dict[str, object]:
    """The JSON body for ``request`` as a dict (keys in the API's documented order)."""
    return codec_for(wire_api).encode_body(request)


def encode(wire_api: str, request: Request, *, base_url: str | None = None) -> tuple[str, bytes]:
    """``(path, body)``: the path relative to the base URL and the exact bytes to send.

    Pass the provider's ``base_url`` for the messages API, whose path depends on whether the
    base already ends in ``/v1`` (spec §1).
    """
    body = codec_for(wire_api).encode_body(request)
    return stream_path(str(wire_api), base_url), orjson.dumps(body)


def stream_decoder(wire_api: str) -> StreamCodec:
    """A fresh decoder for one stream of ``wire_api``: feed it SSE events, get common events."""
    return codec_for(wire_api).stream_decoder()


class StreamDecoding:
    """Push-style decoding of one stream: feed each read, get the common events it completed.

    The transport and ``modelwire decode`` drive this directly; ``decode``/``adecode`` wrap it
    for iterables. After the terminal event ``done`` is true and further reads are ignored.
    """

    __slots__ = ("codec", "framer")

    def __init__(self, wire_api: str, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.codec = stream_decoder(wire_api)
        self.framer = PayloadFramer(max_event_bytes=max_event_bytes)

    @property
    def done(self) -> bool:
        return self.codec.done

    def feed(self, chunk: bytes) -> list[Event]:
        try:
            events = self.framer.feed(chunk)
        except StreamDecodeError as exc:
            return self.failed(exc)
        if not events:
            return []
        self.codec.position = self.framer.position
        return self.codec.feed(events)

    def failed(self, exc: StreamDecodeError) -> list[Event]:
        """What a read that raised ``exc`` completed before its bad line, then the error."""
        completed = exc.completed if isinstance(exc, EventTooLargeError) else []
        events = self.codec.feed(completed) if completed else []
        if not self.codec.done:
            events += self.codec.fail("decode_error", str(exc))
        return events

    def close(self) -> list[Event]:
        """The body ended (EOF): the terminal event, if the stream had not produced one."""
        return self.codec.finish()


def decode(
    wire_api: str, chunks: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Iterator[Event]:
    """Common events from a stream's reads; always ends with exactly one terminal event."""
    decoding = StreamDecoding(wire_api, max_event_bytes=max_event_bytes)
    feed = decoding.feed
    codec = decoding.codec
    for chunk in chunks:
        events = feed(chunk)
        if events:
            yield from events
            if codec.done:
                return
    yield from decoding.close()


async def adecode(
    wire_api: str,
    chunks: AsyncIterable[bytes],
    *,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> AsyncIterator[Event]:
    """``decode`` over an async iterable of reads (an httpx response's ``aiter_raw()``)."""
    decoding = StreamDecoding(wire_api, max_event_bytes=max_event_bytes)
    feed = decoding.feed
    codec = decoding.codec
    async for chunk in chunks:
        events = feed(chunk)
        if events:
            for event in events:
                yield event
            if codec.done:
                return
    for event in decoding.close():
        yield event


def decode_raw(
    wire_api: str, chunks: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Iterator[object]:
    """The provider's own typed events, one per SSE event with data (raw mode).

    Malformed data raises ``StreamDecodeError`` after the events before it; sentinels such as
    chat's ``[DONE]`` yield nothing. This is ``decode``'s path without the common events (the
    payload framer, then the typed decodes of a read's payloads in one C-level ``map``), so
    raw mode never costs more than the common events do.
    """
    native = codec_for(wire_api).stream_decoder.native
    framer = PayloadFramer(max_event_bytes=max_event_bytes)
    feed = framer.feed
    for chunk in chunks:
        failure: EventTooLargeError | None = None
        try:
            payloads = feed(chunk)
        except EventTooLargeError as exc:
            payloads, failure = exc.completed, exc
        if payloads:
            try:
                # Sentinels decode to None; every native event is a struct, hence truthy.
                yield from filter(None, map(native, payloads))
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                raise _invalid(exc, framer.position) from exc
        if failure is not None:
            raise failure


async def adecode_raw(
    wire_api: str,
    chunks: AsyncIterable[bytes],
    *,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> AsyncIterator[object]:
    """``decode_raw`` over an async iterable of reads."""
    native = codec_for(wire_api).stream_decoder.native
    framer = PayloadFramer(max_event_bytes=max_event_bytes)
    feed = framer.feed
    async for chunk in chunks:
        failure: EventTooLargeError | None = None
        try:
            payloads = feed(chunk)
        except EventTooLargeError as exc:
            payloads, failure = exc.completed, exc
        if payloads:
            try:
                for typed in filter(None, map(native, payloads)):
                    yield typed
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                raise _invalid(exc, framer.position) from exc
        if failure is not None:
            raise failure


def _invalid(exc: Exception, position: int) -> StreamDecodeError:
    return StreamDecodeError(f"invalid event data in the stream's first {position} bytes: {exc}")


def collect(events: Iterable[Event]) -> Response:
    """Fold common events into the aggregated ``Response``."""
    accumulator = ResponseAccumulator()
    for event in events:
        accumulator.add(event)
    return accumulator.result()


def decode_response(wire_api: str, body: bytes) -> Response:
    """A non-streamed response body, aggregated the same way a stream is."""
    return collect(stream_decoder(wire_api).decode_body(body))
