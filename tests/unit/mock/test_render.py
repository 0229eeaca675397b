"""The mock's renderer is the decoders' inverse, and what it writes is what providers write.

The properties draw a turn (reasoning blocks, text, tool calls with arguments cut anywhere,
usage, a finish reason or a mid-stream error), build the common events each API's decoder
would give for it (each API's limits included: chat reasoning has no id or signature, Messages
has no reasoning ids, Responses cannot redact), render them, decode the bytes, and expect the
same events back, coalesced. Every rendered event is also parsed with the official ``openai``
and ``anthropic`` SDK models, the independent check that the shapes are the real ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Annotated, Any, get_args, get_origin

import msgspec
import orjson
import pytest
from anthropic.types import Message as AnthropicMessage
from anthropic.types import RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types import Model as OpenAIModel
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response as OpenAIResponse
from openai.types.responses import ResponseStreamEvent
from pydantic import BaseModel

from conformance.vectors import as_json, coalesce
from modelwire.mock._render import (
    render_body,
    render_error,
    render_models,
    render_models_page,
    render_stream,
)
from modelwire.wire import (
    Completed,
    ErrorEvent,
    Event,
    FinishReason,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningEnd,
    Response,
    Start,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    collect,
    decode,
    decode_response,
    is_retryable,
)

APIS = ("chat", "messages", "responses")
RID = {"chat": "chatcmpl-abc", "messages": "msg_01abc", "responses": "resp_abc"}
MODEL = "test-model"

# --- the spec's finish tables (§6), written out here so the test does not lean on the decoders

READ: dict[str, dict[str, FinishReason]] = {
    "chat": {
        "stop": "stop",
        "length": "length",
        "tool_calls": "tool_calls",
        "content_filter": "content_filter",
    },
    "messages": {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "pause_turn": "pause",
        "refusal": "content_filter",
    },
    "responses": {
        "completed": "stop",
        "max_output_tokens": "length",
        "content_filter": "content_filter",
    },
}
RAWS: dict[str, list[str | None]] = {
    "chat": [None, "stop", "length", "tool_calls", "content_filter", "eos"],
    "messages": [None, *READ["messages"], "brand_new_reason"],
    "responses": ["completed", "max_output_tokens", "content_filter", "brand_new_reason"],
}
DOCUMENTED: dict[str, set[str | None]] = {
    "chat": {None, *READ["chat"]},
    "messages": {None, *READ["messages"]},
    "responses": {*READ["responses"]},
}

# --- drawing a turn ---------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
SCALAR = st.none() | st.booleans() | st.integers(-1000, 1000) | TEXT
ARGS = st.dictionaries(TEXT, SCALAR, max_size=3)


class Reasoning(msgspec.Struct):
    pieces: list[str]
    signature: str | None
    redacted: bool


class Text(msgspec.Struct):
    pieces: list[str]


class Tool(msgspec.Struct):
    name: str
    arguments: str
    pieces: list[str]


class Turn(msgspec.Struct):
    segments: list[Reasoning | Text | Tool]
    usage: Usage | None
    raw: str | None
    error: ErrorEvent | None
    cut: int
    """Where the error strikes: how many content events precede it (-1: before the start)."""


@st.composite
def reasoning(draw: st.DrawFn) -> Reasoning:
    if draw(st.booleans()) and draw(st.booleans()):
        return Reasoning([], draw(st.from_regex(r"[A-Za-z0-9+/=]{1,12}", fullmatch=True)), True)
    signature = draw(st.none() | st.from_regex(r"[A-Za-z0-9+/=]{1,12}", fullmatch=True))
    return Reasoning(draw(st.lists(TEXT, max_size=3)), signature, False)


@st.composite
def tool(draw: st.DrawFn) -> Tool:
    arguments = msgspec.json.encode(draw(ARGS)).decode()
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(arguments) - 1)), max_size=3)))
    points = [0, *[c for c in cuts if c < len(arguments)], len(arguments)]
    pieces = [arguments[a:b] for a, b in itertools.pairwise(points) if b > a]
    return Tool(draw(st.from_regex(r"[a-z_]{1,8}", fullmatch=True)), arguments, pieces)


@st.composite
def usage(draw: st.DrawFn) -> Usage | None:
    if draw(st.booleans()):
        return None
    uncached, cached, written, output, thinking = (draw(st.integers(0, 10**6)) for _ in range(5))
    total_input = uncached + cached + written
    return Usage(
        input_tokens=total_input,
        output_tokens=output,
        total_tokens=total_input + output,
        cached_input_tokens=cached,
        cache_write_input_tokens=written,
        reasoning_tokens=thinking,
    )


ERROR_CODES = {
    "chat": ["server_error", "rate_limit_exceeded", "invalid_request_error", "502"],
    "messages": ["overloaded_error", "api_error", "rate_limit_error", "invalid_request_error"],
    "responses": ["server_error", "rate_limit_exceeded", "invalid_prompt"],
}


@st.composite
def turns(draw: st.DrawFn, api: str) -> Turn:
    segments = draw(
        st.lists(
            st.one_of(reasoning(), st.lists(TEXT, min_size=1, max_size=4).map(Text), tool()),
            max_size=5,
        )
    )
    error = None
    if draw(st.booleans()) and draw(st.booleans()):
        code = draw(st.sampled_from(ERROR_CODES[api]))
        error = ErrorEvent(code, draw(st.none() | TEXT), is_retryable(code))
    return Turn(
        segments=segments,
        usage=draw(usage()),
        raw=draw(st.sampled_from(RAWS[api])),
        error=error,
        cut=draw(st.integers(-1, 40)),
    )


# --- what each API's decoder gives for a turn ---------------------------------------------------


def call_id(api: str, index: int) -> str:
    return f"toolu_{index}" if api == "messages" else f"call_{index}"


def expected_events(api: str, turn: Turn) -> list[Event]:
    """The events ``api``'s decoder reports for ``turn`` (spec §6 with the API's limits)."""
    content: list[Event] = []
    chat_ends: list[Event] = []
    reasoning_open = False
    tools = 0
    for position, segment in enumerate(turn.segments):
        if isinstance(segment, Reasoning):
            deltas = [ReasoningDelta(piece) for piece in segment.pieces]
            if api == "chat":
                content += deltas
                reasoning_open = reasoning_open or bool(deltas)
            elif api == "messages":
                content += deltas
                content.append(ReasoningEnd(None, segment.signature, segment.redacted))
            else:
                content += deltas
                content.append(ReasoningEnd(f"rs_{position}", segment.signature, False))
            continue
        if reasoning_open:
            content.append(ReasoningEnd(None, None, False))
            reasoning_open = False
        if isinstance(segment, Text):
            content += [TextDelta(piece) for piece in segment.pieces]
        else:
            index, tools = tools, tools + 1
            content.append(ToolCallStart(index, call_id(api, index), segment.name))
            content += [ToolCallDelta(index, piece) for piece in segment.pieces]
            end = ToolCallEnd(index, call_id(api, index), segment.name, segment.arguments)
            (chat_ends if api == "chat" else content).append(end)
    start: list[Event] = [Start(RID[api], MODEL)]
    if turn.error is not None:
        if turn.cut < 0:
            return [turn.error]
        prefix = content[: turn.cut]
        if api == "chat" and prefix and isinstance(prefix[-1], ReasoningEnd):
            prefix.pop()  # chat closes reasoning only when something else arrives.
        return [*start, *prefix, turn.error]
    tail: list[Event] = []
    if reasoning_open:
        tail.append(ReasoningEnd(None, None, False))
    tail += chat_ends
    use = turn.usage
    if api == "messages" and use is None:
        use = Usage()  # Anthropic always reports usage.
    if use is not None:
        tail.append(use)
    finish = None if turn.raw is None else READ[api].get(turn.raw, "other")
    if finish == "stop" and tools:
        finish = "tool_calls"
    return [*start, *content, *tail, Completed(finish, turn.raw)]


def documented(api: str, turn: Turn) -> bool:
    """Whether the SDKs' models can hold the turn: a documented finish, an error's message.

    The renderer passes an undocumented value through (a decoder reads it back as ``other``)
    and a null error message too, where the SDKs' literals and strings would refuse them.
    """
    return turn.raw in DOCUMENTED[api] and (turn.error is None or turn.error.message is not None)


# --- checking the bytes -----------------------------------------------------------------------


def _models_by_type(union: Any) -> dict[str, type[BaseModel]]:
    """An SDK event union's members by their ``type`` literal, for precise validation errors."""
    members = get_args(get_args(union)[0]) if get_origin(union) is Annotated else get_args(union)
    return {get_args(m.model_fields["type"].annotation)[0]: m for m in members}


ANTHROPIC_EVENTS = _models_by_type(RawMessageStreamEvent)
RESPONSES_EVENTS = _models_by_type(ResponseStreamEvent)


def split_block(block: bytes) -> tuple[str | None, bytes]:
    """A rendered block's ``event:`` name and ``data:`` value; it must be exactly one event."""
    assert block.endswith(b"\n\n")
    lines = block[:-2].split(b"\n")
    name = None
    if lines[0].startswith(b"event: "):
        name = lines.pop(0)[len(b"event: ") :].decode()
    assert len(lines) == 1
    assert lines[0].startswith(b"data: ")
    return name, lines[0][len(b"data: ") :]


def assert_real_shapes(api: str, blocks: list[bytes], *, documented: bool) -> None:
    """Every block parses with the official SDK's model of that event."""
    sequence = 0
    for block in blocks:
        name, data = split_block(block)
        if api == "chat":
            assert name is None
            if data == b"[DONE]":
                assert block is blocks[-1]
                continue
            chunk = orjson.loads(data)
            assert chunk["object"] == "chat.completion.chunk"
            if documented and "error" not in chunk:
                ChatCompletionChunk.model_validate(chunk)
            continue
        event = orjson.loads(data)
        assert name == event["type"]
        if api == "responses":
            assert event["sequence_number"] == sequence
            sequence += 1
            if documented:
                RESPONSES_EVENTS[name].model_validate(event)
        elif documented and name not in ("error", "ping"):
            ANTHROPIC_EVENTS[name].model_validate(event)


def assert_body_shape(api: str, body: bytes) -> None:
    parsed = orjson.loads(body)
    if "error" in parsed:
        return
    if api == "chat":
        ChatCompletion.model_validate(parsed)
    elif api == "messages":
        AnthropicMessage.model_validate(parsed)
    else:
        OpenAIResponse.model_validate(parsed)


def round_trip(api: str, events: list[Event]) -> list[Event]:
    blocks = render_stream(api, events, response_id=RID[api], model=MODEL)
    per_block = list(decode(api, blocks))
    whole = list(decode(api, [b"".join(blocks)]))
    assert as_json(per_block) == as_json(whole)
    return whole


# --- properties -------------------------------------------------------------------------------


def _stream_property(api: str) -> Any:
    @settings(max_examples=100, deadline=None)
    @given(turn=turns(api))
    def check(turn: Turn) -> None:
        # The renderer takes events in the decoders' shape, so the expected ones are the input.
        expected = expected_events(api, turn)
        blocks = render_stream(api, expected, response_id=RID[api], model=MODEL)
        assert_real_shapes(api, blocks, documented=documented(api, turn))
        decoded = round_trip(api, expected)
        assert coalesce(as_json(decoded)) == coalesce(as_json(expected))

    return check


test_chat_stream_decodes_back_to_its_events = _stream_property("chat")
test_messages_stream_decodes_back_to_its_events = _stream_property("messages")
test_responses_stream_decodes_back_to_its_events = _stream_property("responses")


def expected_body(api: str, events: list[Event]) -> Response:
    """``collect`` of the stream's events, as far as a non-streamed body carries them."""
    terminal = events[-1]
    if isinstance(terminal, ErrorEvent):
        return collect([terminal])  # the body is the bare error object
    response = collect(events)
    if api == "chat" and response.reasoning:
        # One ``reasoning_content`` string: a single block, however many the stream had.
        block = ReasoningBlock(response.reasoning)
        response = msgspec.structs.replace(response, reasoning_blocks=(block,))
    elif api == "chat":
        response = msgspec.structs.replace(response, reasoning_blocks=())
    return response


def _body_property(api: str) -> Any:
    @settings(max_examples=100, deadline=None)
    @given(turn=turns(api))
    def check(turn: Turn) -> None:
        events = expected_events(api, turn)
        body = render_body(api, events, response_id=RID[api], model=MODEL)
        # A whole chat completion always has a finish reason in the SDK's model.
        if documented(api, turn) and (api != "chat" or turn.raw is not None):
            assert_body_shape(api, body)
        assert decode_response(api, body) == expected_body(api, events)

    return check


test_chat_body_decodes_to_the_collected_turn = _body_property("chat")
test_messages_body_decodes_to_the_collected_turn = _body_property("messages")
test_responses_body_decodes_to_the_collected_turn = _body_property("responses")


@settings(max_examples=100, deadline=None)
@given(
    pair=st.sampled_from([(a, b) for a in APIS for b in APIS if a != b]),
    data=st.data(),
)
def test_events_from_one_api_render_faithfully_in_another(
    pair: tuple[str, str], data: st.DataObject
) -> None:
    source, target = pair
    turn = data.draw(turns(source))
    events = expected_events(source, turn)
    want = collect(events)
    got = collect(round_trip(target, events))
    assert got.id == (None if want.id is None else RID[target])
    assert (got.text, got.reasoning, got.error) == (want.text, want.reasoning, want.error)
    if want.error is not None:
        # A call cut short ends in APIs whose next block closes the last (spec §4), not chat.
        return
    assert got.tool_calls == want.tool_calls
    if target == "messages":
        assert got.usage == (want.usage or Usage())  # Anthropic always reports usage
    else:
        assert got.usage == want.usage
    finish = want.finish_reason
    lossy = (
        (finish is None and target == "responses")
        or (finish == "pause" and target != "messages")
        # Responses says tool_calls only by ending a call; it has no such status of its own.
        or (finish == "tool_calls" and not want.tool_calls and target == "responses")
    )
    if not lossy:
        assert got.finish_reason == finish


# --- the exact shapes, by example ---------------------------------------------------------------

TURN: list[Event] = [
    Start("ignored", "ignored"),
    ReasoningDelta("Let me"),
    ReasoningDelta(" think."),
    ReasoningEnd("rs_given", "c2lnbmF0dXJl", False),
    TextDelta("Hello"),
    TextDelta(" there"),
    ToolCallStart(0, "call_A", "get_weather"),
    ToolCallDelta(0, '{"city":'),
    ToolCallDelta(0, '"Oslo"}'),
    ToolCallEnd(0, "call_A", "get_weather", '{"city":"Oslo"}'),
    ToolCallStart(1, "call_B", "get_time"),
    ToolCallEnd(1, "call_B", "get_time", "{}"),
    Usage(20, 9, 29, 4, 0, 2),
    Completed("tool_calls", "tool_calls"),
]


def data_of(blocks: Iterable[bytes]) -> list[dict[str, Any]]:
    out = []
    for block in blocks:
        _, data = split_block(block)
        if data != b"[DONE]":
            out.append(orjson.loads(data))
    return out


def test_chat_stream_has_a_role_chunk_fragments_finish_usage_and_done() -> None:
    blocks = render_stream("chat", TURN, response_id="chatcmpl-1", model="m", created=7)
    chunks = data_of(blocks)
    assert blocks[-1] == b"data: [DONE]\n\n"
    assert all(c["id"] == "chatcmpl-1" and c["created"] == 7 and c["model"] == "m" for c in chunks)
    deltas = [c["choices"][0]["delta"] if c["choices"] else None for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
    assert deltas[1] == {"content": None, "reasoning_content": "Let me"}
    assert deltas[3] == {"content": "Hello"}
    first = deltas[5]["tool_calls"][0]
    assert first == {
        "index": 0,
        "id": "call_A",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert deltas[6] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}
    # A call that ended whole (no deltas) sends its arguments as one fragment.
    assert deltas[9] == {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 20,
        "completion_tokens": 9,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }


def test_messages_stream_follows_the_block_grammar() -> None:
    blocks = render_stream("messages", TURN, response_id="msg_1", model="m")
    events = data_of(blocks)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start"
    assert events[0]["message"]["id"] == "msg_1"
    assert events[0]["message"]["usage"]["input_tokens"] == 16  # the cache is left out
    assert events[0]["message"]["usage"]["cache_read_input_tokens"] == 4
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert events[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert events[-2]["usage"] == {
        "output_tokens": 9,
        "output_tokens_details": {"thinking_tokens": 2},
    }
    assert kinds[1:3] == ["content_block_start", "ping"]
    # The signature arrives just before the thinking block stops.
    stop = kinds.index("content_block_stop")
    assert events[stop - 1]["delta"] == {"type": "signature_delta", "signature": "c2lnbmF0dXJl"}
    tool_starts = [e for e in events if e["type"] == "content_block_start"][2:]
    assert [s["content_block"] for s in tool_starts] == [
        {"type": "tool_use", "id": "call_A", "name": "get_weather", "input": {}},
        {"type": "tool_use", "id": "call_B", "name": "get_time", "input": {}},
    ]
    json_deltas = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    assert json_deltas == ["", '{"city":', '"Oslo"}', ""]
    assert [e["index"] for e in events if e["type"] == "content_block_stop"] == [0, 1, 2, 3]


def test_messages_redacted_thinking_is_a_block_with_data() -> None:
    events = [ReasoningEnd(None, "opaque", True), Completed("stop", "end_turn")]
    blocks = data_of(render_stream("messages", events, response_id="msg_1", model="m"))
    assert blocks[1]["content_block"] == {"type": "redacted_thinking", "data": "opaque"}
    body = orjson.loads(render_body("messages", events, response_id="msg_1", model="m"))
    assert body["content"] == [{"type": "redacted_thinking", "data": "opaque"}]


def test_responses_stream_items_ids_and_sequence() -> None:
    blocks = render_stream("responses", TURN, response_id="resp_1", model="m", created=5)
    events = data_of(blocks)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[0]["response"]["id"] == "resp_1"
    assert events[0]["response"]["created_at"] == 5
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert [item["type"] for item in added] == [
        "reasoning",
        "message",
        "function_call",
        "function_call",
    ]
    assert added[0]["id"] == "rs_given"
    assert added[1]["id"].startswith("msg_")
    calls = added[2:]
    assert [c["call_id"] for c in calls] == ["call_A", "call_B"]
    assert all(c["id"].startswith("fc_") for c in calls)
    assert len({c["id"] for c in calls}) == 2
    argument_deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert {e["item_id"] for e in argument_deltas} == {c["id"] for c in calls}
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done[0]["encrypted_content"] == "c2lnbmF0dXJl"
    assert done[0]["summary"] == [{"type": "summary_text", "text": "Let me think."}]
    final = events[-1]
    assert final["type"] == "response.completed"
    assert final["response"]["output"] == done
    assert final["response"]["usage"] == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 29,
    }


def test_responses_length_finish_is_an_incomplete_response() -> None:
    events = [TextDelta("cut"), Completed("length", "length")]
    last = data_of(render_stream("responses", events, response_id="resp_1", model="m"))[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


@pytest.mark.parametrize(
    ("finish", "chat", "messages", "responses"),
    [
        ("stop", "stop", "end_turn", "completed"),
        ("length", "length", "max_tokens", "max_output_tokens"),
        ("tool_calls", "tool_calls", "tool_use", "completed"),
        ("content_filter", "content_filter", "refusal", "content_filter"),
    ],
)
def test_common_finish_reasons_map_to_each_apis_own(
    finish: FinishReason, chat: str, messages: str, responses: str
) -> None:
    events: list[Event] = [TextDelta("x"), Completed(finish, None)]
    chunks = data_of(render_stream("chat", events, response_id="c", model="m"))
    assert chunks[-1]["choices"][0]["finish_reason"] == chat
    blocks = data_of(render_stream("messages", events, response_id="c", model="m"))
    assert blocks[-2]["delta"]["stop_reason"] == messages
    final = data_of(render_stream("responses", events, response_id="c", model="m"))[-1]
    reason = final["response"]["incomplete_details"]
    assert (reason or {}).get("reason", final["response"]["status"]) == responses


def test_mid_stream_errors_have_each_apis_shape() -> None:
    events: list[Event] = [TextDelta("a"), ErrorEvent("server_error", "boom", True)]
    chat = data_of(render_stream("chat", events, response_id="c", model="m"))[-1]
    assert chat["error"] == {"code": "server_error", "message": "boom"}
    messages = render_stream("messages", events, response_id="m", model="m")
    name, data = split_block(messages[-1])
    assert name == "error"
    assert orjson.loads(data)["error"] == {"type": "server_error", "message": "boom"}
    responses = data_of(render_stream("responses", events, response_id="r", model="m"))
    assert responses[-2]["type"] == "error"
    assert (responses[-2]["code"], responses[-2]["message"]) == ("server_error", "boom")
    assert responses[-1]["type"] == "response.failed"
    assert responses[-1]["response"]["error"] == {"code": "server_error", "message": "boom"}


@pytest.mark.parametrize("api", APIS)
def test_an_error_before_the_start_is_the_whole_stream(api: str) -> None:
    error = ErrorEvent("overloaded_error", "busy", True)
    blocks = render_stream(api, [error], response_id="x", model="m")
    assert list(decode(api, blocks)) == [error]


@pytest.mark.parametrize("api", APIS)
def test_a_turn_without_its_terminal_event_reads_as_truncated(api: str) -> None:
    blocks = render_stream(api, [Start(None, None), TextDelta("so")], response_id="x", model="m")
    events = list(decode(api, blocks))
    assert events[:2] == [Start("x", "m"), TextDelta("so")]
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "stream_truncated"


@pytest.mark.parametrize("api", APIS)
def test_rendering_is_deterministic(api: str) -> None:
    first = render_stream(api, TURN, response_id="x", model="m")
    assert render_stream(api, TURN, response_id="x", model="m") == first
    assert render_body(api, TURN, response_id="x", model="m") == render_body(
        api, TURN, response_id="x", model="m"
    )


def test_messages_body_refuses_arguments_that_are_not_an_object() -> None:
    for arguments in ("[1]", '{"cut'):
        events = [
            ToolCallStart(0, "t", "f"),
            ToolCallEnd(0, "t", "f", arguments),
            Completed("stop", None),
        ]
        with pytest.raises(ValueError, match="not a JSON object"):
            render_body("messages", events, response_id="m", model="m")


def test_unknown_wire_api_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown wire API"):
        render_stream("completions", TURN, response_id="x", model="m")


# --- HTTP errors and model lists ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
        (422, "invalid_request_error"),
        (503, "api_error"),
    ],
)
def test_messages_error_bodies_use_the_status_type(status: int, kind: str) -> None:
    body = orjson.loads(render_error("messages", status, "nope"))
    assert body["type"] == "error"
    assert body["error"] == {"type": kind, "message": "nope"}
    assert body["request_id"].startswith("req_")
    decoded = decode_response("messages", render_error("messages", status, "nope"))
    assert decoded.error is not None
    assert (decoded.error.code, decoded.error.message) == (kind, "nope")


def test_messages_error_code_overrides_the_type() -> None:
    body = orjson.loads(render_error("messages", 500, "busy", code="overloaded_error"))
    assert body["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize(
    ("status", "code", "kind", "want_code"),
    [
        (400, None, "invalid_request_error", None),
        (401, None, "invalid_request_error", "invalid_api_key"),
        (429, None, "requests", "rate_limit_exceeded"),
        (500, None, "server_error", None),
        (404, "model_not_found", "invalid_request_error", "model_not_found"),
    ],
)
def test_openai_error_bodies(
    api: str, status: int, code: str | None, kind: str, want_code: str | None
) -> None:
    body = orjson.loads(render_error(api, status, "bad", code=code))
    assert body == {"error": {"message": "bad", "type": kind, "param": None, "code": want_code}}
    decoded = decode_response(api, render_error(api, status, "bad", code=code))
    assert decoded.error is not None
    assert decoded.error.code == (want_code or kind)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_openai_model_list(api: str) -> None:
    body = orjson.loads(render_models(api, ["a", "b"]))
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["a", "b"]
    for model in body["data"]:
        OpenAIModel.model_validate(model)


def test_messages_model_list_pages() -> None:
    page = orjson.loads(render_models_page(["claude-a-1", "claude-b-2"], has_more=True))
    assert page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == ("claude-a-1", "claude-b-2")
    assert page["data"][0] == {
        "type": "model",
        "id": "claude-a-1",
        "display_name": "Claude A 1",
        "created_at": "2025-01-01T00:00:00Z",
    }
    empty = orjson.loads(render_models_page([], has_more=False))
    assert empty == {"data": [], "has_more": False, "first_id": None, "last_id": None}
    whole = orjson.loads(render_models("messages", ["x"]))
    assert whole["has_more"] is False
    assert [m["id"] for m in whole["data"]] == ["x"]
