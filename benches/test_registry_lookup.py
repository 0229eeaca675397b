"""Provider lookups are O(1): the registry's size must not show in the time of a lookup.

Compared: ``ProviderRegistry.get`` on a registry of 4 built-ins against the same call on a
registry with 2,000 extra providers (configured and catalog), both hitting a catalog id
after the catalog is loaded. Gate: large / small ≤ 1.5 (a linear scan would be ~500x).
Reported, not gated: ``get`` against a bare ``dict.get`` of the same id, the floor.
"""

from __future__ import annotations

from typing import Any

from modelwire.config import Config
from modelwire.providers import ProviderInfo, WireApi
from modelwire.registry import CatalogListing, ProviderRegistry

from _ratio import ratio

SCALE_GATE = 1.5
LOOKUPS = 20_000


def _registry(extra: int) -> ProviderRegistry:
    configured = {f"custom-{i}": ProviderInfo(base_url=f"http://h{i}/v1") for i in range(extra)}
    listings = [
        CatalogListing(f"hosted-{i}", ProviderInfo(name=f"H{i}", wire_api=WireApi.CHAT), 10)
        for i in range(extra)
    ] + [CatalogListing("groq", ProviderInfo(name="Groq", wire_api=WireApi.CHAT), 18)]
    config = Config(model_providers=configured)
    registry = ProviderRegistry.from_config(config, env={}, catalog=lambda: listings)
    registry.get("groq")  # the first miss loads the catalog; time only steady-state lookups
    return registry


def test_lookup_time_does_not_grow_with_registry_size(benchmark: Any) -> None:
    small, large = _registry(0), _registry(2_000)
    ids = {p.id: p for p in large}
    small_get, large_get = small.get, large.get

    big, little, scale = ratio(lambda: large_get("groq"), lambda: small_get("groq"), number=LOOKUPS)
    _, bare, overhead = ratio(lambda: large_get("groq"), lambda: ids.get("groq"), number=LOOKUPS)
    print(
        f"\nregistry.get: {big * 1e9:.0f} ns at 2,004 providers, {little * 1e9:.0f} ns at 5 "
        f"(x{scale:.2f}, gate {SCALE_GATE}); bare dict.get {bare * 1e9:.0f} ns (x{overhead:.1f})"
    )
    benchmark(large_get, "groq")
    assert scale <= SCALE_GATE
