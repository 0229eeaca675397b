"""Incremental Server-Sent Events decoding: bytes in, events out, whatever the reads look like.

Every streamed token passes through here, so the common shape is made cheap. A read is cut at
its last line terminator; the complete part has its CRLF/CR line ends folded to LF once (a CR
ending one read and an LF starting the next count as one line end), then it is split on blank
lines into blocks. A block that is a single ``data: …`` line, or ``event: …`` then ``data: …``,
and that starts with no event half-built, is dispatched straight away; anything else (comments,
multi-line data, ``id``/``retry``, a block continued from the previous read) goes through the
general line-by-line state machine of the spec. Both paths give the same events.

Data stays ``bytes``: the codecs hand it to msgspec, which validates UTF-8 as it decodes, so
text is never decoded twice, and data that is not UTF-8 ends the stream as a ``decode_error``
where a codec reads it. The fields no codec needs (``event``, ``id``) are decoded the way the
SSE standard decodes a whole stream, invalid bytes becoming U+FFFD, so a proxy's stray byte
in an event name or id cannot fail a stream; comments are never decoded at all.

Only the incomplete tail of the stream is buffered, appended to in place, and each read is
searched for line ends by itself, so a large line arriving in many reads costs linear time.
Memory is bounded by ``max_event_bytes``: a single line longer than that, or one event whose
data (its ``data`` lines joined by LF) is larger, is refused with ``EventTooLargeError``, which
names the stream offset where that line starts. The offset, the decision and the read at which
it is made depend only on the bytes, never on how they were cut into reads, and
``SSEDecoder`` and ``PayloadFramer`` accept and refuse exactly the same inputs.
"""

from __future__ import annotations

import operator
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, ClassVar

import msgspec

from ..errors import StreamDecodeError

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "EventTooLargeError",
    "PayloadFramer",
    "SSEDecoder",
    "SSEEvent",
    "aiter_sse",
    "iter_sse",
]

DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024
"""A single SSE line, or one event's data, larger than this is refused (8 MiB)."""

_BOM = b"\xef\xbb\xbf"
_DEFAULT_EVENT = "message"


class EventTooLargeError(StreamDecodeError):
    """A line, or one event's data, passed ``max_event_bytes``.

    ``offset`` is where in the stream (counting every byte received, BOM and CRs included)
    the offending line starts: the same whatever the read sizes, so a capture replayed with
    ``modelwire decode`` points at the same byte the live stream failed on.

    ``completed`` holds what the failing read completed before the offending line (events, or
    payloads for ``PayloadFramer``): they were received, so consumers deliver them before the
    error, and the result never depends on where the reads ended.
    """

    def __init__(
        self, limit: int, offset: int, *, data: bool = False, completed: list[Any] | None = None
    ) -> None:
        self.limit = limit
        self.offset = offset
        self.data = data
        self.completed: list[Any] = completed if completed is not None else []
        what = (
            f"SSE event data grows past max_event_bytes ({limit} bytes) at the line starting "
            f"at byte {offset}"
            if data
            else f"SSE line starting at byte {offset} is longer than max_event_bytes "
            f"({limit} bytes)"
        )
        super().__init__(
            f"{what}; if the provider really sends events this large, raise max_event_bytes "
            "(a provider's stream_max_event_bytes in config, --max-event-bytes for "
            "modelwire decode)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_too_large, (self.limit, self.offset, self.data))


def _rebuild_too_large(limit: int, offset: int, data: bool) -> EventTooLargeError:
    return EventTooLargeError(limit, offset, data=data)


def _check_limit(max_event_bytes: int) -> int:
    if isinstance(max_event_bytes, bool) or not isinstance(max_event_bytes, int):
        raise TypeError(
            f"max_event_bytes must be an int (bytes), not {type(max_event_bytes).__name__}"
        )
    if max_event_bytes < 1:
        raise ValueError(f"max_event_bytes must be at least 1 byte, not {max_event_bytes}")
    return max_event_bytes


class SSEEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event: its type, its data (lines joined by LF), and the stream's last id.

    A frozen, untracked msgspec struct because one is built per event on the hot path, and
    msgspec builds them in C at well under half the cost of a slotted class.
    """

    event: str
    data: bytes
    id: str | None = None

    @property
    def text(self) -> str:
        """The data as text; ``StreamDecodeError`` when it is not UTF-8."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StreamDecodeError(f"event data is not valid UTF-8: {exc.reason}") from exc


class _Framer:
    """The SSE line state machine, shared by the two ways of reading its output.

    Subclasses choose what one dispatched event becomes: ``SSEDecoder`` builds ``SSEEvent``s;
    ``PayloadFramer`` hands over only the non-empty data, which is all the codecs read (they
    dispatch on the JSON ``type``, never on the ``event:`` line), and saves an object per event.
    """

    _PAYLOADS: ClassVar[bool] = False

    __slots__ = (
        "_at_start",
        "_base",
        "_data",
        "_data_size",
        "_event",
        "_folded",
        "_last_id",
        "_max",
        "_skip_lf",
        "_tail",
        "position",
        "retry_ms",
    )

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max = _check_limit(max_event_bytes)
        self._tail = bytearray()
        self._skip_lf = False
        self._at_start = True
        self._data: list[bytes] = []
        self._data_size = 0
        """The buffered data lines' lengths plus one LF each: the joined data's size + 1."""
        self._event: str | None = None
        self._last_id: str | None = None
        self._base = 0
        """The stream offset of the buffer being scanned, for errors that point into it."""
        self._folded: bytes | None = None
        """That buffer's bytes before CRLF folding, when folding shortened it."""
        self.retry_ms: int | None = None
        self.position = 0

    @property
    def max_event_bytes(self) -> int:
        return self._max

    @property
    def last_event_id(self) -> str | None:
        return self._last_id

    def _feed(self, chunk: bytes) -> list[Any]:
        if not chunk:
            return []
        self.position += len(chunk)
        if self._at_start:
            chunk = self._strip_bom(chunk)
            if not chunk:
                return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []
        # What is left of the read is always the stream's newest bytes, so it starts here.
        base = self.position - len(chunk)
        if 0x0D in chunk:
            return self._feed_with_cr(chunk, base)
        end = chunk.rfind(b"\n")
        tail = self._tail
        if end < 0:
            tail += chunk
            if len(tail) > self._max:
                raise self._too_long(self.position - len(tail))
            return []
        out: list[Any] = []
        pos = 0
        if tail:
            # Finish the line the previous read left open; the rest is scanned in place.
            pos = chunk.find(b"\n") + 1
            self._base = base - len(tail)
            self._folded = None
            tail += chunk[: pos - 1]
            if len(tail) > self._max:
                raise self._too_long(self._base)
            line = bytes(tail)
            tail.clear()
            self._line(line, out, 0)
        self._base = base
        self._folded = None
        self._scan(chunk, pos, end + 1, out)
        if end + 1 < len(chunk):
            tail += chunk[end + 1 :]
            if len(tail) > self._max:
                raise self._too_long(base + end + 1, out)
        return out

    def _feed_with_cr(self, chunk: bytes, base: int) -> list[Any]:
        """The rarer read holding a CR: fold CRLF and lone CR to LF, then scan as usual."""
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))  # >= 0: the read holds a CR
        tail = self._tail
        start = base - len(tail)
        if tail:
            tail += chunk[: end + 1]
            raw = bytes(tail)
            tail.clear()
        else:
            raw = chunk[: end + 1]
        if end + 1 == len(chunk) and raw[-1] == 0x0D:
            # The read ended on a CR: an LF opening the next read belongs to this line end.
            self._skip_lf = True
        complete = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self._base = start
        self._folded = raw if len(complete) != len(raw) else None
        out: list[Any] = []
        self._scan(complete, 0, len(complete), out)
        if end + 1 < len(chunk):
            tail += chunk[end + 1 :]
            if len(tail) > self._max:
                raise self._too_long(base + end + 1, out)
        return out

    def close(self) -> list[Any]:
        """End of stream. A half-received event is dropped; nothing else is pending."""
        self._tail.clear()
        self._data.clear()
        self._data_size = 0
        self._event = None
        return []

    def _strip_bom(self, chunk: bytes) -> bytes:
        """Drop a UTF-8 BOM at the very start, even one split across reads."""
        seen = bytes(self._tail) + chunk
        if len(seen) < len(_BOM) and _BOM.startswith(seen):
            self._tail = bytearray(seen)
            return b""
        self._at_start = False
        self._tail.clear()
        return seen[len(_BOM) :] if seen.startswith(_BOM) else seen

    def _offset(self, at: int) -> int:
        """The stream offset of position ``at`` (a line start) in the buffer being scanned."""
        raw = self._folded
        if raw is None:
            return self._base + at
        # Each CRLF before ``at`` was one byte longer in the stream. The count converges fast:
        # each round can only add pairs from the stretch the previous round added.
        shift = 0
        while True:
            pairs = raw.count(b"\r\n", 0, at + shift + 1)
            if pairs == shift:
                return self._base + at + shift
            shift = pairs

    def _too_long(self, offset: int, out: list[Any] | None = None) -> EventTooLargeError:
        return EventTooLargeError(self._max, offset, completed=out)

    def _scan(self, buf: bytes, pos: int, size: int, out: list[Any]) -> None:
        """Process the LF-terminated lines in ``buf[pos:size]`` (``buf[size - 1]`` is an LF).

        The loop walks line ends with ``find`` instead of splitting, so no per-block copies are
        made. At a line start with no event half-built, a ``data:`` line followed by a blank
        line, or an ``event:`` line, a ``data:`` line and a blank line, is exactly one event and
        is emitted directly; that is the same result the line-by-line rules give, at a fraction
        of the cost. Everything else goes line by line through ``_line``. ``self._base`` (and
        ``self._folded``) must describe ``buf`` for the errors to point at the right byte.
        """
        append = out.append
        find = buf.find
        startswith = buf.startswith
        max_line = self._max
        last_id = self._last_id
        payloads = self._PAYLOADS
        while pos < size:
            newline = find(b"\n", pos)  # always found before ``size``: buf[size - 1] is an LF
            if newline - pos > max_line:
                raise self._too_long(self._offset(pos), out)
            if not self._data and self._event is None:
                after = newline + 1
                if after < size and buf[after] == 0x0A:
                    if startswith(b"data:", pos):
                        value = pos + 6 if buf[pos + 5 : pos + 6] == b" " else pos + 5
                        if not payloads:
                            append(SSEEvent(_DEFAULT_EVENT, buf[value:newline], last_id))
                        elif value < newline:
                            append(buf[value:newline])
                        pos = after + 1
                        continue
                elif startswith(b"event:", pos) and startswith(b"data:", after, size):
                    second = find(b"\n", after, size)
                    if second + 1 < size and buf[second + 1] == 0x0A:
                        if second - after > max_line:
                            raise self._too_long(self._offset(after), out)
                        value = after + 6 if buf[after + 5 : after + 6] == b" " else after + 5
                        if not payloads:
                            raw = buf[
                                pos + 7 if buf[pos + 6 : pos + 7] == b" " else pos + 6 : newline
                            ]
                            name = _NAMES.get(raw) or _event_name(raw)
                            append(SSEEvent(name, buf[value:second], last_id))
                        elif value < second:
                            append(buf[value:second])
                        pos = second + 2
                        continue
            self._line(buf[pos:newline], out, pos)
            last_id = self._last_id
            pos = newline + 1

    def _line(self, line: bytes, out: list[Any], at: int) -> None:
        """One line (already within the length limit) that starts at ``at`` in the buffer."""
        if not line:
            self._dispatch(out)
            return
        if line[0] == 0x3A:  # ":" — a comment
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
        if name == b"data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._max + 1:
                raise EventTooLargeError(self._max, self._offset(at), data=True, completed=out)
        elif name == b"event":
            self._event = _event_name(value)
        elif name == b"id" and b"\x00" not in value:
            self._last_id = _text(value)
        elif name == b"retry" and value.isdigit():
            self.retry_ms = int(value)

    def _dispatch(self, out: list[Any]) -> None:
        """A blank line: emit the buffered event if it has data, then reset the buffers."""
        if self._data:
            data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
            if not self._PAYLOADS:
                out.append(SSEEvent(self._event or _DEFAULT_EVENT, data, self._last_id))
            elif data:
                out.append(data)
            self._data = []
            self._data_size = 0
        self._event = None


class SSEDecoder(_Framer):
    """Feed it reads with ``feed``; it returns the events those reads completed.

    ``close`` marks the end of the stream: an event without its closing blank line is
    discarded, as the spec requires (POST streams cannot be resumed, so nothing reconnects).
    ``position`` counts the bytes consumed so far, for errors that point into the stream.
    """

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume one read and return the events it completed, in order."""
        return self._feed(chunk)


class PayloadFramer(_Framer):
    """Like ``SSEDecoder``, but ``feed`` returns only each event's non-empty data.

    Most reads of a real stream are runs of identically shaped blocks (``data: …`` or
    ``event: …`` + ``data: …``, one line each). This framer buffers by *block* rather than by
    line, so each read's complete blocks form one run that starts at a block boundary, and
    frames that run with a handful of C-level ``bytes`` operations (split, slice, count)
    instead of a Python loop per event, after checks that prove the run has exactly that shape.
    A run that fails the checks, or is larger than ``max_event_bytes`` (so that a line in it
    might be too), goes through the line-by-line rules, which finish it with nothing half-built.

    The buffered block is kept as a list of reads and joined once, when its blank line
    arrives, so a long block costs linear time. A block that grows past ``max_event_bytes``
    without a blank line (a huge line, or many comment or ``id:`` lines) is handed to the line
    machine, which keeps only the open line and applies the limit per line and per event's
    data, exactly as ``SSEDecoder`` does; once that machine is back at a line start with no data
    buffered, blocks resume. Streams the block view cannot serve (a BOM, CR line ends, or runs
    that keep failing the checks) switch to the line machine for good.
    """

    __slots__ = ("_lines", "_misses", "_more", "_pending", "_pending_size", "_spilled")
    _PAYLOADS = True
    _MAX_MISSES = 8

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        super().__init__(max_event_bytes=max_event_bytes)
        self._pending = b""
        """The start of the open block (after the last blank line)."""
        self._more: list[bytes] = []
        """Reads that continued the open block without ending it, in order."""
        self._pending_size = 0
        self._misses = 0
        self._lines = False
        self._spilled = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """Consume one read and return the data of the events it completed, in order."""
        if self._lines:
            out = self._feed(chunk)
            if self._spilled and not self._tail and not self._data and not self._skip_lf:
                self._lines = self._spilled = False
            return out
        if not chunk:
            return []
        if 0x0D in chunk or (self._at_start and chunk[0] == 0xEF):
            return self._to_lines(chunk)
        self._at_start = False
        end = chunk.rfind(b"\n\n")
        if end >= 0:
            cut = end + 2
        elif chunk[0] == 0x0A and self._pending_size and self._last_pending_byte() == 0x0A:
            cut = 1
        else:
            self.position += len(chunk)
            if self._pending:
                self._more.append(chunk)
            else:
                self._pending = chunk
            self._pending_size += len(chunk)
            if self._pending_size > self._max:
                return self._spill()
            return []
        run_base = self.position - self._pending_size
        self.position += len(chunk)
        head = chunk[:cut]
        if self._more:
            run = b"".join([self._pending, *self._more, head])
            self._more.clear()
        else:
            run = self._pending + head if self._pending else head
        rest = self._pending = chunk[cut:]
        self._pending_size = len(rest)
        payloads = _run_payloads(run) if len(run) <= self._max else None
        if payloads is not None:
            self._misses = 0
            out = payloads
        else:
            out = []
            self._base = run_base
            self._folded = None
            self._scan(run, 0, len(run), out)
            if len(run) <= self._max:
                self._misses += 1
            if self._misses >= self._MAX_MISSES:
                self._lines = True
                if rest:  # the start of a block: the line machine takes it from here
                    self._pending, self._pending_size = b"", 0
                    self.position -= len(rest)
                    out += _after(out, self._feed, rest)
                return out
        if self._pending_size > self._max:
            out += _after(out, self._spill)
        return out

    def _last_pending_byte(self) -> int:
        return (self._more[-1] if self._more else self._pending)[-1]

    def _take_pending(self) -> bytes:
        pending = b"".join([self._pending, *self._more]) if self._more else self._pending
        self._pending, self._pending_size = b"", 0
        self._more.clear()
        self.position -= len(pending)
        return pending

    def _spill(self) -> list[bytes]:
        """The open block passed the limit: the line machine judges it line by line."""
        self._lines = self._spilled = True
        out = self._feed(self._take_pending())
        if not self._tail and not self._data:
            self._lines = self._spilled = False
        return out

    def _to_lines(self, chunk: bytes) -> list[bytes]:
        """Hand the buffered block and this read to the line machine, for the rest of the stream."""
        self._lines = True
        self._spilled = False
        return self._feed(self._take_pending() + chunk)

    def close(self) -> list[Any]:
        self._pending, self._pending_size = b"", 0
        self._more.clear()
        return super().close()


def _after(done: list[Any], step: Callable[..., list[Any]], *args: Any) -> list[Any]:
    """``step(*args)``; a limit error it raises also carries ``done``, completed before it."""
    try:
        return step(*args)
    except EventTooLargeError as exc:
        exc.completed[:0] = done
        raise


def _run_payloads(run: bytes) -> list[bytes] | None:
    """The data of a run of one-line ``data:`` blocks, with or without an ``event:`` line each.

    ``run`` starts at a block boundary and ends with a blank line. Returns ``None`` unless every
    block is exactly ``[event: NAME LF] data: VALUE LF LF``. Every LF in ``run`` is a line end,
    and each check below is one C-level pass, so the shape is proved without a Python loop
    per block: a run of ``data:`` blocks splits on its separators and has exactly two LFs per
    block (none left inside a value); a run of named blocks splits into lines whose stride is
    three, and since strings sharing a prefix form an interval in byte order, the smallest and
    largest line of a column having the prefix means every line in it does. Event names are
    not read: the codecs dispatch on the JSON ``type``.
    """
    if run.startswith(b"data: "):
        payloads = run[6:-2].split(b"\n\ndata: ")
        if run.count(b"\n") != 2 * len(payloads):
            return None
    elif run.startswith(b"event: "):
        lines = run.split(b"\n")
        count = len(lines)
        blocks = count // 3
        if count != 3 * blocks + 1 or any(lines[2::3]):
            return None
        names = lines[0:-1:3]
        data = lines[1::3]
        if not (
            min(names).startswith(b"event: ")
            and max(names).startswith(b"event: ")
            and min(data).startswith(b"data: ")
            and max(data).startswith(b"data: ")
        ):
            return None
        payloads = list(map(_AFTER_DATA_PREFIX, data))
    else:
        return None
    if b"" in payloads:
        return [payload for payload in payloads if payload]
    return payloads


_AFTER_DATA_PREFIX = operator.itemgetter(slice(6, None))

_NAMES: dict[bytes, str] = {}
_NAMES_MAX = 512


def _event_name(raw: bytes) -> str:
    """Event types repeat all stream long; decode each distinct one once (bounded cache)."""
    name = _NAMES.get(raw)
    if name is None:
        name = _text(raw) or _DEFAULT_EVENT
        if len(_NAMES) < _NAMES_MAX:
            _NAMES[raw] = name
    return name


def _text(value: bytes) -> str:
    """A field no codec needs, decoded as the SSE standard decodes streams: U+FFFD for bad bytes."""
    return value.decode("utf-8", "replace")


def iter_sse(
    chunks: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Iterator[SSEEvent]:
    """Events from an iterable of reads."""
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()


async def aiter_sse(
    chunks: AsyncIterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> AsyncIterator[SSEEvent]:
    """Events from an async iterable of reads (an httpx response's ``aiter_raw()``)."""
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event
