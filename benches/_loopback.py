"""The provider the client-CPU benches point at the mock in a child process."""

from __future__ import annotations

from collections.abc import Mapping

from modelwire import ProviderInfo, ProviderRegistry, WireApi

PROVIDER = "loop"
KEY_VARIABLE = "MODELWIRE_BENCH_KEY"
ENV = {KEY_VARIABLE: "sk-bench"}


def loopback_registry(base_url: str, headers: Mapping[str, str]) -> ProviderRegistry:
    """A registry with only ``PROVIDER``: a chat provider at ``base_url``, keyed from ``ENV``,
    sending ``headers`` (the mock's knobs) with every request."""
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    info = ProviderInfo(
        name="Loopback",
        base_url=base_url,
        wire_api=WireApi.CHAT,
        env_key=KEY_VARIABLE,
        http_headers=dict(headers),
    )
    registry.register(PROVIDER, info)
    return registry
