"""The hosted-provider catalog generator: models.dev + live model lists → ``provider_catalog.json``.

The rules live in code and the choices in ``catalogs/provider_catalog_overrides.json``, so a
reviewer can see in one diff what changed in the bundled providers and why. Every source
problem (an unreachable URL, a live list without credentials, an empty live list) is a
``CatalogError`` that names the source: a generator that quietly keeps stale data produces
a catalog nobody can trust.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from ..errors import CatalogError
from ..providers import WireApi
from .io import decode_overrides, read_source, write_catalog
from .schema import CatalogModel, CatalogProvider, ModelCost, ModelCostTier, ProviderCatalog

__all__ = [
    "DEFAULT_SORT_PRIORITY",
    "MODELS_DEV_URL",
    "LiveModelSource",
    "ProviderCatalogOverrides",
    "ProviderGeneration",
    "build_provider_catalog",
    "generate_providers",
    "load_provider_overrides",
]

MODELS_DEV_URL = "https://models.dev/api.json"
DEFAULT_SORT_PRIORITY = 100
MODEL_DESCRIPTION_SEPARATOR = " • "


class LiveModelSource(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A provider's own ``GET /models`` list, merged into what models.dev says it serves."""

    url: str
    auth: Literal["bearer"] | None = None
    auth_env: list[str] = msgspec.field(default_factory=list)
    """Variables tried in order for the bearer token; the first non-blank one is used."""
    filter_existing_to_live_ids: bool = False
    """Drop models.dev models the live list does not name (they are gone or not yet live)."""
    append_new_models: bool = True
    """Add live ids models.dev does not know, with a default entry."""


class ProviderCatalogOverrides(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``provider_catalog_overrides.json``: every choice the rules leave to people."""

    supported_provider_npm_packages: list[str]
    include_provider_ids: list[str] = msgspec.field(default_factory=list)
    exclude_provider_ids: list[str] = msgspec.field(default_factory=list)
    api_base_url_overrides: dict[str, str] = msgspec.field(default_factory=dict)
    env_key_overrides: dict[str, str] = msgspec.field(default_factory=dict)
    wire_api_overrides: dict[str, WireApi] = msgspec.field(default_factory=dict)
    sort_priorities: dict[str, int] = msgspec.field(default_factory=dict)
    live_model_sources: dict[str, LiveModelSource] = msgspec.field(default_factory=dict)
    provider_model_metadata_overrides: dict[str, dict[str, dict[str, Any]]] = msgspec.field(
        default_factory=dict
    )


# models.dev, as far as the generator reads it. Extra fields are ignored; the ones read are
# typed, so a source that changes shape fails loudly with the path of the surprise.
class _Modalities(msgspec.Struct, frozen=True):
    input: list[str] = msgspec.field(default_factory=list)
    output: list[str] = msgspec.field(default_factory=list)


class _TierBound(msgspec.Struct, frozen=True):
    type: str | None = None
    size: int | None = None


class _SourceTier(msgspec.Struct, frozen=True):
    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    tier: _TierBound | None = None


class _SourceCost(msgspec.Struct, frozen=True):
    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    context_over_200k: _SourceTier | None = None
    tiers: list[_SourceTier] = msgspec.field(default_factory=list)


class _SourceModel(msgspec.Struct, frozen=True):
    name: str | None = None
    family: str | None = None
    reasoning: bool = False
    tool_call: bool = False
    modalities: _Modalities | None = None
    limit: dict[str, Any] | None = None
    cost: _SourceCost | None = None


class _SourceProvider(msgspec.Struct, frozen=True):
    name: str
    env: list[str] = msgspec.field(default_factory=list)
    npm: str | None = None
    api: str | None = None
    models: dict[str, _SourceModel] = msgspec.field(default_factory=dict)


class _LiveModel(msgspec.Struct, frozen=True):
    id: str


class _LiveList(msgspec.Struct, frozen=True):
    data: list[_LiveModel]


@dataclass(frozen=True)
class ProviderGeneration:
    """Inputs of one generator run besides the models.dev source."""

    overrides: ProviderCatalogOverrides
    env: Mapping[str, str] = field(default_factory=dict)
    live_source_files: Mapping[str, Path] = field(default_factory=dict)
    """Provider id → a recorded ``/models`` response used instead of fetching its URL."""


def load_provider_overrides(path: Path) -> ProviderCatalogOverrides:
    """Decode the overrides file; a malformed one names the file and the JSON path."""
    return decode_overrides(path, ProviderCatalogOverrides)


def decode_models_dev(data: bytes, *, origin: str) -> dict[str, _SourceProvider]:
    """Decode models.dev's ``api.json`` into the typed subset the generator reads."""
    try:
        return msgspec.json.decode(data, type=dict[str, _SourceProvider])
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"the models.dev catalog from {origin} is invalid: {exc}") from exc


def build_provider_catalog(
    source: Mapping[str, _SourceProvider],
    generation: ProviderGeneration,
    *,
    only: Iterable[str] | None = None,
    existing: ProviderCatalog | None = None,
) -> ProviderCatalog:
    """Apply the rules to ``source``. With ``only``, rebuild just those providers and keep
    every other entry of ``existing`` exactly as it was."""
    overrides = generation.overrides
    unknown = sorted(set(generation.live_source_files) - set(overrides.live_model_sources))
    if unknown:
        raise CatalogError(
            f"no live model source is configured for {', '.join(unknown)}; "
            f"configured: {', '.join(sorted(overrides.live_model_sources)) or 'none'}"
        )
    selected = set(only) if only is not None else None
    built: list[CatalogProvider] = []
    for provider_id in sorted(source):
        if selected is not None and provider_id not in selected:
            continue
        provider = source[provider_id]
        base_url = _usable_base_url(provider_id, provider, overrides)
        if base_url is None or not _included(provider_id, provider, overrides):
            continue
        entry = _provider_entry(provider_id, provider, base_url, generation)
        if entry.models:
            built.append(entry)

    providers = built
    if selected is not None:
        missing = selected - {p.id for p in built}
        if missing:
            raise CatalogError(
                "selected providers were not generated (absent from the source, excluded, "
                f"or left with no models): {', '.join(sorted(missing))}"
            )
        kept = [p for p in (existing.providers if existing else []) if p.id not in selected]
        providers = kept + built
    providers.sort(key=lambda p: (p.sort_priority, p.name.lower()))
    return ProviderCatalog(generated_from=_generated_from(overrides), providers=providers)


def generate_providers(
    source: str | Path = MODELS_DEV_URL,
    *,
    generation: ProviderGeneration,
    output: Path,
    only: Iterable[str] | None = None,
) -> ProviderCatalog:
    """Read the sources, build the catalog and write it to ``output``."""
    origin = str(source)
    data = read_source(source, what="models.dev catalog")
    models_dev = decode_models_dev(data, origin=origin)
    existing = None
    if only is not None:
        if not output.exists():
            raise CatalogError(
                f"--provider needs an existing catalog to update, and {output} does not exist"
            )
        try:
            existing = msgspec.json.decode(output.read_bytes(), type=ProviderCatalog)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"the existing catalog {output} is invalid: {exc}") from exc
    catalog = build_provider_catalog(models_dev, generation, only=only, existing=existing)
    write_catalog(output, catalog)
    return catalog


def _usable_base_url(
    provider_id: str, provider: _SourceProvider, overrides: ProviderCatalogOverrides
) -> str | None:
    base_url = provider.api or overrides.api_base_url_overrides.get(provider_id)
    if not base_url or "${" in base_url:
        return None
    lowered = base_url.lower()
    if "localhost" in lowered or "127.0.0.1" in lowered:
        return None
    return base_url


def _included(
    provider_id: str, provider: _SourceProvider, overrides: ProviderCatalogOverrides
) -> bool:
    if provider_id in overrides.exclude_provider_ids:
        return False
    return (
        provider_id in overrides.include_provider_ids
        or provider.npm in overrides.supported_provider_npm_packages
    )


def _wire_api(
    provider_id: str, provider: _SourceProvider, overrides: ProviderCatalogOverrides
) -> WireApi:
    override = overrides.wire_api_overrides.get(provider_id)
    if override is not None:
        return override
    return WireApi.MESSAGES if provider.npm == "@ai-sdk/anthropic" else WireApi.CHAT


def _provider_entry(
    provider_id: str, provider: _SourceProvider, base_url: str, generation: ProviderGeneration
) -> CatalogProvider:
    overrides = generation.overrides
    models = [
        _model_entry(model_id, model, priority)
        for priority, (model_id, model) in enumerate(provider.models.items())
        if _keeps_model(model)
    ]
    live = overrides.live_model_sources.get(provider_id)
    if live is not None:
        models = _merge_live(provider_id, models, live, generation)
    patches = overrides.provider_model_metadata_overrides.get(provider_id, {})
    if patches:
        models = [_patched(provider_id, m, patches[m.id]) if m.id in patches else m for m in models]
    env_key = overrides.env_key_overrides.get(provider_id) or next(iter(provider.env), None)
    return CatalogProvider(
        id=provider_id,
        name=provider.name,
        env_key=env_key,
        base_url=base_url,
        wire_api=_wire_api(provider_id, provider, overrides),
        sort_priority=overrides.sort_priorities.get(provider_id, DEFAULT_SORT_PRIORITY),
        models=models,
    )


def _keeps_model(model: _SourceModel) -> bool:
    """Tool calling and text output (no output list at all counts as text)."""
    outputs = model.modalities.output if model.modalities is not None else []
    return model.tool_call and (not outputs or "text" in outputs)


def _model_entry(model_id: str, model: _SourceModel, priority: int) -> CatalogModel:
    inputs = model.modalities.input if model.modalities is not None else []
    context = (model.limit or {}).get("context")
    return CatalogModel(
        id=model_id,
        display_name=model.name or model_id,
        description=_description(model, inputs),
        reasoning=model.reasoning,
        input_modalities=["text", "image"] if "image" in inputs else ["text"],
        context_window=context if type(context) is int else None,
        priority=priority,
        cost=_cost(model.cost),
    )


LONG_CONTEXT_TIER = _TierBound(type="context", size=200_000)


def _prices_of(tier: _SourceTier) -> tuple[float | None, ...]:
    return (tier.input, tier.output, tier.cache_read, tier.cache_write)


def _cost(source: _SourceCost | None) -> ModelCost | None:
    """models.dev's price, copied as given; ``None`` when it names none of the kept prices,
    so "no price known" is one value, not an empty object.

    The long-prompt tier is ``context_over_200k``, whose real threshold is the size of the
    ``tiers`` entry with the same prices (272k for some models: kept as ``above_tokens``, since
    billing from 200k would overcharge); entries that give only the ``tiers`` list are read
    from its 200k context tier. Audio prices are not kept."""
    if source is None:
        return None
    context = sorted(
        (t for t in source.tiers if t.tier is not None and t.tier.type == "context"),
        key=lambda t: (t.tier.size if t.tier is not None else None) or 0,
    )
    tier = source.context_over_200k
    size: int | None = None
    if tier is not None:
        same = next((t for t in context if _prices_of(t) == _prices_of(tier)), None)
        size = None if same is None or same.tier is None else same.tier.size
    else:
        tier = next((t for t in context if t.tier == LONG_CONTEXT_TIER), None)
    over_200k = None
    if tier is not None:
        over_200k = ModelCostTier(
            input=tier.input,
            output=tier.output,
            cache_read=tier.cache_read,
            cache_write=tier.cache_write,
            above_tokens=None if size == LONG_CONTEXT_TIER.size else size,
        )
        if over_200k == ModelCostTier():
            over_200k = None
    cost = ModelCost(
        input=source.input,
        output=source.output,
        cache_read=source.cache_read,
        cache_write=source.cache_write,
        reasoning=source.reasoning,
        over_200k=over_200k,
    )
    return None if cost == ModelCost() else cost


def _description(model: _SourceModel, inputs: list[str]) -> str | None:
    parts = [model.family] if model.family else []
    for present, label in (
        (model.reasoning, "Reasoning"),
        (model.tool_call, "Tool calling"),
        ("image" in inputs, "Image input"),
        ("pdf" in inputs, "PDF input"),
        ("video" in inputs, "Video input"),
    ):
        if present:
            parts.append(label)
    return MODEL_DESCRIPTION_SEPARATOR.join(parts) or None


def _merge_live(
    provider_id: str,
    models: list[CatalogModel],
    live: LiveModelSource,
    generation: ProviderGeneration,
) -> list[CatalogModel]:
    live_ids = _live_ids(provider_id, live, generation)
    if live.filter_existing_to_live_ids:
        wanted = set(live_ids)
        models = [
            msgspec.structs.replace(m, priority=i)
            for i, m in enumerate(m for m in models if m.id in wanted)
        ]
    if not live.append_new_models:
        return models
    known = {m.id for m in models}
    next_priority = max((m.priority for m in models), default=-1) + 1
    for model_id in live_ids:
        if model_id in known:
            continue
        models.append(_default_live_entry(model_id, next_priority))
        known.add(model_id)
        next_priority += 1
    return models


def _live_ids(provider_id: str, live: LiveModelSource, generation: ProviderGeneration) -> list[str]:
    recorded = generation.live_source_files.get(provider_id)
    if recorded is not None:
        origin = str(recorded)
        data = read_source(recorded, what=f"recorded model list for {provider_id}")
    else:
        origin = live.url
        headers = _live_auth_headers(provider_id, live, generation.env)
        data = read_source(live.url, what=f"live model list for {provider_id}", headers=headers)
    try:
        listing = msgspec.json.decode(data, type=_LiveList)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(
            f"the model list for {provider_id} from {origin} is invalid: {exc}"
        ) from exc
    ids = list(dict.fromkeys(m.id for m in listing.data if m.id))
    if not ids:
        raise CatalogError(f"the model list for {provider_id} from {origin} is empty")
    return ids


def _live_auth_headers(
    provider_id: str, live: LiveModelSource, env: Mapping[str, str]
) -> dict[str, str]:
    """The request headers for a live list. A bearer source without a usable token fails
    before any request, naming every variable tried (never a value) and the URL."""
    if live.auth != "bearer":
        return {}
    token = _first_set(env, live.auth_env)
    if token is None:
        names = " or ".join(live.auth_env) or "(no variable configured)"
        raise CatalogError(
            f"the live model list for {provider_id} at {live.url} needs {names} set "
            f"(or pass --live-source {provider_id}=PATH with a recorded list)"
        )
    return {"Authorization": f"Bearer {token}"}


def _first_set(env: Mapping[str, str], names: Iterable[str]) -> str | None:
    """The first of ``names`` with a non-blank value, stripped; a blank one is skipped, since
    an exported-but-empty variable is how a shell says "not this one"."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _default_live_entry(model_id: str, priority: int) -> CatalogModel:
    """A live id models.dev does not know: all we know is that it exists."""
    return CatalogModel(
        id=model_id,
        display_name=model_id,
        description=None,
        reasoning=False,
        input_modalities=["text"],
        context_window=None,
        priority=priority,
    )


def _patched(provider_id: str, model: CatalogModel, patch: Mapping[str, Any]) -> CatalogModel:
    try:
        return msgspec.convert({**msgspec.to_builtins(model), **patch}, CatalogModel)
    except msgspec.ValidationError as exc:
        raise CatalogError(
            f"provider_model_metadata_overrides.{provider_id}.{model.id} is invalid: {exc}"
        ) from exc


def _generated_from(overrides: ProviderCatalogOverrides) -> list[str]:
    """models.dev, then every configured live URL in the overrides file's order (decoding
    keeps it), so the list is stable and independent of which recorded files were passed."""
    return [MODELS_DEV_URL, *(s.url for s in overrides.live_model_sources.values())]
