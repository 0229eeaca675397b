"""Reading a server's WebSocket frames (RFC 6455 §5, RFC 7692): the socket's hot path.

Every token of a reply over a socket crosses this code, once per frame. ``wsproto`` parses a
frame in ~10 µs of pure-Python bookkeeping (a generator per frame, extension hooks per
fragment), ten times what the SSE framer spends per event, which would make the socket path
slower per event than the HTTP one it exists to beat. So ``wsproto`` keeps what it is good at —
the handshake, and masking and compressing what the client sends — and frames *from* the server
are read here: a whole unfragmented text frame (nearly every event) costs a header check and a
slice; fragments, binary messages, deflated messages, pings and closes take the general path.

Server frames are never masked; a masked one, a reserved bit or opcode, a control frame that is
fragmented or over 125 bytes, or a continuation out of place is a ``ProtocolViolation``. A
message longer than ``limit`` (on the wire or inflated) is kept only to ``limit + 1`` bytes and
the rest of it is dropped as it arrives: memory stays bounded by the limit whatever a frame's
header claims, and the caller fails the stream on the oversized result.
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = ["Close", "FrameReader", "Ping", "ProtocolViolation"]

_TAIL = b"\x00\x00\xff\xff"
"""What permessage-deflate strips from each message's end (RFC 7692 §7.2.1), put back here."""
_STREAMED = 64 * 1024
"""A data frame longer than this is taken as its bytes arrive instead of buffered whole."""


class ProtocolViolation(Exception):
    """The server broke the WebSocket protocol; the socket must be dropped."""


class Ping:
    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Close:
    __slots__ = ("code", "reason")

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason


class FrameReader:
    """Frames in, whole messages (and pings and closes) out, in order, whatever the reads."""

    __slots__ = (
        "_buffer",
        "_compressed",
        "_fin",
        "_inflater",
        "_left",
        "_oversize",
        "_parts",
        "_reset",
        "_size",
        "_spent",
        "_started",
        "controls",
        "deflate",
        "oversized",
    )

    def __init__(self, *, deflate: bool = False, reset_each_message: bool = False) -> None:
        self.deflate = deflate
        self._reset = reset_each_message
        self._inflater: Any = zlib.decompressobj(-15) if deflate else None
        self._buffer = b""
        self._started = False
        """A fragmented message is in progress."""
        self._compressed = False
        self._parts: list[bytes] = []
        self._size = 0
        self._oversize = False
        self._left = 0
        """Bytes still to come of a long data frame taken as it arrives."""
        self._fin = False
        self._spent = False
        """A message overflowed while inflating: nothing after it can be inflated."""
        self.oversized = False
        """A message came out over the limit (cut to ``limit + 1`` bytes); the reader's user
        clears it. Lets the common case skip measuring every message."""
        self.controls: list[tuple[int, Ping | Close]] = []
        """The last ``feed``'s pings and closes, each with the number of messages before it."""

    def feed(self, data: bytes, limit: int) -> list[bytes]:
        """The messages ``data`` completes (with what came before), in order; the control
        frames among them are in ``controls``, each after the number of messages before it."""
        out: list[bytes] = []
        controls = self.controls
        if controls:
            controls.clear()
        if self._spent:
            return out
        pos = 0
        if self._left:
            taken = min(self._left, len(data))
            self._take(data[:taken], limit)
            self._left -= taken
            pos = taken
            if not self._left and self._fin:
                out.append(self._finish(limit))
                if self.spent():
                    return out
        buffer = self._buffer + data[pos:] if self._buffer else data[pos:] if pos else data
        self._buffer = b""
        pos, end = 0, len(buffer)
        append = out.append
        started = self._started
        inflater = self._inflater
        while end - pos >= 2:
            if not started:
                # The hot loop: whole uncompressed text frames of up to 64 KiB, back to back
                # (nearly every event). Anything else leaves it for the general path below.
                while end - pos >= 4 and buffer[pos] == 0x81:
                    second = buffer[pos + 1]
                    if second < 126:
                        start = pos + 2
                    elif second == 126:
                        start = pos + 4
                        second = (buffer[pos + 2] << 8) | buffer[pos + 3]
                    else:
                        break
                    stop = start + second
                    if stop > end or second > limit:
                        break
                    append(buffer[start:stop])
                    pos = stop
                if end - pos < 2:
                    break
            first, second = buffer[pos], buffer[pos + 1]
            if second & 0x80:
                raise ProtocolViolation("the server masked a frame")
            size = second & 0x7F
            head = 2
            if size == 126:
                if end - pos < 4:
                    break
                size = (buffer[pos + 2] << 8) | buffer[pos + 3]
                head = 4
            elif size == 127:
                if end - pos < 10:
                    break
                size = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                head = 10
            start = pos + head
            stop = start + size
            if first == 0x81 and not started and stop <= end:
                # The hot path: a whole text message in one uncompressed frame.
                if size > limit:
                    self.oversized = True
                    append(buffer[start : start + limit + 1])
                else:
                    append(buffer[start:stop])
                pos = stop
                continue
            if first == 0xC1 and not started and stop <= end and size <= limit and inflater:
                # The same, deflated (what a server that took the offer sends).
                try:
                    message = inflater.decompress(buffer[start:stop] + _TAIL, limit + 1)
                except zlib.error as exc:
                    raise ProtocolViolation(
                        f"a compressed message does not inflate ({exc})"
                    ) from None
                pos = stop
                if inflater.unconsumed_tail:
                    append(message[: limit + 1])
                    self.oversized = self._spent = True
                    return out
                append(message)
                if self._reset:
                    inflater = self._inflater = zlib.decompressobj(-15)
                continue
            opcode = first & 0x0F
            if first & 0x70 and (first & 0x30 or not self.deflate or opcode == 0 or opcode >= 8):
                raise ProtocolViolation(f"a reserved bit is set (opcode {opcode})")
            if opcode >= 8:
                if not first & 0x80 or size > 125:
                    raise ProtocolViolation("a control frame is fragmented or over 125 bytes")
                if stop > end:
                    break
                control = self._control(opcode, buffer[start:stop])
                if control is not None:
                    controls.append((len(out), control))
                pos = stop
                continue
            if stop > end and size <= _STREAMED:
                break
            self._begin(opcode, bool(first & 0x40))
            started = True
            if stop > end:
                # A long frame: what is here now, the rest as it arrives.
                self._take(buffer[start:end], limit)
                self._left = stop - end
                self._fin = bool(first & 0x80)
                return out
            self._take(buffer[start:stop], limit)
            pos = stop
            if first & 0x80:
                out.append(self._finish(limit))
                if self.spent():
                    return out
            started = self._started
        if pos < end:
            self._buffer = buffer[pos:]
        return out

    def spent(self) -> bool:
        """Whether a message overflowed while inflating (nothing after it is read)."""
        return self._spent

    def _begin(self, opcode: int, compressed: bool) -> None:
        if opcode == 0:
            if not self._started:
                raise ProtocolViolation("a continuation frame with no message to continue")
            return
        if opcode not in (1, 2):
            raise ProtocolViolation(f"unknown opcode {opcode}")
        if self._started:
            raise ProtocolViolation("a new message began before the last one ended")
        self._started = True
        self._compressed = compressed
        self._parts = []
        self._size = 0
        self._oversize = False

    def _take(self, chunk: bytes, limit: int) -> None:
        if self._oversize:
            return
        self._size += len(chunk)
        if self._size > limit:
            keep = len(chunk) - (self._size - limit - 1)
            self._parts.append(chunk[:keep])
            self._oversize = True
        else:
            self._parts.append(chunk)

    def _finish(self, limit: int) -> bytes:
        parts = self._parts
        message = parts[0] if len(parts) == 1 else b"".join(parts)
        self._started = False
        self._parts = []
        if self._oversize:
            # A compressed one was never inflated: the inflater's context is behind the
            # server's from here on.
            self._spent = self._compressed
            self.oversized = True
            return message
        if self._compressed:
            inflater = self._inflater
            try:
                message = inflater.decompress(message + _TAIL, limit + 1)
            except zlib.error as exc:
                raise ProtocolViolation(f"a compressed message does not inflate ({exc})") from None
            if inflater.unconsumed_tail:
                # Over the limit inflated: the rest is not inflated, and the stream fails. The
                # inflater's context is now behind the server's, so nothing after this message
                # can be read: the reader stops here.
                message = message[: limit + 1]
                self.oversized = self._spent = True
            if self._reset:
                self._inflater = zlib.decompressobj(-15)
        return message

    @staticmethod
    def _control(opcode: int, payload: bytes) -> Ping | Close | None:
        """A ping to answer, a close, or ``None`` for a pong (the client sends no pings)."""
        if opcode == 9:
            return Ping(payload)
        if opcode == 8:
            if len(payload) == 1:
                raise ProtocolViolation("a close frame with a one-byte payload")
            code = int.from_bytes(payload[:2], "big") if payload else None
            return Close(code, payload[2:].decode("utf-8", "replace"))
        if opcode == 10:
            return None
        raise ProtocolViolation(f"unknown control opcode {opcode}")
