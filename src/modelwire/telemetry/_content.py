"""Prompt and completion content on telemetry: off unless the user opts in.

Content is the most sensitive thing a call carries, so the switch is the conventions' own
(``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``) or ``Client(capture_content=...)``, and
anything unrecognised means *no content* (with one warning). When on, messages are written in
the conventions' JSON shapes: a list of ``{"role", "parts": [...]}`` with typed parts.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson

from ..wire import ImagePart, Request, Response, TextPart, ToolResultPart

__all__ = ["CAPTURE_ENV", "Capture", "capture_for", "input_messages", "output_messages"]

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


class Capture(msgspec.Struct, frozen=True):
    """Where content goes: span attributes, the details event, both, or nowhere."""

    span: bool = False
    event: bool = False

    @property
    def any(self) -> bool:
        return self.span or self.event


_MODES = {
    # Generation 1: a boolean; true means on the span.
    "true": Capture(span=True),
    "false": Capture(),
    # Generation 2: where to put it.
    "no_content": Capture(),
    "span_only": Capture(span=True),
    "event_only": Capture(event=True),
    "span_and_event": Capture(span=True, event=True),
}
_warned: set[str] = set()


def capture_for(explicit: bool | str | None, env: Mapping[str, str] | None = None) -> Capture:
    """The capture mode from ``Client(capture_content=...)``, else from the environment.

    Both generations' values are accepted wherever they appear; an invalid value warns once per
    distinct value and captures nothing.
    """
    if isinstance(explicit, bool):
        return Capture(span=True) if explicit else Capture()
    if explicit is None:
        env = os.environ if env is None else env
        raw = env.get(CAPTURE_ENV, "")
        if not raw.strip():
            return Capture()
        source = CAPTURE_ENV
    else:
        raw, source = explicit, "capture_content"
    mode = _MODES.get(raw.strip().lower())
    if mode is None:
        if raw not in _warned:
            _warned.add(raw)
            warnings.warn(
                f"{source}={raw!r} is not one of {', '.join(_MODES)}; content is not captured",
                RuntimeWarning,
                stacklevel=3,
            )
        return Capture()
    return mode


def _arguments(text: str) -> Any:
    """Tool arguments as the JSON value they encode (kept as text when they do not parse)."""
    try:
        return orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return text


def input_messages(request: Request) -> str:
    """``gen_ai.input.messages``: the request's conversation, without the system instructions."""
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        parts: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for block in message.reasoning:
            if block.text:
                parts.append({"type": "reasoning", "content": block.text})
        for part in message.content:
            if isinstance(part, TextPart):
                parts.append({"type": "text", "content": part.text})
            elif isinstance(part, ImagePart):
                parts.append({"type": "uri", "modality": "image", "uri": _shown_uri(part.url)})
            elif isinstance(part, ToolResultPart):
                results.append(
                    {"type": "tool_call_response", "id": part.call_id, "response": part.output}
                )
        for call in message.tool_calls:
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.id,
                    "name": call.name,
                    "arguments": _arguments(call.arguments),
                }
            )
        if parts:
            messages.append({"role": message.role, "parts": parts})
        if results:
            messages.append({"role": "tool", "parts": results})
    return orjson.dumps(messages).decode()


def _shown_uri(url: str) -> str:
    """Inline images are not content worth megabytes of span: their data is left out."""
    if url.startswith("data:"):
        return url.split(",", 1)[0] + ",…"
    return url


def system_instructions(request: Request) -> str | None:
    """``gen_ai.system_instructions``, when the request has any."""
    if not request.instructions:
        return None
    return orjson.dumps([{"type": "text", "content": request.instructions}]).decode()


def output_messages(response: Response) -> str:
    """``gen_ai.output.messages``: the reply as one assistant message with its finish reason."""
    parts: list[dict[str, Any]] = []
    if response.reasoning:
        parts.append({"type": "reasoning", "content": response.reasoning})
    if response.text:
        parts.append({"type": "text", "content": response.text})
    for call in response.tool_calls:
        parts.append(
            {
                "type": "tool_call",
                "id": call.id,
                "name": call.name,
                "arguments": _arguments(call.arguments),
            }
        )
    message = {"role": "assistant", "parts": parts, "finish_reason": response.finish_reason}
    return orjson.dumps([message]).decode()
