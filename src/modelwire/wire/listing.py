"""Model lists as each wire API's ``GET …/models`` returns them (spec §5, "Model lists").

Not a hot path, and the one place providers stray furthest from their documented shapes (a
bare array instead of ``{"data": [...]}``, Codex's ``{"models": [...]}``), so the body is read
leniently: any entry with a string ``id`` (or ``slug``) is a model, anything else is skipped.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["ListedModel", "ModelPage", "decode_model_page", "page_params"]

MESSAGES_PAGE_LIMIT = 1000


class ListedModel(msgspec.Struct, frozen=True, kw_only=True):
    """One model as the provider listed it."""

    id: str
    display_name: str | None = None
    owned_by: str | None = None


class ModelPage(msgspec.Struct, frozen=True):
    models: tuple[ListedModel, ...]
    next_after: str | None
    """For paginated listings (messages): the ``after_id`` of the next page, if there is one."""


def _entry(item: Any) -> ListedModel | None:
    if not isinstance(item, dict):
        return None
    model_id = item.get("id", item.get("slug"))
    if not isinstance(model_id, str) or not model_id:
        return None
    name = item.get("display_name")
    owner = item.get("owned_by")
    return ListedModel(
        id=model_id,
        display_name=name if isinstance(name, str) and name else None,
        owned_by=owner if isinstance(owner, str) and owner else None,
    )


def decode_model_page(wire_api: str, body: bytes) -> ModelPage:
    """One page of a model list; ``msgspec.DecodeError`` when the body is not JSON."""
    data: Any = msgspec.json.decode(body)
    items: Any
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = data.get("data", data.get("models", []))
    else:
        items = []
    models = tuple(m for m in map(_entry, items if isinstance(items, list) else []) if m)
    next_after = None
    if wire_api == "messages" and isinstance(data, dict) and data.get("has_more") is True:
        last = data.get("last_id")
        if isinstance(last, str) and last:
            next_after = last
        elif models:
            next_after = models[-1].id
    return ModelPage(models, next_after)


def page_params(wire_api: str, after: str | None) -> dict[str, str] | None:
    """The query parameters asking for a page: messages pages by ``limit`` and ``after_id``."""
    if wire_api != "messages":
        return None
    params = {"limit": str(MESSAGES_PAGE_LIMIT)}
    if after is not None:
        params["after_id"] = after
    return params
