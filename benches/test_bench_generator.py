"""The load generator's own limits: how exactly merged sketches answer, at what memory, and how
late one and two worker processes send at a rate.

Sketches (gated): 10⁶ log-normal latencies (``random.Random(7)``) split into ten workers'
sketches and merged; p50/p90/p99/p99.9 against the exact percentiles of the same samples, and
the merged sketch's pickled size (what a worker sends) against a list of the samples' floats
(``sys.getsizeof`` of the list and of each float: what keeping every sample costs). Gates: every
relative error within ``SKETCH_ERROR_GATE`` (1 %), memory at most ``MEMORY_GATE`` (1/100).

Generator lag (reported, not gated: this house gates ratios, never absolute times): against
``modelwire mock`` in a child process (20 output pieces a reply, no delays), an open loop at
each rate of ``RATES`` for ``SECONDS`` s, with one worker (this process) and with two
(``--workers 2``); per run the send lag p99 (how late requests left against their schedule),
the event-loop lag p99 and the generator-bound verdict. The machine's two CPUs hold the
generator and the mock, so which one is the limit is printed from the mock's share too.
"""

from __future__ import annotations

import asyncio
import pickle
import random
import sys

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import Settings, Target, run_bench
from modelwire.bench._sketch import LatencySketch
from modelwire.bench._stats import percentile
from modelwire.bench._target import MockProcess
from modelwire.bench._workers import run_workers

from _ratio import FAST

SAMPLES = 1_000_000
PARTS = 10
SKETCH_ERROR_GATE = 0.01
MEMORY_GATE = 0.01
RATES = (100.0, 200.0) if FAST else (100.0, 200.0, 400.0)
SECONDS = 3.0 if FAST else 6.0


def test_merged_sketches_answer_within_1_percent_at_a_hundredth_of_the_memory() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(4.0, 1.0) for _ in range(SAMPLES)]
    step = SAMPLES // PARTS
    merged = LatencySketch()
    for start in range(0, SAMPLES, step):
        merged.merge(LatencySketch(values[start : start + step]))
    ordered = sorted(values)
    errors = {}
    for q in (0.5, 0.9, 0.99, 0.999):
        exact = percentile(ordered, q)
        errors[q] = abs(merged.quantile(q) - exact) / exact
    kept = sys.getsizeof(values) + sum(sys.getsizeof(value) for value in values)
    sent = len(pickle.dumps(merged))
    memory = sent / kept
    print(
        f"\nsketches: {SAMPLES} samples in {PARTS} merged sketches; relative error "
        + ", ".join(f"p{q * 100:g} {error:.4%}" for q, error in errors.items())
        + f" (gate {SKETCH_ERROR_GATE:.0%}); {sent} B sent vs {kept} B kept: x{memory:.5f} "
        f"(gate {MEMORY_GATE})"
    )
    assert max(errors.values()) <= SKETCH_ERROR_GATE
    assert memory <= MEMORY_GATE


async def _lag(
    base_url: str, rate: float, workers: int
) -> tuple[float, float, str | None, int, int]:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register(
        "loop",
        ProviderInfo(
            base_url=base_url + "/v1",
            wire_api=WireApi.CHAT,
            http_headers={"x-mock-output-tokens": "20"},
        ),
    )
    settings = Settings(
        duration_s=SECONDS, rate=rate, arrival="poisson", seed=1, warmup=2, prompt="hi"
    )
    target = Target("loop", "mock-model")
    async with Client(registry, env={}, telemetry=False) as client:
        if workers == 1:
            result = await run_bench(client, [target], settings)
        else:
            result = await run_workers(client, [target], settings, workers=workers)
    summary = result.targets[0].summary
    send = summary.send_lag_ms.p99 if summary.send_lag_ms else float("nan")
    loop = summary.loop_lag_ms.p99 if summary.loop_lag_ms else float("nan")
    return send, loop, summary.generator_bound, summary.ok, summary.requests


def test_generator_lag_with_one_and_two_workers_is_reported() -> None:
    lines = [f"\ngenerator lag, open loop of {SECONDS:g} s per run against a mock child:"]
    with MockProcess(["--no-socket-deflate"]) as mock:
        for rate in RATES:
            for workers in (1, 2):
                send, loop, bound, ok, sent = asyncio.run(_lag(mock.base_url, rate, workers))
                # The figures are only worth reporting for a run that did what it offered.
                assert ok == sent > rate * SECONDS * 0.5
                verdict = "kept up" if bound is None else f"generator-bound: {bound}"
                lines.append(
                    f"  {rate:>5g} req/s, {workers} worker(s): send lag p99 {send:.2f} ms, "
                    f"event-loop lag p99 {loop:.2f} ms, {verdict}"
                )
    print("\n".join(lines))
