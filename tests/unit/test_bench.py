"""The latency benchmark's engine against the loopback mock, on asyncio and trio.

Expected latencies are derived from the delays injected on the mock. On the Chat Completions
wire the mock sends the role chunk after ``ttft_ms`` and every later chunk ``delay_ms`` after
the one before, and the reply ends three chunks (finish, usage, ``[DONE]``) after its last
token, so a client sees:

* TTFT = ttft + delay, each gap between tokens = delay,
* E2E = ttft + (tokens + 3) * delay.

Lower bounds are tight (a sleep never ends early, and each request's clock starts before the
mock even sees it); upper bounds leave room for a busy two-core machine.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import (
    SCHEMA,
    BenchError,
    BenchProgress,
    BenchResult,
    MockProfile,
    RequestRecord,
    RunRecorder,
    Settings,
    Target,
    TargetResult,
    compare_transports,
    generated_prompt,
    load_result,
    percentile,
    read_result,
    run_bench,
    stats_of,
    summarize,
    write_result,
)
from modelwire.bench._target import (
    MockProcess,
    measure_ttft_overhead,
    mock_arguments,
    mock_target,
    served_defaults,
)
from modelwire.errors import ConfigError, UnknownProviderError
from modelwire.mock import MockBehavior, MockProvider
from modelwire.mock._app import MockState

TTFT_MS, DELAY_MS, TOKENS = 120, 15, 10
LOOP = Target("loop", "mock-model")
SOCK = Target("sock", "mock-model")


def slack(expected_ms: float) -> float:
    """Room above an expected latency for scheduling noise: half of it plus 25 ms."""
    return expected_ms * 0.5 + 25


def make_client(mock: MockProvider, **info: Any) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT, **info))
    return Client(registry, env={})


def make_socket_client(mock: MockProvider) -> Client:
    """Provider ``sock``: the mock's Responses wire, reachable over HTTP and a WebSocket."""
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register(
        "sock",
        ProviderInfo(
            base_url=mock.url("/v1"), wire_api=WireApi.RESPONSES, supports_websockets=True
        ),
    )
    return Client(registry, env={})


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    behavior = MockBehavior(ttft_ms=TTFT_MS, delay_ms=DELAY_MS, output_tokens=TOKENS)
    async with MockProvider(behavior=behavior) as provider:
        yield provider


@pytest.fixture
async def fast_mock() -> AsyncIterator[MockProvider]:
    async with MockProvider(behavior=MockBehavior(output_tokens=5)) as provider:
        yield provider


def test_percentiles_interpolate_linearly_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0.5) == pytest.approx(25.0)
    assert percentile(values, 0.9) == pytest.approx(37.0)
    assert percentile(values, 0.99) == pytest.approx(39.7)
    assert percentile(values, 0.0) == 10.0
    assert percentile(values, 1.0) == 40.0
    assert percentile([7.0], 0.99) == 7.0
    stats = stats_of([3.0, 1.0, 2.0])
    assert stats is not None
    assert (stats.count, stats.min, stats.p50, stats.max, stats.mean) == (3, 1.0, 2.0, 3.0, 2.0)
    assert stats_of([]) is None
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


async def test_measured_latencies_match_the_delays_injected_on_the_mock(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock) as client:
        result = await run_bench(client, [LOOP], Settings(requests=8, concurrency=2))
    summary = result.targets[0].summary
    assert (summary.requests, summary.ok, summary.errors) == (8, 8, {})
    assert summary.ttft_ms is not None
    assert summary.itl_ms is not None
    assert summary.e2e_ms is not None
    assert summary.ttfb_ms is not None

    ttft = TTFT_MS + DELAY_MS
    assert summary.ttft_ms.min >= ttft - 1
    assert summary.ttft_ms.p50 <= ttft + slack(ttft)
    e2e = TTFT_MS + (TOKENS + 3) * DELAY_MS
    assert summary.e2e_ms.min >= e2e - 1
    assert summary.e2e_ms.p50 <= e2e + slack(e2e)
    assert summary.itl_ms.count == 8 * (TOKENS - 1)
    # One late token shortens the gap after it; the median and the mean absorb that.
    assert DELAY_MS - 1 <= summary.itl_ms.p50 <= DELAY_MS + slack(DELAY_MS)
    assert summary.itl_ms.mean >= DELAY_MS - 1
    # The first byte is the role chunk, one delay before the first token.
    assert summary.ttfb_ms.min >= TTFT_MS - 1
    assert summary.ttfb_ms.p50 <= summary.ttft_ms.p50
    assert summary.output_tokens == 8 * TOKENS
    assert all(
        r.tokens_from == "usage" and r.output_tokens == TOKENS for r in result.targets[0].requests
    )
    assert summary.decode_tokens_per_s is not None
    assert summary.decode_tokens_per_s.p50 <= 1000 / (DELAY_MS - 1)
    assert summary.requests_per_s == pytest.approx(8 / summary.wall_s, rel=1e-3)


async def test_failures_are_counted_by_kind_and_left_out_of_the_latencies(
    fast_mock: MockProvider, anyio_backend: str
) -> None:
    fast_mock.enqueue(
        MockBehavior(status=500),
        MockBehavior(reset_after=3),  # after two tokens reached the caller: an error event
        MockBehavior(reset_after=1),  # before anything did: raised, as no retry is allowed
        MockBehavior(status=500),
    )
    settings = Settings(requests=8, concurrency=2, warmup=0)
    async with make_client(fast_mock, request_max_retries=0, stream_max_retries=0) as client:
        result = await run_bench(client, [LOOP], settings)
    target = result.targets[0]
    summary = target.summary
    assert summary.errors == {"ProviderError": 2, "StreamError": 1, "stream_truncated": 1}
    assert (summary.requests, summary.ok) == (8, 4)
    assert summary.ttft_ms is not None
    assert summary.ttft_ms.count == 4
    assert summary.e2e_ms is not None
    assert summary.e2e_ms.count == 4
    assert summary.output_tokens == 4 * 5
    failed = [record for record in target.requests if record.error is not None]
    assert all(record.error_message for record in failed)
    truncated = next(r for r in failed if r.error == "stream_truncated")
    assert truncated.ttft_ms is not None  # it did stream, yet it is not in the TTFT figures
    assert [record.index for record in target.requests] == list(range(8))


async def test_concurrency_reaches_c_on_the_mock_and_never_exceeds_it(
    anyio_backend: str,
) -> None:
    async with MockProvider(behavior=MockBehavior(ttft_ms=150, output_tokens=2)) as mock:
        async with make_client(mock) as client:
            settings = Settings(requests=32, concurrency=16, warmup=0)
            result = await run_bench(client, [LOOP], settings)
        assert mock.peak_in_flight == 16
    assert result.targets[0].summary.ok == 32


async def test_warmup_requests_are_sent_but_not_recorded(
    fast_mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(fast_mock) as client:
        result = await run_bench(client, [LOOP], Settings(requests=3, warmup=2))
    assert len(fast_mock.requests) == 5
    assert len(result.targets[0].requests) == 3


async def test_a_duration_starts_requests_until_it_has_passed(anyio_backend: str) -> None:
    settings = Settings(duration_s=0.4, concurrency=2, warmup=0)
    async with (
        MockProvider(behavior=MockBehavior(ttft_ms=40, output_tokens=1)) as mock,
        make_client(mock) as client,
    ):
        result = await run_bench(client, [LOOP], settings)
    target = result.targets[0]
    assert result.settings.requests is None
    assert target.summary.wall_s >= 0.4
    # Each request takes at least 40 ms: two workers fit at most 2 * (400 / 40 + 1) starts.
    assert 2 <= len(target.requests) <= 22
    assert all(record.start_ms < 400 for record in target.requests)


async def test_an_unknown_target_fails_before_any_request(
    fast_mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(fast_mock) as client:
        with pytest.raises(UnknownProviderError):
            await run_bench(client, [LOOP, Target("no-such-provider", "m")])
    assert fast_mock.requests == []


async def test_a_result_survives_the_json_round_trip(
    fast_mock: MockProvider, tmp_path: Path, anyio_backend: str
) -> None:
    fast_mock.enqueue(MockBehavior(status=500))
    settings = Settings(requests=3, warmup=0, prompt_tokens=7, prompt=generated_prompt(7))
    async with make_client(fast_mock, request_max_retries=0) as client:
        result = await run_bench(client, [LOOP], settings)
    path = tmp_path / "run.json"
    write_result(result, path)
    loaded = read_result(path)
    assert loaded == result
    assert loaded.schema == SCHEMA
    assert loaded.settings.percentile_method == "linear"
    assert loaded.targets[0].summary.errors == {"ProviderError": 1}
    assert isinstance(loaded.targets[0].requests[0], RequestRecord)


class StopAfter(BenchProgress):
    """Cancels the run once ``count`` timed requests have ended, as Ctrl-C would."""

    def __init__(self, count: int, scope: anyio.CancelScope) -> None:
        self.count, self.scope, self.finished = count, scope, 0

    def request_done(self, target: Target, record: RequestRecord) -> None:
        self.finished += 1
        if self.finished == self.count:
            self.scope.cancel()

    def target_done(self, target: Target, result: TargetResult) -> None:
        raise AssertionError("the run was meant to be stopped before its target finished")


async def test_a_recorder_keeps_what_an_interrupted_run_measured(
    fast_mock: MockProvider, tmp_path: Path, anyio_backend: str
) -> None:
    settings = Settings(requests=50, concurrency=2, warmup=1)
    recorder = RunRecorder()
    assert recorder.partial() is None  # nothing began yet
    async with make_client(fast_mock) as client:
        with anyio.CancelScope() as scope:
            recorder.inner = StopAfter(3, scope)
            await run_bench(client, [LOOP], settings, progress=recorder)
    partial = recorder.partial()
    assert partial is not None
    assert partial.interrupted is True
    assert (partial.settings.requests, partial.settings.concurrency) == (50, 2)
    assert partial.settings.prompt  # the defaults the run filled in are recorded
    (target,) = partial.targets
    assert target.target == "loop:mock-model"
    assert 3 <= target.summary.requests < 50
    assert target.summary.ok == target.summary.requests
    indexes = [record.index for record in target.requests]
    assert indexes == sorted(indexes)
    path = tmp_path / "interrupted.json"
    write_result(partial, path)
    assert read_result(path) == partial


def _document(**changes: Any) -> bytes:
    records = [
        RequestRecord(
            index=0,
            start_ms=0.0,
            ttfb_ms=1.0,
            ttft_ms=2.0,
            itl_ms=[1.0, 3.0],
            e2e_ms=9.0,
            output_tokens=3,
            tokens_from="deltas",
            attempts=1,
        )
    ]
    result = {
        "schema": SCHEMA,
        "environment": {
            "modelwire": "0",
            "python": "3.11",
            "implementation": "cpython",
            "platform": "test",
            "cpus": 2,
            "clock": "time.perf_counter",
            "clock_resolution_s": 1e-9,
            "started_at": "2025-01-01T00:00:00+00:00",
        },
        "settings": {"requests": 1, "prompt": "hi"},
        "targets": [
            {
                "target": "loop:m",
                "provider": "loop",
                "model": "m",
                "summary": summarize(records, 1.0),
                "requests": records,
            }
        ],
    }
    result.update(changes)
    return msgspec.json.encode(result)


def test_the_loader_reads_a_document_written_by_hand() -> None:
    loaded = load_result(_document())
    assert isinstance(loaded, BenchResult)
    summary = loaded.targets[0].summary
    assert summary.itl_ms is not None
    assert summary.itl_ms.p50 == 2.0
    assert summary.decode_tokens_per_s is not None
    assert summary.decode_tokens_per_s.p50 == 500.0
    assert loaded.settings.concurrency == 1
    assert loaded.interrupted is False  # a file from before the flag existed


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schema": "modelwire.bench/3"}, "'modelwire.bench/3'; this modelwire reads"),
        ({"settings": {"requests": 1, "concurrency": 0}}, "concurrency must be at least 1"),
        ({"settings": {"requests": 1, "duration_s": 2.0}}, "requests or duration_s, not both"),
        ({"targets": [{"target": "x"}]}, r"\$\.targets\[0\]"),
        ({"interrupted": "yes"}, r"\$\.interrupted"),
    ],
)
def test_the_loader_rejects_what_the_schema_does_not_allow(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(BenchError, match=message):
        load_result(_document(**changes))


def test_the_loader_rejects_what_is_not_a_result() -> None:
    with pytest.raises(BenchError, match="not a benchmark result"):
        load_result(b'{"title": "something else"}')


async def test_the_mock_profile_draws_a_latency_per_request(anyio_backend: str) -> None:
    profile = MockProfile(ttft_ms=60, ttft_sigma=0.5, itl_ms=4, output_tokens=4, seed=7)
    behavior, jitter = served_defaults(profile)
    async with MockProvider(behavior=behavior, jitter=jitter) as mock:
        registry = ProviderRegistry.from_config(env={}, catalog=None)
        target = mock_target(mock.url("/v1"), registry)
        async with Client(registry, env={}) as client:
            settings = Settings(requests=12, concurrency=4, warmup=0)
            result = await run_bench(client, [target], settings)
    ttfts = [record.ttft_ms for record in result.targets[0].requests]
    assert all(t is not None and t >= profile.ttft_ms / 4 - 1 for t in ttfts)
    assert len({round(t or 0) for t in ttfts}) > 3  # jittered, not the mock's one fixed delay
    assert all(record.output_tokens == 4 for record in result.targets[0].requests)


async def test_the_overhead_measurement_zeroes_the_mocks_delays_for_both_clients(
    anyio_backend: str,
) -> None:
    async with MockProvider(behavior=MockBehavior(ttft_ms=300, delay_ms=30)) as mock:
        registry = ProviderRegistry.from_config(env={}, catalog=None)
        async with Client(registry, env={}) as client:
            overhead = await measure_ttft_overhead(client, mock, samples=20)
    assert overhead.samples == overhead.modelwire_ttft_ms.count == overhead.bare_ttft_ms.count
    assert overhead.samples == 20
    assert overhead.modelwire_ttft_ms.p50 < 100  # the mock's 300 ms did not apply
    assert 0 < overhead.bare_ttft_ms.p50 < 100
    assert overhead.overhead_ms == pytest.approx(
        overhead.modelwire_ttft_ms.p50 - overhead.bare_ttft_ms.p50, abs=1e-3
    )
    assert 0 <= overhead.after_first_byte_ms.p50 <= overhead.modelwire_ttft_ms.p50


def test_the_served_profile_gives_the_client_the_profiles_ttft_and_gaps() -> None:
    """The client's TTFT is the mock's first delay plus one gap, two draws; the served
    defaults must still put its percentiles where the profile's log-normal has them."""
    profile = MockProfile()
    behavior, jitter = served_defaults(profile)
    state = MockState(behavior=behavior, jitter=jitter)
    drawn = [state.next_behavior() for _ in range(4000)]
    ttfts = sorted(float((b.ttft_ms or 0) + (b.delay_ms or 0)) for b in drawn)
    gaps = sorted(float(b.delay_ms or 0) for b in drawn)
    for quantile, z in ((0.5, 0.0), (0.9, 1.2816), (0.99, 2.3263)):
        expected = profile.ttft_ms * math.exp(z * profile.ttft_sigma)
        assert percentile(ttfts, quantile) == pytest.approx(expected, rel=0.02)
    assert percentile(gaps, 0.5) == pytest.approx(profile.itl_ms, rel=0.02)
    assert percentile(gaps, 0.9) == pytest.approx(
        profile.itl_ms * math.exp(1.2816 * profile.itl_sigma), rel=0.03
    )
    assert {b.output_tokens for b in drawn} == {profile.output_tokens}


def test_a_mock_process_serves_the_profile_in_another_process_and_stops_cleanly() -> None:
    with MockProcess(mock_arguments(MockProfile(ttft_ms=40, itl_ms=5, output_tokens=2))) as mock:
        assert mock.pid not in (0, os.getpid())
        assert mock.base_url == f"http://127.0.0.1:{mock.port}"
        assert httpx.get(mock.url("/v1/models"), timeout=5).status_code == 200
        assert mock.returncode is None
    assert mock.returncode == 0  # SIGTERM: a clean shutdown, no kill needed
    with pytest.raises(ProcessLookupError):
        os.kill(mock.pid, 0)  # exited and reaped


def test_a_mock_process_that_ignores_sigterm_is_killed_after_a_bounded_wait() -> None:
    mock = MockProcess(stop_timeout_s=0.5)
    with mock:
        os.kill(mock.pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
        begun = time.monotonic()
    assert time.monotonic() - begun < 5
    assert mock.returncode == -signal.SIGKILL


def test_a_mock_process_that_cannot_start_says_why_and_is_gone() -> None:
    mock = MockProcess(["--seed", "soon"])
    with pytest.raises(BenchError, match=r"did not start: .*--seed: invalid int value"):
        mock.start()
    assert mock.returncode == 2


async def test_each_transport_is_a_target_of_its_own_carried_as_asked_and_compared(
    fast_mock: MockProvider, anyio_backend: str
) -> None:
    targets = [replace(SOCK, transport="http"), replace(SOCK, transport="websocket")]
    async with make_socket_client(fast_mock) as client:
        result = await run_bench(client, targets, Settings(requests=3, warmup=1))
    http, socket = result.targets
    assert (http.target, socket.target) == ("sock:mock-model@http", "sock:mock-model@websocket")
    assert (http.transport, socket.transport) == ("http", "websocket")
    assert http.summary.transports == {"http": 3}
    assert socket.summary.transports == {"websocket": 3}
    assert {record.transport for record in socket.requests} == {"websocket"}
    assert fast_mock.state.sockets_opened == 1  # the warm-up's socket carried the timed ones
    for target in (http, socket):
        summary = target.summary
        assert summary.ok == 3
        assert summary.cpu_s is not None
        assert summary.cpu_s > 0
        assert summary.cpu_ms_per_request == pytest.approx(summary.cpu_s * 1000 / 3, abs=1e-3)
        assert target.fallback is None
    (comparison,) = result.comparisons
    assert (comparison.provider, comparison.model) == ("sock", "mock-model")
    assert (comparison.http_target, comparison.websocket_target) == (http.target, socket.target)
    assert http.summary.ttft_ms is not None
    assert socket.summary.ttft_ms is not None
    assert comparison.ttft_p50_ratio == pytest.approx(
        socket.summary.ttft_ms.p50 / http.summary.ttft_ms.p50, rel=1e-3
    )
    assert comparison.cpu_per_request_ratio is not None


async def test_an_auto_target_whose_socket_is_refused_runs_over_http_and_says_why(
    fast_mock: MockProvider, anyio_backend: str
) -> None:
    fast_mock.enqueue(MockBehavior(socket_refuse=404))  # the warm-up's handshake
    async with make_socket_client(fast_mock) as client:
        result = await run_bench(client, [SOCK], Settings(requests=2, warmup=1))
    (target,) = result.targets
    assert target.target == "sock:mock-model"
    assert target.transport == "auto"
    assert target.fallback is not None
    assert "HTTP 404" in target.fallback
    assert target.summary.transports == {"http": 2}
    assert result.comparisons == []


async def test_a_websocket_target_on_a_provider_without_sockets_fails_before_any_request(
    fast_mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(fast_mock) as client:
        with pytest.raises(ConfigError, match="does not stream over a WebSocket"):
            await run_bench(client, [LOOP, replace(LOOP, transport="websocket")])
    assert fast_mock.requests == []


def _carried(name: str, transports: list[str]) -> TargetResult:
    records = [
        RequestRecord(
            index=index,
            start_ms=0.0,
            ttfb_ms=1.0,
            ttft_ms=2.0,
            itl_ms=[],
            e2e_ms=3.0,
            output_tokens=1,
            tokens_from="usage",
            attempts=1,
            transport=transport,
        )
        for index, transport in enumerate(transports)
    ]
    return TargetResult(
        target=name,
        provider="p",
        model="m",
        summary=summarize(records, 1.0, cpu_s=0.01),
        requests=records,
    )


def test_only_targets_carried_wholly_by_one_transport_are_compared() -> None:
    mixed = _carried("p:m", ["websocket", "http"])
    assert mixed.summary.transports == {"http": 1, "websocket": 1}
    http, socket = _carried("p:m@http", ["http"]), _carried("p:m@websocket", ["websocket"])
    assert compare_transports([mixed, http]) == []
    (comparison,) = compare_transports([mixed, http, socket])
    assert (comparison.http_target, comparison.websocket_target) == ("p:m@http", "p:m@websocket")
    assert comparison.ttft_p50_ratio == 1.0
    assert comparison.cpu_per_request_ratio == 1.0


def test_a_document_from_before_transports_and_cpu_still_loads() -> None:
    document = msgspec.json.decode(_document())
    (target,) = document["targets"]
    for key in ("transports", "cpu_s", "cpu_ms_per_request"):
        del target["summary"][key]
    for record in target["requests"]:
        del record["transport"], record["fallback"]
    loaded = load_result(msgspec.json.encode(document))
    (read,) = loaded.targets
    assert (read.transport, read.fallback) == ("auto", None)
    assert read.summary.transports == {}
    assert (read.summary.cpu_s, read.summary.cpu_ms_per_request) == (None, None)
    assert read.requests[0].transport is None
    assert loaded.comparisons == []


def test_the_served_profile_on_the_responses_wire_allows_for_its_four_leading_events() -> None:
    """On Responses four gaps come before the first token; the profile's median still holds
    and the tail overshoots no more than ``served_defaults`` says."""
    profile = MockProfile()
    behavior, jitter = served_defaults(profile, WireApi.RESPONSES)
    assert behavior.ttft_ms == profile.ttft_ms - 4 * profile.itl_ms
    state = MockState(behavior=behavior, jitter=jitter)
    drawn = [state.next_behavior() for _ in range(4000)]
    ttfts = sorted(float((b.ttft_ms or 0) + 4 * (b.delay_ms or 0)) for b in drawn)
    for quantile, z, within in ((0.5, 0.0, 0.02), (0.9, 1.2816, 0.05), (0.99, 2.3263, 0.10)):
        expected = profile.ttft_ms * math.exp(z * profile.ttft_sigma)
        assert percentile(ttfts, quantile) == pytest.approx(expected, rel=within)
