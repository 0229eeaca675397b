"""Ray actors as the workers, on a local Ray instance: the same schedule as one process, the
same merge; every actor gone when the run ends, an interrupted one included."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import RunRecorder, Settings, Target, run_bench
from modelwire.bench._workers import run_workers
from modelwire.mock import MockBehavior, MockProvider

ray: Any = pytest.importorskip(
    "ray", reason="Ray cannot be installed on this platform (pip install 'modelwire[ray]')"
)

LOOP = Target("loop", "mock-model")
TTFT_MS = 30
CPUS = 2


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local instance for the module (starting one takes seconds); the runs find it
    initialised and leave it running."""
    ray.init(num_cpus=CPUS, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider(behavior=MockBehavior(ttft_ms=TTFT_MS, output_tokens=3)) as mock:
        yield mock


def make_client(mock: MockProvider) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    return Client(registry, env={})


async def _all_cpus_free() -> bool:
    """Every actor releases its CPU when it is killed (a little after, asynchronously)."""
    for _ in range(100):
        if ray.available_resources().get("CPU", 0) >= CPUS:
            return True
        await anyio.sleep(0.1)
    return False


async def test_auto_starts_a_local_instance_for_the_run_and_shuts_it_down(
    mock: MockProvider, anyio_backend: str
) -> None:
    # First in the module: the other tests' shared instance is not up yet.
    assert not ray.is_initialized()
    started = time.monotonic()
    settings = Settings(requests=6, rate=30.0, arrival="constant", warmup=0)
    async with make_client(mock) as client:
        result = await run_workers(client, [LOOP], settings, workers=1, ray="auto")
    assert result.targets[0].summary.ok == 6
    assert result.targets[0].generator.backend == "ray"
    assert not ray.is_initialized()
    assert time.monotonic() - started < 120


@pytest.mark.usefixtures("local_ray")
async def test_ray_actors_run_the_schedule_one_process_runs_and_agree_on_its_latencies(
    mock: MockProvider, anyio_backend: str
) -> None:
    settings = Settings(requests=40, rate=40.0, arrival="poisson", seed=5, warmup=1)
    async with make_client(mock) as client:
        alone = await run_bench(client, [LOOP], settings)
        spread = await run_workers(
            client, [LOOP], settings, workers=2, keep_records=True, ray="auto"
        )
    one, two = alone.targets[0], spread.targets[0]
    assert two.generator.backend == "ray"
    assert two.generator.workers == 2
    # Ray's own loop in each actor (uvloop's when it is installed), whatever runs the driver.
    assert two.generator.event_loop.startswith("asyncio")
    assert two.summary.requests == one.summary.requests == 40
    assert two.summary.ok == 40
    assert two.schedule == one.schedule
    assert [r.index for r in two.requests] == list(range(40))
    assert [r.scheduled_ms for r in two.requests] == pytest.approx(
        [r.scheduled_ms for r in one.requests], abs=0.001
    )
    assert one.summary.ttft_ms is not None
    assert two.summary.ttft_ms is not None
    assert two.summary.ttft_ms.p50 >= TTFT_MS
    assert two.summary.ttft_ms.p50 == pytest.approx(one.summary.ttft_ms.p50, abs=TTFT_MS * 0.5)
    assert await _all_cpus_free()


@pytest.mark.usefixtures("local_ray")
async def test_an_interrupted_ray_run_keeps_what_its_actors_measured_and_kills_them(
    mock: MockProvider, anyio_backend: str
) -> None:
    recorder = RunRecorder()
    settings = Settings(requests=400, rate=20.0, arrival="constant", warmup=0)
    async with make_client(mock) as client:
        with anyio.move_on_after(6):
            await run_workers(client, [LOOP], settings, workers=2, ray="auto", progress=recorder)
    partial = recorder.partial()
    assert partial is not None
    (target,) = partial.targets
    assert target.interrupted is True
    assert target.generator.backend == "ray"
    assert 0 < target.summary.requests < 400
    assert target.summary.ok == target.summary.requests
    assert await _all_cpus_free()
