"""The embedded mock as a benchmark target, and the measurement of modelwire's own TTFT cost.

Two jobs need the mock. With no target, ``modelwire bench`` must show something that looks like
a provider, runnable with no key: the mock's knobs are fixed delays, so a profile draws each
request's delays (log-normal, seeded) and queues them on the mock just before the request goes
out. And the client's own share of TTFT can only be seen against a server that answers at
once: with the mock's delays at zero, the same request is timed through modelwire and through a
bare socket that writes pre-built bytes and scans the reply for the first token, alternately,
so drift on a busy machine hits both alike.

The mock speaks Chat Completions here because its stream is the simplest to reason about: the
mock sends the role chunk after ``ttft_ms`` and every later chunk one ``delay_ms`` after the one
before, so the first token arrives at ``ttft_ms + delay_ms`` and the reply ends three chunks
(finish, usage, ``[DONE]``) after the last token.
"""

from __future__ import annotations

import random
import time

import anyio
import anyio.abc

from ._bench_schema import ClientOverhead, MockProfile, Target
from ._bench_stats import Stats, stats_of
from .bench import measure_request
from .client import Client
from .mock import MockBehavior, MockProvider
from .providers import ProviderInfo, WireApi
from .registry import ProviderRegistry
from .wire import Request, encode, user

__all__ = [
    "MOCK_MODEL",
    "MOCK_PROVIDER_ID",
    "measure_ttft_overhead",
    "median_behavior",
    "mock_target",
]

MOCK_PROVIDER_ID = "modelwire-mock"
MOCK_MODEL = "mock-model"
_INSTANT_ID = "modelwire-mock-instant"
_INSTANT_HEADERS = {"x-mock-ttft-ms": "0", "x-mock-delay-ms": "0", "x-mock-output-tokens": "1"}
_FIRST_TOKEN = b'"delta":{"content":"'
"""The first chunk with text (the role chunk before it has ``{"role":…,"content":""``)."""
_LAST_CHUNK = b"\r\n0\r\n\r\n"
_DRAW_LIMIT = 4.0
"""A draw is kept within [median / 4, median * 4], so one draw can never stall a run."""
_BARE_TIMEOUT_S = 10.0
_WARMUP_PAIRS = 5


def median_behavior(profile: MockProfile) -> MockBehavior:
    """The profile's medians as the mock's defaults (for any request that finds no draw
    queued, e.g. a retry)."""
    return _behavior(profile, profile.ttft_ms, profile.itl_ms)


def _behavior(profile: MockProfile, ttft_ms: float, gap_ms: float) -> MockBehavior:
    gap = max(0, round(gap_ms))
    return MockBehavior(
        ttft_ms=max(0, round(ttft_ms) - gap), delay_ms=gap, output_tokens=profile.output_tokens
    )


def _factor(rng: random.Random, sigma: float) -> float:
    return min(max(rng.lognormvariate(0.0, sigma), 1 / _DRAW_LIMIT), _DRAW_LIMIT)


def mock_target(mock: MockProvider, registry: ProviderRegistry, profile: MockProfile) -> Target:
    """Register ``mock`` as provider ``modelwire-mock`` and return a target whose requests each
    get their own draw from ``profile`` (queued on the mock just before the request is sent;
    concurrent requests may take each other's draws, which are alike by construction)."""
    registry.register(
        MOCK_PROVIDER_ID,
        ProviderInfo(name="modelwire mock", base_url=mock.url("/v1"), wire_api=WireApi.CHAT),
    )
    rng = random.Random(profile.seed)

    def draw() -> None:
        ttft = profile.ttft_ms * _factor(rng, profile.ttft_sigma)
        gap = profile.itl_ms * _factor(rng, profile.itl_sigma)
        mock.enqueue(_behavior(profile, ttft, gap))

    return Target(MOCK_PROVIDER_ID, MOCK_MODEL, before_request=draw)


async def measure_ttft_overhead(
    client: Client, mock: MockProvider, *, samples: int = 100
) -> ClientOverhead:
    """modelwire's TTFT against a bare socket's, both on ``mock`` answering at once (its delays
    are zeroed by ``x-mock-*`` headers, which win over anything queued)."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    base_url = mock.url("/v1")
    client.registry.register(
        _INSTANT_ID,
        ProviderInfo(
            name="modelwire mock (no delay)",
            base_url=base_url,
            wire_api=WireApi.CHAT,
            http_headers=_INSTANT_HEADERS,
            request_max_retries=0,
            stream_max_retries=0,
        ),
    )
    target = Target(_INSTANT_ID, MOCK_MODEL)
    request = Request(model=MOCK_MODEL, messages=(user("how long does modelwire take?"),))
    path, body = encode(WireApi.CHAT.value, request, base_url=base_url)
    raw = _raw_request(mock, f"/v1/{path}", body)
    bare: list[float] = []
    ttft: list[float] = []
    receiving: list[float] = []
    async with await anyio.connect_tcp(mock.host, mock.port) as sock:
        for number in range(_WARMUP_PAIRS + samples):
            socket_ms = await _bare_ttft(sock, raw)
            record = await measure_request(client, target, request)
            if record.error is not None or record.ttft_ms is None or record.ttfb_ms is None:
                raise RuntimeError(f"the mock failed a timing request: {record.error_message}")
            if number >= _WARMUP_PAIRS:
                bare.append(socket_ms)
                ttft.append(record.ttft_ms)
                receiving.append(record.ttft_ms - record.ttfb_ms)
    modelwire_stats, bare_stats = _stats(ttft), _stats(bare)
    return ClientOverhead(
        samples=samples,
        modelwire_ttft_ms=modelwire_stats,
        bare_ttft_ms=bare_stats,
        overhead_ms=round(modelwire_stats.p50 - bare_stats.p50, 3),
        after_first_byte_ms=_stats(receiving),
    )


def _stats(values: list[float]) -> Stats:
    stats = stats_of(values)
    if stats is None:
        raise ValueError("no samples")
    return stats


def _raw_request(mock: MockProvider, path: str, body: bytes) -> bytes:
    """The HTTP/1.1 request modelwire sends, minus what only it needs (auth, user agent)."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"host: {mock.host}:{mock.port}",
        "content-type: application/json",
        "accept: text/event-stream",
        f"content-length: {len(body)}",
        *(f"{name}: {value}" for name, value in _INSTANT_HEADERS.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _bare_ttft(sock: anyio.abc.ByteStream, raw: bytes) -> float:
    """ms from writing the request to reading the bytes of its first token; the reply is then
    read to its last chunk so the connection is ready for the next request."""
    begun = time.perf_counter()
    first: float | None = None
    seen = b""
    with anyio.fail_after(_BARE_TIMEOUT_S):
        await sock.send(raw)
        while True:
            chunk = await sock.receive()
            now = time.perf_counter()
            seen = seen + chunk if first is None else (seen + chunk)[-len(_LAST_CHUNK) :]
            if first is None and _FIRST_TOKEN in seen:
                first = now
            if first is not None and seen.endswith(_LAST_CHUNK):
                return round((first - begun) * 1000, 3)
