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

import contextlib
import importlib.util
import multiprocessing
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any, Literal, Protocol

import anyio
import anyio.to_thread
import msgspec

from ..client import Client
from ..pricing import Price
from ..providers import ProviderInfo
from ..registry import ProviderRegistry
from ..wire import Request, user
from ._measure import (
    DEFAULT_PROMPT,
    BenchProgress,
    _open_loop,
    _slots,
    _watch_loop,
    generator_bound,
    measure_request,
    priced_totals,
)
from ._schedule import offered_rate, schedule_of
from ._schema import (
    QUANTILED,
    BenchError,
    BenchResult,
    Generator,
    RequestRecord,
    Settings,
    Target,
    TargetResult,
    TargetSummary,
    environment,
    event_loop_name,
)
from ._sketch import LatencySketch
from ._slo import meets

__all__ = ["fastest_loop", "run_workers"]

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
    prices: dict[str, Price] = msgspec.field(default_factory=dict)
    """The user's prices for this provider (``registry.prices``): a worker prices its
    replies as the parent's client would."""


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
        self.cost = Decimal(0)
        self.priced = 0
        self.interrupted = False
        """Stopped by the run before its schedule ended (Ctrl-C, SIGTERM)."""
        self.backend: Literal["process", "processes", "ray"] = "processes"
        self.event_loop = ""
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
        if record.cost_usd is not None:
            self.cost += record.cost_usd
            self.priced += 1
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
        self.cost += other.cost
        self.priced += other.priced
        self.interrupted = self.interrupted or other.interrupted
        self.event_loop = self.event_loop or other.event_loop
        for name, sketch in other.sketches.items():
            self.sketches[name].merge(sketch)
        if other.records is not None:
            self.records = (self.records or []) + other.records


class _Control(Protocol):
    """A worker's line to the run that started it (a pipe, or a Ray actor's own methods)."""

    async def say_ready(self) -> None: ...

    async def start_at(self) -> float:
        """The shared start, wall clock (``time.time``)."""
        ...

    async def stop_asked(self) -> None:
        """Returns once the run asks this worker to stop and send what it has."""
        ...


async def _work(job: _Job, control: _Control) -> _Tally:
    """One worker's share of the schedule, on whatever process runs it (see the docstring)."""
    registry = ProviderRegistry.from_config(env=job.env, catalog=None)
    registry.register(job.provider, job.info)
    if job.prices:
        registry.prices[job.provider] = dict(job.prices)
    settings = job.settings
    target = Target(job.provider, job.model, transport=job.transport)
    prompt = settings.prompt or "hello"
    request = Request(
        model=job.model, messages=(user(prompt),), max_output_tokens=settings.max_tokens
    )
    slots = _slots(settings)[job.index :: job.workers]
    tally = _Tally()
    tally.event_loop = event_loop_name()
    if job.keep_records:
        tally.records = []
    async with Client(registry, env=job.env, telemetry=False) as client:
        for _ in range(settings.warmup):
            await measure_request(client, target, request)
        await control.say_ready()
        start_at = await control.start_at()
        # The shared instant, on this process's monotonic clock.
        origin = time.perf_counter() + (start_at - time.time())
        cpu_started = time.process_time()
        lags: list[float] = []
        async with anyio.create_task_group() as group:

            async def stop_when_asked() -> None:
                await control.stop_asked()
                tally.interrupted = True
                group.cancel_scope.cancel()

            group.start_soon(stop_when_asked)
            group.start_soon(_watch_loop, lags)
            wait = origin - time.perf_counter()
            if wait > 0:
                await anyio.sleep(wait)
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
            group.cancel_scope.cancel()
        tally.wall_s = max(0.0, time.perf_counter() - origin)
        tally.cpu_s = time.process_time() - cpu_started
        for lag in lags:
            tally.sketches["loop_lag_ms"].add(lag)
    return tally


class _Remote(Protocol):
    """One worker as the run sees it, whatever runs it (``_ProcessWorker``, ``_ray``'s)."""

    async def ready(self, timeout_s: float) -> None: ...

    async def start(self, start_at: float) -> None: ...

    async def result(self, timeout_s: float | None) -> _Tally: ...

    async def stop(self) -> None:
        """Ask for the tally so far; ``result`` then brings it."""
        ...

    async def reap(self) -> None:
        """End it, whatever state it is in; never raises."""
        ...


_POLL_S = 0.05
"""How often a pipe is checked: a worker's stop and start wait at most this long."""


class _PipeControl:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def say_ready(self) -> None:
        self._connection.send(("ready", None))

    async def start_at(self) -> float:
        message = await self._next()
        if not isinstance(message, float):
            raise BenchError(f"expected the start time, got {message!r}")
        return message

    async def stop_asked(self) -> None:
        await self._next()  # "stop", or the parent gone (EOF): stop either way

    async def _next(self) -> object:
        connection = self._connection
        while True:
            try:
                if connection.poll():
                    return connection.recv()
            except (EOFError, OSError):
                return None
            await anyio.sleep(_POLL_S)


def _worker_entry(job: _Job, connection: Connection) -> None:
    """A worker process: its part of the schedule, then its tally on ``connection``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        tally = anyio.run(_work, job, _PipeControl(connection), **fastest_loop())
        connection.send(("done", tally))
    except BaseException as exc:  # the parent reports it; a worker never prints a traceback
        connection.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        connection.close()


class _ProcessWorker:
    """A worker in a ``spawn``ed process on this machine, spoken to over a pipe."""

    def __init__(self, job: _Job) -> None:
        context = multiprocessing.get_context("spawn")
        self.number = job.index
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_worker_entry,
            args=(job, child),
            name=f"modelwire-bench-worker-{job.index}",
            daemon=True,
        )
        try:
            self._process.start()
        finally:
            child.close()

    async def ready(self, timeout_s: float) -> None:
        kind, detail = await self._receive(timeout_s)
        if kind != "ready":
            raise BenchError(f"bench worker {self.number} did not start: {detail}")

    async def start(self, start_at: float) -> None:
        self._pipe.send(start_at)

    async def result(self, timeout_s: float | None) -> _Tally:
        kind, detail = await self._receive(timeout_s)
        if kind != "done":
            raise BenchError(f"bench worker {self.number} failed: {detail}")
        tally: _Tally = detail
        return tally

    async def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send("stop")

    async def reap(self) -> None:
        process = self._process
        if process.is_alive():
            process.terminate()
        await anyio.to_thread.run_sync(process.join, 5.0)
        if process.is_alive():
            process.kill()
            await anyio.to_thread.run_sync(process.join, 5.0)
        self._pipe.close()

    async def _receive(self, timeout_s: float | None) -> tuple[str, Any]:
        # Short polls in a thread, never abandoned: a cancelled wait leaves no reader behind
        # to take the message a later wait (the partial tally) is for.
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pipe = self._pipe
        while not await anyio.to_thread.run_sync(pipe.poll, _POLL_S):
            if not self._process.is_alive() and not pipe.poll():
                raise BenchError(f"bench worker {self.number} exited without a result")
            if deadline is not None and time.monotonic() > deadline:
                raise BenchError(f"bench worker {self.number} said nothing for {timeout_s:g} s")
        try:
            message: tuple[str, Any] = pipe.recv()
        except (EOFError, OSError):
            raise BenchError(f"bench worker {self.number} exited without a result") from None
        return message


def fastest_loop() -> dict[str, Any]:
    """``anyio.run`` options for the fastest installed loop: uvloop's when it is there
    (``modelwire[fast]``), else asyncio's own."""
    if importlib.util.find_spec("uvloop") is None:
        return {}
    return {"backend": "asyncio", "backend_options": {"use_uvloop": True}}


_STOP_GRACE_S = 10.0
"""How long interrupted workers have to send what they measured before they are ended."""


async def _target_with_workers(
    client: Client,
    target: Target,
    settings: Settings,
    workers: int,
    keep_records: bool,
    spawn: Callable[[_Job], Awaitable[_Remote]],
    interrupted: Callable[[_Tally], None],
) -> _Tally:
    """The merged tally of ``workers`` workers ``spawn`` starts. A run cancelled after the
    start asks each worker for its tally so far and hands the merge to ``interrupted``
    before the cancellation goes on."""
    provider = client.provider(target.provider)
    env = dict(client.env)
    remotes: list[_Remote] = []
    started = False
    try:
        for index in range(workers):
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
                prices=dict(client.registry.prices.get(provider.id, {})),
            )
            remotes.append(await spawn(job))
        for remote in remotes:
            await remote.ready(_READY_TIMEOUT_S)
        start_at = time.time() + _START_MARGIN_S
        for remote in remotes:
            await remote.start(start_at)
        started = True
        merged = _Tally(workers)
        if keep_records:
            merged.records = []
        for remote in remotes:
            merged.merge(await remote.result(None))
        return merged
    except (anyio.get_cancelled_exc_class(), KeyboardInterrupt):
        if started:
            with anyio.CancelScope(shield=True):
                interrupted(await _gather_partial(remotes, workers, keep_records))
        raise
    finally:
        # Shielded: an interrupted run still reaps every worker before it returns.
        with anyio.CancelScope(shield=True):
            for remote in remotes:
                await remote.reap()


async def _gather_partial(remotes: Sequence[_Remote], workers: int, keep: bool) -> _Tally:
    """Every worker's tally so far, each given ``_STOP_GRACE_S``; one that does not answer
    is left out (its share is missing from the counts, not invented)."""
    for remote in remotes:
        await remote.stop()
    merged = _Tally(workers)
    merged.interrupted = True
    if keep:
        merged.records = []
    for remote in remotes:
        with contextlib.suppress(BenchError):
            merged.merge(await remote.result(_STOP_GRACE_S))
    return merged


def _summary(
    tally: _Tally, settings: Settings, offered: float | None
) -> tuple[TargetSummary, Generator]:
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
    summary = TargetSummary(
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
        **priced_totals(tally.cost, tally.priced),
    )
    generator = Generator(
        workers=tally.workers,
        backend=tally.backend,
        event_loop=tally.event_loop,
        loop_lag_ms=lag,
        cpu_share=cpu_share,
        # Every worker has its own CPU: bound when they used more than their share of all.
        bound=generator_bound(send, lag, cpu_share, cpus=tally.workers),
    )
    return summary, generator


def _result(target: Target, tally: _Tally, settings: Settings) -> TargetResult:
    slots = _slots(settings)
    summary, generator = _summary(tally, settings, offered_rate(slots))
    return TargetResult(
        target=target.name,
        provider=target.provider,
        model=target.model,
        summary=summary,
        requests=sorted(tally.records or [], key=lambda record: record.index),
        transport=target.transport,
        stopped_early=tally.stopped,
        generator=generator,
        schedule=schedule_of(settings, slots),
        quantiles={
            name: tally.sketches[name].quantiles()
            for name in QUANTILED
            if tally.sketches[name].count
        },
        interrupted=tally.interrupted,
    )


async def run_workers(
    client: Client,
    targets: Sequence[Target],
    settings: Settings,
    *,
    workers: int | None = None,
    keep_records: bool = False,
    progress: BenchProgress | None = None,
    ray: str | None = None,
) -> BenchResult:
    """Each target in turn over ``workers`` processes on this machine, or, with ``ray``
    (``"auto"`` or a cluster's address, see ``_ray``), over ``workers`` Ray actors (by
    default one per CPU of the cluster); an open loop only (``settings.rate`` or
    ``settings.trace``). Interrupted, the target in progress goes to ``progress`` as what its
    workers had measured (``interrupted`` set) before the cancellation goes on."""
    if not settings.open_loop:
        raise BenchError("workers share an open loop's schedule: give a rate or a trace")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers is None and ray is None:
        raise ValueError("say how many workers (only Ray can count a cluster's CPUs)")
    if not settings.prompt:
        settings = msgspec.structs.replace(settings, prompt=DEFAULT_PROMPT)
    progress = progress or BenchProgress()
    for target in targets:
        provider = client.provider(target.provider)
        client.credentials(provider)
        client.uses_socket(provider, target.transport)
    backend: Literal["processes", "ray"]
    async with contextlib.AsyncExitStack() as stack:
        if ray is None:
            assert workers is not None
            count, backend = workers, "processes"

            async def spawn(job: _Job) -> _Remote:
                return _ProcessWorker(job)

        else:
            from ._ray import ray_cluster

            cluster = await stack.enter_async_context(ray_cluster(ray))
            count, backend, spawn = workers or cluster.cpus(), "ray", cluster.spawn
        env = environment()
        progress.run_started(env, settings)
        results: list[TargetResult] = []
        for target in targets:
            progress.target_started(target, settings)

            def interrupted(tally: _Tally, target: Target = target) -> None:
                tally.backend = backend
                progress.target_done(target, _result(target, tally, settings))

            tally = await _target_with_workers(
                client, target, settings, count, keep_records, spawn, interrupted
            )
            tally.backend = backend
            result = _result(target, tally, settings)
            results.append(result)
            progress.target_done(target, result)
    return BenchResult(environment=env, settings=settings, targets=results)
