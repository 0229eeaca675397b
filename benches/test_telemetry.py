"""Telemetry's cost on the streamed hot path: client CPU per streamed request with an
OpenTelemetry SDK installed against the same client with only the API (no SDK).

Same method as ``test_transport.py`` (whose machinery this imports): ``modelwire mock`` in a
child process, 200-chunk chat streams, client CPU from ``getrusage``, paired sides interleaved
(turn by turn at concurrency 1, A B B A blocks at 64), the median over rounds of the per-round
ratio.

Sides:

- sdk: ``Client(tracer_provider=…, meter_provider=…)`` with a ``TracerProvider`` whose spans go
  through a ``BatchSpanProcessor`` to an in-memory exporter (cleared between rounds) and a
  ``MeterProvider`` with an in-memory reader: every call makes its call span, its attempt span,
  and its duration, time-to-first-chunk, time-per-output-chunk and two token-usage records.
- api: the same client with no SDK anywhere (the process's global providers are the API's
  defaults), which is what a user who never configured OpenTelemetry runs.
- off: ``Client(telemetry=False)``, context only (what the seam itself costs).

Gate: sdk / api ≤ ``SDK_GATE`` (the issue's 1.15) at both concurrencies.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelwire.bench._target import MockProcess
from modelwire.client import Client
from modelwire.transport import Transport
from test_transport import (
    CONCURRENCIES,
    ENV,
    ROUNDS,
    Side,
    _block,
    _limits,
    _modelwire,
    _paired,
    _registry,
    _round,
)

SDK_GATE = 1.15
SDK = "sdk"
API = "api"
OFF = "off"


@dataclass
class Results:
    sides: dict[str, Side] = field(default_factory=dict)
    spans_per_request: float = 0.0


async def _measure(mock_url: str, results: Results) -> None:
    registry = _registry(mock_url + "/v1")
    limits = _limits(Transport())
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    with_sdk = Client(
        registry,
        env=ENV,
        limits=limits,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    api_only = Client(registry, env=ENV, limits=limits)
    off = Client(registry, env=ENV, limits=limits, telemetry=False)
    sdk_side = Side(SDK, "SDK installed: batch processor, in-memory exporter", _modelwire(with_sdk))
    api_side = Side(API, "OpenTelemetry API only (no SDK)", _modelwire(api_only))
    off_side = Side(OFF, "telemetry=False", _modelwire(off))
    units = [[sdk_side, api_side], [off_side]]
    sides = [sdk_side, api_side, off_side]
    results.sides = {side.name: side for side in sides}
    exported = requests = 0
    try:
        for concurrency in CONCURRENCIES:
            for side in sides:
                await _block(side.one, concurrency, concurrency)
            tracer_provider.force_flush()
            exporter.clear()
            for round_ in range(ROUNDS[concurrency]):
                gc.collect()
                await _round(units, concurrency, round_)
                requests += sdk_side.blocks[concurrency][-1].requests
                tracer_provider.force_flush()
                exported += len(exporter.get_finished_spans())
                exporter.clear()
    finally:
        for client in (with_sdk, api_only, off):
            await client.aclose()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    results.spans_per_request = exported / requests if requests else 0.0


@pytest.fixture(scope="module")
def results() -> Iterator[Results]:
    results = Results()
    with MockProcess() as mock:
        asyncio.run(_measure(mock.base_url, results))
    yield results
    _report(results)


def _report(results: Results) -> None:
    print()
    print("telemetry: chat streams of 200 chunks; client CPU per request, median of rounds")
    print(f"{'side':<6} {'c':>3} {'cpu ms/req':>11}  what")
    for concurrency in CONCURRENCIES:
        for side in results.sides.values():
            print(
                f"{side.name:<6} {concurrency:>3} {side.cpu_ms(concurrency):>11.3f}  {side.label}"
            )
    print(f"spans exported per request: {results.spans_per_request:.2f}")


@pytest.mark.parametrize("concurrency", CONCURRENCIES)
def test_an_installed_sdk_costs_at_most_15_percent_of_a_streamed_request(
    results: Results, concurrency: int
) -> None:
    sdk, api = results.sides[SDK], results.sides[API]
    ratio = _paired(sdk, api, concurrency)
    off = results.sides[OFF].cpu_ms(concurrency)
    print(
        f"\nc={concurrency}: sdk {sdk.cpu_ms(concurrency):.3f} ms/req, api only "
        f"{api.cpu_ms(concurrency):.3f} ms/req, off {off:.3f} ms/req: "
        f"sdk/api x{ratio:.3f} (gate {SDK_GATE})"
    )
    assert ratio <= SDK_GATE
    assert statistics.median(b.requests for b in sdk.blocks[concurrency]) > 0
    # Every call really made its two spans (the call and its attempt).
    assert results.spans_per_request == pytest.approx(2.0)
