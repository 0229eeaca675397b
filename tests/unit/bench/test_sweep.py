"""Rate sweeps against a mock at known capacity: steps below it keep up and meet the SLO,
steps above it saturate (and stop early once their backlog only grows), and the answer is the
highest rate within the SLO."""

from __future__ import annotations

import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import Settings, Target, load_result, run_bench
from modelwire.bench._report import sweep_lines
from modelwire.bench._schema import write_result
from modelwire.bench._slo import parse_slo
from modelwire.bench._sweep import achieved_share, auto_rates, run_sweep, run_sweeps
from modelwire.mock import MockBehavior, MockProvider

LOOP = Target("loop", "mock-model")
SERVICE_MS = 40
"""One request on the serial mock: a capacity of about 25 requests per second."""


def make_client(mock: MockProvider) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    return Client(registry, env={})


def test_auto_rates_span_the_synchronous_to_the_saturated_rate_evenly() -> None:
    assert auto_rates(2.0, 10.0, 5) == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert auto_rates(10.0, 2.0, 3) == [2.0, 6.0, 10.0]
    assert auto_rates(4.0, 4.0, 2) == [4.0, 8.0]
    with pytest.raises(ValueError, match="at least 2"):
        auto_rates(1.0, 2.0, 1)


async def test_a_sweep_finds_the_highest_rate_within_the_slo_and_saturates_above_capacity(
    tmp_path: object, anyio_backend: str
) -> None:
    behavior = MockBehavior(ttft_ms=SERVICE_MS, output_tokens=1)
    async with MockProvider(behavior=behavior, serial=True) as mock, make_client(mock) as client:
        settings = Settings(requests=16, warmup=0, arrival="constant", slo=parse_slo("e2e=250ms"))
        sweep, results = await run_sweep(
            client, LOOP, settings, rates=[5.0, 10.0, 200.0], backlog_limit=6
        )
    slow, middle, fast = sweep.steps
    assert [step.rate for step in sweep.steps] == [5.0, 10.0, 200.0]
    assert [r.target for r in results] == [
        "loop:mock-model@5/s",
        "loop:mock-model@10/s",
        "loop:mock-model@200/s",
    ]
    assert not slow.saturated
    assert not middle.saturated
    assert slow.attained
    assert middle.attained
    # 200/s against ~25/s: the backlog reaches 6 within a few arrivals and the step stops.
    assert fast.saturated
    assert fast.stopped_early
    assert results[2].summary.requests < 16
    assert fast.attained is False
    assert sweep.best_rate == 10.0


async def test_two_saturated_steps_in_a_row_end_the_sweep(anyio_backend: str) -> None:
    behavior = MockBehavior(ttft_ms=SERVICE_MS, output_tokens=1)
    async with MockProvider(behavior=behavior, serial=True) as mock, make_client(mock) as client:
        settings = Settings(requests=10, warmup=0, arrival="constant")
        sweep, _ = await run_sweep(
            client, LOOP, settings, rates=[150.0, 200.0, 300.0], backlog_limit=4
        )
    assert len(sweep.steps) == 2
    assert sweep.ended is not None
    assert "two saturated steps" in sweep.ended
    assert sweep.best_rate is None


async def test_an_auto_sweep_measures_both_ends_first_and_the_result_round_trips(
    tmp_path: object, anyio_backend: str
) -> None:
    behavior = MockBehavior(ttft_ms=SERVICE_MS, output_tokens=1)
    async with MockProvider(behavior=behavior, serial=True) as mock, make_client(mock) as client:
        settings = Settings(requests=8, warmup=0, arrival="constant")
        result = await run_sweeps(client, [LOOP], settings, steps=3)
    (sweep,) = result.sweeps
    assert sweep.synchronous_rate is not None
    assert sweep.saturated_rate is not None
    # A serial provider's saturated rate is its synchronous one: no parallel capacity.
    assert sweep.saturated_rate == pytest.approx(sweep.synchronous_rate, rel=0.5)
    assert len(result.targets) == len(sweep.steps) >= 2
    lines = sweep_lines(sweep, {t.target: t for t in result.targets})
    assert lines[0].startswith("sweep loop:mock-model: one at a time ")
    from pathlib import Path

    path = Path(str(tmp_path)) / "sweep.json"
    write_result(result, path)
    assert load_result(path.read_bytes()) == result


async def test_a_step_just_above_capacity_is_saturated_by_its_growing_latency(
    anyio_backend: str,
) -> None:
    # Just above a serial mock's capacity (measured first: one at a time), a short step still
    # achieves over 80 % of what it offers, so only the queue growing through the step shows
    # that the rate cannot be held; well below capacity the latency stays flat.
    behavior = MockBehavior(ttft_ms=50, output_tokens=1)
    async with MockProvider(behavior=behavior, serial=True) as mock, make_client(mock) as client:
        one = await run_bench(client, [LOOP], Settings(requests=10, warmup=1))
        capacity = one.targets[0].summary.requests_per_s
        settings = Settings(requests=45, warmup=0, arrival="constant")
        rates = [round(capacity * 0.4, 3), round(capacity * 1.12, 3)]
        sweep, results = await run_sweep(client, LOOP, settings, rates=rates, backlog_limit=1000)
    calm, over = sweep.steps
    assert not calm.saturated
    assert calm.why is None
    assert calm.latency_growth is not None
    assert calm.latency_growth < 1.5
    share = achieved_share(results[1].requests)
    assert share is not None
    assert share >= 0.8
    assert over.saturated
    assert over.why == "latency"
    assert over.latency_growth is not None
    assert over.latency_growth > 1.5
    assert not over.stopped_early
    assert "latency grew x" in "\n".join(sweep_lines(sweep, {r.target: r for r in results}))


async def test_a_short_step_of_long_requests_that_keeps_up_is_not_saturated(
    anyio_backend: str,
) -> None:
    # Each request takes far longer than the step's schedule spans (8 requests at 20/s, each
    # 600 ms): requests over the wall time is a fraction of the rate, but the answers come back
    # as fast as the requests went out, so the provider kept up.
    behavior = MockBehavior(ttft_ms=600, output_tokens=1)
    async with MockProvider(behavior=behavior) as mock, make_client(mock) as client:
        settings = Settings(requests=8, warmup=0, arrival="constant")
        sweep, results = await run_sweep(client, LOOP, settings, rates=[20.0])
    (step,) = sweep.steps
    assert results[0].summary.requests_per_s < 0.8 * 20.0
    assert not step.saturated, step
