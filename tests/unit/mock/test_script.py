"""The mock's scripted replies: predictable from the request, and exactly what decoding gives."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.vectors import as_json, coalesce
from modelwire.mock._render import render_body, render_stream
from modelwire.mock._script import ReplyOptions, reply_events, response_id_for
from modelwire.wire import (
    Completed,
    Event,
    ReasoningDelta,
    ReasoningEnd,
    Request,
    Start,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    assistant,
    collect,
    decode,
    decode_response,
    encode_body,
    tool_result,
    user,
)

APIS = ("chat", "messages", "responses")
NO_OPTIONS = ReplyOptions()
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "metric": {"type": "boolean"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "where": {"type": "object"},
    },
}
WEATHER_ARGS = '{"city":"value-city","days":1,"metric":true,"unit":"celsius","where":null}'
CLOCK_SCHEMA = {"type": "object", "properties": {"zone": {"type": ["null", "string"]}}}


def body_for(api: str, request: Request) -> dict[str, Any]:
    """The body modelwire itself sends, so the script is checked against real request shapes."""
    return orjson.loads(orjson.dumps(encode_body(api, request)))


def ask(text: str, **fields: Any) -> Request:
    return Request(model="m-1", messages=(user(text),), **fields)


TOOLS = (
    Tool(name="get_weather", parameters=WEATHER_SCHEMA),
    Tool(name="get_time", parameters=CLOCK_SCHEMA),
)


def kinds(events: list[Event], kind: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


def text_of(events: list[Event]) -> str:
    return "".join(event.text for event in kinds(events, TextDelta))


def finish_of(events: list[Event]) -> Completed:
    last = events[-1]
    assert isinstance(last, Completed)
    return last


# --- echo and length --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "raw"), [("chat", "stop"), ("messages", "end_turn"), ("responses", "completed")]
)
def test_the_default_reply_echoes_the_last_user_message(api: str, raw: str) -> None:
    request = Request(
        model="m-1",
        instructions="Be terse.",
        messages=(user("first question"), assistant("an answer"), user("hello there world")),
    )
    events = reply_events(api, body_for(api, request), options=NO_OPTIONS)
    assert isinstance(events[0], Start)
    assert events[0].model == "m-1"
    assert [e.text for e in kinds(events, TextDelta)] == ["Echo:", " hello", " there", " world"]
    assert finish_of(events) == Completed("stop", raw)
    assert not kinds(events, ToolCallStart)
    assert not kinds(events, ReasoningDelta)
    # 2 + 2 + 2 + 3 words in the request; 4 pieces out.
    assert events[-2] == Usage(input_tokens=9, output_tokens=4, total_tokens=13)


@pytest.mark.parametrize("api", APIS)
def test_output_tokens_cuts_or_repeats_the_echo(api: str) -> None:
    body = body_for(api, ask("one two"))
    short = reply_events(api, body, options=ReplyOptions(output_tokens=2))
    assert [e.text for e in kinds(short, TextDelta)] == ["Echo:", " one"]
    assert finish_of(short).finish_reason == "stop"
    long = reply_events(api, body, options=ReplyOptions(output_tokens=7))
    assert text_of(long) == "Echo: one two Echo: one two Echo:"
    assert len(kinds(long, TextDelta)) == 7
    assert long[-2] == Usage(input_tokens=2, output_tokens=7, total_tokens=9)
    none = reply_events(api, body, options=ReplyOptions(output_tokens=0))
    assert not kinds(none, TextDelta)


@pytest.mark.parametrize(
    ("api", "raw"),
    [("chat", "length"), ("messages", "max_tokens"), ("responses", "max_output_tokens")],
)
def test_the_requests_token_limit_cuts_the_reply_with_finish_length(api: str, raw: str) -> None:
    body = body_for(api, ask("a b c d e", max_output_tokens=3, tools=TOOLS))
    events = reply_events(api, body, options=ReplyOptions(output_tokens=6))
    assert text_of(events) == "Echo: a b"
    assert finish_of(events) == Completed("length", raw)
    assert not kinds(events, ToolCallStart)  # a reply cut short never finishes its calls


def test_chat_reads_max_completion_tokens_too() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "a b c"}]}
    events = reply_events("chat", {**body, "max_completion_tokens": 1}, options=NO_OPTIONS)
    assert finish_of(events).finish_reason == "length"


def test_content_parts_and_string_inputs_are_read() -> None:
    chat = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "from parts"}]}],
    }
    assert text_of(reply_events("chat", chat, options=NO_OPTIONS)) == "Echo: from parts"
    messages = {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "from blocks"}]}],
    }
    assert text_of(reply_events("messages", messages, options=NO_OPTIONS)) == "Echo: from blocks"
    responses = {"model": "m", "input": "a plain string"}
    assert text_of(reply_events("responses", responses, options=NO_OPTIONS)) == (
        "Echo: a plain string"
    )


# --- reasoning --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "request_fields", "wanted"),
    [
        ("chat", {}, False),
        ("chat", {"reasoning_effort": "low"}, True),
        ("chat", {"thinking": True}, True),
        ("chat", {"thinking": False}, False),
        ("chat", {"extra_body": {"reasoning_effort": "none"}}, False),
        ("messages", {}, False),
        ("messages", {"thinking": True}, True),
        ("messages", {"reasoning_effort": "high"}, True),
        ("messages", {"thinking": False}, False),
        ("responses", {}, False),
        ("responses", {"reasoning_effort": "medium"}, True),
        ("responses", {"thinking": True}, True),
        ("responses", {"extra_body": {"reasoning": {"effort": "none"}}}, False),
    ],
)
def test_reasoning_follows_the_request(
    api: str, request_fields: dict[str, Any], wanted: bool
) -> None:
    events = reply_events(api, body_for(api, ask("hi", **request_fields)), options=NO_OPTIONS)
    assert bool(kinds(events, ReasoningDelta)) is wanted


@pytest.mark.parametrize("api", APIS)
def test_the_reasoning_option_overrides_the_request(api: str) -> None:
    asked = body_for(api, ask("hi", reasoning_effort="high"))
    assert not kinds(reply_events(api, asked, options=ReplyOptions(reasoning=False)), ReasoningEnd)
    plain = body_for(api, ask("hi"))
    events = reply_events(api, plain, options=ReplyOptions(reasoning=True))
    deltas = kinds(events, ReasoningDelta)
    assert len(deltas) > 1
    # Reasoning comes first, then its end, then the answer.
    assert events[1 : len(deltas) + 1] == deltas
    end = events[len(deltas) + 1]
    assert isinstance(end, ReasoningEnd)
    assert isinstance(events[len(deltas) + 2], TextDelta)
    usage = events[-2]
    assert isinstance(usage, Usage)
    assert usage.reasoning_tokens == len(deltas)


def test_reasoning_ends_the_way_each_api_reports_them() -> None:
    ends = {
        api: kinds(
            reply_events(api, body_for(api, ask("hi")), options=ReplyOptions(reasoning=True)),
            ReasoningEnd,
        )[0]
        for api in APIS
    }
    assert ends["chat"] == ReasoningEnd(None, None, False)
    assert ends["messages"].id is None
    assert ends["messages"].signature.startswith("sig-")
    assert ends["responses"].id.startswith("rs_")
    assert ends["responses"].signature.startswith("sig-")


# --- tool calls -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "raw", "prefix"),
    [
        ("chat", "tool_calls", "call_"),
        ("messages", "tool_use", "toolu_"),
        ("responses", "completed", "call_"),
    ],
)
def test_offered_tools_get_one_call_with_arguments_from_the_schema(
    api: str, raw: str, prefix: str
) -> None:
    events = reply_events(api, body_for(api, ask("weather?", tools=TOOLS)), options=NO_OPTIONS)
    (start,) = kinds(events, ToolCallStart)
    (end,) = kinds(events, ToolCallEnd)
    assert (start.index, start.name) == (0, "get_weather")
    assert start.id.startswith(prefix)
    assert end == ToolCallEnd(0, start.id, "get_weather", WEATHER_ARGS)
    pieces = [delta.arguments for delta in kinds(events, ToolCallDelta)]
    assert 2 <= len(pieces) <= 3
    assert "".join(pieces) == WEATHER_ARGS
    assert finish_of(events) == Completed("tool_calls", raw)
    assert not kinds(events, TextDelta)  # a calling turn says nothing unless asked to
    assert events[-2] == Usage(input_tokens=1, output_tokens=len(pieces), total_tokens=4)


@pytest.mark.parametrize("api", APIS)
def test_tool_calls_option_cycles_through_the_tools(api: str) -> None:
    body = body_for(api, ask("go", tools=TOOLS))
    events = reply_events(api, body, options=ReplyOptions(tool_calls=3, output_tokens=1))
    starts = kinds(events, ToolCallStart)
    assert [(s.index, s.name) for s in starts] == [
        (0, "get_weather"),
        (1, "get_time"),
        (2, "get_weather"),
    ]
    assert len({s.id for s in starts}) == 3
    assert [e.arguments for e in kinds(events, ToolCallEnd)][1] == '{"zone":"value-zone"}'
    assert text_of(events) == "Echo:"
    assert isinstance(events[1], TextDelta)  # the text comes before the calls


def test_chat_ends_its_calls_together_at_the_finish() -> None:
    body = body_for("chat", ask("go", tools=TOOLS))
    events = reply_events("chat", body, options=ReplyOptions(tool_calls=2))
    names = [type(e).__name__ for e in events]
    assert names[-4:] == ["ToolCallEnd", "ToolCallEnd", "Usage", "Completed"]


@pytest.mark.parametrize("api", APIS)
def test_tool_choice_none_and_no_tools_mean_no_calls(api: str) -> None:
    refused = body_for(api, ask("go", tools=TOOLS, tool_choice="none"))
    assert not kinds(reply_events(api, refused, options=NO_OPTIONS), ToolCallStart)
    bare = body_for(api, ask("go"))
    assert not kinds(reply_events(api, bare, options=ReplyOptions(tool_calls=2)), ToolCallStart)


@pytest.mark.parametrize("api", APIS)
def test_a_forced_tool_is_the_one_called(api: str) -> None:
    body = body_for(api, ask("go", tools=TOOLS, tool_choice="get_time"))
    starts = kinds(reply_events(api, body, options=NO_OPTIONS), ToolCallStart)
    assert [s.name for s in starts] == ["get_time"]


def conversation_with_result(api: str) -> dict[str, Any]:
    call = ToolCall(0, "call_1" if api != "messages" else "toolu_1", "get_weather", "{}")
    request = Request(
        model="m-1",
        tools=TOOLS,
        messages=(
            user("weather in Oslo?"),
            assistant(tool_calls=[call]),
            tool_result(call.id or "", "14°C and clear"),
        ),
    )
    return body_for(api, request)


@pytest.mark.parametrize("api", APIS)
def test_after_a_tool_result_the_reply_reports_it(api: str) -> None:
    events = reply_events(api, conversation_with_result(api), options=NO_OPTIONS)
    assert text_of(events) == "Tool result: 14°C and clear"
    assert not kinds(events, ToolCallStart)
    assert finish_of(events).finish_reason == "stop"


# --- determinism and the round trip -----------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_the_same_request_gets_the_same_reply(api: str) -> None:
    body = body_for(api, ask("again", tools=TOOLS, reasoning_effort="low"))
    first = reply_events(api, body, options=NO_OPTIONS)
    assert reply_events(api, orjson.loads(orjson.dumps(body)), options=NO_OPTIONS) == first
    other = reply_events(api, body_for(api, ask("another", tools=TOOLS)), options=NO_OPTIONS)
    assert kinds(other, ToolCallStart)[0].id != kinds(first, ToolCallStart)[0].id


def test_response_ids_look_like_each_apis() -> None:
    assert response_id_for("chat", 1).startswith("chatcmpl-")
    assert response_id_for("messages", 1).startswith("msg_01")
    assert response_id_for("responses", 1).startswith("resp_")
    assert response_id_for("chat", 1) == response_id_for("chat", 1)
    assert response_id_for("chat", 1) != response_id_for("chat", 2)


def test_unknown_wire_api_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown wire API"):
        reply_events("completions", {}, options=NO_OPTIONS)


def assert_round_trips(api: str, events: list[Event]) -> None:
    start = events[0]
    assert isinstance(start, Start)
    assert start.id is not None
    assert start.model is not None
    blocks = render_stream(api, events, response_id=start.id, model=start.model)
    assert coalesce(as_json(decode(api, blocks))) == coalesce(as_json(events))
    body = render_body(api, events, response_id=start.id, model=start.model)
    assert decode_response(api, body) == collect(events)


SCENARIOS: dict[str, Any] = {
    "echo": lambda api: body_for(api, ask("round trip me")),
    "reasoning": lambda api: body_for(api, ask("think", reasoning_effort="high")),
    "tools": lambda api: body_for(api, ask("call", tools=TOOLS, reasoning_effort="low")),
    "length": lambda api: body_for(api, ask("a b c d", max_output_tokens=2)),
    "result": conversation_with_result,
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendered_replies_decode_back_to_the_script(api: str, scenario: str) -> None:
    events = reply_events(api, SCENARIOS[scenario](api), options=ReplyOptions(tool_calls=None))
    assert_round_trips(api, events)


WORDS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=100, deadline=None)
@given(
    api=st.sampled_from(APIS),
    text=WORDS,
    options=st.builds(
        ReplyOptions,
        output_tokens=st.none() | st.integers(0, 12),
        reasoning=st.none() | st.booleans(),
        tool_calls=st.none() | st.integers(0, 3),
    ),
    with_tools=st.booleans(),
    limit=st.none() | st.integers(1, 10),
)
def test_any_reply_round_trips_and_is_deterministic(
    api: str, text: str, options: ReplyOptions, with_tools: bool, limit: int | None
) -> None:
    request = ask(text, tools=TOOLS if with_tools else (), max_output_tokens=limit)
    body = body_for(api, request)
    events = reply_events(api, body, options=options)
    assert reply_events(api, body, options=options) == events
    assert_round_trips(api, events)
    if options.output_tokens is not None and (limit is None or options.output_tokens <= limit):
        assert len(kinds(events, TextDelta)) == options.output_tokens
    usage = events[-2]
    assert isinstance(usage, Usage)
    pieces = [e for e in events if isinstance(e, TextDelta | ReasoningDelta | ToolCallDelta)]
    assert usage.output_tokens == len(pieces)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        *("model", "messages", "input", "system", "instructions", "tools", "tool_choice"),
        *("thinking", "reasoning", "reasoning_effort", "max_tokens", "max_output_tokens"),
        *("content", "role"),
    ]
)


@settings(max_examples=100, deadline=None)
@given(api=st.sampled_from(APIS), body=st.dictionaries(KEYS, JSON, max_size=6))
def test_malformed_requests_still_get_a_reply(api: str, body: dict[str, Any]) -> None:
    events = reply_events(api, body, options=NO_OPTIONS)
    assert isinstance(events[-1], Completed)
    assert_round_trips(api, events)


def test_options_are_a_frozen_struct() -> None:
    options = ReplyOptions(output_tokens=3)
    with pytest.raises(AttributeError):
        options.output_tokens = 4  # type: ignore[misc]
    assert msgspec.structs.asdict(options) == {
        "output_tokens": 3,
        "reasoning": None,
        "tool_calls": None,
    }


def test_values_json_cannot_hold_are_skipped_not_fatal() -> None:
    huge = 2**70
    body = {
        "model": "m",
        "max_tokens": 50,
        "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "input": {"n": huge}}]},
            {"role": "user", "content": "go"},
        ],
        "tools": [
            {
                "name": "pick",
                "input_schema": {"properties": {"n": {"enum": [huge]}, "k": {"const": huge}}},
            }
        ],
    }
    events = reply_events("messages", body, options=NO_OPTIONS)
    assert kinds(events, ToolCallEnd)[0].arguments == '{"n":null,"k":null}'
    assert_round_trips("messages", events)
