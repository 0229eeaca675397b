"""The model compatibility catalog generator: LiteLLM metadata → the compatibility catalog.

LiteLLM's file is loosely typed (flags are often missing rather than false, numbers sometimes
strings), so each field is read defensively here and typed once, in the output schema. The
one rule that matters most: reasoning levels are listed only from explicit flags, never
guessed from a bare "supports reasoning".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import orjson

from ..errors import CatalogError
from .io import decode_overrides, is_url, read_source, write_catalog
from .schema import (
    CompatibilityCatalog,
    CompatibilityEntry,
    ReasoningControl,
    TokenPrices,
    Visibility,
)

__all__ = [
    "LITELLM_URL",
    "CompatibilityOverrides",
    "build_compatibility_catalog",
    "generate_compatibility",
    "load_compatibility_overrides",
]

LITELLM_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)
DOCUMENTATION_KEY = "sample_spec"
CHAT_MODES = frozenset({"chat", "responses"})
CHAT_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/responses"})
SEPARATOR = " • "


class CompatibilityOverrides(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``model_compatibility_overrides.json``."""

    force_hide_ids: list[str] = msgspec.field(default_factory=list)
    metadata_overrides: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


def load_compatibility_overrides(path: Path) -> CompatibilityOverrides:
    """Decode the overrides file; a malformed one names the file and the JSON path."""
    return decode_overrides(path, CompatibilityOverrides)


class _Flags:
    """One model's metadata, read the forgiving way LiteLLM's file needs."""

    __slots__ = ("meta",)

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self.meta = meta

    def flag(self, key: str) -> bool:
        return bool(self.meta.get(key))

    @property
    def mode(self) -> str:
        mode = self.meta.get("mode")
        return mode.lower() if isinstance(mode, str) else ""

    @property
    def tool_use(self) -> bool:
        return self.flag("supports_function_calling") or self.flag("supports_tool_choice")

    @property
    def reasoning(self) -> bool:
        return any(
            self.flag(k)
            for k in (
                "supports_reasoning",
                "supports_minimal_reasoning_effort",
                "supports_none_reasoning_effort",
                "supports_xhigh_reasoning_effort",
            )
        )

    @property
    def thinking_toggle(self) -> bool:
        return self.flag("supports_thinking_toggle")

    @property
    def search(self) -> bool:
        return self.flag("supports_web_search")

    @property
    def chat_capable(self) -> bool:
        endpoints = self.meta.get("supported_endpoints")
        return self.mode in CHAT_MODES or (
            isinstance(endpoints, list) and any(e in CHAT_ENDPOINTS for e in endpoints)
        )

    @property
    def text_output(self) -> bool:
        outputs = self.meta.get("supported_output_modalities")
        if isinstance(outputs, list) and outputs:
            return "text" in outputs
        return self.mode in CHAT_MODES


def _description(f: _Flags) -> str | None:
    tags = []
    if f.chat_capable:
        tags.append("Responses" if f.mode == "responses" else "Chat-compatible")
    for present, tag in (
        (f.tool_use, "Tool calling"),
        (f.reasoning, "Reasoning effort"),
        (f.thinking_toggle, "Thinking toggle"),
        (f.search, "Search"),
    ):
        if present:
            tags.append(tag)
    return SEPARATOR.join(tags) or None


def _parameters(f: _Flags) -> list[str]:
    params = ["tools", "tool_choice"] if f.tool_use else []
    for present, param in (
        (f.reasoning, "reasoning_effort"),
        (f.thinking_toggle, "thinking"),
        (f.search, "web_search_options"),
    ):
        if present:
            params.append(param)
    return params


def _reasoning_levels(f: _Flags) -> list[str]:
    if not f.reasoning:
        return []
    levels = []
    if f.flag("supports_none_reasoning_effort"):
        levels.append("none")
    if f.flag("supports_minimal_reasoning_effort"):
        levels.append("minimal")
    levels += ["low", "medium", "high"]
    if f.flag("supports_xhigh_reasoning_effort"):
        levels.append("xhigh")
    return levels


def _reasoning_control(f: _Flags) -> ReasoningControl:
    if f.reasoning:
        return ReasoningControl.EFFORT
    if f.thinking_toggle:
        return ReasoningControl.THINKING_TOGGLE
    return ReasoningControl.NONE


def _input_modalities(f: _Flags) -> list[str]:
    modalities = f.meta.get("supported_modalities")
    if isinstance(modalities, list):
        known = [m for m in modalities if m in ("text", "image")]
        if known:
            return known
    return ["text", "image"] if f.flag("supports_vision") else ["text"]


def _context_window(f: _Flags) -> int | None:
    for key in ("max_input_tokens", "max_tokens"):
        value = f.meta.get(key)
        if type(value) is int:
            return value
    return None


PRICE_FIELDS = tuple(TokenPrices.__struct_fields__)
"""The LiteLLM keys copied into ``prices``: ``TokenPrices``' fields are named after them."""


def _prices(f: _Flags) -> TokenPrices | None:
    """The record's per-token prices, as floats so the written file reads back identically.
    A value that is not a number (a bool, a string) is skipped rather than guessed at, and a
    record with no price at all gives ``None``."""
    found = {}
    for key in PRICE_FIELDS:
        value = f.meta.get(key)
        if type(value) is int or type(value) is float:
            found[key] = float(value)
    return TokenPrices(**found) if found else None


def unique_suffix_aliases(model_ids: Iterable[str]) -> dict[str, list[str]]:
    """Each id's ``/``-suffixes that no other id also ends in, sorted.

    ``openrouter/anthropic/claude-x`` may be found as ``anthropic/claude-x`` or ``claude-x``,
    but only while that suffix points at exactly one id.
    """
    owners: defaultdict[str, set[str]] = defaultdict(set)
    ids = list(model_ids)
    for model_id in ids:
        parts = model_id.split("/")
        for start in range(1, len(parts)):
            owners["/".join(parts[start:])].add(model_id)
    aliases: dict[str, list[str]] = {model_id: [] for model_id in ids}
    for suffix, ids_with_it in owners.items():
        if len(ids_with_it) == 1:
            aliases[next(iter(ids_with_it))].append(suffix)
    return {model_id: sorted(found) for model_id, found in aliases.items()}


def _entry(
    model_id: str, meta: Mapping[str, Any], aliases: list[str], hidden: bool
) -> CompatibilityEntry:
    f = _Flags(meta)
    listed = f.chat_capable and f.text_output and f.tool_use and not hidden
    return CompatibilityEntry(
        id=model_id,
        aliases=aliases,
        description=_description(f),
        visibility=Visibility.LIST if listed else Visibility.HIDE,
        supported_parameters=_parameters(f),
        supported_reasoning_levels=_reasoning_levels(f),
        supports_thinking_toggle=f.thinking_toggle,
        reasoning_control=_reasoning_control(f),
        supports_parallel_tool_calls=f.flag("supports_parallel_function_calling"),
        supports_search_tool=f.search,
        input_modalities=_input_modalities(f),
        context_window=_context_window(f),
        prices=_prices(f),
    )


def build_compatibility_catalog(
    source: Mapping[str, Any], overrides: CompatibilityOverrides, *, generated_from: str
) -> CompatibilityCatalog:
    """Apply the rules to LiteLLM's metadata; entries come out sorted by id."""
    models = {
        model_id: meta
        for model_id, meta in source.items()
        if model_id != DOCUMENTATION_KEY and isinstance(meta, Mapping)
    }
    ids = sorted(models)
    aliases = unique_suffix_aliases(ids)
    hidden = set(overrides.force_hide_ids)
    entries = [
        _entry(
            model_id,
            {**models[model_id], **overrides.metadata_overrides.get(model_id, {})},
            aliases[model_id],
            model_id in hidden,
        )
        for model_id in ids
    ]
    return CompatibilityCatalog(generated_from=generated_from, entries=entries)


def generate_compatibility(
    source: str | Path = LITELLM_URL, *, overrides_path: Path, output: Path
) -> CompatibilityCatalog:
    """Read LiteLLM's metadata (URL or file), build the catalog and write it to ``output``.

    A local file stands in for the URL: ``generated_from`` records the URL, never a path that
    only means something on the machine that ran the generator.
    """
    origin = str(source)
    overrides = load_compatibility_overrides(overrides_path)
    data = read_source(source, what="LiteLLM model metadata")
    try:
        decoded = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CatalogError(f"the LiteLLM model metadata at {origin} is not JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise CatalogError(f"the LiteLLM model metadata at {origin} is not a JSON object")
    generated_from = origin if is_url(origin) else LITELLM_URL
    catalog = build_compatibility_catalog(decoded, overrides, generated_from=generated_from)
    write_catalog(output, catalog)
    return catalog
