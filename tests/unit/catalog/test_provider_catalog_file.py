"""The committed provider catalog: reproducible from ../shared/data, and true to the seed table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from modelwire.catalog.bundled import PROVIDER_CATALOG_FILE
from modelwire.catalog.providers_gen import (
    ProviderGeneration,
    generate_providers,
    load_provider_overrides,
)
from modelwire.catalog.schema import ModelCost, ModelCostTier, ProviderCatalog
from modelwire.providers import WireApi

SEED_ROW = re.compile(
    r"^(?P<lead>.*?)(?P<wire>chat|messages|responses)(?P<env>[A-Z0-9_]*[A-Z_])(?P<models>\d+)$"
)


LIVE_SOURCES = ("moonshotai", "zai", "groq")


def regenerate(repo: Path, shared: Path, output: Path) -> ProviderCatalog:
    """What ``nox -s catalogs -- offline`` runs: models.dev plus the three recorded lists,
    with no credentials, so a source left unrecorded would fail rather than be fetched."""
    overrides = load_provider_overrides(repo / "catalogs" / "provider_catalog_overrides.json")
    live = shared / "data" / "live-models"
    generation = ProviderGeneration(
        overrides,
        env={},
        live_source_files={i: live / f"{i}.json" for i in LIVE_SOURCES},
    )
    return generate_providers(
        shared / "data" / "models-dev" / "api.json", generation=generation, output=output
    )


def seed_rows(shared: Path, known_ids: set[str]) -> list[tuple[str, str, str]]:
    """(id, wire API, env var) for each row of the seed's generated-provider table whose id
    the source has. The seed's table cells are run together, so the id is recognised as the
    longest known id the row starts with."""
    text = (shared / "seed" / "providers.txt").read_text()
    table = text.split("Provider IDNameWire APIAuth envModels", 1)[1]
    table = table.split("Model Picker Behavior", 1)[0]
    rows = []
    for line in filter(None, (raw.strip() for raw in table.splitlines())):
        match = SEED_ROW.match(line)
        assert match is not None, line
        lead = match["lead"]
        candidates = [i for i in known_ids if lead.startswith(i) and len(lead) > len(i)]
        if candidates:
            rows.append((max(candidates, key=len), match["wire"], match["env"]))
    return rows


def test_regenerating_from_shared_data_reproduces_the_committed_file(
    repo: Path, shared: Path, tmp_path: Path
) -> None:
    output = tmp_path / PROVIDER_CATALOG_FILE
    regenerate(repo, shared, output)
    committed = repo / "catalogs" / PROVIDER_CATALOG_FILE
    assert output.read_bytes() == committed.read_bytes()


def test_catalog_agrees_with_the_seed_table(repo: Path, shared: Path) -> None:
    data = (repo / "catalogs" / PROVIDER_CATALOG_FILE).read_bytes()
    catalog = msgspec.json.decode(data, type=ProviderCatalog)
    source = msgspec.json.decode((shared / "data" / "models-dev" / "api.json").read_bytes())
    rows = seed_rows(shared, set(source))
    assert len(rows) >= 100
    by_id = {p.id: p for p in catalog.providers}
    for provider_id, wire_api, env_key in rows:
        generated = by_id[provider_id]
        assert (provider_id, generated.wire_api.value, generated.env_key) == (
            provider_id,
            wire_api,
            env_key,
        )
    position = {p.id: i for i, p in enumerate(catalog.providers)}
    seed_order = [provider_id for provider_id, _, _ in rows]
    assert sorted(seed_order, key=position.__getitem__) == seed_order
    assert by_id["zai"].env_key == "ZHIPU_API_KEY"


def committed(repo: Path) -> ProviderCatalog:
    data = (repo / "catalogs" / PROVIDER_CATALOG_FILE).read_bytes()
    return msgspec.json.decode(data, type=ProviderCatalog)


def test_google_and_the_first_thirty_four_seed_rows_carry_explicit_priorities(repo: Path) -> None:
    catalog = committed(repo)
    explicit = [p for p in catalog.providers if p.sort_priority != 100]
    assert len(explicit) == 35
    assert catalog.providers[:35] == explicit
    assert [p.sort_priority for p in explicit] == list(range(1, 36))
    rest = catalog.providers[35:]
    assert [p.name.lower() for p in rest] == sorted(p.name.lower() for p in rest)


def test_google_ai_studio_follows_anthropic_on_the_openai_compatible_endpoint(
    repo: Path,
) -> None:
    catalog = committed(repo)
    assert [p.id for p in catalog.providers[:3]] == ["anthropic", "google", "openrouter"]
    google = catalog.providers[1]
    assert (google.base_url, google.env_key, google.wire_api, google.sort_priority) == (
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "GEMINI_API_KEY",
        WireApi.CHAT,
        2,
    )
    assert google.models


def test_groq_models_are_the_tool_calling_models_dev_models_the_live_list_names(
    repo: Path, shared: Path
) -> None:
    source = msgspec.json.decode((shared / "data" / "models-dev" / "api.json").read_bytes())
    live = msgspec.json.decode((shared / "data" / "live-models" / "groq.json").read_bytes())
    live_ids = {m["id"] for m in live["data"]}
    expected = [
        model_id
        for model_id, model in source["groq"]["models"].items()
        if model.get("tool_call") and model_id in live_ids
    ]
    groq = next(p for p in committed(repo).providers if p.id == "groq")
    assert [(m.id, m.priority) for m in groq.models] == [(i, n) for n, i in enumerate(expected)]
    assert len(expected) < len(live_ids)


def test_generated_from_names_models_dev_and_each_live_list(repo: Path) -> None:
    assert committed(repo).generated_from == [
        "https://models.dev/api.json",
        "https://api.moonshot.ai/v1/models",
        "https://api.z.ai/api/paas/v4/models",
        "https://api.groq.com/openai/v1/models",
    ]


def test_moonshot_models_follow_the_live_list(repo: Path, shared: Path) -> None:
    live = msgspec.json.decode((shared / "data" / "live-models" / "moonshotai.json").read_bytes())
    catalog = msgspec.json.decode(
        (repo / "catalogs" / PROVIDER_CATALOG_FILE).read_bytes(), type=ProviderCatalog
    )
    moonshot = next(p for p in catalog.providers if p.id == "moonshotai")
    assert sorted(m.id for m in moonshot.models) == sorted(m["id"] for m in live["data"])


@pytest.mark.parametrize("provider_id", ["moonshotai", "zai"])
def test_thinking_toggles_come_from_overrides(repo: Path, provider_id: str) -> None:
    overrides = load_provider_overrides(repo / "catalogs" / "provider_catalog_overrides.json")
    patched = overrides.provider_model_metadata_overrides[provider_id]
    catalog = msgspec.json.decode(
        (repo / "catalogs" / PROVIDER_CATALOG_FILE).read_bytes(), type=ProviderCatalog
    )
    provider = next(p for p in catalog.providers if p.id == provider_id)
    toggled = {m.id for m in provider.models if m.thinking_toggle}
    assert toggled == {i for i, patch in patched.items() if patch.get("thinking_toggle")}


KEPT_PRICES = ("input", "output", "cache_read", "cache_write", "reasoning")
TIER_PRICES = ("input", "output", "cache_read", "cache_write")


def expected_cost(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the catalog should say for a models.dev ``cost``, read straight off the JSON."""
    if record is None:
        return None
    kept: dict[str, Any] = {k: record[k] for k in KEPT_PRICES if k in record}
    context = sorted(
        (t for t in record.get("tiers", []) if t.get("tier", {}).get("type") == "context"),
        key=lambda t: t["tier"]["size"],
    )
    tier = record.get("context_over_200k")
    size = None
    if tier is not None:
        # Its real threshold: the size of the tier that has the same prices.
        prices = [tier.get(k) for k in TIER_PRICES]
        same = [t for t in context if [t.get(k) for k in TIER_PRICES] == prices]
        size = same[0]["tier"]["size"] if same else None
    else:
        long_context = {"type": "context", "size": 200000}
        tier = next((t for t in context if t["tier"] == long_context), None)
    if tier is not None and any(k in tier for k in TIER_PRICES):
        kept["over_200k"] = {k: tier[k] for k in TIER_PRICES if k in tier}
        if size not in (None, 200000):
            kept["over_200k"]["above_tokens"] = size
    return kept or None


def test_every_model_from_models_dev_carries_its_cost_and_live_only_models_none(
    repo: Path, shared: Path
) -> None:
    source = orjson.loads((shared / "data" / "models-dev" / "api.json").read_bytes())
    with_cost = 0
    for provider in committed(repo).providers:
        known = source[provider.id]["models"]
        for catalog_model in provider.models:
            kept = msgspec.to_builtins(catalog_model.cost)
            record = known.get(catalog_model.id)
            assert kept == expected_cost(record and record.get("cost")), catalog_model.id
            with_cost += kept is not None
    assert with_cost > 2500


def catalog_cost(repo: Path, provider_id: str, model_id: str) -> ModelCost | None:
    provider = next(p for p in committed(repo).providers if p.id == provider_id)
    return next(m.cost for m in provider.models if m.id == model_id)


def test_anthropic_prices_claude_sonnet_4_5_without_a_long_context_tier(repo: Path) -> None:
    assert catalog_cost(repo, "anthropic", "claude-sonnet-4-5") == ModelCost(
        input=3.0, output=15.0, cache_read=0.3, cache_write=3.75
    )


def test_openrouter_prices_claude_sonnet_4_5_higher_above_200k_tokens(repo: Path) -> None:
    assert catalog_cost(repo, "openrouter", "anthropic/claude-sonnet-4.5") == ModelCost(
        input=3.0,
        output=15.0,
        cache_read=0.3,
        cache_write=3.75,
        over_200k=ModelCostTier(input=6.0, output=22.5, cache_read=0.6, cache_write=7.5),
    )


def test_a_reasoning_price_is_kept(repo: Path) -> None:
    assert catalog_cost(repo, "alibaba", "qwen-plus") == ModelCost(
        input=0.4, output=1.2, reasoning=4.0
    )


def test_a_model_models_dev_gives_no_price_has_no_cost(repo: Path, shared: Path) -> None:
    source = orjson.loads((shared / "data" / "models-dev" / "api.json").read_bytes())
    assert "cost" not in source["openrouter"]["models"]["openrouter/auto"]
    assert catalog_cost(repo, "openrouter", "openrouter/auto") is None
