"""The hostile server fixture and the client and pool helpers every fault test shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.transport import RetryPolicy, Transport

from .hostile import HostileServer

KEY = "sk-hostile-secret-0123456789"
"""The dummy key every hostile client sends; no exception may ever show it."""
PROVIDER = "hostile"
IDLE_MS = 300
"""The provider's ``stream_idle_timeout_ms`` in fault tests: short, so stalls end fast."""
LIVENESS_S = 5.0
"""A fault test's generous wall-clock bound (configured bounds are a fraction of a second)."""


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A started hostile server, closed (every handler cancelled) after the test."""
    server = HostileServer()
    try:
        yield server
    finally:
        server.close()


class Sleeps:
    """Backoff sleeps as asked for, recorded, and cut to a checkpoint: retries cost no time."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.lowlevel.checkpoint()


def hostile_client(
    server: HostileServer,
    *,
    wire_api: WireApi = WireApi.CHAT,
    sleep: Any = None,
    transport: dict[str, Any] | None = None,
    engine: type[Transport] = Transport,
    **info: Any,
) -> Client:
    """A client whose provider ``hostile`` points at ``server`` (chat by default), keyed by
    ``KEY`` through ``env_key``, with one retry of each kind and a ``IDLE_MS`` idle timeout
    unless ``info`` says otherwise; backoff sleeps take no time (``Sleeps``). ``transport``
    overrides ``Transport`` keywords (``policy``, ``timeout``…), ``engine`` its class."""
    env = {"HOSTILE_KEY": KEY}
    fields: dict[str, Any] = {
        "name": "Hostile",
        "base_url": f"{server.url}/v1",
        "wire_api": wire_api,
        "env_key": "HOSTILE_KEY",
        "request_max_retries": 1,
        "stream_max_retries": 1,
        "stream_idle_timeout_ms": IDLE_MS,
    }
    fields.update(info)
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register(PROVIDER, ProviderInfo(**fields))
    options: dict[str, Any] = {
        "env": env,
        "sleep": sleep if sleep is not None else Sleeps(),
        "rand": lambda low, high: 0.0,
        "policy": RetryPolicy(),
    }
    options.update(transport or {})
    return Client(registry, env=env, transport=engine(**options), telemetry=False)


def pool_is_clean(client: Client) -> None:
    """Assert nothing is left in the client's pools: no request registered in httpcore2's pool
    (a response never closed leaves one) and no connection mid-request."""
    for provider_id, http in client.transport._clients.items():
        pool = getattr(http._transport, "_pool", None)
        assert pool is not None, f"{provider_id}: not a pooled transport"
        assert not pool._requests, f"{provider_id}: requests left in the pool: {pool!r}"
        busy = [c for c in pool.connections if not (c.is_idle() or c.is_closed())]
        assert not busy, f"{provider_id}: connections still in use: {busy!r}"
