"""The result file, version 2: what it adds, and version 1 files still read (upgraded)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import SCHEMA, BenchError, Settings, Target, load_result, run_bench
from modelwire.bench._schema import QUANTILED, read_result, schedule_digest
from modelwire.bench._stats import QUANTILE_GRID
from modelwire.mock import MockBehavior, MockProvider

DATA = Path(__file__).parent / "data"
LOOP = Target("loop", "mock-model")


def test_a_version_1_workers_file_reads_with_its_generator_figures_moved() -> None:
    raw = json.loads((DATA / "result_v1_workers.json").read_text())
    old = raw["targets"][0]
    result = read_result(DATA / "result_v1_workers.json")
    assert result.schema == SCHEMA == "modelwire.bench/2"
    target = result.targets[0]
    assert target.generator.workers == old["workers"] == 2
    assert target.generator.backend == "processes"
    assert target.generator.cpu_share == old["summary"]["cpu_share"]
    assert target.generator.bound == old["summary"]["generator_bound"]
    assert target.generator.loop_lag_ms is not None
    assert target.generator.loop_lag_ms.p99 == old["summary"]["loop_lag_ms"]["p99"]
    assert target.summary.ttft_ms is not None
    assert target.summary.ttft_ms.p50 == old["summary"]["ttft_ms"]["p50"]
    # What version 1 never had stays absent rather than invented.
    assert target.schedule is None
    assert target.quantiles == {}


def test_a_version_1_sweep_file_keeps_its_steps_and_slo_figures() -> None:
    raw = json.loads((DATA / "result_v1_sweep.json").read_text())
    result = read_result(DATA / "result_v1_sweep.json")
    assert [step.rate for step in result.sweeps[0].steps] == [
        step["rate"] for step in raw["sweeps"][0]["steps"]
    ]
    assert [t.summary.goodput_requests_per_s for t in result.targets] == [
        t["summary"]["goodput_requests_per_s"] for t in raw["targets"]
    ]
    assert all(t.generator.workers == 1 for t in result.targets)
    # Written again, it is a version 2 document that reads back the same.
    again = load_result(msgspec.json.encode(result))
    assert again == result


def test_a_version_1_file_with_a_wrong_field_still_fails_with_its_path() -> None:
    raw = json.loads((DATA / "result_v1_workers.json").read_text())
    raw["targets"][0]["summary"]["cpu_share"] = "high"
    with pytest.raises(BenchError, match=r"modelwire.bench/1.*\$\.targets\[0\]\.generator"):
        load_result(json.dumps(raw))


def test_the_schedule_digest_changes_with_any_send_time() -> None:
    rows = [(0.0, None, None, None), (0.25, None, None, None)]
    moved = [(0.0, None, None, None), (0.250000001, None, None, None)]
    assert schedule_digest(rows) == schedule_digest(list(rows))
    assert schedule_digest(rows) != schedule_digest(moved)
    assert len(schedule_digest(rows)) == 16


async def test_a_version_2_result_carries_schedule_quantiles_generator_and_versions(
    anyio_backend: str,
) -> None:
    async with MockProvider(behavior=MockBehavior(output_tokens=4)) as mock:
        registry = ProviderRegistry.from_config(env={}, catalog=None)
        registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
        settings = Settings(requests=12, rate=80.0, seed=3, warmup=0)
        async with Client(registry, env={}) as client:
            first = await run_bench(client, [LOOP], settings)
            second = await run_bench(client, [LOOP], settings)
            closed = await run_bench(client, [LOOP], Settings(requests=3, warmup=0))
    target = first.targets[0]
    assert target.schedule is not None
    assert target.schedule.loop == "open"
    assert target.schedule.requests == 12
    assert target.schedule.offered_rate == target.summary.offered_rate
    # Same settings, same seed: the same send times, and the digest says so.
    assert second.targets[0].schedule == target.schedule
    assert closed.targets[0].schedule is not None
    assert closed.targets[0].schedule.loop == "closed"
    assert closed.targets[0].schedule.digest is None
    assert set(target.quantiles) == set(QUANTILED)
    for name, values in target.quantiles.items():
        assert len(values) == len(QUANTILE_GRID), name
        assert values == sorted(values), name
    ttft = target.summary.ttft_ms
    assert ttft is not None
    assert target.quantiles["ttft_ms"][0] == ttft.min
    assert target.quantiles["ttft_ms"][50] == ttft.p50
    assert target.quantiles["ttft_ms"][-1] == ttft.max
    assert "msgspec" in first.environment.versions
    assert "anyio" in first.environment.versions
    assert first.environment.event_loop == anyio_backend
    assert target.generator.event_loop == anyio_backend
    assert load_result(msgspec.json.encode(first)) == first
