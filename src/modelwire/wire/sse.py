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

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from ..errors import StreamDecodeError

__all__ = ["DEFAULT_MAX_LINE_BYTES", "SSEDecoder", "SSEEvent", "aiter_sse", "iter_sse"]

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
"""A single SSE line (or one event's data) larger than this is refused."""

_BOM = b"\xef\xbb\xbf"
_DEFAULT_EVENT = "message"


class SSEEvent:
    """One dispatched event: its type, its data (lines joined by LF), and the stream's last id."""

    __slots__ = ("data", "event", "id")

    def __init__(self, event: str, data: bytes, id: str | None = None) -> None:
        self.event = event
        self.data = data
        self.id = id

    @property
    def text(self) -> str:
        """The data as text; ``StreamDecodeError`` when it is not UTF-8."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StreamDecodeError(f"event data is not valid UTF-8: {exc.reason}") from exc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSEEvent):
            return NotImplemented
        return (self.event, self.data, self.id) == (other.event, other.data, other.id)

    def __hash__(self) -> int:
        return hash((self.event, self.data, self.id))

    def __repr__(self) -> str:
        return f"SSEEvent(event={self.event!r}, data={self.data!r}, id={self.id!r})"


class SSEDecoder:
    """Feed it reads with ``feed``; it returns the events those reads completed.

    ``close`` marks the end of the stream: an event without its closing blank line is
    discarded, as the spec requires (POST streams cannot be resumed, so nothing reconnects).
    ``position`` counts the bytes consumed so far, for errors that point into the stream.
    """

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

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume one read and return the events it completed, in order."""
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
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            self._tail += chunk
            if len(self._tail) > self._max_line:
                raise self._too_long(start_position)
            return []
        if self._tail:
            self._tail += chunk[: end + 1]
            complete = bytes(self._tail)
            self._tail = bytearray(chunk[end + 1 :])
        else:
            complete = chunk[: end + 1] if end + 1 < len(chunk) else chunk
            self._tail = bytearray(chunk[end + 1 :])
        if len(self._tail) > self._max_line:
            raise self._too_long(start_position)
        if not self._tail and complete[-1] == 0x0D:
            # The read ended on a CR: an LF opening the next read belongs to this line end.
            self._skip_lf = True
        if 0x0D in complete:
            complete = complete.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return self._complete_lines(complete)

    def close(self) -> list[SSEEvent]:
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

    def _complete_lines(self, complete: bytes) -> list[SSEEvent]:
        """Process LF-terminated lines; blank lines dispatch."""
        out: list[SSEEvent] = []
        blocks = complete.split(b"\n\n")
        last = blocks.pop()  # complete lines after the last blank line, or b""
        for block in blocks:
            if not self._data and self._event is None and len(block) <= self._max_line:
                if block.startswith(b"data:") and b"\n" not in block:
                    value = block[6:] if block[5:6] == b" " else block[5:]
                    out.append(SSEEvent(_DEFAULT_EVENT, value, self._last_id))
                    continue
                if block.startswith(b"event:"):
                    newline = block.find(b"\n")
                    second = block[newline + 1 :]
                    if (
                        newline > 0
                        and second.startswith(b"data:")
                        and b"\n" not in second
                        and b"\x00" not in block
                    ):
                        name = block[6:newline]
                        kind = _text(name[1:] if name[:1] == b" " else name) or _DEFAULT_EVENT
                        value = second[6:] if second[5:6] == b" " else second[5:]
                        out.append(SSEEvent(kind, value, self._last_id))
                        continue
            for line in block.split(b"\n"):
                self._line(line, out)
            self._dispatch(out)
        if last:
            for line in last[:-1].split(b"\n"):
                self._line(line, out)
        return out

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
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
            self._event = _text(value)
        elif name == b"id" and b"\x00" not in value:
            self._last_id = _text(value)
        elif name == b"retry" and value.isdigit():
            self.retry_ms = int(value)

    def _dispatch(self, out: list[SSEEvent]) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
            out.append(SSEEvent(self._event or _DEFAULT_EVENT, data, self._last_id))
            self._data = []
        self._event = None


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
