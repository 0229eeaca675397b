"""SLOs and goodput: the spec's grammar, which requests meet it (from the schedule in an open
loop), and goodput against a mock whose latencies are known."""

from __future__ import annotations

import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import RequestRecord, Settings, Target, run_bench
from modelwire.bench._slo import Slo, attained, meets, parse_slo
from modelwire.mock import MockBehavior, MockProvider


def record(**fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "index": 0,
        "start_ms": 0.0,
        "ttfb_ms": 10.0,
        "ttft_ms": 100.0,
        "itl_ms": [20.0, 40.0],
        "e2e_ms": 300.0,
        "output_tokens": 3,
        "tokens_from": "usage",
        "attempts": 1,
    }
    base.update(fields)
    return RequestRecord(**base)  # type: ignore[arg-type]


def test_the_spec_takes_any_subset_in_ms_or_s_and_a_percentile() -> None:
    assert parse_slo("ttft=500ms,itl=50ms,e2e=10s,p=0.99") == Slo(
        ttft_ms=500.0, itl_ms=50.0, e2e_ms=10_000.0, percentile=0.99
    )
    assert parse_slo(" e2e = 1.5s ") == Slo(e2e_ms=1500.0)
    assert parse_slo("ttft=250") == Slo(ttft_ms=250.0)
    assert parse_slo("ttft=1s,p=0.9").describe() == "ttft≤1000ms at p90"


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "at least one"),
        ("p=0.9", "at least one"),
        ("ttft=fast", "not NAME=VALUE"),
        ("tpot=5ms", "not NAME=VALUE"),
        ("ttft=1s,ttft=2s", "twice"),
        ("ttft=1s,p=99", "between 0 and 1"),
        ("ttft=1s,p=0.9ms", "without a unit"),
        ("ttft=0", "positive"),
    ],
)
def test_a_spec_that_is_not_one_says_why(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_slo(spec)


def test_a_request_meets_the_slo_only_within_every_objective() -> None:
    slo = Slo(ttft_ms=150.0, itl_ms=35.0, e2e_ms=400.0)
    assert meets(record(), slo)
    assert not meets(record(ttft_ms=151.0), slo)
    assert not meets(record(itl_ms=[30.0, 41.0]), slo)  # a mean of 35.5 ms
    assert meets(record(itl_ms=[10.0, 60.0]), slo)  # one slow gap, a mean of 35 ms
    assert not meets(record(e2e_ms=401.0), slo)
    assert not meets(record(error="ProviderError"), slo)
    assert not meets(record(ttft_ms=None), slo)


def test_in_an_open_loop_latency_counts_from_the_scheduled_time() -> None:
    slo = Slo(ttft_ms=150.0, e2e_ms=400.0)
    assert meets(record(lag_ms=40.0), slo)
    assert not meets(record(lag_ms=60.0), slo)  # 160 ms after it was due
    assert attained([record(lag_ms=0.0)] * 99 + [record(lag_ms=200.0)], slo)
    assert not attained([record(lag_ms=200.0)] * 5 + [record()] * 95, slo)
    assert attained([record(error="x")], slo) is None


@pytest.mark.parametrize(("spec", "good"), [("ttft=2s,e2e=5s", True), ("ttft=20ms", False)])
async def test_goodput_counts_the_requests_a_known_latency_profile_lets_through(
    spec: str, good: bool, anyio_backend: str
) -> None:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    async with MockProvider(behavior=MockBehavior(ttft_ms=80, output_tokens=3)) as mock:
        registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
        async with Client(registry, env={}) as client:
            settings = Settings(requests=6, concurrency=2, warmup=0, slo=parse_slo(spec))
            result = await run_bench(client, [Target("loop", "mock-model")], settings)
    summary = result.targets[0].summary
    assert summary.slo_met == (6 if good else 0)
    assert summary.slo_attained is good
    assert summary.goodput_requests_per_s is not None
    if good:
        assert summary.goodput_requests_per_s == pytest.approx(summary.requests_per_s)
        assert summary.goodput_tokens_per_s == pytest.approx(summary.output_tokens_per_s)
    else:
        assert summary.goodput_requests_per_s == 0.0
