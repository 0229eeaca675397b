"""What the mock provider answers: a deterministic reply, as common events, for a request body.

Tests against the mock need replies they can predict without a model: the same request always
gets the same events, and the knobs (``ReplyOptions``) shape a reply the way a test needs it —
longer, with reasoning, with tool calls. The default reply echoes the last user message, calls
a tool when the request offers tools (with arguments that fit the tool's schema, so a client
can parse and dispatch them), and, once the tool's result comes back, reports it. Finish
reasons, ids and reasoning signatures are those of the wire API asked, so that the events are
exactly what decoding the rendered reply gives back.

The request body is untrusted JSON: anything of an unexpected shape is read as absent rather
than raising, because the mock must answer whatever a client under test sends.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec
import orjson

from ..wire.events import (
    Completed,
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
)

__all__ = ["ReplyOptions", "input_token_count", "reply_events", "response_id_for"]

DEFAULT_MODEL: Final = "mock-model"

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WORD: Final = re.compile(r"\s*\S+")


class ReplyOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Knobs for one reply; ``None`` lets the request decide."""

    output_tokens: int | None = None
    """The number of answer text pieces: the reply text is cut, or repeated, to fit. When set,
    a tool-calling reply also carries this much text before its calls."""
    reasoning: bool | None = None
    """Open with a reasoning block. Default: when the request asks for reasoning."""
    tool_calls: int | None = None
    """Calls to make, to the request's tools in order (cycling). Default: one when the request
    offers tools, allows them, and ends with a user message; none after a tool result."""


# --- ids --------------------------------------------------------------------------------------


def _base62(digest: bytes, length: int) -> str:
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def _hash(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()


def response_id_for(wire_api: str, seed: int) -> str:
    """A response id in the API's own format (``chatcmpl-…``, ``msg_01…``, ``resp_…``)."""
    digest = _hash("response", wire_api, seed)
    if wire_api == "messages":
        return f"msg_01{_base62(digest, 22)}"
    if wire_api == "responses":
        return f"resp_{digest.hex()[:48]}"
    return f"chatcmpl-{_base62(digest, 29)}"


def _call_id(wire_api: str, request_digest: str, index: int) -> str:
    digest = _hash("call", wire_api, request_digest, index)
    if wire_api == "messages":
        return f"toolu_01{_base62(digest, 22)}"
    return f"call_{_base62(digest, 24)}"


# --- reading the request ----------------------------------------------------------------------


class _Tool(msgspec.Struct, frozen=True):
    name: str
    schema: Mapping[str, Any]


class _Read(msgspec.Struct, kw_only=True):
    """What the reply depends on, read from one API's request shape."""

    texts: list[str] = msgspec.field(default_factory=list)
    """Every piece of text in the request, for the input token count."""
    last: Literal["user", "tool_result", "other"] = "other"
    user_text: str = ""
    results: list[str] = msgspec.field(default_factory=list)
    """The tool results the request ends with."""
    tools: list[_Tool] = msgspec.field(default_factory=list)
    tools_allowed: bool = True
    forced_tool: str | None = None
    reasoning: bool = False
    max_tokens: int | None = None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parts_text(content: object, kinds: frozenset[str]) -> str:
    """A content string, or the text of the list's parts whose ``type`` is in ``kinds``."""
    if isinstance(content, str):
        return content
    texts = []
    for part in _list(content):
        part = _dict(part)
        text = _str(part.get("text"))
        if text is not None and part.get("type", "text") in kinds:
            texts.append(text)
    return "".join(texts)


def _json_text(value: object) -> str:
    """``value`` as JSON text, or ``""`` for what JSON cannot hold (integers past 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return ""


def _add_tool(read: _Read, name: object, schema: object) -> None:
    if isinstance(name, str) and name:
        read.tools.append(_Tool(name, _dict(schema)))


_CHAT_PARTS: Final = frozenset({"text", "input_text"})


def _read_chat(body: Mapping[str, Any]) -> _Read:
    read = _Read()
    messages = [_dict(m) for m in _list(body.get("messages"))]
    for message in messages:
        role = message.get("role")
        text = _parts_text(message.get("content"), _CHAT_PARTS)
        read.texts.append(text)
        if role == "user":
            read.user_text = text
        for call in _list(message.get("tool_calls")):
            read.texts.append(_str(_dict(_dict(call).get("function")).get("arguments")) or "")
    trailing = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        trailing.append(_parts_text(message.get("content"), _CHAT_PARTS))
    if trailing:
        read.last, read.results = "tool_result", trailing[::-1]
    elif messages and messages[-1].get("role") == "user":
        read.last = "user"
    for tool in _list(body.get("tools")):
        function = _dict(_dict(tool).get("function"))
        _add_tool(read, function.get("name"), function.get("parameters"))
    choice = body.get("tool_choice")
    read.tools_allowed = choice != "none"
    read.forced_tool = _str(_dict(_dict(choice).get("function")).get("name"))
    effort = body.get("reasoning_effort")
    thinking = _dict(body.get("thinking")).get("type")
    read.reasoning = (effort is not None and effort != "none") or thinking == "enabled"
    read.max_tokens = _int(body.get("max_completion_tokens"))
    if read.max_tokens is None:
        read.max_tokens = _int(body.get("max_tokens"))
    return read


_MESSAGES_PARTS: Final = frozenset({"text"})


def _read_messages(body: Mapping[str, Any]) -> _Read:
    read = _Read()
    read.texts.append(_parts_text(body.get("system"), _MESSAGES_PARTS))
    messages = [_dict(m) for m in _list(body.get("messages"))]
    for message in messages:
        content = message.get("content")
        text = _parts_text(content, _MESSAGES_PARTS)
        read.texts.append(text)
        results = []
        for block in _list(content):
            block = _dict(block)
            kind = block.get("type")
            if kind == "tool_result":
                results.append(_parts_text(block.get("content"), _MESSAGES_PARTS))
            elif kind == "tool_use":
                read.texts.append(_json_text(block.get("input")))
            elif kind == "thinking":
                read.texts.append(_str(block.get("thinking")) or "")
        read.texts.extend(results)
        if message.get("role") == "user":
            read.user_text = text
            if message is messages[-1]:
                read.last, read.results = ("tool_result", results) if results else ("user", [])
    for tool in _list(body.get("tools")):
        tool = _dict(tool)
        if tool.get("type") in (None, "custom"):
            _add_tool(read, tool.get("name"), tool.get("input_schema"))
    choice = _dict(body.get("tool_choice"))
    read.tools_allowed = choice.get("type") != "none"
    read.forced_tool = _str(choice.get("name")) if choice.get("type") == "tool" else None
    read.reasoning = _dict(body.get("thinking")).get("type") == "enabled"
    read.max_tokens = _int(body.get("max_tokens"))
    return read


_RESPONSES_PARTS: Final = frozenset({"input_text", "output_text", "text"})


def _read_responses(body: Mapping[str, Any]) -> _Read:
    read = _Read()
    read.texts.append(_str(body.get("instructions")) or "")
    raw_input = body.get("input")
    items: list[dict[str, Any]]
    if isinstance(raw_input, str):
        items = [{"type": "message", "role": "user", "content": raw_input}]
    else:
        items = [_dict(item) for item in _list(raw_input)]
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            text = _parts_text(item.get("content"), _RESPONSES_PARTS)
            read.texts.append(text)
            if item.get("role") == "user":
                read.user_text = text
        elif kind == "function_call_output":
            read.texts.append(_parts_text(item.get("output"), _RESPONSES_PARTS))
        elif kind == "function_call":
            read.texts.append(_str(item.get("arguments")) or "")
    trailing = []
    for item in reversed(items):
        if item.get("type") != "function_call_output":
            break
        trailing.append(_parts_text(item.get("output"), _RESPONSES_PARTS))
    if trailing:
        read.last, read.results = "tool_result", trailing[::-1]
    elif items and items[-1].get("type", "message") == "message":
        read.last = "user" if items[-1].get("role") == "user" else "other"
    for tool in _list(body.get("tools")):
        tool = _dict(tool)
        if tool.get("type") == "function":
            _add_tool(read, tool.get("name"), tool.get("parameters"))
    choice = body.get("tool_choice")
    read.tools_allowed = choice != "none"
    forced = _dict(choice)
    read.forced_tool = _str(forced.get("name")) if forced.get("type") == "function" else None
    reasoning = body.get("reasoning")
    read.reasoning = isinstance(reasoning, dict) and reasoning.get("effort") != "none"
    read.max_tokens = _int(body.get("max_output_tokens"))
    return read


_READERS: Final = {"chat": _read_chat, "messages": _read_messages, "responses": _read_responses}

# --- writing the reply ------------------------------------------------------------------------

_FINISH: Final[Mapping[str, Mapping[FinishReason, str]]] = {
    "chat": {"stop": "stop", "length": "length", "tool_calls": "tool_calls"},
    "messages": {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"},
    "responses": {"stop": "completed", "length": "max_output_tokens", "tool_calls": "completed"},
}


def _pieces(text: str) -> list[str]:
    """Token-ish pieces: each word with the whitespace before it."""
    return _WORD.findall(text)


def _fit(pieces: list[str], count: int) -> list[str]:
    """Exactly ``count`` pieces: the first ones, or the text again after itself."""
    if count <= len(pieces):
        return pieces[: max(0, count)]
    out = list(pieces)
    while len(out) < count:
        piece = pieces[(len(out) - len(pieces)) % len(pieces)]
        out.append(piece if piece[:1].isspace() else f" {piece}")
    return out


def _sample(name: str, schema: object) -> object:
    """A value of the property's type: what a model would fill in, predictably."""
    prop = _dict(schema)
    enum = _list(prop.get("enum"))
    if enum and _json_text(enum[0]):
        return enum[0]
    if "const" in prop and _json_text(prop["const"]):
        return prop["const"]
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "string":
        return f"value-{name}"
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return None


def _arguments(tool: _Tool) -> str:
    properties = _dict(tool.schema.get("properties"))
    values = {name: _sample(name, prop) for name, prop in properties.items()}
    return orjson.dumps(values).decode()


def _split(arguments: str) -> list[str]:
    """Two or three pieces, cut mid-token the way providers stream arguments."""
    count = 3 if len(arguments) >= 6 else 2
    cuts = [len(arguments) * k // count for k in range(count + 1)]
    return [arguments[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def _request_digest(wire_api: str, body: Mapping[str, Any]) -> str:
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        canonical = repr(body).encode()
    return hashlib.sha256(wire_api.encode() + b"\x1f" + canonical).hexdigest()


def _count_input(read: _Read) -> int:
    return max(1, sum(len(text.split()) for text in read.texts))


def input_token_count(wire_api: str, body: dict[str, Any]) -> int:
    """The input tokens the mock counts for ``body``: one per whitespace-separated word of its
    text, at least one. The same figure the reply's usage reports, so a client can check
    ``count_tokens`` against the call it then makes."""
    reader = _READERS.get(wire_api)
    if reader is None:
        raise ValueError(f"unknown wire API {wire_api!r}; expected one of {', '.join(_READERS)}")
    return _count_input(reader(body))


def reply_events(wire_api: str, body: dict[str, Any], *, options: ReplyOptions) -> list[Event]:
    """The common events the mock answers ``body`` with; the same body always gets the same.

    They are exactly what decoding ``render_stream(wire_api, …)`` of them yields, so ids,
    reasoning signatures and raw finish reasons follow ``wire_api``'s conventions.
    """
    reader = _READERS.get(wire_api)
    if reader is None:
        raise ValueError(f"unknown wire API {wire_api!r}; expected one of {', '.join(_READERS)}")
    read = reader(body)
    digest = _request_digest(wire_api, body)
    model = _str(body.get("model")) or DEFAULT_MODEL

    tools = [t for t in read.tools if t.name == read.forced_tool] or read.tools
    if options.tool_calls is not None:
        call_count = max(0, options.tool_calls) if tools else 0
    else:
        offered = bool(tools) and read.tools_allowed
        call_count = 1 if offered and read.last == "user" else 0

    if read.last == "tool_result":
        results = "; ".join(result.strip() or "(empty)" for result in read.results)
        answer = f"Tool result: {results}"
        thought = "The tool answered, so I report what it returned."
    else:
        answer = f"Echo: {read.user_text.strip()}" if read.user_text.strip() else "Echo."
        thought = f"I should call {tools[0].name}." if call_count else "The user wants an echo."
    text = _pieces(answer)
    if options.output_tokens is not None:
        text = _fit(text, options.output_tokens)
    elif call_count:
        text = []
    finish: FinishReason = "tool_calls" if call_count else "stop"
    if read.max_tokens is not None and len(text) > read.max_tokens:
        text, call_count, finish = text[: max(0, read.max_tokens)], 0, "length"

    reasoning = options.reasoning if options.reasoning is not None else read.reasoning
    thinking = _pieces(thought) if reasoning else []

    events: list[Event] = [Start(response_id_for(wire_api, int(digest[:12], 16)), model)]
    if thinking:
        events.extend(ReasoningDelta(piece) for piece in thinking)
        signature = f"sig-{digest[:16]}"
        if wire_api == "chat":
            events.append(ReasoningEnd(None, None, False))
        elif wire_api == "messages":
            events.append(ReasoningEnd(None, signature, False))
        else:
            events.append(ReasoningEnd(f"rs_{digest[16:64]}", signature, False))
    events.extend(TextDelta(piece) for piece in text)

    argument_pieces = 0
    ends: list[Event] = []
    for index in range(call_count):
        tool = tools[index % len(tools)]
        call_id = _call_id(wire_api, digest, index)
        arguments = _arguments(tool)
        pieces = _split(arguments)
        argument_pieces += len(pieces)
        events.append(ToolCallStart(index, call_id, tool.name))
        events.extend(ToolCallDelta(index, piece) for piece in pieces)
        end = ToolCallEnd(index, call_id, tool.name, arguments)
        # Chat ends every call at the finish chunk; the other APIs close each call in turn.
        (ends if wire_api == "chat" else events).append(end)
    events.extend(ends)

    input_tokens = _count_input(read)
    output_tokens = len(thinking) + len(text) + argument_pieces
    events.append(
        Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
            reasoning_tokens=len(thinking),
        )
    )
    events.append(Completed(finish, _FINISH[wire_api][finish]))
    return events
