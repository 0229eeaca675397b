"""Conversations against the mock over loopback, on both event loops: incremental turns on one
socket, the chain rebuilt when the server loses it or the socket ages out, and the same API
over HTTP on every wire API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
import pytest

from modelwire import (
    Client,
    Completed,
    ProviderInfo,
    ProviderRegistry,
    TextDelta,
    WireApi,
    tool_result,
)
from modelwire.mock import MockBehavior, MockProvider
from modelwire.transport import EndReason


def make_client(mock: MockProvider, **info: Any) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    wire_api = info.get("wire_api", WireApi.RESPONSES)
    fields: dict[str, Any] = {
        "name": "Loopback",
        "base_url": mock.base_url if wire_api is WireApi.MESSAGES else mock.url("/v1"),
        "wire_api": WireApi.RESPONSES,
        "supports_websockets": True,
    }
    fields.update(info)
    registry.register("loop", ProviderInfo(**fields))
    return Client(registry, env={})


def frames(mock: MockProvider) -> list[dict[str, Any]]:
    return [orjson.loads(entry["body"]) for entry in mock.requests if entry["method"] == "WS"]


def bodies(mock: MockProvider) -> list[dict[str, Any]]:
    return [orjson.loads(entry["body"]) for entry in mock.requests if entry["method"] == "POST"]


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


async def test_five_turns_share_one_socket_and_later_turns_send_only_new_input(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with (
        make_client(mock) as client,
        client.conversation("loop", model="mock-model", instructions="be brief") as talk,
    ):
        ids = []
        for number in range(5):
            reply = await talk.send(f"turn {number}")
            assert reply.ok
            assert f"turn {number}" in reply.text
            ids.append(reply.id)
        assert talk.turns == 5
        assert len(talk.history) == 10
    assert mock.state.sockets_opened == 1
    sent = frames(mock)
    assert len(sent) == 5
    assert "previous_response_id" not in sent[0]
    assert len(sent[0]["input"]) == 1
    for number, frame in enumerate(sent[1:], start=1):
        assert frame["previous_response_id"] == ids[number - 1]
        (item,) = frame["input"]
        assert item["content"][0]["text"] == f"turn {number}"
        assert frame["instructions"] == "be brief"


async def test_tool_results_travel_as_new_items_of_a_chained_turn(
    mock: MockProvider, anyio_backend: str
) -> None:
    from modelwire import Tool

    weather = Tool(name="weather", parameters={"type": "object", "properties": {}})
    async with (
        make_client(mock) as client,
        client.conversation("loop", model="mock-model", tools=(weather,)) as talk,
    ):
        first = await talk.send("what is the weather?")
        (call,) = first.tool_calls
        second = await talk.send(tool_result(call.id or "", "sunny"))
        assert second.ok
    last = frames(mock)[-1]
    assert last["previous_response_id"] == first.id
    (item,) = last["input"]
    assert item == {"type": "function_call_output", "call_id": call.id, "output": "sunny"}


async def test_a_lost_previous_response_rebuilds_the_chain_with_the_whole_context(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock) as client, client.conversation("loop", model="mock-model") as talk:
        await talk.send("one")
        mock.enqueue(MockBehavior(previous_not_found=True))
        reply = await talk.send("two")
        assert reply.ok
        assert "two" in reply.text
        third = await talk.send("three")
        assert third.ok
    sent = frames(mock)
    assert len(sent) == 4
    assert "previous_response_id" in sent[1]
    # Sent again whole, on a new chain: the first turn, its reply and the new input.
    assert "previous_response_id" not in sent[2]
    assert len(sent[2]["input"]) == 3
    assert sent[3]["previous_response_id"] == reply.id
    assert mock.state.sockets_opened == 1


async def test_the_connection_limit_reconnects_between_turns_without_the_caller_seeing_it(
    anyio_backend: str,
) -> None:
    async with MockProvider(socket_lifetime_s=0.3) as mock:
        async with (
            make_client(mock) as client,
            client.conversation("loop", model="mock-model") as talk,
        ):
            await talk.send("one")
            await anyio.sleep(0.4)
            stream = talk.stream("two")
            events = [event async for event in stream]
            assert isinstance(events[-1], Completed)
            assert stream.call.reconnects == 1
            assert "two" in "".join(e.text for e in events if isinstance(e, TextDelta))
            third = await talk.send("three")
            assert third.ok
        assert mock.state.sockets_opened == 2
        sent = frames(mock)
        assert len(sent) == 4
        assert "previous_response_id" in sent[1]
        assert "previous_response_id" not in sent[2]
        assert len(sent[2]["input"]) == 3
        assert sent[3]["previous_response_id"] == stream.call.response_id


async def test_a_turn_after_a_socket_closed_by_the_server_goes_whole_on_a_new_socket(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock) as client, client.conversation("loop", model="mock-model") as talk:
        await talk.send("one")
        mock.enqueue(MockBehavior(reset_after=0))
        reply = await talk.send("two")
        assert reply.ok
    sent = frames(mock)
    assert len(sent) == 3
    assert "previous_response_id" in sent[1]
    assert "previous_response_id" not in sent[2]
    assert len(sent[2]["input"]) == 3


async def test_a_failed_turn_leaves_the_history_as_it_was(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock) as client, client.conversation("loop", model="mock-model") as talk:
        await talk.send("one")
        mock.enqueue(MockBehavior(status=400, error_message="no"))
        failed = await talk.send("two")
        assert not failed.ok
        assert len(talk.history) == 2
        assert talk.turns == 1
        again = await talk.send("two")
        assert again.ok
        assert len(talk.history) == 4


async def test_a_turn_closed_early_leaves_the_history_and_the_next_turn_goes_whole(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock) as client, client.conversation("loop", model="mock-model") as talk:
        await talk.send("one")
        mock.enqueue(MockBehavior(output_tokens=50, delay_ms=2))
        async with talk.stream("two") as turn:
            async for event in turn:
                if isinstance(event, TextDelta):
                    break
        assert turn.end_reason is EndReason.CLOSED_EARLY
        assert len(talk.history) == 2
        assert (await talk.send("three")).ok
    last = frames(mock)[-1]
    # The socket that held "one"'s reply was closed with "two" in flight: the chain is gone.
    assert "previous_response_id" not in last
    assert len(last["input"]) == 3


async def test_one_turn_at_a_time(mock: MockProvider, anyio_backend: str) -> None:
    async with make_client(mock) as client, client.conversation("loop", model="mock-model") as talk:
        turn = talk.stream("one")
        async with turn:
            async for _ in turn:
                with pytest.raises(RuntimeError, match="one turn at a time"):
                    talk.stream("two")
                break
        assert (await talk.send("three")).ok


@pytest.mark.parametrize("wire_api", [WireApi.RESPONSES, WireApi.CHAT, WireApi.MESSAGES])
async def test_over_http_every_turn_sends_the_whole_history(
    mock: MockProvider, wire_api: WireApi, anyio_backend: str
) -> None:
    async with (
        make_client(mock, wire_api=wire_api, supports_websockets=False) as client,
        client.conversation("loop", model="mock-model") as talk,
    ):
        for number in range(3):
            reply = await talk.send(f"turn {number}")
            assert reply.ok
            assert f"turn {number}" in reply.text
    sent = bodies(mock)
    assert len(sent) == 3
    sizes = [len(body.get("input") or body.get("messages") or []) for body in sent]
    assert sizes == [1, 3, 5]
    assert all("previous_response_id" not in body for body in sent)


async def test_a_conversation_that_falls_back_keeps_going_over_http(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(socket_refuse=404))
    async with make_client(mock) as client, client.conversation("loop", model="mock-model") as talk:
        for number in range(3):
            assert (await talk.send(f"turn {number}")).ok
    assert frames(mock) == []
    assert [len(body["input"]) for body in bodies(mock)] == [1, 3, 5]


def test_a_turn_needs_input_of_a_known_kind() -> None:
    client = Client(ProviderRegistry.from_config(env={}, catalog=None), env={})
    client.registry.register(
        "loop", ProviderInfo(name="L", base_url="http://127.0.0.1:9/v1", wire_api=WireApi.CHAT)
    )
    talk = client.conversation("loop", model="m")
    with pytest.raises(ValueError, match="needs new input"):
        talk.stream()
    with pytest.raises(TypeError, match="text, parts or messages"):
        talk.stream(42)  # type: ignore[arg-type]
    assert "0 turn(s)" in repr(talk)


async def test_a_prewarm_sends_the_context_without_output_and_the_first_turn_chains_from_it(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with (
        make_client(mock) as client,
        client.conversation("loop", model="mock-model", instructions="be brief") as talk,
    ):
        warm = await talk.prewarm()
        assert warm is not None
        assert warm.ok
        assert warm.text == ""
        assert talk.previous_response_id == warm.id
        assert talk.history == []
        reply = await talk.send("hello")
        assert "hello" in reply.text
    warmed, first = frames(mock)
    assert warmed["generate"] is False
    assert warmed["input"] == []
    assert warmed["instructions"] == "be brief"
    assert first["previous_response_id"] == warm.id
    assert len(first["input"]) == 1
    assert mock.state.sockets_opened == 1


async def test_a_prewarm_over_http_sends_nothing(mock: MockProvider, anyio_backend: str) -> None:
    async with (
        make_client(mock, supports_websockets=False) as client,
        client.conversation("loop", model="mock-model") as talk,
    ):
        assert await talk.prewarm() is None
        assert (await talk.send("hello")).ok
    assert len(bodies(mock)) == 1
    assert "generate" not in bodies(mock)[0]
