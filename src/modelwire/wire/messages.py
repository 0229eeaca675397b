"""Anthropic Messages: request encoding, native types, stream and body decoding.

The stream is a small grammar of typed events (spec §4), so it decodes into a msgspec tagged
union in one pass per event. Two quirks shape the decoder: the common tool index is the order
of first appearance rather than the content-block index, and usage is cumulative, with each
later non-null field overwriting the one reported at ``message_start``. Once ``message_delta``
has reported the final usage and stop reason, a stream cut before ``message_stop`` still ends
``stream_truncated`` but keeps both (usage right before the error event, the finish reason on
it). A refusal is ordinary text with ``stop_reason: "refusal"``, hence ``content_filter``.
Event, block and delta types Anthropic adds later must not break old clients, so a union miss
falls back to a cheap probe that tells "unknown, skip it" from "malformed, fail".
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ._codecs import Codec
from ._stream import StreamCodec
from .events import Event, FinishReason, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from .request import (
    ImagePart,
    Message,
    Request,
    RequestError,
    TextPart,
    ToolResultPart,
    split_data_url,
)

__all__ = [
    "BlockDelta",
    "BlockInputJsonDelta",
    "BlockSignatureDelta",
    "BlockTextDelta",
    "BlockThinkingDelta",
    "ContentBlock",
    "ContentBlockDelta",
    "ContentBlockStart",
    "ContentBlockStop",
    "MessageDelta",
    "MessageDeltaBody",
    "MessageStart",
    "MessageStop",
    "MessagesBody",
    "MessagesError",
    "MessagesErrorDetail",
    "MessagesEvent",
    "MessagesMessage",
    "MessagesOutputDetails",
    "MessagesStreamDecoder",
    "MessagesUsage",
    "Ping",
    "RedactedThinkingBlock",
    "TextBlock",
    "ThinkingBlock",
    "ToolUseBlock",
    "decode_body",
    "decode_event",
    "encode_body",
]

# --- native types -----------------------------------------------------------------------------


class MessagesOutputDetails(msgspec.Struct, gc=False):
    thinking_tokens: int | None = None


class MessagesUsage(msgspec.Struct, gc=False):
    """Token counts as Anthropic reports them: ``input_tokens`` excludes the cache."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: MessagesOutputDetails | None = None


class TextBlock(msgspec.Struct, tag="text", tag_field="type", gc=False):
    text: str = ""


class ThinkingBlock(msgspec.Struct, tag="thinking", tag_field="type", gc=False):
    thinking: str = ""
    signature: str | None = None


class RedactedThinkingBlock(msgspec.Struct, tag="redacted_thinking", tag_field="type", gc=False):
    data: str = ""


class ToolUseBlock(msgspec.Struct, tag="tool_use", tag_field="type", gc=False):
    id: str | None = None
    name: str = ""
    input: dict[str, Any] | None = None


ContentBlock = TextBlock | ThinkingBlock | RedactedThinkingBlock | ToolUseBlock


class BlockTextDelta(msgspec.Struct, tag="text_delta", tag_field="type", gc=False):
    text: str = ""


class BlockThinkingDelta(msgspec.Struct, tag="thinking_delta", tag_field="type", gc=False):
    thinking: str = ""


class BlockSignatureDelta(msgspec.Struct, tag="signature_delta", tag_field="type", gc=False):
    signature: str = ""


class BlockInputJsonDelta(msgspec.Struct, tag="input_json_delta", tag_field="type", gc=False):
    partial_json: str = ""


BlockDelta = BlockTextDelta | BlockThinkingDelta | BlockSignatureDelta | BlockInputJsonDelta


class MessagesMessage(msgspec.Struct, tag="message", tag_field="type", gc=False):
    """A whole (non-streamed) message, and the shell that ``message_start`` carries."""

    id: str | None = None
    role: str | None = None
    model: str | None = None
    content: list[ContentBlock] = msgspec.field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: MessagesUsage | None = None


class MessagesErrorDetail(msgspec.Struct, gc=False):
    type: str | None = None
    message: str | None = None


class MessagesError(msgspec.Struct, tag="error", tag_field="type", gc=False):
    """A mid-stream ``error`` event, and the body of an HTTP error response."""

    error: MessagesErrorDetail | None = None
    request_id: str | None = None


class MessageStart(msgspec.Struct, tag="message_start", tag_field="type", gc=False):
    message: MessagesMessage


class ContentBlockStart(msgspec.Struct, tag="content_block_start", tag_field="type", gc=False):
    index: int
    content_block: ContentBlock


class ContentBlockDelta(msgspec.Struct, tag="content_block_delta", tag_field="type", gc=False):
    index: int
    delta: BlockDelta


class ContentBlockStop(msgspec.Struct, tag="content_block_stop", tag_field="type", gc=False):
    index: int


class MessageDeltaBody(msgspec.Struct, gc=False):
    """``message_delta.delta``: unlike every other delta it has no ``type``."""

    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageDelta(msgspec.Struct, tag="message_delta", tag_field="type", gc=False):
    delta: MessageDeltaBody | None = None
    usage: MessagesUsage | None = None


class MessageStop(msgspec.Struct, tag="message_stop", tag_field="type", gc=False):
    pass


class Ping(msgspec.Struct, tag="ping", tag_field="type", gc=False):
    pass


MessagesEvent = (
    ContentBlockDelta
    | ContentBlockStart
    | ContentBlockStop
    | MessageStart
    | MessageDelta
    | MessageStop
    | Ping
    | MessagesError
)
"""One stream event, by its JSON ``type``."""

MessagesBody = MessagesMessage | MessagesError
"""A non-streamed response body: the message, or Anthropic's error object."""

_event_decoder: msgspec.json.Decoder[MessagesEvent] = msgspec.json.Decoder(MessagesEvent)
_body_decoder: msgspec.json.Decoder[MessagesBody] = msgspec.json.Decoder(MessagesBody)
decode_event = _event_decoder.decode
_decode_body_strict = _body_decoder.decode


class _Probe(msgspec.Struct, gc=False):
    """Just enough of an event to tell which of its types, if any, is not one we know."""

    type: object = None
    content_block: msgspec.Raw = msgspec.Raw()
    delta: msgspec.Raw = msgspec.Raw()


class _Tagged(msgspec.Struct, gc=False):
    type: object = None


_decode_probe = msgspec.json.Decoder(_Probe).decode
_decode_tagged = msgspec.json.Decoder(_Tagged).decode
_decode_loose_body = msgspec.json.Decoder(dict[str, Any]).decode

_EVENT_TYPES: Final = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)
_BLOCK_TYPES: Final = frozenset({"text", "thinking", "redacted_thinking", "tool_use"})
_DELTA_TYPES: Final = frozenset(
    {"text_delta", "thinking_delta", "signature_delta", "input_json_delta"}
)


def _known(value: object, known: frozenset[str]) -> bool:
    return isinstance(value, str) and value in known


def _has_unknown_type(data: bytes) -> bool:
    """After a union miss: is some event, block or delta type new to us (skip) or not (fail)?"""
    probe = _decode_probe(data)
    if not _known(probe.type, _EVENT_TYPES):
        return True
    if probe.type == "content_block_start" and probe.content_block:
        return not _known(_decode_tagged(probe.content_block).type, _BLOCK_TYPES)
    if probe.type == "content_block_delta" and probe.delta:
        return not _known(_decode_tagged(probe.delta).type, _DELTA_TYPES)
    return False


def _decode_body_counting(body: bytes) -> tuple[MessagesBody, int]:
    """The body, with content blocks of unknown types dropped, and how many were dropped."""
    try:
        return _decode_body_strict(body), 0
    except msgspec.ValidationError:
        loose = _decode_loose_body(body)
        content = loose.get("content")
        if loose.get("type") != "message" or not isinstance(content, list):
            raise
        kept = [
            block
            for block in content
            if not isinstance(block, dict) or _known(block.get("type"), _BLOCK_TYPES)
        ]
        if len(kept) == len(content):
            raise
        loose["content"] = kept
        return msgspec.convert(loose, MessagesBody), len(content) - len(kept)


def decode_body(body: bytes) -> MessagesBody:
    """A non-streamed body as typed structs; content blocks of unknown types are left out."""
    return _decode_body_counting(body)[0]


# --- normalization ----------------------------------------------------------------------------

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "pause_turn": "pause",
    "refusal": "content_filter",
}


def finish_reason(raw: str) -> FinishReason:
    return _FINISH.get(raw, "other")


class _Tally:
    """Cumulative usage: every non-null field reported later replaces the earlier value."""

    __slots__ = ("cache_read", "cache_write", "input", "output", "seen", "thinking")

    def __init__(self) -> None:
        self.seen = False
        self.input = 0
        self.output = 0
        self.cache_read = 0
        self.cache_write = 0
        self.thinking = 0

    def merge(self, raw: MessagesUsage | None) -> None:
        if raw is None:
            return
        self.seen = True
        if raw.input_tokens is not None:
            self.input = raw.input_tokens
        if raw.output_tokens is not None:
            self.output = raw.output_tokens
        if raw.cache_read_input_tokens is not None:
            self.cache_read = raw.cache_read_input_tokens
        if raw.cache_creation_input_tokens is not None:
            self.cache_write = raw.cache_creation_input_tokens
        details = raw.output_tokens_details
        if details is not None and details.thinking_tokens is not None:
            self.thinking = details.thinking_tokens

    def usage(self) -> Usage | None:
        """Spec §6: Anthropic's ``input_tokens`` leave the cache out; the common one has it."""
        if not self.seen:
            return None
        prompt = self.input + self.cache_read + self.cache_write
        return Usage(
            input_tokens=prompt,
            output_tokens=self.output,
            total_tokens=prompt + self.output,
            cached_input_tokens=self.cache_read,
            cache_write_input_tokens=self.cache_write,
            reasoning_tokens=self.thinking,
        )


def _error(error: MessagesErrorDetail | None) -> tuple[str, str | None]:
    if error is None:
        return "error", None
    return error.type or "error", error.message


# --- stream decoding --------------------------------------------------------------------------


class _Reasoning:
    """An open thinking block: its signature arrives in pieces just before the stop."""

    __slots__ = ("redacted", "signature")

    def __init__(self, signature: str, redacted: bool) -> None:
        self.signature = signature
        self.redacted = redacted


class MessagesStreamDecoder(StreamCodec):
    """Anthropic Messages stream events → common events (spec §4, §6)."""

    wire_api = "messages"

    __slots__ = (
        "_delta_seen",
        "_reasoning_blocks",
        "_stop_reason",
        "_tally",
        "_tool_blocks",
        "_tool_inputs",
    )

    def __init__(self) -> None:
        super().__init__()
        self._tool_blocks: dict[int, int] = {}
        """Open tool_use blocks: content-block index → common tool index."""
        self._tool_inputs: dict[int, str] = {}
        """A non-empty ``input`` given at block start, by common tool index."""
        self._reasoning_blocks: dict[int, _Reasoning] = {}
        self._tally = _Tally()
        self._stop_reason: str | None = None
        self._delta_seen = False
        """A ``message_delta`` arrived: the final usage and stop reason are known."""

    @staticmethod
    def native(data: bytes) -> MessagesEvent | None:
        """The typed event for raw mode; ``None`` for a type this version does not know."""
        try:
            return decode_event(data)
        except msgspec.ValidationError:
            if _has_unknown_type(data):
                return None
            raise

    def feed(self, payloads: list[bytes]) -> list[Event]:
        """The generic loop with the per-token deltas (text, JSON and thinking pieces) inlined;
        every other event goes through ``on_data``, which handles them the same way."""
        if self._ignored(payloads) or not self._started:
            return super().feed(payloads) if not self.done else []
        out: list[Event] = []
        self._out = out
        append = out.append
        decode = decode_event
        general = self._general
        tool_blocks = self._tool_blocks
        tool_args = self._tool_args
        tool_ended = self._tool_ended
        for data in payloads:
            item: MessagesEvent | None
            try:
                item = decode(data)
            except msgspec.ValidationError:
                item = None
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                self._batch_failed(payloads, data, exc)
                return out
            if type(item) is ContentBlockDelta:
                delta = item.delta
                if type(delta) is BlockTextDelta:
                    if delta.text:
                        append(TextDelta(delta.text))
                    continue
                if type(delta) is BlockInputJsonDelta:
                    tool = tool_blocks.get(item.index)
                    arguments = delta.partial_json
                    if tool is not None and arguments and not tool_ended[tool]:
                        tool_args[tool].append(arguments)
                        append(ToolCallDelta(tool, arguments))
                    continue
                if type(delta) is BlockThinkingDelta:
                    if delta.thinking:
                        append(ReasoningDelta(delta.thinking))
                    continue
            if general(payloads, data):
                return out
        self.events_seen += len(payloads)
        return out

    def on_data(self, data: bytes) -> None:
        try:
            item = decode_event(data)
        except msgspec.ValidationError:
            if _has_unknown_type(data):
                self.unknown_events += 1
                return
            raise
        if type(item) is ContentBlockDelta:
            # The hot path, one event per token: kept inline and ordered by frequency.
            if not self._started:
                self._start(None, None)
            delta = item.delta
            if type(delta) is BlockTextDelta:
                self._text(delta.text)
            elif type(delta) is BlockInputJsonDelta:
                tool = self._tool_blocks.get(item.index)
                if tool is not None:
                    self._tool_delta(tool, delta.partial_json)
            elif type(delta) is BlockThinkingDelta:
                self._reasoning(delta.thinking)
            elif type(delta) is BlockSignatureDelta:
                block = self._reasoning_blocks.get(item.index)
                if block is not None:
                    block.signature += delta.signature
        elif type(item) is ContentBlockStart:
            self._block_start(item.index, item.content_block)
        elif type(item) is ContentBlockStop:
            self._block_stop(item.index)
        elif type(item) is MessageStart:
            message = item.message
            self._start(message.id, message.model)
            self._tally.merge(message.usage)
            if message.stop_reason is not None:
                self._stop_reason = message.stop_reason
        elif type(item) is MessageDelta:
            self._start(None, None)
            self._delta_seen = True
            if item.delta is not None and item.delta.stop_reason is not None:
                self._stop_reason = item.delta.stop_reason
            self._tally.merge(item.usage)
        elif type(item) is MessageStop:
            self._finish()
        elif type(item) is MessagesError:
            self._fail(*_error(item.error))

    def _block_start(self, index: int, block: ContentBlock) -> None:
        self._start(None, None)
        if isinstance(block, TextBlock):
            self._text(block.text)
        elif isinstance(block, ToolUseBlock):
            tool = self._tool_blocks[index] = self._tool_start(block.id, block.name)
            if block.input:
                # Some compatible providers send the whole input at block start and no deltas;
                # Anthropic's own ``{}`` placeholder is never prepended.
                self._tool_inputs[tool] = msgspec.json.encode(block.input).decode()
        elif isinstance(block, ThinkingBlock):
            self._reasoning(block.thinking)
            self._reasoning_blocks[index] = _Reasoning(block.signature or "", False)
        else:
            self._reasoning_blocks[index] = _Reasoning(block.data, True)

    def _block_stop(self, index: int) -> None:
        tool = self._tool_blocks.pop(index, None)
        if tool is not None:
            initial = self._tool_inputs.pop(tool, None)
            if initial is not None and not self._tool_args[tool]:
                self._tool_delta(tool, initial)
            self._tool_end(tool, "{}")
            return
        block = self._reasoning_blocks.pop(index, None)
        if block is not None:
            self._reasoning_end(None, block.signature or None, block.redacted)

    def _reported_end(self) -> tuple[Usage | None, FinishReason | None, str | None] | None:
        """After ``message_delta`` a failure (a cut before ``message_stop``, an idle timeout,
        an ``error`` event) keeps the usage and stop reason that delta reported."""
        if not self._delta_seen:
            return None
        raw = self._stop_reason
        return self._tally.usage(), None if raw is None else finish_reason(raw), raw

    def _finish(self) -> None:
        """``message_stop``: close blocks that never got their stop, then complete."""
        self._start(None, None)
        for index in sorted(self._tool_blocks.keys() | self._reasoning_blocks.keys()):
            self._block_stop(index)
        raw = self._stop_reason
        self._complete(None if raw is None else finish_reason(raw), raw, self._tally.usage())

    def on_body(self, body: bytes) -> None:
        decoded, unknown = _decode_body_counting(body)
        self.unknown_events += unknown
        if isinstance(decoded, MessagesError):
            self._fail(*_error(decoded.error))
            return
        self._start(decoded.id, decoded.model)
        for block in decoded.content:
            if isinstance(block, TextBlock):
                self._text(block.text)
            elif isinstance(block, ThinkingBlock):
                self._reasoning(block.thinking)
                self._reasoning_end(None, block.signature or None, False)
            elif isinstance(block, RedactedThinkingBlock):
                self._reasoning_end(None, block.data or None, True)
            else:
                index = self._tool_start(block.id, block.name)
                if block.input:
                    self._tool_delta(index, msgspec.json.encode(block.input).decode())
                self._tool_end(index, "{}")
        self._tally.merge(decoded.usage)
        raw = decoded.stop_reason
        self._complete(None if raw is None else finish_reason(raw), raw, self._tally.usage())


# --- request encoding -------------------------------------------------------------------------

DEFAULT_MAX_TOKENS: Final = 4096
"""``max_tokens`` is required by the API; this is what we send when the request sets none."""

MIN_THINKING_BUDGET: Final = 1024
_EFFORT_BUDGET: Final = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
_DEFAULT_BUDGET: Final = 4096


def _image(part: ImagePart) -> dict[str, Any]:
    inline = split_data_url(part.url)
    if inline is None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    media_type, data = inline
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": data},
    }


def _user(message: Message) -> dict[str, Any]:
    parts = message.content
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return {"role": "user", "content": parts[0].text}
    results: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ToolResultPart):
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": part.call_id,
                "content": part.output,
            }
            if part.is_error:
                result["is_error"] = True
            results.append(result)
        elif isinstance(part, TextPart):
            others.append({"type": "text", "text": part.text})
        else:
            others.append(_image(part))
    return {"role": "user", "content": results + others}


def _tool_input(name: str, arguments: str) -> dict[str, Any]:
    if not arguments:
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError as exc:
        raise RequestError(
            f"the arguments of tool call {name!r} are not valid JSON ({exc}); the messages API "
            "needs them as an object"
        ) from None
    if not isinstance(value, dict):
        raise RequestError(
            f"the arguments of tool call {name!r} are JSON but not an object; the messages API "
            "needs an object"
        )
    return value


def _assistant(message: Message) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in message.reasoning:
        # A block without a signature (from an API that does not sign reasoning) cannot be
        # verified by Anthropic and would be rejected, so it stays out.
        if block.signature is None:
            continue
        if block.redacted:
            content.append({"type": "redacted_thinking", "data": block.signature})
        else:
            content.append(
                {"type": "thinking", "thinking": block.text, "signature": block.signature}
            )
    for part in message.content:
        if not isinstance(part, TextPart):
            raise RequestError("messages assistant turns can carry only text and tool calls")
        content.append({"type": "text", "text": part.text})
    for call in message.tool_calls:
        content.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": _tool_input(call.name, call.arguments),
            }
        )
    return {"role": "assistant", "content": content}


def _tool_choice(request: Request) -> dict[str, Any] | None:
    choice = request.tool_choice
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        result = {"type": "none"}
    else:
        result = {"type": "tool", "name": choice}
    # Anthropic spells "no parallel calls" inside tool_choice, and "none" takes no options.
    if request.parallel_tool_calls is False and (result is None or result["type"] != "none"):
        if result is None:
            if not request.tools:
                return None
            result = {"type": "auto"}
        result["disable_parallel_tool_use"] = True
    return result


def _thinking_budget(request: Request) -> int | None:
    """The thinking budget when thinking is on; ``thinking=False`` wins over an effort."""
    if request.thinking is False:
        return None
    if not request.thinking and request.reasoning_effort is None:
        return None
    if request.thinking_budget is not None:
        budget = request.thinking_budget
    elif request.reasoning_effort is not None:
        budget = _EFFORT_BUDGET[request.reasoning_effort]
    else:
        budget = _DEFAULT_BUDGET
    if budget < MIN_THINKING_BUDGET:
        raise RequestError(
            f"thinking_budget {budget} is below the messages API minimum of {MIN_THINKING_BUDGET}"
        )
    return budget


def _limits(request: Request) -> tuple[int, int | None]:
    """``(max_tokens, budget)`` with the budget fitting below ``max_tokens`` as the API demands."""
    budget = _thinking_budget(request)
    max_tokens = request.max_output_tokens
    if max_tokens is None:
        return DEFAULT_MAX_TOKENS if budget is None else budget + DEFAULT_MAX_TOKENS, budget
    if budget is not None and budget >= max_tokens:
        if max_tokens - 1 < MIN_THINKING_BUDGET:
            raise RequestError(
                f"max_output_tokens {max_tokens} leaves no room for thinking: the messages API "
                f"needs a budget of at least {MIN_THINKING_BUDGET} tokens below max_tokens; "
                f"raise max_output_tokens above {MIN_THINKING_BUDGET} or turn thinking off"
            )
        budget = max_tokens - 1
    return max_tokens, budget


def encode_body(request: Request) -> dict[str, Any]:
    """The Messages JSON body, keys in the order the API documents them."""
    max_tokens, budget = _limits(request)
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": max_tokens,
        "stream": request.stream,
    }
    if request.instructions is not None:
        body["system"] = request.instructions
    body["messages"] = [
        _assistant(message) if message.role == "assistant" else _user(message)
        for message in request.messages
    ]
    if request.tools:
        tools = []
        for tool in request.tools:
            spec: dict[str, Any] = {"name": tool.name}
            if tool.description is not None:
                spec["description"] = tool.description
            spec["input_schema"] = tool.parameters
            tools.append(spec)
        body["tools"] = tools
    tool_choice = _tool_choice(request)
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif request.thinking is False:
        body["thinking"] = {"type": "disabled"}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    body.update(request.extra_body)
    return body


CODEC = Codec(
    wire_api="messages",
    encode_body=encode_body,
    stream_decoder=MessagesStreamDecoder,
    decode_native_body=decode_body,
)
