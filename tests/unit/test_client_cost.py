"""Every priced reply carries its cost: on the stream's usage event, on ``Response.cost``, on the
call span and the cost counter; the user's config price wins; unknown stays ``None``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, Request, WireApi, user
from modelwire.config import load_config
from modelwire.errors import ConfigError
from modelwire.mock import MockProvider
from modelwire.pricing import Price, PricedUsage
from modelwire.wire import Usage
from otel_capture import Otel

WIRE_APIS = [WireApi.RESPONSES, WireApi.CHAT, WireApi.MESSAGES]
HI = Request(model="mock-model", messages=(user("what does this cost"),))
PRICE = Price.from_config({"input": 2, "output": "10.5"}, model="mock-model")


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


def make_client(
    mock: MockProvider, *, wire_api: WireApi = WireApi.CHAT, priced: bool = True, **options: Any
) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    base = mock.base_url if wire_api is WireApi.MESSAGES else mock.url("/v1")
    registry.register("loop", ProviderInfo(name="Loopback", base_url=base, wire_api=wire_api))
    if priced:
        registry.prices["loop"] = {"mock-model": PRICE}
    return Client(registry, env={}, **options)


def by_hand(usage: Usage) -> Decimal:
    """No cache and no reasoning on the mock: input at $2/M, output at $10.50/M."""
    return (Decimal(usage.input_tokens) * 2 + Decimal(usage.output_tokens) * Decimal("10.5")) / (
        10**6
    )


@pytest.mark.parametrize("wire_api", WIRE_APIS)
async def test_a_streamed_reply_s_usage_event_carries_its_cost_on_every_wire_api(
    mock: MockProvider, wire_api: WireApi, anyio_backend: str
) -> None:
    async with make_client(mock, wire_api=wire_api) as client, client.stream("loop", HI) as stream:
        events = [event async for event in stream]
    (usage,) = [event for event in events if isinstance(event, Usage)]
    assert isinstance(usage, PricedUsage)
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    cost = usage.cost
    assert cost is not None
    assert cost.total == by_hand(usage)
    assert cost.source == "config"
    assert cost.model == "mock-model"
    # The usage keys stay the spec's; the cost rides beside them, exact, as strings.
    encoded = msgspec.json.decode(msgspec.json.encode(usage))
    assert encoded["input_tokens"] == usage.input_tokens
    assert encoded["cost"]["total"] == str(cost.total)


async def test_a_completed_reply_has_its_cost(mock: MockProvider, anyio_backend: str) -> None:
    async with make_client(mock) as client:
        response = await client.complete("loop", HI)
    assert response.usage is not None
    assert response.cost is not None
    assert response.cost.total == by_hand(response.usage)


async def test_an_unpriced_model_or_pricing_turned_off_leaves_the_cost_unknown(
    mock: MockProvider, anyio_backend: str
) -> None:
    async with make_client(mock, priced=False) as client:
        unknown = await client.complete("loop", HI)
    async with make_client(mock, prices=False) as client:
        off = await client.complete("loop", HI)
    for response in (unknown, off):
        assert response.usage is not None
        assert type(response.usage) is Usage
        assert response.cost is None


async def test_the_call_span_and_the_cost_counter_carry_the_cost(
    mock: MockProvider, anyio_backend: str
) -> None:
    otel = Otel()
    options = {"tracer_provider": otel.tracer_provider, "meter_provider": otel.meter_provider}
    async with make_client(mock, **options) as client:
        response = await client.complete("loop", HI)
    assert response.cost is not None
    span = otel.call_span()
    assert span.attributes is not None
    assert span.attributes["modelwire.cost.usd"] == pytest.approx(float(response.cost.total))
    assert span.attributes["modelwire.cost.source"] == "config"
    (point,) = otel.metrics()["modelwire.client.cost"]
    assert point.value == pytest.approx(float(response.cost.total))
    assert point.attributes["gen_ai.request.model"] == "mock-model"


async def test_cost_telemetry_can_be_switched_off(mock: MockProvider, anyio_backend: str) -> None:
    otel = Otel()
    options = {
        "tracer_provider": otel.tracer_provider,
        "meter_provider": otel.meter_provider,
        "cost_telemetry": False,
    }
    async with make_client(mock, **options) as client:
        response = await client.complete("loop", HI)
    assert response.cost is not None  # the cost itself stays on the reply
    attributes = otel.call_span().attributes or {}
    assert "modelwire.cost.usd" not in attributes
    assert "modelwire.client.cost" not in otel.metrics()


def test_a_prices_table_prices_a_provider_without_redefining_it(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[model_providers.openai.prices."gpt-5"]\ninput = 1.25\noutput = "10"\n'
        '[model_providers.mine]\nbase_url = "http://127.0.0.1:9/v1"\nwire_api = "chat"\n'
        "[model_providers.mine.prices.m]\ninput = 0\noutput = 0.5\ncache_read_above_200k = 1\n"
    )
    config = load_config(tmp_path / "config.toml", env={})
    assert "openai" not in config.model_providers  # still the built-in, untouched
    assert "openai" not in config.built_in_overrides
    gpt = config.prices["openai"]["gpt-5"]
    assert (gpt.input, gpt.output, gpt.source) == (Decimal("1.25"), Decimal("10"), "config")
    assert "mine" in config.model_providers
    assert config.prices["mine"]["m"].output == Decimal("0.5")
    registry = ProviderRegistry.from_config(config, env={}, catalog=None)
    assert registry.prices["openai"]["gpt-5"] == gpt


@pytest.mark.parametrize(
    ("table", "path"),
    [
        ("[model_providers.x]\nprices = 3\n", "model_providers.x.prices"),
        ("[model_providers.x.prices]\nm = 3\n", "model_providers.x.prices.m"),
        ("[model_providers.x.prices.m]\ninput = -1\n", "model_providers.x.prices.m"),
        ("[model_providers.x.prices.m]\ninput = true\n", "model_providers.x.prices.m"),
        ("[model_providers.x.prices.m]\nbogus = 1\n", "model_providers.x.prices.m"),
    ],
)
def test_a_bad_price_is_a_config_error_naming_its_key(
    tmp_path: Path, table: str, path: str
) -> None:
    (tmp_path / "config.toml").write_text(table)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "config.toml", env={})
    assert raised.value.key_path == path
