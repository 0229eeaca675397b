"""Every spec vector decodes to its expected events and aggregate, wherever the reads end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson
import pytest

from modelwire.cli import main
from modelwire.wire import adecode, decode

from .vectors import (
    SKIP_REASON,
    VECTORS_DIR,
    assert_events_match,
    chunkings,
    coalesce,
    load,
    vector_params,
)


@pytest.mark.parametrize("name", vector_params())
def test_vector_decodes_identically_at_any_read_boundaries(name: str) -> None:
    vector = load(name)
    for how, reads in chunkings(vector):
        assert_events_match(vector, list(decode(vector.wire_api, reads)), how)


@pytest.mark.parametrize("name", vector_params())
async def test_vector_decodes_through_the_async_entry_point(name: str, anyio_backend: str) -> None:
    vector = load(name)
    for how, reads in chunkings(vector, random_runs=20):

        async def source(pieces: list[bytes] = reads) -> AsyncIterator[bytes]:
            for piece in pieces:
                yield piece

        async with aclosing(source()) as reads_async:
            events = [event async for event in adecode(vector.wire_api, reads_async)]
        assert_events_match(vector, events, f"{how} (async)")


def command_params() -> list[Any]:
    """Each vector whole, a byte per read, 13 bytes per read, and at its cuts when it has them."""
    params: list[Any] = []
    for name in vector_params():
        if not isinstance(name, str):
            return [pytest.param(None, None, marks=pytest.mark.skip(reason=SKIP_REASON))]
        params += [(name, "whole"), (name, "--read-size=1"), (name, "--read-size=13")]
        if (VECTORS_DIR / f"{name}.chunks.json").exists():
            params.append((name, "--cuts"))
    return params


@pytest.mark.parametrize(("name", "reads"), command_params())
def test_vector_decodes_through_the_decode_command(
    name: str, reads: str, capsys: pytest.CaptureFixture[str]
) -> None:
    vector = load(name)
    path = VECTORS_DIR / f"{name}.sse"
    options = [] if reads == "whole" else [reads]
    if reads == "--cuts":
        options = ["--cuts", str(path.with_suffix(".chunks.json"))]
    code = main(["decode", "--wire", vector.wire_api, *options, str(path)])
    out = capsys.readouterr().out
    lines = [orjson.loads(line) for line in out.splitlines()]
    final = lines.pop()
    assert final.pop("type") == "final"
    events = coalesce(lines)
    expected_error = vector.final["error"]
    if expected_error is not None and expected_error["message"] is None:
        events[-1]["message"] = final["error"]["message"] = None
    assert events == vector.events
    assert final == vector.final
    assert code == (0 if expected_error is None else 1)
