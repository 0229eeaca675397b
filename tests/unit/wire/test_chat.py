"""The chat codec: request bodies, every dialect of the chunk stream, non-streamed bodies."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import openai
import orjson
import pytest

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
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    assistant,
    decode,
    decode_raw,
    decode_response,
    encode,
    encode_body,
    image,
    tool_result,
    user,
)
from modelwire.wire.chat import ChatChunk

WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def sse(*chunks: dict[str, Any] | str) -> bytes:
    """A chat stream body: each chunk as one ``data:`` event."""
    out = bytearray()
    for chunk in chunks:
        payload = chunk if isinstance(chunk, str) else orjson.dumps(chunk).decode()
        out += f"data: {payload}\n\n".encode()
    return bytes(out)


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any
) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return {"id": "c1", "model": "m", "choices": [choice], **top}


def events(body: bytes) -> list[Event]:
    return list(decode("chat", [body]))


# --- encoding ---------------------------------------------------------------------------------


def test_encodes_the_spec_example_exactly() -> None:
    request = Request(
        model="gpt-4.1",
        instructions="Be terse.",
        messages=(user("Weather in Oslo?"),),
        tools=(Tool(name="get_weather", parameters=WEATHER.parameters),),
        tool_choice="auto",
    )
    path, body = encode("chat", request)
    assert path == "chat/completions"
    assert body == (
        b'{"model":"gpt-4.1","stream":true,"stream_options":{"include_usage":true},'
        b'"messages":[{"role":"system","content":"Be terse."},'
        b'{"role":"user","content":"Weather in Oslo?"}],'
        b'"tools":[{"type":"function","function":{"name":"get_weather","parameters":'
        b'{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],'
        b'"tool_choice":"auto"}'
    )


def test_a_non_streamed_request_sends_no_stream_options() -> None:
    body = encode_body("chat", Request(model="m", messages=(user("hi"),), stream=False))
    assert body == {"model": "m", "stream": False, "messages": [{"role": "user", "content": "hi"}]}


def test_tool_results_follow_the_assistant_tool_calls_as_tool_messages() -> None:
    calls = (
        ToolCall(0, "call_1", "get_weather", '{"city":"Oslo"}'),
        ToolCall(1, "call_2", "get_weather", '{"city":"Rome"}'),
    )
    request = Request(
        model="m",
        messages=(
            user("Weather in Oslo and Rome?"),
            assistant(tool_calls=calls),
            tool_result("call_1", "4°C"),
            tool_result("call_2", "19°C"),
        ),
    )
    assert encode_body("chat", request)["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "4°C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "19°C"},
    ]


def test_images_and_text_become_content_parts() -> None:
    message = user("What is this?", image("https://x.test/cat.png", detail="low"))
    body = encode_body("chat", Request(model="m", messages=(message,)))
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/cat.png", "detail": "low"},
                },
            ],
        }
    ]


def test_reasoning_knobs_tool_choice_and_limits_map_to_chat_fields() -> None:
    request = Request(
        model="m",
        messages=(user("hi"),),
        tools=(WEATHER,),
        tool_choice="get_weather",
        parallel_tool_calls=False,
        reasoning_effort="high",
        thinking=True,
        max_output_tokens=512,
        temperature=0.2,
        extra_body={"seed": 7, "temperature": 0.0},
    )
    body = encode_body("chat", request)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"][0]["function"]["description"] == "Current weather for a city."
    assert body["parallel_tool_calls"] is False
    assert body["reasoning_effort"] == "high"
    assert body["thinking"] == {"type": "enabled"}
    assert body["max_tokens"] == 512
    assert body["temperature"] == 0.0  # extra_body wins, merged last
    assert body["seed"] == 7


def test_assistant_images_cannot_be_expressed() -> None:
    request = Request(model="m", messages=(assistant(image("https://x.test/a.png")),))
    with pytest.raises(RequestError):
        encode_body("chat", request)


def test_reasoning_blocks_are_not_sent_back_on_chat() -> None:
    earlier = assistant("Sure.", reasoning=[ReasoningBlock("thinking…")])
    body = encode_body("chat", Request(model="m", messages=(earlier,)))
    assert body["messages"] == [{"role": "assistant", "content": "Sure."}]


async def test_the_openai_sdk_sends_the_same_json(anyio_backend: str) -> None:
    captured: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(orjson.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": "gpt-4.1",
                "choices": [],
            },
        )

    calls = [ToolCall(0, "call_1", "get_weather", '{"city":"Oslo"}')]
    request = Request(
        model="gpt-4.1",
        instructions="Be terse.",
        messages=(
            user("Weather in Oslo?", image("data:image/png;base64,iVBORw0KGgo=")),
            assistant(tool_calls=calls),
            tool_result("call_1", "4°C"),
        ),
        tools=(WEATHER,),
        tool_choice="auto",
        reasoning_effort="low",
        max_output_tokens=100,
        temperature=0.5,
        stream=False,
    )
    # The same turn written the way an openai SDK user writes it, independently of our encoder.
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = openai.AsyncOpenAI(
            api_key="test", base_url="http://127.0.0.1/v1", http_client=http
        )
        await client.chat.completions.create(
            model="gpt-4.1",
            stream=False,
            messages=[
                {"role": "system", "content": "Be terse."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather in Oslo?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "4°C"},
            ],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Current weather for a city.",
                        "parameters": WEATHER.parameters,
                    },
                }
            ],
            tool_choice="auto",
            reasoning_effort="low",
            max_tokens=100,
            temperature=0.5,
        )
    assert captured == [encode_body("chat", request)]


async def test_the_openai_sdk_streams_with_the_same_json(anyio_backend: str) -> None:
    captured: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(orjson.loads(request.content))
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=b"data: [DONE]\n\n"
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = openai.AsyncOpenAI(
            api_key="test", base_url="http://127.0.0.1/v1", http_client=http
        )
        stream = await client.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        await stream.close()
    request = Request(model="gpt-4.1", messages=(user("hi"),))
    assert captured == [encode_body("chat", request)]


# --- stream decoding --------------------------------------------------------------------------


def test_tool_calls_without_index_start_on_a_new_id_and_continue_the_latest() -> None:
    body = sse(
        chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": '{"x"'}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ":1}"}}]}),
        chunk({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
        chunk(finish="tool_calls"),
        "[DONE]",
    )
    assert events(body) == [
        Start("c1", "m"),
        ToolCallStart(0, "a", "f"),
        ToolCallDelta(0, '{"x"'),
        ToolCallDelta(0, ":1}"),
        ToolCallStart(1, "b", "g"),
        ToolCallDelta(1, "{}"),
        ToolCallEnd(0, "a", "f", '{"x":1}'),
        ToolCallEnd(1, "b", "g", "{}"),
        Completed("tool_calls", "tool_calls"),
    ]


def test_a_known_index_with_a_new_id_starts_another_call_and_empty_ids_change_nothing() -> None:
    body = sse(
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "", "function": {"name": "", "arguments": "1"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": None, "function": {"arguments": "2"}}]}),
        chunk(finish="tool_calls"),
    )
    calls = [e for e in events(body) if isinstance(e, ToolCallEnd)]
    assert calls == [ToolCallEnd(0, "a", "f", "1"), ToolCallEnd(1, "b", "g", "2")]


def test_tool_index_follows_first_appearance_not_the_wire_index() -> None:
    body = sse(
        chunk({"tool_calls": [{"index": 3, "id": "late", "function": {"name": "f"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "early", "function": {"name": "g"}}]}),
        chunk(finish="stop"),
    )
    starts = [e for e in events(body) if isinstance(e, ToolCallStart)]
    assert starts == [ToolCallStart(0, "late", "f"), ToolCallStart(1, "early", "g")]
    assert events(body)[-1] == Completed("tool_calls", "stop")


def test_arguments_before_the_name_are_held_until_the_call_starts() -> None:
    body = sse(
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"arguments": "{"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "}"}}]}),
        chunk(finish="tool_calls"),
    )
    assert [e for e in events(body) if not isinstance(e, Start | Completed)] == [
        ToolCallStart(0, "a", "f"),
        ToolCallDelta(0, "{"),
        ToolCallDelta(0, "}"),
        ToolCallEnd(0, "a", "f", "{}"),
    ]


def test_reasoning_content_wins_over_reasoning_and_never_both() -> None:
    body = sse(
        chunk({"reasoning_content": "A", "reasoning": "B"}),
        chunk({"reasoning": "C"}),
        chunk({"content": "done"}),
        chunk(finish="stop"),
    )
    assert events(body)[1:] == [
        ReasoningDelta("A"),
        ReasoningDelta("C"),
        ReasoningEnd(None, None, False),
        TextDelta("done"),
        Completed("stop", "stop"),
    ]


def test_reasoning_ends_before_a_tool_call_and_at_the_finish() -> None:
    to_tool = sse(
        chunk({"reasoning": "r"}),
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f"}}]}),
        chunk(finish="tool_calls"),
    )
    assert events(to_tool)[1:3] == [ReasoningDelta("r"), ReasoningEnd(None, None, False)]
    only = sse(chunk({"reasoning": "r"}), chunk(finish="length"), "[DONE]")
    assert events(only)[1:] == [
        ReasoningDelta("r"),
        ReasoningEnd(None, None, False),
        Completed("length", "length"),
    ]


def test_content_may_be_null_or_a_list_of_parts() -> None:
    body = sse(
        chunk({"content": None}),
        chunk({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
        chunk(finish="stop"),
    )
    assert [e for e in events(body) if isinstance(e, TextDelta)] == [TextDelta("ab")]


@pytest.mark.parametrize(
    ("where", "expected_cached"),
    [
        (
            {
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": 2,
                    "prompt_tokens_details": {"cached_tokens": 4},
                }
            },
            4,
        ),
        ({"usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_cache_hit_tokens": 5}}, 5),
        ({"choices_usage": {"prompt_tokens": 10, "completion_tokens": 2, "cached_tokens": 6}}, 6),
        ({"x_groq": {"usage": {"prompt_tokens": 10, "completion_tokens": 2}}}, 0),
    ],
)
def test_usage_is_read_from_each_of_its_four_places(
    where: dict[str, Any], expected_cached: int
) -> None:
    final = chunk(finish="stop")
    if "choices_usage" in where:
        final["choices"][0]["usage"] = where.pop("choices_usage")
    final.update(where)
    result = events(sse(chunk({"content": "x"}), final))
    assert result[-2:] == [
        Usage(
            input_tokens=10, output_tokens=2, total_tokens=12, cached_input_tokens=expected_cached
        ),
        Completed("stop", "stop"),
    ]


def test_the_last_usage_seen_wins_and_reasoning_and_cache_writes_are_read() -> None:
    body = sse(
        chunk({"content": "x"}, usage={"prompt_tokens": 1, "completion_tokens": 1}),
        chunk(finish="stop"),
        {
            "id": "c1",
            "choices": [],
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 50,
                "total_tokens": 151,
                "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 30},
                "completion_tokens_details": {"reasoning_tokens": 40},
            },
        },
        "[DONE]",
    )
    assert events(body)[-2] == Usage(100, 50, 151, 20, 30, 40)


@pytest.mark.parametrize(
    ("raw", "finish"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_calls"),
        ("eos", "other"),
    ],
)
def test_finish_reasons_are_normalized(raw: str, finish: str) -> None:
    assert events(sse(chunk({"content": "x"}), chunk(finish=raw)))[-1] == Completed(finish, raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "code", "message", "retryable"),
    [
        ({"code": "server_error", "message": "boom"}, "server_error", "boom", True),
        ({"message": "bad", "type": "BadRequestError"}, "BadRequestError", "bad", False),
        ({"code": 429, "message": "slow down"}, "429", "slow down", True),
        ("upstream exploded", "error", "upstream exploded", False),
    ],
)
def test_error_chunks_are_terminal(error: Any, code: str, message: str, retryable: bool) -> None:
    body = sse(chunk({"content": "x"}), {"error": error}, chunk({"content": "ignored"}), "[DONE]")
    assert events(body) == [
        Start("c1", "m"),
        TextDelta("x"),
        ErrorEvent(code, message, retryable),
    ]


def test_an_error_before_any_chunk_comes_without_start() -> None:
    assert events(sse({"error": {"code": "rate_limit_exceeded", "message": "m"}})) == [
        ErrorEvent("rate_limit_exceeded", "m", True)
    ]


def test_a_bare_error_finish_reason_is_an_error() -> None:
    result = events(sse(chunk({"content": "x"}), chunk(finish="error")))
    assert isinstance(result[-1], ErrorEvent)
    assert result[-1].code == "error"


def test_eof_after_a_finish_reason_completes_and_without_one_truncates() -> None:
    assert events(sse(chunk({"content": "x"}), chunk(finish="stop")))[-1] == Completed(
        "stop", "stop"
    )
    truncated = events(sse(chunk({"content": "x"})))
    assert truncated[-1] == ErrorEvent("stream_truncated", truncated[-1].message, True)  # type: ignore[union-attr]


@pytest.mark.parametrize("sentinel", ["[DONE]", " [DONE] ", "[DONE]\r"])
def test_done_is_compared_after_stripping(sentinel: str) -> None:
    body = sse(chunk({"content": "x"})) + f"data:{sentinel}\n\n".encode()
    assert events(body)[-1] == Completed(None, None)


def test_done_without_a_finish_reason_completes_with_no_reason() -> None:
    assert events(sse(chunk({"content": "x"}), "[DONE]"))[-1] == Completed(None, None)


@pytest.mark.parametrize(
    "choices",
    [
        [{"index": 1, "delta": {"content": "no"}}],
        [{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"content": "b"}}],
    ],
)
def test_a_choice_other_than_index_zero_ends_the_stream_instead_of_being_dropped(
    choices: list[dict[str, Any]],
) -> None:
    other = {"id": "c1", "model": "m", "choices": choices}
    got = events(sse(chunk({"content": "yes"}), other, chunk(finish="stop"), "[DONE]"))
    assert got[:2] == [Start("c1", "m"), TextDelta("yes")]
    error = got[-1]
    assert isinstance(error, ErrorEvent)
    assert (error.code, error.retryable, len(got)) == ("decode_error", False, 3)
    assert error.message is not None
    assert "choice indexes" in error.message
    assert "n unset (or 1)" in error.message


def test_a_non_streamed_reply_with_several_choices_is_an_error_not_the_first_one() -> None:
    body = orjson.dumps(
        {
            "id": "c9",
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "a"}},
                {"index": 1, "message": {"role": "assistant", "content": "b"}},
            ],
        }
    )
    response = decode_response("chat", body)
    assert response.text == ""
    assert response.error is not None
    assert response.error.code == "decode_error"
    assert "[0, 1]" in (response.error.message or "")


@pytest.mark.parametrize("n", [2, 0, True, "2"])
def test_n_other_than_one_is_refused_at_encode_time_naming_n(n: object) -> None:
    request = Request(model="m", messages=(user("x"),), extra_body={"n": n})
    with pytest.raises(RequestError, match=r"extra_body n=.*n must be 1 or unset"):
        encode_body("chat", request)


def test_n_of_one_is_sent_as_given() -> None:
    request = Request(model="m", messages=(user("x"),), extra_body={"n": 1})
    assert encode_body("chat", request)["n"] == 1


# --- non-streamed bodies and raw mode ---------------------------------------------------------


def test_a_non_streamed_completion_aggregates_like_a_stream() -> None:
    body = orjson.dumps(
        {
            "id": "c9",
            "object": "chat.completion",
            "model": "deepseek-reasoner",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Calling.",
                        "reasoning_content": "Need weather.",
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        }
    )
    response = decode_response("chat", body)
    assert response.id == "c9"
    assert response.text == "Calling."
    assert response.reasoning == "Need weather."
    assert response.tool_calls == (ToolCall(0, "call_1", "get_weather", '{"city":"Oslo"}'),)
    assert response.usage == Usage(9, 3, 12)
    assert response.finish_reason == "tool_calls"
    assert response.error is None


def test_a_non_streamed_error_body_is_an_error_response() -> None:
    body = (
        b'{"error":{"message":"Invalid model","type":"invalid_request_error",'
        b'"code":"model_not_found"}}'
    )
    response = decode_response("chat", body)
    assert response.error is not None
    assert (response.error.code, response.error.message) == ("model_not_found", "Invalid model")


def test_raw_mode_yields_typed_chunks_and_skips_the_sentinel() -> None:
    raw = list(decode_raw("chat", [sse(chunk({"content": "x"}), chunk(finish="stop"), "[DONE]")]))
    assert all(isinstance(item, ChatChunk) for item in raw)
    assert len(raw) == 2
    first = raw[0]
    assert isinstance(first, ChatChunk)
    assert first.choices is not None
    assert first.choices[0].delta is not None
    assert first.choices[0].delta.content == "x"
    assert msgspec.json.decode(msgspec.json.encode(first))["id"] == "c1"
