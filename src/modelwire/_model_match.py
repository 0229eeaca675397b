"""Which bundled catalog provider a provider's models come from: four rules, first match wins.

Users rarely call a catalog provider under its catalog id. They point a provider at a proxy, a
gateway or a corporate mirror and give it their own id, so the picker recognises the provider
by what such a definition still shares with the original — in the order below, from the most
specific evidence to the weakest:

1. Anthropic identity (name ``anthropic``, any case, or a base URL on ``api.anthropic.com``):
   a local proxy named "Anthropic" still serves Anthropic's models. This comes first because
   the name and the host are exactly what the request path already trusts to decide
   Anthropic's auth (``is_anthropic``).
2. The normalized base URL (no trailing ``/``, any case): the same endpoint is the same
   provider whatever it is called.
3. The display name, case-insensitively.
4. The API key's environment variable: a proxy that reads ``OPENROUTER_API_KEY`` is fronting
   OpenRouter. Several providers can share a variable (``ZHIPU_API_KEY`` serves four); the
   first in catalog order — the seed's table order — wins, so the answer is stable.
"""

from __future__ import annotations

import enum

import msgspec

from .catalog.bundled import BundledProviderCatalog
from .catalog.schema import CatalogProvider
from .providers import ProviderInfo
from .wire.endpoints import is_anthropic

__all__ = [
    "ANTHROPIC_CATALOG_ID",
    "CatalogMatch",
    "MatchRule",
    "match_by_anthropic_identity",
    "match_by_base_url",
    "match_by_env_key",
    "match_by_name",
    "match_catalog_provider",
]

ANTHROPIC_CATALOG_ID = "anthropic"


class MatchRule(enum.StrEnum):
    """Which rule tied a provider to its catalog entry."""

    ANTHROPIC = "anthropic"
    BASE_URL = "base_url"
    NAME = "name"
    ENV_KEY = "env_key"


class CatalogMatch(msgspec.Struct, frozen=True):
    provider: CatalogProvider
    rule: MatchRule


def match_by_anthropic_identity(
    info: ProviderInfo, catalog: BundledProviderCatalog
) -> CatalogProvider | None:
    if not is_anthropic(info.name, info.effective_base_url):
        return None
    return catalog.get(ANTHROPIC_CATALOG_ID)


def match_by_base_url(
    info: ProviderInfo, catalog: BundledProviderCatalog
) -> CatalogProvider | None:
    return catalog.by_base_url(info.effective_base_url)


def match_by_name(info: ProviderInfo, catalog: BundledProviderCatalog) -> CatalogProvider | None:
    name = info.name.strip()
    return catalog.by_name(name) if name else None


def match_by_env_key(info: ProviderInfo, catalog: BundledProviderCatalog) -> CatalogProvider | None:
    if not info.env_key:
        return None
    sharing = catalog.by_env_key(info.env_key)
    return sharing[0] if sharing else None


_RULES = (
    (MatchRule.ANTHROPIC, match_by_anthropic_identity),
    (MatchRule.BASE_URL, match_by_base_url),
    (MatchRule.NAME, match_by_name),
    (MatchRule.ENV_KEY, match_by_env_key),
)


def match_catalog_provider(
    info: ProviderInfo, catalog: BundledProviderCatalog
) -> CatalogMatch | None:
    """The catalog provider ``info`` is (or fronts), by the first rule that finds one."""
    for rule, find in _RULES:
        found = find(info, catalog)
        if found is not None:
            return CatalogMatch(found, rule)
    return None
