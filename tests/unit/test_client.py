"""The client end to end over loopback: every wire API, key auth, retries, timeouts, lifecycle."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
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
from modelwire.errors import (
    AuthError,
    ConnectionFailedError,
    MissingCredentialError,
    ProviderError,
    RateLimitError,
    StreamError,
    StreamIdleTimeout,
)
from modelwire.mock import MockBehavior, MockProvider, Replay
from modelwire.transport import Call, CallObserver, EndReason, RetryPolicy, Transport

SECRET = "sk-loopback-secret-42"
WIRE_APIS = [WireApi.RESPONSES, WireApi.CHAT, WireApi.MESSAGES]


class Recorder(CallObserver):
    """Every lifecycle hook, in order."""

    def __init__(self) -> None:
        self.ends: list[EndReason] = []
        self.attempts = 0
        self.failed: list[str] = []
        self.first_bytes = 0

    def attempt(self, call: Call, number: int, request: httpx.Request) -> None:
        self.attempts += 1

    def attempt_failed(self, call: Call, number: int, reason: str, *, retrying: bool) -> None:
        self.failed.append(reason)

    def first_byte(self, call: Call) -> None:
        self.first_bytes += 1

    def end(self, call: Call, reason: EndReason, error: BaseException | None) -> None:
        self.ends.append(reason)


class UrlRecorder(CallObserver):
    """The URL each attempt was sent to (the real one, query values included)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def attempt(self, call: Call, number: int, request: httpx.Request) -> None:
        self.urls.append(str(request.url))


class FakeSleep:
    """Records the delays asked for and returns at once: retry tests run on no real clock."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.lowlevel.checkpoint()


def make_client(
    mock: MockProvider,
    *,
    wire_api: WireApi = WireApi.CHAT,
    env: dict[str, str] | None = None,
    sleep: FakeSleep | None = None,
    observer: CallObserver | None = None,
    **info: Any,
) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    base = mock.base_url if wire_api is WireApi.MESSAGES else mock.url("/v1")
    fields: dict[str, Any] = {"name": "Loopback", "base_url": base, "wire_api": wire_api}
    fields.update(info)
    registry.register("loop", ProviderInfo(**fields))
    transport = Transport(
        env=env or {},
        sleep=sleep or FakeSleep(),
        rand=lambda low, high: 0.0,
        observer=observer,
        policy=RetryPolicy(),
    )
    return Client(registry, env=env or {}, transport=transport)


def busy_connections(client: Client) -> int:
    """Connections checked out of the provider's pool (not idle, not closed)."""
    provider = client.provider("loop")
    pool = client.transport.client(provider)._transport._pool  # type: ignore[attr-defined]
    return sum(1 for connection in pool.connections if not connection.is_idle())


async def drain(client: Client) -> None:
    async with client.stream("loop", HI) as stream:
        async for _ in stream:
            pass


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


HI = Request(model="mock-model", messages=(user("hello loopback"),))


@pytest.mark.parametrize("wire_api", WIRE_APIS)
async def test_streams_and_completes_in_each_wire_api_on_both_event_loops(
    mock: MockProvider, wire_api: WireApi, anyio_backend: str
) -> None:
    async with make_client(mock, wire_api=wire_api) as client:
        events = [event async for event in client.stream("loop", HI)]
        assert isinstance(events[-1], Completed)
        assert "hello loopback" in "".join(e.text for e in events if isinstance(e, TextDelta))
        response = await client.complete("loop", HI)
        assert response.ok
        assert "hello loopback" in response.text
        assert busy_connections(client) == 0


@pytest.mark.parametrize("wire_api", WIRE_APIS)
async def test_raw_mode_yields_the_providers_typed_events(
    mock: MockProvider, wire_api: WireApi, anyio_backend: str
) -> None:
    async with make_client(mock, wire_api=wire_api) as client:
        natives = [item async for item in client.stream_raw("loop", HI)]
    assert natives
    assert all(type(item).__module__ == f"modelwire.wire.{wire_api.value}" for item in natives)


async def test_requests_carry_the_documented_headers_and_query(
    mock: MockProvider, anyio_backend: str
) -> None:
    env = {"LOOP_KEY": SECRET, "LOOP_ORG": "org-1", "LOOP_BLANK": "  "}
    client = make_client(
        mock,
        env=env,
        env_key="LOOP_KEY",
        http_headers={"X-Team": "core"},
        env_http_headers={"X-Org": "LOOP_ORG", "X-Blank": "LOOP_BLANK"},
        query_params={"api-version": "2025-01-01"},
        observer=(urls := UrlRecorder()),
    )
    async with client:
        await client.complete("loop", HI)
    sent = mock.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert urls.urls == [f"{mock.url('/v1')}/chat/completions?api-version=2025-01-01"]
    assert sent["query"] == "api-version=****"  # the mock's log masks query values
    headers = sent["headers"]
    assert headers["authorization"] == "Bearer ****"
    assert headers["user-agent"].startswith("modelwire/")
    assert headers["x-team"] == "core"
    assert headers["x-org"] == "org-1"
    assert "x-blank" not in headers
    assert "anthropic-version" not in headers


async def test_anthropic_gets_x_api_key_and_its_version_header(anyio_backend: str) -> None:
    async with MockProvider(require_api_key=SECRET) as mock:
        client = make_client(
            mock,
            wire_api=WireApi.MESSAGES,
            env={"ANTHROPIC_API_KEY": SECRET},
            name="Anthropic",
            env_key="ANTHROPIC_API_KEY",
        )
        async with client:
            response = await client.complete("loop", HI)
        assert response.ok
        headers = mock.requests[-1]["headers"]
        assert headers["anthropic-version"] == "2023-06-01"
        assert headers["x-api-key"] == "****"
        assert "authorization" not in headers


async def test_a_demanded_bearer_key_is_accepted_and_a_wrong_one_is_an_auth_error(
    anyio_backend: str,
) -> None:
    async with MockProvider(require_bearer=SECRET) as mock:
        good = make_client(mock, env={"LOOP_KEY": SECRET}, env_key="LOOP_KEY")
        async with good:
            assert (await good.complete("loop", HI)).ok
        bad = make_client(mock, env={"LOOP_KEY": "sk-wrong-value"}, env_key="LOOP_KEY")
        async with bad:
            with pytest.raises(AuthError) as caught:
                await bad.complete("loop", HI)
        message = str(caught.value)
        assert "LOOP_KEY" in message
        assert "sk-wrong-value" not in message
        assert SECRET not in message
        assert caught.value.credential == "the environment variable LOOP_KEY"


async def test_a_missing_key_fails_before_any_request(
    mock: MockProvider, anyio_backend: str
) -> None:
    client = make_client(mock, env_key="LOOP_KEY", env_key_instructions="export LOOP_KEY=…")
    async with client:
        with pytest.raises(MissingCredentialError, match="LOOP_KEY"):
            client.stream("loop", HI)
    assert mock.requests == []


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409])
async def test_retryable_statuses_back_off_exponentially_then_succeed(
    mock: MockProvider, status: int, anyio_backend: str
) -> None:
    sleep = FakeSleep()
    mock.enqueue(MockBehavior(status=status), MockBehavior(status=status))
    async with make_client(mock, sleep=sleep) as client:
        events = [event async for event in client.stream("loop", HI)]
    assert isinstance(events[-1], Completed)
    assert sleep.delays == [0.2, 0.4]
    assert len(mock.requests) == 3


async def test_retries_stop_at_request_max_retries_with_a_provider_error(
    mock: MockProvider, anyio_backend: str
) -> None:
    sleep = FakeSleep()
    mock.enqueue(*[MockBehavior(status=503, error_message="overloaded")] * 3)
    async with make_client(mock, sleep=sleep, request_max_retries=2) as client:
        with pytest.raises(ProviderError) as caught:
            await client.complete("loop", HI)
    assert caught.value.status == 503
    assert caught.value.request_id == "req_mock_503"
    assert caught.value.excerpt == "overloaded"
    assert sleep.delays == [0.2, 0.4]


async def test_x_should_retry_false_stops_a_retry(mock: MockProvider, anyio_backend: str) -> None:
    mock.enqueue(MockBehavior(status=500, should_retry=False))
    async with make_client(mock) as client:
        with pytest.raises(ProviderError):
            await client.complete("loop", HI)
    assert len(mock.requests) == 1


async def test_x_should_retry_true_retries_a_4xx(mock: MockProvider, anyio_backend: str) -> None:
    mock.enqueue(MockBehavior(status=400, should_retry=True))
    async with make_client(mock) as client:
        assert (await client.complete("loop", HI)).ok
    assert len(mock.requests) == 2


async def test_other_4xx_raise_at_once(mock: MockProvider, anyio_backend: str) -> None:
    mock.enqueue(MockBehavior(status=404))
    async with make_client(mock) as client:
        with pytest.raises(ProviderError) as caught:
            await client.complete("loop", HI)
    assert caught.value.status == 404
    assert len(mock.requests) == 1


async def test_429_waits_for_a_retry_after_within_the_ceiling(
    mock: MockProvider, anyio_backend: str
) -> None:
    sleep = FakeSleep()
    mock.enqueue(MockBehavior(status=429, retry_after="2"))
    async with make_client(mock, sleep=sleep) as client:
        assert (await client.complete("loop", HI)).ok
    assert sleep.delays == [2.0]


async def test_429_prefers_retry_after_ms(mock: MockProvider, anyio_backend: str) -> None:
    sleep = FakeSleep()
    mock.enqueue(MockBehavior(status=429, retry_after="2", retry_after_ms=1500))
    async with make_client(mock, sleep=sleep) as client:
        assert (await client.complete("loop", HI)).ok
    assert sleep.delays == [1.5]


@pytest.mark.parametrize(("retry_after", "expected"), [(None, None), ("3600", 3600.0)])
async def test_429_without_a_usable_retry_after_raises_rate_limit_error(
    mock: MockProvider, retry_after: str | None, expected: float | None, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(status=429, retry_after=retry_after))
    async with make_client(mock) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.complete("loop", HI)
    assert caught.value.retry_after == expected
    assert len(mock.requests) == 1


async def test_an_unreachable_provider_is_retried_then_a_connection_error(
    anyio_backend: str,
) -> None:
    sleep = FakeSleep()
    with MockProvider() as mock:
        client = make_client(mock, sleep=sleep, request_max_retries=2)
    async with client:  # the server is gone: every attempt is refused
        with pytest.raises(ConnectionFailedError, match="3 attempt"):
            await client.complete("loop", HI)
    assert sleep.delays == [0.2, 0.4]


async def test_a_drop_before_the_first_event_is_retried(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(reset_after=0), MockBehavior(reset_after=1))
    async with make_client(mock) as client:
        events = [event async for event in client.stream("loop", HI)]
    assert isinstance(events[-1], Completed)
    assert len(mock.requests) == 3


async def test_drops_past_stream_max_retries_raise(mock: MockProvider, anyio_backend: str) -> None:
    mock.enqueue(*[MockBehavior(reset_after=0)] * 3)
    async with make_client(mock, stream_max_retries=2) as client:
        with pytest.raises(StreamError, match="before its first event"):
            await drain(client)
    assert len(mock.requests) == 3


async def test_a_drop_after_events_reached_the_caller_is_a_terminal_error_event(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(reset_after=4, output_tokens=20))
    async with make_client(mock) as client:
        events = [event async for event in client.stream("loop", HI)]
    assert any(isinstance(event, TextDelta) for event in events)
    terminal = events[-1]
    assert isinstance(terminal, ErrorEvent)
    assert terminal.code == "stream_truncated"
    assert len(mock.requests) == 1


async def test_a_retryable_error_event_before_any_delivery_is_retried(
    mock: MockProvider, anyio_backend: str
) -> None:
    overloaded = (
        b"event: error\n"
        b'data: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'
    )
    mock.enqueue(MockBehavior(replay=Replay(overloaded)))
    async with make_client(mock, wire_api=WireApi.MESSAGES) as client:
        events = [event async for event in client.stream("loop", HI)]
    assert isinstance(events[-1], Completed)
    assert len(mock.requests) == 2


async def test_idle_before_the_first_event_retries_then_raises_stream_idle_timeout(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(*[MockBehavior(stall_after=0)] * 2)
    client = make_client(mock, stream_idle_timeout_ms=150, stream_max_retries=1)
    async with client:
        with pytest.raises(StreamIdleTimeout, match="150 ms"):
            await drain(client)
        assert busy_connections(client) == 0


async def test_no_response_headers_within_the_idle_timeout_is_a_stream_idle_timeout(
    mock: MockProvider, anyio_backend: str
) -> None:
    # The mock holds an error reply's headers back for ttft_ms.
    mock.enqueue(*[MockBehavior(status=500, ttft_ms=2000)] * 2)
    client = make_client(mock, stream_idle_timeout_ms=150, request_max_retries=1)
    async with client:
        with pytest.raises(StreamIdleTimeout, match="no response headers"):
            await drain(client)
        assert busy_connections(client) == 0
    assert len(mock.requests) == 2


async def test_idle_after_events_is_a_terminal_idle_timeout_event(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(stall_after=4, output_tokens=20))
    async with make_client(mock, stream_idle_timeout_ms=150) as client:
        events = [event async for event in client.stream("loop", HI)]
        assert busy_connections(client) == 0
    terminal = events[-1]
    assert isinstance(terminal, ErrorEvent)
    assert terminal.code == "idle_timeout"


# --- the lifecycle: one end per stream, and the connection released on every path ------------


async def test_a_completed_stream_ends_once_as_completed(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = Recorder()
    async with make_client(mock, observer=recorder) as client:
        stream = client.stream("loop", HI)
        async for _ in stream:
            pass
        await stream.aclose()
        assert busy_connections(client) == 0
    assert recorder.ends == [EndReason.COMPLETED]
    assert recorder.first_bytes == 1


async def test_breaking_out_and_closing_ends_as_closed_early(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = Recorder()
    mock.enqueue(MockBehavior(output_tokens=200, delay_ms=5))
    async with make_client(mock, observer=recorder) as client:
        async with client.stream("loop", HI) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    break
        assert busy_connections(client) == 0
    assert recorder.ends == [EndReason.CLOSED_EARLY]


async def test_cancelling_the_task_ends_as_cancelled(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = Recorder()
    mock.enqueue(MockBehavior(output_tokens=5, stall_after=3))
    async with make_client(mock, observer=recorder) as client:
        stream = client.stream("loop", HI)
        with anyio.move_on_after(0.3):
            async for _ in stream:
                pass
        assert busy_connections(client) == 0
        assert stream.end_reason is EndReason.CANCELLED
    assert recorder.ends == [EndReason.CANCELLED]


async def test_a_failed_stream_ends_as_failed(mock: MockProvider, anyio_backend: str) -> None:
    recorder = Recorder()
    mock.enqueue(MockBehavior(malformed="json"))
    async with make_client(mock, observer=recorder) as client:
        events = [event async for event in client.stream("loop", HI)]
        assert busy_connections(client) == 0
    assert isinstance(events[-1], ErrorEvent)
    assert recorder.ends == [EndReason.FAILED]


async def test_an_abandoned_stream_is_finalized_with_a_warning(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = Recorder()
    mock.enqueue(MockBehavior(output_tokens=200, delay_ms=5))
    async with make_client(mock, observer=recorder) as client:
        stream = client.stream("loop", HI)
        async for _ in stream:
            break
        del stream

        async def collect_and_wait() -> None:
            gc.collect()
            for _ in range(200):
                if recorder.ends and busy_connections(client) == 0:
                    break
                await anyio.sleep(0.01)

        # trio also reports the unexhausted generator itself; ours is the one that must appear.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await collect_and_wait()
        assert any("garbage-collected without being closed" in str(w.message) for w in caught)
        assert recorder.ends == [EndReason.ABANDONED]
        assert busy_connections(client) == 0
    assert recorder.ends == [EndReason.ABANDONED]


async def test_a_thousand_concurrent_streams_complete(anyio_backend: str) -> None:
    if anyio_backend == "trio":
        pytest.skip("one event loop is enough for the load test")
    async with MockProvider(behavior=MockBehavior(output_tokens=3)) as mock:
        client = make_client(mock)
        finished: list[bool] = []

        async def one() -> None:
            events = [event async for event in client.stream("loop", HI)]
            finished.append(isinstance(events[-1], Completed))

        async with client, anyio.create_task_group() as group:
            for _ in range(1000):
                group.start_soon(one)
    assert finished == [True] * 1000


async def test_the_key_never_reaches_logs_errors_or_reprs(
    caplog: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    caplog.set_level("DEBUG")
    async with MockProvider(require_bearer="sk-something-else") as mock:
        client = make_client(mock, env={"LOOP_KEY": SECRET}, env_key="LOOP_KEY")
        async with client:
            with pytest.raises(AuthError) as caught:
                await client.complete("loop", HI)
            stream = client.stream("loop", HI)
            shown = [repr(client), repr(stream), repr(client.credentials(client.provider("loop")))]
            await stream.aclose()
    assert SECRET not in caplog.text
    assert SECRET not in str(caught.value)
    assert all(SECRET not in text for text in shown)
    assert SECRET not in str(mock.requests)


async def test_query_values_are_masked_in_httpx_request_logs(
    mock: MockProvider, caplog: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    caplog.set_level("INFO", logger="httpx")
    query = {"api-version": "2025-01-01", "key": SECRET}
    async with make_client(mock, query_params=query) as client:
        await client.complete("loop", HI)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines
    assert all("api-version=****&key=****" in line for line in lines)
    assert SECRET not in caplog.text
    assert mock.requests[-1]["query"] == "api-version=****&key=****"


@pytest.mark.parametrize("wire_api", WIRE_APIS)
async def test_endpoint_models_lists_every_page_with_the_providers_auth(
    wire_api: WireApi, anyio_backend: str
) -> None:
    ids = tuple(f"model-{n:04d}" for n in range(1500))
    anthropic = wire_api is WireApi.MESSAGES
    demand = {"require_api_key": SECRET} if anthropic else {"require_bearer": SECRET}
    async with MockProvider(models=ids, **demand) as mock:
        client = make_client(
            mock,
            wire_api=wire_api,
            env={"LOOP_KEY": SECRET},
            env_key="LOOP_KEY",
            name="Anthropic" if anthropic else "Loopback",
        )
        async with client:
            listed = await client.endpoint_models("loop")
    assert [m.id for m in listed] == list(ids)
    gets = [r for r in mock.requests if r["method"] == "GET"]
    assert len(gets) == (2 if anthropic else 1)
    assert all("content-type" not in r["headers"] for r in gets)
    if anthropic:
        assert all(r["headers"]["x-api-key"] == "****" for r in gets)
        assert gets[1]["query"] == "limit=****&after_id=****"
    else:
        assert all(r["headers"]["authorization"] == "Bearer ****" for r in gets)
