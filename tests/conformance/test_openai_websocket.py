"""The official ``openai`` SDK's Responses WebSocket (``client.responses.connect()``) against the
mock: the reference client must read every event the mock sends as one of its typed models,
chain a second turn on the same socket, and fail the handshake on a wrong key, so what the
mock's socket proves about our client also holds for the SDK users compare it with.

The SDK's socket is the ``websockets`` library's, which runs on asyncio only: these tests pin
the event loop to asyncio, and skip when the realtime extra is not installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, get_args

import anyio
import orjson
import pytest

pytest.importorskip(
    "websockets", reason="client.responses.connect() needs openai[realtime] (websockets)"
)

import openai
import pydantic
from openai.types.responses.responses_server_event import ResponsesServerEvent
from websockets.exceptions import InvalidStatus

from modelwire.mock import MockProvider

KEY = "sk-sdk-socket-key-3"
BOUND_S = 10.0
EVENTS = pydantic.TypeAdapter(ResponsesServerEvent)
"""The SDK parses frames without validating them (an unknown ``type`` lands in the union's
first member); validating the same bytes proves each frame is one of its models in full."""
MODELS = get_args(get_args(ResponsesServerEvent)[0])


@pytest.fixture
def anyio_backend() -> str:
    """The SDK's socket library runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def mock(anyio_backend: str) -> AsyncIterator[MockProvider]:
    async with MockProvider(require_bearer=KEY) as provider:
        yield provider


def sdk(mock: MockProvider, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=mock.url("/v1"), max_retries=0)


async def read_turn(conn: Any) -> list[Any]:
    """The SDK's events up to the turn's last one, each checked against the frame it came in
    (``recv()`` is ``parse_event(recv_bytes())``; the bytes are kept to validate them)."""
    events: list[Any] = []
    with anyio.fail_after(BOUND_S):
        while not events or events[-1].type not in ("response.completed", "error"):
            raw = await conn.recv_bytes()
            event = conn.parse_event(raw)
            validated = EVENTS.validate_json(raw)
            assert type(event) is type(validated), raw
            assert type(event) in MODELS, raw
            assert event.type == validated.type == orjson.loads(raw)["type"]
            events.append(event)
    return events


def text_of(events: list[Any]) -> str:
    return "".join(event.delta for event in events if event.type == "response.output_text.delta")


async def test_the_sdk_reads_each_event_as_its_typed_model_and_chains_a_second_turn(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with sdk(mock) as client, client.responses.connect() as conn:
        await conn.send(
            {"type": "response.create", "model": "mock-model", "input": "hi", "store": False}
        )
        first = await read_turn(conn)
        assert first[-1].type == "response.completed", first[-1]
        previous = first[-1].response.id
        await conn.response.create(
            model="mock-model", input="again", store=False, previous_response_id=previous
        )
        second = await read_turn(conn)
    assert [event.type for event in first][:2] == ["response.created", "response.in_progress"]
    assert text_of(first) == first[-1].response.output_text == "Echo: hi"
    assert second[-1].type == "response.completed", second[-1]
    assert text_of(second) == "Echo: again"
    assert second[-1].response.id != previous
    frames = [entry for entry in mock.requests if entry["method"] == "WS"]
    assert [entry["method"] for entry in mock.requests] == ["GET", "WS", "WS"]
    assert orjson.loads(frames[1]["body"])["previous_response_id"] == previous
    assert mock.state.sockets_opened == 1


async def test_the_sdk_reads_an_unknown_previous_response_as_its_typed_error_event(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with sdk(mock) as client, client.responses.connect() as conn:
        await conn.response.create(
            model="mock-model", input="hi", store=False, previous_response_id="resp_nowhere"
        )
        (error,) = await read_turn(conn)
    assert error.status == 400
    assert error.error.code == "previous_response_not_found"


async def test_the_sdk_fails_the_handshake_on_a_wrong_key_without_showing_it(
    mock: MockProvider, anyio_backend: str
) -> None:
    wrong = "sk-not-the-key-9"
    async with sdk(mock, wrong) as client:
        with anyio.fail_after(BOUND_S), pytest.raises(InvalidStatus) as refused:
            async with client.responses.connect():
                pytest.fail("the handshake was accepted")
    assert refused.value.response.status_code == 401
    assert orjson.loads(refused.value.response.body)["error"]["code"] == "invalid_api_key"
    assert wrong not in str(refused.value)
    assert [entry["method"] for entry in mock.requests] == ["GET"]
    assert mock.requests[0]["headers"]["authorization"] == "Bearer ****"
    assert mock.state.sockets_opened == 0
