"""The shapes of the two bundled catalogs, declared once: decoding is validation.

Both files are the generators' output and are decoded straight into these frozen structs.
Model and entry structs hold only strings, numbers and lists of strings, so they cannot form
reference cycles and are exempt from the garbage collector (``gc=False``), which keeps a
5,000-entry catalog from adding to every collection pause.
"""

from __future__ import annotations

import enum

import msgspec

from ..providers import WireApi

__all__ = [
    "CatalogModel",
    "CatalogProvider",
    "CompatibilityCatalog",
    "CompatibilityEntry",
    "ProviderCatalog",
    "ReasoningControl",
    "Visibility",
]


class ReasoningControl(enum.StrEnum):
    """How a model's reasoning is steered, if at all."""

    EFFORT = "effort"
    THINKING_TOGGLE = "thinking_toggle"
    NONE = "none"


class Visibility(enum.StrEnum):
    """Whether the model picker lists a compatibility entry."""

    LIST = "list"
    HIDE = "hide"


class CatalogModel(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One model a hosted provider serves, as the provider catalog generator kept it."""

    id: str
    display_name: str
    description: str | None
    reasoning: bool
    input_modalities: list[str]
    context_window: int | None
    priority: int
    thinking_toggle: bool = False


class CatalogProvider(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One hosted provider: where it lives, its key variable, its wire API, its models."""

    id: str
    name: str
    env_key: str | None
    base_url: str
    wire_api: WireApi
    sort_priority: int
    models: list[CatalogModel]


class ProviderCatalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``provider_catalog.json``."""

    generated_from: list[str]
    providers: list[CatalogProvider]


class CompatibilityEntry(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """What is known about one model id across providers (from LiteLLM's metadata)."""

    id: str
    aliases: list[str]
    description: str | None
    visibility: Visibility
    supported_parameters: list[str]
    supported_reasoning_levels: list[str]
    supports_thinking_toggle: bool
    reasoning_control: ReasoningControl
    supports_parallel_tool_calls: bool
    supports_search_tool: bool
    input_modalities: list[str]
    context_window: int | None


class CompatibilityCatalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``model_compatibility_catalog.json``."""

    generated_from: str
    entries: list[CompatibilityEntry]
