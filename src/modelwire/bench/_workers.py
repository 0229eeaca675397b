"""Many processes, one schedule: an open loop beyond what one event loop can send.

One Python process sends a few hundred requests a second before its own event loop becomes
the bottleneck (the generator-bound mark says when). ``--workers N`` starts N processes on
this machine (``multiprocessing``'s ``spawn``: fresh interpreters, nothing inherited but the
arguments). Each builds its own client for the target's provider (the parent's resolved
``ProviderInfo`` and environment), runs its warm-ups, says it is ready, and then all start
together at a wall-clock instant the parent picks once every one is ready. The schedule is
the one a single process would run (same settings, same seed); worker ``k`` of ``N`` takes
every ``N``-th request from the ``k``-th, so the offered load and its shape are unchanged.

Workers send back tallies, not samples: counts, errors, tokens, and a ``LatencySketch`` per
distribution, merged in the parent into the same ``TargetSummary`` one process reports (the
quantiles within the sketch's 0.5 %). Per-request records come back only when asked
(``--records``). A worker ignores Ctrl-C: the parent owns the run, and on any ending — done,
interrupted, failed — terminates and reaps every worker before it returns, so none outlives
the command.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import Counter
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from ..client import Client
from ..providers import ProviderInfo
from ..registry import ProviderRegistry
from ..wire import Request, user
from ._measure import (
    BenchProgress,
    _open_loop,
    _slots,
    _watch_loop,
    generated_prompt,
    generator_bound,
    measure_request,
)
from ._schedule import offered_rate
from ._schema import (
    BenchError,
    BenchResult,
    RequestRecord,
    Settings,
    Target,
    TargetResult,
    TargetSummary,
    environment,
)
from ._sketch import LatencySketch
from ._slo import meets

__all__ = ["run_workers"]

_READY_TIMEOUT_S = 120.0
"""How long a worker may take to start, import and warm up before the run gives up."""
_START_MARGIN_S = 0.2
"""Between the last worker saying it is ready and the shared start."""

_SKETCHES = (
    "ttfb_ms",
    "ttft_ms",
    "itl_ms",
    "e2e_ms",
    "decode_tokens_per_s",
    "send_lag_ms",
    "queue_ms",
    "ttft_scheduled_ms",
    "e2e_scheduled_ms",
    "loop_lag_ms",
)


class _Job(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    workers: int
    provider: str
    info: ProviderInfo
    model: str
    transport: str
    settings: Settings
    env: dict[str, str]
    keep_records: bool


class _Tally:
    """One worker's (or, merged, every worker's) figures for one target."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self.requests = 0
        self.ok = 0
        self.errors: Counter[str] = Counter()
        self.tokens = 0
        self.transports: Counter[str] = Counter()
        self.slo_met = 0
        self.good_tokens = 0
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.stopped = False
        self.sketches = {name: LatencySketch() for name in _SKETCHES}
        self.records: list[RequestRecord] | None = None

    def add(self, record: RequestRecord, settings: Settings) -> None:
        self.requests += 1
        if record.transport is not None:
            self.transports[record.transport] += 1
        late = record.lag_ms or 0.0
        sketches = self.sketches
        if record.lag_ms is not None:
            sketches["send_lag_ms"].add(record.lag_ms - (record.queue_ms or 0.0))
        if record.queue_ms is not None:
            sketches["queue_ms"].add(record.queue_ms)
        if settings.slo is not None and meets(record, settings.slo):
            self.slo_met += 1
            self.good_tokens += record.output_tokens
        if self.records is not None:
            self.records.append(record)
        if record.error is not None:
            self.errors[record.error] += 1
            return
        self.ok += 1
        self.tokens += record.output_tokens
        if record.ttfb_ms is not None:
            sketches["ttfb_ms"].add(record.ttfb_ms)
        if record.ttft_ms is not None:
            sketches["ttft_ms"].add(record.ttft_ms)
            sketches["ttft_scheduled_ms"].add(record.ttft_ms + late)
        for gap in record.itl_ms:
            sketches["itl_ms"].add(gap)
        sketches["e2e_ms"].add(record.e2e_ms)
        sketches["e2e_scheduled_ms"].add(record.e2e_ms + late)
        streaming_s = sum(record.itl_ms) / 1000
        if record.output_tokens > 1 and streaming_s > 0:
            sketches["decode_tokens_per_s"].add((record.output_tokens - 1) / streaming_s)

    def merge(self, other: _Tally) -> None:
        self.requests += other.requests
        self.ok += other.ok
        self.errors.update(other.errors)
        self.tokens += other.tokens
        self.transports.update(other.transports)
        self.slo_met += other.slo_met
        self.good_tokens += other.good_tokens
        self.wall_s = max(self.wall_s, other.wall_s)
        self.cpu_s += other.cpu_s
        self.stopped = self.stopped or other.stopped
        for name, sketch in other.sketches.items():
            self.sketches[name].merge(sketch)
        if other.records is not None:
            self.records = (self.records or []) + other.records


def _worker_entry(job: _Job, connection: Connection) -> None:
    """A worker process: its part of the schedule, then its tally on ``connection``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        tally = anyio.run(_work, job, connection)
        connection.send(("done", tally))
    except BaseException as exc:  # the parent reports it; a worker never prints a traceback
        connection.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        connection.close()


async def _work(job: _Job, connection: Connection) -> _Tally:
    registry = ProviderRegistry.from_config(env=job.env, catalog=None)
    registry.register(job.provider, job.info)
    settings = job.settings
    target = Target(job.provider, job.model, transport=job.transport)
    prompt = settings.prompt or "hello"
    request = Request(
        model=job.model, messages=(user(prompt),), max_output_tokens=settings.max_tokens
    )
    slots = _slots(settings)[job.index :: job.workers]
    tally = _Tally()
    if job.keep_records:
        tally.records = []
    async with Client(registry, env=job.env, telemetry=False) as client:
        for _ in range(settings.warmup):
            await measure_request(client, target, request)
        connection.send(("ready", None))
        start_at: float = await anyio.to_thread.run_sync(connection.recv)
        # The shared instant, on this process's monotonic clock.
        origin = time.perf_counter() + (start_at - time.time())
        wait = origin - time.perf_counter()
        if wait > 0:
            await anyio.sleep(wait)
        cpu_started = time.process_time()
        lags: list[float] = []
        async with anyio.create_task_group() as watch:
            watch.start_soon(_watch_loop, lags)
            # Offsets stay the schedule's own: worker k's first request is not at 0.
            tally.stopped = await _open_loop(
                client,
                target,
                request,
                slots,
                max_concurrency=(
                    None
                    if settings.max_concurrency is None
                    else max(1, settings.max_concurrency // job.workers)
                ),
                origin=origin,
                done=lambda record: tally.add(
                    # Its index in the whole schedule, not in this worker's share of it.
                    msgspec.structs.replace(record, index=job.index + record.index * job.workers),
                    settings,
                ),
            )
            watch.cancel_scope.cancel()
        tally.wall_s = time.perf_counter() - origin
        tally.cpu_s = time.process_time() - cpu_started
        for lag in lags:
            tally.sketches["loop_lag_ms"].add(lag)
    return tally


async def _target_with_workers(
    client: Client, target: Target, settings: Settings, workers: int, keep_records: bool
) -> _Tally:
    provider = client.provider(target.provider)
    context = multiprocessing.get_context("spawn")
    env = dict(client.env)
    pipes: list[Connection] = []
    processes: list[Any] = []
    try:
        for index in range(workers):
            parent, child = context.Pipe()
            job = _Job(
                index=index,
                workers=workers,
                provider=provider.id,
                info=provider.info,
                model=target.model,
                transport=target.transport,
                settings=settings,
                env=env,
                keep_records=keep_records,
            )
            process = context.Process(
                target=_worker_entry,
                args=(job, child),
                name=f"modelwire-bench-worker-{index}",
                daemon=True,
            )
            process.start()
            child.close()
            pipes.append(parent)
            processes.append(process)
        for number, pipe in enumerate(pipes):
            kind, detail = await _receive(pipe, _READY_TIMEOUT_S, number)
            if kind != "ready":
                raise BenchError(f"bench worker {number} did not start: {detail}")
        start_at = time.time() + _START_MARGIN_S
        for pipe in pipes:
            pipe.send(start_at)
        merged = _Tally(workers)
        if keep_records:
            merged.records = []
        for number, pipe in enumerate(pipes):
            kind, detail = await _receive(pipe, None, number)
            if kind != "done":
                raise BenchError(f"bench worker {number} failed: {detail}")
            merged.merge(detail)
        return merged
    finally:
        # Shielded: an interrupted run still reaps every worker before it returns.
        with anyio.CancelScope(shield=True):
            for process in processes:
                if process.is_alive():
                    process.terminate()
            for process in processes:
                await anyio.to_thread.run_sync(process.join, 5.0)
                if process.is_alive():
                    process.kill()
                    await anyio.to_thread.run_sync(process.join, 5.0)
            for pipe in pipes:
                pipe.close()


async def _receive(pipe: Connection, timeout_s: float | None, number: int) -> tuple[str, Any]:
    def wait() -> tuple[str, Any]:
        if not pipe.poll(timeout_s):
            raise BenchError(f"bench worker {number} said nothing for {timeout_s:g} s")
        try:
            message: tuple[str, Any] = pipe.recv()
        except EOFError:
            raise BenchError(f"bench worker {number} exited without a result") from None
        return message

    return await anyio.to_thread.run_sync(wait, abandon_on_cancel=True)


def _summary(tally: _Tally, settings: Settings, offered: float | None) -> TargetSummary:
    sketches = tally.sketches
    wall = tally.wall_s
    lag = sketches["loop_lag_ms"].stats()
    send = sketches["send_lag_ms"].stats()
    cpu_share = None if wall <= 0 else round(tally.cpu_s / wall, 3)
    slo = settings.slo
    attained = None
    if slo is not None and tally.ok:
        checks = [
            (slo.ttft_ms, sketches["ttft_scheduled_ms"]),
            (slo.e2e_ms, sketches["e2e_scheduled_ms"]),
            (slo.itl_ms, sketches["itl_ms"]),
        ]
        attained = all(
            sketch.quantile(slo.percentile) <= limit
            for limit, sketch in checks
            if limit is not None and sketch.count
        )
    return TargetSummary(
        requests=tally.requests,
        ok=tally.ok,
        errors=dict(sorted(tally.errors.items())),
        wall_s=round(wall, 6),
        requests_per_s=round(tally.ok / wall, 3) if wall > 0 else 0.0,
        output_tokens=tally.tokens,
        output_tokens_per_s=round(tally.tokens / wall, 3) if wall > 0 else 0.0,
        ttfb_ms=sketches["ttfb_ms"].stats(),
        ttft_ms=sketches["ttft_ms"].stats(),
        itl_ms=sketches["itl_ms"].stats(),
        e2e_ms=sketches["e2e_ms"].stats(),
        decode_tokens_per_s=sketches["decode_tokens_per_s"].stats(),
        transports=dict(sorted(tally.transports.items())),
        cpu_s=round(tally.cpu_s, 6),
        cpu_ms_per_request=(
            round(tally.cpu_s * 1000 / tally.requests, 3) if tally.requests else None
        ),
        offered_rate=None if offered is None else round(offered, 3),
        send_lag_ms=send,
        queue_ms=sketches["queue_ms"].stats(),
        ttft_scheduled_ms=sketches["ttft_scheduled_ms"].stats(),
        e2e_scheduled_ms=sketches["e2e_scheduled_ms"].stats(),
        slo_met=None if slo is None else tally.slo_met,
        goodput_requests_per_s=(
            None if slo is None else (round(tally.slo_met / wall, 3) if wall > 0 else 0.0)
        ),
        goodput_tokens_per_s=(
            None if slo is None else (round(tally.good_tokens / wall, 3) if wall > 0 else 0.0)
        ),
        slo_attained=attained,
        loop_lag_ms=lag,
        cpu_share=cpu_share,
        # Every worker has its own CPU: bound when they used more than their share of all.
        generator_bound=generator_bound(send, lag, cpu_share, cpus=tally.workers),
    )


async def run_workers(
    client: Client,
    targets: Sequence[Target],
    settings: Settings,
    *,
    workers: int,
    keep_records: bool = False,
    progress: BenchProgress | None = None,
) -> BenchResult:
    """Each target in turn over ``workers`` processes (see the module docstring); an open
    loop only (``settings.rate`` or ``settings.trace``)."""
    if not settings.open_loop:
        raise BenchError("workers share an open loop's schedule: give a rate or a trace")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not settings.prompt:
        settings = msgspec.structs.replace(settings, prompt=generated_prompt(20))
    progress = progress or BenchProgress()
    for target in targets:
        provider = client.provider(target.provider)
        client.credentials(provider)
        client.uses_socket(provider, target.transport)
    env = environment()
    progress.run_started(env, settings)
    results: list[TargetResult] = []
    for target in targets:
        progress.target_started(target, settings)
        tally = await _target_with_workers(client, target, settings, workers, keep_records)
        offered = offered_rate(_slots(settings))
        records = sorted(tally.records or [], key=lambda record: record.index)
        result = TargetResult(
            target=target.name,
            provider=target.provider,
            model=target.model,
            summary=_summary(tally, settings, offered),
            requests=records,
            transport=target.transport,
            stopped_early=tally.stopped,
            workers=workers,
        )
        results.append(result)
        progress.target_done(target, result)
    return BenchResult(environment=env, settings=settings, targets=results)
