"""Deterministic, realistic SSE bodies for the three wire APIs, for the decode benchmarks.

Each generator builds one long response stream of exactly ``events`` SSE events, shaped like the
captures in the spec's vectors (envelopes, field order, ``null``s, sequence numbers, pings):

- chat: ``data: {chat.completion.chunk}`` lines: a role chunk, a reasoning stretch
  (``reasoning_content``), text content deltas, three tool calls whose arguments arrive in
  pieces cut anywhere, the finish chunk, the usage-only chunk and ``data: [DONE]``;
- messages: ``event: X`` + ``data: {…}``: message_start, ping, a thinking block with its
  signature, a text block, three tool_use blocks fed by input_json_delta, message_delta and
  message_stop;
- responses: ``event: X`` + ``data: {…}``: response.created/in_progress, a reasoning item
  with summary deltas, a message item with output_text deltas, three function_call items with
  argument deltas (each ``.done`` event repeating the whole text, as the API does), and
  response.completed carrying the full output and usage.

Everything is seeded, so a body is byte-for-byte the same on every run. ``reads`` cuts a body
into the fixed-size reads a socket would hand over.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass

__all__ = [
    "READ_SIZE",
    "WireStream",
    "chat_stream",
    "messages_stream",
    "reads",
    "responses_stream",
    "stream_for",
]

READ_SIZE = 4096
DEFAULT_EVENTS = 20_000

_PROSE = (
    "the model streams tokens as they are sampled , and each one becomes an event ; "
    "parsing must keep up with the network without burning the CPU . "
    "résumé naïve café — über straße 東京 📦 "
    "function arguments arrive in pieces cut anywhere , even inside a string . "
    "latency matters more than throughput for an interactive agent loop"
)
_WORDS = tuple(_PROSE.split())

_TOOLS = (
    ("write_file", "path", "notes/streaming.md"),
    ("run_shell", "command", "pytest -q tests/wire"),
    ("search_docs", "query", "server-sent events framing"),
)


@dataclass(frozen=True)
class WireStream:
    """One generated stream: its body, its events' data payloads in order, and their count."""

    wire_api: str
    body: bytes
    payloads: tuple[bytes, ...]
    """Every SSE event's data, in order (chat's ``[DONE]`` and messages' pings included)."""

    @property
    def events(self) -> int:
        return len(self.payloads)


def reads(body: bytes, size: int = READ_SIZE) -> list[bytes]:
    """``body`` cut into consecutive reads of ``size`` bytes (the last one shorter)."""
    return [body[i : i + size] for i in range(0, len(body), size)]


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _tokens(rng: random.Random, count: int) -> list[str]:
    """``count`` text deltas the way tokenizers cut prose: mostly " word", some punctuation."""
    out: list[str] = []
    for _ in range(count):
        word = rng.choice(_WORDS)
        roll = rng.random()
        if roll < 0.04:
            out.append(" " + word + "\n\n")
        elif roll < 0.10 and len(word) > 4:
            cut = rng.randrange(2, len(word) - 1)
            out.append(" " + word[:cut])
        else:
            out.append(" " + word)
    return out


def _cut(text: str, pieces: int, rng: random.Random) -> list[str]:
    """``text`` cut at ``pieces - 1`` random places (so pieces can end mid-word or mid-escape)."""
    cuts = sorted(rng.sample(range(1, len(text)), pieces - 1))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def _arguments(rng: random.Random, index: int, pieces: int) -> list[str]:
    """One tool call's JSON arguments, long enough to be cut into ``pieces`` fragments."""
    _name, key, value = _TOOLS[index % len(_TOOLS)]
    body = "".join(_tokens(rng, pieces)).strip()
    text = json.dumps({key: value, "content": body}, ensure_ascii=False)
    return _cut(text, pieces, rng)


def _split(total: int, shares: tuple[float, ...]) -> list[int]:
    counts = [max(3, int(total * share)) for share in shares]
    counts[-1] += total - sum(counts)
    return counts


def _sse(payloads: list[bytes], names: list[str] | None) -> bytes:
    if names is None:
        return b"".join(b"data: " + p + b"\n\n" for p in payloads)
    return b"".join(
        b"event: " + n.encode() + b"\ndata: " + p + b"\n\n"
        for n, p in zip(names, payloads, strict=True)
    )


# --- chat ---------------------------------------------------------------------------------------


@functools.cache
def chat_stream(events: int = DEFAULT_EVENTS, seed: int = 1) -> WireStream:
    rng = random.Random(seed)
    obfuscation = "qK9xZp4Tr2"

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        return _dumps(
            {
                "id": "chatcmpl-C1nV8sQe3XkTfL0aR9pZy2WbGh4Mu",
                "object": "chat.completion.chunk",
                "created": 1755612000,
                "model": "gpt-4.1-2025-04-14",
                "service_tier": "default",
                "system_fingerprint": "fp_6f2eabb9a5",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
                "usage": None,
                "obfuscation": obfuscation[: rng.randrange(1, len(obfuscation))],
            }
        )

    # Fixed: role, 3 tool-call heads, finish, usage, [DONE].
    reasoning, content, *args = _split(events - 7, (0.2, 0.55, 0.09, 0.08, 0.08))
    out = [chunk({"role": "assistant", "content": None, "reasoning_content": "", "refusal": None})]
    out += [chunk({"content": None, "reasoning_content": t}) for t in _tokens(rng, reasoning)]
    out += [chunk({"content": t}) for t in _tokens(rng, content)]
    for index, pieces in enumerate(args):
        name = _TOOLS[index][0]
        call_id = f"call_{rng.getrandbits(96):024x}"
        head = {"index": index, "id": call_id, "type": "function"}
        head["function"] = {"name": name, "arguments": ""}
        out.append(chunk({"tool_calls": [head]}))
        out += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _arguments(rng, index, pieces)
        ]
    out.append(chunk({}, "tool_calls"))
    out.append(
        _dumps(
            {
                "id": "chatcmpl-C1nV8sQe3XkTfL0aR9pZy2WbGh4Mu",
                "object": "chat.completion.chunk",
                "created": 1755612000,
                "model": "gpt-4.1-2025-04-14",
                "service_tier": "default",
                "system_fingerprint": "fp_6f2eabb9a5",
                "choices": [],
                "usage": {
                    "prompt_tokens": 1840,
                    "completion_tokens": events,
                    "total_tokens": 1840 + events,
                    "prompt_tokens_details": {"cached_tokens": 1536, "audio_tokens": 0},
                    "completion_tokens_details": {
                        "reasoning_tokens": reasoning,
                        "audio_tokens": 0,
                        "accepted_prediction_tokens": 0,
                        "rejected_prediction_tokens": 0,
                    },
                },
                "obfuscation": "r4Tq",
            }
        )
    )
    out.append(b"[DONE]")
    return WireStream("chat", _sse(out, None), tuple(out))


# --- messages -----------------------------------------------------------------------------------


@functools.cache
def messages_stream(events: int = DEFAULT_EVENTS, seed: int = 2) -> WireStream:
    rng = random.Random(seed)
    names: list[str] = []
    out: list[bytes] = []

    def emit(obj: dict[str, object]) -> None:
        names.append(str(obj["type"]))
        out.append(_dumps(obj))

    def delta(index: int, body: dict[str, object]) -> None:
        emit({"type": "content_block_delta", "index": index, "delta": body})

    # Fixed: message_start, ping, thinking start/signature/stop, text start/stop,
    # per tool start/""/stop (x3), message_delta, message_stop.
    thinking, text, *args = _split(events - 18, (0.2, 0.55, 0.09, 0.08, 0.08))
    emit(
        {
            "type": "message_start",
            "message": {
                "id": "msg_01Qm5Tz8Rw2Xk4Lp7Nv9Bd3F",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 412,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 1536,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 0,
                        "ephemeral_1h_input_tokens": 0,
                    },
                    "output_tokens": 2,
                    "service_tier": "standard",
                },
            },
        }
    )
    emit({"type": "ping"})
    emit(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        }
    )
    for token in _tokens(rng, thinking):
        delta(0, {"type": "thinking_delta", "thinking": token})
    signature = f"{rng.getrandbits(1536):0384x}"
    delta(0, {"type": "signature_delta", "signature": signature})
    emit({"type": "content_block_stop", "index": 0})
    emit({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}})
    for token in _tokens(rng, text):
        delta(1, {"type": "text_delta", "text": token})
    emit({"type": "content_block_stop", "index": 1})
    for tool, pieces in enumerate(args):
        index = tool + 2
        block = {
            "type": "tool_use",
            "id": f"toolu_01{rng.getrandbits(128):032x}"[:30],
            "name": _TOOLS[tool][0],
            "input": {},
        }
        emit({"type": "content_block_start", "index": index, "content_block": block})
        delta(index, {"type": "input_json_delta", "partial_json": ""})
        for piece in _arguments(rng, tool, pieces):
            delta(index, {"type": "input_json_delta", "partial_json": piece})
        emit({"type": "content_block_stop", "index": index})
    emit(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {
                "input_tokens": 412,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 1536,
                "output_tokens": events,
            },
        }
    )
    emit({"type": "message_stop"})
    return WireStream("messages", _sse(out, names), tuple(out))


# --- responses ----------------------------------------------------------------------------------


@functools.cache
def responses_stream(events: int = DEFAULT_EVENTS, seed: int = 3) -> WireStream:
    rng = random.Random(seed)
    names: list[str] = []
    out: list[bytes] = []
    sequence = 0
    response_id = "resp_68a4ca5e9f2c8193b1d3f5a7c9e0b2d40f6e8a0c2b4d6f8a"

    def emit(kind: str, **fields: object) -> None:
        nonlocal sequence
        names.append(kind)
        out.append(_dumps({"type": kind, "sequence_number": sequence, **fields}))
        sequence += 1

    def response(status: str, output: list[object], usage: object) -> dict[str, object]:
        return {
            "id": response_id,
            "object": "response",
            "created_at": 1755612510,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "model": "gpt-5-mini-2025-08-07",
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "store": False,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": {},
        }

    # Fixed: created, in_progress; reasoning item added/part added/text done/part done/item
    # done; message item added/part added/text done/part done/item done; per call
    # added/args done/item done (x3); completed.
    reasoning, text, *args = _split(events - 22, (0.2, 0.55, 0.09, 0.08, 0.08))
    emit("response.created", response=response("in_progress", [], None))
    emit("response.in_progress", response=response("in_progress", [], None))

    rs_id = f"rs_{rng.getrandbits(192):048x}"
    emit(
        "response.output_item.added",
        output_index=0,
        item={"id": rs_id, "type": "reasoning", "summary": []},
    )
    part = {"type": "summary_text", "text": ""}
    common = {"item_id": rs_id, "output_index": 0, "summary_index": 0}
    emit("response.reasoning_summary_part.added", **common, part=part)
    summary_tokens = _tokens(rng, reasoning)
    for token in summary_tokens:
        emit("response.reasoning_summary_text.delta", **common, delta=token)
    summary = "".join(summary_tokens)
    emit("response.reasoning_summary_text.done", **common, text=summary)
    emit(
        "response.reasoning_summary_part.done",
        **common,
        part={"type": "summary_text", "text": summary},
    )
    reasoning_item = {
        "id": rs_id,
        "type": "reasoning",
        "encrypted_content": f"gAAAAAB{rng.getrandbits(2048):0512x}==",
        "summary": [{"type": "summary_text", "text": summary}],
    }
    emit("response.output_item.done", output_index=0, item=reasoning_item)

    msg_id = f"msg_{rng.getrandbits(192):048x}"
    message = {
        "id": msg_id,
        "type": "message",
        "status": "in_progress",
        "content": [],
        "role": "assistant",
    }
    emit("response.output_item.added", output_index=1, item=message)
    common = {"item_id": msg_id, "output_index": 1, "content_index": 0}
    empty_part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    emit("response.content_part.added", **common, part=empty_part)
    text_tokens = _tokens(rng, text)
    for token in text_tokens:
        emit("response.output_text.delta", **common, delta=token, logprobs=[])
    full_text = "".join(text_tokens)
    emit("response.output_text.done", **common, text=full_text, logprobs=[])
    text_part = {**empty_part, "text": full_text}
    emit("response.content_part.done", **common, part=text_part)
    message_done = {**message, "status": "completed", "content": [text_part]}
    emit("response.output_item.done", output_index=1, item=message_done)

    calls: list[object] = []
    for tool, pieces in enumerate(args):
        output_index = tool + 2
        fc_id = f"fc_{rng.getrandbits(192):048x}"
        item = {
            "id": fc_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": f"call_{rng.getrandbits(96):024x}",
            "name": _TOOLS[tool][0],
        }
        emit("response.output_item.added", output_index=output_index, item=item)
        fragments = _arguments(rng, tool, pieces)
        for fragment in fragments:
            emit(
                "response.function_call_arguments.delta",
                item_id=fc_id,
                output_index=output_index,
                delta=fragment,
            )
        arguments = "".join(fragments)
        emit(
            "response.function_call_arguments.done",
            item_id=fc_id,
            output_index=output_index,
            arguments=arguments,
        )
        done = {**item, "status": "completed", "arguments": arguments}
        calls.append(done)
        emit("response.output_item.done", output_index=output_index, item=done)

    usage = {
        "input_tokens": 1310,
        "input_tokens_details": {"cached_tokens": 1024},
        "output_tokens": events,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": 1310 + events,
    }
    emit(
        "response.completed",
        response=response("completed", [reasoning_item, message_done, *calls], usage),
    )
    return WireStream("responses", _sse(out, names), tuple(out))


def stream_for(wire_api: str, events: int = DEFAULT_EVENTS) -> WireStream:
    """The generated stream for ``wire_api``."""
    generators = {"chat": chat_stream, "messages": messages_stream, "responses": responses_stream}
    return generators[wire_api](events)
