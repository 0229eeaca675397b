"""What every stream codec shares: the event sink that enforces the common model's invariants.

A codec subclasses ``StreamCodec`` and implements ``on_data`` (one SSE event's data) and
``on_eof`` (the body ended with no terminal event). It reports what it read through the
``_start``/``_text``/``_refusal``/``_tool_*``/``_complete``/``_fail`` helpers, which are the only
code that appends to the output, so the invariants hold for every API at once: ``start`` first,
deltas never empty, tool indexes in order of first appearance, ``usage`` at most once and only
right before the terminal event, ``stop`` turned into ``tool_calls`` after a tool call (or into
``content_filter`` after a refusal), and exactly one terminal event, after which everything is
ignored (and counted).

Usage normally comes only before ``completed``. The one exception is a stream that fails
after the provider already reported how the reply ended (messages: a ``message_delta`` then a
cut before ``message_stop``): those tokens were spent, so the usage event still comes, right
before the ``error``, and the ``ErrorEvent`` carries the finish reason the provider gave, so
nothing the provider said is lost while the stream still ends as the failure it was.

**Refusals, on every API.** A model's refusal is text: it arrives as ``text_delta`` events
(chat ``delta.refusal`` / ``message.refusal``, responses ``refusal`` deltas and content parts,
messages' ordinary text blocks) and lands in ``Response.text``. A reply that carried refusal
text and would have finished with ``stop`` finishes with ``content_filter`` instead, which is
also what messages' ``stop_reason: "refusal"`` maps to; ``raw_finish_reason`` keeps the
provider's own value, so ``"stop"``/``"completed"``/``"refusal"`` there tells a model's refusal
from a provider's content filter (``"content_filter"``).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from .events import (
    Completed,
    ErrorEvent,
    Event,
    FinishReason,
    ReasoningDelta,
    ReasoningEnd,
    Start,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    is_retryable,
)

__all__ = ["StreamCodec"]

_EXCERPT = 120


class StreamCodec:
    """One stream's decoder from SSE events to common events. Not reusable across streams."""

    wire_api: ClassVar[str]

    __slots__ = (
        "_out",
        "_refused",
        "_started",
        "_tool_args",
        "_tool_ended",
        "_tool_ids",
        "_tool_names",
        "_tools_finished",
        "done",
        "events_after_terminal",
        "events_seen",
        "failed_event",
        "position",
        "unknown_events",
    )

    def __init__(self) -> None:
        self._out: list[Event] = []
        self._started = False
        self._tool_ids: list[str | None] = []
        self._tool_names: list[str] = []
        self._tool_args: list[list[str]] = []
        self._tool_ended: list[bool] = []
        self._tools_finished = False
        self._refused = False
        self.done = False
        """True once the terminal event was produced; later input is ignored."""
        self.events_seen = 0
        """SSE events with data, counted from 1, so errors can name the one that failed."""
        self.events_after_terminal = 0
        self.failed_event: int | None = None
        """The number of the SSE event whose data could not be decoded, if one could not."""
        self.unknown_events = 0
        """Events of a type the codec does not know, skipped as the spec asks."""
        self.position = 0
        """Stream bytes consumed when the current batch was framed; set by the driver."""

    # --- driving ------------------------------------------------------------------------------

    def feed(self, payloads: list[bytes]) -> list[Event]:
        """Decode a batch of event payloads (one read's worth, none empty) into common events.

        Codecs override this with a loop specialised for their hot events; this generic one
        calls ``on_data`` per payload. Either way the batch bookkeeping (event numbers, what
        came after the terminal event) is done once per batch, not per event.
        """
        out: list[Event] = []
        self._out = out
        if self._ignored(payloads):
            return out
        general = self._general
        for data in payloads:
            if general(payloads, data):
                return out
        self.events_seen += len(payloads)
        return out

    def _general(self, payloads: list[bytes], data: bytes) -> bool:
        """``data`` (from ``payloads``) through ``on_data``; true when that ended the batch.

        The one path every event off a codec's inlined fast path takes: a decode failure or
        the terminal event closes the batch's bookkeeping here.
        """
        try:
            self.on_data(data)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            self._batch_failed(payloads, data, exc)
            return True
        if self.done:
            self._batch_ended(payloads, data)
            return True
        return False

    def _ignored(self, payloads: list[bytes]) -> bool:
        """After the terminal event a batch is only counted."""
        if self.done:
            self.events_after_terminal += len(payloads)
        return self.done

    def _batch_failed(self, payloads: list[bytes], data: bytes, exc: Exception) -> None:
        """``data`` (from ``payloads``) did not decode: fail, naming its event number.

        ``index`` finds the first payload equal to ``data``; an equal one earlier in the batch
        would have failed first, so it is this one.
        """
        index = payloads.index(data)
        self.events_seen += index + 1
        self._decode_failed(str(exc), data)
        self.events_after_terminal += len(payloads) - index - 1

    def _batch_ended(self, payloads: list[bytes], data: bytes) -> None:
        """``data`` was the terminal event: count it and what followed it in the batch."""
        index = payloads.index(data)
        self.events_seen += index + 1
        self.events_after_terminal += len(payloads) - index - 1

    def decode_body(self, body: bytes) -> list[Event]:
        """Decode a whole non-streamed response body into the same common events."""
        out: list[Event] = []
        self._out = out
        self.events_seen = 1
        try:
            self.on_body(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            self._decode_failed(str(exc), body)
        if not self.done:
            self.on_eof()
        return out

    def finish(self) -> list[Event]:
        """The body ended: close what is open or report the truncation."""
        out: list[Event] = []
        self._out = out
        if not self.done:
            self.on_eof()
        return out

    def fail(self, code: str, message: str | None) -> list[Event]:
        """Terminate from outside (framing error, idle timeout) unless already terminated."""
        out: list[Event] = []
        self._out = out
        if not self.done:
            self._fail(code, message)
        return out

    # --- for subclasses -----------------------------------------------------------------------

    @staticmethod
    def native(data: bytes) -> object | None:
        """One event's data as the API's own typed struct (raw mode); ``None`` for sentinels."""
        raise NotImplementedError

    def on_data(self, data: bytes) -> None:
        raise NotImplementedError

    def on_body(self, body: bytes) -> None:
        raise NotImplementedError

    def on_eof(self) -> None:
        self._fail("stream_truncated", "the stream ended before its terminal event")

    def _start(self, response_id: str | None, model: str | None) -> None:
        if not self._started:
            self._started = True
            self._out.append(Start(response_id, model))

    def _text(self, text: str | None) -> None:
        if text:
            self._out.append(TextDelta(text))

    def _refusal(self, text: str | None) -> None:
        """Refusal text: ordinary text for the caller, and the reply finishes ``content_filter``."""
        if text:
            self._refused = True
            self._out.append(TextDelta(text))

    def _reasoning(self, text: str | None) -> None:
        if text:
            self._out.append(ReasoningDelta(text))

    def _reasoning_end(self, block_id: str | None, signature: str | None, redacted: bool) -> None:
        self._out.append(ReasoningEnd(block_id, signature, redacted))

    def _tool_start(self, call_id: str | None, name: str) -> int:
        """Open a call and return its common index (order of first appearance)."""
        index = len(self._tool_ids)
        self._tool_ids.append(call_id)
        self._tool_names.append(name)
        self._tool_args.append([])
        self._tool_ended.append(False)
        self._out.append(ToolCallStart(index, call_id, name))
        return index

    def _tool_delta(self, index: int, arguments: str | None) -> None:
        if arguments and not self._tool_ended[index]:
            self._tool_args[index].append(arguments)
            self._out.append(ToolCallDelta(index, arguments))

    def _tool_end(self, index: int, empty_arguments: str = "") -> None:
        """Close one call; ``empty_arguments`` stands in when no argument bytes arrived."""
        if self._tool_ended[index]:
            return
        self._tool_ended[index] = True
        self._tools_finished = True
        arguments = "".join(self._tool_args[index]) or empty_arguments
        self._out.append(
            ToolCallEnd(index, self._tool_ids[index], self._tool_names[index], arguments)
        )

    def _end_open_tools(self) -> None:
        for index, ended in enumerate(self._tool_ended):
            if not ended:
                self._tool_end(index)

    @property
    def _tool_count(self) -> int:
        return len(self._tool_ids)

    def _finish_reason(self, finish: FinishReason | None) -> FinishReason | None:
        if finish == "stop":
            if self._refused:
                return "content_filter"
            if self._tools_finished:
                return "tool_calls"
        return finish

    def _complete(self, finish: FinishReason | None, raw: str | None, usage: Usage | None) -> None:
        if usage is not None:
            self._out.append(usage)
        self._out.append(Completed(self._finish_reason(finish), raw))
        self.done = True

    def _reported_end(self) -> tuple[Usage | None, FinishReason | None, str | None] | None:
        """What the provider already said about the reply's end, if the stream had got that far.

        ``None`` (the default) when it had not; a codec whose API reports usage and the finish
        reason before the stream's last event overrides this, so a failure after that report
        keeps it.
        """
        return None

    def _fail(self, code: str, message: str | None) -> None:
        reported = self._reported_end()
        if reported is None:
            self._out.append(ErrorEvent(code, message, is_retryable(code)))
        else:
            usage, finish, raw = reported
            if usage is not None:
                self._out.append(usage)
            finish = self._finish_reason(finish)
            self._out.append(ErrorEvent(code, message, is_retryable(code), finish, raw))
        self.done = True

    def _decode_failed(self, reason: str, data: bytes) -> None:
        self.failed_event = self.events_seen
        excerpt = data[:_EXCERPT].decode("utf-8", "replace")
        more = "…" if len(data) > _EXCERPT else ""
        self._fail(
            "decode_error",
            f"{self.wire_api} event #{self.events_seen} (in the stream's first "
            f"{self.position} bytes) is not a valid event: {reason}; data: {excerpt!r}{more}",
        )
