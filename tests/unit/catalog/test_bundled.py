"""The bundled-catalog loader: lazy, once, typed, indexed, and loud about corrupt files; and
the hand-written Bedrock model lists, checked against the compatibility catalog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from modelwire.builtins import BEDROCK_IDS
from modelwire.catalog import (
    ProviderCatalog,
    ReasoningControl,
    compatibility_catalog,
    load_provider_catalog,
    normalize_base_url,
    provider_catalog,
)
from modelwire.catalog.bundled import (
    BEDROCK_MODELS_FILE,
    COMPATIBILITY_CATALOG_FILE,
    PROVIDER_CATALOG_FILE,
    bedrock_model_catalog,
    catalog_dir,
    load_bedrock_models,
    load_compatibility_catalog,
)
from modelwire.catalog.schema import (
    BedrockModelCatalog,
    CompatibilityCatalog,
    ModelCost,
    TokenPrices,
    WebSearch,
)
from modelwire.errors import CatalogError


def test_catalog_files_ship_as_package_data() -> None:
    from importlib import resources

    for name in (PROVIDER_CATALOG_FILE, COMPATIBILITY_CATALOG_FILE, BEDROCK_MODELS_FILE):
        assert (resources.files("modelwire") / "catalogs" / name).is_file()
    assert catalog_dir().is_dir()


def test_import_and_built_in_lookups_do_not_read_the_catalogs() -> None:
    probe = """
import sys
opened = []
def hook(event, args):
    if event == "open" and str(args[0]).endswith(("catalog.json", "bedrock_models.json")):
        opened.append(args[0])
sys.addaudithook(hook)
import modelwire
from modelwire.config import Config
registry = modelwire.ProviderRegistry.from_config(Config(), env={})
registry.get("openai")
registry.get("amazon-bedrock")
registry.get("amazon-bedrock-runtime")
print(len(opened))
registry.get("anthropic")
registry.get("groq")
print(len(opened))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["0", "1"]


def test_loaders_cache_one_instance_per_process() -> None:
    assert provider_catalog() is provider_catalog()
    assert compatibility_catalog() is compatibility_catalog()
    assert bedrock_model_catalog() is bedrock_model_catalog()


def test_provider_indexes() -> None:
    catalog = provider_catalog()
    anthropic = catalog.get("anthropic")
    assert anthropic is not None
    assert catalog.by_base_url("https://API.anthropic.com/") is anthropic
    assert catalog.by_name("ANTHROPIC") is anthropic
    zhipu_users = [p.id for p in catalog.by_env_key("ZHIPU_API_KEY")]
    assert {"zai", "zhipuai"} <= set(zhipu_users)
    assert catalog.get("nope") is None
    assert catalog.by_env_key("NOPE") == []
    assert len(catalog) == len(list(catalog)) > 100


def test_base_urls_normalize_by_trailing_slash_and_case() -> None:
    assert normalize_base_url(" https://Api.Example.com/v1/ ") == "https://api.example.com/v1"


def test_compatibility_lookup_by_id_then_unique_alias() -> None:
    catalog = compatibility_catalog()
    entry = catalog.get("moonshotai.kimi-k2.5")
    assert entry is not None
    assert entry.supports_thinking_toggle
    assert entry.reasoning_control is ReasoningControl.EFFORT
    aliased = next(e for e in catalog.entries if e.aliases)
    assert catalog.get(aliased.aliases[0]) is aliased
    assert catalog.get("no/such-model") is None


def test_registry_lists_catalog_providers_with_their_model_counts() -> None:
    import modelwire
    from modelwire.config import Config

    registry = modelwire.ProviderRegistry.from_config(Config(), env={})
    groq = registry.get("groq")
    assert groq.source is modelwire.ProviderSource.CATALOG
    bundled = provider_catalog().get("groq")
    assert bundled is not None
    assert groq.models == len(bundled.models)
    assert groq.info.env_key == "GROQ_API_KEY"
    assert groq.base_url == "https://api.groq.com/openai/v1"


@pytest.mark.parametrize("cut", [1, 1000, -2])
def test_truncated_catalog_names_the_file_and_size(tmp_path: Path, cut: int) -> None:
    data = (catalog_dir() / PROVIDER_CATALOG_FILE).read_bytes()
    broken = tmp_path / "provider_catalog.json"
    broken.write_bytes(data[:cut])
    with pytest.raises(CatalogError) as caught:
        load_provider_catalog(broken)
    message = str(caught.value)
    assert str(broken) in message
    assert "is corrupt" in message
    assert f"({len(data[:cut])} bytes)" in message


def test_corrupt_byte_names_its_position(tmp_path: Path) -> None:
    data = bytearray((catalog_dir() / PROVIDER_CATALOG_FILE).read_bytes())
    data[data.index(b'"display_name"')] = ord("}")
    broken = tmp_path / "provider_catalog.json"
    broken.write_bytes(bytes(data))
    with pytest.raises(CatalogError, match=r"\(byte \d+\)"):
        load_provider_catalog(broken)


def test_invalid_utf8_is_a_catalog_error(tmp_path: Path) -> None:
    data = (catalog_dir() / PROVIDER_CATALOG_FILE).read_bytes()
    broken = tmp_path / "provider_catalog.json"
    broken.write_bytes(data.replace("•".encode(), b"\xe2\x80", 1))
    with pytest.raises(CatalogError, match="is corrupt"):
        load_provider_catalog(broken)


def test_wrong_shape_names_the_json_path(tmp_path: Path) -> None:
    broken = tmp_path / "model_compatibility_catalog.json"
    broken.write_bytes(b'{"generated_from": "x", "entries": [{"id": 5}]}')
    with pytest.raises(CatalogError, match=r"at `\$\.entries\[0\]\.id`"):
        load_compatibility_catalog(broken)


def test_missing_catalog_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot be read"):
        load_provider_catalog(tmp_path / "absent.json")


def test_bundled_provider_catalog_round_trips_through_its_schema() -> None:
    data = (catalog_dir() / PROVIDER_CATALOG_FILE).read_bytes()
    catalog = msgspec.json.decode(data, type=ProviderCatalog)
    assert msgspec.json.format(msgspec.json.encode(catalog), indent=2) + b"\n" == data


def test_bundled_compatibility_catalog_round_trips_through_its_schema() -> None:
    """Prices are floats written by msgspec: decoding and re-encoding must not move a digit."""
    data = (catalog_dir() / COMPATIBILITY_CATALOG_FILE).read_bytes()
    catalog = msgspec.json.decode(data, type=CompatibilityCatalog)
    assert msgspec.json.format(msgspec.json.encode(catalog), indent=2) + b"\n" == data


def test_bundled_catalogs_decode_with_prices() -> None:
    anthropic = provider_catalog().get("anthropic")
    assert anthropic is not None
    sonnet = next(m for m in anthropic.models if m.id == "claude-sonnet-4-5")
    assert sonnet.cost == ModelCost(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
    entry = compatibility_catalog().get("claude-sonnet-4-5")
    assert entry is not None
    assert entry.prices == TokenPrices(
        input_cost_per_token=3e-06,
        output_cost_per_token=1.5e-05,
        cache_read_input_token_cost=3e-07,
        cache_creation_input_token_cost=3.75e-06,
    )


def test_an_unknown_price_field_in_a_catalog_is_rejected(tmp_path: Path) -> None:
    data = (catalog_dir() / PROVIDER_CATALOG_FILE).read_bytes()
    path = tmp_path / PROVIDER_CATALOG_FILE
    path.write_bytes(data.replace(b'"cache_read": 0.3,', b'"cache_reads": 0.3,', 1))
    with pytest.raises(CatalogError, match=r"unknown field `cache_reads`.*\.cost"):
        load_provider_catalog(path)


# --- bedrock_models.json: hand-written, so its tests are its review ---------------------------


def test_bedrock_model_lists_exist_for_exactly_the_bedrock_built_ins() -> None:
    assert bedrock_model_catalog().provider_ids == BEDROCK_IDS
    assert bedrock_model_catalog().models("openai") is None


def test_every_base_model_the_bedrock_lists_name_is_in_the_compatibility_catalog() -> None:
    compat = compatibility_catalog()
    catalog = bedrock_model_catalog()
    named = {m.base_model for pid in catalog.provider_ids for m in catalog.models(pid) or ()}
    assert named  # the check ran over something
    assert sorted(base for base in named if compat.get(base) is None) == []


def test_bedrock_lists_rank_their_models_zero_to_n_in_file_order() -> None:
    catalog = bedrock_model_catalog()
    for provider_id in catalog.provider_ids:
        models = catalog.models(provider_id) or ()
        assert [m.priority for m in models] == list(range(len(models))), provider_id


def test_bedrock_runtime_ids_are_mantle_5_6_ids_behind_a_routing_prefix() -> None:
    """The rule the explicit runtime entries follow, so an edit to one list that forgets the
    other fails here: global. then us., each over Mantle's 5.6 models, search off."""
    catalog = bedrock_model_catalog()
    mantle = [m for m in catalog.models("amazon-bedrock") or () if "gpt-5.6" in m.id]
    runtime = catalog.models("amazon-bedrock-runtime") or ()
    expected = [
        (f"{prefix}{m.id}", f"{m.display_name} ({label})", m.base_model, m.extra_reasoning_levels)
        for prefix, label in (("global.", "Global"), ("us.", "US cross-region"))
        for m in mantle
    ]
    assert [
        (m.id, m.display_name, m.base_model, m.extra_reasoning_levels) for m in runtime
    ] == expected
    assert {m.web_search for m in runtime} == {None}
    assert {m.context_window for m in runtime} == {m.context_window for m in mantle}


def test_bundled_bedrock_models_are_canonically_formatted_with_no_repeated_keys() -> None:
    """Re-encoding reproduces the file byte for byte: a duplicated provider key (which JSON
    decoding would silently collapse) or a hand edit in another layout fails."""
    data = (catalog_dir() / BEDROCK_MODELS_FILE).read_bytes()
    catalog = msgspec.json.decode(data, type=BedrockModelCatalog)
    assert msgspec.json.format(msgspec.json.encode(catalog), indent=2) + b"\n" == data


def bedrock_file(tmp_path: Path, **entry: object) -> Path:
    """A one-provider Bedrock list file whose single model has these fields changed."""
    model = {
        "id": "openai.gpt-5.5",
        "display_name": "GPT-5.5",
        "base_model": "gpt-5.5",
        "priority": 0,
        "context_window": 272000,
        "extra_reasoning_levels": [],
        "web_search": "text",
    } | entry
    path = tmp_path / BEDROCK_MODELS_FILE
    path.write_bytes(msgspec.json.encode({"about": "test", "providers": {"p": [model]}}))
    return path


def test_a_valid_bedrock_file_decodes_typed(tmp_path: Path) -> None:
    (model,) = load_bedrock_models(bedrock_file(tmp_path)).models("p") or ()
    assert model.web_search is WebSearch.TEXT
    assert model.context_window == 272000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("context_window", 0, id="window-not-positive"),
        pytest.param("priority", -1, id="negative-priority"),
        pytest.param("web_search", "image", id="unknown-search-mode"),
        pytest.param("base_model", "", id="empty-base-model"),
        pytest.param("max_tokens", 5, id="unknown-field"),
    ],
)
def test_a_malformed_bedrock_file_names_itself_and_the_bad_field(
    tmp_path: Path, field: str, value: object
) -> None:
    path = bedrock_file(tmp_path, **{field: value})
    with pytest.raises(CatalogError) as caught:
        load_bedrock_models(path)
    message = str(caught.value)
    assert str(path) in message
    assert field in message
    assert message.endswith("reinstall modelwire")  # hand-written: nothing to regenerate


def test_a_bedrock_file_listing_one_id_twice_for_a_provider_is_refused(tmp_path: Path) -> None:
    path = tmp_path / BEDROCK_MODELS_FILE
    model = msgspec.json.decode(bedrock_file(tmp_path).read_bytes())["providers"]["p"][0]
    path.write_bytes(msgspec.json.encode({"about": "", "providers": {"p": [model, model]}}))
    with pytest.raises(CatalogError) as caught:
        load_bedrock_models(path)
    assert str(caught.value) == (
        f"bundled catalog {path} lists openai.gpt-5.5 more than once for p"
    )


def test_a_missing_bedrock_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot be read"):
        load_bedrock_models(tmp_path / "absent.json")
