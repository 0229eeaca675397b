"""The messages codec: request bodies, the event stream's edge cases, non-streamed bodies."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import msgspec
import orjson
import pytest

from modelwire.errors import StreamDecodeError
from modelwire.wire import (
    Completed,
    ErrorEvent,
    Event,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningEnd,
    Request,
    RequestError,
    Start,
    StreamDecoding,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResultPart,
    Usage,
    assistant,
    collect,
    decode,
    decode_raw,
    decode_response,
    encode,
    encode_body,
    image,
    stream_decoder,
    tool_result,
    user,
)
from modelwire.wire._codecs import codec_for
from modelwire.wire.messages import (
    BlockTextDelta,
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    MessageDelta,
    MessagesMessage,
    MessagesStreamDecoder,
    MessageStart,
    MessageStop,
    Ping,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
)
from modelwire.wire.sse import PayloadFramer

WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
WEATHER_JSON = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": WEATHER.parameters,
}
PIXEL = "iVBORw0KGgo="


def body_of(request: Request) -> bytes:
    return encode("messages", request)[1]


def exact(value: dict[str, Any]) -> bytes:
    """The expected body as bytes, so key order is compared too."""
    return orjson.dumps(value)


# --- encoding ---------------------------------------------------------------------------------


def test_encodes_the_spec_example_exactly() -> None:
    request = Request(
        model="claude-sonnet-4-5",
        instructions="Be terse.",
        messages=(user("Weather in Oslo?"),),
        tools=(Tool(name="get_weather", parameters=WEATHER.parameters),),
        tool_choice="auto",
        thinking=True,
        thinking_budget=2048,
        max_output_tokens=4096,
    )
    assert body_of(request) == exact(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "stream": True,
            "system": "Be terse.",
            "messages": [{"role": "user", "content": "Weather in Oslo?"}],
            "tools": [{"name": "get_weather", "input_schema": WEATHER.parameters}],
            "tool_choice": {"type": "auto"},
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        }
    )


def test_plain_text_gets_the_default_max_tokens_and_no_optional_keys() -> None:
    assert body_of(Request(model="m", messages=(user("Hi"),))) == exact(
        {
            "model": "m",
            "max_tokens": 4096,
            "stream": True,
            "messages": [{"role": "user", "content": "Hi"}],
        }
    )


def test_system_temperature_max_tokens_and_non_streaming() -> None:
    request = Request(
        model="m",
        instructions="Be terse.",
        messages=(user("Hi"),),
        max_output_tokens=300,
        temperature=0.2,
        stream=False,
    )
    assert body_of(request) == exact(
        {
            "model": "m",
            "max_tokens": 300,
            "stream": False,
            "system": "Be terse.",
            "messages": [{"role": "user", "content": "Hi"}],
            "temperature": 0.2,
        }
    )


def test_several_text_parts_become_text_blocks() -> None:
    body = encode_body("messages", Request(model="m", messages=(user("a", "b"),)))
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ("get_weather", None, {"type": "tool", "name": "get_weather"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (
            "get_weather",
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        ("none", False, {"type": "none"}),
        ("auto", True, {"type": "auto"}),
    ],
)
def test_tool_choice_and_parallel_calls_map_onto_anthropic_tool_choice(
    choice: str | None, parallel: bool | None, expected: dict[str, Any]
) -> None:
    request = Request(
        model="m",
        messages=(user("Hi"),),
        tools=(WEATHER,),
        tool_choice=choice,
        parallel_tool_calls=parallel,
    )
    assert body_of(request) == exact(
        {
            "model": "m",
            "max_tokens": 4096,
            "stream": True,
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [WEATHER_JSON],
            "tool_choice": expected,
        }
    )


def test_tools_without_a_choice_send_no_tool_choice() -> None:
    body = encode_body("messages", Request(model="m", messages=(user("Hi"),), tools=(WEATHER,)))
    assert body["tools"] == [WEATHER_JSON]
    assert "tool_choice" not in body


def test_disabling_parallel_calls_without_tools_sends_no_tool_choice() -> None:
    body = encode_body(
        "messages", Request(model="m", messages=(user("Hi"),), parallel_tool_calls=False)
    )
    assert "tool_choice" not in body


def test_tool_results_go_first_in_the_user_content_with_is_error_only_when_set() -> None:
    request = Request(
        model="m",
        messages=(
            user("Weather in Oslo and Paris?"),
            assistant(
                tool_calls=[
                    ToolCall(0, "toolu_1", "get_weather", '{"city": "Oslo"}'),
                    ToolCall(1, "toolu_2", "get_weather", '{"city":"Paris"}'),
                ]
            ),
            user(
                "Also, be brief.",
                ToolResultPart("toolu_1", "12 C"),
                ToolResultPart("toolu_2", "timeout", is_error=True),
            ),
        ),
    )
    assert body_of(request) == exact(
        {
            "model": "m",
            "max_tokens": 4096,
            "stream": True,
            "messages": [
                {"role": "user", "content": "Weather in Oslo and Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Oslo"},
                        },
                        {
                            "type": "tool_use",
                            "id": "toolu_2",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "12 C"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": "timeout",
                            "is_error": True,
                        },
                        {"type": "text", "text": "Also, be brief."},
                    ],
                },
            ],
        }
    )


def test_a_lone_tool_result_is_a_block_list_not_a_string() -> None:
    body = encode_body("messages", Request(model="m", messages=(tool_result("t1", "ok"),)))
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}
    ]


def test_images_inline_as_base64_and_by_url() -> None:
    request = Request(
        model="m",
        messages=(
            user(
                "What is in these?",
                image(f"data:image/png;base64,{PIXEL}", detail="high"),
                image("https://example.com/cat.jpg"),
            ),
        ),
    )
    assert body_of(request) == exact(
        {
            "model": "m",
            "max_tokens": 4096,
            "stream": True,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in these?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                        },
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/cat.jpg"},
                        },
                    ],
                }
            ],
        }
    )


def test_a_data_url_that_is_not_base64_is_a_request_error() -> None:
    request = Request(model="m", messages=(user(image("data:text/plain,hello")),))
    with pytest.raises(RequestError, match="base64"):
        encode_body("messages", request)


@pytest.mark.parametrize(
    ("options", "max_tokens", "budget"),
    [
        ({"thinking": True}, 4096 + 4096, 4096),
        ({"thinking": True, "thinking_budget": 2000}, 2000 + 4096, 2000),
        ({"reasoning_effort": "minimal"}, 1024 + 4096, 1024),
        ({"reasoning_effort": "low"}, 1024 + 4096, 1024),
        ({"reasoning_effort": "medium"}, 4096 + 4096, 4096),
        ({"reasoning_effort": "high"}, 16384 + 4096, 16384),
        ({"reasoning_effort": "high", "thinking_budget": 3000}, 3000 + 4096, 3000),
        ({"thinking": True, "max_output_tokens": 10000}, 10000, 4096),
        ({"reasoning_effort": "high", "max_output_tokens": 8000}, 8000, 7999),
        ({"thinking": True, "max_output_tokens": 1025}, 1025, 1024),
    ],
)
def test_thinking_budget_and_max_tokens(
    options: dict[str, Any], max_tokens: int, budget: int
) -> None:
    body = encode_body("messages", Request(model="m", messages=(user("Hi"),), **options))
    assert body["max_tokens"] == max_tokens
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert list(body) == ["model", "max_tokens", "stream", "messages", "thinking"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"thinking": True, "max_output_tokens": 1024}, "max_output_tokens 1024"),
        ({"reasoning_effort": "low", "max_output_tokens": 500}, "max_output_tokens 500"),
        ({"thinking": True, "thinking_budget": 1023}, "below the messages API minimum"),
    ],
)
def test_a_thinking_budget_that_cannot_fit_is_a_request_error(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(RequestError, match=match):
        encode_body("messages", Request(model="m", messages=(user("Hi"),), **options))


@pytest.mark.parametrize("effort", [None, "high"])
def test_thinking_false_disables_thinking_even_with_an_effort(effort: str | None) -> None:
    request = Request(model="m", messages=(user("Hi"),), thinking=False, reasoning_effort=effort)  # type: ignore[arg-type]
    body = encode_body("messages", request)
    assert body["thinking"] == {"type": "disabled"}
    assert body["max_tokens"] == 4096


def test_reasoning_blocks_go_back_unchanged_before_text_and_tool_use() -> None:
    request = Request(
        model="m",
        messages=(
            user("Weather in Oslo?"),
            assistant(
                "Let me check.",
                reasoning=[
                    ReasoningBlock("The user wants weather.", signature="sig-A"),
                    ReasoningBlock("", signature="opaque-B", redacted=True),
                    ReasoningBlock("unsigned, from another API"),
                ],
                tool_calls=[ToolCall(0, "toolu_1", "get_weather", "")],
            ),
            tool_result("toolu_1", "12 C"),
        ),
        thinking=True,
        thinking_budget=1024,
        max_output_tokens=2048,
    )
    assert body_of(request) == exact(
        {
            "model": "m",
            "max_tokens": 2048,
            "stream": True,
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "thinking",
                            "thinking": "The user wants weather.",
                            "signature": "sig-A",
                        },
                        {"type": "redacted_thinking", "data": "opaque-B"},
                        {"type": "text", "text": "Let me check."},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "12 C"}
                    ],
                },
            ],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        }
    )


@pytest.mark.parametrize(
    ("arguments", "match"), [("{not json", "not valid JSON"), ("[1]", "not an object")]
)
def test_tool_call_arguments_must_be_a_json_object(arguments: str, match: str) -> None:
    request = Request(
        model="m",
        messages=(assistant(tool_calls=[ToolCall(0, "t1", "get_weather", arguments)]),),
    )
    with pytest.raises(RequestError, match=match):
        encode_body("messages", request)


def test_an_assistant_image_is_a_request_error() -> None:
    request = Request(model="m", messages=(assistant(image("https://example.com/a.png")),))
    with pytest.raises(RequestError, match="only text and tool calls"):
        encode_body("messages", request)


def test_extra_body_is_merged_last_and_overrides() -> None:
    request = Request(
        model="m",
        messages=(user("Hi"),),
        extra_body={"max_tokens": 99, "metadata": {"user_id": "u1"}},
    )
    body = encode_body("messages", request)
    assert body["max_tokens"] == 99
    assert list(body)[-1] == "metadata"


@pytest.mark.parametrize(
    ("base_url", "path"),
    [
        ("https://api.anthropic.com", "v1/messages"),
        ("https://api.anthropic.com/", "v1/messages"),
        ("https://api.minimax.io/anthropic/v1", "messages"),
        ("https://api.minimax.io/anthropic/v1/", "messages"),
        (None, "v1/messages"),
    ],
)
def test_path_adds_v1_only_when_the_base_lacks_it(base_url: str | None, path: str) -> None:
    assert encode("messages", Request(model="m"), base_url=base_url)[0] == path


# --- the official SDK as the reference --------------------------------------------------------

SDK_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}

SCHEMA = WEATHER.parameters

CROSS_CHECKS: list[tuple[str, Request, dict[str, Any]]] = [
    (
        "text-system-temperature",
        Request(
            model="claude-test",
            instructions="Be terse.",
            messages=(user("Hi"),),
            max_output_tokens=256,
            temperature=0.5,
            stream=False,
        ),
        {
            "model": "claude-test",
            "max_tokens": 256,
            "system": "Be terse.",
            "messages": [{"role": "user", "content": "Hi"}],
            # anthropic 2.14's create() has no temperature parameter; the API still takes it.
            "extra_body": {"temperature": 0.5},
            "stream": False,
        },
    ),
    (
        "tools-any-no-parallel-images",
        Request(
            model="claude-test",
            messages=(
                user("Weather here?", image(f"data:image/jpeg;base64,{PIXEL}")),
                user(image("https://example.com/a.png")),
            ),
            tools=(WEATHER,),
            tool_choice="required",
            parallel_tool_calls=False,
            stream=False,
        ),
        {
            "model": "claude-test",
            "max_tokens": 4096,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather here?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": PIXEL},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/a.png"},
                        }
                    ],
                },
            ],
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "input_schema": SCHEMA,
                }
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "stream": False,
        },
    ),
    (
        "thinking-reasoning-tool-round-trip",
        Request(
            model="claude-test",
            messages=(
                user("Weather in Oslo?"),
                assistant(
                    reasoning=[
                        ReasoningBlock("Need the tool.", signature="sig-1"),
                        ReasoningBlock("", signature="opaque", redacted=True),
                    ],
                    tool_calls=[ToolCall(0, "toolu_1", "get_weather", '{"city":"Oslo"}')],
                ),
                tool_result("toolu_1", "rain", is_error=True),
            ),
            tools=(WEATHER,),
            tool_choice="get_weather",
            reasoning_effort="medium",
            stream=False,
        ),
        {
            "model": "claude-test",
            "max_tokens": 8192,
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "Need the tool.", "signature": "sig-1"},
                        {"type": "redacted_thinking", "data": "opaque"},
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Oslo"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": "rain",
                            "is_error": True,
                        }
                    ],
                },
            ],
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "input_schema": SCHEMA,
                }
            ],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "thinking": {"type": "enabled", "budget_tokens": 4096},
            "stream": False,
        },
    ),
    (
        "thinking-disabled",
        Request(model="m", messages=(user("Hi"),), thinking=False, stream=False),
        {
            "model": "m",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "Hi"}],
            "thinking": {"type": "disabled"},
            "stream": False,
        },
    ),
]


@pytest.mark.parametrize(
    ("request_", "sdk_kwargs"),
    [pytest.param(request, kwargs, id=name) for name, request, kwargs in CROSS_CHECKS],
)
async def test_the_anthropic_sdk_sends_the_same_json(
    request_: Request, sdk_kwargs: dict[str, Any], anyio_backend: str
) -> None:
    sent: list[bytes] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.content)
        return httpx2.Response(200, json=SDK_REPLY)

    # anthropic 2.x runs on httpx2, which refuses httpx objects, so the mock is an httpx2 one.
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        client = anthropic.AsyncAnthropic(
            api_key="test", base_url="http://127.0.0.1", http_client=http, max_retries=0
        )
        reply = await client.messages.create(**sdk_kwargs)
    assert reply.id == "msg_1"
    assert orjson.loads(sent[0]) == orjson.loads(body_of(request_))


async def test_the_anthropic_sdk_streams_with_the_same_json(anyio_backend: str) -> None:
    sent: list[bytes] = []
    stream_body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
        b'"type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,'
        b'"usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.content)
        return httpx2.Response(
            200, content=stream_body, headers={"content-type": "text/event-stream"}
        )

    request = Request(model="m", instructions="Be terse.", messages=(user("Hi"),), tools=(WEATHER,))
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        client = anthropic.AsyncAnthropic(
            api_key="test", base_url="http://127.0.0.1", http_client=http, max_retries=0
        )
        stream = await client.messages.create(
            model="m",
            max_tokens=4096,
            system="Be terse.",
            messages=[{"role": "user", "content": "Hi"}],
            tools=[
                {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "input_schema": SCHEMA,
                }
            ],
            stream=True,
        )
        kinds = [event.type async for event in stream]
    assert kinds == ["message_start", "message_stop"]
    assert orjson.loads(sent[0]) == orjson.loads(body_of(request))


# --- stream decoding --------------------------------------------------------------------------


def sse(*items: dict[str, Any] | bytes) -> bytes:
    """A messages stream body; dicts get an ``event:`` line mirroring their ``type``."""
    out = bytearray()
    for item in items:
        if isinstance(item, bytes):
            out += b"data: " + item + b"\n\n"
        else:
            out += f"event: {item.get('type')}\ndata: ".encode() + orjson.dumps(item) + b"\n\n"
    return bytes(out)


def message_start(**usage: int | None) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 1},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def text(index: int, value: str) -> dict[str, Any]:
    return block_delta(index, {"type": "text_delta", "text": value})


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str | None = "end_turn", **usage: int | None) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": usage or {"output_tokens": 5},
    }


STOP = {"type": "message_stop"}
PING = {"type": "ping"}
START = Start("msg_1", "claude-x")


def run(*items: dict[str, Any] | bytes) -> tuple[list[Event], MessagesStreamDecoder]:
    """Decode a whole body and hand back the decoder too, for its counters."""
    codec = stream_decoder("messages")
    assert isinstance(codec, MessagesStreamDecoder)
    framer = PayloadFramer()
    events = codec.feed(framer.feed(sse(*items)))
    events += codec.finish()
    return events, codec


def events(*items: dict[str, Any] | bytes) -> list[Event]:
    return list(decode("messages", [sse(*items)]))


def completed(finish: str = "stop", raw: str = "end_turn", **usage: int) -> list[Event]:
    counts = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, **usage}
    return [Usage(**counts), Completed(finish, raw)]  # type: ignore[arg-type]


def test_text_stream_with_pings_anywhere() -> None:
    assert events(
        PING,
        message_start(),
        PING,
        block_start(0, {"type": "text", "text": ""}),
        text(0, "Hel"),
        PING,
        text(0, "lo"),
        block_stop(0),
        PING,
        message_delta(),
        PING,
        STOP,
    ) == [START, TextDelta("Hel"), TextDelta("lo"), *completed()]


def test_text_on_a_block_start_is_emitted() -> None:
    assert events(
        message_start(),
        block_start(0, {"type": "text", "text": "Hi "}),
        text(0, "there"),
        block_stop(0),
        message_delta(),
        STOP,
    ) == [START, TextDelta("Hi "), TextDelta("there"), *completed()]


def test_unknown_event_block_and_delta_types_are_ignored_and_counted() -> None:
    result, codec = run(
        message_start(),
        {"type": "future_event", "payload": [1, 2]},
        block_start(0, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"}),
        block_delta(0, {"type": "citations_delta", "citation": {"url": "https://x"}}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        block_delta(1, {"type": "citations_delta", "citation": {}}),
        text(1, "ok"),
        block_stop(1),
        b'{"no_type": true}',
        message_delta(),
        STOP,
    )
    assert result == [START, TextDelta("ok"), *completed()]
    assert codec.unknown_events == 5


def test_the_event_line_is_ignored_in_favour_of_the_json_type() -> None:
    body = sse(message_start()).replace(b"event: message_start", b"event: ping")
    body += b"data: " + orjson.dumps(text(0, "x")) + b"\n\n"
    body += sse(message_delta(), STOP).replace(b"event: message_stop", b"event: error")
    assert list(decode("messages", [body])) == [START, TextDelta("x"), *completed()]


def test_tool_calls_are_indexed_by_appearance_and_input_object_is_not_prepended() -> None:
    assert events(
        message_start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "hmm"}),
        block_stop(0),
        block_start(3, {"type": "tool_use", "id": "t1", "name": "a", "input": {}}),
        block_delta(3, {"type": "input_json_delta", "partial_json": ""}),
        block_delta(3, {"type": "input_json_delta", "partial_json": '{"x":'}),
        block_delta(3, {"type": "input_json_delta", "partial_json": " 1}"}),
        block_stop(3),
        block_start(5, {"type": "tool_use", "id": "t2", "name": "b", "input": {}}),
        block_delta(5, {"type": "input_json_delta", "partial_json": ""}),
        block_stop(5),
        block_start(6, {"type": "tool_use", "id": "t3", "name": "c", "input": {}}),
        block_stop(6),
        message_delta("tool_use"),
        STOP,
    ) == [
        START,
        ReasoningDelta("hmm"),
        ReasoningEnd(None, None, False),
        ToolCallStart(0, "t1", "a"),
        ToolCallDelta(0, '{"x":'),
        ToolCallDelta(0, " 1}"),
        ToolCallEnd(0, "t1", "a", '{"x": 1}'),
        ToolCallStart(1, "t2", "b"),
        ToolCallEnd(1, "t2", "b", "{}"),
        ToolCallStart(2, "t3", "c"),
        ToolCallEnd(2, "t3", "c", "{}"),
        *completed("tool_calls", "tool_use"),
    ]


def test_an_error_in_the_middle_of_a_tool_call_ends_without_tool_call_end() -> None:
    assert events(
        message_start(),
        block_start(0, {"type": "tool_use", "id": "t1", "name": "a", "input": {}}),
        block_delta(0, {"type": "input_json_delta", "partial_json": '{"x"'}),
        {"type": "error", "error": {"type": "api_error", "message": "Internal error"}},
    ) == [
        START,
        ToolCallStart(0, "t1", "a"),
        ToolCallDelta(0, '{"x"'),
        ErrorEvent("api_error", "Internal error", True),
    ]


def test_an_error_before_message_start_is_the_only_event() -> None:
    assert events(
        {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    ) == [ErrorEvent("invalid_request_error", "bad", False)]


def test_message_stop_closes_blocks_that_never_stopped() -> None:
    assert events(
        message_start(),
        block_start(0, {"type": "thinking", "thinking": ""}),
        block_delta(0, {"type": "signature_delta", "signature": "sig"}),
        block_start(1, {"type": "tool_use", "id": "t1", "name": "a", "input": {}}),
        message_delta("tool_use"),
        STOP,
    ) == [
        START,
        ToolCallStart(0, "t1", "a"),
        ReasoningEnd(None, "sig", False),
        ToolCallEnd(0, "t1", "a", "{}"),
        *completed("tool_calls", "tool_use"),
    ]


def test_thinking_signature_and_redacted_thinking() -> None:
    assert events(
        message_start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "Let me think."}),
        block_delta(0, {"type": "signature_delta", "signature": "sig-"}),
        block_delta(0, {"type": "signature_delta", "signature": "1"}),
        block_stop(0),
        block_start(1, {"type": "redacted_thinking", "data": "EncryptedBlob=="}),
        block_stop(1),
        block_start(2, {"type": "text", "text": ""}),
        text(2, "Answer."),
        block_stop(2),
        message_delta(),
        STOP,
    ) == [
        START,
        ReasoningDelta("Let me think."),
        ReasoningEnd(None, "sig-1", False),
        ReasoningEnd(None, "EncryptedBlob==", True),
        TextDelta("Answer."),
        *completed(),
    ]


def test_usage_is_overwritten_only_by_non_null_later_fields() -> None:
    result = events(
        message_start(
            input_tokens=100,
            output_tokens=1,
            cache_read_input_tokens=40,
            cache_creation_input_tokens=7,
        ),
        message_delta(
            "end_turn",
            input_tokens=None,
            output_tokens=30,
            cache_read_input_tokens=50,
            cache_creation_input_tokens=None,
        ),
        STOP,
    )
    assert result[-2] == Usage(
        input_tokens=100 + 50 + 7,
        output_tokens=30,
        total_tokens=100 + 50 + 7 + 30,
        cached_input_tokens=50,
        cache_write_input_tokens=7,
        reasoning_tokens=0,
    )


def test_cache_tokens_are_added_to_input_and_thinking_tokens_are_reasoning() -> None:
    start = message_start(input_tokens=12, output_tokens=1)
    start["message"]["usage"].update(cache_read_input_tokens=2048, cache_creation_input_tokens=512)
    delta = message_delta()
    delta["usage"] = {"output_tokens": 300, "output_tokens_details": {"thinking_tokens": 120}}
    assert events(start, delta, STOP)[-2] == Usage(
        input_tokens=12 + 2048 + 512,
        output_tokens=300,
        total_tokens=12 + 2048 + 512 + 300,
        cached_input_tokens=2048,
        cache_write_input_tokens=512,
        reasoning_tokens=120,
    )


def test_a_stream_that_reports_no_usage_has_no_usage_event() -> None:
    start = message_start()
    del start["message"]["usage"]
    delta = message_delta()
    delta["usage"] = None
    assert events(start, delta, STOP) == [START, Completed("stop", "end_turn")]


@pytest.mark.parametrize(
    ("raw", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "pause"),
        ("refusal", "content_filter"),
        ("something_new", "other"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(raw: str, finish: str) -> None:
    assert events(message_start(), message_delta(raw), STOP)[-1] == Completed(finish, raw)  # type: ignore[arg-type]


def test_no_stop_reason_completes_with_a_null_finish_reason() -> None:
    assert events(message_start(), STOP)[-1] == Completed(None, None)


def test_end_turn_after_a_tool_call_becomes_tool_calls() -> None:
    result = events(
        message_start(),
        block_start(0, {"type": "tool_use", "id": "t1", "name": "a", "input": {}}),
        block_stop(0),
        message_delta("end_turn"),
        STOP,
    )
    assert result[-1] == Completed("tool_calls", "end_turn")


def test_events_after_message_stop_are_ignored() -> None:
    result, codec = run(message_start(), message_delta(), STOP, text(0, "late"), STOP)
    assert result == [START, *completed()]
    assert codec.events_after_terminal == 2


@pytest.mark.parametrize(
    "tail",
    [(), (block_start(0, {"type": "text", "text": ""}), text(0, "cut"))],
    ids=["after-start", "mid-text"],
)
def test_eof_before_message_stop_is_stream_truncated(tail: tuple[dict[str, Any], ...]) -> None:
    result = events(message_start(), *tail)
    assert result[0] == START
    assert isinstance(result[-1], ErrorEvent)
    assert result[-1].code == "stream_truncated"
    assert result[-1].retryable
    assert result[-1].finish_reason is None
    assert not any(isinstance(event, (Usage, Completed)) for event in result)


@pytest.mark.parametrize(
    ("code", "cut"),
    [("idle_timeout", None), ("decode_error", b"data: " + b"x" * 5000)],
    ids=["idle-timeout", "event-too-large"],
)
def test_any_failure_after_message_delta_keeps_its_report_and_one_terminal_event(
    code: str, cut: bytes | None
) -> None:
    decoding = StreamDecoding("messages", max_event_bytes=1024)
    got = decoding.feed(sse(message_start(), message_delta("tool_use", output_tokens=3)))
    if cut is None:
        got += decoding.codec.fail(code, "no bytes for 10 ms")
    else:
        got += decoding.feed(cut)
    usage = Usage(input_tokens=10, output_tokens=3, total_tokens=13)
    assert got[:2] == [START, usage]
    error = got[2]
    assert isinstance(error, ErrorEvent)
    assert (error.code, error.finish_reason, error.raw_finish_reason) == (
        code,
        "tool_calls",
        "tool_use",
    )
    assert len(got) == 3
    assert decoding.done
    assert decoding.close() == []
    encoded = msgspec.json.decode(msgspec.json.encode(error))
    assert set(encoded) == {
        "type",
        "code",
        "message",
        "retryable",
        "finish_reason",
        "raw_finish_reason",
    }


def test_an_error_event_without_a_report_keeps_the_spec_key_set() -> None:
    error = events(
        message_start(), {"type": "error", "error": {"type": "api_error", "message": "x"}}
    )[-1]
    assert set(msgspec.json.decode(msgspec.json.encode(error))) == {
        "type",
        "code",
        "message",
        "retryable",
    }


def test_eof_after_message_delta_keeps_its_usage_and_stop_reason_but_is_still_truncated() -> None:
    result = events(
        message_start(input_tokens=10, cache_read_input_tokens=4, output_tokens=1),
        block_start(0, {"type": "text", "text": ""}),
        text(0, "done"),
        block_stop(0),
        message_delta("end_turn", output_tokens=7),
    )
    usage = Usage(input_tokens=14, output_tokens=7, total_tokens=21, cached_input_tokens=4)
    assert result[:2] == [START, TextDelta("done")]
    assert result[2] == usage
    error = result[3]
    assert isinstance(error, ErrorEvent)
    assert (error.code, error.retryable) == ("stream_truncated", True)
    assert (error.finish_reason, error.raw_finish_reason) == ("stop", "end_turn")
    assert len(result) == 4
    response = collect(result)
    assert (response.usage, response.finish_reason, response.raw_finish_reason) == (
        usage,
        "stop",
        "end_turn",
    )
    assert response.error is not None
    assert response.error.code == "stream_truncated"


@pytest.mark.parametrize(
    "bad",
    [
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"',
        b"not json",
        b"[1, 2]",
        b'{"type":"content_block_delta","index":"zero","delta":{"type":"text_delta","text":"x"}}',
        b'{"type":"content_block_start","index":0,"content_block":"text"}',
    ],
    ids=["truncated-json", "not-json", "not-an-object", "wrong-field-type", "block-not-object"],
)
def test_invalid_data_is_a_decode_error_naming_the_event(bad: bytes) -> None:
    result = events(message_start(), PING, bad, STOP)
    assert result[0] == START
    error = result[-1]
    assert isinstance(error, ErrorEvent)
    assert error.code == "decode_error"
    assert not error.retryable
    assert error.message is not None
    assert "messages event #3" in error.message


# --- non-streamed bodies ----------------------------------------------------------------------


def message_body(content: list[dict[str, Any]], stop_reason: str = "end_turn") -> bytes:
    return orjson.dumps(
        {
            "id": "msg_9",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 20,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 0,
                "output_tokens": 40,
            },
        }
    )


BODY_USAGE = Usage(
    input_tokens=120,
    output_tokens=40,
    total_tokens=160,
    cached_input_tokens=100,
    cache_write_input_tokens=0,
    reasoning_tokens=0,
)


def test_a_body_with_thinking_text_and_tool_use_decodes_to_the_same_events() -> None:
    body = message_body(
        [
            {"type": "thinking", "thinking": "Check the weather.", "signature": "sig-9"},
            {"type": "redacted_thinking", "data": "blob"},
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_9",
                "name": "get_weather",
                "input": {"city": "Oslo", "days": [1, 2], "unit": None},
            },
            {"type": "tool_use", "id": "toolu_10", "name": "now", "input": {}},
        ],
        stop_reason="tool_use",
    )
    arguments = '{"city":"Oslo","days":[1,2],"unit":null}'
    assert stream_decoder("messages").decode_body(body) == [
        Start("msg_9", "claude-x"),
        ReasoningDelta("Check the weather."),
        ReasoningEnd(None, "sig-9", False),
        ReasoningEnd(None, "blob", True),
        TextDelta("Checking."),
        ToolCallStart(0, "toolu_9", "get_weather"),
        ToolCallDelta(0, arguments),
        ToolCallEnd(0, "toolu_9", "get_weather", arguments),
        ToolCallStart(1, "toolu_10", "now"),
        ToolCallEnd(1, "toolu_10", "now", "{}"),
        BODY_USAGE,
        Completed("tool_calls", "tool_use"),
    ]
    response = decode_response("messages", body)
    assert response.text == "Checking."
    assert response.reasoning_blocks == (
        ReasoningBlock("Check the weather.", None, "sig-9", False),
        ReasoningBlock("", None, "blob", True),
    )
    assert [call.arguments for call in response.tool_calls] == [arguments, "{}"]


def test_a_body_skips_and_counts_unknown_content_blocks() -> None:
    codec = stream_decoder("messages")
    body = message_body(
        [
            {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
            {"type": "text", "text": "Found it."},
        ]
    )
    assert codec.decode_body(body) == [
        Start("msg_9", "claude-x"),
        TextDelta("Found it."),
        BODY_USAGE,
        Completed("stop", "end_turn"),
    ]
    assert codec.unknown_events == 1


def test_an_anthropic_error_body_is_an_error_event() -> None:
    body = orjson.dumps(
        {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": "req_1",
        }
    )
    assert stream_decoder("messages").decode_body(body) == [
        ErrorEvent("overloaded_error", "Overloaded", True)
    ]
    response = decode_response("messages", body)
    assert response.error is not None
    assert response.error.code == "overloaded_error"


def test_an_invalid_body_is_a_decode_error() -> None:
    result = stream_decoder("messages").decode_body(b'{"type":"message","content":')
    assert len(result) == 1
    assert isinstance(result[0], ErrorEvent)
    assert result[0].code == "decode_error"


def test_native_body_decoding_gives_typed_structs() -> None:
    native = codec_for("messages").decode_native_body(
        message_body([{"type": "text", "text": "Hi"}, {"type": "mystery"}])
    )
    assert isinstance(native, MessagesMessage)
    assert native.content == [TextBlock("Hi")]
    assert native.usage is not None
    assert native.usage.cache_read_input_tokens == 100


# --- raw mode ---------------------------------------------------------------------------------


def test_raw_mode_yields_the_typed_native_events() -> None:
    body = sse(
        message_start(),
        PING,
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        block_start(1, {"type": "tool_use", "id": "t1", "name": "a", "input": {}}),
        {"type": "future_event"},
        text(2, "x"),
        block_stop(2),
        message_delta(),
        STOP,
    )
    natives = list(decode_raw("messages", [body]))
    assert [type(item) for item in natives] == [
        MessageStart,
        Ping,
        ContentBlockStart,
        ContentBlockStart,
        ContentBlockDelta,
        ContentBlockStop,
        MessageDelta,
        MessageStop,
    ]
    start = natives[0]
    assert isinstance(start, MessageStart)
    assert start.message.id == "msg_1"
    assert natives[2] == ContentBlockStart(0, ThinkingBlock("", ""))
    assert natives[3] == ContentBlockStart(1, ToolUseBlock("t1", "a", {}))
    assert natives[4] == ContentBlockDelta(2, BlockTextDelta("x"))
    delta = natives[6]
    assert isinstance(delta, MessageDelta)
    assert delta.delta is not None
    assert delta.delta.stop_reason == "end_turn"


def test_raw_mode_raises_on_malformed_data() -> None:
    with pytest.raises(StreamDecodeError, match="invalid event data"):
        list(decode_raw("messages", [sse(message_start(), b"{oops")]))


def test_native_structs_round_trip_through_msgspec() -> None:
    event = ContentBlockStart(1, ToolUseBlock("t1", "a", {}))
    assert msgspec.json.decode(msgspec.json.encode(event), type=ContentBlockStart) == event


def test_a_whole_input_at_block_start_without_deltas_becomes_the_arguments() -> None:
    body = b"".join(
        [
            b'event: message_start\ndata: {"type":"message_start","message":{"id":"m",'
            b'"model":"x","usage":{"input_tokens":1,"output_tokens":1}}}\n\n',
            b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
            b'"content_block":{"type":"tool_use","id":"t","name":"f","input":{"city":"Oslo"}}}\n\n',
            b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
            b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
            b'"tool_use"},"usage":{"output_tokens":3}}\n\n',
            b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
        ]
    )
    decoded = list(decode("messages", [body]))
    assert ToolCallEnd(0, "t", "f", '{"city":"Oslo"}') in decoded
    assert ToolCallDelta(0, '{"city":"Oslo"}') in decoded
