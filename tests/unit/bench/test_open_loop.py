"""The open loop against the mock over loopback: requests go out on their schedule whatever
the provider does, the slot cap's waits are measured, and queueing shows in the latencies
counted from the schedule (coordinated omission) where a closed loop hides it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import Settings, Target, load_result, run_bench
from modelwire.bench._schema import write_result
from modelwire.mock import MockBehavior, MockProvider

LOOP = Target("loop", "mock-model")
SERVICE_MS = 60
"""What one request costs the serial mock: its TTFT (one output piece)."""


def make_client(mock: MockProvider) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    return Client(registry, env={})


@pytest.fixture
async def serial() -> AsyncIterator[MockProvider]:
    """A provider at capacity: one request at a time, each taking ``SERVICE_MS``."""
    behavior = MockBehavior(ttft_ms=SERVICE_MS, output_tokens=1)
    async with MockProvider(behavior=behavior, serial=True) as provider:
        yield provider


async def test_requests_go_out_on_their_schedule_and_say_how_late(anyio_backend: str) -> None:
    async with (
        MockProvider(behavior=MockBehavior(output_tokens=2)) as mock,
        make_client(mock) as client,
    ):
        settings = Settings(requests=20, rate=100.0, arrival="constant", warmup=0)
        result = await run_bench(client, [LOOP], settings)
    target = result.targets[0]
    records = target.requests
    assert [r.index for r in records] == list(range(20))
    scheduled = [r.scheduled_ms for r in records]
    assert scheduled == pytest.approx([10.0 * i for i in range(20)], abs=0.01)
    assert all(r.lag_ms is not None and r.lag_ms >= 0 for r in records)
    assert all(r.queue_ms is None for r in records)
    summary = target.summary
    assert summary.offered_rate == pytest.approx(100.0)
    assert summary.send_lag_ms is not None
    assert summary.e2e_scheduled_ms is not None
    assert summary.e2e_ms is not None
    assert summary.e2e_scheduled_ms.p50 >= summary.e2e_ms.p50


async def test_an_open_loop_above_capacity_shows_the_queue_a_closed_loop_hides(
    serial: MockProvider, anyio_backend: str
) -> None:
    async with make_client(serial) as client:
        closed = await run_bench(client, [LOOP], Settings(requests=12, concurrency=1, warmup=0))
        # Offered 50/s against a capacity of ~16/s: the backlog grows with every arrival.
        opened = await run_bench(
            client, [LOOP], Settings(requests=12, rate=50.0, arrival="constant", warmup=0)
        )
    closed_e2e = [r.e2e_ms for r in closed.targets[0].requests]
    open_e2e = [r.e2e_ms for r in opened.targets[0].requests]
    # The closed loop waits for each reply before sending: every request looks like one.
    assert max(closed_e2e) < 3 * SERVICE_MS
    # The open loop's requests wait in the provider's queue: later ones take longer, and
    # the last has waited behind most of the others.
    assert open_e2e[-1] > 4 * SERVICE_MS
    assert sum(b > a for a, b in itertools.pairwise(open_e2e)) >= 8
    # The generator itself kept its schedule.
    lag = opened.targets[0].summary.send_lag_ms
    assert lag is not None
    assert lag.p50 < SERVICE_MS


async def test_a_slot_cap_moves_the_queue_to_the_client_and_measures_it(
    serial: MockProvider, anyio_backend: str
) -> None:
    async with make_client(serial) as client:
        settings = Settings(requests=10, rate=50.0, arrival="constant", max_concurrency=1, warmup=0)
        result = await run_bench(client, [LOOP], settings)
    records = result.targets[0].requests
    assert serial.peak_in_flight == 1
    waits = [r.queue_ms for r in records]
    assert all(wait is not None for wait in waits)
    # Each request is served alone, so from its actual start it looks fast...
    assert max(r.e2e_ms for r in records) < 3 * SERVICE_MS
    # ...but it waited for its slot, and from the schedule the last one took far longer.
    assert (waits[-1] or 0) > 3 * SERVICE_MS
    summary = result.targets[0].summary
    assert summary.queue_ms is not None
    assert summary.e2e_scheduled_ms is not None
    assert summary.e2e_scheduled_ms.max > 4 * SERVICE_MS


async def test_a_trace_is_replayed_with_its_own_prompts_and_limits(
    tmp_path: Path, anyio_backend: str
) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        '{"offset_s": 0.0, "prompt": "first line", "max_tokens": 3}\n'
        '{"offset_s": 0.05, "prompt_tokens": 20}\n'
        '{"offset_s": 0.1}\n'
    )
    async with MockProvider(behavior=MockBehavior(output_tokens=2)) as mock:
        async with make_client(mock) as client:
            settings = Settings(trace=str(trace), warmup=0, prompt="the run's prompt")
            result = await run_bench(client, [LOOP], settings)
        bodies = [r["body"] for r in mock.requests if r["method"] == "POST"]
    assert [r.scheduled_ms for r in result.targets[0].requests] == pytest.approx(
        [0.0, 50.0, 100.0], abs=0.01
    )
    assert "first line" in bodies[0]
    assert '"max_completion_tokens":3' in bodies[0] or '"max_tokens":3' in bodies[0]
    assert "the run's prompt" not in bodies[1]
    assert "the run's prompt" in bodies[2]


async def test_the_open_loop_figures_survive_the_json_round_trip(
    tmp_path: Path, anyio_backend: str
) -> None:
    async with (
        MockProvider(behavior=MockBehavior(output_tokens=2)) as mock,
        make_client(mock) as client,
    ):
        settings = Settings(
            requests=5, rate=40.0, arrival="gamma", burstiness=2.0, seed=3, warmup=0
        )
        result = await run_bench(client, [LOOP], settings)
    path = tmp_path / "run.json"
    write_result(result, path)
    again = load_result(path.read_bytes())
    assert again == result
    assert again.settings.arrival == "gamma"
    assert again.targets[0].requests[1].scheduled_ms == result.targets[0].requests[1].scheduled_ms


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"rate": 1.0, "trace": "t.jsonl"}, "rate or trace"),
        ({"rate": 1.0, "max_concurrency": 0}, "max_concurrency"),
        ({"rate": 1.0, "requests": 5, "ramp_to": 2.0}, "ramp needs"),
    ],
)
def test_open_loop_settings_that_mean_nothing_are_refused(
    fields: dict[str, object], why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        Settings(**fields)  # type: ignore[arg-type]


async def test_a_generator_that_cannot_keep_its_schedule_says_so(anyio_backend: str) -> None:
    import time

    def busy() -> None:
        time.sleep(0.02)  # the event loop held, as a CPU-starved generator would hold it

    async with (
        MockProvider(behavior=MockBehavior(output_tokens=1)) as mock,
        make_client(mock) as client,
    ):
        steady = await run_bench(
            client, [LOOP], Settings(requests=10, rate=50.0, arrival="constant", warmup=0)
        )
        starved = await run_bench(
            client,
            [Target("loop", "mock-model", before_request=busy)],
            Settings(requests=10, rate=100.0, arrival="constant", warmup=0),
        )
    calm, bound = steady.targets[0].generator, starved.targets[0].generator
    assert calm.loop_lag_ms is not None
    assert calm.cpu_share is not None
    assert calm.workers == 1
    assert calm.backend == "process"
    assert calm.event_loop in {"asyncio", "trio"}
    assert bound.bound is not None
    assert "lag p99" in bound.bound
    late = starved.targets[0].summary.send_lag_ms
    assert late is not None
    assert late.max > 20
