"""Responses over a WebSocket, end to end against the mock over loopback, on both event loops:
one turn, every fault the socket path meets, how each ending leaves the socket, and the
fallback to HTTP + SSE."""

from __future__ import annotations

import dataclasses
import gc
import warnings
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
import orjson
import pytest

from modelwire import (
    Client,
    Completed,
    ErrorEvent,
    ProviderInfo,
    ProviderRegistry,
    Request,
    TextDelta,
    WireApi,
    user,
)
from modelwire._ws_transport import usable
from modelwire.errors import (
    AuthError,
    ConfigError,
    ConnectionFailedError,
    DeadlineExceeded,
    StreamIdleTimeout,
)
from modelwire.mock import MockBehavior, MockProvider
from modelwire.transport import Call, CallObserver, EndReason, SocketEvent

SECRET = "sk-socket-secret-77"
HI = Request(model="mock-model", messages=(user("hello socket"),))


class Recorder(CallObserver):
    def __init__(self) -> None:
        self.sockets: list[SocketEvent] = []
        self.ends: list[tuple[EndReason, str, str | None]] = []

    def socket(self, call: Call, event: SocketEvent) -> None:
        self.sockets.append(event)

    def end(self, call: Call, reason: EndReason, error: BaseException | None) -> None:
        self.ends.append((reason, call.transport, call.fallback))

    def outcomes(self) -> list[str]:
        return [event.outcome for event in self.sockets]


def make_client(mock: MockProvider, *, observer: CallObserver | None = None, **info: Any) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    fields: dict[str, Any] = {
        "name": "Loopback",
        "base_url": mock.url("/v1"),
        "wire_api": WireApi.RESPONSES,
        "supports_websockets": True,
    }
    fields.update(info)
    registry.register("loop", ProviderInfo(**fields))
    return Client(registry, env={}, observer=observer)


def frames(mock: MockProvider) -> list[dict[str, Any]]:
    return [orjson.loads(entry["body"]) for entry in mock.requests if entry["method"] == "WS"]


def handshakes(mock: MockProvider) -> int:
    return sum(1 for entry in mock.requests if entry["method"] == "GET")


def posts(mock: MockProvider) -> int:
    return sum(1 for entry in mock.requests if entry["method"] == "POST")


def text(events: list[Any]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


async def test_a_turn_streams_over_one_socket_frame_on_both_event_loops(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = Recorder()
    async with make_client(mock, observer=recorder) as client:
        stream = client.stream("loop", HI)
        events = [event async for event in stream]
        assert isinstance(events[-1], Completed)
        assert "hello socket" in text(events)
        assert stream.call.transport == "websocket"
    assert (handshakes(mock), posts(mock)) == (1, 0)
    (frame,) = frames(mock)
    assert frame["type"] == "response.create"
    assert "stream" not in frame
    assert "background" not in frame
    assert frame["input"][0]["content"][0]["text"] == "hello socket"
    assert recorder.outcomes() == ["opened"]


async def test_the_handshake_carries_auth_the_beta_header_and_the_providers_headers(
    anyio_backend: str,
) -> None:
    async with MockProvider(require_bearer=SECRET) as mock:
        client = make_client(mock, env_key="LOOP_KEY", http_headers={"x-team": "blue"})
        client.env = {"LOOP_KEY": SECRET}
        async with client:
            events = [event async for event in client.stream("loop", HI)]
        assert isinstance(events[-1], Completed)
        (handshake,) = [entry for entry in mock.requests if entry["method"] == "GET"]
        headers = handshake["headers"]
        assert headers["authorization"] == "Bearer ****"
        assert headers["openai-beta"] == "responses_websockets=2026-02-06"
        assert headers["x-team"] == "blue"
        assert handshake["path"] == "/v1/responses"


async def test_a_finished_reply_leaves_its_socket_for_the_next_call(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = Recorder()
    async with make_client(mock, observer=recorder) as client:
        for _ in range(3):
            events = [event async for event in client.stream("loop", HI)]
            assert isinstance(events[-1], Completed)
    assert mock.state.sockets_opened == 1
    assert recorder.outcomes() == ["opened", "reused", "reused"]


async def test_a_stream_closed_early_closes_its_socket(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = Recorder()
    mock.enqueue(MockBehavior(output_tokens=50, delay_ms=2))
    async with make_client(mock, observer=recorder) as client:
        async with client.stream("loop", HI) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    break
        assert stream.end_reason is EndReason.CLOSED_EARLY
        assert client.sockets.take("loop") is None
        events = [event async for event in client.stream("loop", HI)]
        assert isinstance(events[-1], Completed)
    assert mock.state.sockets_opened == 2


async def test_a_cancelled_stream_closes_its_socket(mock: MockProvider, anyio_backend: str) -> None:
    mock.enqueue(MockBehavior(output_tokens=50, delay_ms=50))
    async with make_client(mock) as client:
        stream = client.stream("loop", HI)
        with anyio.move_on_after(0.2):
            async for _ in stream:
                pass
        assert stream.end_reason is EndReason.CANCELLED
        assert client.sockets.take("loop") is None
        assert len(client.sockets._open) == 0


async def test_an_abandoned_stream_closes_its_socket_with_a_warning(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = Recorder()
    mock.enqueue(MockBehavior(output_tokens=100, delay_ms=5))
    async with make_client(mock, observer=recorder) as client:
        stream = client.stream("loop", HI)
        async for _ in stream:
            break
        del stream
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
            for _ in range(200):
                if recorder.ends and not client.sockets._open:
                    break
                await anyio.sleep(0.01)
        assert any("garbage-collected without being closed" in str(w.message) for w in caught)
        assert recorder.ends[0][0] is EndReason.ABANDONED
        assert not client.sockets._open


async def test_a_reply_cut_after_content_keeps_what_arrived_then_ends_truncated(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(output_tokens=20, reset_after=6))
    async with make_client(mock) as client:
        stream = client.stream("loop", HI)
        events = [event async for event in stream]
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "stream_truncated"
    assert text(events)
    assert stream.end_reason is EndReason.FAILED
    assert len(frames(mock)) == 1


async def test_a_socket_closed_before_any_content_is_retried(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(reset_after=1))
    async with make_client(mock) as client:
        events = [event async for event in client.stream("loop", HI)]
    assert isinstance(events[-1], Completed)
    assert len(frames(mock)) == 2
    assert mock.state.sockets_opened == 2


async def test_a_retryable_error_event_before_content_is_retried_and_a_fatal_one_ends_it(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(status=500), MockBehavior(status=400, error_message="bad input"))
    async with make_client(mock) as client:
        events = [event async for event in client.stream("loop", HI)]
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].message == "bad input"
    assert len(frames(mock)) == 2


async def test_a_stalled_socket_ends_as_an_idle_timeout(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(output_tokens=10, stall_after=5))
    async with make_client(mock, stream_idle_timeout_ms=200, stream_max_retries=0) as client:
        stream = client.stream("loop", HI)
        events = [event async for event in stream]
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "idle_timeout"
    assert text(events)


async def test_a_socket_stalled_before_its_first_event_raises_after_retries(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(stall_after=0))
    async with make_client(mock, stream_idle_timeout_ms=150, stream_max_retries=0) as client:
        with pytest.raises(StreamIdleTimeout):
            async for _ in client.stream("loop", HI):
                pass


async def test_a_frame_that_is_not_json_ends_the_stream_with_a_decode_error(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(output_tokens=5, malformed="json"))
    async with make_client(mock, stream_max_retries=0) as client:
        events = [event async for event in client.stream("loop", HI)]
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "decode_error"


async def test_a_message_over_the_event_cap_fails_the_stream(
    mock: MockProvider, anyio_backend: str
) -> None:
    big = Request(model="mock-model", messages=(user("x" * 5000),))
    async with make_client(mock, stream_max_event_bytes=2000, stream_max_retries=0) as client:
        events = [event async for event in client.stream("loop", big)]
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "decode_error"
    assert not client.sockets._open


async def test_ttft_and_delays_are_served_on_the_socket(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(ttft_ms=50, delay_ms=5, output_tokens=5))
    async with make_client(mock) as client:
        stream = client.stream("loop", HI)
        events = [event async for event in stream]
    assert isinstance(events[-1], Completed)
    assert stream.call.first_byte is not None


async def test_raw_mode_yields_the_providers_own_events_over_the_socket(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock) as client:
        events = [event async for event in client.stream_raw("loop", HI)]
    kinds = [type(event).__name__ for event in events]
    assert kinds[-1] == "ResponsesCompleted"
    assert "ResponsesOutputTextDelta" in kinds


@pytest.mark.parametrize(
    "knob",
    [
        MockBehavior(socket_refuse=404),
        MockBehavior(socket_refuse=503),
        MockBehavior(socket_close=True),
    ],
    ids=["refused-404", "refused-503", "closed-at-once"],
)
async def test_a_socket_that_cannot_be_had_falls_back_to_http_for_good(
    mock: MockProvider, knob: MockBehavior, anyio_backend: str
) -> None:
    recorder = Recorder()
    mock.enqueue(knob)
    async with make_client(mock, observer=recorder) as client:
        first = client.stream("loop", HI)
        events = [event async for event in first]
        assert isinstance(events[-1], Completed)
        assert "hello socket" in text(events)
        assert first.call.transport == "http"
        assert first.call.fallback is not None
        assert "loop" in client.sockets.fallbacks
        for _ in range(2):
            again = client.stream("loop", HI)
            assert isinstance([event async for event in again][-1], Completed)
            assert again.call.transport == "http"
    assert handshakes(mock) == 1
    assert posts(mock) == 3
    assert "fallback" in recorder.outcomes()


async def test_a_handshake_slower_than_the_connect_timeout_falls_back(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(socket_delay_ms=3000))
    async with make_client(mock, websocket_connect_timeout_ms=150) as client:
        stream = client.stream("loop", HI)
        events = [event async for event in stream]
    assert isinstance(events[-1], Completed)
    assert stream.call.transport == "http"
    assert "websocket_connect_timeout_ms" in (stream.call.fallback or "")


async def test_a_refused_handshake_with_401_is_an_auth_error_not_a_fallback(
    anyio_backend: str,
) -> None:
    async with MockProvider(require_bearer="sk-the-right-one") as mock:
        client = make_client(mock, env_key="LOOP_KEY")
        client.env = {"LOOP_KEY": SECRET}
        async with client:
            with pytest.raises(AuthError) as caught:
                async for _ in client.stream("loop", HI):
                    pass
            assert "loop" not in client.sockets.fallbacks
        assert "401" in str(caught.value)
        assert SECRET not in str(caught.value)
        assert SECRET not in repr(caught.value)


async def test_a_strict_websocket_call_raises_instead_of_falling_back(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(socket_refuse=404))
    async with make_client(mock) as client:
        with pytest.raises(ConnectionFailedError, match="did not fall back"):
            async for _ in client.stream("loop", HI, transport="websocket"):
                pass
        assert posts(mock) == 0


async def test_transport_http_and_websockets_false_keep_calls_on_http(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock) as client:
        stream = client.stream("loop", HI, transport="http")
        assert isinstance([event async for event in stream][-1], Completed)
        assert stream.call.transport == "http"
        client.websockets = False
        stream = client.stream("loop", HI)
        assert isinstance([event async for event in stream][-1], Completed)
    assert (handshakes(mock), posts(mock)) == (0, 2)


@pytest.mark.parametrize(
    "info",
    [
        {"wire_api": WireApi.CHAT},
        {"supports_websockets": False},
    ],
    ids=["chat", "no-sockets"],
)
async def test_a_strict_websocket_call_to_a_provider_without_sockets_is_a_config_error(
    mock: MockProvider, info: dict[str, Any], anyio_backend: str
) -> None:
    async with make_client(mock, **info) as client:
        with pytest.raises(ConfigError, match="WebSocket"):
            client.stream("loop", HI, transport="websocket")
        with pytest.raises(ValueError, match="transport must be one of"):
            client.stream("loop", HI, transport="carrier-pigeon")


def test_aws_providers_never_use_a_socket_even_when_flagged() -> None:
    registry = ProviderRegistry.from_config(env={"AWS_REGION": "us-east-1"}, catalog=None)
    for provider_id in ("amazon-bedrock", "amazon-bedrock-runtime"):
        provider = registry.get(provider_id)
        assert provider.info.aws is not None
        flagged = dataclasses.replace(
            provider, info=msgspec.structs.replace(provider.info, supports_websockets=True)
        )
        assert not usable(flagged)


async def test_the_span_names_the_transport_and_the_socket_outcome(
    mock: MockProvider, otel: Any, anyio_backend: str
) -> None:
    registry = make_client(mock).registry
    async with Client(
        registry,
        env={},
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
    ) as client:
        assert isinstance([event async for event in client.stream("loop", HI)][-1], Completed)
        mock.enqueue(MockBehavior(socket_close=True))
        await client.sockets.aclose()
        assert isinstance([event async for event in client.stream("loop", HI)][-1], Completed)
    calls = [span for span in otel.spans() if span.name.startswith("chat")]
    first, second = sorted(calls, key=lambda span: span.start_time or 0)
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["modelwire.transport"] == "websocket"
    assert [event.name for event in first.events] == ["modelwire.websocket"]
    assert first.events[0].attributes is not None
    assert first.events[0].attributes["modelwire.websocket.outcome"] == "opened"
    assert second.attributes["modelwire.transport"] == "http"
    assert "right after the handshake" in str(second.attributes["modelwire.websocket.fallback"])
    points = otel.metrics()["modelwire.websocket.connections"]
    outcomes = {point.attributes["modelwire.websocket.outcome"]: point.value for point in points}
    assert outcomes["opened"] >= 2
    assert outcomes["fallback"] == 1


async def test_the_deadline_bounds_a_slow_first_event_on_the_socket(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(ttft_ms=3000))
    async with make_client(mock) as client:
        with pytest.raises(DeadlineExceeded), anyio.fail_after(5):
            async for _ in client.stream("loop", HI, deadline_s=0.3):
                pass
        assert not client.sockets._open


async def test_the_deadline_bounds_a_slow_handshake(mock: MockProvider, anyio_backend: str) -> None:
    mock.enqueue(MockBehavior(socket_delay_ms=3000))
    async with make_client(mock) as client:
        with pytest.raises(DeadlineExceeded), anyio.fail_after(5):
            async for _ in client.stream("loop", HI, first_event_timeout_s=0.3):
                pass
        assert "loop" not in client.sockets.fallbacks


async def test_a_deadline_passing_mid_reply_keeps_the_events_and_closes_the_socket(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(output_tokens=100, delay_ms=20))
    async with make_client(mock) as client:
        events = [event async for event in client.stream("loop", HI, deadline_s=0.5)]
        assert isinstance(events[-1], ErrorEvent)
        assert events[-1].code == "deadline_exceeded"
        assert text(events)
        assert not client.sockets._open
