"""Common events written back out as each wire API's exact bytes: the decoders run in reverse.

The mock provider answers in the shapes real providers send (spec sections 2 to 6 and the
vectors), so a client under test meets the bytes it meets in production, and the wire decoders
can be checked against their own inverse. Everything here is pure: events in, bytes out.

A stream is returned as a list of whole SSE blocks, one per provider event, so the server can
pace, cut or reset the connection between events exactly where a provider's would.

Rendering goes through a small turn model first (reasoning, text and tool-call segments, the
usage, the terminal event) because the APIs disagree about structure the common events leave
implicit: Messages and Responses open and close blocks or items, announce a reasoning item's
id before its text, and put usage at the start; chat has none of that. What an API cannot carry
is dropped the way its decoder would drop it (chat has no reasoning ids or signatures and no
redacted reasoning; Responses has no "no finish reason" and no redaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson

from ..wire.events import (
    Completed,
    ErrorEvent,
    Event,
    FinishReason,
    ReasoningDelta,
    ReasoningEnd,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)

__all__ = [
    "render_body",
    "render_error",
    "render_model",
    "render_model_not_found",
    "render_models",
    "render_models_page",
    "render_stream",
]

DEFAULT_CREATED: Final = 1_700_000_000
"""A fixed timestamp, so that the same turn always renders to the same bytes."""

WIRE_APIS: Final = ("responses", "chat", "messages")

# --- the turn model ---------------------------------------------------------------------------


class _Reasoning:
    __slots__ = ("closed", "id", "pieces", "redacted", "signature")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.id: str | None = None
        self.signature: str | None = None
        self.redacted = False
        self.closed = False


class _Text:
    __slots__ = ("pieces",)

    def __init__(self) -> None:
        self.pieces: list[str] = []


class _Tool:
    __slots__ = ("arguments", "closed", "id", "index", "name", "pieces")

    def __init__(self, index: int, call_id: str | None, name: str) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.pieces: list[str] = []
        self.arguments: str | None = None
        """What ``tool_call_end`` said the arguments were, once it arrived."""
        self.closed = False

    def missing(self) -> str:
        """Argument text the end event has that the deltas did not send (a whole-call end)."""
        sent = "".join(self.pieces)
        if self.arguments is not None and self.arguments.startswith(sent):
            return self.arguments[len(sent) :]
        return ""

    def full_arguments(self) -> str:
        return self.arguments if self.arguments is not None else "".join(self.pieces)


_Segment = _Reasoning | _Text | _Tool


class _Turn:
    __slots__ = ("segments", "started", "terminal", "usage")

    def __init__(self) -> None:
        self.segments: list[_Segment] = []
        self.started = False
        self.usage: Usage | None = None
        self.terminal: Completed | ErrorEvent | None = None

    def closes(self, position: int) -> bool:
        """Whether segment ``position`` gets its block stop / item done on the wire.

        Blocks are sequential, so a segment followed by another one, or by a normal end, is
        closed; only the last one before an error (or before the bytes just stop) stays open,
        which is what a provider failing mid-block sends.
        """
        segment = self.segments[position]
        closed = False if isinstance(segment, _Text) else segment.closed
        return closed or position + 1 < len(self.segments) or isinstance(self.terminal, Completed)

    def text(self) -> str:
        return "".join("".join(s.pieces) for s in self.segments if isinstance(s, _Text))

    def reasoning(self) -> str:
        return "".join(
            "".join(s.pieces) for s in self.segments if isinstance(s, _Reasoning) and not s.redacted
        )

    def tools(self) -> list[_Tool]:
        return [s for s in self.segments if isinstance(s, _Tool)]


def _parse(events: Sequence[Event]) -> _Turn:
    """Fold the events into segments; whatever follows the terminal event is ignored."""
    turn = _Turn()
    # An error first means the provider failed before it accepted the request: no preamble.
    turn.started = bool(events) and not isinstance(events[0], ErrorEvent)
    tools: dict[int, _Tool] = {}
    segments = turn.segments
    for event in events:
        if isinstance(event, ErrorEvent):
            turn.terminal = event
            break
        last = segments[-1] if segments else None
        if isinstance(event, TextDelta):
            if not event.text:
                continue
            if not isinstance(last, _Text):
                last = _Text()
                segments.append(last)
            last.pieces.append(event.text)
        elif isinstance(event, ReasoningDelta | ReasoningEnd):
            if not isinstance(last, _Reasoning) or last.closed:
                last = _Reasoning()
                segments.append(last)
            if isinstance(event, ReasoningDelta):
                if event.text:
                    last.pieces.append(event.text)
            else:
                last.id, last.signature = event.id, event.signature
                last.redacted, last.closed = event.redacted, True
        elif isinstance(event, ToolCallStart):
            tool = tools[event.index] = _Tool(event.index, event.id, event.name)
            segments.append(tool)
        elif isinstance(event, ToolCallDelta | ToolCallEnd):
            found = tools.get(event.index)
            if found is None:
                found = tools[event.index] = _Tool(event.index, None, "")
                segments.append(found)
            if isinstance(event, ToolCallDelta):
                if event.arguments:
                    found.pieces.append(event.arguments)
            else:
                found.id = found.id if found.id is not None else event.id
                found.name = found.name or event.name
                found.arguments, found.closed = event.arguments, True
        elif isinstance(event, Usage):
            turn.usage = event
        elif isinstance(event, Completed):
            turn.terminal = event
            break
        # A Start adds nothing: the server's response_id and model stand in for its values.
    return turn


# --- finish reasons ---------------------------------------------------------------------------

_CHAT_READ: Final[Mapping[str, FinishReason]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
}
_CHAT_WRITE: Final[Mapping[FinishReason, str]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "pause": "pause",
    "other": "other",
}
_MESSAGES_READ: Final[Mapping[str, FinishReason]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "pause_turn": "pause",
    "refusal": "content_filter",
}
_MESSAGES_WRITE: Final[Mapping[FinishReason, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "pause": "pause_turn",
    "other": "other",
}
_RESPONSES_READ: Final[Mapping[str, FinishReason]] = {
    "completed": "stop",
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}
_RESPONSES_WRITE: Final[Mapping[FinishReason, str]] = {
    "stop": "completed",
    "tool_calls": "completed",
    "length": "max_output_tokens",
    "content_filter": "content_filter",
    "pause": "pause",
    "other": "other",
}


def _raw_finish(
    done: Completed, read: Mapping[str, FinishReason], write: Mapping[FinishReason, str]
) -> str | None:
    """The API's own finish value: the event's raw one when it means the same, else the default.

    A raw ``stop`` also stands for ``tool_calls``, because every decoder turns ``stop`` into
    ``tool_calls`` once a call has ended; so events from one API render faithfully in another.
    """
    finish, raw = done.finish_reason, done.raw_finish_reason
    if finish is None:
        return None
    if raw is not None:
        meaning = read.get(raw, "other")
        if meaning == finish or (meaning == "stop" and finish == "tool_calls"):
            return raw
    return write[finish]


# --- helpers ----------------------------------------------------------------------------------


def _dumps(value: object) -> bytes:
    return orjson.dumps(value)


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def _derived_id(prefix: str, response_id: str, position: int) -> str:
    """An id that real providers would mint, derived so that renders are reproducible."""
    return f"{prefix}{_digest(response_id, position)[:48]}"


def _request_id(response_id: str) -> str:
    return f"req_{_digest('request', response_id)[:24]}"


def _check(wire_api: str) -> str:
    if wire_api not in WIRE_APIS:
        raise ValueError(f"unknown wire API {wire_api!r}; expected one of {', '.join(WIRE_APIS)}")
    return wire_api


def _messages_usage(usage: Usage | None) -> dict[str, Any]:
    """Anthropic's usage: ``input_tokens`` leaves out the cache the common count includes."""
    if usage is None:
        usage = Usage()
    uncached = usage.input_tokens - usage.cached_input_tokens - usage.cache_write_input_tokens
    body: dict[str, Any] = {
        "input_tokens": max(0, uncached),
        "cache_creation_input_tokens": usage.cache_write_input_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
        "output_tokens": usage.output_tokens,
    }
    return body


def _messages_final_usage(usage: Usage | None) -> dict[str, Any]:
    body: dict[str, Any] = {"output_tokens": 0 if usage is None else usage.output_tokens}
    if usage is not None and usage.reasoning_tokens:
        body["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return body


def _openai_error(message: str | None, error_type: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _anthropic_error(error_type: str, message: str | None, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


# --- chat -------------------------------------------------------------------------------------


def _chat_usage(usage: Usage) -> dict[str, Any]:
    prompt_details: dict[str, Any] = {"cached_tokens": usage.cached_input_tokens}
    if usage.cache_write_input_tokens:
        prompt_details["cache_write_tokens"] = usage.cache_write_input_tokens
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _chat_stream(turn: _Turn, response_id: str, model: str, created: int) -> list[bytes]:
    out: list[bytes] = []
    head = {"id": response_id, "object": "chat.completion.chunk", "created": created}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        out.append(b"data: " + _dumps({**head, "model": model, "choices": [choice]}) + b"\n\n")

    if turn.started:
        chunk({"role": "assistant", "content": "", "refusal": None})
    for segment in turn.segments:
        if isinstance(segment, _Text):
            for piece in segment.pieces:
                chunk({"content": piece})
        elif isinstance(segment, _Reasoning):
            for piece in () if segment.redacted else segment.pieces:
                chunk({"content": None, "reasoning_content": piece})
        else:
            first = {
                "index": segment.index,
                "id": segment.id,
                "type": "function",
                "function": {"name": segment.name, "arguments": ""},
            }
            chunk({"tool_calls": [first]})
            for piece in [*segment.pieces, segment.missing()]:
                if piece:
                    fragment = {"index": segment.index, "function": {"arguments": piece}}
                    chunk({"tool_calls": [fragment]})
    terminal = turn.terminal
    if isinstance(terminal, ErrorEvent):
        error = {"code": terminal.code, "message": terminal.message}
        choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        body = {**head, "model": model, "error": error, "choices": [choice]}
        out.append(b"data: " + _dumps(body) + b"\n\n")
    elif isinstance(terminal, Completed):
        raw = _raw_finish(terminal, _CHAT_READ, _CHAT_WRITE)
        if raw is not None:
            chunk({}, raw)
        if turn.usage is not None:
            body = {**head, "model": model, "choices": [], "usage": _chat_usage(turn.usage)}
            out.append(b"data: " + _dumps(body) + b"\n\n")
        out.append(b"data: [DONE]\n\n")
    return out


def _chat_body(turn: _Turn, response_id: str, model: str, created: int) -> dict[str, Any]:
    terminal = turn.terminal
    if isinstance(terminal, ErrorEvent):
        return _openai_error(terminal.message, terminal.code, terminal.code)
    text = turn.text()
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    reasoning = turn.reasoning()
    if reasoning:
        message["reasoning_content"] = reasoning
    tools = turn.tools()
    if tools:
        message["tool_calls"] = [
            {
                "id": tool.id,
                "type": "function",
                "function": {"name": tool.name, "arguments": tool.full_arguments()},
            }
            for tool in tools
        ]
    message["refusal"] = None
    done = terminal if terminal is not None else Completed("stop", "stop")
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": _raw_finish(done, _CHAT_READ, _CHAT_WRITE),
    }
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
    }
    if turn.usage is not None:
        body["usage"] = _chat_usage(turn.usage)
    return body


# --- messages ---------------------------------------------------------------------------------


def _messages_stream(turn: _Turn, response_id: str, model: str, created: int) -> list[bytes]:
    del created  # Anthropic's stream carries no timestamp.
    out: list[bytes] = []

    def event(kind: str, **fields: Any) -> None:
        out.append(
            b"event: " + kind.encode() + b"\ndata: " + _dumps({"type": kind, **fields}) + b"\n\n"
        )

    if turn.started:
        shell: dict[str, Any] = {
            "id": response_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Real streams report a first output token or so here; message_delta corrects it.
            "usage": {**_messages_usage(turn.usage), "output_tokens": 1},
        }
        event("message_start", message=shell)

    def block_start(index: int, block: dict[str, Any]) -> None:
        event("content_block_start", index=index, content_block=block)
        if index == 0:
            event("ping")  # Anthropic pings right after the first block opens.

    def block_delta(index: int, delta: dict[str, Any]) -> None:
        event("content_block_delta", index=index, delta=delta)

    for index, segment in enumerate(turn.segments):
        closes = turn.closes(index)
        if isinstance(segment, _Text):
            block_start(index, {"type": "text", "text": ""})
            for piece in segment.pieces:
                block_delta(index, {"type": "text_delta", "text": piece})
        elif isinstance(segment, _Reasoning):
            if segment.redacted:
                block_start(index, {"type": "redacted_thinking", "data": segment.signature or ""})
            else:
                block_start(index, {"type": "thinking", "thinking": "", "signature": ""})
                for piece in segment.pieces:
                    block_delta(index, {"type": "thinking_delta", "thinking": piece})
                if closes and segment.signature:
                    block_delta(index, {"type": "signature_delta", "signature": segment.signature})
        else:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": segment.id,
                "name": segment.name,
                "input": {},
            }
            block_start(index, block)
            missing = segment.missing()
            if not segment.pieces and missing == "{}":
                missing = ""  # an empty input: the decoder reports "{}" by itself.
            # The first input_json_delta is often empty in real streams.
            for position, piece in enumerate(["", *segment.pieces, missing]):
                if piece or position == 0:
                    block_delta(index, {"type": "input_json_delta", "partial_json": piece})
        if closes:
            event("content_block_stop", index=index)
    terminal = turn.terminal
    if isinstance(terminal, ErrorEvent):
        error = {"type": terminal.code, "message": terminal.message}
        event("error", error=error, request_id=_request_id(response_id))
    elif isinstance(terminal, Completed):
        raw = _raw_finish(terminal, _MESSAGES_READ, _MESSAGES_WRITE)
        event(
            "message_delta",
            delta={"stop_reason": raw, "stop_sequence": None},
            usage=_messages_final_usage(turn.usage),
        )
        event("message_stop")
    return out


def _tool_input(tool: _Tool) -> dict[str, Any]:
    arguments = tool.full_arguments()
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(
            f"tool call {tool.name!r} has arguments that are not a JSON object; the messages "
            "API carries a call's input as an object"
        )
    return value


def _messages_body(turn: _Turn, response_id: str, model: str, created: int) -> dict[str, Any]:
    del created
    terminal = turn.terminal
    if isinstance(terminal, ErrorEvent):
        return _anthropic_error(terminal.code, terminal.message, _request_id(response_id))
    content: list[dict[str, Any]] = []
    for segment in turn.segments:
        if isinstance(segment, _Text):
            content.append({"type": "text", "text": "".join(segment.pieces)})
        elif isinstance(segment, _Reasoning):
            if segment.redacted:
                content.append({"type": "redacted_thinking", "data": segment.signature or ""})
            else:
                content.append(
                    {
                        "type": "thinking",
                        "thinking": "".join(segment.pieces),
                        "signature": segment.signature or "",
                    }
                )
        else:
            content.append(
                {
                    "type": "tool_use",
                    "id": segment.id,
                    "name": segment.name,
                    "input": _tool_input(segment),
                }
            )
    done = terminal if terminal is not None else Completed("stop", "end_turn")
    usage = _messages_usage(turn.usage)
    if turn.usage is not None and turn.usage.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": turn.usage.reasoning_tokens}
    return {
        "id": response_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _raw_finish(done, _MESSAGES_READ, _MESSAGES_WRITE),
        "stop_sequence": None,
        "usage": usage,
    }


# --- responses --------------------------------------------------------------------------------


def _responses_usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    input_details = {
        "cached_tokens": usage.cached_input_tokens,
        "cache_write_tokens": usage.cache_write_input_tokens,
    }
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": input_details,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _responses_outcome(done: Completed) -> tuple[str, str | None]:
    """``(status, incomplete reason)``; a Responses stream always ends with one or the other."""
    raw = _raw_finish(done, _RESPONSES_READ, _RESPONSES_WRITE)
    if raw is None or raw == "completed":
        return "completed", None
    return "incomplete", raw


class _ResponsesItems:
    """The output items of one turn, with the ids and final shapes both renderers need."""

    __slots__ = ("ids", "response_id", "turn")

    def __init__(self, turn: _Turn, response_id: str) -> None:
        self.turn = turn
        self.response_id = response_id
        self.ids: list[str] = [self._id(position, s) for position, s in enumerate(turn.segments)]

    def _id(self, position: int, segment: _Segment) -> str:
        if isinstance(segment, _Reasoning):
            return segment.id or _derived_id("rs_", self.response_id, position)
        prefix = "msg_" if isinstance(segment, _Text) else "fc_"
        return _derived_id(prefix, self.response_id, position)

    def added(self, position: int) -> dict[str, Any]:
        segment, item_id = self.turn.segments[position], self.ids[position]
        if isinstance(segment, _Reasoning):
            return {"id": item_id, "type": "reasoning", "summary": []}
        if isinstance(segment, _Text):
            return {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "content": [],
                "role": "assistant",
            }
        return {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": segment.id,
            "name": segment.name,
        }

    def done(self, position: int) -> dict[str, Any]:
        segment, item_id = self.turn.segments[position], self.ids[position]
        if isinstance(segment, _Reasoning):
            text = "".join(segment.pieces)
            item: dict[str, Any] = {"id": item_id, "type": "reasoning"}
            if segment.signature is not None:
                item["encrypted_content"] = segment.signature
            item["summary"] = [{"type": "summary_text", "text": text}] if text else []
            return item
        if isinstance(segment, _Text):
            return {
                "id": item_id,
                "type": "message",
                "status": "completed",
                "content": [_output_text("".join(segment.pieces))],
                "role": "assistant",
            }
        return {
            "id": item_id,
            "type": "function_call",
            "status": "completed",
            "arguments": segment.full_arguments(),
            "call_id": segment.id,
            "name": segment.name,
        }


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _responses_snapshot(
    response_id: str,
    model: str,
    created: int,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None = None,
    reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": error,
        "incomplete_details": None if reason is None else {"reason": reason},
        "instructions": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "store": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": _responses_usage(usage),
        "metadata": {},
    }


def _responses_stream(turn: _Turn, response_id: str, model: str, created: int) -> list[bytes]:
    out: list[bytes] = []

    def event(kind: str, **fields: Any) -> None:
        body = {"type": kind, "sequence_number": len(out), **fields}
        out.append(b"event: " + kind.encode() + b"\ndata: " + _dumps(body) + b"\n\n")

    if turn.started:
        shell = _responses_snapshot(response_id, model, created, status="in_progress", output=[])
        event("response.created", response=shell)
        event("response.in_progress", response=shell)
    items = _ResponsesItems(turn, response_id)
    finished: list[dict[str, Any]] = []
    for position, segment in enumerate(turn.segments):
        item_id = items.ids[position]
        where = {"item_id": item_id, "output_index": position}
        event("response.output_item.added", output_index=position, item=items.added(position))
        closes = turn.closes(position)
        if isinstance(segment, _Reasoning):
            summary = "".join(segment.pieces)
            if summary:
                part = {"type": "summary_text", "text": ""}
                event("response.reasoning_summary_part.added", **where, summary_index=0, part=part)
                for piece in segment.pieces:
                    event(
                        "response.reasoning_summary_text.delta",
                        **where,
                        summary_index=0,
                        delta=piece,
                    )
                if closes:
                    event(
                        "response.reasoning_summary_text.done",
                        **where,
                        summary_index=0,
                        text=summary,
                    )
                    part = {"type": "summary_text", "text": summary}
                    event(
                        "response.reasoning_summary_part.done", **where, summary_index=0, part=part
                    )
        elif isinstance(segment, _Text):
            text = "".join(segment.pieces)
            at = {**where, "content_index": 0}
            event("response.content_part.added", **at, part=_output_text(""))
            for piece in segment.pieces:
                event("response.output_text.delta", **at, delta=piece, logprobs=[])
            if closes:
                event("response.output_text.done", **at, text=text, logprobs=[])
                event("response.content_part.done", **at, part=_output_text(text))
        else:
            for piece in [*segment.pieces, segment.missing()]:
                if piece:
                    event("response.function_call_arguments.delta", **where, delta=piece)
            if closes:
                arguments = segment.full_arguments()
                event("response.function_call_arguments.done", **where, arguments=arguments)
        if closes:
            item = items.done(position)
            finished.append(item)
            event("response.output_item.done", output_index=position, item=item)
    terminal = turn.terminal
    if isinstance(terminal, ErrorEvent):
        event("error", code=terminal.code, message=terminal.message, param=None)
        failure = {"code": terminal.code, "message": terminal.message}
        snapshot = _responses_snapshot(
            response_id, model, created, status="failed", output=finished, error=failure
        )
        event("response.failed", response=snapshot)
    elif isinstance(terminal, Completed):
        status, reason = _responses_outcome(terminal)
        snapshot = _responses_snapshot(
            response_id,
            model,
            created,
            status=status,
            output=finished,
            usage=turn.usage,
            reason=reason,
        )
        event(f"response.{status}", response=snapshot)
    return out


def _responses_body(turn: _Turn, response_id: str, model: str, created: int) -> dict[str, Any]:
    terminal = turn.terminal
    if isinstance(terminal, ErrorEvent):
        return _openai_error(terminal.message, terminal.code, terminal.code)
    items = _ResponsesItems(turn, response_id)
    output = [items.done(position) for position in range(len(turn.segments))]
    done = terminal if terminal is not None else Completed("stop", "completed")
    status, reason = _responses_outcome(done)
    return _responses_snapshot(
        response_id,
        model,
        created,
        status=status,
        output=output,
        usage=turn.usage,
        reason=reason,
    )


# --- entry points -----------------------------------------------------------------------------

_STREAMS: Final[Mapping[str, Callable[[_Turn, str, str, int], list[bytes]]]] = {
    "chat": _chat_stream,
    "messages": _messages_stream,
    "responses": _responses_stream,
}
_BODIES: Final[Mapping[str, Callable[[_Turn, str, str, int], dict[str, Any]]]] = {
    "chat": _chat_body,
    "messages": _messages_body,
    "responses": _responses_body,
}


def render_stream(
    wire_api: str,
    events: Sequence[Event],
    *,
    response_id: str,
    model: str,
    created: int = DEFAULT_CREATED,
) -> list[bytes]:
    """The SSE body a provider of ``wire_api`` sends for ``events``, one whole block per item.

    ``response_id`` and ``model`` stand in for whatever a ``Start`` event carries: the server
    picks them. Events after the terminal one are ignored; without a terminal event the body
    simply stops, as a dropped connection would. An ``ErrorEvent`` first means the provider
    failed before it started: the body is the error event alone.
    """
    return _STREAMS[_check(wire_api)](_parse(events), response_id, model, created)


def render_body(
    wire_api: str,
    events: Sequence[Event],
    *,
    response_id: str,
    model: str,
    created: int = DEFAULT_CREATED,
) -> bytes:
    """The non-streamed JSON body for the same turn; a terminal ``ErrorEvent`` gives the API's
    error body instead. Raises ``ValueError`` for messages tool arguments that are not a JSON
    object, which that API cannot carry."""
    return _dumps(_BODIES[_check(wire_api)](_parse(events), response_id, model, created))


# --- HTTP errors and model lists --------------------------------------------------------------

_ANTHROPIC_ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_OPENAI_ERRORS: Final[Mapping[int, tuple[str, str | None]]] = {
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("requests", "rate_limit_exceeded"),
}


def _anthropic_error_type(status: int) -> str:
    known = _ANTHROPIC_ERROR_TYPES.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


def render_error(wire_api: str, status: int, message: str, *, code: str | None = None) -> bytes:
    """The JSON body of an HTTP error response with ``status`` (spec §5).

    OpenAI-style APIs get ``{"error": {message, type, param, code}}``, with the type and code
    OpenAI uses for that status; Messages gets Anthropic's envelope, whose ``error.type`` is the
    status's documented type unless ``code`` names another one (``overloaded_error`` on a 500,
    say).
    """
    if _check(wire_api) == "messages":
        error_type = code or _anthropic_error_type(status)
        request_id = _request_id(f"{status}:{message}")
        return _dumps(_anthropic_error(error_type, message, request_id))
    error_type, default_code = _OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return _dumps(_openai_error(message, error_type, code if code is not None else default_code))


def _openai_model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": DEFAULT_CREATED, "owned_by": "modelwire"}


def _anthropic_model(model_id: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": _display_name(model_id),
        "created_at": "2025-01-01T00:00:00Z",
    }


def render_model(wire_api: str, model_id: str) -> bytes:
    """One model at ``GET …/models/{id}``, in the API's shape (OpenAI's object, Anthropic's
    ``type: model`` with a display name)."""
    if _check(wire_api) == "messages":
        return _dumps(_anthropic_model(model_id))
    return _dumps(_openai_model(model_id))


def render_model_not_found(wire_api: str, model_id: str) -> bytes:
    """The 404 body each API sends for an unknown model id."""
    if _check(wire_api) == "messages":
        return render_error(wire_api, 404, f"model: {model_id}")
    message = f"The model '{model_id}' does not exist or you do not have access to it."
    return render_error(wire_api, 404, message, code="model_not_found")


def render_models(wire_api: str, ids: Sequence[str]) -> bytes:
    """The model list at ``GET …/models``; for Messages, a single page holding every id."""
    if _check(wire_api) == "messages":
        return render_models_page(ids, has_more=False)
    return _dumps({"object": "list", "data": [_openai_model(model_id) for model_id in ids]})


def render_models_page(ids: Sequence[str], *, has_more: bool) -> bytes:
    """One page of Anthropic's model list; the client asks for the next with ``after_id``."""
    return _dumps(
        {
            "data": [_anthropic_model(model_id) for model_id in ids],
            "has_more": has_more,
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
        }
    )


def _display_name(model_id: str) -> str:
    return " ".join(word.capitalize() for word in model_id.replace("_", "-").split("-") if word)
