"""Workers sharing one open loop: the same schedule as one process, split across processes that
start together; their sketches merged into the same figures; no worker outlives the run."""

from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator

import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import Settings, Target, run_bench
from modelwire.bench._workers import run_workers
from modelwire.errors import ModelwireError
from modelwire.mock import MockBehavior, MockProvider

LOOP = Target("loop", "mock-model")
TTFT_MS = 30


def make_client(mock: MockProvider) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    return Client(registry, env={})


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider(behavior=MockBehavior(ttft_ms=TTFT_MS, output_tokens=3)) as mock:
        yield mock


async def test_two_workers_run_the_schedule_one_process_runs_and_agree_on_its_latencies(
    mock: MockProvider, anyio_backend: str
) -> None:
    settings = Settings(requests=60, rate=60.0, arrival="poisson", seed=11, warmup=1)
    async with make_client(mock) as client:
        alone = await run_bench(client, [LOOP], settings)
        shared = await run_workers(client, [LOOP], settings, workers=2, keep_records=True)
    assert multiprocessing.active_children() == []
    one, two = alone.targets[0], shared.targets[0]
    assert two.generator.workers == 2
    assert two.generator.backend == "processes"
    assert two.schedule == one.schedule
    assert two.summary.requests == one.summary.requests == 60
    assert two.summary.ok == 60
    # The same send times: the records of both runs name the same scheduled offsets.
    assert [r.index for r in two.requests] == list(range(60))
    assert [r.scheduled_ms for r in two.requests] == pytest.approx(
        [r.scheduled_ms for r in one.requests], abs=0.001
    )
    # Against a fixed TTFT both see the mock's latency (sketch error and loopback noise).
    assert one.summary.ttft_ms is not None
    assert two.summary.ttft_ms is not None
    assert two.summary.ttft_ms.p50 == pytest.approx(one.summary.ttft_ms.p50, abs=TTFT_MS * 0.5)
    assert two.summary.ttft_ms.p50 >= TTFT_MS
    assert two.summary.send_lag_ms is not None
    assert two.summary.e2e_scheduled_ms is not None


async def test_without_records_the_workers_send_only_their_tallies(
    mock: MockProvider, anyio_backend: str
) -> None:
    settings = Settings(requests=12, rate=100.0, arrival="constant", warmup=0)
    async with make_client(mock) as client:
        result = await run_workers(client, [LOOP], settings, workers=3)
    target = result.targets[0]
    assert target.requests == []
    assert target.summary.requests == 12
    assert target.summary.cpu_s is not None
    assert multiprocessing.active_children() == []


async def test_workers_need_an_open_loop(mock: MockProvider, anyio_backend: str) -> None:
    async with make_client(mock) as client:
        with pytest.raises(ModelwireError, match="open loop"):
            await run_workers(client, [LOOP], Settings(requests=3), workers=2)


async def test_a_cancelled_run_reaps_its_workers(mock: MockProvider, anyio_backend: str) -> None:
    import anyio

    settings = Settings(requests=400, rate=20.0, arrival="constant", warmup=0)
    async with make_client(mock) as client:
        with anyio.move_on_after(4):
            await run_workers(client, [LOOP], settings, workers=2)
    assert multiprocessing.active_children() == []
