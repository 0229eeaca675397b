"""The model picker: which models a provider offers, and what is known about each.

Two passes, as the seed's "Model Picker Behavior" describes. First the provider's own listing
endpoint is asked (its wire API's shape, pagination and auth; a time budget of 5 s by default),
because only the provider knows what this key can use today. Then the bundled catalogs fill in
what the endpoint does not say: the provider catalog (matched by the rules in
``_model_match``) and the compatibility catalog (matched by model id or alias).

* When the endpoint answers, its ids are the list; the catalogs only describe them. An id the
  compatibility catalog marks hidden (embeddings, speech, image models) is left out unless the
  provider catalog lists it, and the ids left out are reported in ``ModelList.hidden``.
* When it cannot be asked (no credentials, offline, an error, the budget spent) the last good
  answer is used if there is one (``stale``), else the provider catalog seeds the list. Either
  way ``warning`` says why, and nothing is raised: a picker with a catalog list is still useful.
* The two Amazon Bedrock built-ins make no listing call (spec §5): their models are the
  hand-written lists in ``catalogs/bedrock_models.json`` (``ListSource.BUILT_IN``), with no
  warning. Each entry names the OpenAI model it serves; that model's compatibility entry gives
  the description, reasoning control and levels and input modalities, and the list gives the
  rest (name, priority, Bedrock's context window, extra levels such as ``max``, web search).
* OpenAI's own API is in no provider catalog (models.dev gives it no base URL), so when its
  endpoint cannot be asked (typically: no key yet) the compatibility catalog seeds the list
  with OpenAI's models: LiteLLM names them without a provider prefix, and its other unprefixed
  ids (Bedrock's ``vendor.model``, Anthropic's ``claude-…``) are told apart by OpenAI's model
  families (``gpt-``, ``o1``…``o9``, ``chatgpt-``, ``codex-``, ``computer-use-``).

Reasoning levels are never derived from a "reasons: yes" flag; they come only from the
compatibility catalog, whose generator already applied the explicit overrides (and, for
Bedrock, from the extra levels its built-in list names). Merging rules, field by field:
display name, description, context window, modalities and priority come from the provider
catalog first (it describes this provider's offering), then the endpoint (display name only),
then the compatibility catalog. The reasoning control is the compatibility catalog's when it
names one, else a thinking toggle, else "effort" for a model the provider catalog says reasons
(with no levels known); the default level is ``medium`` for any model that reasons or has a
toggle. Web search is the compatibility catalog's ``supports_search_tool``:
text and image results for a model that takes images, text only otherwise (``WebSearch``).

Prices come last, from a ``PriceBook`` when the caller passes one (``pricing``: the user's
config, then the provider catalog, then the compatibility catalog). Each model is looked up
under the listing's provider id with its matched catalog provider as ``catalog_id``, so a
config provider fronting a catalog provider (an Anthropic proxy on loopback) finds that
provider's own prices while the user's overrides stay keyed by the user's id. Without a book,
or when nothing knows a model, ``Model.price`` is ``None``: unknown, never free.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import msgspec

from ._model_cache import DEFAULT_TTL_S, CachedListing, ModelCache
from ._model_match import CatalogMatch, MatchRule, match_catalog_provider
from .builtins import AMAZON_BEDROCK_ID, BEDROCK_IDS, OPENAI_ID
from .catalog.bundled import (
    BundledCompatibilityCatalog,
    bedrock_model_catalog,
    compatibility_catalog,
    provider_catalog,
)
from .catalog.schema import (
    BedrockModel,
    CatalogModel,
    CatalogProvider,
    CompatibilityEntry,
    ReasoningControl,
    Visibility,
    WebSearch,
)
from .errors import ModelwireError
from .pricing import Price, PriceBook
from .wire.listing import ListedModel

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "DEFAULT_LIST_TIMEOUT_S",
    "DEFAULT_TTL_S",
    "UNRANKED_PRIORITY",
    "ListSource",
    "MatchRule",
    "Model",
    "ModelCache",
    "ModelList",
    "ModelSource",
    "ReasoningControl",
    "WebSearch",
    "build_model",
    "list_models",
    "merge_endpoint_models",
    "price_listing",
    "seed_bedrock_models",
    "seed_catalog_models",
    "seed_openai_models",
]

DEFAULT_LIST_TIMEOUT_S = 5.0
UNRANKED_PRIORITY = 1_000_000
"""The priority of a model no catalog ranks: after every catalog-ranked one."""
DEFAULT_REASONING_LEVEL = "medium"
OPENAI_API_HOST = "api.openai.com"
_OPENAI_FAMILY = re.compile(r"(gpt-|o[1-9]|chatgpt-|codex-|computer-use-)")


class ModelSource(enum.StrEnum):
    """What contributed to one model's entry."""

    ENDPOINT = "endpoint"
    CATALOG = "catalog"
    COMPATIBILITY = "compatibility"
    BUILT_IN = "built-in"
    """The built-in model list of an Amazon Bedrock provider (``bedrock_models.json``)."""


class ListSource(enum.StrEnum):
    """Where a list's ids came from."""

    ENDPOINT = "endpoint"
    """The provider's listing endpoint (just now, from the cache, or — ``stale`` — earlier)."""
    CATALOG = "catalog"
    """The bundled provider catalog, because the endpoint could not be asked."""
    COMPATIBILITY = "compatibility"
    """The compatibility catalog (OpenAI's models, when its endpoint cannot be asked)."""
    BUILT_IN = "built-in"
    """The provider's built-in model list (both Amazon Bedrock built-ins, which have no
    listing call): always this list, never a fallback, so no warning."""
    NONE = "none"
    """Nothing: the endpoint could not be asked and no catalog knows the provider."""


class Model(msgspec.Struct, frozen=True, kw_only=True):
    """One model as the picker shows it."""

    id: str
    display_name: str
    description: str | None
    context_window: int | None
    reasoning_control: ReasoningControl
    default_reasoning_level: str | None
    """``medium`` when the model reasons or has a thinking toggle, else ``None``."""
    supported_reasoning_levels: tuple[str, ...]
    """From the compatibility catalog only; empty when it does not know them."""
    supports_thinking_toggle: bool
    input_modalities: tuple[str, ...]
    priority: int
    sources: tuple[ModelSource, ...]
    web_search: WebSearch | None = None
    """What the hosted web-search tool returns for this model; ``None`` when it has none (or
    nothing says it does)."""
    price: Price | None = None
    """Its price at this provider (USD per million tokens, with its ``source``); ``None`` when
    the list was built without a ``PriceBook`` or nothing knows the model's price."""


class ModelList(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's models, sorted by priority then display name, and how they were found."""

    provider_id: str
    models: tuple[Model, ...]
    source: ListSource
    catalog_provider: str | None = None
    """The bundled catalog provider that supplied metadata or seeded the list."""
    matched_by: MatchRule | None = None
    fetched_at: float | None = None
    """When the endpoint's answer arrived (the cache's clock), for endpoint lists."""
    cached: bool = False
    """Served from the cache, within its TTL, without asking the endpoint."""
    stale: bool = False
    """The endpoint failed just now; this is its last good answer."""
    warning: str | None = None
    """Why the list is not the endpoint's current answer; ``None`` when it is (or, for
    Bedrock, when no endpoint exists to ask)."""
    hidden: tuple[str, ...] = ()
    """Endpoint ids left out because the compatibility catalog hides them."""

    @property
    def catalog_only(self) -> bool:
        """Whether the ids came from a catalog rather than the provider."""
        return self.source is not ListSource.ENDPOINT

    def get(self, model_id: str) -> Model | None:
        return next((m for m in self.models if m.id == model_id), None)


def _reasoning(
    catalog: CatalogModel | None, compat: CompatibilityEntry | None
) -> tuple[ReasoningControl, bool, bool]:
    """(control, reasons, thinking toggle).

    A compatibility entry's effort control is explicit metadata (it came with levels) and wins.
    Its "none" is not: LiteLLM leaves flags out rather than setting them false, so then the
    provider catalog decides — a thinking toggle (an explicit override there) before its bare
    "reasons" flag, which gives an effort control with no levels known.
    """
    toggle = bool(catalog and catalog.thinking_toggle) or bool(
        compat and compat.supports_thinking_toggle
    )
    control: ReasoningControl
    if compat is not None and compat.reasoning_control is not ReasoningControl.NONE:
        control = compat.reasoning_control
    elif toggle:
        control = ReasoningControl.THINKING_TOGGLE
    elif catalog is not None and catalog.reasoning:
        control = ReasoningControl.EFFORT
    else:
        control = ReasoningControl.NONE
    reasons = control is ReasoningControl.EFFORT or bool(catalog and catalog.reasoning)
    return control, reasons, toggle


def build_model(
    model_id: str,
    *,
    listed: ListedModel | None = None,
    catalog: CatalogModel | None = None,
    compat: CompatibilityEntry | None = None,
) -> Model:
    """One model from whatever each source knows about it (see the module's merge rules)."""
    control, reasons, toggle = _reasoning(catalog, compat)
    sources = tuple(
        source
        for source, present in (
            (ModelSource.ENDPOINT, listed),
            (ModelSource.CATALOG, catalog),
            (ModelSource.COMPATIBILITY, compat),
        )
        if present is not None
    )
    modalities = tuple(
        (catalog.input_modalities if catalog else None)
        or (compat.input_modalities if compat else None)
        or ("text",)
    )
    return Model(
        id=model_id,
        display_name=(catalog.display_name if catalog else None)
        or (listed.display_name if listed else None)
        or model_id,
        description=(catalog.description if catalog else None)
        or (compat.description if compat else None),
        context_window=(catalog.context_window if catalog else None)
        or (compat.context_window if compat else None),
        reasoning_control=control,
        default_reasoning_level=DEFAULT_REASONING_LEVEL if reasons or toggle else None,
        supported_reasoning_levels=tuple(compat.supported_reasoning_levels) if compat else (),
        supports_thinking_toggle=toggle,
        input_modalities=modalities,
        priority=catalog.priority if catalog else UNRANKED_PRIORITY,
        sources=sources,
        web_search=_web_search(compat, modalities),
    )


def _web_search(compat: CompatibilityEntry | None, modalities: tuple[str, ...]) -> WebSearch | None:
    """Image results only for a model that can take an image in."""
    if compat is None or not compat.supports_search_tool:
        return None
    return WebSearch.TEXT_AND_IMAGE if "image" in modalities else WebSearch.TEXT


def _sorted(models: Iterable[Model]) -> tuple[Model, ...]:
    return tuple(sorted(models, key=lambda m: (m.priority, m.display_name.casefold(), m.id)))


def merge_endpoint_models(
    listed: Sequence[ListedModel],
    catalog_provider: CatalogProvider | None,
    compat: BundledCompatibilityCatalog,
) -> tuple[tuple[Model, ...], tuple[str, ...]]:
    """(models, hidden ids): the endpoint's ids, described by the catalogs."""
    known = {m.id: m for m in catalog_provider.models} if catalog_provider else {}
    models: list[Model] = []
    hidden: list[str] = []
    seen: set[str] = set()
    for item in listed:
        if item.id in seen:
            continue
        seen.add(item.id)
        catalog = known.get(item.id)
        entry = compat.get(item.id)
        if catalog is None and entry is not None and entry.visibility is Visibility.HIDE:
            hidden.append(item.id)
            continue
        models.append(build_model(item.id, listed=item, catalog=catalog, compat=entry))
    return _sorted(models), tuple(hidden)


def seed_catalog_models(
    catalog_provider: CatalogProvider, compat: BundledCompatibilityCatalog
) -> tuple[Model, ...]:
    """The provider catalog's models for this provider, described by both catalogs."""
    return _sorted(
        build_model(m.id, catalog=m, compat=compat.get(m.id)) for m in catalog_provider.models
    )


def seed_bedrock_models(
    compat: BundledCompatibilityCatalog, provider_id: str = AMAZON_BEDROCK_ID
) -> tuple[Model, ...]:
    """An Amazon Bedrock built-in's models (default: Mantle's), from its built-in list.

    Raises ``ValueError`` for a provider id that has no built-in list."""
    entries = bedrock_model_catalog().models(provider_id)
    if entries is None:
        raise ValueError(
            f"{provider_id!r} has no built-in model list (Bedrock's are for "
            f"{' and '.join(BEDROCK_IDS)})"
        )
    return _sorted(_bedrock_model(entry, compat) for entry in entries)


def _bedrock_model(entry: BedrockModel, compat: BundledCompatibilityCatalog) -> Model:
    """One built-in list entry, described by its base model's compatibility entry.

    The extra levels extend the base model's known levels. When the compatibility catalog does
    not know the base model there are none to extend, and the entry shows no reasoning
    metadata at all rather than a lone ``max`` under no control."""
    base = compat.get(entry.base_model)
    model = build_model(entry.id, compat=base)
    levels = model.supported_reasoning_levels
    if levels:
        levels += tuple(level for level in entry.extra_reasoning_levels if level not in levels)
    return msgspec.structs.replace(
        model,
        display_name=entry.display_name,
        context_window=entry.context_window,
        supported_reasoning_levels=levels,
        priority=entry.priority,
        sources=(ModelSource.BUILT_IN, *model.sources),
        web_search=entry.web_search,
    )


def seed_openai_models(compat: BundledCompatibilityCatalog) -> tuple[Model, ...]:
    """OpenAI's listed models, as the compatibility catalog knows them (see the module's
    docstring for the id rule)."""
    return _sorted(
        build_model(entry.id, compat=entry)
        for entry in compat
        if entry.visibility is not Visibility.HIDE
        and "/" not in entry.id
        and _OPENAI_FAMILY.match(entry.id)
    )


def _is_openai_api(provider_id: str, base_url: str) -> bool:
    """The built-in ``openai`` (whatever its sign-in), or any provider on OpenAI's own host."""
    return provider_id == OPENAI_ID or urlsplit(base_url).hostname == OPENAI_API_HOST


async def list_models(
    client: Client,
    provider_id: str,
    *,
    cache: ModelCache,
    refresh: bool = False,
    timeout_s: float = DEFAULT_LIST_TIMEOUT_S,
    prices: PriceBook | None = None,
) -> ModelList:
    """What ``Client.list_models`` does, each model priced from ``prices`` when given (see
    ``price_listing``). Raises only for the caller's mistakes (an unknown provider id, a
    budget that is not positive), never for an endpoint that cannot be asked."""
    listing = await _unpriced(
        client, provider_id, cache=cache, refresh=refresh, timeout_s=timeout_s
    )
    return listing if prices is None else price_listing(listing, prices)


def price_listing(listing: ModelList, prices: PriceBook) -> ModelList:
    """``listing`` with each model's price from ``prices``, looked up under the listing's
    provider and its matched catalog provider (the module docstring says why both)."""
    priced = tuple(
        msgspec.structs.replace(
            model,
            price=prices.price_for(
                listing.provider_id, model.id, catalog_id=listing.catalog_provider
            ),
        )
        for model in listing.models
    )
    return msgspec.structs.replace(listing, models=priced)


async def _unpriced(
    client: Client, provider_id: str, *, cache: ModelCache, refresh: bool, timeout_s: float
) -> ModelList:
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be more than 0, got {timeout_s}")
    provider = client.registry.get(provider_id)
    compat = compatibility_catalog()
    if provider.id in BEDROCK_IDS:
        return ModelList(
            provider_id=provider.id,
            models=seed_bedrock_models(compat, provider.id),
            source=ListSource.BUILT_IN,
        )
    match = match_catalog_provider(provider.info, provider_catalog())
    base_url = provider.info.effective_base_url
    previous = await cache.lookup(provider.id, base_url)
    if previous is not None and not refresh and cache.is_fresh(previous):
        return _from_endpoint(provider.id, previous, match, compat, cached=True)
    listed: list[ListedModel] | None = None
    reason = f"no answer within {timeout_s:g} s"
    with anyio.move_on_after(timeout_s):
        try:
            listed = await client.endpoint_models(provider.id)
        except ModelwireError as exc:
            reason = str(exc)
    if listed is not None:
        entry = await cache.store(provider.id, base_url, listed)
        return _from_endpoint(provider.id, entry, match, compat)
    failed = f"{provider.id}: the model endpoint could not be asked ({reason})"
    if previous is not None:
        warning = f"{failed}; showing its last good list, from {_ago(cache.age_s(previous))}"
        return _from_endpoint(provider.id, previous, match, compat, stale=True, warning=warning)
    if match is None and _is_openai_api(provider.id, base_url):
        return ModelList(
            provider_id=provider.id,
            models=seed_openai_models(compat),
            source=ListSource.COMPATIBILITY,
            warning=f"{failed}; showing the compatibility catalog's OpenAI models",
        )
    if match is None:
        return ModelList(
            provider_id=provider.id,
            models=(),
            source=ListSource.NONE,
            warning=f"{failed}, and no bundled catalog matches this provider",
        )
    return ModelList(
        provider_id=provider.id,
        models=seed_catalog_models(match.provider, compat),
        source=ListSource.CATALOG,
        catalog_provider=match.provider.id,
        matched_by=match.rule,
        warning=f"{failed}; showing the bundled catalog's models for {match.provider.name}",
    )


def _from_endpoint(
    provider_id: str,
    entry: CachedListing,
    match: CatalogMatch | None,
    compat: BundledCompatibilityCatalog,
    *,
    cached: bool = False,
    stale: bool = False,
    warning: str | None = None,
) -> ModelList:
    models, hidden = merge_endpoint_models(entry.models, match.provider if match else None, compat)
    return ModelList(
        provider_id=provider_id,
        models=models,
        source=ListSource.ENDPOINT,
        catalog_provider=match.provider.id if match else None,
        matched_by=match.rule if match else None,
        fetched_at=entry.fetched_at,
        cached=cached,
        stale=stale,
        warning=warning,
        hidden=hidden,
    )


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute ago"
    if minutes < 60:
        count, unit = minutes, "minute"
    elif minutes < 1440:
        count, unit = minutes // 60, "hour"
    else:
        count, unit = minutes // 1440, "day"
    return f"{count} {unit}{'' if count == 1 else 's'} ago"
