"""The bundled-catalog loader: lazy, once, typed, indexed, and loud about corrupt files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from modelwire.catalog import (
    ProviderCatalog,
    ReasoningControl,
    compatibility_catalog,
    load_provider_catalog,
    normalize_base_url,
    provider_catalog,
)
from modelwire.catalog.bundled import (
    COMPATIBILITY_CATALOG_FILE,
    PROVIDER_CATALOG_FILE,
    catalog_dir,
    load_compatibility_catalog,
)
from modelwire.errors import CatalogError


def test_catalog_files_ship_as_package_data() -> None:
    from importlib import resources

    for name in (PROVIDER_CATALOG_FILE, COMPATIBILITY_CATALOG_FILE):
        assert (resources.files("modelwire") / "catalogs" / name).is_file()
    assert catalog_dir().is_dir()


def test_import_and_built_in_lookups_do_not_read_the_catalogs() -> None:
    probe = """
import sys
opened = []
def hook(event, args):
    if event == "open" and str(args[0]).endswith("catalog.json"):
        opened.append(args[0])
sys.addaudithook(hook)
import modelwire
from modelwire.config import Config
registry = modelwire.ProviderRegistry.from_config(Config(), env={})
registry.get("openai")
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
