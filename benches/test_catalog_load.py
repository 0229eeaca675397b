"""Loading the bundled catalogs: typed decode + indexing against what a user would otherwise do.

Compared, on the committed catalog files, in one run with the sides interleaved:
- modelwire's load (typed ``msgspec`` decode into frozen structs + building every index)
  against a bare untyped ``msgspec.json.decode`` of the same bytes (the floor).
  Gate: at most 1.5x the floor.
- the same load against stdlib ``json.loads`` + validating into equivalent pydantic models
  + the same indexes (the reference a user would reach for). Gate: at least 3x faster.
Reported, not gated: cold first-lookup time in fresh processes (median of 7), measured
after ``import modelwire.catalog`` so it is the decode + index cost a first call pays.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

import msgspec
import pydantic

from modelwire.catalog.bundled import (
    COMPATIBILITY_CATALOG_FILE,
    PROVIDER_CATALOG_FILE,
    BundledCompatibilityCatalog,
    BundledProviderCatalog,
    catalog_dir,
    normalize_base_url,
)
from modelwire.catalog.schema import CompatibilityCatalog, ProviderCatalog

from _ratio import FAST, ratio

FLOOR_GATE = 1.5
PYDANTIC_GATE = 3.0


class PCostTier(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    above_tokens: int | None = None


class PCost(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    over_200k: PCostTier | None = None


class PPrices(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    cache_read_input_token_cost: float | None = None
    cache_creation_input_token_cost: float | None = None
    output_cost_per_reasoning_token: float | None = None
    input_cost_per_token_above_200k_tokens: float | None = None
    output_cost_per_token_above_200k_tokens: float | None = None
    cache_read_input_token_cost_above_200k_tokens: float | None = None
    cache_creation_input_token_cost_above_200k_tokens: float | None = None


class PModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    id: str
    display_name: str
    description: str | None
    reasoning: bool
    input_modalities: list[str]
    context_window: int | None
    priority: int
    thinking_toggle: bool = False
    cost: PCost | None = None


class PProvider(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    id: str
    name: str
    env_key: str | None
    base_url: str
    wire_api: str
    sort_priority: int
    models: list[PModel]


class PProviderCatalog(pydantic.BaseModel):
    generated_from: list[str]
    providers: list[PProvider]


class PEntry(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")
    id: str
    aliases: list[str]
    description: str | None
    visibility: str
    supported_parameters: list[str]
    supported_reasoning_levels: list[str]
    supports_thinking_toggle: bool
    reasoning_control: str
    supports_parallel_tool_calls: bool
    supports_search_tool: bool
    input_modalities: list[str]
    context_window: int | None
    prices: PPrices | None = None


class PCompatibilityCatalog(pydantic.BaseModel):
    generated_from: str
    entries: list[PEntry]


PROVIDER_BYTES = (catalog_dir() / PROVIDER_CATALOG_FILE).read_bytes()
COMPAT_BYTES = (catalog_dir() / COMPATIBILITY_CATALOG_FILE).read_bytes()


def modelwire_load() -> object:
    providers = BundledProviderCatalog(msgspec.json.decode(PROVIDER_BYTES, type=ProviderCatalog))
    compat = BundledCompatibilityCatalog(
        msgspec.json.decode(COMPAT_BYTES, type=CompatibilityCatalog)
    )
    return providers, compat


def bare_decode() -> object:
    return msgspec.json.decode(PROVIDER_BYTES), msgspec.json.decode(COMPAT_BYTES)


def pydantic_load() -> object:
    providers = PProviderCatalog.model_validate(json.loads(PROVIDER_BYTES))
    compat = PCompatibilityCatalog.model_validate(json.loads(COMPAT_BYTES))
    indexes: dict[str, Any] = {
        "id": {p.id: p for p in providers.providers},
        "url": {normalize_base_url(p.base_url): p for p in providers.providers},
        "name": {p.name.casefold(): p for p in providers.providers},
        "entry": {e.id: e for e in compat.entries},
        "alias": {a: e for e in compat.entries for a in e.aliases},
    }
    return providers, compat, indexes


def test_typed_load_costs_at_most_one_and_a_half_bare_decodes(benchmark: Any) -> None:
    number = 3 if FAST else 10
    ours, floor, cost = ratio(modelwire_load, bare_decode, number=number)
    print(
        f"\ncatalog load: typed+indexed {ours * 1e3:.1f} ms, bare untyped decode "
        f"{floor * 1e3:.1f} ms (x{cost:.2f}, gate {FLOOR_GATE}); "
        f"{len(PROVIDER_BYTES) + len(COMPAT_BYTES):,} bytes"
    )
    benchmark.pedantic(modelwire_load, rounds=5 if FAST else 20)
    assert cost <= FLOOR_GATE


def test_typed_load_is_at_least_three_times_faster_than_pydantic() -> None:
    number = 2 if FAST else 5
    reference, ours, speedup = ratio(pydantic_load, modelwire_load, number=number)
    print(
        f"\ncatalog load: json.loads+pydantic {reference * 1e3:.1f} ms vs modelwire "
        f"{ours * 1e3:.1f} ms (x{speedup:.1f} faster, gate {PYDANTIC_GATE})"
    )
    assert speedup >= PYDANTIC_GATE


COLD = """
import time
from modelwire.catalog import {loader}
t = time.perf_counter()
{loader}().get({key!r})
print(time.perf_counter() - t)
"""


def cold_first_lookup(loader: str, key: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", COLD.format(loader=loader, key=key)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        times.append(float(result.stdout))
    return statistics.median(times)


def test_report_cold_first_lookup_in_fresh_processes() -> None:
    runs = 5 if FAST else 7
    provider = cold_first_lookup("provider_catalog", "anthropic", runs)
    compat = cold_first_lookup("compatibility_catalog", "gpt-4o", runs)
    print(
        f"\ncold first lookup (median of {runs} fresh processes, after import): "
        f"provider catalog {provider * 1e3:.1f} ms, "
        f"compatibility catalog {compat * 1e3:.1f} ms"
    )
