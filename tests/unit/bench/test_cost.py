"""What a benchmark's requests cost: per request, per 1,000 and in total, exact, the same from
one process and from merged workers; unknown when no price is known, never $0."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import Settings, Target, load_result, run_bench, run_workers
from modelwire.bench._report import render_table
from modelwire.mock import MockBehavior, MockProvider
from modelwire.pricing import Price

LOOP = Target("loop", "mock-model")
PRICE = Price.from_config({"input": "3", "output": "15"}, model="mock-model")


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider(behavior=MockBehavior(output_tokens=4)) as mock:
        yield mock


def make_client(mock: MockProvider, *, priced: bool = True) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    if priced:
        registry.prices["loop"] = {"mock-model": PRICE}
    return Client(registry, env={})


async def test_each_request_s_cost_adds_up_to_the_target_s(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock) as client:
        result = await run_bench(client, [LOOP], Settings(requests=5, warmup=0))
    target = result.targets[0]
    costs = [record.cost_usd for record in target.requests]
    assert all(cost is not None and cost > 0 for cost in costs)
    summary = target.summary
    assert summary.priced_requests == 5
    assert summary.cost_usd == sum((c for c in costs if c is not None), Decimal(0))
    assert summary.cost_per_request_usd == summary.cost_usd / 5
    assert summary.cost_per_1000_requests_usd == summary.cost_per_request_usd * 1000
    # Exact through the file: Decimals are strings there.
    assert load_result(msgspec.json.encode(result)).targets[0].summary == summary
    table = io.StringIO()
    render_table(result, table)
    row = next(line for line in table.getvalue().splitlines() if line.startswith("cost USD"))
    assert f"${summary.cost_per_request_usd:.6g}" in row


async def test_an_unpriced_target_s_cost_is_unknown_not_zero(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock, priced=False) as client:
        result = await run_bench(client, [LOOP], Settings(requests=2, warmup=0))
    summary = result.targets[0].summary
    assert summary.cost_usd is None
    assert summary.cost_per_request_usd is None
    assert all(record.cost_usd is None for record in result.targets[0].requests)
    table = io.StringIO()
    render_table(result, table)
    row = next(line for line in table.getvalue().splitlines() if line.startswith("cost USD"))
    assert "unknown" in row
    assert "$0" not in row


async def test_workers_merge_the_same_cost_one_process_measures(
    mock: MockProvider, anyio_backend: str
) -> None:
    settings = Settings(requests=8, rate=50.0, arrival="constant", warmup=0)
    async with make_client(mock) as client:
        alone = await run_bench(client, [LOOP], settings)
        shared = await run_workers(client, [LOOP], settings, workers=2)
    one, two = alone.targets[0].summary, shared.targets[0].summary
    # The mock's usage is the same for every request: the totals agree to the last digit.
    assert two.priced_requests == one.priced_requests == 8
    assert two.cost_usd == one.cost_usd
    assert two.cost_per_1000_requests_usd == one.cost_per_1000_requests_usd
