"""The bundled catalogs: decoded on first use, never at import, then indexed and cached.

The files ship inside the package (``modelwire/catalogs/*.json``). Decoding goes straight from
bytes into the frozen structs of ``schema.py``; the indexes are plain dicts built once, so
every lookup after the first is a dict hit. Besides the two generated catalogs there is
``bedrock_models.json``, the hand-written model lists of the Amazon Bedrock built-ins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Generic, TypeVar

import msgspec

from ..errors import CatalogError
from ..providers import ProviderInfo
from .schema import (
    BedrockModel,
    BedrockModelCatalog,
    CatalogProvider,
    CompatibilityCatalog,
    CompatibilityEntry,
    ProviderCatalog,
)

__all__ = [
    "BEDROCK_MODELS_FILE",
    "COMPATIBILITY_CATALOG_FILE",
    "PROVIDER_CATALOG_FILE",
    "BundledBedrockModels",
    "BundledCompatibilityCatalog",
    "BundledProviderCatalog",
    "bedrock_model_catalog",
    "catalog_dir",
    "compatibility_catalog",
    "load_bedrock_models",
    "load_compatibility_catalog",
    "load_provider_catalog",
    "normalize_base_url",
    "provider_catalog",
]

PROVIDER_CATALOG_FILE = "provider_catalog.json"
COMPATIBILITY_CATALOG_FILE = "model_compatibility_catalog.json"
BEDROCK_MODELS_FILE = "bedrock_models.json"

_T = TypeVar("_T", bound=msgspec.Struct)
_V = TypeVar("_V")


def catalog_dir() -> Path:
    """Where the package's catalog files (and the generators' override files) live."""
    return Path(str(resources.files("modelwire") / "catalogs")).resolve()


def normalize_base_url(url: str) -> str:
    """The form base URLs are compared in: trailing slashes trimmed, lower-cased."""
    return url.strip().rstrip("/").lower()


class BundledProviderCatalog:
    """The hosted-provider catalog with its four indexes.

    ``by_env_key`` keeps every provider that reads a variable, in catalog order, because
    several share one (``ZHIPU_API_KEY`` serves four providers).
    """

    __slots__ = (
        "_by_base_url",
        "_by_env_key",
        "_by_id",
        "_by_name",
        "generated_from",
        "providers",
    )

    def __init__(self, catalog: ProviderCatalog) -> None:
        self.generated_from = catalog.generated_from
        self.providers = catalog.providers
        self._by_id: dict[str, CatalogProvider] = {}
        self._by_base_url: dict[str, CatalogProvider] = {}
        self._by_name: dict[str, CatalogProvider] = {}
        self._by_env_key: dict[str, list[CatalogProvider]] = {}
        for provider in catalog.providers:
            self._by_id[provider.id] = provider
            self._by_base_url.setdefault(normalize_base_url(provider.base_url), provider)
            self._by_name.setdefault(provider.name.casefold(), provider)
            if provider.env_key:
                self._by_env_key.setdefault(provider.env_key, []).append(provider)

    def __len__(self) -> int:
        return len(self.providers)

    def __iter__(self) -> Iterator[CatalogProvider]:
        return iter(self.providers)

    def get(self, provider_id: str) -> CatalogProvider | None:
        return self._by_id.get(provider_id)

    def by_base_url(self, base_url: str) -> CatalogProvider | None:
        """The provider at ``base_url``, compared without trailing ``/`` and case."""
        return self._by_base_url.get(normalize_base_url(base_url))

    def by_name(self, name: str) -> CatalogProvider | None:
        """The provider with this display name, case-insensitively."""
        return self._by_name.get(name.casefold())

    def by_env_key(self, variable: str) -> list[CatalogProvider]:
        """Every provider whose API key lives in ``variable``, in catalog order."""
        return list(self._by_env_key.get(variable, ()))

    def listings(self) -> Iterator[tuple[str, ProviderInfo, int]]:
        """(id, registry definition, model count) for each provider, in catalog order."""
        for p in self.providers:
            info = ProviderInfo(
                name=p.name, base_url=p.base_url, env_key=p.env_key, wire_api=p.wire_api
            )
            yield p.id, info, len(p.models)


class BundledCompatibilityCatalog:
    """The model compatibility catalog, indexed by id and by each alias."""

    __slots__ = ("_by_alias", "_by_id", "entries", "generated_from")

    def __init__(self, catalog: CompatibilityCatalog) -> None:
        self.generated_from = catalog.generated_from
        self.entries = catalog.entries
        self._by_id = {entry.id: entry for entry in catalog.entries}
        self._by_alias = {alias: e for e in catalog.entries for alias in e.aliases}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[CompatibilityEntry]:
        return iter(self.entries)

    def get(self, model_id: str) -> CompatibilityEntry | None:
        """The entry for ``model_id``: an exact id first, then a unique alias."""
        return self._by_id.get(model_id) or self._by_alias.get(model_id)


class BundledBedrockModels:
    """The Amazon Bedrock built-ins' model lists, each in the file's order."""

    __slots__ = ("_by_provider",)

    def __init__(self, catalog: BedrockModelCatalog) -> None:
        self._by_provider = {pid: tuple(models) for pid, models in catalog.providers.items()}

    @property
    def provider_ids(self) -> tuple[str, ...]:
        return tuple(self._by_provider)

    def models(self, provider_id: str) -> tuple[BedrockModel, ...] | None:
        """``provider_id``'s list, or ``None`` when the file has none for it."""
        return self._by_provider.get(provider_id)


_REGENERATE = "reinstall modelwire or regenerate it with `modelwire catalog generate`"
_REINSTALL = "reinstall modelwire"  # hand-written data: there is no generator to rerun


def _decode(path: Path, kind: type[_T], *, remedy: str = _REGENERATE) -> _T:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"bundled catalog {path} cannot be read: {exc.strerror}") from exc
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(
            f"bundled catalog {path} is corrupt ({len(data)} bytes): {exc}; {remedy}"
        ) from exc


def load_provider_catalog(path: Path | None = None) -> BundledProviderCatalog:
    """Decode and index a provider catalog file (default: the bundled one), uncached."""
    path = path or catalog_dir() / PROVIDER_CATALOG_FILE
    return BundledProviderCatalog(_decode(path, ProviderCatalog))


def load_compatibility_catalog(path: Path | None = None) -> BundledCompatibilityCatalog:
    """Decode and index a compatibility catalog file (default: the bundled one), uncached."""
    path = path or catalog_dir() / COMPATIBILITY_CATALOG_FILE
    return BundledCompatibilityCatalog(_decode(path, CompatibilityCatalog))


def load_bedrock_models(path: Path | None = None) -> BundledBedrockModels:
    """Decode a Bedrock model-list file (default: the bundled one), uncached.

    Beyond its shape, an id listed twice for one provider is refused: the picker finds models
    by id, so the second entry could never be reached."""
    path = path or catalog_dir() / BEDROCK_MODELS_FILE
    catalog = _decode(path, BedrockModelCatalog, remedy=_REINSTALL)
    for provider_id, models in catalog.providers.items():
        ids = [model.id for model in models]
        repeated = sorted({model_id for model_id in ids if ids.count(model_id) > 1})
        if repeated:
            raise CatalogError(
                f"bundled catalog {path} lists {', '.join(repeated)} more than once "
                f"for {provider_id}"
            )
    return BundledBedrockModels(catalog)


class _LoadedOnce(Generic[_V]):
    """A bundled file's decoded form: loaded on first use, once per process, even when threads
    race for it (the check outside the lock keeps every later call lock-free)."""

    __slots__ = ("_load", "_lock", "_value")

    def __init__(self, load: Callable[[], _V]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._value: _V | None = None

    def __call__(self) -> _V:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._load()
        return self._value


_provider_catalog = _LoadedOnce(load_provider_catalog)
_compatibility_catalog = _LoadedOnce(load_compatibility_catalog)
_bedrock_models = _LoadedOnce(load_bedrock_models)


def provider_catalog() -> BundledProviderCatalog:
    """The bundled provider catalog, decoded once per process on first call."""
    return _provider_catalog()


def compatibility_catalog() -> BundledCompatibilityCatalog:
    """The bundled compatibility catalog, decoded once per process on first call."""
    return _compatibility_catalog()


def bedrock_model_catalog() -> BundledBedrockModels:
    """The bundled Bedrock model lists, decoded once per process on first call."""
    return _bedrock_models()
