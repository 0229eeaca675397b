"""Refusals look the same on every wire API, streamed or not.

The rule: refusal text arrives as ``text_delta`` events (so it is ``Response.text``), and a
reply that carried a refusal and would have finished ``stop`` finishes ``content_filter``;
``raw_finish_reason`` keeps the provider's value. Each golden case is the provider's real
shape for a refusal, decoded whole and a byte at a time.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelwire.wire import (
    Completed,
    Event,
    Start,
    TextDelta,
    Usage,
    collect,
    decode,
    decode_response,
)

SORRY = "I'm sorry, but I can't help with that."


def sse(*items: tuple[str | None, dict[str, Any] | str]) -> bytes:
    out = bytearray()
    for name, payload in items:
        if name is not None:
            out += f"event: {name}\n".encode()
        data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
        out += f"data: {data}\n\n".encode()
    return bytes(out)


def streamed(wire_api: str, body: bytes) -> list[Event]:
    whole = list(decode(wire_api, [body]))
    assert list(decode(wire_api, [body[i : i + 1] for i in range(len(body))])) == whole
    coalesced: list[Event] = []
    for event in whole:
        if coalesced and isinstance(event, TextDelta) and isinstance(coalesced[-1], TextDelta):
            coalesced[-1] = TextDelta(coalesced[-1].text + event.text)
        else:
            coalesced.append(event)
    return coalesced


def chat_chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, dict[str, Any]]:
    return None, {
        "id": "chatcmpl-r",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


CHAT_USAGE = {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22}
USAGE = Usage(input_tokens=12, output_tokens=10, total_tokens=22)


def test_chat_streamed_refusal_is_text_and_finishes_content_filter() -> None:
    body = sse(
        chat_chunk({"role": "assistant", "content": None, "refusal": ""}),
        chat_chunk({"refusal": "I'm sorry, "}),
        chat_chunk({"content": "", "refusal": "but I can't"}),  # the inline path must not skip it
        chat_chunk({"refusal": " help with that."}),
        chat_chunk({}, "stop"),
        (None, {"id": "chatcmpl-r", "model": "gpt-4o", "choices": [], "usage": CHAT_USAGE}),
        (None, "[DONE]"),
    )
    assert streamed("chat", body) == [
        Start("chatcmpl-r", "gpt-4o"),
        TextDelta(SORRY),
        USAGE,
        Completed("content_filter", "stop"),
    ]
    response = collect(decode("chat", [body]))
    assert (response.text, response.finish_reason, response.raw_finish_reason) == (
        SORRY,
        "content_filter",
        "stop",
    )


def test_chat_non_streamed_refusal_is_text_and_finishes_content_filter() -> None:
    body = orjson.dumps(
        {
            "id": "chatcmpl-r",
            "object": "chat.completion",
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "refusal": SORRY},
                    "finish_reason": "stop",
                }
            ],
            "usage": CHAT_USAGE,
        }
    )
    response = decode_response("chat", body)
    assert response.summary() == {
        "id": "chatcmpl-r",
        "model": "gpt-4o",
        "text": SORRY,
        "reasoning": "",
        "tool_calls": [],
        "usage": _usage_dict(),
        "finish_reason": "content_filter",
        "raw_finish_reason": "stop",
        "error": None,
    }


def _usage_dict() -> dict[str, int]:
    return {
        "input_tokens": 12,
        "output_tokens": 10,
        "total_tokens": 22,
        "cached_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "reasoning_tokens": 0,
    }


def test_a_refusal_cut_by_the_length_limit_still_says_length() -> None:
    body = sse(chat_chunk({"refusal": "I'm sorry"}), chat_chunk({}, "length"), (None, "[DONE]"))
    assert streamed("chat", body)[-1] == Completed("length", "length")


def test_a_plain_answer_still_finishes_stop() -> None:
    body = sse(chat_chunk({"content": "hi", "refusal": None}), chat_chunk({}, "stop"))
    assert streamed("chat", body)[-1] == Completed("stop", "stop")


RESPONSES_USAGE = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 10,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 22,
}


def _snapshot(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "resp_r", "object": "response", "model": "gpt-5", "status": status, **extra}


def test_responses_streamed_refusal_is_text_and_finishes_content_filter() -> None:
    item = {"id": "msg_r", "type": "message", "role": "assistant", "status": "in_progress"}
    part = {"type": "refusal", "refusal": ""}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": _snapshot("in_progress")}),
        ("response.output_item.added", {"output_index": 0, "item": {**item, "content": []}}),
        ("response.content_part.added", {"item_id": "msg_r", "content_index": 0, "part": part}),
        ("response.refusal.delta", {"item_id": "msg_r", "delta": "I'm sorry, but "}),
        ("response.refusal.delta", {"item_id": "msg_r", "delta": "I can't help with that."}),
        ("response.refusal.done", {"item_id": "msg_r", "refusal": SORRY}),
        (
            "response.output_item.done",
            {
                "output_index": 0,
                "item": {**item, "status": "completed", "content": [{**part, "refusal": SORRY}]},
            },
        ),
        ("response.completed", {"response": _snapshot("completed", usage=RESPONSES_USAGE)}),
    ]
    body = sse(
        *(
            (name, {"type": name, "sequence_number": number, **data})
            for number, (name, data) in enumerate(events)
        )
    )
    assert streamed("responses", body) == [
        Start("resp_r", "gpt-5"),
        TextDelta(SORRY),
        USAGE,
        Completed("content_filter", "completed"),
    ]


def test_responses_non_streamed_refusal_is_text_and_finishes_content_filter() -> None:
    body = orjson.dumps(
        _snapshot(
            "completed",
            output=[
                {
                    "id": "msg_r",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "refusal", "refusal": SORRY}],
                }
            ],
            usage=RESPONSES_USAGE,
        )
    )
    response = decode_response("responses", body)
    assert (response.text, response.usage, response.finish_reason) == (
        SORRY,
        USAGE,
        "content_filter",
    )
    assert response.raw_finish_reason == "completed"


def _messages_events(stop_reason: str) -> list[tuple[str, dict[str, Any]]]:
    message = {
        "id": "msg_r",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    return [
        ("message_start", {"message": message}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": SORRY}}),
        ("content_block_stop", {"index": 0}),
        (
            "message_delta",
            {
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 10},
            },
        ),
        ("message_stop", {}),
    ]


def test_messages_streamed_refusal_is_text_and_finishes_content_filter() -> None:
    body = sse(*((name, {"type": name, **data}) for name, data in _messages_events("refusal")))
    assert streamed("messages", body) == [
        Start("msg_r", "claude-x"),
        TextDelta(SORRY),
        USAGE,
        Completed("content_filter", "refusal"),
    ]


def test_messages_non_streamed_refusal_is_text_and_finishes_content_filter() -> None:
    body = orjson.dumps(
        {
            "id": "msg_r",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [{"type": "text", "text": SORRY}],
            "stop_reason": "refusal",
            "usage": {"input_tokens": 12, "output_tokens": 10},
        }
    )
    response = decode_response("messages", body)
    assert (response.text, response.usage, response.finish_reason) == (
        SORRY,
        USAGE,
        "content_filter",
    )
    assert response.raw_finish_reason == "refusal"


@pytest.mark.parametrize("wire_api", ["chat", "responses"])
def test_a_providers_content_filter_is_told_apart_by_raw_finish_reason(wire_api: str) -> None:
    if wire_api == "chat":
        body = sse(chat_chunk({"content": "par"}), chat_chunk({}, "content_filter"))
    else:
        incomplete = _snapshot("incomplete", incomplete_details={"reason": "content_filter"})
        body = sse(
            ("response.created", {"type": "response.created", "response": _snapshot("x")}),
            ("response.incomplete", {"type": "response.incomplete", "response": incomplete}),
        )
    assert streamed(wire_api, body)[-1] == Completed("content_filter", "content_filter")
