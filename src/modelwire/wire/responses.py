"""OpenAI Responses: request encoding, native types, stream and body decoding.

Every stream event names itself in its JSON ``type``, so one tagged-union decode per event
yields a typed struct. The API keeps adding event and output-item types (web search, MCP,
image generation, …) that a client without a mapping for them must skip rather than fail on,
so a union miss falls back to a cheap probe of the ``type`` that tells "unknown, count and
skip it" from "a known event that is malformed". The lifecycle events (``response.created``,
``.completed``, …) repeat the whole response object, but its ``output`` arrives item by item
in its own events, so those snapshots leave it undecoded.

A refusal (``response.refusal.delta``, a ``refusal`` content part) is text, and a completed
reply that carried one finishes ``content_filter`` rather than ``stop`` (``raw_finish_reason``
stays ``completed``): the rule every API shares, see ``_stream``. The API has no ``n``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ._codecs import Codec
from ._stream import StreamCodec
from .events import Event, FinishReason, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from .request import ImagePart, Message, Request, RequestError, TextPart, ToolResultPart

__all__ = [
    "ResponsesCompleted",
    "ResponsesContent",
    "ResponsesCreated",
    "ResponsesError",
    "ResponsesErrorEvent",
    "ResponsesEvent",
    "ResponsesFailed",
    "ResponsesFunctionCall",
    "ResponsesFunctionCallArgumentsDelta",
    "ResponsesIncomplete",
    "ResponsesIncompleteDetails",
    "ResponsesMessage",
    "ResponsesOtherEvent",
    "ResponsesOutputItem",
    "ResponsesOutputItemAdded",
    "ResponsesOutputItemDone",
    "ResponsesOutputTextDelta",
    "ResponsesReasoning",
    "ResponsesReasoningSummaryPartAdded",
    "ResponsesReasoningSummaryTextDelta",
    "ResponsesReasoningTextDelta",
    "ResponsesRefusalDelta",
    "ResponsesResponse",
    "ResponsesSnapshot",
    "ResponsesStreamDecoder",
    "ResponsesSummary",
    "ResponsesUsage",
    "decode_body",
    "decode_event",
    "encode_body",
]

# --- native types -----------------------------------------------------------------------------


class ResponsesInputDetails(msgspec.Struct, gc=False):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class ResponsesOutputDetails(msgspec.Struct, gc=False):
    reasoning_tokens: int | None = None


class ResponsesUsage(msgspec.Struct, gc=False):
    """Token counts as the API reports them: ``input_tokens`` already includes the cache."""

    input_tokens: int | None = None
    input_tokens_details: ResponsesInputDetails | None = None
    output_tokens: int | None = None
    output_tokens_details: ResponsesOutputDetails | None = None
    total_tokens: int | None = None


class ResponsesError(msgspec.Struct, gc=False):
    """A failure: ``response.error``, the nested form of an ``error`` event, or an HTTP body's."""

    code: str | int | None = None
    message: str | None = None
    type: str | None = None
    param: str | None = None


class ResponsesIncompleteDetails(msgspec.Struct, gc=False):
    reason: str | None = None


class ResponsesContent(msgspec.Struct, gc=False):
    """A content part: ``output_text`` (``text``), ``refusal`` or ``reasoning_text``."""

    type: str | None = None
    text: str | None = None
    refusal: str | None = None


class ResponsesSummary(msgspec.Struct, gc=False):
    type: str | None = None
    text: str | None = None


class ResponsesMessage(msgspec.Struct, tag="message", tag_field="type", gc=False):
    id: str | None = None
    role: str | None = None
    status: str | None = None
    content: list[ResponsesContent] | None = None


class ResponsesFunctionCall(msgspec.Struct, tag="function_call", tag_field="type", gc=False):
    """A tool call; ``call_id`` (``call_…``) answers it, ``id`` (``fc_…``) names the item."""

    id: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    status: str | None = None


class ResponsesReasoning(msgspec.Struct, tag="reasoning", tag_field="type", gc=False):
    """Reasoning; ``encrypted_content`` is what a stateless follow-up must send back."""

    id: str | None = None
    summary: list[ResponsesSummary] | None = None
    content: list[ResponsesContent] | None = None
    encrypted_content: str | None = None
    status: str | None = None


ResponsesOutputItem = ResponsesMessage | ResponsesFunctionCall | ResponsesReasoning


class ResponsesSnapshot(msgspec.Struct, gc=False):
    """The response object in a lifecycle event, without its ``output`` (streamed separately)."""

    id: str | None = None
    object: str | None = None
    model: str | None = None
    status: str | None = None
    usage: ResponsesUsage | None = None
    incomplete_details: ResponsesIncompleteDetails | None = None
    error: ResponsesError | None = None


class ResponsesResponse(msgspec.Struct, gc=False):
    """A non-streamed ``response`` body (or an HTTP error body, which has only ``error``)."""

    id: str | None = None
    object: str | None = None
    model: str | None = None
    status: str | None = None
    output: list[ResponsesOutputItem] | None = None
    usage: ResponsesUsage | None = None
    incomplete_details: ResponsesIncompleteDetails | None = None
    error: ResponsesError | None = None


class ResponsesCreated(msgspec.Struct, tag="response.created", tag_field="type", gc=False):
    sequence_number: int | None = None
    response: ResponsesSnapshot | None = None


class ResponsesOutputItemAdded(
    msgspec.Struct, tag="response.output_item.added", tag_field="type", gc=False
):
    sequence_number: int | None = None
    output_index: int | None = None
    item: ResponsesOutputItem | None = None


class ResponsesOutputItemDone(
    msgspec.Struct, tag="response.output_item.done", tag_field="type", gc=False
):
    sequence_number: int | None = None
    output_index: int | None = None
    item: ResponsesOutputItem | None = None


class ResponsesOutputTextDelta(
    msgspec.Struct, tag="response.output_text.delta", tag_field="type", gc=False
):
    sequence_number: int | None = None
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    delta: str | None = None


class ResponsesRefusalDelta(
    msgspec.Struct, tag="response.refusal.delta", tag_field="type", gc=False
):
    sequence_number: int | None = None
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    delta: str | None = None


class ResponsesFunctionCallArgumentsDelta(
    msgspec.Struct, tag="response.function_call_arguments.delta", tag_field="type", gc=False
):
    sequence_number: int | None = None
    item_id: str | None = None
    output_index: int | None = None
    delta: str | None = None


class ResponsesReasoningSummaryPartAdded(
    msgspec.Struct, tag="response.reasoning_summary_part.added", tag_field="type", gc=False
):
    sequence_number: int | None = None
    item_id: str | None = None
    output_index: int | None = None
    summary_index: int | None = None


class ResponsesReasoningSummaryTextDelta(
    msgspec.Struct, tag="response.reasoning_summary_text.delta", tag_field="type", gc=False
):
    sequence_number: int | None = None
    item_id: str | None = None
    output_index: int | None = None
    summary_index: int | None = None
    delta: str | None = None


class ResponsesReasoningTextDelta(
    msgspec.Struct, tag="response.reasoning_text.delta", tag_field="type", gc=False
):
    sequence_number: int | None = None
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    delta: str | None = None


class ResponsesCompleted(msgspec.Struct, tag="response.completed", tag_field="type", gc=False):
    sequence_number: int | None = None
    response: ResponsesSnapshot | None = None


class ResponsesIncomplete(msgspec.Struct, tag="response.incomplete", tag_field="type", gc=False):
    sequence_number: int | None = None
    response: ResponsesSnapshot | None = None


class ResponsesFailed(msgspec.Struct, tag="response.failed", tag_field="type", gc=False):
    sequence_number: int | None = None
    response: ResponsesSnapshot | None = None


class ResponsesErrorEvent(msgspec.Struct, tag="error", tag_field="type", gc=False):
    """A stream failure. Documented flat; production also sends the fields nested in ``error``."""

    sequence_number: int | None = None
    code: str | int | None = None
    message: str | None = None
    param: str | None = None
    error: ResponsesError | str | None = None


class ResponsesOtherEvent(msgspec.Struct, gc=False):
    """Raw mode's stand-in for an event modelwire has no type for (or whose item it has none for).

    ``type`` is empty when the data had none.
    """

    type: str = ""
    sequence_number: int | None = None


ResponsesEvent = (
    ResponsesOutputTextDelta
    | ResponsesFunctionCallArgumentsDelta
    | ResponsesReasoningSummaryTextDelta
    | ResponsesReasoningTextDelta
    | ResponsesRefusalDelta
    | ResponsesReasoningSummaryPartAdded
    | ResponsesOutputItemAdded
    | ResponsesOutputItemDone
    | ResponsesCreated
    | ResponsesCompleted
    | ResponsesIncomplete
    | ResponsesFailed
    | ResponsesErrorEvent
)
"""One stream event, by its JSON ``type``."""

_event_decoder: msgspec.json.Decoder[ResponsesEvent] = msgspec.json.Decoder(ResponsesEvent)
_item_decoder: msgspec.json.Decoder[ResponsesOutputItem] = msgspec.json.Decoder(ResponsesOutputItem)
decode_event = _event_decoder.decode
_decode_item = _item_decoder.decode
_decode_response = msgspec.json.Decoder(ResponsesResponse).decode
_decode_other = msgspec.json.Decoder(ResponsesOtherEvent).decode

# --- unknown types ----------------------------------------------------------------------------


def _tags(*types: type[msgspec.Struct]) -> frozenset[str]:
    return frozenset(str(t.__struct_config__.tag) for t in types)


_EVENT_TYPES: Final = _tags(*ResponsesEvent.__args__)
_ITEM_EVENT_TYPES: Final = _tags(ResponsesOutputItemAdded, ResponsesOutputItemDone)
_ITEM_TYPES: Final = _tags(ResponsesMessage, ResponsesFunctionCall, ResponsesReasoning)


class _TypeProbe(msgspec.Struct, gc=False):
    type: str = ""


class _ItemProbe(msgspec.Struct, gc=False):
    item: _TypeProbe | None = None


class _LenientResponse(msgspec.Struct, gc=False):
    id: str | None = None
    object: str | None = None
    model: str | None = None
    status: str | None = None
    output: list[msgspec.Raw] | None = None
    usage: ResponsesUsage | None = None
    incomplete_details: ResponsesIncompleteDetails | None = None
    error: ResponsesError | None = None


_probe_item = msgspec.json.Decoder(_ItemProbe).decode
_probe_type = msgspec.json.Decoder(_TypeProbe).decode
_decode_lenient_response = msgspec.json.Decoder(_LenientResponse).decode


def _untyped(data: bytes, miss: msgspec.ValidationError) -> ResponsesOtherEvent:
    """After a union miss: the event if its type (or its item's) is unknown, else ``miss``."""
    other = _decode_other(data)
    if other.type in _EVENT_TYPES:
        if other.type not in _ITEM_EVENT_TYPES:
            raise miss
        item = _probe_item(data).item
        if item is None or item.type in _ITEM_TYPES:
            raise miss
    return other


def decode_body(body: bytes) -> ResponsesResponse:
    """A non-streamed body; output items of types modelwire has no struct for are dropped."""
    try:
        return _decode_response(body)
    except msgspec.ValidationError as miss:
        lenient = _decode_lenient_response(body)
        if lenient.output is None:
            raise
        output: list[ResponsesOutputItem] = []
        for raw in lenient.output:
            try:
                output.append(_decode_item(raw))
            except msgspec.ValidationError:
                if _probe_type(raw).type in _ITEM_TYPES:
                    raise miss from None
        fields = msgspec.structs.asdict(lenient)
        fields["output"] = output
        return ResponsesResponse(**fields)


# --- normalization ----------------------------------------------------------------------------

_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}


def finish_reason(incomplete_reason: str | None) -> FinishReason:
    """The finish reason of an incomplete response (a completed one is simply ``stop``)."""
    return "other" if incomplete_reason is None else _INCOMPLETE.get(incomplete_reason, "other")


def usage(raw: ResponsesUsage) -> Usage:
    """Spec §2/§6: input already includes the cache; total as reported, else input + output."""
    prompt = raw.input_tokens or 0
    completion = raw.output_tokens or 0
    details = raw.input_tokens_details
    output_details = raw.output_tokens_details
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        total_tokens=raw.total_tokens if raw.total_tokens is not None else prompt + completion,
        cached_input_tokens=(details.cached_tokens or 0) if details is not None else 0,
        cache_write_input_tokens=(details.cache_write_tokens or 0) if details is not None else 0,
        reasoning_tokens=(output_details.reasoning_tokens or 0) if output_details else 0,
    )


def _code(code: str | int | None) -> str | None:
    return None if code is None or code == "" else str(code)


def _response_error(error: ResponsesError | None) -> tuple[str, str | None]:
    if error is None:
        return "error", "the response failed without saying why"
    return _code(error.code) or error.type or "error", error.message


def _event_error(event: ResponsesErrorEvent) -> tuple[str, str | None]:
    """Per field, the flat form first, then the nested one (the two are seen mixed in proxies)."""
    nested = event.error
    if isinstance(nested, str):
        return _code(event.code) or "error", event.message or nested
    code = _code(event.code)
    message = event.message
    if nested is not None:
        code = code or _code(nested.code) or nested.type
        message = message or nested.message
    return code or "error", message


def _incomplete_reason(response: ResponsesSnapshot | ResponsesResponse | None) -> str | None:
    details = response.incomplete_details if response is not None else None
    return details.reason if details is not None else None


# --- stream decoding --------------------------------------------------------------------------


class ResponsesStreamDecoder(StreamCodec):
    """Responses stream events → common events (spec §2, §6)."""

    wire_api = "responses"

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[str | int | None, int] = {}
        """Common tool index by function_call item id (output index when the id is missing)."""

    @staticmethod
    def native(data: bytes) -> ResponsesEvent | ResponsesOtherEvent:
        """The typed event for raw mode; ``ResponsesOtherEvent`` for types without a struct."""
        try:
            return decode_event(data)
        except msgspec.ValidationError as miss:
            return _untyped(data, miss)

    def feed(self, payloads: list[bytes]) -> list[Event]:
        """The generic loop with the per-token events (text, argument and reasoning pieces)
        inlined; every other event goes through ``on_data``, which handles them the same way."""
        if self._ignored(payloads) or not self._started:
            return super().feed(payloads) if not self.done else []
        out: list[Event] = []
        self._out = out
        append = out.append
        decode = decode_event
        general = self._general
        calls = self._calls
        tool_args = self._tool_args
        tool_ended = self._tool_ended
        for data in payloads:
            decoded: ResponsesEvent | None
            try:
                decoded = decode(data)
            except msgspec.ValidationError:
                decoded = None
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                self._batch_failed(payloads, data, exc)
                return out
            if type(decoded) is ResponsesOutputTextDelta:
                if decoded.delta:
                    append(TextDelta(decoded.delta))
                continue
            if type(decoded) is ResponsesFunctionCallArgumentsDelta:
                item_id = decoded.item_id
                index = calls.get(item_id if item_id is not None else decoded.output_index)
                arguments = decoded.delta
                if index is not None and arguments and not tool_ended[index]:
                    tool_args[index].append(arguments)
                    append(ToolCallDelta(index, arguments))
                continue
            if (
                type(decoded) is ResponsesReasoningSummaryTextDelta
                or type(decoded) is ResponsesReasoningTextDelta
            ):
                if decoded.delta:
                    append(ReasoningDelta(decoded.delta))
                continue
            if general(payloads, data):
                return out
        self.events_seen += len(payloads)
        return out

    def on_data(self, data: bytes) -> None:
        try:
            decoded = decode_event(data)
        except msgspec.ValidationError as miss:
            _untyped(data, miss)
            self.unknown_events += 1
            return
        if not self._started:
            self._begin(decoded)
        # Exact-type tests, most frequent first: a failing isinstance() on a Struct class costs
        # five times as much, and this chain runs once per token.
        if type(decoded) is ResponsesOutputTextDelta:
            self._text(decoded.delta)
        elif type(decoded) is ResponsesFunctionCallArgumentsDelta:
            key = decoded.item_id if decoded.item_id is not None else decoded.output_index
            index = self._calls.get(key)
            if index is not None:
                self._tool_delta(index, decoded.delta)
        elif (
            type(decoded) is ResponsesReasoningSummaryTextDelta
            or type(decoded) is ResponsesReasoningTextDelta
        ):
            self._reasoning(decoded.delta)
        elif type(decoded) is ResponsesRefusalDelta:
            self._refusal(decoded.delta)
        elif type(decoded) is ResponsesReasoningSummaryPartAdded:
            if decoded.summary_index:
                self._reasoning("\n\n")
        elif type(decoded) is ResponsesOutputItemAdded:
            item = decoded.item
            if type(item) is ResponsesFunctionCall:
                self._call_index(item, decoded.output_index)
        elif type(decoded) is ResponsesOutputItemDone:
            item = decoded.item
            if type(item) is ResponsesFunctionCall:
                index = self._call_index(item, decoded.output_index)
                if not self._tool_args[index]:
                    self._tool_delta(index, item.arguments)
                self._tool_end(index)
            elif type(item) is ResponsesReasoning:
                self._reasoning_end(item.id, item.encrypted_content, False)
        elif type(decoded) is ResponsesCompleted or type(decoded) is ResponsesIncomplete:
            self._finish(decoded)
        elif type(decoded) is ResponsesErrorEvent:
            self._fail(*_event_error(decoded))
        elif type(decoded) is ResponsesFailed:
            response = decoded.response
            self._fail(*_response_error(response.error if response is not None else None))

    def _begin(self, event: ResponsesEvent) -> None:
        """``start`` from the first event, normally ``response.created``; errors may precede it."""
        if isinstance(event, ResponsesErrorEvent | ResponsesFailed):
            return
        if isinstance(event, ResponsesCreated | ResponsesCompleted | ResponsesIncomplete):
            response = event.response
            if response is not None:
                self._start(response.id, response.model)
                return
        self._start(None, None)

    def _call_index(self, item: ResponsesFunctionCall, output_index: int | None) -> int:
        key = item.id if item.id is not None else output_index
        index = self._calls.get(key)
        if index is None:
            index = self._calls[key] = self._tool_start(item.call_id or None, item.name or "")
        return index

    def _finish(self, event: ResponsesCompleted | ResponsesIncomplete) -> None:
        self._end_open_tools()
        response = event.response
        raw_usage = response.usage if response is not None else None
        normalized = None if raw_usage is None else usage(raw_usage)
        if isinstance(event, ResponsesCompleted):
            self._complete("stop", "completed", normalized)
        else:
            reason = _incomplete_reason(response)
            self._complete(finish_reason(reason), reason or "incomplete", normalized)

    def on_body(self, body: bytes) -> None:
        response = decode_body(body)
        if response.id is not None or response.model is not None:
            self._start(response.id, response.model)
        if response.error is not None or response.status == "failed":
            self._fail(*_response_error(response.error))
            return
        self._start(None, None)
        for item in response.output or ():
            if isinstance(item, ResponsesMessage):
                for part in item.content or ():
                    if part.type == "refusal":
                        self._refusal(part.refusal)
                    else:
                        self._text(part.text)
            elif isinstance(item, ResponsesFunctionCall):
                index = self._tool_start(item.call_id or None, item.name or "")
                self._tool_delta(index, item.arguments)
                self._tool_end(index)
            else:
                summary = "\n\n".join(part.text for part in item.summary or () if part.text)
                self._reasoning(summary)
                self._reasoning("".join(part.text for part in item.content or () if part.text))
                self._reasoning_end(item.id, item.encrypted_content, False)
        normalized = None if response.usage is None else usage(response.usage)
        status = response.status
        if status == "completed":
            self._complete("stop", status, normalized)
        elif status == "incomplete":
            reason = _incomplete_reason(response)
            self._complete(finish_reason(reason), reason or status, normalized)
        else:
            self._complete(None if status is None else "other", status, normalized)


# --- request encoding -------------------------------------------------------------------------


def _user_item(parts: list[TextPart | ImagePart]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            content.append({"type": "input_text", "text": part.text})
        else:
            image: dict[str, Any] = {"type": "input_image", "image_url": part.url}
            if part.detail is not None:
                image["detail"] = part.detail
            content.append(image)
    return {"type": "message", "role": "user", "content": content}


def _user(message: Message, out: list[dict[str, Any]]) -> None:
    if message.tool_calls or message.reasoning:
        raise RequestError("only assistant messages can carry tool calls and reasoning")
    pending: list[TextPart | ImagePart] = []
    for part in message.content:
        if isinstance(part, ToolResultPart):
            if pending:
                out.append(_user_item(pending))
                pending = []
            out.append(
                {"type": "function_call_output", "call_id": part.call_id, "output": part.output}
            )
        else:
            pending.append(part)
    if pending:
        out.append(_user_item(pending))


def _assistant(message: Message, out: list[dict[str, Any]]) -> None:
    for block in message.reasoning:
        if block.id is None or block.signature is None:
            # Without an rs_ id the block came from another API; without encrypted content the
            # id points at a stored item, and with store false the API rejects the request.
            continue
        out.append(
            {
                "type": "reasoning",
                "id": block.id,
                "summary": [{"type": "summary_text", "text": block.text}] if block.text else [],
                "encrypted_content": block.signature,
            }
        )
    texts: list[dict[str, Any]] = []
    for part in message.content:
        if not isinstance(part, TextPart):
            raise RequestError("responses assistant messages can carry only text and tool calls")
        texts.append({"type": "output_text", "text": part.text})
    if texts:
        out.append({"type": "message", "role": "assistant", "content": texts})
    for call in message.tool_calls:
        if call.id is None:
            raise RequestError(f"tool call {call.name!r} has no id; responses needs its call_id")
        out.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )


def _input(request: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "assistant":
            _assistant(message, out)
        else:
            _user(message, out)
    return out


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "name": choice}


def _effort(request: Request) -> str | None:
    """``thinking=False`` is an explicit off switch, so it wins over a configured effort."""
    if request.thinking is False:
        return None
    if request.reasoning_effort is not None:
        return request.reasoning_effort
    return "medium" if request.thinking else None


def encode_body(request: Request) -> dict[str, Any]:
    """The Responses JSON body, keys in the order the spec documents them.

    ``store`` is false because modelwire sends the whole conversation each turn; reasoning
    therefore travels back as ``encrypted_content``, which has to be asked for via ``include``.
    """
    body: dict[str, Any] = {"model": request.model}
    if request.instructions is not None:
        body["instructions"] = request.instructions
    body["stream"] = request.stream
    body["store"] = False
    body["input"] = _input(request)
    if request.tools:
        tools = []
        for tool in request.tools:
            function: dict[str, Any] = {"type": "function", "name": tool.name}
            if tool.description is not None:
                function["description"] = tool.description
            function["parameters"] = tool.parameters
            tools.append(function)
        body["tools"] = tools
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.tools:
        parallel = request.parallel_tool_calls
        body["parallel_tool_calls"] = True if parallel is None else parallel
    effort = _effort(request)
    if effort is not None:
        body["reasoning"] = {"effort": effort, "summary": "auto"}
        body["include"] = ["reasoning.encrypted_content"]
    if request.max_output_tokens is not None:
        body["max_output_tokens"] = request.max_output_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    body.update(request.extra_body)
    return body


CODEC = Codec(
    wire_api="responses",
    encode_body=encode_body,
    stream_decoder=ResponsesStreamDecoder,
    decode_native_body=decode_body,
)
