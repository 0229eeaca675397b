"""The provider-neutral request every codec encodes, and small constructors for its parts.

One ``Request`` describes a turn the same way whatever the wire API: instructions, a list of
user/assistant messages (text, images, tool results, the assistant's earlier tool calls and
reasoning blocks), tools with JSON schemas, and generation knobs. Each codec maps it onto its
API's exact JSON. Hints an API has no slot for are left out (an image's ``detail`` on
Messages, a tool result's ``is_error`` on the OpenAI APIs, reasoning blocks on chat, which
providers do not take back); content an API cannot carry at all is a ``RequestError`` at
encode time.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..errors import ModelwireError
from .events import ReasoningBlock, ToolCall

__all__ = [
    "ImagePart",
    "Message",
    "Part",
    "ReasoningBlock",
    "Request",
    "RequestError",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolResultPart",
    "assistant",
    "image",
    "tool_result",
    "user",
]


class RequestError(ModelwireError, ValueError):
    """Raised when a ``Request`` cannot be expressed in the chosen wire API."""


class TextPart(msgspec.Struct, tag="text", tag_field="type", frozen=True):
    """Plain text in a message."""

    text: str


class ImagePart(msgspec.Struct, tag="image", tag_field="type", frozen=True):
    """An image by ``https:`` URL or inline ``data:<media type>;base64,…`` URL."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ToolResultPart(msgspec.Struct, tag="tool_result", tag_field="type", frozen=True):
    """The output of a tool call, answering the assistant's call with id ``call_id``."""

    call_id: str
    output: str
    is_error: bool = False


Part = TextPart | ImagePart | ToolResultPart


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One turn of the conversation.

    An assistant message may carry ``tool_calls`` it made (from ``Response.tool_calls``) and the
    ``reasoning`` blocks that preceded them: APIs that sign reasoning need those sent back
    unchanged to continue a tool-using turn.
    """

    role: Literal["user", "assistant"]
    content: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: tuple[ReasoningBlock, ...] = ()


class Tool(msgspec.Struct, frozen=True, kw_only=True):
    """A function the model may call; ``parameters`` is its arguments' JSON schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """A provider-neutral request.

    ``tool_choice`` is ``"auto"``, ``"none"``, ``"required"`` or the name of one tool.
    ``reasoning_effort`` (``minimal``/``low``/``medium``/``high``) drives effort-style reasoning;
    ``thinking`` toggles thinking-style reasoning on or off (``None`` leaves the provider's
    default), with ``thinking_budget`` tokens where the API takes a budget. ``extra_body`` keys
    are merged into the top level of the JSON body last, so they can add or override anything.
    """

    model: str
    messages: tuple[Message, ...] = ()
    instructions: str | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    thinking: bool | None = None
    thinking_budget: int | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    extra_body: dict[str, Any] = msgspec.field(default_factory=dict)
    stream: bool = True


def _parts(content: tuple[str | Part, ...]) -> tuple[Part, ...]:
    return tuple(TextPart(item) if isinstance(item, str) else item for item in content)


def user(*content: str | Part) -> Message:
    """A user message; strings become text parts."""
    return Message(role="user", content=_parts(content))


def assistant(
    *content: str | Part,
    tool_calls: tuple[ToolCall, ...] | list[ToolCall] = (),
    reasoning: tuple[ReasoningBlock, ...] | list[ReasoningBlock] = (),
) -> Message:
    """An earlier assistant turn, with the tool calls and reasoning it produced."""
    return Message(
        role="assistant",
        content=_parts(content),
        tool_calls=tuple(tool_calls),
        reasoning=tuple(reasoning),
    )


def tool_result(call_id: str, output: str, *, is_error: bool = False) -> Message:
    """A user message answering one tool call."""
    return Message(role="user", content=(ToolResultPart(call_id, output, is_error),))


def image(url: str, *, detail: Literal["auto", "low", "high"] | None = None) -> ImagePart:
    """An image part from an ``https:`` or ``data:`` URL."""
    return ImagePart(url, detail)


def split_data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64_data)`` for a base64 ``data:`` URL, else ``None``."""
    if not url.startswith("data:"):
        return None
    header, comma, payload = url[5:].partition(",")
    if not comma or not header.endswith(";base64"):
        raise RequestError("image data URLs must be base64: data:<media type>;base64,<data>")
    return header[: -len(";base64")] or "application/octet-stream", payload
