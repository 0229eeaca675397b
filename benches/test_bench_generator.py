"""The load generator's own limits: how exactly merged sketches answer, at what memory, how
late one and two worker processes send at a rate, and the highest rate each sends on time.

Sketches (gated): 10⁶ log-normal latencies (``random.Random(7)``) split into ten workers'
sketches and merged; p50/p90/p99/p99.9 against the exact percentiles of the same samples, and
the merged sketch's pickled size (what a worker sends) against a list of the samples' floats
(``sys.getsizeof`` of the list and of each float: what keeping every sample costs). Gates: every
relative error within ``SKETCH_ERROR_GATE`` (1 %), memory at most ``MEMORY_GATE`` (1/100).

Generator lag (reported, not gated: this house gates ratios, never absolute times): against
``modelwire mock`` in a child process (20 output pieces a reply, no delays), an open loop at
each rate of ``RATES`` for ``SECONDS`` s, with one worker (this process) and with two
(``--workers 2``); per run the send lag p99 (how late requests left against their schedule),
the event-loop lag p99, the generator-bound verdict and the mock's share of a CPU.

Highest on-time rate (reported, not gated): the same target, one and two workers, each run
``CEILING_SECONDS`` s. A rate is sustained when the send lag p99 is at most ``CEILING_LAG_MS``
(5 ms, the generator-bound mark), every request succeeded and the achieved rate is at least
``CEILING_ACHIEVED`` (90 %) of the offered one. From ``CEILING_START`` (100 req/s) the rate
doubles until one fails (at most ``CEILING_CAP``), then the bracket between the last pass and
the first fail is halved (geometrically) until within ``CEILING_BRACKET`` (10 %), in at most
``CEILING_RUNS`` runs per worker count. Printed: every probe, the highest sustained rate with
its client CPU per request, and what limited the first failing rate. The machine's two CPUs
hold the generator and the mock, so the mock's CPU time (``/proc/<pid>/stat``) over each run
says whether it, the generator, or the two together were the limit; when none ran out of CPU,
what remains is printed: the event loop's own lag, more busy processes than CPUs, and the
share of CPU time the virtual machine's host took (steal, ``/proc/stat``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import pickle
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import Settings, Target, run_bench
from modelwire.bench._schema import TargetResult, TargetSummary
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

CEILING_SECONDS = 2.0 if FAST else 5.0
CEILING_LAG_MS = 5.0
CEILING_ACHIEVED = 0.9
CEILING_START = 100.0
CEILING_CAP = 3200.0
CEILING_BRACKET = 1.1
CEILING_RUNS = 8
BUSY = 0.9
"""A process using more than this share of a CPU is taken to be the limit."""
STEAL = 0.01
"""Steal over this share of the CPUs' time is named as a cause of late wake-ups."""


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


def _process_cpu_s(pid: int) -> float | None:
    """Another process's CPU time so far (user + system, all its threads), from
    ``/proc/<pid>/stat``: ``time.process_time`` only sees this process, and the mock's share
    of the two CPUs is what says whether it, not the generator, was the limit."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: count fields after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_ticks() -> tuple[int, int] | None:
    """(stolen, all) CPU ticks of the machine so far, from ``/proc/stat``: on a virtual
    machine the host takes time from the guest's CPUs (steal), which no process here shows
    but every wake-up can wait for."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    ticks = [int(field) for field in line.split()[1:]]
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


@dataclasses.dataclass(frozen=True)
class _Run:
    """One open-loop run against the mock child, with the mock's share of a CPU over it."""

    rate: float
    workers: int
    result: TargetResult
    mock_share: float | None
    steal: float | None
    """The share of the machine's CPU time its host took over the run."""

    @property
    def summary(self) -> TargetSummary:
        return self.result.summary

    @property
    def client_share(self) -> float | None:
        """The generator's CPU over the timed phase, in CPUs (summed over its workers)."""
        summary = self.summary
        if summary.cpu_s is None or summary.wall_s <= 0:
            return None
        return summary.cpu_s / summary.wall_s

    @property
    def bound(self) -> str | None:
        return self.result.generator.bound

    @property
    def send_p99(self) -> float:
        lag = self.summary.send_lag_ms
        return lag.p99 if lag is not None else math.nan

    @property
    def loop_p99(self) -> float:
        lag = self.result.generator.loop_lag_ms
        return lag.p99 if lag is not None else math.nan

    @property
    def achieved(self) -> float:
        """The achieved rate's share of the offered one."""
        offered = self.summary.offered_rate or self.rate
        return self.summary.requests_per_s / offered

    @property
    def misses(self) -> list[str]:
        """Why this rate was not sustained (empty when it was)."""
        summary = self.summary
        missed = []
        if not self.send_p99 <= CEILING_LAG_MS:
            missed.append(f"send lag p99 over {CEILING_LAG_MS:g} ms")
        if summary.ok != summary.requests:
            missed.append(f"{summary.requests - summary.ok} failed")
        if self.achieved < CEILING_ACHIEVED:
            missed.append(f"achieved under {CEILING_ACHIEVED:.0%}")
        return missed

    @property
    def cpu_ms(self) -> float:
        value = self.summary.cpu_ms_per_request
        return value if value is not None else math.nan

    def line(self) -> str:
        summary = self.summary
        verdict = "pass" if not self.misses else "FAIL (" + ", ".join(self.misses) + ")"
        return (
            f"  {self.rate:>5.0f} req/s, {self.workers} worker(s): send lag p99 "
            f"{self.send_p99:6.2f} ms, event-loop lag p99 {self.loop_p99:6.2f} ms, "
            f"achieved {summary.requests_per_s:7.1f} req/s "
            f"({self.achieved:.0%}), {self.cpu_ms:.3f} ms CPU/request, "
            f"{_shares(self)}: {verdict}"
        )


def _shares(run: _Run) -> str:
    client = run.client_share
    mock = run.mock_share
    return (
        f"client CPU {'?' if client is None else f'{client:.0%}'}, "
        f"mock CPU {'?' if mock is None else f'{mock:.0%}'}, "
        f"steal {'?' if run.steal is None else f'{run.steal:.1%}'}"
    )


def _limit(run: _Run) -> str:
    """What held ``run`` back, as far as its figures tell: a process out of CPU, the CPUs out
    of room; else what is left to blame, the event loop's own queue (its timer as late as the
    sends) and more busy processes than CPUs (a wake-up waits for a time slice)."""
    client, mock = run.client_share, run.mock_share
    if client is None or mock is None:
        return "not measured"
    cpus = os.cpu_count() or 1
    if mock > BUSY:
        return f"the mock, out of CPU ({_shares(run)})"
    if client / run.workers > BUSY:
        return f"the generator, out of CPU ({_shares(run)} over {run.workers} process(es))"
    if client + mock > BUSY * cpus:
        return f"the machine's {cpus} CPUs, shared ({_shares(run)})"
    seen = [f"no process out of CPU ({_shares(run)})"]
    if run.loop_p99 > CEILING_LAG_MS:
        seen.append(
            f"the generator's event loop ran its timer late too (p99 {run.loop_p99:.1f} ms): "
            "ready callbacks queue in it"
        )
    if run.workers + 1 > cpus:
        seen.append(f"{run.workers + 1} busy processes share {cpus} CPUs")
    if run.steal is not None and run.steal > STEAL:
        seen.append(f"the host took {run.steal:.1%} of the CPUs' time")
    return "; ".join(seen)


async def _open_loop_run(base_url: str, rate: float, workers: int, seconds: float) -> TargetResult:
    """The house target for the generator's limits: Chat Completions, 20 output pieces a
    reply, a seeded poisson schedule of ``seconds`` s at ``rate``."""
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
        duration_s=seconds, rate=rate, arrival="poisson", seed=1, warmup=2, prompt="hi"
    )
    target = Target("loop", "mock-model")
    async with Client(registry, env={}, telemetry=False) as client:
        if workers == 1:
            result = await run_bench(client, [target], settings)
        else:
            result = await run_workers(client, [target], settings, workers=workers)
    return result.targets[0]


def _run(mock: MockProcess, rate: float, workers: int, seconds: float) -> _Run:
    """One run, with the mock's CPU time over it divided by the timed phase's wall time (the
    warm-ups and the workers' start add a few requests' worth, not a share)."""
    before, ticks_before = _process_cpu_s(mock.pid), _cpu_ticks()
    result = asyncio.run(_open_loop_run(mock.base_url, rate, workers, seconds))
    after, ticks_after = _process_cpu_s(mock.pid), _cpu_ticks()
    summary = result.summary
    share = None
    if before is not None and after is not None and summary.wall_s > 0:
        share = round((after - before) / summary.wall_s, 3)
    steal = None
    if ticks_before is not None and ticks_after is not None:
        elapsed = ticks_after[1] - ticks_before[1]
        steal = (ticks_after[0] - ticks_before[0]) / elapsed if elapsed > 0 else None
    # The figures are only worth reporting for a run that sent what it was offered.
    assert summary.requests > rate * seconds * 0.5, summary
    return _Run(rate, workers, result, share, steal)


def test_generator_lag_with_one_and_two_workers_is_reported() -> None:
    lines = [f"\ngenerator lag, open loop of {SECONDS:g} s per run against a mock child:"]
    with MockProcess(["--no-socket-deflate"]) as mock:
        for rate in RATES:
            for workers in (1, 2):
                run = _run(mock, rate, workers, SECONDS)
                summary = run.summary
                assert summary.ok == summary.requests
                bound = run.bound
                verdict = "kept up" if bound is None else f"generator-bound: {bound}"
                lines.append(
                    f"  {rate:>5g} req/s, {workers} worker(s): send lag p99 {run.send_p99:.2f} "
                    f"ms, event-loop lag p99 {run.loop_p99:.2f} ms, {_shares(run)}, {verdict}"
                )
    print("\n".join(lines))


def _ceiling(probe: Callable[[float], _Run]) -> tuple[_Run | None, _Run | None, int]:
    """(highest sustained run, lowest failed run, runs made): doubling from
    ``CEILING_START`` until a rate fails or ``CEILING_CAP`` passes, then geometric halving of
    the bracket until within ``CEILING_BRACKET``, in at most ``CEILING_RUNS`` runs. Noise can
    make a rate pass above one that failed; the bracket then just keeps the latest word."""
    best: _Run | None = None
    failed: _Run | None = None
    runs = 0
    rate = CEILING_START
    while runs < CEILING_RUNS:
        run = probe(rate)
        runs += 1
        if run.misses:
            failed = run
            break
        best = run
        if rate >= CEILING_CAP:
            break
        rate = min(rate * 2, CEILING_CAP)
    while (
        best is not None
        and failed is not None
        and failed.rate / best.rate > CEILING_BRACKET
        and runs < CEILING_RUNS
    ):
        run = probe(round(math.sqrt(best.rate * failed.rate)))
        runs += 1
        if run.misses:
            failed = run
        else:
            best = run
    return best, failed, runs


def test_highest_on_time_rate_with_one_and_two_workers_is_reported() -> None:
    print(
        f"\nhighest on-time rate, open loop of {CEILING_SECONDS:g} s per probe against a mock "
        f"child (pass: send lag p99 <= {CEILING_LAG_MS:g} ms, every request ok, achieved >= "
        f"{CEILING_ACHIEVED:.0%} of offered):"
    )
    found: dict[int, tuple[_Run | None, _Run | None]] = {}
    started = time.perf_counter()
    with MockProcess(["--no-socket-deflate"]) as mock:
        for workers in (1, 2):

            def probe(rate: float, workers: int = workers) -> _Run:
                run = _run(mock, rate, workers, CEILING_SECONDS)
                print(run.line(), flush=True)
                return run

            best, failed, _ = _ceiling(probe)
            found[workers] = best, failed
    parts = []
    for workers, (best, failed) in found.items():
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        if best is None:
            parts.append(f"{label} none ({CEILING_START:g} req/s already failed)")
        else:
            capped = " (the cap: none failed)" if failed is None else ""
            parts.append(
                f"{label} {best.rate:.0f} req/s{capped} (CPU {best.cpu_ms:.3f} ms/request)"
            )
    print(f"highest rate with send lag p99 ≤ {CEILING_LAG_MS:g} ms: " + ", ".join(parts))
    for workers, (_, failed) in found.items():
        if failed is not None:
            print(f"  limit at {failed.rate:.0f} req/s, {workers} worker(s): {_limit(failed)}")
    print(f"  ({time.perf_counter() - started:.0f} s in all)")
