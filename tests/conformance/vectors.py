"""Loading the spec's conformance vectors and comparing decoded events the way their README says."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modelwire.wire import Event, collect

VECTORS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "vectors"
NAMES = sorted(path.name.removesuffix(".sse") for path in VECTORS_DIR.glob("*.sse"))
SKIP_REASON = f"{VECTORS_DIR} is absent: the conformance vectors live in ../shared/spec"


def vector_params() -> list[Any]:
    """One parameter per vector, or a single skipped one when ../shared is not beside the repo."""
    if not NAMES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON))]
    return NAMES


class Vector(msgspec.Struct):
    name: str
    wire_api: str
    body: bytes
    events: list[dict[str, Any]]
    final: dict[str, Any]
    cuts: list[int] | None


def load(name: str) -> Vector:
    expected = msgspec.json.decode((VECTORS_DIR / f"{name}.expected.json").read_bytes())
    chunks_file = VECTORS_DIR / f"{name}.chunks.json"
    cuts = msgspec.json.decode(chunks_file.read_bytes())["cuts"] if chunks_file.exists() else None
    return Vector(
        name=name,
        wire_api=expected["wire_api"],
        body=(VECTORS_DIR / f"{name}.sse").read_bytes(),
        events=expected["events"],
        final=expected["final"],
        cuts=cuts,
    )


def as_json(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(event) for event in events]


def coalesce(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge consecutive text, reasoning and same-index tool-argument deltas (vectors README)."""
    out: list[dict[str, Any]] = []
    for event in events:
        last = out[-1] if out else None
        kind = event["type"]
        if last is not None and last["type"] == kind:
            if kind in ("text_delta", "reasoning_delta"):
                out[-1] = {**last, "text": last["text"] + event["text"]}
                continue
            if kind == "tool_call_delta" and last["index"] == event["index"]:
                out[-1] = {**last, "arguments": last["arguments"] + event["arguments"]}
                continue
        out.append(dict(event))
    return out


def without_null_error_message(expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """An expected error message of null marks modelwire's own wording: not compared."""
    if expected.get("message", "") is None and "message" in actual:
        return {**actual, "message": None}
    return actual


def assert_events_match(vector: Vector, events: list[Event], how: str) -> None:
    actual = coalesce(as_json(events))
    expected = vector.events
    if len(actual) == len(expected) and expected and expected[-1]["type"] == "error":
        actual[-1] = without_null_error_message(expected[-1], actual[-1])
    assert actual == expected, f"{vector.name} decoded {how}"
    final = collect(events).summary()
    if vector.final["error"] is not None and vector.final["error"]["message"] is None:
        assert final["error"] is not None
        final["error"] = {**final["error"], "message": None}
    assert final == vector.final, f"{vector.name} aggregate, decoded {how}"


def cut(data: bytes, offsets: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(set(offsets)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def chunkings(vector: Vector, random_runs: int = 200) -> Iterable[tuple[str, list[bytes]]]:
    """The README's four ways: whole, a byte per read, the recorded cuts, seeded random cuts."""
    body = vector.body
    yield "whole", [body]
    yield "one byte per read", [body[i : i + 1] for i in range(len(body))]
    if vector.cuts is not None:
        yield "at the .chunks.json cuts", cut(body, vector.cuts)
    rng = random.Random(f"{vector.name}-20261125")
    for run in range(random_runs):
        offsets = rng.sample(range(1, len(body)), rng.randint(1, min(60, len(body) - 1)))
        yield f"random cut set #{run}", cut(body, offsets)
