"""The shapes of the bundled catalogs, declared once: decoding is validation.

The provider and compatibility catalogs are the generators' output; ``bedrock_models.json``
is hand-written (the Amazon Bedrock built-ins have no listing call, so their model lists are
data this project keeps). All are decoded straight into these frozen structs. Model and entry
structs hold only strings, numbers, lists of strings and price structs that themselves hold
only numbers, so they cannot form reference cycles and are exempt from the garbage collector
(``gc=False``), which keeps a 5,000-entry catalog from adding to every collection pause.

Prices are kept in each source's own unit and names (models.dev: USD per million tokens;
LiteLLM: USD per token) so a catalog line can be checked against its source by eye; the
price structs omit absent fields, which keeps the files small and says "unknown" rather than
"free".
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from ..providers import WireApi

__all__ = [
    "BedrockModel",
    "BedrockModelCatalog",
    "CatalogModel",
    "CatalogProvider",
    "CompatibilityCatalog",
    "CompatibilityEntry",
    "ModelCost",
    "ModelCostTier",
    "ProviderCatalog",
    "ReasoningControl",
    "TokenPrices",
    "Visibility",
    "WebSearch",
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


class WebSearch(enum.StrEnum):
    """What a model's hosted web-search tool may return; a model without the tool has none
    (``None`` wherever this is optional), so a plain truth test asks "can it search?"."""

    TEXT = "text"
    """Text results only: the request must not ask for other content types (Amazon Bedrock
    rejects ``search_content_types``)."""
    TEXT_AND_IMAGE = "text_and_image"
    """Text and image results, for a model that takes image input."""


class ModelCostTier(
    msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True, omit_defaults=True
):
    """models.dev's price above a prompt size (its ``context_over_200k``): USD per million tokens.

    models.dev files a model's first long-prompt tier here even when the provider's threshold
    is not 200k (272k for some GPT-5 models, 256k or 512k for others); the field name is the
    source's, not a promise about the threshold: ``above_tokens`` is that.
    """

    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    above_tokens: int | None = None
    """The prompt size past which these prices apply, from the source's ``tiers`` entry of the
    same prices; absent: 200,000."""


class ModelCost(
    msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True, omit_defaults=True
):
    """A model's price at one provider (models.dev ``cost``): USD per million tokens.

    ``None`` in a field means models.dev does not say, not that the tokens are free.
    """

    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    over_200k: ModelCostTier | None = None


class TokenPrices(
    msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True, omit_defaults=True
):
    """LiteLLM's prices for a model: USD per token, under LiteLLM's own field names.

    The names are LiteLLM's so anyone holding its documentation reads these without a map.
    """

    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    cache_read_input_token_cost: float | None = None
    cache_creation_input_token_cost: float | None = None
    output_cost_per_reasoning_token: float | None = None
    input_cost_per_token_above_200k_tokens: float | None = None
    output_cost_per_token_above_200k_tokens: float | None = None
    cache_read_input_token_cost_above_200k_tokens: float | None = None
    cache_creation_input_token_cost_above_200k_tokens: float | None = None


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
    cost: ModelCost | None = None
    """What models.dev says the provider charges; ``None`` when it gives no price."""


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
    prices: TokenPrices | None = None
    """LiteLLM's per-token prices for this id; ``None`` when its record has none."""


class CompatibilityCatalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``model_compatibility_catalog.json``."""

    generated_from: str
    entries: list[CompatibilityEntry]


_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class BedrockModel(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One model of an Amazon Bedrock built-in's list, as ``bedrock_models.json`` gives it.

    Every field is required, so each entry reads complete on its own. What the list does not
    say (description, reasoning control and levels, input modalities) comes from the
    compatibility catalog's entry for ``base_model``.
    """

    id: _NonEmpty
    """The id requests send (``openai.gpt-5.5``, ``global.openai.gpt-5.6-sol``)."""
    display_name: _NonEmpty
    base_model: _NonEmpty
    """The OpenAI model it serves, as the compatibility catalog names it (``gpt-5.5``)."""
    priority: Annotated[int, msgspec.Meta(ge=0)]
    context_window: Annotated[int, msgspec.Meta(gt=0)]
    """Bedrock's window, which is smaller than OpenAI's for the same model."""
    extra_reasoning_levels: list[_NonEmpty]
    """Levels Bedrock accepts beyond the base model's (appended after them)."""
    web_search: WebSearch | None
    """``None``: the provider offers no search tool for this model."""


class BedrockModelCatalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``bedrock_models.json``: each Bedrock built-in's models, by provider id."""

    about: str
    """Where the data comes from, for whoever edits the file (JSON has no comments)."""
    providers: dict[str, list[BedrockModel]]
