"""The common event model: exact JSON shapes, retryable codes, and the aggregate."""

from __future__ import annotations

import msgspec
import pytest

from modelwire.wire import (
    Completed,
    ErrorEvent,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningEnd,
    Start,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    collect,
    is_retryable,
)


@pytest.mark.parametrize(
    ("event", "keys"),
    [
        (Start("r", "m"), ["type", "id", "model"]),
        (TextDelta("t"), ["type", "text"]),
        (ReasoningDelta("t"), ["type", "text"]),
        (ReasoningEnd(None, None, False), ["type", "id", "signature", "redacted"]),
        (ToolCallStart(0, "c", "f"), ["type", "index", "id", "name"]),
        (ToolCallDelta(0, "{"), ["type", "index", "arguments"]),
        (ToolCallEnd(0, "c", "f", "{}"), ["type", "index", "id", "name", "arguments"]),
        (
            Usage(),
            [
                "type",
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "cached_input_tokens",
                "cache_write_input_tokens",
                "reasoning_tokens",
            ],
        ),
        (Completed("stop", "end_turn"), ["type", "finish_reason", "raw_finish_reason"]),
        (ErrorEvent("x", None, False), ["type", "code", "message", "retryable"]),
    ],
)
def test_each_event_encodes_to_exactly_the_spec_key_set(event: object, keys: list[str]) -> None:
    assert list(msgspec.json.decode(msgspec.json.encode(event))) == keys


@pytest.mark.parametrize(
    "code",
    [
        "server_error",
        "api_error",
        "overloaded_error",
        "rate_limit_error",
        "rate_limit_exceeded",
        "timeout_error",
        "server_is_overloaded",
        "slow_down",
        "stream_truncated",
        "idle_timeout",
        "408",
        "429",
        "500",
        "529",
    ],
)
def test_retryable_codes(code: str) -> None:
    assert is_retryable(code)


@pytest.mark.parametrize(
    "code", ["invalid_request_error", "decode_error", "error", "400", "404", "499", "", "5OO"]
)
def test_other_codes_are_not_retryable(code: str) -> None:
    assert not is_retryable(code)


def test_collect_folds_a_stream_into_the_vectors_final_shape() -> None:
    response = collect(
        [
            Start("r1", "m"),
            ReasoningDelta("think "),
            ReasoningDelta("hard"),
            ReasoningEnd("rs_1", "sig", False),
            TextDelta("Hel"),
            TextDelta("lo"),
            ToolCallStart(0, "c", "f"),
            ToolCallDelta(0, "{}"),
            ToolCallEnd(0, "c", "f", "{}"),
            Usage(3, 4, 7),
            Completed("tool_calls", "tool_use"),
        ]
    )
    assert response.ok
    assert response.reasoning_blocks == (ReasoningBlock("think hard", "rs_1", "sig", False),)
    assert response.tool_calls == (ToolCall(0, "c", "f", "{}"),)
    assert response.summary() == {
        "id": "r1",
        "model": "m",
        "text": "Hello",
        "reasoning": "think hard",
        "tool_calls": [{"index": 0, "id": "c", "name": "f", "arguments": "{}"}],
        "usage": {
            "input_tokens": 3,
            "output_tokens": 4,
            "total_tokens": 7,
            "cached_input_tokens": 0,
            "cache_write_input_tokens": 0,
            "reasoning_tokens": 0,
        },
        "finish_reason": "tool_calls",
        "raw_finish_reason": "tool_use",
        "error": None,
    }


def test_a_failed_stream_keeps_what_arrived_and_the_error() -> None:
    response = collect([Start("r", None), TextDelta("part"), ErrorEvent("api_error", "x", True)])
    assert not response.ok
    assert response.text == "part"
    assert response.summary()["error"] == {"code": "api_error", "message": "x", "retryable": True}
