"""The Responses codec: exact request bodies, decoding beyond the vectors, raw mode, and the SDK.

The conformance vectors cover the documented happy paths and one mid-stream error; these tests
pin down the rest of spec §2/§6 (unknown types, terminal precedence, incomplete reasons,
malformed data, non-streamed bodies) and check the encoder against the official ``openai`` SDK,
which builds the same body from the same logical request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import openai
import pytest

from modelwire.errors import StreamDecodeError
from modelwire.wire import (
    ImagePart,
    Message,
    ReasoningBlock,
    Request,
    RequestError,
    TextPart,
    Tool,
    ToolCall,
    ToolResultPart,
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
from modelwire.wire.responses import (
    ResponsesCompleted,
    ResponsesCreated,
    ResponsesFunctionCall,
    ResponsesOtherEvent,
    ResponsesOutputItemAdded,
    ResponsesOutputTextDelta,
    ResponsesResponse,
    ResponsesStreamDecoder,
)
from modelwire.wire.sse import PayloadFramer

WEATHER = Tool(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
WEATHER_JSON: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def dumps(value: object) -> bytes:
    return msgspec.json.encode(value)


def user_item(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": list(content)}


def text_in(text: str) -> dict[str, Any]:
    return {"type": "input_text", "text": text}


# --- request encoding -------------------------------------------------------------------------


def test_a_plain_user_turn_encodes_to_the_minimal_stateless_streaming_body() -> None:
    request = Request(model="gpt-5", messages=(user("Hi"),))
    path, body = encode("responses", request)
    assert path == "responses"
    assert body == (
        b'{"model":"gpt-5","stream":true,"store":false,"input":'
        b'[{"type":"message","role":"user","content":[{"type":"input_text","text":"Hi"}]}]}'
    )


def test_the_spec_example_request_encodes_byte_for_byte_in_documented_key_order() -> None:
    request = Request(
        model="gpt-5",
        instructions="Be terse.",
        messages=(user("Weather in Oslo?"),),
        tools=(WEATHER,),
        tool_choice="auto",
        reasoning_effort="medium",
    )
    expected = (
        b'{"model":"gpt-5","instructions":"Be terse.","stream":true,"store":false,'
        b'"input":[{"type":"message","role":"user","content":'
        b'[{"type":"input_text","text":"Weather in Oslo?"}]}],'
        b'"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object",'
        b'"properties":{"city":{"type":"string"}},"required":["city"]}}],'
        b'"tool_choice":"auto","parallel_tool_calls":true,'
        b'"reasoning":{"effort":"medium","summary":"auto"},"include":["reasoning.encrypted_content"]}'
    )
    assert encode("responses", request)[1] == expected


def test_tools_are_flat_and_a_tool_name_choice_becomes_a_function_object() -> None:
    tool = Tool(name="lookup", description="Find a record.", parameters={"type": "object"})
    request = Request(
        model="gpt-5",
        messages=(user("Find it"),),
        tools=(tool,),
        tool_choice="lookup",
        parallel_tool_calls=False,
    )
    body = encode_body("responses", request)
    assert body["tools"] == [
        {
            "type": "function",
            "name": "lookup",
            "description": "Find a record.",
            "parameters": {"type": "object"},
        }
    ]
    assert list(body["tools"][0]) == ["type", "name", "description", "parameters"]
    assert body["tool_choice"] == {"type": "function", "name": "lookup"}
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_keyword_tool_choices_stay_strings(choice: str) -> None:
    request = Request(model="m", messages=(user("x"),), tools=(WEATHER,), tool_choice=choice)
    assert encode_body("responses", request)["tool_choice"] == choice


def test_parallel_tool_calls_is_sent_only_with_tools() -> None:
    request = Request(model="m", messages=(user("x"),), parallel_tool_calls=True)
    assert "parallel_tool_calls" not in encode_body("responses", request)


def test_a_tool_turn_echoes_reasoning_then_text_then_calls_and_places_outputs_in_order() -> None:
    call = ToolCall(0, "call_1", "get_weather", '{"city":"Oslo"}')
    request = Request(
        model="gpt-5",
        messages=(
            user("Weather in Oslo?"),
            assistant(
                "Checking.",
                tool_calls=[call],
                reasoning=[ReasoningBlock("Need the tool.", "rs_1", "gAAAA==")],
            ),
            Message(
                role="user",
                content=(ToolResultPart("call_1", "12 C"), TextPart("And tomorrow?")),
            ),
        ),
    )
    assert encode_body("responses", request)["input"] == [
        user_item(text_in("Weather in Oslo?")),
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Need the tool."}],
            "encrypted_content": "gAAAA==",
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking."}],
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Oslo"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "12 C"},
        user_item(text_in("And tomorrow?")),
    ]


def test_an_assistant_turn_with_only_calls_sends_no_message_item() -> None:
    calls = [ToolCall(0, "call_a", "f", "{}"), ToolCall(1, "call_b", "g", '{"x":1}')]
    request = Request(
        model="m",
        messages=(
            user("go"),
            assistant(tool_calls=calls),
            tool_result("call_a", "A"),
            tool_result("call_b", "B"),
        ),
    )
    assert [item["type"] for item in encode_body("responses", request)["input"]] == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]


def test_only_reasoning_blocks_with_an_item_id_and_encrypted_content_are_sent_back() -> None:
    blocks = [
        ReasoningBlock("chat reasoning"),
        ReasoningBlock("claude thinking", None, "anthropic-signature"),
        ReasoningBlock("stored elsewhere", "rs_1", None),
        ReasoningBlock("", "rs_2", "enc2=="),
    ]
    request = Request(model="m", messages=(assistant("ok", reasoning=blocks),))
    assert encode_body("responses", request)["input"] == [
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "enc2=="},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok"}],
        },
    ]


def test_images_become_input_image_parts_with_optional_detail() -> None:
    request = Request(
        model="gpt-5",
        messages=(
            user(
                "What is this?",
                image("https://example.com/cat.png", detail="low"),
                image("data:image/png;base64,iVBORw0KGgo="),
            ),
        ),
    )
    assert encode_body("responses", request)["input"] == [
        user_item(
            text_in("What is this?"),
            {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "low"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
        )
    ]


@pytest.mark.parametrize(
    ("effort", "thinking", "expected"),
    [
        ("high", None, "high"),
        ("minimal", True, "minimal"),
        (None, True, "medium"),
        (None, None, None),
        ("high", False, None),
        (None, False, None),
    ],
)
def test_reasoning_effort_and_thinking_decide_the_reasoning_object(
    effort: Any, thinking: bool | None, expected: str | None
) -> None:
    request = Request(model="m", messages=(user("x"),), reasoning_effort=effort, thinking=thinking)
    body = encode_body("responses", request)
    if expected is None:
        assert "reasoning" not in body
        assert "include" not in body
    else:
        assert body["reasoning"] == {"effort": expected, "summary": "auto"}
        assert body["include"] == ["reasoning.encrypted_content"]


def test_limits_come_last_and_extra_body_overrides_anything() -> None:
    request = Request(
        model="m",
        messages=(user("x"),),
        reasoning_effort="low",
        max_output_tokens=256,
        temperature=0.2,
        stream=False,
        extra_body={"store": True, "service_tier": "flex"},
    )
    body = encode_body("responses", request)
    assert list(body) == [
        "model",
        "stream",
        "store",
        "input",
        "reasoning",
        "include",
        "max_output_tokens",
        "temperature",
        "service_tier",
    ]
    assert body["stream"] is False
    assert body["store"] is True
    assert body["max_output_tokens"] == 256
    assert body["temperature"] == 0.2


@pytest.mark.parametrize(
    "message",
    [
        assistant(image("https://example.com/a.png")),
        assistant(ToolResultPart("call_1", "x")),
        assistant(tool_calls=[ToolCall(0, None, "f", "{}")]),
        Message(role="user", content=(TextPart("x"),), tool_calls=(ToolCall(0, "c", "f", "{}"),)),
        Message(role="user", content=(TextPart("x"),), reasoning=(ReasoningBlock("r", "rs"),)),
    ],
    ids=["assistant-image", "assistant-tool-result", "call-without-id", "user-calls", "user-rs"],
)
def test_what_responses_cannot_express_is_a_request_error(message: Message) -> None:
    with pytest.raises(RequestError):
        encode_body("responses", Request(model="m", messages=(message,)))


# --- stream decoding beyond the vectors -------------------------------------------------------

RESPONSE_ID = "resp_1"
MODEL = "gpt-5-mini"


def snapshot(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "model": MODEL,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "output": [],
        "usage": None,
        **fields,
    }


def created() -> dict[str, Any]:
    return {"type": "response.created", "sequence_number": 0, "response": snapshot("in_progress")}


def text(delta: str) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": delta,
        "logprobs": [],
    }


USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 15,
}


def completed(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "response.completed", "response": snapshot("completed", usage=usage)}


def incomplete(reason: str | None) -> dict[str, Any]:
    details = None if reason is None else {"reason": reason}
    return {
        "type": "response.incomplete",
        "response": snapshot("incomplete", incomplete_details=details, usage=USAGE),
    }


def function_item(arguments: str = "", **fields: Any) -> dict[str, Any]:
    return {
        "id": "fc_1",
        "type": "function_call",
        "status": "in_progress",
        "arguments": arguments,
        "call_id": "call_1",
        "name": "get_weather",
        **fields,
    }


def sse(*events: dict[str, Any] | bytes) -> bytes:
    """An SSE body; each event's ``event:`` line says ``message`` so nothing can rely on it."""
    out = []
    for event in events:
        data = event if isinstance(event, bytes) else dumps(event)
        out.append(b"event: message\ndata: " + data + b"\n\n")
    return b"".join(out)


def run(body: bytes) -> tuple[list[dict[str, Any]], ResponsesStreamDecoder]:
    codec = stream_decoder("responses")
    assert isinstance(codec, ResponsesStreamDecoder)
    out = codec.feed(PayloadFramer().feed(body)) + ([] if codec.done else codec.finish())
    return [msgspec.to_builtins(event) for event in out], codec


def events(*items: dict[str, Any] | bytes) -> list[dict[str, Any]]:
    return run(sse(*items))[0]


START = {"type": "start", "id": RESPONSE_ID, "model": MODEL}
USAGE_EVENT = {
    "type": "usage",
    "input_tokens": 10,
    "output_tokens": 5,
    "total_tokens": 15,
    "cached_input_tokens": 4,
    "cache_write_input_tokens": 0,
    "reasoning_tokens": 2,
}


def test_unknown_event_types_are_skipped_and_counted() -> None:
    out, codec = run(
        sse(
            created(),
            {"type": "response.in_progress", "response": snapshot("in_progress")},
            {"type": "response.web_search_call.searching", "item_id": "ws_1"},
            {"type": "response.future_thing", "payload": [1, {"nested": True}]},
            text("Hi"),
            completed(),
        )
    )
    assert out == [
        START,
        {"type": "text_delta", "text": "Hi"},
        {"type": "completed", "finish_reason": "stop", "raw_finish_reason": "completed"},
    ]
    assert codec.unknown_events == 3


def test_output_items_of_unknown_types_are_skipped_not_fatal() -> None:
    search = {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {}}
    done = completed()
    done["response"]["output"] = [search]
    out, codec = run(
        sse(
            created(),
            {"type": "response.output_item.added", "output_index": 0, "item": search},
            {"type": "response.output_item.done", "output_index": 0, "item": search},
            text("Found it."),
            done,
        )
    )
    assert out[-1] == {
        "type": "completed",
        "finish_reason": "stop",
        "raw_finish_reason": "completed",
    }
    assert codec.unknown_events == 2


def test_the_json_type_decides_never_the_event_line() -> None:
    body = b"event: response.completed\ndata: " + dumps(text("x")) + b"\n\n"
    assert run(sse(created()) + body)[0][1] == {"type": "text_delta", "text": "x"}


def test_an_error_event_then_response_failed_is_one_error_and_the_rest_is_ignored() -> None:
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "Slow down", "param": None}
    failed = {
        "type": "response.failed",
        "response": snapshot("failed", error={"code": "server_error", "message": "boom"}),
    }
    out, codec = run(sse(created(), text("a"), error, failed, text("late")))
    assert out[-1] == {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "Slow down",
        "retryable": True,
    }
    assert [event["type"] for event in out].count("error") == 1
    assert codec.events_after_terminal == 2


def test_events_after_response_completed_are_ignored_and_counted() -> None:
    out, codec = run(sse(created(), text("a"), completed(), text("b"), completed()))
    assert [event["type"] for event in out] == ["start", "text_delta", "completed"]
    assert codec.events_after_terminal == 2


def test_unknown_types_decode_the_same_one_byte_at_a_time() -> None:
    search = {"id": "ws_1", "type": "web_search_call", "status": "in_progress"}
    stream = sse(
        created(),
        {"type": "response.in_progress"},
        {"type": "response.output_item.added", "output_index": 0, "item": search},
        text("caf\u00e9 \u2212"),
        completed(USAGE),
    )
    whole = list(decode("responses", [stream]))
    assert list(decode("responses", [stream[i : i + 1] for i in range(len(stream))])) == whole
    assert collect(whole).text == "caf\u00e9 \u2212"


def test_response_failed_alone_reports_the_response_error() -> None:
    failed = {
        "type": "response.failed",
        "response": snapshot("failed", error={"code": "invalid_prompt", "message": "Nope"}),
    }
    assert events(created(), failed)[-1] == {
        "type": "error",
        "code": "invalid_prompt",
        "message": "Nope",
        "retryable": False,
    }


def test_an_error_before_response_created_comes_without_a_start() -> None:
    error = {"type": "error", "code": "server_error", "message": "down", "param": None}
    assert events(error) == [
        {"type": "error", "code": "server_error", "message": "down", "retryable": True}
    ]


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            {"error": {"type": "insufficient_quota", "code": "no_credits", "message": "Pay"}},
            "no_credits",
            "Pay",
        ),
        (
            {"error": {"type": "service_unavailable_error", "code": None, "message": "Retry"}},
            "service_unavailable_error",
            "Retry",
        ),
        ({"code": None, "message": "Mystery", "param": None}, "error", "Mystery"),
        ({"code": 503, "message": "Gateway"}, "503", "Gateway"),
        ({"message": "flat", "error": "nested text"}, "error", "flat"),
    ],
    ids=["nested", "nested-null-code", "null-code", "numeric-code", "nested-string"],
)
def test_error_events_read_flat_or_nested_fields(
    error: dict[str, Any], code: str, message: str
) -> None:
    last = events(created(), {"type": "error", "sequence_number": 2, **error})[-1]
    assert (last["type"], last["code"], last["message"]) == ("error", code, message)


@pytest.mark.parametrize(
    ("reason", "finish", "raw"),
    [
        ("max_output_tokens", "length", "max_output_tokens"),
        ("content_filter", "content_filter", "content_filter"),
        ("something_new", "other", "something_new"),
        (None, "other", "incomplete"),
    ],
)
def test_an_incomplete_response_ends_normally_with_its_reason(
    reason: str | None, finish: str, raw: str
) -> None:
    out = events(created(), text("Once upon"), incomplete(reason))
    assert out[-2:] == [
        USAGE_EVENT,
        {"type": "completed", "finish_reason": finish, "raw_finish_reason": raw},
    ]


def test_invalid_json_is_a_decode_error_naming_the_event_number() -> None:
    out = events(created(), text("ok"), b'{"type":"response.output_text.delta","delta":')
    assert out[:2] == [START, {"type": "text_delta", "text": "ok"}]
    assert out[2]["type"] == "error"
    assert out[2]["code"] == "decode_error"
    assert out[2]["retryable"] is False
    assert "event #3" in out[2]["message"]


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"response.output_text.delta","delta":42}',
        b'{"type":"response.output_item.added","item":{"type":"function_call","name":7}}',
        b'{"type":"response.output_item.done","item":"not an object"}',
        b'{"type":["response.output_text.delta"]}',
        b"[1, 2]",
    ],
    ids=["delta-number", "bad-known-item", "item-string", "type-list", "array"],
)
def test_known_events_with_malformed_fields_are_decode_errors(data: bytes) -> None:
    out = events(created(), data)
    assert out[-1]["code"] == "decode_error"
    assert "event #2" in out[-1]["message"]


def test_data_without_a_type_is_skipped_as_unknown() -> None:
    out, codec = run(sse(created(), b'{"hello":"world"}', completed()))
    assert [event["type"] for event in out] == ["start", "completed"]
    assert codec.unknown_events == 1


def test_eof_before_a_terminal_event_is_a_retryable_truncation_after_what_was_emitted() -> None:
    out = events(created(), text("partial"))
    assert out[:2] == [START, {"type": "text_delta", "text": "partial"}]
    assert out[2]["code"] == "stream_truncated"
    assert out[2]["retryable"] is True


def test_a_call_without_argument_deltas_takes_the_done_items_arguments() -> None:
    out = events(
        created(),
        {"type": "response.output_item.added", "output_index": 0, "item": function_item()},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": function_item('{"city":"Oslo"}', status="completed"),
        },
        completed(),
    )
    assert out[1:4] == [
        {"type": "tool_call_start", "index": 0, "id": "call_1", "name": "get_weather"},
        {"type": "tool_call_delta", "index": 0, "arguments": '{"city":"Oslo"}'},
        {
            "type": "tool_call_end",
            "index": 0,
            "id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Oslo"}',
        },
    ]
    assert out[-1]["finish_reason"] == "tool_calls"


def test_argument_deltas_win_over_the_done_items_arguments() -> None:
    delta = {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{}"}
    out = events(
        created(),
        {"type": "response.output_item.added", "output_index": 0, "item": function_item()},
        delta,
        {"type": "response.output_item.done", "item": function_item('{"re":"serialized"}')},
        completed(),
    )
    assert out[3]["arguments"] == "{}"


def test_a_call_cut_off_by_the_token_limit_is_still_closed() -> None:
    out = events(
        created(),
        {"type": "response.output_item.added", "output_index": 0, "item": function_item()},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"ci'},
        incomplete("max_output_tokens"),
    )
    assert out[3] == {
        "type": "tool_call_end",
        "index": 0,
        "id": "call_1",
        "name": "get_weather",
        "arguments": '{"ci',
    }
    assert out[-1] == {
        "type": "completed",
        "finish_reason": "length",
        "raw_finish_reason": "max_output_tokens",
    }


def test_reasoning_text_and_refusal_deltas_map_to_reasoning_and_text() -> None:
    out = events(
        created(),
        {"type": "response.reasoning_text.delta", "item_id": "rs_1", "delta": "think"},
        {
            "type": "response.output_item.done",
            "item": {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": None},
        },
        {"type": "response.refusal.delta", "item_id": "msg_1", "delta": "I can't."},
        completed(),
    )
    assert out[1:4] == [
        {"type": "reasoning_delta", "text": "think"},
        {"type": "reasoning_end", "id": "rs_1", "signature": None, "redacted": False},
        {"type": "text_delta", "text": "I can't."},
    ]


def test_usage_counts_cache_writes_and_sums_a_missing_total() -> None:
    usage = {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30},
        "output_tokens": 7,
        "output_tokens_details": None,
    }
    assert events(created(), completed(usage))[-2] == {
        "type": "usage",
        "input_tokens": 100,
        "output_tokens": 7,
        "total_tokens": 107,
        "cached_input_tokens": 60,
        "cache_write_input_tokens": 30,
        "reasoning_tokens": 0,
    }


def test_a_stream_without_response_created_still_starts_first() -> None:
    assert events(text("x"), completed())[0] == {"type": "start", "id": None, "model": None}


def test_a_decoded_reasoning_turn_round_trips_into_the_next_request() -> None:
    stream = sse(
        created(),
        {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "summary_index": 0},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "delta": "Plan."},
        {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "summary_index": 1},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "delta": "Act."},
        {
            "type": "response.output_item.done",
            "item": {"type": "reasoning", "id": "rs_1", "encrypted_content": "enc=="},
        },
        {"type": "response.output_item.added", "output_index": 1, "item": function_item()},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{}"},
        {"type": "response.output_item.done", "item": function_item("{}")},
        completed(USAGE),
    )
    response = collect(decode("responses", [stream]))
    assert response.reasoning == "Plan.\n\nAct."
    follow_up = Request(
        model=MODEL,
        messages=(
            user("Go"),
            assistant(tool_calls=response.tool_calls, reasoning=response.reasoning_blocks),
            tool_result("call_1", "done"),
        ),
    )
    assert encode_body("responses", follow_up)["input"][1:] == [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Plan.\n\nAct."}],
            "encrypted_content": "enc==",
        },
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "done"},
    ]


# --- non-streamed bodies ----------------------------------------------------------------------


def response_body(
    status: str = "completed", output: list[Any] | None = None, **fields: Any
) -> bytes:
    return dumps(snapshot(status, output=output or [], usage=USAGE, **fields))


def message_item(*content: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": list(content),
    }


def test_a_text_body_decodes_to_the_same_events_as_a_stream() -> None:
    raw = response_body(
        output=[message_item({"type": "output_text", "text": "Hello", "annotations": []})]
    )
    events_out = [msgspec.to_builtins(e) for e in stream_decoder("responses").decode_body(raw)]
    assert events_out == [
        START,
        {"type": "text_delta", "text": "Hello"},
        USAGE_EVENT,
        {"type": "completed", "finish_reason": "stop", "raw_finish_reason": "completed"},
    ]


def test_a_refusal_in_a_body_is_text() -> None:
    raw = response_body(output=[message_item({"type": "refusal", "refusal": "No."})])
    assert decode_response("responses", raw).text == "No."


def test_a_tools_body_yields_calls_by_call_id_and_finish_tool_calls() -> None:
    second = function_item('{"city":"Bergen"}', id="fc_2", call_id="call_2")
    raw = response_body(output=[function_item('{"city":"Oslo"}'), second])
    response = decode_response("responses", raw)
    assert [(c.index, c.id, c.arguments) for c in response.tool_calls] == [
        (0, "call_1", '{"city":"Oslo"}'),
        (1, "call_2", '{"city":"Bergen"}'),
    ]
    assert response.finish_reason == "tool_calls"


def test_a_reasoning_body_joins_summary_parts_and_keeps_the_encrypted_content() -> None:
    reasoning = {
        "id": "rs_1",
        "type": "reasoning",
        "encrypted_content": "enc==",
        "summary": [
            {"type": "summary_text", "text": "**One**"},
            {"type": "summary_text", "text": "**Two**"},
        ],
    }
    raw = response_body(output=[reasoning, message_item({"type": "output_text", "text": "Done."})])
    response = decode_response("responses", raw)
    assert response.reasoning == "**One**\n\n**Two**"
    assert [(b.text, b.id, b.signature) for b in response.reasoning_blocks] == [
        ("**One**\n\n**Two**", "rs_1", "enc==")
    ]
    assert response.text == "Done."
    assert response.usage is not None
    assert response.usage.reasoning_tokens == 2


def test_a_failed_body_is_an_error_without_usage() -> None:
    raw = response_body("failed", error={"code": "server_error", "message": "boom"})
    response = decode_response("responses", raw)
    assert response.error is not None
    assert (response.error.code, response.error.message, response.error.retryable) == (
        "server_error",
        "boom",
        True,
    )
    assert response.usage is None
    assert (response.id, response.model) == (RESPONSE_ID, MODEL)


def test_an_openai_error_envelope_as_a_body_is_an_error() -> None:
    raw = dumps({"error": {"message": "Bad key", "type": "invalid_request_error", "code": None}})
    error = decode_response("responses", raw).error
    assert error is not None
    assert (error.code, error.message) == ("invalid_request_error", "Bad key")


def test_an_incomplete_body_ends_with_length() -> None:
    raw = response_body("incomplete", incomplete_details={"reason": "max_output_tokens"})
    response = decode_response("responses", raw)
    assert (response.finish_reason, response.raw_finish_reason) == ("length", "max_output_tokens")


def test_body_items_of_unknown_types_are_dropped_and_the_rest_kept() -> None:
    search = {"id": "ws_1", "type": "web_search_call", "status": "completed"}
    raw = response_body(output=[search, message_item({"type": "output_text", "text": "Found."})])
    assert decode_response("responses", raw).text == "Found."
    native = codec_for("responses").decode_native_body(raw)
    assert isinstance(native, ResponsesResponse)
    assert native.output is not None
    assert [type(item).__name__ for item in native.output] == ["ResponsesMessage"]


def test_a_malformed_known_item_in_a_body_is_a_decode_error() -> None:
    raw = response_body(output=[{"type": "web_search_call"}, {"type": "function_call", "name": 5}])
    error = decode_response("responses", raw).error
    assert error is not None
    assert error.code == "decode_error"


# --- raw mode ---------------------------------------------------------------------------------


def test_raw_mode_yields_typed_structs_and_placeholders_for_unknown_types() -> None:
    stream = sse(
        created(),
        {"type": "response.in_progress", "sequence_number": 1},
        {"type": "response.output_item.added", "output_index": 0, "item": function_item()},
        text("Hi"),
        completed(USAGE),
    )
    raw = list(decode_raw("responses", [stream]))
    assert [type(event) for event in raw] == [
        ResponsesCreated,
        ResponsesOtherEvent,
        ResponsesOutputItemAdded,
        ResponsesOutputTextDelta,
        ResponsesCompleted,
    ]
    first, other, added, delta, done = raw
    assert isinstance(first, ResponsesCreated)
    assert first.response is not None
    assert first.response.id == RESPONSE_ID
    assert other == ResponsesOtherEvent("response.in_progress", 1)
    assert isinstance(added, ResponsesOutputItemAdded)
    assert isinstance(added.item, ResponsesFunctionCall)
    assert added.item.call_id == "call_1"
    assert isinstance(delta, ResponsesOutputTextDelta)
    assert delta.delta == "Hi"
    assert isinstance(done, ResponsesCompleted)
    assert done.response is not None
    assert done.response.usage is not None
    assert done.response.usage.total_tokens == 15


def test_raw_mode_raises_on_malformed_data() -> None:
    with pytest.raises(StreamDecodeError):
        list(decode_raw("responses", [sse(b'{"type":"response.output_text.delta","delta":1}')]))


# --- the official SDK builds the same bodies --------------------------------------------------

Capture = list[dict[str, Any]]


def sdk_handler(captured: Capture) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        sent = msgspec.json.decode(request.content)
        captured.append(sent)
        if sent.get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"")
        return httpx.Response(200, content=response_body(output=[]))

    return handle


async def sdk_body(**params: Any) -> dict[str, Any]:
    """The JSON the SDK sends for ``client.responses.create(**params)``."""
    captured: Capture = []
    transport = httpx.MockTransport(sdk_handler(captured))
    async with httpx.AsyncClient(transport=transport) as http:
        client = openai.AsyncOpenAI(
            api_key="test", base_url="http://127.0.0.1/v1", http_client=http, max_retries=0
        )
        result = await client.responses.create(**params)
        if isinstance(result, openai.AsyncStream):
            await result.close()
    assert len(captured) == 1
    return captured[0]


async def test_the_sdk_sends_the_same_body_for_the_spec_example(anyio_backend: str) -> None:
    request = Request(
        model="gpt-5",
        instructions="Be terse.",
        messages=(user("Weather in Oslo?"),),
        tools=(WEATHER,),
        tool_choice="auto",
        reasoning_effort="medium",
    )
    sent = await sdk_body(
        model="gpt-5",
        instructions="Be terse.",
        stream=True,
        store=False,
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Weather in Oslo?"}],
            }
        ],
        tools=[
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            }
        ],
        tool_choice="auto",
        parallel_tool_calls=True,
        reasoning={"effort": "medium", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    assert sent == encode_body("responses", request)


async def test_the_sdk_sends_the_same_body_for_a_multi_turn_tool_conversation(
    anyio_backend: str,
) -> None:
    request = Request(
        model="gpt-5-mini",
        messages=(
            user("Compare these", image("https://example.com/a.png", detail="high")),
            assistant(
                "Looking them up.",
                tool_calls=[ToolCall(0, "call_9", "lookup", '{"id":"a"}')],
                reasoning=[ReasoningBlock("Need data.", "rs_9", "enc9==")],
            ),
            tool_result("call_9", '{"size":3}'),
        ),
        tools=(Tool(name="lookup", description="Look a thing up.", parameters={"type": "object"}),),
        tool_choice="lookup",
        parallel_tool_calls=False,
        max_output_tokens=512,
        temperature=0.5,
        stream=False,
    )
    sent = await sdk_body(
        model="gpt-5-mini",
        stream=False,
        store=False,
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Compare these"},
                    {
                        "type": "input_image",
                        "image_url": "https://example.com/a.png",
                        "detail": "high",
                    },
                ],
            },
            {
                "type": "reasoning",
                "id": "rs_9",
                "summary": [{"type": "summary_text", "text": "Need data."}],
                "encrypted_content": "enc9==",
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Looking them up."}],
            },
            {
                "type": "function_call",
                "call_id": "call_9",
                "name": "lookup",
                "arguments": '{"id":"a"}',
            },
            {"type": "function_call_output", "call_id": "call_9", "output": '{"size":3}'},
        ],
        tools=[
            {
                "type": "function",
                "name": "lookup",
                "description": "Look a thing up.",
                "parameters": {"type": "object"},
            }
        ],
        tool_choice={"type": "function", "name": "lookup"},
        parallel_tool_calls=False,
        max_output_tokens=512,
        temperature=0.5,
    )
    assert sent == encode_body("responses", request)


async def test_the_sdk_reads_a_body_the_way_modelwire_does(anyio_backend: str) -> None:
    raw = response_body(
        output=[
            {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "e=="},
            message_item({"type": "output_text", "text": "Sunny.", "annotations": []}),
            function_item('{"city":"Oslo"}', status="completed"),
        ],
        created_at=1,
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
    )

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        client = openai.AsyncOpenAI(
            api_key="test", base_url="http://127.0.0.1/v1", http_client=http, max_retries=0
        )
        theirs = await client.responses.create(model=MODEL, input="x", stream=False)
    ours = decode_response("responses", raw)
    assert ours.text == theirs.output_text
    assert theirs.usage is not None
    assert ours.usage is not None
    assert (ours.usage.input_tokens, ours.usage.output_tokens, ours.usage.total_tokens) == (
        theirs.usage.input_tokens,
        theirs.usage.output_tokens,
        theirs.usage.total_tokens,
    )
    assert ours.usage.cached_input_tokens == theirs.usage.input_tokens_details.cached_tokens
    calls = [item for item in theirs.output if item.type == "function_call"]
    assert [(c.index, c.id, c.name, c.arguments) for c in ours.tool_calls] == [
        (0, calls[0].call_id, calls[0].name, calls[0].arguments)
    ]


def test_image_parts_keep_their_url_untouched() -> None:
    part = ImagePart("data:image/webp;base64,UklGRg==")
    request = Request(model="m", messages=(Message(role="user", content=(part,)),))
    assert encode_body("responses", request)["input"][0]["content"] == [
        {"type": "input_image", "image_url": "data:image/webp;base64,UklGRg=="}
    ]
