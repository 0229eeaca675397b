"""The model compatibility generator's rules, each on a small authored LiteLLM-shaped fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from modelwire.catalog.bundled import load_compatibility_catalog
from modelwire.catalog.compat_gen import (
    LITELLM_URL,
    CompatibilityOverrides,
    build_compatibility_catalog,
    generate_compatibility,
    load_compatibility_overrides,
    unique_suffix_aliases,
)
from modelwire.catalog.io import dump_catalog
from modelwire.catalog.schema import (
    CompatibilityEntry,
    ReasoningControl,
    TokenPrices,
    Visibility,
)
from modelwire.errors import CatalogError

CHAT_TOOLS: dict[str, Any] = {"mode": "chat", "supports_function_calling": True}


def entries(
    source: dict[str, Any], overrides: CompatibilityOverrides | None = None
) -> dict[str, CompatibilityEntry]:
    catalog = build_compatibility_catalog(
        source, overrides or CompatibilityOverrides(), generated_from="fixture"
    )
    return {e.id: e for e in catalog.entries}


def entry(**meta: Any) -> CompatibilityEntry:
    return entries({"m": meta})["m"]


@pytest.mark.parametrize(
    ("meta", "visibility"),
    [
        (CHAT_TOOLS, Visibility.LIST),
        ({"mode": "responses", "supports_tool_choice": True}, Visibility.LIST),
        ({"mode": "chat"}, Visibility.HIDE),
        ({"mode": "embedding", "supports_function_calling": True}, Visibility.HIDE),
        (
            {
                "mode": "realtime",
                "supported_endpoints": ["/v1/chat/completions"],
                "supported_output_modalities": ["text", "audio"],
                "supports_function_calling": True,
            },
            Visibility.LIST,
        ),
        (
            {
                "mode": "realtime",
                "supported_endpoints": ["/v1/realtime"],
                "supports_function_calling": True,
            },
            Visibility.HIDE,
        ),
        ({**CHAT_TOOLS, "supported_output_modalities": ["image"]}, Visibility.HIDE),
        (
            {
                "mode": "image_generation",
                "supported_endpoints": ["/v1/responses"],
                "supports_function_calling": True,
            },
            Visibility.HIDE,
        ),
    ],
)
def test_only_chat_capable_text_output_tool_calling_models_are_listed(
    meta: dict[str, Any], visibility: Visibility
) -> None:
    assert entry(**meta).visibility is visibility


def test_force_hidden_ids_are_hidden_even_when_capable() -> None:
    found = entries(
        {"a": CHAT_TOOLS, "b": CHAT_TOOLS}, CompatibilityOverrides(force_hide_ids=["b"])
    )
    assert (found["a"].visibility, found["b"].visibility) == (Visibility.LIST, Visibility.HIDE)


def test_metadata_override_applies_before_the_entry_is_built() -> None:
    overrides = CompatibilityOverrides(
        metadata_overrides={"m": {"supports_function_calling": True, "supports_reasoning": True}}
    )
    built = entries({"m": {"mode": "chat"}}, overrides)["m"]
    assert built.visibility is Visibility.LIST
    assert built.supported_reasoning_levels == ["low", "medium", "high"]
    assert built.description == "Chat-compatible • Tool calling • Reasoning effort"


def test_aliases_are_suffixes_owned_by_exactly_one_id() -> None:
    aliases = unique_suffix_aliases(
        ["openrouter/anthropic/claude-x", "anthropic/claude-x", "groq/llama-3", "solo"]
    )
    # "claude-x" ends both ids, so neither gets it; "anthropic/claude-x" ends only the longer.
    assert aliases == {
        "openrouter/anthropic/claude-x": ["anthropic/claude-x"],
        "anthropic/claude-x": [],
        "groq/llama-3": ["llama-3"],
        "solo": [],
    }
    deep = unique_suffix_aliases(["a/b/c"])
    assert deep == {"a/b/c": ["b/c", "c"]}


def test_an_alias_that_is_also_an_id_still_resolves_to_the_only_longer_owner() -> None:
    found = entries({"x/gpt": CHAT_TOOLS, "gpt": CHAT_TOOLS})
    assert found["x/gpt"].aliases == ["gpt"]
    assert found["gpt"].aliases == []


def test_description_tags_in_order_and_none_when_empty() -> None:
    full = entry(
        mode="responses",
        supports_tool_choice=True,
        supports_reasoning=True,
        supports_thinking_toggle=True,
        supports_web_search=True,
    )
    assert full.description == (
        "Responses • Tool calling • Reasoning effort • Thinking toggle • Search"
    )
    assert entry(mode="embedding").description is None
    assert entry(mode="completion").description is None


def test_supported_parameters() -> None:
    assert entry(**CHAT_TOOLS).supported_parameters == ["tools", "tool_choice"]
    full = entry(
        **CHAT_TOOLS,
        supports_xhigh_reasoning_effort=True,
        supports_thinking_toggle=True,
        supports_web_search=True,
    )
    assert full.supported_parameters == [
        "tools",
        "tool_choice",
        "reasoning_effort",
        "thinking",
        "web_search_options",
    ]
    assert entry(mode="chat").supported_parameters == []


@pytest.mark.parametrize(
    ("flags", "levels"),
    [
        ({}, []),
        ({"supports_vision": True, "supports_thinking_toggle": True}, []),
        ({"supports_reasoning": False}, []),
        ({"supports_reasoning": True}, ["low", "medium", "high"]),
        ({"supports_none_reasoning_effort": True}, ["none", "low", "medium", "high"]),
        ({"supports_minimal_reasoning_effort": True}, ["minimal", "low", "medium", "high"]),
        ({"supports_xhigh_reasoning_effort": True}, ["low", "medium", "high", "xhigh"]),
        (
            {
                "supports_reasoning": True,
                "supports_none_reasoning_effort": True,
                "supports_minimal_reasoning_effort": True,
                "supports_xhigh_reasoning_effort": True,
            },
            ["none", "minimal", "low", "medium", "high", "xhigh"],
        ),
    ],
)
def test_reasoning_levels_come_only_from_explicit_flags(
    flags: dict[str, Any], levels: list[str]
) -> None:
    assert entry(**CHAT_TOOLS, **flags).supported_reasoning_levels == levels


@pytest.mark.parametrize(
    ("flags", "control"),
    [
        ({}, ReasoningControl.NONE),
        ({"supports_thinking_toggle": True}, ReasoningControl.THINKING_TOGGLE),
        ({"supports_reasoning": True}, ReasoningControl.EFFORT),
        ({"supports_reasoning": True, "supports_thinking_toggle": True}, ReasoningControl.EFFORT),
    ],
)
def test_reasoning_control(flags: dict[str, Any], control: ReasoningControl) -> None:
    built = entry(**CHAT_TOOLS, **flags)
    assert built.reasoning_control is control
    assert built.supports_thinking_toggle is bool(flags.get("supports_thinking_toggle"))


def test_parallel_tool_calls_and_search_flags() -> None:
    built = entry(**CHAT_TOOLS, supports_parallel_function_calling=True, supports_web_search=1)
    assert built.supports_parallel_tool_calls
    assert built.supports_search_tool
    plain = entry(**CHAT_TOOLS)
    assert not plain.supports_parallel_tool_calls
    assert not plain.supports_search_tool


@pytest.mark.parametrize(
    ("meta", "modalities"),
    [
        ({"supported_modalities": ["image", "audio", "text"]}, ["image", "text"]),
        ({"supported_modalities": ["audio"], "supports_vision": True}, ["text", "image"]),
        ({"supported_modalities": [], "supports_vision": False}, ["text"]),
        ({"supports_vision": True}, ["text", "image"]),
        ({}, ["text"]),
    ],
)
def test_input_modalities(meta: dict[str, Any], modalities: list[str]) -> None:
    assert entry(**CHAT_TOOLS, **meta).input_modalities == modalities


@pytest.mark.parametrize(
    ("meta", "window"),
    [
        ({"max_input_tokens": 128000, "max_tokens": 4096}, 128000),
        ({"max_tokens": 8192}, 8192),
        ({"max_input_tokens": "128k", "max_tokens": 8192}, 8192),
        ({"max_input_tokens": True}, None),
        ({"max_input_tokens": 1.5e5}, None),
        ({}, None),
    ],
)
def test_context_window_is_the_first_integer_of_input_then_total_tokens(
    meta: dict[str, Any], window: int | None
) -> None:
    assert entry(**CHAT_TOOLS, **meta).context_window == window


ALL_PRICES = {
    "input_cost_per_token": 3e-06,
    "output_cost_per_token": 1.5e-05,
    "cache_read_input_token_cost": 3e-07,
    "cache_creation_input_token_cost": 3.75e-06,
    "output_cost_per_reasoning_token": 1.25e-07,
    "input_cost_per_token_above_200k_tokens": 6e-06,
    "output_cost_per_token_above_200k_tokens": 2.25e-05,
    "cache_read_input_token_cost_above_200k_tokens": 6e-07,
    "cache_creation_input_token_cost_above_200k_tokens": 7.5e-06,
}


def test_prices_copy_every_litellm_price_field_under_its_own_name() -> None:
    others = {"input_cost_per_token_batches": 1.5e-06, "input_cost_per_token_above_272k_tokens": 1}
    assert entry(**CHAT_TOOLS, **ALL_PRICES, **others).prices == TokenPrices(**ALL_PRICES)


def test_integer_prices_become_floats_and_non_numbers_are_skipped() -> None:
    built = entry(
        **CHAT_TOOLS,
        input_cost_per_token=0,
        output_cost_per_token=True,
        cache_read_input_token_cost="3e-07",
        cache_creation_input_token_cost=None,
    )
    assert built.prices == TokenPrices(input_cost_per_token=0.0)
    assert type(built.prices.input_cost_per_token) is float


def test_a_record_without_prices_has_none() -> None:
    assert entry(**CHAT_TOOLS, input_cost_per_token_batches=1e-06).prices is None


def test_a_metadata_override_can_set_a_price() -> None:
    overrides = CompatibilityOverrides(metadata_overrides={"m": {"output_cost_per_token": 2e-06}})
    built = entries({"m": {**CHAT_TOOLS, "input_cost_per_token": 1e-06}}, overrides)["m"]
    assert built.prices == TokenPrices(input_cost_per_token=1e-06, output_cost_per_token=2e-06)


def test_documentation_entry_and_non_objects_are_skipped_and_output_is_sorted() -> None:
    found = build_compatibility_catalog(
        {"zeta": CHAT_TOOLS, "sample_spec": {"mode": "chat"}, "bad": [1], "alpha": {}},
        CompatibilityOverrides(),
        generated_from="fixture",
    )
    assert [e.id for e in found.entries] == ["alpha", "zeta"]


def test_overrides_file_with_an_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text('{"force_hide": []}')
    with pytest.raises(CatalogError, match="unknown field `force_hide`"):
        load_compatibility_overrides(path)


def test_generate_writes_canonical_bytes_and_records_the_url_for_a_local_source(
    tmp_path: Path,
) -> None:
    source = tmp_path / "litellm.json"
    source.write_bytes(orjson.dumps({"m": CHAT_TOOLS}))
    overrides = tmp_path / "overrides.json"
    overrides.write_text("{}")
    output = tmp_path / "out" / "compat.json"
    catalog = generate_compatibility(source, overrides_path=overrides, output=output)
    assert catalog.generated_from == LITELLM_URL
    assert output.read_bytes() == dump_catalog(catalog)


@pytest.mark.parametrize(
    ("content", "problem"), [(b"{not json", "is not JSON"), (b"[]", "not a JSON object")]
)
def test_malformed_source_names_the_file(tmp_path: Path, content: bytes, problem: str) -> None:
    source = tmp_path / "litellm.json"
    source.write_bytes(content)
    overrides = tmp_path / "overrides.json"
    overrides.write_text("{}")
    with pytest.raises(CatalogError) as caught:
        generate_compatibility(source, overrides_path=overrides, output=tmp_path / "o.json")
    assert str(source) in str(caught.value)
    assert problem in str(caught.value)
    assert not (tmp_path / "o.json").exists()


def test_regenerating_from_shared_data_reproduces_the_committed_file(
    repo: Path, shared: Path, tmp_path: Path
) -> None:
    output = tmp_path / "model_compatibility_catalog.json"
    catalog = generate_compatibility(
        shared / "data" / "litellm" / "model_prices_and_context_window.json",
        overrides_path=repo / "catalogs" / "model_compatibility_overrides.json",
        output=output,
    )
    assert (
        output.read_bytes() == (repo / "catalogs" / "model_compatibility_catalog.json").read_bytes()
    )
    by_id = {e.id: e for e in catalog.entries}
    for hidden in (
        "bedrock_mantle/openai.gpt-oss-safeguard-120b",
        "bedrock_mantle/openai.gpt-oss-safeguard-20b",
        "groq/openai/gpt-oss-safeguard-20b",
    ):
        assert by_id[hidden].visibility is Visibility.HIDE
    kimi = by_id["moonshotai.kimi-k2.5"]
    assert kimi.supports_thinking_toggle
    assert kimi.supports_parallel_tool_calls
    assert kimi.supported_reasoning_levels[0] == "none"
    assert "sample_spec" not in by_id


def litellm_prices(record: dict[str, Any]) -> dict[str, Any] | None:
    """The price fields of a LiteLLM record, read straight off the JSON."""
    kept = {k: record[k] for k in TokenPrices.__struct_fields__ if k in record}
    return kept or None


def test_every_committed_entry_carries_its_litellm_records_prices(repo: Path, shared: Path) -> None:
    source = orjson.loads(
        (shared / "data" / "litellm" / "model_prices_and_context_window.json").read_bytes()
    )
    catalog = load_compatibility_catalog(repo / "catalogs" / "model_compatibility_catalog.json")
    with_prices = 0
    for built in catalog:
        kept = msgspec.to_builtins(built.prices)
        assert kept == litellm_prices(source[built.id]), built.id
        with_prices += kept is not None
    assert with_prices > 3500


def test_an_alias_finds_the_prices_of_the_record_it_names(repo: Path) -> None:
    catalog = load_compatibility_catalog(repo / "catalogs" / "model_compatibility_catalog.json")
    found = catalog.get("databricks-gemini-3-1-pro")
    assert found is not None
    assert found.id == "databricks/databricks-gemini-3-1-pro"
    assert found.prices == TokenPrices(
        input_cost_per_token=2.49998e-06,
        output_cost_per_token=1.500002e-05,
        cache_read_input_token_cost=2.4997e-07,
        cache_creation_input_token_cost=2.49998e-06,
        input_cost_per_token_above_200k_tokens=5.00003e-06,
        output_cost_per_token_above_200k_tokens=2.25e-05,
        cache_read_input_token_cost_above_200k_tokens=5.0001e-07,
    )


def test_a_reasoning_token_price_is_kept(repo: Path) -> None:
    catalog = load_compatibility_catalog(repo / "catalogs" / "model_compatibility_catalog.json")
    found = catalog.get("gemini-2.5-flash")
    assert found is not None
    assert found.prices is not None
    assert found.prices.output_cost_per_reasoning_token == 2.5e-06
    assert found.prices.output_cost_per_token == 2.5e-06
