"""OpenAI-compatible Chat Completions: request encoding, native types, stream and body decoding.

The chat stream is the one most providers speak and the one with the most dialects, so the
decoder reads every documented variant (spec §3) into one typed chunk: reasoning in
``reasoning_content`` or ``reasoning``, usage in any of its four places, tool-call fragments
with or without ``index``, mid-stream ``error`` chunks, and streams that end without ``[DONE]``.

A refusal (``delta.refusal`` streamed, ``message.refusal`` in a body) is text, and the reply
finishes ``content_filter`` where it would have finished ``stop`` (the rule every API shares,
see ``_stream``). One reply is one choice: ``n`` other than 1 is refused at encode time, and a
choice index other than 0 that arrives anyway ends the stream with a ``decode_error`` naming
it rather than being dropped.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._codecs import Codec
from ._stream import StreamCodec
from .events import Event, FinishReason, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from .request import ImagePart, Message, Request, RequestError, TextPart, ToolResultPart

__all__ = [
    "ChatChoice",
    "ChatChunk",
    "ChatCompletion",
    "ChatDelta",
    "ChatStreamDecoder",
    "ChatUsage",
    "encode_body",
]

# --- native types -----------------------------------------------------------------------------


class ChatFunctionFragment(msgspec.Struct, gc=False):
    name: str | None = None
    arguments: str | None = None


class ChatToolCallFragment(msgspec.Struct, gc=False):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChatFunctionFragment | None = None


class ChatContentPart(msgspec.Struct, gc=False):
    type: str | None = None
    text: str | None = None


class ChatDelta(msgspec.Struct, gc=False):
    role: str | None = None
    content: str | list[ChatContentPart] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ChatToolCallFragment] | None = None
    refusal: str | None = None


class ChatTokenDetails(msgspec.Struct, gc=False):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None


class ChatUsage(msgspec.Struct, gc=False):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: ChatTokenDetails | None = None
    completion_tokens_details: ChatTokenDetails | None = None
    prompt_cache_hit_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class ChatChoice(msgspec.Struct, gc=False):
    index: int = 0
    delta: ChatDelta | None = None
    finish_reason: str | None = None
    usage: ChatUsage | None = None


class ChatError(msgspec.Struct, gc=False):
    code: str | int | None = None
    message: str | None = None
    type: str | None = None


class ChatGroqExtra(msgspec.Struct, gc=False):
    usage: ChatUsage | None = None


class ChatChunk(msgspec.Struct, gc=False):
    """One ``chat.completion.chunk`` (or a provider's error chunk)."""

    id: str | None = None
    model: str | None = None
    choices: list[ChatChoice] | None = None
    usage: ChatUsage | None = None
    error: ChatError | str | None = None
    x_groq: ChatGroqExtra | None = None


class ChatFunctionCall(msgspec.Struct, gc=False):
    name: str | None = None
    arguments: str | None = None


class ChatToolCall(msgspec.Struct, gc=False):
    id: str | None = None
    type: str | None = None
    function: ChatFunctionCall | None = None


class ChatMessage(msgspec.Struct, gc=False):
    role: str | None = None
    content: str | list[ChatContentPart] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ChatToolCall] | None = None
    refusal: str | None = None


class ChatMessageChoice(msgspec.Struct, gc=False):
    index: int = 0
    message: ChatMessage | None = None
    finish_reason: str | None = None
    usage: ChatUsage | None = None


class ChatCompletion(msgspec.Struct, gc=False):
    """A non-streamed ``chat.completion`` body."""

    id: str | None = None
    model: str | None = None
    choices: list[ChatMessageChoice] | None = None
    usage: ChatUsage | None = None
    error: ChatError | str | None = None
    x_groq: ChatGroqExtra | None = None


decode_chunk = msgspec.json.Decoder(ChatChunk).decode
decode_completion = msgspec.json.Decoder(ChatCompletion).decode

# --- normalization ----------------------------------------------------------------------------

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
}


def finish_reason(raw: str) -> FinishReason:
    return _FINISH.get(raw, "other")


def usage(raw: ChatUsage) -> Usage:
    """Spec §3/§6: cached tokens from whichever field the provider uses; total as reported."""
    prompt = raw.prompt_tokens or 0
    completion = raw.completion_tokens or 0
    details = raw.prompt_tokens_details
    cached = (
        (details.cached_tokens if details is not None else None)
        or raw.prompt_cache_hit_tokens
        or raw.cached_tokens
        or 0
    )
    cache_write = (
        details.cache_write_tokens if details is not None else None
    ) or raw.cache_write_tokens
    output_details = raw.completion_tokens_details
    reasoning = output_details.reasoning_tokens if output_details is not None else None
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        total_tokens=raw.total_tokens if raw.total_tokens is not None else prompt + completion,
        cached_input_tokens=cached,
        cache_write_input_tokens=cache_write or 0,
        reasoning_tokens=reasoning or 0,
    )


def _error_code(error: ChatError | str) -> tuple[str, str | None]:
    if isinstance(error, str):
        return "error", error
    code = error.code if error.code is not None else error.type
    return ("error" if code is None or code == "" else str(code)), error.message


def _content_text(content: str | list[ChatContentPart] | None) -> str | None:
    if content is None or isinstance(content, str):
        return content
    return "".join(part.text for part in content if part.text)


# --- stream decoding --------------------------------------------------------------------------


class _Call:
    """A chat tool call as its fragments arrive; ``index`` is -1 until it has a name."""

    __slots__ = ("id", "index", "name", "pending")

    def __init__(self, call_id: str | None) -> None:
        self.id = call_id
        self.name: str | None = None
        self.index = -1
        self.pending: list[str] = []


class ChatStreamDecoder(StreamCodec):
    """Chat Completions chunks → common events (spec §3, §6)."""

    wire_api = "chat"

    __slots__ = ("_by_wire_index", "_finish", "_latest", "_reasoning_open", "_usage")

    def __init__(self) -> None:
        super().__init__()
        self._by_wire_index: dict[int, _Call] = {}
        self._latest: _Call | None = None
        self._reasoning_open = False
        self._finish: str | None = None
        self._usage: ChatUsage | None = None

    @staticmethod
    def native(data: bytes) -> ChatChunk | None:
        """The typed chunk for raw mode; ``None`` for the ``[DONE]`` sentinel."""
        if data[:1] != b"{" and data.strip() == b"[DONE]":
            return None
        return decode_chunk(data)

    def feed(self, payloads: list[bytes]) -> list[Event]:
        """The generic loop, with the commonest chunks inlined.

        A chunk carrying only a text piece, only a reasoning piece, or only an argument piece
        for a call already started takes the inline path; anything else the general path would
        look at (ids, names, finish reasons, usage, errors, other choices) sends the chunk to
        ``on_chunk``, so both paths give the same events.
        """
        if self._ignored(payloads) or not self._started:
            return super().feed(payloads) if not self.done else []
        out: list[Event] = []
        self._out = out
        append = out.append
        decode = decode_chunk
        on_chunk = self.on_chunk
        by_wire_index = self._by_wire_index
        tool_args = self._tool_args
        tool_ended = self._tool_ended
        for data in payloads:
            if data[0] != 0x7B:  # not "{": the [DONE] sentinel, or not JSON
                if self._general(payloads, data):
                    return out
                continue
            try:
                chunk = decode(data)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                self._batch_failed(payloads, data, exc)
                return out
            choices = chunk.choices
            if (
                choices is not None
                and len(choices) == 1
                and chunk.usage is None
                and not chunk.error
                and chunk.x_groq is None
            ):
                choice = choices[0]
                delta = choice.delta
                if (
                    delta is not None
                    and choice.finish_reason is None
                    and choice.index == 0
                    and choice.usage is None
                    and delta.refusal is None
                ):
                    fragments = delta.tool_calls
                    reasoning = delta.reasoning_content or delta.reasoning
                    content = delta.content
                    if fragments is None:
                        if reasoning:
                            if not content:
                                self._reasoning_open = True
                                append(ReasoningDelta(reasoning))
                                continue
                        elif type(content) is str and not self._reasoning_open:
                            if content:
                                append(TextDelta(content))
                            continue
                    elif len(fragments) == 1 and not content and not reasoning:
                        fragment = fragments[0]
                        function = fragment.function
                        wire_index = fragment.index
                        if not fragment.id and function is not None and wire_index is not None:
                            call = by_wire_index.get(wire_index)
                            if call is not None and call.index >= 0:
                                self._latest = call
                                arguments = function.arguments
                                if arguments and not tool_ended[call.index]:
                                    tool_args[call.index].append(arguments)
                                    append(ToolCallDelta(call.index, arguments))
                                continue
            on_chunk(chunk)
            if self.done:
                self._batch_ended(payloads, data)
                return out
        self.events_seen += len(payloads)
        return out

    def on_data(self, data: bytes) -> None:
        if data[:1] != b"{" and data.strip() == b"[DONE]":
            self._end()
            return
        self.on_chunk(decode_chunk(data))

    def on_chunk(self, chunk: ChatChunk) -> None:
        if chunk.error:
            code, message = _error_code(chunk.error)
            self._fail(code, message)
            return
        self._start(chunk.id, chunk.model)
        if chunk.usage is not None:
            self._usage = chunk.usage
        elif chunk.x_groq is not None and chunk.x_groq.usage is not None:
            self._usage = chunk.x_groq.usage
        choices = chunk.choices
        if not choices:
            return
        choice = choices[0]
        if len(choices) > 1 or choice.index != 0:
            self._other_choice(choices)
            return
        if choice.usage is not None and chunk.usage is None:
            self._usage = choice.usage
        delta = choice.delta
        if delta is not None:
            reasoning = delta.reasoning_content or delta.reasoning
            if reasoning:
                self._reasoning_open = True
                self._reasoning(reasoning)
            content = delta.content
            if content is not None and not isinstance(content, str):
                content = _content_text(content)
            if content:
                self._close_reasoning()
                self._text(content)
            if delta.refusal:
                self._close_reasoning()
                self._refusal(delta.refusal)
            if delta.tool_calls:
                for fragment in delta.tool_calls:
                    self._fragment(fragment)
        raw = choice.finish_reason
        if raw:
            if raw == "error":
                self._fail("error", 'the provider ended the stream with finish_reason "error"')
                return
            self._finish = raw
            self._close_reasoning()
            self._flush_unnamed()
            self._end_open_tools()

    def _other_choice(self, choices: list[ChatChoice] | list[ChatMessageChoice]) -> None:
        """A choice other than index 0: the request asked for ``n`` > 1 some other way, or the
        provider numbers its one choice oddly. Either way the reply is not one answer, and
        reading only part of it would pass off a fragment as the whole."""
        indexes = sorted({choice.index for choice in choices})
        self._fail(
            "decode_error",
            f"the chat reply carries choice indexes {indexes}; modelwire reads exactly one "
            "choice (index 0), so leave n unset (or 1)",
        )

    def _fragment(self, fragment: ChatToolCallFragment) -> None:
        call_id = fragment.id or None
        wire_index = fragment.index
        call: _Call | None
        if wire_index is None:
            call = self._latest
            if call is None or (call_id is not None and call_id != call.id):
                call = _Call(call_id)
        else:
            call = self._by_wire_index.get(wire_index)
            if call is None or (call_id is not None and call.id is not None and call_id != call.id):
                call = _Call(call_id)
            self._by_wire_index[wire_index] = call
        if call.id is None and call_id is not None:
            call.id = call_id
        self._latest = call
        function = fragment.function
        if function is None:
            return
        if call.index < 0:
            if function.name:
                self._close_reasoning()
                call.name = function.name
                call.index = self._tool_start(call.id, function.name)
                if call.pending:
                    self._tool_delta(call.index, "".join(call.pending))
                    call.pending.clear()
            elif function.arguments:
                call.pending.append(function.arguments)
                return
        if function.arguments and call.index >= 0:
            self._tool_delta(call.index, function.arguments)

    def _flush_unnamed(self) -> None:
        """A call that never got a name still ends; it is reported with an empty name."""
        for call in self._calls():
            if call.index < 0:
                call.index = self._tool_start(call.id, "")
                if call.pending:
                    self._tool_delta(call.index, "".join(call.pending))

    def _calls(self) -> list[_Call]:
        seen: list[_Call] = list(self._by_wire_index.values())
        if self._latest is not None and self._latest not in seen:
            seen.append(self._latest)
        return seen

    def _close_reasoning(self) -> None:
        if self._reasoning_open:
            self._reasoning_open = False
            self._reasoning_end(None, None, False)

    def _end(self) -> None:
        """``[DONE]``, or EOF after a finish_reason: the normal end."""
        self._close_reasoning()
        self._flush_unnamed()
        self._end_open_tools()
        raw = self._finish
        self._complete(
            None if raw is None else finish_reason(raw),
            raw,
            None if self._usage is None else usage(self._usage),
        )

    def on_eof(self) -> None:
        if self._finish is not None:
            self._end()
        else:
            self._fail("stream_truncated", "the stream ended before a finish_reason or [DONE]")

    def on_body(self, body: bytes) -> None:
        completion = decode_completion(body)
        if completion.error:
            code, message = _error_code(completion.error)
            self._fail(code, message)
            return
        self._start(completion.id, completion.model)
        raw_usage = completion.usage
        if raw_usage is None and completion.x_groq is not None:
            raw_usage = completion.x_groq.usage
        choices = completion.choices or []
        if len(choices) > 1 or (choices and choices[0].index != 0):
            self._other_choice(choices)
            return
        choice = choices[0] if choices else None
        reply = choice.message if choice is not None else None
        if choice is not None and raw_usage is None:
            raw_usage = choice.usage
        if reply is not None:
            reasoning = reply.reasoning_content or reply.reasoning
            if reasoning:
                self._reasoning(reasoning)
                self._reasoning_end(None, None, False)
            self._text(_content_text(reply.content))
            self._refusal(reply.refusal)
            for call in reply.tool_calls or ():
                function = call.function or ChatFunctionCall()
                index = self._tool_start(call.id or None, function.name or "")
                self._tool_delta(index, function.arguments)
                self._tool_end(index)
        raw = choice.finish_reason if choice is not None else None
        if raw == "error":
            self._fail("error", 'the provider ended the response with finish_reason "error"')
            return
        self._complete(
            None if raw is None else finish_reason(raw),
            raw,
            None if raw_usage is None else usage(raw_usage),
        )


# --- request encoding -------------------------------------------------------------------------


def _user_content(parts: list[TextPart | ImagePart]) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        else:
            image: dict[str, Any] = {"url": part.url}
            if part.detail is not None:
                image["detail"] = part.detail
            content.append({"type": "image_url", "image_url": image})
    return content


def _messages(request: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.instructions is not None:
        out.append({"role": "system", "content": request.instructions})
    for message in request.messages:
        if message.role == "assistant":
            out.append(_assistant(message))
            continue
        pending: list[TextPart | ImagePart] = []
        for part in message.content:
            if isinstance(part, ToolResultPart):
                if pending:
                    out.append({"role": "user", "content": _user_content(pending)})
                    pending = []
                out.append({"role": "tool", "tool_call_id": part.call_id, "content": part.output})
            else:
                pending.append(part)
        if pending:
            out.append({"role": "user", "content": _user_content(pending)})
    return out


def _assistant(message: Message) -> dict[str, Any]:
    texts: list[str] = []
    for part in message.content:
        if not isinstance(part, TextPart):
            raise RequestError("chat assistant messages can carry only text and tool calls")
        texts.append(part.text)
    body: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if message.tool_calls:
        body["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    return body


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _check_one_choice(request: Request) -> None:
    """``n`` > 1 asks for several answers in one reply; the common events and ``Response``
    describe one, so the request is refused here rather than the other answers lost later."""
    n = request.extra_body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise RequestError(
            f"extra_body n={n!r}: modelwire reads one choice per reply, so n must be 1 or "
            "unset; send one request per answer instead"
        )


def encode_body(request: Request) -> dict[str, Any]:
    """The Chat Completions JSON body, keys in the order the API documents them."""
    _check_one_choice(request)
    body: dict[str, Any] = {"model": request.model, "stream": request.stream}
    if request.stream:
        body["stream_options"] = {"include_usage": True}
    body["messages"] = _messages(request)
    if request.tools:
        tools = []
        for tool in request.tools:
            function: dict[str, Any] = {"name": tool.name}
            if tool.description is not None:
                function["description"] = tool.description
            function["parameters"] = tool.parameters
            tools.append({"type": "function", "function": function})
        body["tools"] = tools
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.reasoning_effort is not None:
        body["reasoning_effort"] = request.reasoning_effort
    if request.thinking is not None:
        body["thinking"] = {"type": "enabled" if request.thinking else "disabled"}
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    body.update(request.extra_body)
    return body


CODEC = Codec(
    wire_api="chat",
    encode_body=encode_body,
    stream_decoder=ChatStreamDecoder,
    decode_native_body=decode_completion,
)
