"""The provider registry: which providers exist, and what provider X is.

Three layers merge here, later ones winning: the bundled hosted catalog, the built-ins, and the
user's config. Config wins over the catalog (so a catalog provider can be pointed at a proxy)
but only partly over a built-in (each built-in names the keys it lets config change).

A config table whose id is a catalog provider's replaces that entry whole, as the runtime this
mirrors does: nothing of the catalog's definition is inherited. That is easy to miss (a table
with only ``base_url`` turns Anthropic into a keyless Responses provider), so building a
registry from a config with tables of its own reads the catalog once to find such tables, and
logs one warning line per table that leaves out the entry's wire API or its key.

Otherwise the catalog is consulted lazily: a lookup of a built-in or configured id never
touches it, and the first lookup that needs it loads it once.
"""

from __future__ import annotations

import difflib
import enum
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import msgspec

from ._redact import mask_urls_in
from .builtins import (
    BEDROCK_IDS,
    OPENAI_ID,
    OSS_BASE_URL_ENV,
    REMOVED_IDS,
    bedrock_endpoint,
    bedrock_region,
    built_in_providers,
)
from .config import BuiltInOverride, Config, custom_provider_problems, load_config
from .errors import ConfigError, UnknownProviderError
from .pricing import Price
from .providers import ProviderAwsInfo, ProviderInfo, WireApi
from .providers import _key as _toml_key

__all__ = [
    "BUNDLED",
    "CatalogListing",
    "CatalogSource",
    "Provider",
    "ProviderRegistry",
    "ProviderSource",
    "bundled_catalog",
    "dropped_catalog_keys",
]


class ProviderSource(enum.StrEnum):
    """Where a provider's definition came from."""

    BUILT_IN = "built-in"
    CATALOG = "catalog"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class CatalogListing:
    """One provider as the bundled catalog describes it: its definition and model count."""

    id: str
    info: ProviderInfo
    models: int | None = None


CatalogSource = Callable[[], Iterable[CatalogListing]]
"""Yields the catalog's providers; called at most once per registry, on first need."""


def bundled_catalog() -> list[CatalogListing]:
    """The providers of the catalog shipped with modelwire."""
    from .catalog.bundled import provider_catalog

    return [CatalogListing(i, info, n) for i, info, n in provider_catalog().listings()]


_log = logging.getLogger("modelwire.config")
# Keys by which a table brings credentials of its own: with any of them set, leaving out the
# catalog's env_key is a choice, not an accident.
_OWN_AUTH_KEYS = frozenset(
    {"env_key", "experimental_bearer_token", "auth", "requires_openai_auth", "aws"}
)
_warned: set[tuple[str, str, tuple[str, ...]]] = set()
_warned_lock = threading.Lock()


def dropped_catalog_keys(table_keys: frozenset[str], entry: ProviderInfo) -> list[str]:
    """What a config table that replaces the catalog entry ``entry`` leaves out of it, as
    ``key = value`` for the warning: the entry's wire API when the table names none and the
    entry's is not the default, and its ``env_key`` when the table brings no auth at all."""
    dropped = []
    if "wire_api" not in table_keys and entry.wire_api is not WireApi.RESPONSES:
        dropped.append(f'wire_api = "{entry.wire_api.value}"')
    if entry.env_key is not None and not table_keys & _OWN_AUTH_KEYS:
        dropped.append(f'env_key = "{entry.env_key}"')
    return dropped


def _warn_once(config: Config, provider_id: str, entry: Provider, dropped: list[str]) -> None:
    where = f"{config.file}: " if config.file is not None else ""
    key = (str(config.file), provider_id, tuple(dropped))
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    _log.warning(
        "%smodel_providers.%s replaces the catalog provider %s whole and leaves out its %s; "
        "add %s to the table to keep %s",
        where,
        _toml_key(provider_id),
        entry.name,
        " and ".join(dropped),
        "them" if len(dropped) > 1 else "it",
        "them" if len(dropped) > 1 else "it",
    )


class _Bundled(enum.Enum):
    CATALOG = enum.auto()


BUNDLED = _Bundled.CATALOG
"""``from_config``'s default catalog: the bundled one. Pass ``None`` for no catalog."""


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider as the registry resolved it.

    ``error`` is set when the definition is known but unusable in this environment (Bedrock in
    a region Mantle does not serve): listing still shows it, and using it raises the error.
    """

    id: str
    info: ProviderInfo
    source: ProviderSource
    models: int | None = None
    error: ConfigError | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def base_url(self) -> str:
        """The URL requests go to; raises this provider's ``error`` if it has one."""
        if self.error is not None:
            raise self.error
        return self.info.effective_base_url

    def usable(self) -> Provider:
        """This provider, or its configuration error raised."""
        if self.error is not None:
            raise self.error
        return self

    def __repr__(self) -> str:
        # ``info`` masks its own secrets; ``error`` may quote the base URL, userinfo and all.
        error = None if self.error is None else mask_urls_in(repr(self.error))
        return (
            f"Provider(id={self.id!r}, info={self.info!r}, source={self.source!r}, "
            f"models={self.models!r}, error={error})"
        )


class ProviderRegistry:
    """Every known provider by id, with O(1) lookups.

    Build one with ``ProviderRegistry.from_config()``; add providers in code with
    ``register()``. The environment is read once, when the registry is built.
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        catalog: CatalogSource | None = None,
        default_provider: str | None = None,
        prices: Mapping[str, Mapping[str, Price]] | None = None,
    ) -> None:
        self._primary: dict[str, Provider] = dict(providers)
        self._catalog_source = catalog
        self._catalog: dict[str, Provider] | None = None if catalog is not None else {}
        self.default_provider_id = default_provider or OPENAI_ID
        self.prices: dict[str, dict[str, Price]] = {
            provider_id: dict(models) for provider_id, models in (prices or {}).items()
        }
        """The user's prices by provider id and model (``[model_providers.<id>.prices]``),
        which win over the catalogs' (``pricing.PriceBook``)."""

    @classmethod
    def from_config(
        cls,
        config: Config | None = None,
        *,
        env: Mapping[str, str] | None = None,
        catalog: CatalogSource | _Bundled | None = BUNDLED,
    ) -> ProviderRegistry:
        """Built-ins, the catalog (default: the bundled one; ``None`` for none) and ``config``
        (default: the user's config file)."""
        env = os.environ if env is None else env
        if catalog is BUNDLED:
            catalog = bundled_catalog
        if config is None:
            config = load_config(env=env)
        providers: dict[str, Provider] = {}
        for provider_id, info in _built_ins(env).items():
            override = config.built_in_overrides.get(provider_id)
            if override is not None:
                info = _apply_override(info, override)
            providers[provider_id] = _resolve_built_in(provider_id, info, env)
        for provider_id, info in config.model_providers.items():
            providers[provider_id] = Provider(provider_id, info, ProviderSource.CONFIG)
        registry = cls(
            providers,
            catalog=catalog,
            default_provider=config.model_provider,
            prices=config.prices,
        )
        if config.model_providers and catalog is not None:
            registry._warn_about_replaced_entries(config)
        return registry

    def _warn_about_replaced_entries(self, config: Config) -> None:
        for provider_id in config.model_providers:
            entry = self.replaced(provider_id)
            if entry is None:
                continue
            keys = config.model_provider_keys.get(provider_id, frozenset())
            dropped = dropped_catalog_keys(keys, entry.info)
            if dropped:
                _warn_once(config, provider_id, entry, dropped)

    def replaced(self, provider_id: str) -> Provider | None:
        """The catalog provider that the configured (or registered) provider ``provider_id``
        replaces whole, or ``None`` when it replaces none. Reads the catalog."""
        provider = self._primary.get(provider_id)
        if provider is None or provider.source is not ProviderSource.CONFIG:
            return None
        return self._catalog_providers().get(provider_id)

    def register(self, provider_id: str, info: ProviderInfo) -> Provider:
        """Add or replace a custom provider defined in code, validated like a config table."""
        if not isinstance(provider_id, str) or not provider_id.strip():
            raise ConfigError(
                f"a provider id must be a non-blank str, got {provider_id!r}",
                hint="register it under a name such as 'my-proxy'",
            )
        path = f"model_providers.{_toml_key(provider_id)}"
        if not isinstance(info, ProviderInfo):
            raise ConfigError(
                f"expected a ProviderInfo, got {type(info).__name__}",
                key_path=path,
                hint="build it with modelwire.ProviderInfo(base_url=..., ...)",
            )
        if provider_id in REMOVED_IDS:
            raise ConfigError(REMOVED_IDS[provider_id], key_path=path)
        existing = self._primary.get(provider_id)
        if existing is not None and existing.source is ProviderSource.BUILT_IN:
            raise ConfigError(
                f"{provider_id} is a built-in provider and cannot be replaced",
                key_path=path,
                hint="register it under another id",
            )
        problems = custom_provider_problems(info)
        if problems:
            raise ConfigError("; ".join(problems), key_path=path)
        if not info.name:
            info = msgspec.structs.replace(info, name=provider_id)
        provider = Provider(provider_id, info, ProviderSource.CONFIG)
        self._primary[provider_id] = provider
        return provider

    def get(self, provider_id: str) -> Provider:
        """The provider with this id; ``UnknownProviderError`` (with suggestions) if none."""
        provider = self._primary.get(provider_id)
        if provider is not None:
            return provider
        provider = self._catalog_providers().get(provider_id)
        if provider is not None:
            return provider
        if provider_id in REMOVED_IDS:
            raise ConfigError(REMOVED_IDS[provider_id])
        suggestions = difflib.get_close_matches(provider_id, list(self.ids()), n=3, cutoff=0.6)
        raise UnknownProviderError(provider_id, suggestions)

    def default(self) -> Provider:
        """The provider ``model_provider`` selects (``openai`` when config names none)."""
        return self.get(self.default_provider_id)

    def __getitem__(self, provider_id: str) -> Provider:
        return self.get(provider_id)

    def __contains__(self, provider_id: object) -> bool:
        return provider_id in self._primary or provider_id in self._catalog_providers()

    def ids(self) -> Iterator[str]:
        """Every id: built-ins and configured providers first, then the catalog's."""
        yield from self._primary
        yield from (i for i in self._catalog_providers() if i not in self._primary)

    def __iter__(self) -> Iterator[Provider]:
        yield from self._primary.values()
        primary = self._primary
        yield from (p for i, p in self._catalog_providers().items() if i not in primary)

    def __len__(self) -> int:
        return len(self._primary) + sum(
            1 for i in self._catalog_providers() if i not in self._primary
        )

    def _catalog_providers(self) -> dict[str, Provider]:
        if self._catalog is None:
            assert self._catalog_source is not None
            self._catalog = {
                entry.id: Provider(entry.id, entry.info, ProviderSource.CATALOG, entry.models)
                for entry in self._catalog_source()
            }
        return self._catalog


def _built_ins(env: Mapping[str, str]) -> dict[str, ProviderInfo]:
    """The built-ins; the only value in them that comes from outside is the OSS base URL, so
    a ``ProviderInfo`` check failing on ``base_url`` is that variable's fault and says so."""
    try:
        return built_in_providers(env)
    except ConfigError as exc:
        if exc.key_path != "base_url":
            raise
        raise ConfigError(
            f"{OSS_BASE_URL_ENV} {exc.message}", hint=exc.hint or "unset it or fix the URL"
        ) from None


def _apply_override(info: ProviderInfo, override: BuiltInOverride) -> ProviderInfo:
    """The built-in with the keys its config table set; headers and aws fields merge in."""
    changes: dict[str, object] = {}
    values = override.values
    for key in override.keys:
        if key == "http_headers":
            changes[key] = {**(info.http_headers or {}), **(values.http_headers or {})}
        elif key == "aws":
            base = info.aws or ProviderAwsInfo()
            given = values.aws or ProviderAwsInfo()
            changes[key] = ProviderAwsInfo(
                profile=given.profile if given.profile is not None else base.profile,
                region=given.region if given.region is not None else base.region,
            )
        else:
            changes[key] = getattr(values, key)
    return msgspec.structs.replace(info, **changes)


def _resolve_built_in(provider_id: str, info: ProviderInfo, env: Mapping[str, str]) -> Provider:
    if provider_id in BEDROCK_IDS and info.base_url is None:
        try:
            url = bedrock_endpoint(provider_id, bedrock_region(info.aws, env))
        except ConfigError as exc:
            return Provider(provider_id, info, ProviderSource.BUILT_IN, error=exc)
        info = msgspec.structs.replace(info, base_url=url)
    return Provider(provider_id, info, ProviderSource.BUILT_IN)
