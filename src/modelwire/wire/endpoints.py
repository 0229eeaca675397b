"""Where each wire API's requests go (spec §1): paths, the ``/v1`` rule, query parameters.

Kept apart from the codecs because the transport, the model picker and the mock provider all
need the same joining rule, and a second copy of it is how ``…/v1/v1/messages`` happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

__all__ = ["is_anthropic", "join_url", "models_path", "stream_path"]

_PATHS = {"responses": "responses", "chat": "chat/completions"}


def _base_ends_in_v1(base_url: str | None) -> bool:
    if not base_url:
        return False
    return urlsplit(base_url).path.rstrip("/").endswith("/v1")


def stream_path(wire_api: str, base_url: str | None = None) -> str:
    """The request path relative to the base URL; messages adds ``v1/`` unless the base has it."""
    if wire_api == "messages":
        return "messages" if _base_ends_in_v1(base_url) else "v1/messages"
    try:
        return _PATHS[wire_api]
    except KeyError:
        raise ValueError(f"unknown wire API {wire_api!r}") from None


def models_path(wire_api: str, base_url: str | None = None) -> str:
    """The model-listing path, by the same rule as ``stream_path``."""
    if wire_api == "messages":
        return "models" if _base_ends_in_v1(base_url) else "v1/models"
    return "models"


def join_url(base_url: str, path: str, query_params: Mapping[str, str] | None = None) -> str:
    """``base_url`` and ``path`` joined by exactly one ``/``, then the query parameters.

    A query already on the base URL stays a query (it is not glued to the path), and the
    provider's ``query_params`` are appended after it with ``&``.
    """
    base, _, query = base_url.partition("?")
    url = f"{base.rstrip('/')}/{path.lstrip('/')}"
    if query_params:
        query = f"{query}&{urlencode(query_params)}" if query else urlencode(query_params)
    return f"{url}?{query}" if query else url


def is_anthropic(name: str | None, base_url: str | None) -> bool:
    """Anthropic itself (by name or host) gets ``x-api-key`` auth; other messages hosts Bearer."""
    if name is not None and name.lower() == "anthropic":
        return True
    return bool(base_url) and urlsplit(base_url).hostname == "api.anthropic.com"
