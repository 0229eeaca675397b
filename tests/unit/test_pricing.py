"""The pricing core: one price per call, each normalized-usage bucket billed once, exactly.

Golden cases run the real decoders on small raw usage reports, so they prove the whole path
from what a provider sends to what the call cost. Cases priced from ``../shared/data`` skip
when it is absent; the hand-priced ones always run.
"""

from __future__ import annotations

from decimal import Decimal as D
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelwire.catalog.bundled import BundledCompatibilityCatalog, BundledProviderCatalog
from modelwire.catalog.schema import (
    CatalogModel,
    CatalogProvider,
    CompatibilityCatalog,
    CompatibilityEntry,
    ModelCost,
    ModelCostTier,
    ProviderCatalog,
    ReasoningControl,
    TokenPrices,
    Visibility,
)
from modelwire.pricing import Cost, Price, PriceBook, PricedUsage, PriceTier, cost_of
from modelwire.providers import WireApi
from modelwire.wire import decode_response
from modelwire.wire.events import Usage

# --- the real decoders, fed a raw usage report --------------------------------------------------


def chat_usage(usage: dict[str, Any]) -> Usage:
    """What the Chat Completions decoder makes of ``usage`` in a non-streamed body."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": usage,
    }
    return decoded("chat", body)


def responses_usage(usage: dict[str, Any]) -> Usage:
    """What the Responses decoder makes of ``usage``."""
    body = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "m",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "hi"}],
            }
        ],
        "usage": usage,
    }
    return decoded("responses", body)


def messages_usage(usage: dict[str, Any]) -> Usage:
    """What the Messages decoder makes of ``usage`` (Anthropic's ``input_tokens`` exclude the
    cache; the decoder adds cache reads and writes back)."""
    body = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": usage,
    }
    return decoded("messages", body)


def decoded(wire_api: str, body: dict[str, Any]) -> Usage:
    usage = decode_response(wire_api, orjson.dumps(body)).usage
    assert usage is not None
    return usage


def priced(usage: Usage, price: Price) -> Cost:
    cost = cost_of(usage, price)
    assert cost is not None
    return cost


# --- hand-made prices: these cases always run ---------------------------------------------------

HAND = Price(
    model="hand-1",
    source="config",
    input=D("2"),
    output=D("8"),
    cache_read=D("0.5"),
    cache_write=D("2.5"),
    reasoning=D("10"),
    long_context=PriceTier(input=D("4"), output=D("12"), cache_read=D("1")),
)
"""USD per million. The tier has no cache-write price, so that bucket falls back to the base."""


def test_a_plain_chat_call_bills_prompt_at_input_and_completion_at_output() -> None:
    usage = chat_usage({"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500})
    cost = priced(usage, HAND)
    # 1200 * $2/M = 0.0024; 300 * $8/M = 0.0024
    assert (cost.input, cost.output) == (D("0.0024"), D("0.0024"))
    assert cost.total == D("0.0048")
    assert (cost.cache_read, cost.cache_write, cost.reasoning) == (D(0), D(0), D(0))
    assert (cost.model, cost.source, cost.long_context, cost.currency) == (
        "hand-1",
        "config",
        False,
        "USD",
    )


def test_chat_cached_tokens_are_billed_at_the_cache_price_not_as_input() -> None:
    usage = chat_usage(
        {
            "prompt_tokens": 10_000,
            "completion_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 8000},
        }
    )
    cost = priced(usage, HAND)
    # uncached 2000 * 2 = 0.004; cached 8000 * 0.5 = 0.004; output 100 * 8 = 0.0008
    assert (cost.input, cost.cache_read, cost.output) == (D("0.004"), D("0.004"), D("0.0008"))
    assert cost.total == D("0.0088")


def test_deepseek_prompt_cache_hit_tokens_count_as_cache_reads() -> None:
    usage = chat_usage(
        {"prompt_tokens": 1000, "completion_tokens": 0, "prompt_cache_hit_tokens": 600}
    )
    cost = priced(usage, HAND)
    # uncached 400 * 2 = 0.0008; cached 600 * 0.5 = 0.0003
    assert (cost.input, cost.cache_read, cost.total) == (D("0.0008"), D("0.0003"), D("0.0011"))


def test_chat_reasoning_tokens_are_billed_at_the_reasoning_price_and_not_again_as_output() -> None:
    usage = chat_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 1000,
            "completion_tokens_details": {"reasoning_tokens": 700},
        }
    )
    cost = priced(usage, HAND)
    # input 100 * 2 = 0.0002; output 300 * 8 = 0.0024; reasoning 700 * 10 = 0.007
    assert (cost.input, cost.output, cost.reasoning) == (D("0.0002"), D("0.0024"), D("0.007"))
    assert cost.total == D("0.0096")


def test_responses_cached_and_reasoning_tokens_each_land_in_their_own_bucket() -> None:
    usage = responses_usage(
        {
            "input_tokens": 5000,
            "input_tokens_details": {"cached_tokens": 4000},
            "output_tokens": 500,
            "output_tokens_details": {"reasoning_tokens": 200},
            "total_tokens": 5500,
        }
    )
    cost = priced(usage, HAND)
    # uncached 1000 * 2 = 0.002; cached 4000 * 0.5 = 0.002
    # output 300 * 8 = 0.0024; reasoning 200 * 10 = 0.002
    assert (cost.input, cost.cache_read) == (D("0.002"), D("0.002"))
    assert (cost.output, cost.reasoning) == (D("0.0024"), D("0.002"))
    assert cost.total == D("0.0084")


def test_messages_cache_reads_and_writes_are_billed_once_each_after_the_decoder_adds_them() -> None:
    usage = messages_usage(
        {
            "input_tokens": 50,
            "cache_read_input_tokens": 3000,
            "cache_creation_input_tokens": 1000,
            "output_tokens": 400,
        }
    )
    assert usage.input_tokens == 4050  # the decoder's normalized prompt
    cost = priced(usage, HAND)
    # uncached 50 * 2 = 0.0001; reads 3000 * 0.5 = 0.0015; writes 1000 * 2.5 = 0.0025
    # output 400 * 8 = 0.0032
    assert (cost.input, cost.cache_read, cost.cache_write) == (
        D("0.0001"),
        D("0.0015"),
        D("0.0025"),
    )
    assert cost.output == D("0.0032")
    assert cost.total == D("0.0073")


def test_a_prompt_over_200k_uses_the_tier_for_every_bucket_it_prices() -> None:
    usage = responses_usage(
        {
            "input_tokens": 250_000,
            "input_tokens_details": {"cached_tokens": 100_000, "cache_write_tokens": 10_000},
            "output_tokens": 1000,
            "output_tokens_details": {"reasoning_tokens": 400},
        }
    )
    cost = priced(usage, HAND)
    # uncached 140000 * 4 = 0.56; cached 100000 * 1 = 0.1
    # writes 10000 * 2.5 (tier has none: base) = 0.025
    # output 600 * 12 = 0.0072; reasoning 400 * 10 (the reasoning price has no tier) = 0.004
    assert (cost.input, cost.cache_read, cost.cache_write) == (D("0.56"), D("0.1"), D("0.025"))
    assert (cost.output, cost.reasoning) == (D("0.0072"), D("0.004"))
    assert cost.total == D("0.6962")
    assert cost.long_context


def test_the_tier_starts_above_the_threshold_not_at_it() -> None:
    at = priced(Usage(input_tokens=200_000), HAND)
    above = priced(Usage(input_tokens=200_001), HAND)
    assert (at.total, at.long_context) == (D("0.4"), False)  # 200000 * 2
    assert (above.total, above.long_context) == (D("0.800004"), True)  # 200001 * 4


def test_a_long_prompt_without_a_tier_stays_at_the_base_price() -> None:
    flat = Price(model="flat", source="config", input=D("1"), output=D("1"))
    cost = priced(Usage(input_tokens=300_000), flat)
    assert (cost.total, cost.long_context) == (D("0.3"), False)


def test_the_threshold_is_the_prices_own() -> None:
    price = Price(
        model="gpt-like",
        source="config",
        input=D("1"),
        long_context=PriceTier(input=D("2")),
        long_context_threshold=272_000,
    )
    assert priced(Usage(input_tokens=250_000), price).total == D("0.25")
    assert priced(Usage(input_tokens=272_001), price).total == D("0.544002")


def test_missing_cache_and_reasoning_prices_fall_back_to_input_and_output() -> None:
    bare = Price(model="bare", source="config", input=D("3"), output=D("15"))
    usage = Usage(
        input_tokens=1000,
        cached_input_tokens=200,
        cache_write_input_tokens=300,
        output_tokens=100,
        reasoning_tokens=40,
    )
    cost = priced(usage, bare)
    # uncached 500 * 3; reads 200 * 3; writes 300 * 3; output 60 * 15; reasoning 40 * 15
    assert (cost.input, cost.cache_read, cost.cache_write) == (
        D("0.0015"),
        D("0.0006"),
        D("0.0009"),
    )
    assert (cost.output, cost.reasoning) == (D("0.0009"), D("0.0006"))
    assert cost.total == D("0.0045")


def test_a_tier_without_a_cache_read_price_uses_the_base_cache_read_price() -> None:
    price = Price(
        model="t",
        source="config",
        input=D("1"),
        cache_read=D("0.1"),
        long_context=PriceTier(input=D("2")),
    )
    cost = priced(Usage(input_tokens=300_000, cached_input_tokens=100_000), price)
    # uncached 200000 * 2 = 0.4; cached 100000 * 0.1 = 0.01
    assert (cost.input, cost.cache_read, cost.total) == (D("0.4"), D("0.01"), D("0.41"))


def test_input_tokens_without_an_input_price_make_the_cost_unknown_not_zero() -> None:
    output_only = Price(model="o", source="config", output=D("1"))
    assert cost_of(Usage(input_tokens=1, output_tokens=1), output_only) is None


def test_output_tokens_without_an_output_price_make_the_cost_unknown() -> None:
    input_only = Price(model="i", source="config", input=D("1"))
    assert cost_of(Usage(input_tokens=10, output_tokens=1), input_only) is None
    assert cost_of(Usage(input_tokens=10, output_tokens=1, reasoning_tokens=1), input_only) is None


def test_an_unpriced_bucket_without_tokens_costs_nothing() -> None:
    input_only = Price(model="i", source="config", input=D("1"))
    cost = priced(Usage(input_tokens=10), input_only)
    assert cost.total == D("0.00001")


def test_inconsistent_counts_are_clamped_rather_than_billed_negative() -> None:
    # More cached than prompt tokens, more reasoning than output tokens: nothing goes below 0.
    usage = Usage(input_tokens=100, cached_input_tokens=150, output_tokens=10, reasoning_tokens=50)
    cost = priced(usage, HAND)
    # cached 150 * 0.5 = 0.000075; reasoning 10 * 10 = 0.0001
    assert (cost.input, cost.output) == (D(0), D(0))
    assert (cost.cache_read, cost.reasoning, cost.total) == (
        D("0.000075"),
        D("0.0001"),
        D("0.000175"),
    )


def test_usd_rounds_half_even_for_display_only() -> None:
    cost = priced(
        Usage(input_tokens=1, output_tokens=0), Price(model="m", source="config", input=D("2.5"))
    )
    assert cost.total == D("0.0000025")
    assert cost.usd() == "0.000002"
    assert cost.usd(7) == "0.0000025"
    assert cost.usd(0) == "0"
    with pytest.raises(ValueError, match="places"):
        cost.usd(-1)


def test_a_cost_encodes_to_json_with_amounts_as_exact_strings() -> None:
    cost = priced(
        Usage(input_tokens=3, output_tokens=0), Price(model="m", source="config", input=D("0.1"))
    )
    data = msgspec.json.decode(msgspec.json.encode(cost))
    assert data["total"] == "3E-7"  # Decimal's own notation: a string, so nothing is rounded
    assert D(data["total"]) == D("0.0000003")
    assert msgspec.json.decode(msgspec.json.encode(cost), type=Cost) == cost


def test_a_fraction_of_a_micro_dollar_is_kept_not_rounded_to_zero() -> None:
    cost = priced(Usage(input_tokens=1), Price(model="m", source="config", input=D("0.10")))
    assert cost.total == D("0.0000001")
    many = sum((cost.total for _ in range(1_000_000)), D(0))
    assert many == D("0.1")


def test_a_priced_usage_is_still_a_usage_with_the_same_counts_and_its_cost() -> None:
    usage = chat_usage({"prompt_tokens": 1200, "completion_tokens": 300})
    cost = priced(usage, HAND)
    with_cost = PricedUsage.of(usage, cost)
    assert isinstance(with_cost, Usage)
    assert with_cost.cost is cost
    assert usage.cost is None  # a codec's own usage carries no cost
    assert {name: getattr(with_cost, name) for name in Usage.__struct_fields__} == (
        msgspec.structs.asdict(usage)
    )
    data = msgspec.json.decode(msgspec.json.encode(with_cost))
    assert data["type"] == "usage"
    assert data["input_tokens"] == 1200
    assert data["cost"]["total"] == "0.0048"


# --- constructors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_token", "per_million"),
    [(3e-06, D("3")), (3.75e-06, D("3.75")), (1.25e-07, D("0.125")), (2.8e-08, D("0.028"))],
)
def test_per_token_prices_move_to_per_million_exactly(per_token: float, per_million: D) -> None:
    price = Price.from_token_prices(TokenPrices(input_cost_per_token=per_token), model="m")
    assert price.input == per_million
    assert str(price.input) == str(per_million)  # no float residue, not even in the digits


def test_prices_and_costs_are_written_without_float_or_exponent_noise() -> None:
    per_token = Price.from_token_prices(
        TokenPrices(input_cost_per_token=3e-05, output_cost_per_token=0.0), model="m"
    )
    per_million = Price.from_model_cost(ModelCost(input=3.0, output=0.5), model="m")
    assert (str(per_token.input), str(per_token.output)) == ("30", "0")
    assert (str(per_million.input), str(per_million.output)) == ("3", "0.5")
    cost = priced(Usage(input_tokens=1_000_000, output_tokens=300), per_million)
    assert (str(cost.input), str(cost.output), str(cost.total)) == ("3", "0.00015", "3.00015")


def test_token_prices_map_every_litellm_field() -> None:
    prices = TokenPrices(
        input_cost_per_token=1e-06,
        output_cost_per_token=2e-06,
        cache_read_input_token_cost=1e-07,
        cache_creation_input_token_cost=1.25e-06,
        output_cost_per_reasoning_token=3e-06,
        input_cost_per_token_above_200k_tokens=2e-06,
        output_cost_per_token_above_200k_tokens=4e-06,
        cache_read_input_token_cost_above_200k_tokens=2e-07,
        cache_creation_input_token_cost_above_200k_tokens=2.5e-06,
    )
    assert Price.from_token_prices(prices, model="m") == Price(
        model="m",
        source="compatibility_catalog",
        input=D("1"),
        output=D("2"),
        cache_read=D("0.1"),
        cache_write=D("1.25"),
        reasoning=D("3"),
        long_context=PriceTier(
            input=D("2"), output=D("4"), cache_read=D("0.2"), cache_write=D("2.5")
        ),
    )


def test_token_prices_without_tier_fields_have_no_tier() -> None:
    prices = TokenPrices(input_cost_per_token=1e-06)
    assert Price.from_token_prices(prices, model="m").long_context is None


def test_model_cost_maps_every_models_dev_field_per_million_as_written() -> None:
    cost = ModelCost(
        input=1.25,
        output=10,
        cache_read=0.125,
        cache_write=0.3,
        reasoning=12.5,
        over_200k=ModelCostTier(input=2.5, output=15, cache_read=0.25),
    )
    assert Price.from_model_cost(cost, model="g") == Price(
        model="g",
        source="provider_catalog",
        input=D("1.25"),
        output=D("10"),
        cache_read=D("0.125"),
        cache_write=D("0.3"),
        reasoning=D("12.5"),
        long_context=PriceTier(input=D("2.5"), output=D("15"), cache_read=D("0.25")),
    )
    later = Price.from_model_cost(cost, model="g", long_context_threshold=272_000)
    assert later.long_context_threshold == 272_000


def test_a_negative_catalog_price_is_refused() -> None:
    with pytest.raises(ValueError, match="not a price"):
        Price.from_model_cost(ModelCost(input=-1.0), model="m")


def test_config_prices_accept_numbers_and_numeric_strings() -> None:
    price = Price.from_config(
        {
            "input": "0.075",
            "output": 2,
            "cache_read": 0.01,
            "cache_write": " 1.5 ",
            "reasoning": "3",
            "input_above_200k": 0.15,
            "output_above_200k": "4",
            "cache_read_above_200k": "0.02",
            "cache_write_above_200k": 3,
        },
        model="mine",
    )
    assert price == Price(
        model="mine",
        source="config",
        input=D("0.075"),
        output=D("2"),
        cache_read=D("0.01"),
        cache_write=D("1.5"),
        reasoning=D("3"),
        long_context=PriceTier(
            input=D("0.15"), output=D("4"), cache_read=D("0.02"), cache_write=D("3")
        ),
    )


def test_config_without_tier_keys_has_no_tier() -> None:
    assert Price.from_config({"input": 1}, model="m").long_context is None


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"inptu": 1}, "inptu"),
        ({"reasoning_above_200k": 1}, "reasoning_above_200k"),
        ({"input": "cheap"}, "input"),
        ({"output": True}, "output"),
        ({"output": None}, "output"),
        ({"cache_read": [1]}, "cache_read"),
        ({"cache_write": "nan"}, "cache_write"),
        ({"input": float("inf")}, "input"),
        ({"input_above_200k": "Infinity"}, "input_above_200k"),
        ({"input": -0.5}, "input"),
        ({"output_above_200k": "-1"}, "output_above_200k"),
    ],
)
def test_a_bad_config_price_is_a_value_error_naming_the_key(
    mapping: dict[str, object], key: str
) -> None:
    with pytest.raises(ValueError, match=repr(key)):
        Price.from_config(mapping, model="m")


# --- property tests -----------------------------------------------------------------------------

_rates = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False)
_tokens = st.integers(min_value=0, max_value=5_000_000)


@st.composite
def _prices(draw: st.DrawFn) -> Price:
    tier = draw(
        st.none()
        | st.builds(
            PriceTier,
            input=st.none() | _rates,
            output=st.none() | _rates,
            cache_read=st.none() | _rates,
            cache_write=st.none() | _rates,
        )
    )
    return Price(
        model="p",
        source="config",
        input=draw(_rates),
        output=draw(_rates),
        cache_read=draw(st.none() | _rates),
        cache_write=draw(st.none() | _rates),
        reasoning=draw(st.none() | _rates),
        long_context=tier,
    )


def usage_of(
    uncached: int, cache_read: int, cache_write: int, output: int, reasoning: int
) -> Usage:
    """The normalized usage whose buckets are exactly these (as every decoder builds it)."""
    return Usage(
        input_tokens=uncached + cache_read + cache_write,
        output_tokens=output + reasoning,
        total_tokens=uncached + cache_read + cache_write + output + reasoning,
        cached_input_tokens=cache_read,
        cache_write_input_tokens=cache_write,
        reasoning_tokens=reasoning,
    )


_buckets = st.tuples(_tokens, _tokens, _tokens, _tokens, _tokens)


@given(_buckets, _prices())
def test_the_total_is_exactly_the_sum_of_its_parts(buckets: tuple[int, ...], price: Price) -> None:
    cost = priced(usage_of(*buckets), price)
    assert (
        cost.total == cost.input + cost.cache_read + cost.cache_write + cost.output + cost.reasoning
    )


@given(_buckets, _prices(), st.integers(min_value=0, max_value=4), st.integers(1, 1_000_000))
def test_more_tokens_in_any_bucket_never_lower_the_cost_within_a_tier(
    buckets: tuple[int, ...], price: Price, bucket: int, more: int
) -> None:
    grown = list(buckets)
    grown[bucket] += more
    before, after = usage_of(*buckets), usage_of(*grown)
    threshold = price.long_context_threshold
    same_tier = (before.input_tokens > threshold) == (after.input_tokens > threshold)
    if not same_tier:
        return
    assert priced(after, price).total >= priced(before, price).total


@given(_buckets, _prices())
def test_every_bucket_is_billed_once_at_its_own_rate(
    buckets: tuple[int, ...], price: Price
) -> None:
    """The hand formula: cached tokens are never billed as input, reasoning never as output."""
    uncached, cache_read, cache_write, output, reasoning = buckets
    usage = usage_of(*buckets)
    long = price.long_context is not None and usage.input_tokens > 200_000
    tier = price.long_context if long and price.long_context else PriceTier()
    assert price.input is not None
    assert price.output is not None
    input_rate = tier.input if tier.input is not None else price.input
    output_rate = tier.output if tier.output is not None else price.output
    read_rate = next(r for r in (tier.cache_read, price.cache_read, input_rate) if r is not None)
    write_rate = next(r for r in (tier.cache_write, price.cache_write, input_rate) if r is not None)
    reasoning_rate = price.reasoning if price.reasoning is not None else output_rate
    expected = (
        uncached * input_rate
        + cache_read * read_rate
        + cache_write * write_rate
        + output * output_rate
        + reasoning * reasoning_rate
    ) / 1_000_000
    cost = priced(usage, price)
    assert cost.total == expected
    assert cost.input == uncached * input_rate / 1_000_000
    assert cost.long_context is long


# --- the price book -----------------------------------------------------------------------------


def listed(model_id: str, cost: ModelCost | None) -> CatalogModel:
    return CatalogModel(
        id=model_id,
        display_name=model_id,
        description=None,
        reasoning=False,
        input_modalities=["text"],
        context_window=None,
        priority=0,
        cost=cost,
    )


def provider(provider_id: str, *models: CatalogModel) -> CatalogProvider:
    return CatalogProvider(
        id=provider_id,
        name=provider_id,
        env_key=None,
        base_url=f"https://{provider_id}.example",
        wire_api=WireApi.CHAT,
        sort_priority=0,
        models=list(models),
    )


def entry(
    model_id: str, prices: TokenPrices | None, aliases: tuple[str, ...] = ()
) -> CompatibilityEntry:
    return CompatibilityEntry(
        id=model_id,
        aliases=list(aliases),
        description=None,
        visibility=Visibility.LIST,
        supported_parameters=[],
        supported_reasoning_levels=[],
        supports_thinking_toggle=False,
        reasoning_control=ReasoningControl.NONE,
        supports_parallel_tool_calls=False,
        supports_search_tool=False,
        input_modalities=["text"],
        context_window=None,
        prices=prices,
    )


def book(
    providers: list[CatalogProvider],
    entries: list[CompatibilityEntry],
    overrides: dict[str, dict[str, Price]] | None = None,
) -> PriceBook:
    return PriceBook(
        providers=BundledProviderCatalog(ProviderCatalog(generated_from=[], providers=providers)),
        compatibility=BundledCompatibilityCatalog(
            CompatibilityCatalog(generated_from="test", entries=entries)
        ),
        overrides=overrides,
    )


FIRST_PARTY = ModelCost(input=3, output=15)
ROUTER = ModelCost(input=3.3, output=16.5)
LITELLM = TokenPrices(input_cost_per_token=2.9e-06, output_cost_per_token=1.4e-05)


def test_the_providers_own_listing_wins_over_the_compatibility_catalog() -> None:
    prices = book([provider("acme", listed("claude-x", FIRST_PARTY))], [entry("claude-x", LITELLM)])
    price = prices.price_for("acme", "claude-x")
    assert price is not None
    assert (price.source, price.model, price.input) == ("provider_catalog", "claude-x", D("3"))


def test_a_routers_listing_is_not_the_first_partys_price() -> None:
    prices = book(
        [
            provider("acme", listed("claude-x", None)),
            provider("router", listed("acme/claude-x", ROUTER), listed("claude-x", ROUTER)),
        ],
        [entry("claude-x", LITELLM)],
    )
    price = prices.price_for("acme", "claude-x")
    assert price is not None
    assert (price.source, price.input) == ("compatibility_catalog", D("2.9"))
    router = prices.price_for("router", "claude-x")
    assert router is not None
    assert (router.source, router.input) == ("provider_catalog", D("3.3"))


def test_a_user_override_wins_over_both_catalogs() -> None:
    mine = Price.from_config({"input": "1", "output": "2"}, model="claude-x")
    prices = book(
        [provider("acme", listed("claude-x", FIRST_PARTY))],
        [entry("claude-x", LITELLM)],
        overrides={"acme": {"claude-x": mine}},
    )
    assert prices.price_for("acme", "claude-x") is mine
    assert prices.price_for("other", "claude-x") is not mine  # overrides are per provider


def test_the_compatibility_catalog_prefers_the_provider_qualified_entry() -> None:
    groq = TokenPrices(input_cost_per_token=5.9e-07, output_cost_per_token=7.9e-07)
    prices = book([], [entry("llama-x", LITELLM), entry("groq/llama-x", groq)])
    price = prices.price_for("groq", "llama-x")
    assert price is not None
    assert (price.model, price.input) == ("groq/llama-x", D("0.59"))
    bare = prices.price_for("someone", "llama-x")
    assert bare is not None
    assert bare.model == "llama-x"


def test_the_provider_qualified_id_is_never_matched_as_a_gateways_alias() -> None:
    gateway = TokenPrices(input_cost_per_token=9e-06, output_cost_per_token=9e-06)
    prices = book([], [entry("gateway/acme/m", gateway, aliases=("acme/m",)), entry("m", LITELLM)])
    price = prices.price_for("acme", "m")
    assert price is not None
    assert price.model == "m"


def test_the_compatibility_catalog_is_searched_by_alias_too() -> None:
    prices = book([], [entry("vendor/model-y", LITELLM, aliases=("model-y",))])
    price = prices.price_for("anyone", "model-y")
    assert price is not None
    assert price.model == "vendor/model-y"


def test_an_entry_without_prices_falls_through_to_the_next_candidate() -> None:
    prices = book([], [entry("acme/m", None), entry("m", LITELLM)])
    price = prices.price_for("acme", "m")
    assert price is not None
    assert price.model == "m"


def test_the_catalog_id_of_a_matched_provider_finds_its_listing() -> None:
    prices = book([provider("acme", listed("claude-x", FIRST_PARTY))], [])
    assert prices.price_for("my-proxy", "claude-x") is None
    price = prices.price_for("my-proxy", "claude-x", catalog_id="acme")
    assert price is not None
    assert price.source == "provider_catalog"


def test_an_unknown_model_has_no_price() -> None:
    prices = book([provider("acme", listed("claude-x", FIRST_PARTY))], [entry("m", LITELLM)])
    assert prices.price_for("acme", "no-such-model") is None
    assert prices.price_for("nobody", "no-such-model") is None


def test_answers_are_cached_per_provider_and_model() -> None:
    prices = book([provider("acme", listed("claude-x", FIRST_PARTY))], [])
    first = prices.price_for("acme", "claude-x")
    assert first is not None
    assert prices.price_for("acme", "claude-x") is first  # a fresh Price would be a new object


def test_the_bundled_book_knows_no_price_for_a_made_up_model() -> None:
    assert PriceBook.bundled().price_for("anthropic", "modelwire-test/no-such-model") is None


# --- golden cases priced from the source data ---------------------------------------------------


@cache
def _source(path: Path) -> Any:
    return msgspec.json.decode(path.read_bytes())


def models_dev_price(shared: Path, provider_id: str, model_id: str) -> Price:
    """models.dev's price for the model, as the provider catalog generator would carry it."""
    raw = _source(shared / "data" / "models-dev" / "api.json")[provider_id]["models"][model_id]
    cost = raw["cost"]
    tier = cost.get("context_over_200k")
    model_cost = ModelCost(
        input=cost.get("input"),
        output=cost.get("output"),
        cache_read=cost.get("cache_read"),
        cache_write=cost.get("cache_write"),
        reasoning=cost.get("reasoning"),
        over_200k=None if tier is None else msgspec.convert(tier, ModelCostTier),
    )
    return Price.from_model_cost(model_cost, model=model_id)


def litellm_price(shared: Path, model_id: str) -> Price:
    """LiteLLM's price for the model, as the compatibility catalog generator would carry it."""
    raw = _source(shared / "data" / "litellm" / "model_prices_and_context_window.json")[model_id]
    fields = {k: v for k, v in raw.items() if k in TokenPrices.__struct_fields__}
    return Price.from_token_prices(msgspec.convert(fields, TokenPrices), model=model_id)


def test_golden_messages_claude_sonnet_with_cache_reads_and_writes(shared: Path) -> None:
    price = models_dev_price(shared, "anthropic", "claude-sonnet-4-5")
    assert (price.input, price.output) == (D("3"), D("15"))
    assert (price.cache_read, price.cache_write) == (D("0.3"), D("3.75"))
    usage = messages_usage(
        {
            "input_tokens": 1000,
            "cache_read_input_tokens": 20_000,
            "cache_creation_input_tokens": 5000,
            "output_tokens": 800,
        }
    )
    cost = priced(usage, price)
    # 1000 * 3/M = 0.003; 20000 * 0.3/M = 0.006; 5000 * 3.75/M = 0.01875; 800 * 15/M = 0.012
    assert (cost.input, cost.cache_read) == (D("0.003"), D("0.006"))
    assert (cost.cache_write, cost.output) == (D("0.01875"), D("0.012"))
    assert cost.total == D("0.03975")
    litellm = priced(usage, litellm_price(shared, "claude-sonnet-4-5"))
    assert litellm.total == cost.total  # both sources agree on this model


def test_golden_responses_gpt5_cached_prompt_and_reasoning(shared: Path) -> None:
    price = models_dev_price(shared, "openai", "gpt-5")
    assert (price.input, price.output, price.cache_read) == (D("1.25"), D("10"), D("0.125"))
    usage = responses_usage(
        {
            "input_tokens": 10_000,
            "input_tokens_details": {"cached_tokens": 8000},
            "output_tokens": 2000,
            "output_tokens_details": {"reasoning_tokens": 1500},
        }
    )
    cost = priced(usage, price)
    # uncached 2000 * 1.25/M = 0.0025; cached 8000 * 0.125/M = 0.001
    # output 500 * 10/M = 0.005; reasoning (no reasoning price: output's) 1500 * 10/M = 0.015
    assert (cost.input, cost.cache_read) == (D("0.0025"), D("0.001"))
    assert (cost.output, cost.reasoning) == (D("0.005"), D("0.015"))
    assert cost.total == D("0.0235")


def test_golden_chat_deepseek_cache_hits_at_litellms_prices(shared: Path) -> None:
    price = litellm_price(shared, "deepseek-chat")
    assert (price.input, price.output, price.cache_read) == (D("0.28"), D("0.42"), D("0.028"))
    usage = chat_usage(
        {"prompt_tokens": 10_000, "completion_tokens": 1000, "prompt_cache_hit_tokens": 6000}
    )
    cost = priced(usage, price)
    # uncached 4000 * 0.28/M = 0.00112; cached 6000 * 0.028/M = 0.000168; 1000 * 0.42/M = 0.00042
    assert (cost.input, cost.cache_read, cost.output) == (D("0.00112"), D("0.000168"), D("0.00042"))
    assert cost.total == D("0.001708")


def test_golden_chat_reasoning_price_of_qwen_turbo(shared: Path) -> None:
    usage = chat_usage(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 600,
            "completion_tokens_details": {"reasoning_tokens": 500},
        }
    )
    for price in (
        models_dev_price(shared, "alibaba", "qwen-turbo"),
        litellm_price(shared, "dashscope/qwen-turbo"),
    ):
        assert (price.input, price.output, price.reasoning) == (D("0.05"), D("0.2"), D("0.5"))
        cost = priced(usage, price)
        # 1000 * 0.05/M = 0.00005; output 100 * 0.2/M = 0.00002; reasoning 500 * 0.5/M = 0.00025
        assert (cost.input, cost.output, cost.reasoning) == (
            D("0.00005"),
            D("0.00002"),
            D("0.00025"),
        )
        assert cost.total == D("0.00032")


def test_golden_chat_gemini_over_200k_prompt_uses_the_long_context_tier(shared: Path) -> None:
    usage = chat_usage(
        {
            "prompt_tokens": 250_000,
            "completion_tokens": 4000,
            "prompt_tokens_details": {"cached_tokens": 50_000},
            "completion_tokens_details": {"reasoning_tokens": 3000},
        }
    )
    for price in (
        models_dev_price(shared, "google", "gemini-2.5-pro"),
        litellm_price(shared, "gemini-2.5-pro"),
    ):
        assert price.long_context is not None
        assert (price.long_context.input, price.long_context.output) == (D("2.5"), D("15"))
        assert price.long_context.cache_read == D("0.25")
        cost = priced(usage, price)
        # uncached 200000 * 2.5/M = 0.5; cached 50000 * 0.25/M = 0.0125
        # output 1000 * 15/M = 0.015; reasoning (output's tier price) 3000 * 15/M = 0.045
        assert (cost.input, cost.cache_read) == (D("0.5"), D("0.0125"))
        assert (cost.output, cost.reasoning) == (D("0.015"), D("0.045"))
        assert cost.total == D("0.5725")
        assert cost.long_context


def test_golden_user_override_replaces_the_catalog_price(shared: Path) -> None:
    catalog = models_dev_price(shared, "anthropic", "claude-sonnet-4-5")
    mine = Price.from_config({"input": "2.4", "output": "12"}, model="claude-sonnet-4-5")
    prices = book(
        [provider("anthropic", listed("claude-sonnet-4-5", ModelCost(input=3, output=15)))],
        [],
        overrides={"anthropic": {"claude-sonnet-4-5": mine}},
    )
    assert prices.price_for("anthropic", "claude-sonnet-4-5") is mine
    usage = messages_usage({"input_tokens": 1000, "output_tokens": 100})
    # override: 1000 * 2.4/M + 100 * 12/M = 0.0024 + 0.0012; catalog: 0.003 + 0.0015
    assert priced(usage, mine).total == D("0.0036")
    assert priced(usage, catalog).total == D("0.0045")


def test_bundled_catalog_prices_match_the_source_data(shared: Path) -> None:
    """Once the generators carry prices, the bundled book prices as the sources do."""
    anthropic = PriceBook.bundled().price_for("anthropic", "claude-sonnet-4-5")
    if anthropic is None or anthropic.source != "provider_catalog":
        pytest.skip("the bundled provider catalog carries no prices yet (regenerate it)")
    expected = models_dev_price(shared, "anthropic", "claude-sonnet-4-5")
    assert anthropic == expected
    o3 = PriceBook.bundled().price_for("openai", "o3")
    if o3 is not None:  # OpenAI has no provider-catalog listing: LiteLLM's own entry, no gateway's
        assert o3 == litellm_price(shared, "o3")


def test_a_catalog_tier_s_own_threshold_decides_when_it_applies() -> None:
    from modelwire.catalog.schema import ModelCost, ModelCostTier

    cost = ModelCost(
        input=2.5, output=15.0, over_200k=ModelCostTier(input=5.0, output=22.5, above_tokens=272000)
    )
    price = Price.from_model_cost(cost, model="gpt-5.4")
    below = cost_of(Usage(input_tokens=250_000, output_tokens=0), price)
    above = cost_of(Usage(input_tokens=272_001, output_tokens=0), price)
    assert below is not None
    assert above is not None
    assert not below.long_context
    assert below.total == D("2.5") * 250_000 / 10**6
    assert above.long_context
    assert above.total == D(5) * 272_001 / 10**6


# --- the golden matrix: every case on every wire API, against one source-data price ----------
#
# openrouter's anthropic/claude-sonnet-4.5 (models.dev), USD per million: input 3, output 15,
# cache read 0.3, cache write 3.75; above 200k prompt tokens input 6, output 22.5, cache read
# 0.6, cache write 7.5; no reasoning price (reasoning bills as output). Each case is the same
# token counts told in each wire's own shape; the expected totals are worked by hand below.

_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], D]] = {
    # name: (chat usage, responses usage, messages usage, expected total)
    # plain: 1000 in * 3 + 500 out * 15 = 3000 + 7500 = 10500 µ$ -> 0.0105
    "plain": (
        {"prompt_tokens": 1000, "completion_tokens": 500},
        {"input_tokens": 1000, "output_tokens": 500},
        {"input_tokens": 1000, "output_tokens": 500},
        D("0.0105"),
    ),
    # cached prompt: 4000 prompt of which 3000 cached: 1000 * 3 + 3000 * 0.3 + 500 * 15
    # = 3000 + 900 + 7500 = 11400 µ$ (Anthropic reports 1000 input + 3000 cache reads)
    "cached prompt": (
        {
            "prompt_tokens": 4000,
            "completion_tokens": 500,
            "prompt_tokens_details": {"cached_tokens": 3000},
        },
        {
            "input_tokens": 4000,
            "output_tokens": 500,
            "input_tokens_details": {"cached_tokens": 3000},
        },
        {"input_tokens": 1000, "cache_read_input_tokens": 3000, "output_tokens": 500},
        D("0.0114"),
    ),
    # cache write: 3000 prompt of which 2000 written: 1000 * 3 + 2000 * 3.75 + 500 * 15
    # = 3000 + 7500 + 7500 = 18000 µ$
    "cache write": (
        {
            "prompt_tokens": 3000,
            "completion_tokens": 500,
            "prompt_tokens_details": {"cache_write_tokens": 2000},
        },
        {
            "input_tokens": 3000,
            "output_tokens": 500,
            "input_tokens_details": {"cache_write_tokens": 2000},
        },
        {"input_tokens": 1000, "cache_creation_input_tokens": 2000, "output_tokens": 500},
        D("0.018"),
    ),
    # reasoning: 1000 in * 3 + (200 output + 800 reasoning) * 15 = 3000 + 15000 = 18000 µ$
    "reasoning": (
        {
            "prompt_tokens": 1000,
            "completion_tokens": 1000,
            "completion_tokens_details": {"reasoning_tokens": 800},
        },
        {
            "input_tokens": 1000,
            "output_tokens": 1000,
            "output_tokens_details": {"reasoning_tokens": 800},
        },
        {
            "input_tokens": 1000,
            "output_tokens": 1000,
            "output_tokens_details": {"thinking_tokens": 800},
        },
        D("0.018"),
    ),
    # over 200k: 250000 prompt of which 50000 cached, 1000 out, all at the tier:
    # 200000 * 6 + 50000 * 0.6 + 1000 * 22.5 = 1200000 + 30000 + 22500 = 1252500 µ$
    "over 200k": (
        {
            "prompt_tokens": 250_000,
            "completion_tokens": 1000,
            "prompt_tokens_details": {"cached_tokens": 50_000},
        },
        {
            "input_tokens": 250_000,
            "output_tokens": 1000,
            "input_tokens_details": {"cached_tokens": 50_000},
        },
        {"input_tokens": 200_000, "cache_read_input_tokens": 50_000, "output_tokens": 1000},
        D("1.2525"),
    ),
}
_DECODERS = {"chat": chat_usage, "responses": responses_usage, "messages": messages_usage}


@pytest.mark.parametrize("wire", list(_DECODERS))
@pytest.mark.parametrize("case", list(_CASES))
def test_golden_every_case_on_every_wire_api(shared: Path, wire: str, case: str) -> None:
    price = models_dev_price(shared, "openrouter", "anthropic/claude-sonnet-4.5")
    assert (price.input, price.output, price.cache_read, price.cache_write) == (
        D("3"),
        D("15"),
        D("0.3"),
        D("3.75"),
    )
    chat, responses, messages = _CASES[case][:3]
    raw = {"chat": chat, "responses": responses, "messages": messages}[wire]
    cost = priced(_DECODERS[wire](raw), price)
    assert cost.total == _CASES[case][3]
    assert cost.total == cost.input + cost.cache_read + cost.cache_write + cost.output + (
        cost.reasoning
    )
    assert cost.long_context is (case == "over 200k")


@pytest.mark.parametrize("wire", list(_DECODERS))
def test_golden_unknown_model_and_user_override_on_every_wire_api(wire: str) -> None:
    book = PriceBook.bundled(
        {"mine": {"my-model": Price.from_config({"input": "1", "output": "2"}, model="my-model")}}
    )
    usage = _DECODERS[wire](_CASES["plain"][{"chat": 0, "responses": 1, "messages": 2}[wire]])
    assert book.price_for("mine", "no-such-model-anywhere") is None
    override = book.price_for("mine", "my-model")
    assert override is not None
    # 1000 * 1 + 500 * 2 = 2000 µ$
    assert priced(usage, override).total == D("0.002")
