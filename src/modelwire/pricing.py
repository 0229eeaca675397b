"""What a call cost: one price per call, applied once to each bucket of the normalized usage.

**Buckets.** ``cost_of`` reads only the normalized ``Usage``, whose ``input_tokens`` is the whole
prompt on every wire API (cache reads and cache writes included) and whose ``output_tokens``
include reasoning. It splits them into five disjoint buckets, so no token is billed twice:

- cache read = ``cached_input_tokens``; cache write = ``cache_write_input_tokens``;
- uncached input = ``input_tokens`` - cache read - cache write (never below 0);
- reasoning = ``min(reasoning_tokens, output_tokens)``; output = ``output_tokens`` - reasoning.

How each wire API's report arrives there (the decoders in ``wire/``):

- Chat Completions: ``prompt_tokens`` already include the cached tokens, reported as
  ``prompt_tokens_details.cached_tokens`` (DeepSeek: ``prompt_cache_hit_tokens``; some
  gateways: a top-level ``cached_tokens``); ``completion_tokens`` include
  ``completion_tokens_details.reasoning_tokens``.
- Responses: ``input_tokens`` include ``input_tokens_details.cached_tokens``; ``output_tokens``
  include ``output_tokens_details.reasoning_tokens``.
- Messages: Anthropic's ``input_tokens`` exclude ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``; the decoder adds both back, so the normalized prompt is
  their sum and the subtraction above recovers Anthropic's own ``input_tokens``.

**Rates.** Cache reads are priced at the cache-read price, else the input price; cache writes
at the cache-write price, else the input price (a provider that lists no cache price is
assumed to charge its input price, which for Anthropic's writes, 1.25x input, undercounts);
reasoning at the reasoning price, else the output price. When the whole prompt
(``input_tokens``) exceeds ``long_context_threshold`` and the price has a ``long_context``
tier, every bucket uses the tier's price, falling back per bucket to the base price where the
tier has none. A bucket that holds tokens but has no price at all makes the cost unknown:
``None``, never 0, because a missing price is not a free one.

**Which price.** ``PriceBook.price_for`` takes the first of: (1) the user's override from
config; (2) the provider catalog's listing of this model under this provider (models.dev's
price at that provider; a router's listing of the same model is not the first party's price,
so only the provider's own listing counts); (3) the compatibility catalog (LiteLLM's prices):
first the entry whose id is exactly ``provider/model`` (LiteLLM files other providers' prices
that way: ``groq/…``, ``mistral/…``), then the model id as ``BundledCompatibilityCatalog.get``
matches it everywhere else (exact id, then unique alias). The qualified id is not looked up as
an alias, because ``openai/o3`` is also the tail of a gateway's ``vercel_ai_gateway/openai/o3``.

**Why Decimal.** Amounts are ``decimal.Decimal`` USD, not integer micro-dollars: per-token
prices are fractions of a micro-dollar (one token at $0.10 per million is 0.1 micro-dollars),
so integers would round a small call to 0 and a sum of many calls would drift. The catalogs'
prices are short decimals, which ``Decimal`` holds exactly (floats are converted through their
shortest ``repr``, never through float arithmetic), so every bucket and the total are exact.
``msgspec.json.encode`` writes a ``Decimal`` as a JSON string in Decimal's own notation
(``"0.0048"``, ``"3E-7"``), which keeps it exact on the way out too (a JSON number would be
read back as a float by most decoders); ``Cost.usd`` rounds for display only.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final, Literal

import msgspec

from .catalog.bundled import (
    BundledCompatibilityCatalog,
    BundledProviderCatalog,
    compatibility_catalog,
    provider_catalog,
)
from .catalog.schema import CatalogModel, ModelCost, TokenPrices
from .wire.events import Usage

__all__ = [
    "LONG_CONTEXT_THRESHOLD",
    "Cost",
    "Price",
    "PriceBook",
    "PriceSource",
    "PriceTier",
    "PricedUsage",
    "cost_of",
]

PriceSource = Literal["provider_catalog", "compatibility_catalog", "config"]

LONG_CONTEXT_THRESHOLD: Final = 200_000
"""Prompt tokens above which a long-context tier applies (models.dev ``context_over_200k``,
LiteLLM ``*_above_200k_tokens``)."""

_EXACT: Final = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN)
"""Room for any token count times any catalog price without rounding (the default context
keeps 28 digits, which a large count times a long price could exceed)."""

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)


class PriceTier(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Prices above the long-context threshold, USD per million tokens; ``None``: the base
    price applies to that bucket."""

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None


class Price(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One model's price at one provider, USD per million tokens, and where it came from.

    ``None`` in a field means the source does not say; see the module docstring for the
    fallbacks ``cost_of`` applies.
    """

    model: str
    """The catalog id (or, for an override, the configured model) the price belongs to."""
    source: PriceSource
    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    long_context: PriceTier | None = None
    long_context_threshold: int = LONG_CONTEXT_THRESHOLD

    @classmethod
    def from_model_cost(
        cls,
        cost: ModelCost,
        *,
        model: str,
        long_context_threshold: int = LONG_CONTEXT_THRESHOLD,
    ) -> Price:
        """A provider catalog (models.dev) price, already per million tokens.

        models.dev files a model's first long-prompt tier as ``over_200k`` even when its real
        threshold differs (272k for some GPT-5 models), so the threshold is a parameter.
        """
        what = f"provider catalog price of {model}"
        tier = cost.over_200k
        if tier is not None and tier.above_tokens is not None:
            long_context_threshold = tier.above_tokens
        return cls(
            model=model,
            source="provider_catalog",
            input=_per_million(cost.input, what),
            output=_per_million(cost.output, what),
            cache_read=_per_million(cost.cache_read, what),
            cache_write=_per_million(cost.cache_write, what),
            reasoning=_per_million(cost.reasoning, what),
            long_context=None
            if tier is None
            else _tier(
                _per_million(tier.input, what),
                _per_million(tier.output, what),
                _per_million(tier.cache_read, what),
                _per_million(tier.cache_write, what),
            ),
            long_context_threshold=long_context_threshold,
        )

    @classmethod
    def from_token_prices(cls, prices: TokenPrices, *, model: str) -> Price:
        """A compatibility catalog (LiteLLM) price: USD per token, moved to per million by
        shifting the decimal point of the float's shortest ``repr`` (3.75e-06 -> 3.75)."""
        what = f"compatibility catalog price of {model}"
        p = prices
        return cls(
            model=model,
            source="compatibility_catalog",
            input=_per_token(p.input_cost_per_token, what),
            output=_per_token(p.output_cost_per_token, what),
            cache_read=_per_token(p.cache_read_input_token_cost, what),
            cache_write=_per_token(p.cache_creation_input_token_cost, what),
            reasoning=_per_token(p.output_cost_per_reasoning_token, what),
            long_context=_tier(
                _per_token(p.input_cost_per_token_above_200k_tokens, what),
                _per_token(p.output_cost_per_token_above_200k_tokens, what),
                _per_token(p.cache_read_input_token_cost_above_200k_tokens, what),
                _per_token(p.cache_creation_input_token_cost_above_200k_tokens, what),
            ),
        )

    @classmethod
    def from_config(cls, mapping: Mapping[str, object], *, model: str) -> Price:
        """A user's override, USD per million tokens: numbers or numeric strings (a string
        keeps a price like ``"0.075"`` exact in formats whose numbers are floats).

        Raises ``ValueError`` naming the key for an unknown key, a value that is not a finite
        number, or a negative one.
        """
        base: dict[str, Decimal] = {}
        tier: dict[str, Decimal] = {}
        for key, value in mapping.items():
            if key in _BASE_KEYS:
                base[key] = _config_amount(key, value)
            elif key.endswith(_TIER_SUFFIX) and key.removesuffix(_TIER_SUFFIX) in _TIER_KEYS:
                tier[key.removesuffix(_TIER_SUFFIX)] = _config_amount(key, value)
            else:
                known = ", ".join([*_BASE_KEYS, *(k + _TIER_SUFFIX for k in _TIER_KEYS)])
                raise ValueError(f"unknown price key {key!r} (known: {known})")
        return cls(
            model=model,
            source="config",
            input=base.get("input"),
            output=base.get("output"),
            cache_read=base.get("cache_read"),
            cache_write=base.get("cache_write"),
            reasoning=base.get("reasoning"),
            long_context=_tier(
                tier.get("input"),
                tier.get("output"),
                tier.get("cache_read"),
                tier.get("cache_write"),
            ),
        )


_NO_TIER: Final = PriceTier()
"""Below the threshold (or without a tier) every tier price is absent: the base applies."""

_BASE_KEYS: Final = ("input", "output", "cache_read", "cache_write", "reasoning")
_TIER_KEYS: Final = ("input", "output", "cache_read", "cache_write")
_TIER_SUFFIX: Final = "_above_200k"


class Cost(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """What one call cost, exactly, by bucket (see the module docstring for why ``Decimal``).

    ``total`` is the exact sum of the five parts. ``long_context`` says the long-context tier's
    prices were used.
    """

    total: Decimal
    input: Decimal
    """Uncached input only: cache reads and writes are their own buckets."""
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    """Output other than reasoning."""
    reasoning: Decimal
    model: str
    source: PriceSource
    long_context: bool
    currency: str = "USD"

    def usd(self, places: int = 6) -> str:
        """``total`` rounded half-even to ``places`` decimals, for display (``"0.004500"``)."""
        if places < 0:
            raise ValueError(f"places must be >= 0, not {places}")
        step = Decimal(1).scaleb(-places)
        return format(self.total.quantize(step, context=_EXACT), "f")


class PricedUsage(Usage, frozen=True, gc=False, kw_only=True):
    """A usage report with its cost: what the client puts in a stream (and a ``Response``)
    in place of the codec's ``Usage`` when the model's price is known.

    A subclass, so ``isinstance(event, Usage)`` and ``case Usage(...)`` keep matching and
    ``usage.cost`` reads the same on both (``Usage.cost`` is ``None``); its JSON is the usage
    event's plus a ``cost`` object whose amounts are exact strings.
    """

    cost: Cost

    @classmethod
    def of(cls, usage: Usage, cost: Cost) -> PricedUsage:
        """``usage``'s counts, unchanged, with ``cost``."""
        counts = {name: getattr(usage, name) for name in Usage.__struct_fields__}
        return cls(**counts, cost=cost)


def cost_of(usage: Usage, price: Price) -> Cost | None:
    """The cost of ``usage`` at ``price``, or ``None`` when a bucket with tokens has no price."""
    cache_read = max(usage.cached_input_tokens, 0)
    cache_write = max(usage.cache_write_input_tokens, 0)
    uncached = max(usage.input_tokens - cache_read - cache_write, 0)
    all_output = max(usage.output_tokens, 0)
    reasoning = min(max(usage.reasoning_tokens, 0), all_output)
    output = all_output - reasoning

    tier = price.long_context
    if tier is None or usage.input_tokens <= price.long_context_threshold:
        tier = _NO_TIER
    input_rate = _first(tier.input, price.input)
    output_rate = _first(tier.output, price.output)
    buckets = (
        (uncached, input_rate),
        (cache_read, _first(tier.cache_read, price.cache_read, input_rate)),
        (cache_write, _first(tier.cache_write, price.cache_write, input_rate)),
        (output, output_rate),
        (reasoning, _first(price.reasoning, output_rate)),
    )
    parts: list[Decimal] = []
    for tokens, rate in buckets:
        if tokens == 0:
            parts.append(_ZERO)
        elif rate is None:
            return None
        else:
            parts.append(_tidy(_EXACT.multiply(Decimal(tokens), rate).scaleb(-6, _EXACT)))
    total = _ZERO
    for part in parts:
        total = _EXACT.add(total, part)
    total = _tidy(total)
    return Cost(
        total=total,
        input=parts[0],
        cache_read=parts[1],
        cache_write=parts[2],
        output=parts[3],
        reasoning=parts[4],
        model=price.model,
        source=price.source,
        long_context=tier is not _NO_TIER,
    )


_CACHE_LIMIT: Final = 4096
"""Distinct (provider, model) answers kept; past it the cache starts over (a bound, not a
policy: real programs call a handful of models)."""


class PriceBook:
    """The price for each call, in the order the module docstring gives, with each answer
    (unknown included) cached because it is asked on every call."""

    __slots__ = ("_cache", "_compatibility", "_listings", "_overrides", "_providers")

    def __init__(
        self,
        *,
        providers: BundledProviderCatalog | Callable[[], BundledProviderCatalog],
        compatibility: BundledCompatibilityCatalog | Callable[[], BundledCompatibilityCatalog],
        overrides: Mapping[str, Mapping[str, Price]] | None = None,
    ) -> None:
        """The catalogs, or functions that load them: a book made with every client loads
        nothing until a reply's price is first asked, and an override never loads them."""
        self._providers = providers
        self._compatibility = compatibility
        self._overrides = {pid: dict(models) for pid, models in (overrides or {}).items()}
        self._listings: dict[str, dict[str, CatalogModel]] = {}
        self._cache: dict[tuple[str, str, str | None], Price | None] = {}

    @classmethod
    def bundled(cls, overrides: Mapping[str, Mapping[str, Price]] | None = None) -> PriceBook:
        """A book over the bundled catalogs (decoded once per process)."""
        return cls(
            providers=provider_catalog,
            compatibility=compatibility_catalog,
            overrides=overrides,
        )

    def price_for(
        self, provider_id: str, model: str, *, catalog_id: str | None = None
    ) -> Price | None:
        """The price of ``model`` at ``provider_id``, or ``None`` when nothing knows it.

        ``catalog_id`` is the catalog provider ``provider_id`` was matched to
        (``_model_match``) when the user's id is not the catalog's; overrides stay keyed by
        the user's id.
        """
        key = (provider_id, model, catalog_id)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._find(provider_id, model, catalog_id or provider_id)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _find(self, provider_id: str, model: str, catalog_id: str) -> Price | None:
        override = self._overrides.get(provider_id, {}).get(model)
        if override is not None:
            return override
        listed = self._listing(catalog_id).get(model)
        if listed is not None and listed.cost is not None:
            return Price.from_model_cost(listed.cost, model=listed.id)
        compatibility = self._compatibility
        if not isinstance(compatibility, BundledCompatibilityCatalog):
            compatibility = self._compatibility = compatibility()
        qualified = compatibility.get(f"{catalog_id}/{model}")
        if qualified is not None and qualified.id != f"{catalog_id}/{model}":
            qualified = None  # an alias: "openai/o3" is also the tail of a gateway's id
        for entry in (qualified, compatibility.get(model)):
            if entry is not None and entry.prices is not None:
                return Price.from_token_prices(entry.prices, model=entry.id)
        return None

    def _listing(self, catalog_id: str) -> dict[str, CatalogModel]:
        """The provider's own models by id, indexed on first use."""
        listing = self._listings.get(catalog_id)
        if listing is None:
            providers = self._providers
            if not isinstance(providers, BundledProviderCatalog):
                providers = self._providers = providers()
            provider = providers.get(catalog_id)
            listing = {m.id: m for m in provider.models} if provider is not None else {}
            self._listings[catalog_id] = listing
        return listing


def _tidy(amount: Decimal) -> Decimal:
    """The same amount without trailing zeros (``0.0048``, not ``0.004800``), and never in
    exponent form for a whole number (``2400``, not ``2.4E+3``): the value is unchanged."""
    if amount == amount.to_integral_value():
        return amount.quantize(_ONE, context=_EXACT)
    return amount.normalize(_EXACT)


def _first(*rates: Decimal | None) -> Decimal | None:
    for rate in rates:
        if rate is not None:
            return rate
    return None


def _tier(
    input: Decimal | None,
    output: Decimal | None,
    cache_read: Decimal | None,
    cache_write: Decimal | None,
) -> PriceTier | None:
    if input is None and output is None and cache_read is None and cache_write is None:
        return None
    return PriceTier(input=input, output=output, cache_read=cache_read, cache_write=cache_write)


def _exact(value: float, what: str) -> Decimal:
    """A catalog float as the decimal it was written as: ``repr`` is the shortest string that
    reads back as the same float, i.e. the source's own digits (3.75e-06, not 3.7499…)."""
    amount = Decimal(repr(value))
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what}: {value!r} is not a price")
    return _tidy(amount)


def _per_million(value: float | None, what: str) -> Decimal | None:
    return None if value is None else _exact(value, what)


def _per_token(value: float | None, what: str) -> Decimal | None:
    return None if value is None else _tidy(_exact(value, what).scaleb(6, _EXACT))


def _config_amount(key: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"price {key!r} must be a number or a numeric string, not {value!r}")
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except decimal.InvalidOperation:
        raise ValueError(f"price {key!r} is not a number: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"price {key!r} is not a finite number: {value!r}")
    if amount < 0:
        raise ValueError(f"price {key!r} is negative: {value!r}")
    return _tidy(amount)
