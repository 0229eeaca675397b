"""Incremental Server-Sent Events decoding: bytes in, events out, whatever the reads look like.

Every streamed token passes through here, so the common shape is made cheap. A read is cut at
its last line terminator; the complete part has its CRLF/CR line ends folded to LF once (a CR
ending one read and an LF starting the next count as one line end), then it is split on blank
lines into blocks. A block that is a single ``data: …`` line, or ``event: …`` then ``data: …``,
and that starts with no event half-built, is dispatched straight away; anything else (comments,
multi-line data, ``id``/``retry``, a block continued from the previous read) goes through the
general line-by-line state machine of the spec. Both paths give the same events.

Data stays ``bytes``: the codecs hand it to msgspec, which validates UTF-8 as it decodes, so
text is never decoded twice. ``SSEEvent.text`` decodes on demand for the rare caller that wants
a string. Only the incomplete tail of the stream is buffered, and a new read is searched for
line ends by itself, so a large line arriving in many reads costs linear time, and a line past
``max_line_bytes`` is refused instead of growing memory without bound.
"""

from __future__ import annotations

import operator
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, ClassVar

import msgspec

from ..errors import StreamDecodeError

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "PayloadFramer",
    "SSEDecoder",
    "SSEEvent",
    "aiter_sse",
    "iter_sse",
]

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
"""A single SSE line (or one event's data) larger than this is refused."""

_BOM = b"\xef\xbb\xbf"
_DEFAULT_EVENT = "message"


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
        "_data",
        "_event",
        "_last_id",
        "_max_line",
        "_skip_lf",
        "_tail",
        "position",
        "retry_ms",
    )

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._max_line = max_line_bytes
        self._tail = bytearray()
        self._skip_lf = False
        self._at_start = True
        self._data: list[bytes] = []
        self._event: str | None = None
        self._last_id: str | None = None
        self.retry_ms: int | None = None
        self.position = 0

    @property
    def last_event_id(self) -> str | None:
        return self._last_id

    def _feed(self, chunk: bytes) -> list[Any]:
        if not chunk:
            return []
        start_position = self.position
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
        if 0x0D in chunk:
            return self._feed_with_cr(chunk, start_position)
        end = chunk.rfind(b"\n")
        tail = self._tail
        if end < 0:
            tail += chunk
            if len(tail) > self._max_line:
                raise self._too_long(start_position)
            return []
        out: list[Any] = []
        pos = 0
        if tail:
            # Finish the line the previous read left open; the rest is scanned in place.
            pos = chunk.find(b"\n") + 1
            tail += chunk[: pos - 1]
            if len(tail) > self._max_line:
                raise self._too_long(start_position)
            line = bytes(tail)
            tail.clear()
            self._line(line, out)
        self._scan(chunk, pos, end + 1, out)
        if end + 1 < len(chunk):
            tail += chunk[end + 1 :]
            if len(tail) > self._max_line:
                raise self._too_long(start_position)
        return out

    def _feed_with_cr(self, chunk: bytes, start_position: int) -> list[Any]:
        """The rarer read holding a CR: fold CRLF and lone CR to LF, then scan as usual."""
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            self._tail += chunk
            if len(self._tail) > self._max_line:
                raise self._too_long(start_position)
            return []
        self._tail += chunk[: end + 1]
        complete = bytes(self._tail)
        self._tail = bytearray(chunk[end + 1 :])
        if len(self._tail) > self._max_line:
            raise self._too_long(start_position)
        if not self._tail and complete[-1] == 0x0D:
            # The read ended on a CR: an LF opening the next read belongs to this line end.
            self._skip_lf = True
        complete = complete.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: list[Any] = []
        self._scan(complete, 0, len(complete), out)
        return out

    def close(self) -> list[Any]:
        """End of stream. A half-received event is dropped; nothing else is pending."""
        self._tail.clear()
        self._data.clear()
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

    def _too_long(self, start: int) -> StreamDecodeError:
        return StreamDecodeError(
            f"SSE line longer than {self._max_line} bytes near byte {start}; "
            "raise max_line_bytes if the provider really sends events this large"
        )

    def _scan(self, buf: bytes, pos: int, size: int, out: list[Any]) -> None:
        """Process the LF-terminated lines in ``buf[pos:size]`` (``buf[size - 1]`` is an LF).

        The loop walks line ends with ``find`` instead of splitting, so no per-block copies are
        made. At a line start with no event half-built, a ``data:`` line followed by a blank
        line, or an ``event:`` line, a ``data:`` line and a blank line, is exactly one event and
        is emitted directly; that is the same result the line-by-line rules give, at a fraction
        of the cost. Everything else goes line by line through ``_line``.
        """
        append = out.append
        find = buf.find
        startswith = buf.startswith
        max_line = self._max_line
        last_id = self._last_id
        payloads = self._PAYLOADS
        while pos < size:
            newline = find(b"\n", pos)  # always found before ``size``: buf[size - 1] is an LF
            if newline - pos > max_line:
                raise self._too_long(self.position)
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
                            raise self._too_long(self.position)
                        value = after + 6 if buf[after + 5 : after + 6] == b" " else after + 5
                        raw = buf[pos + 7 if buf[pos + 6 : pos + 7] == b" " else pos + 6 : newline]
                        name = _NAMES.get(raw) or _event_name(raw)
                        if not payloads:
                            append(SSEEvent(name, buf[value:second], last_id))
                        elif value < second:
                            append(buf[value:second])
                        pos = second + 2
                        continue
            self._line(buf[pos:newline], out)
            last_id = self._last_id
            pos = newline + 1

    def _line(self, line: bytes, out: list[Any]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line[0] == 0x3A:  # ":" — a comment
            return
        if len(line) > self._max_line:
            raise self._too_long(self.position)
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
        if name == b"data":
            self._data.append(value)
            if len(self._data) > 1 and sum(map(len, self._data)) > self._max_line:
                raise self._too_long(self.position)
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
    frames that run with a handful of C-level ``bytes`` operations (split, slice, join, count)
    instead of a Python loop per event, after checks that prove the run has exactly that shape.
    A run that fails the checks goes through the line-by-line rules, which finish it with
    nothing half-built. Streams the block view cannot serve (a BOM, CR line ends, or runs that
    keep failing the checks) switch to the line machine for good, carrying the buffered bytes.
    """

    __slots__ = ("_lines", "_misses", "_pending")
    _PAYLOADS = True
    _MAX_MISSES = 8

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._pending = b""
        self._misses = 0
        self._lines = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """Consume one read and return the data of the events it completed, in order."""
        if self._lines:
            return self._feed(chunk)
        if not chunk:
            return []
        if 0x0D in chunk or (self._at_start and chunk[0] == 0xEF):
            return self._to_lines(chunk)
        self._at_start = False
        pending = self._pending
        end = chunk.rfind(b"\n\n")
        if end >= 0:
            cut = end + 2
        elif chunk[0] == 0x0A and pending[-1:] == b"\n":
            cut = 1
        else:
            self.position += len(chunk)
            pending += chunk
            self._pending = pending
            if len(pending) > self._max_line:
                raise self._too_long(self.position - len(chunk))
            return []
        self.position += len(chunk)
        run = pending + chunk[:cut] if pending else chunk[:cut]
        self._pending = chunk[cut:]
        if len(run) > self._max_line or len(self._pending) > self._max_line:
            raise self._too_long(self.position - len(chunk))
        payloads = _run_payloads(run)
        if payloads is not None:
            self._misses = 0
            return payloads
        out: list[bytes] = []
        self._scan(run, 0, len(run), out)
        self._misses += 1
        if self._misses >= self._MAX_MISSES:
            self._lines = True
            pending, self._pending = self._pending, b""
            if pending:  # the start of a block: the line machine takes it from here
                self.position -= len(pending)
                out += self._feed(pending)
        return out

    def _to_lines(self, chunk: bytes) -> list[bytes]:
        """Hand the buffered block and this read to the line machine, for the rest of the stream."""
        self._lines = True
        pending, self._pending = self._pending, b""
        self.position -= len(pending)
        return self._feed(pending + chunk)

    def close(self) -> list[Any]:
        self._pending = b""
        return super().close()


def _run_payloads(run: bytes) -> list[bytes] | None:
    """The data of a run of one-line ``data:`` blocks, with or without an ``event:`` line each.

    ``run`` starts at a block boundary and ends with a blank line. Returns ``None`` unless every
    block is exactly ``[event: NAME LF] data: VALUE LF LF``. Every LF in ``run`` is a line end,
    and each check below is one C-level pass, so the shape is proved without a Python loop
    per block: a run of ``data:`` blocks splits on its separators and must have no LF left;
    a run of named blocks splits into lines whose stride is three, and since strings sharing
    a prefix form an interval in byte order, the smallest and largest line of a column
    having the prefix means every line in it does.
    """
    if run.startswith(b"data: "):
        payloads = run[6:-2].split(b"\n\ndata: ")
        if b"\n" in b"".join(payloads):
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
        try:
            b"".join(names).decode("utf-8")  # event types are text; the slow path says where not
        except UnicodeDecodeError:
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
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StreamDecodeError(f"SSE field is not valid UTF-8: {exc.reason}") from exc


def iter_sse(
    chunks: Iterable[bytes], *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[SSEEvent]:
    """Events from an iterable of reads."""
    decoder = SSEDecoder(max_line_bytes=max_line_bytes)
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()


async def aiter_sse(
    chunks: AsyncIterable[bytes], *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> AsyncIterator[SSEEvent]:
    """Events from an async iterable of reads (an httpx response's ``aiter_raw()``)."""
    decoder = SSEDecoder(max_line_bytes=max_line_bytes)
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event
