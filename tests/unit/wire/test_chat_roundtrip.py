"""Property: a generated chat turn, written as a chat stream in any framing, decodes to itself.

Hypothesis draws a turn (reasoning pieces, text pieces, parallel tool calls with arguments cut
anywhere, a finish reason, usage), writes it the way chat providers do — with random line
endings, keep-alive comments and blank lines — cuts it into random reads, and checks that the
decoded, coalesced events are exactly the turn's events.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.vectors import as_json, coalesce
from modelwire.wire import decode

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10)
PIECES = st.lists(TEXT, max_size=4)
CALLS = st.lists(
    st.tuples(
        st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.lists(TEXT, min_size=0, max_size=3)
    ),
    max_size=3,
)
FINISH = st.sampled_from(["stop", "length", "tool_calls", "content_filter", "eos"])
FINISH_MAP = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "eos": "other",
}


@settings(max_examples=150, deadline=None)
@given(
    reasoning=PIECES,
    text=PIECES,
    calls=CALLS,
    finish=FINISH,
    usage=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
    data=st.data(),
)
def test_decode_of_a_serialized_chat_turn_gives_back_its_events(
    reasoning: list[str],
    text: list[str],
    calls: list[tuple[str, list[str]]],
    finish: str,
    usage: tuple[int, int],
    data: st.DataObject,
) -> None:
    chunks: list[dict[str, Any]] = []
    expected: list[dict[str, Any]] = [{"type": "start", "id": "c", "model": "m"}]

    def delta(body: dict[str, Any], finish_reason: str | None = None) -> None:
        chunks.append(
            {
                "id": "c",
                "model": "m",
                "choices": [{"index": 0, "delta": body, "finish_reason": finish_reason}],
            }
        )

    delta({"role": "assistant", "content": ""})
    for piece in reasoning:
        delta({"reasoning_content": piece})
        expected.append({"type": "reasoning_delta", "text": piece})
    if reasoning:
        expected.append({"type": "reasoning_end", "id": None, "signature": None, "redacted": False})
    for piece in text:
        delta({"content": piece})
        expected.append({"type": "text_delta", "text": piece})
    for index, (name, pieces) in enumerate(calls):
        call_id = f"call_{index}"
        delta(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        expected.append({"type": "tool_call_start", "index": index, "id": call_id, "name": name})
        for piece in pieces:
            delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            expected.append({"type": "tool_call_delta", "index": index, "arguments": piece})
    delta({}, finish)
    for index, (name, pieces) in enumerate(calls):
        expected.append(
            {
                "type": "tool_call_end",
                "index": index,
                "id": f"call_{index}",
                "name": name,
                "arguments": "".join(pieces),
            }
        )
    prompt, completion = usage
    chunks.append(
        {
            "id": "c",
            "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
        }
    )
    expected.append(
        {
            "type": "usage",
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
            "cached_input_tokens": 0,
            "cache_write_input_tokens": 0,
            "reasoning_tokens": 0,
        }
    )
    normalized = FINISH_MAP[finish]
    if normalized == "stop" and calls:
        normalized = "tool_calls"
    expected.append({"type": "completed", "finish_reason": normalized, "raw_finish_reason": finish})

    ending = data.draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    body = bytearray()
    for payload in [*(orjson.dumps(c) for c in chunks), b"[DONE]"]:
        if data.draw(st.booleans()):
            body += b": keep-alive" + ending
        body += b"data: " + payload + ending + ending
    raw = bytes(body)
    offsets = sorted(set(data.draw(st.lists(st.integers(1, len(raw) - 1), max_size=30))))
    reads = [raw[a:b] for a, b in itertools.pairwise([0, *offsets, len(raw)])]
    assert coalesce(as_json(decode("chat", reads))) == coalesce(expected)
