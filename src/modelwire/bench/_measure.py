"""Measuring: one target's requests run and timed, then summarised (the data path's middle;
what is measured, and how, is the package's docstring)."""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import msgspec

from ..client import Client
from ..wire import (
    Completed,
    ErrorEvent,
    ReasoningDelta,
    Request,
    TextDelta,
    ToolCallDelta,
    Usage,
    user,
)
from ._schedule import LoadShape, Slot, build_schedule, offered_rate, read_trace, schedule_of
from ._schema import (
    DEFAULT_REQUESTS,
    QUANTILED,
    BenchResult,
    Environment,
    Generator,
    MockProfile,
    RequestRecord,
    Settings,
    Target,
    TargetResult,
    TargetSummary,
    TransportComparison,
    environment,
    event_loop_name,
)
from ._slo import Slo, attained, meets
from ._stats import Stats, quantiles_of, stats_of

__all__ = [
    "DEFAULT_PROMPT",
    "GENERATOR_BOUND_CPU",
    "GENERATOR_BOUND_LAG_MS",
    "BenchProgress",
    "RunRecorder",
    "compare_transports",
    "cost_figures",
    "generated_prompt",
    "generator_bound",
    "measure_request",
    "priced_totals",
    "record_quantiles",
    "run_bench",
    "summarize",
]

DEFAULT_PROMPT = "Explain in about 100 words why response latency matters in interactive software."
_Done = Callable[[RequestRecord], None]
_TOKEN_EVENTS = frozenset({TextDelta, ReasoningDelta, ToolCallDelta})
_FILLER = (
    "the quick brown fox jumps over a lazy dog while we time how long each model takes "
    "to answer and how fast it streams"
)


class BenchProgress:
    """Hooks for a progress display; the default does nothing. Called on the event loop
    between requests, so they must be quick: other requests are in flight meanwhile."""

    def run_started(self, environment: Environment, settings: Settings) -> None:
        """The run begins, with the settings it records (defaults filled in)."""

    def target_started(self, target: Target, settings: Settings) -> None:
        """The target's timed phase begins (its warm-ups are done)."""

    def request_sent(self, target: Target) -> None:
        """A timed request was handed to the client (its end is ``request_done``)."""

    def request_done(self, target: Target, record: RequestRecord) -> None:
        """A timed request ended, successfully or not."""

    def target_done(self, target: Target, result: TargetResult) -> None:
        """The target's last timed request ended."""


class RunRecorder(BenchProgress):
    """Progress hooks that keep what the run has measured, passing each call on to ``inner``.

    A run that is cancelled (Ctrl-C) cannot return its result, so the caller keeps this and
    asks ``partial()`` afterwards: the measurements of an interrupted run are still findings.
    """

    def __init__(self, inner: BenchProgress | None = None) -> None:
        self.inner = inner or BenchProgress()
        self.mock_profile: MockProfile | None = None
        """Copied into ``partial()``'s result (set by whoever started the mock)."""
        self._environment: Environment | None = None
        self._settings: Settings | None = None
        self._finished: list[TargetResult] = []
        self._current: tuple[Target, Settings, float, float, list[RequestRecord]] | None = None

    def run_started(self, environment: Environment, settings: Settings) -> None:
        self._environment, self._settings = environment, settings
        self.inner.run_started(environment, settings)

    def target_started(self, target: Target, settings: Settings) -> None:
        self._current = (target, settings, time.perf_counter(), time.process_time(), [])
        self.inner.target_started(target, settings)

    def request_sent(self, target: Target) -> None:
        self.inner.request_sent(target)

    def request_done(self, target: Target, record: RequestRecord) -> None:
        if self._current is not None:
            self._current[4].append(record)
        self.inner.request_done(target, record)

    def target_done(self, target: Target, result: TargetResult) -> None:
        self._finished.append(result)
        self._current = None
        self.inner.target_done(target, result)

    def partial(self) -> BenchResult | None:
        """What was measured so far, marked ``interrupted``; ``None`` before the run began."""
        if self._environment is None or self._settings is None:
            return None
        targets = list(self._finished)
        if self._current is not None:
            target, settings, started, cpu_started, records = self._current
            if records:
                targets.append(
                    _target_result(
                        target,
                        records,
                        wall_s=time.perf_counter() - started,
                        cpu_s=time.process_time() - cpu_started,
                        settings=settings,
                        interrupted=True,
                    )
                )
        return BenchResult(
            environment=self._environment,
            settings=self._settings,
            targets=targets,
            mock_profile=self.mock_profile,
            comparisons=compare_transports(targets),
            interrupted=True,
        )


def generated_prompt(tokens: int) -> str:
    """A prompt of ``tokens`` common short English words, each one token in the usual BPE
    vocabularies, so ``--prompt-tokens N`` sends about N input tokens to any provider."""
    return " ".join(itertools.islice(itertools.cycle(_FILLER.split()), tokens))


async def run_bench(
    client: Client,
    targets: Sequence[Target],
    settings: Settings | None = None,
    *,
    progress: BenchProgress | None = None,
    backlog_limit: int | None = None,
) -> BenchResult:
    """Benchmark each target in turn (``backlog_limit``: see ``_open_loop``); raises at once
    (before any request) for a target whose provider is unknown, whose credentials are
    missing or that asks for a transport its provider lacks (``ConfigError`` from
    ``Client.uses_socket``), since every request would fail."""
    settings = settings or Settings()
    if settings.requests is None and settings.duration_s is None:
        settings = msgspec.structs.replace(settings, requests=DEFAULT_REQUESTS)
    if not settings.prompt:
        settings = msgspec.structs.replace(settings, prompt=DEFAULT_PROMPT)
    progress = progress or BenchProgress()
    for target in targets:
        provider = client.provider(target.provider)
        client.credentials(provider)
        client.uses_socket(provider, target.transport)
    env = environment()
    progress.run_started(env, settings)
    results = [
        await _bench_target(client, target, settings, progress, backlog_limit) for target in targets
    ]
    return BenchResult(
        environment=env,
        settings=settings,
        targets=results,
        comparisons=compare_transports(results),
    )


async def _bench_target(
    client: Client,
    target: Target,
    settings: Settings,
    progress: BenchProgress,
    backlog_limit: int | None = None,
) -> TargetResult:
    request = Request(
        model=target.model,
        messages=(user(settings.prompt),),
        max_output_tokens=settings.max_tokens,
    )
    if settings.warmup:
        await _pool(
            client,
            target,
            request,
            count=settings.warmup,
            deadline=None,
            concurrency=min(settings.concurrency, settings.warmup),
            origin=time.perf_counter(),
            done=lambda record: None,
        )
    records: list[RequestRecord] = []

    def done(record: RequestRecord) -> None:
        records.append(record)
        progress.request_done(target, record)

    slots = _slots(settings) if settings.open_loop else None
    progress.target_started(target, settings)
    started = time.perf_counter()
    cpu_started = time.process_time()
    stopped = False
    loop_lag: list[float] = []
    if slots is not None:
        async with anyio.create_task_group() as watch:
            watch.start_soon(_watch_loop, loop_lag)
            stopped = await _open_loop(
                client,
                target,
                request,
                slots,
                max_concurrency=settings.max_concurrency,
                origin=started,
                done=done,
                sent=progress.request_sent,
                backlog_limit=backlog_limit,
            )
            watch.cancel_scope.cancel()
    else:
        await _pool(
            client,
            target,
            request,
            count=settings.requests,
            deadline=None if settings.duration_s is None else started + settings.duration_s,
            concurrency=settings.concurrency,
            origin=started,
            done=done,
        )
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    # Only ``auto`` falls back; the client remembers why, even when a warm-up was the one.
    fallback = client.sockets.fallbacks.get(target.provider) if target.transport == "auto" else None
    result = _target_result(
        target,
        records,
        wall_s=wall_s,
        cpu_s=cpu_s,
        settings=settings,
        slots=slots,
        fallback=fallback,
        stopped_early=stopped,
        loop_lag=loop_lag if slots is not None else None,
    )
    progress.target_done(target, result)
    return result


_WATCH_EVERY_S = 0.01
"""The event-loop watch's tick: 100 wake-ups a second, a few µs each."""


async def _watch_loop(lags: list[float]) -> None:
    """How late the event loop runs a 10 ms timer, tick after tick, in ms: the time a ready
    task waits for the loop, which delays every send and every stamp of an open loop."""
    clock = time.perf_counter
    while True:
        due = clock() + _WATCH_EVERY_S
        await anyio.sleep(_WATCH_EVERY_S)
        lags.append(max(0.0, clock() - due) * 1000)


def _target_result(
    target: Target,
    records: list[RequestRecord],
    *,
    wall_s: float,
    cpu_s: float | None,
    settings: Settings,
    slots: Sequence[Slot] | None = None,
    fallback: str | None = None,
    stopped_early: bool = False,
    loop_lag: list[float] | None = None,
    interrupted: bool = False,
) -> TargetResult:
    if slots is None and settings.open_loop:
        slots = _slots(settings)
    offered = None if slots is None else offered_rate(slots)
    ordered = sorted(records, key=lambda record: record.index)
    summary = summarize(ordered, wall_s, cpu_s=cpu_s, offered=offered, slo=settings.slo)
    generator = Generator(event_loop=event_loop_name())
    if loop_lag is not None:
        generator = _health(generator, summary, loop_lag, wall_s, cpu_s)
    return TargetResult(
        target=target.name,
        provider=target.provider,
        model=target.model,
        summary=summary,
        requests=ordered,
        transport=target.transport,
        fallback=fallback,
        stopped_early=stopped_early,
        generator=generator,
        schedule=schedule_of(settings, slots),
        quantiles=record_quantiles(ordered),
        interrupted=interrupted,
    )


async def _pool(
    client: Client,
    target: Target,
    request: Request,
    *,
    count: int | None,
    deadline: float | None,
    concurrency: int,
    origin: float,
    done: _Done,
) -> None:
    """``concurrency`` workers, each starting the next request as soon as its last one ended,
    until ``count`` have started or ``deadline`` has passed."""
    started = 0

    def claim() -> int | None:
        nonlocal started
        if count is not None and started >= count:
            return None
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        started += 1
        return started - 1

    async def worker() -> None:
        while (index := claim()) is not None:
            done(await measure_request(client, target, request, index=index, origin=origin))

    async with anyio.create_task_group() as group:
        for _ in range(concurrency if count is None else min(concurrency, count)):
            group.start_soon(worker)


def _slots(settings: Settings) -> list[Slot]:
    """The open loop's schedule: a trace's, or one drawn from the load shape."""
    if settings.trace is not None:
        slots = read_trace(Path(settings.trace), limit=settings.requests)
        if settings.duration_s is not None:
            slots = [slot for slot in slots if slot.offset_s < settings.duration_s]
        return slots
    assert settings.rate is not None
    shape = LoadShape(
        rate=settings.rate,
        arrival=settings.arrival,  # type: ignore[arg-type]
        burstiness=settings.burstiness,
        ramp_to=settings.ramp_to,
        ramp=settings.ramp,  # type: ignore[arg-type]
        seed=settings.seed,
    )
    return build_schedule(shape, count=settings.requests, duration_s=settings.duration_s)


def _slot_request(request: Request, slot: Slot) -> Request:
    """A trace line's own prompt and limit over the run's request."""
    if slot.prompt is None and slot.prompt_tokens is None and slot.max_tokens is None:
        return request
    prompt = slot.prompt
    if slot.prompt_tokens is not None:
        prompt = generated_prompt(slot.prompt_tokens)
    return msgspec.structs.replace(
        request,
        messages=request.messages if prompt is None else (user(prompt),),
        max_output_tokens=(
            request.max_output_tokens if slot.max_tokens is None else slot.max_tokens
        ),
    )


async def _open_loop(
    client: Client,
    target: Target,
    request: Request,
    slots: Sequence[Slot],
    *,
    max_concurrency: int | None,
    origin: float,
    done: _Done,
    sent: Callable[[Target], None] = lambda target: None,
    backlog_limit: int | None = None,
) -> bool:
    """Each request sent at its scheduled time whatever the ones before it are doing (at most
    ``max_concurrency`` in flight, the rest waiting for a slot, the wait measured). With
    ``backlog_limit``, the schedule is abandoned once that many requests are unanswered (a
    provider that fell that far behind only queues the rest): returns whether it was."""
    limiter = anyio.CapacityLimiter(max_concurrency) if max_concurrency is not None else None
    clock = time.perf_counter
    backlog = 0

    async def one(index: int, slot: Slot, due: float) -> None:
        nonlocal backlog
        backlog += 1
        try:
            queued = 0.0
            if limiter is not None:
                async with limiter:
                    queued = clock() - due
                    done(await _scheduled(index, slot, due, queued))
            else:
                done(await _scheduled(index, slot, due, queued))
        finally:
            backlog -= 1

    async def _scheduled(index: int, slot: Slot, due: float, queued: float) -> RequestRecord:
        sent(target)
        return await measure_request(
            client,
            target,
            _slot_request(request, slot),
            index=index,
            origin=origin,
            scheduled=due,
            queued_s=queued if limiter is not None else None,
        )

    stopped = False
    async with anyio.create_task_group() as group:
        for index, slot in enumerate(slots):
            due = origin + slot.offset_s
            wait = due - clock()
            if wait > 0:
                await anyio.sleep(wait)
            if backlog_limit is not None and backlog >= backlog_limit:
                stopped = True
                break
            group.start_soon(one, index, slot, due)
    return stopped


async def measure_request(
    client: Client,
    target: Target,
    request: Request,
    *,
    index: int = 0,
    origin: float | None = None,
    scheduled: float | None = None,
    queued_s: float | None = None,
) -> RequestRecord:
    """One request, timed (``origin``: the ``perf_counter`` value ``start_ms`` counts from;
    ``scheduled``: when an open loop meant to send it, ``queued_s`` how long it waited for a
    slot).

    Failures are recorded, not raised. The loop over events only stamps and counts; turning
    seconds into milliseconds and everything else waits until the stream has ended."""
    if target.before_request is not None:
        target.before_request()
    clock = time.perf_counter
    stamps: list[float] = []
    usage: int | None = None
    cost: Decimal | None = None
    error: str | None = None
    message: str | None = None
    ended: float | None = None
    stream = None
    begun = clock()
    try:
        stream = client.stream(target.provider, request, transport=target.transport)
        async with stream:
            async for event in stream:
                now = clock()
                if type(event) in _TOKEN_EVENTS:
                    stamps.append(now)
                elif isinstance(event, Usage):
                    usage = event.output_tokens
                    priced = event.cost
                    cost = None if priced is None else priced.total
                elif isinstance(event, Completed):
                    ended = now
                elif isinstance(event, ErrorEvent):
                    error, message, ended = event.code, event.message, now
    except Exception as exc:
        error, message = type(exc).__name__, str(exc)
        ended = clock()
    if ended is None:
        ended = clock()
    call = None if stream is None else stream.call
    first_byte = None if call is None else call.first_byte
    return RequestRecord(
        index=index,
        start_ms=0.0 if origin is None else _ms(begun - origin),
        ttfb_ms=None if first_byte is None else _ms(first_byte - begun),
        ttft_ms=_ms(stamps[0] - begun) if stamps else None,
        itl_ms=[_ms(b - a) for a, b in itertools.pairwise(stamps)],
        e2e_ms=_ms(ended - begun),
        output_tokens=usage or len(stamps),
        tokens_from="usage" if usage else "deltas",
        attempts=0 if call is None else call.attempts,
        error=error,
        error_message=message,
        transport=None if call is None else call.transport,
        fallback=None if call is None else call.fallback,
        scheduled_ms=(None if scheduled is None or origin is None else _ms(scheduled - origin)),
        lag_ms=None if scheduled is None else _ms(begun - scheduled),
        queue_ms=None if queued_s is None else _ms(queued_s),
        cost_usd=cost,
    )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def summarize(
    records: Sequence[RequestRecord],
    wall_s: float,
    *,
    cpu_s: float | None = None,
    offered: float | None = None,
    slo: Slo | None = None,
) -> TargetSummary:
    """A target's figures from its records (see ``TargetSummary``); ``cpu_s``: the process's
    CPU time over the same phase, when it was measured; ``offered``: an open loop's rate."""
    ok = [record for record in records if record.error is None]
    errors = Counter(record.error for record in records if record.error is not None)
    tokens = sum(record.output_tokens for record in ok)
    decode: list[float] = []
    for record in ok:
        streaming_s = math.fsum(record.itl_ms) / 1000
        if record.output_tokens > 1 and streaming_s > 0:
            decode.append((record.output_tokens - 1) / streaming_s)
    return TargetSummary(
        requests=len(records),
        ok=len(ok),
        errors=dict(sorted(errors.items())),
        wall_s=round(wall_s, 6),
        requests_per_s=round(len(ok) / wall_s, 3) if wall_s > 0 else 0.0,
        output_tokens=tokens,
        output_tokens_per_s=round(tokens / wall_s, 3) if wall_s > 0 else 0.0,
        ttfb_ms=stats_of([r.ttfb_ms for r in ok if r.ttfb_ms is not None]),
        ttft_ms=stats_of([r.ttft_ms for r in ok if r.ttft_ms is not None]),
        itl_ms=stats_of([gap for r in ok for gap in r.itl_ms]),
        e2e_ms=stats_of([r.e2e_ms for r in ok]),
        decode_tokens_per_s=stats_of(decode),
        transports=dict(
            sorted(Counter(r.transport for r in records if r.transport is not None).items())
        ),
        cpu_s=None if cpu_s is None else round(cpu_s, 6),
        cpu_ms_per_request=(
            round(cpu_s * 1000 / len(records), 3) if cpu_s is not None and records else None
        ),
        **_open_loop_figures(records, ok, offered),
        **_goodput(records, wall_s, slo),
        **cost_figures([r.cost_usd for r in records if r.cost_usd is not None]),
    )


def cost_figures(costs: Sequence[Decimal]) -> dict[str, Any]:
    """What the priced requests cost, in total and per request (and per 1,000), exactly;
    nothing when none was priced (an unknown cost is not a zero one). The per-request figure
    is over the priced requests, so a run where some were unpriced says how many were."""
    return priced_totals(sum(costs, Decimal(0)), len(costs))


def priced_totals(total: Decimal, priced: int) -> dict[str, Any]:
    """``cost_figures`` from a sum and a count (what workers' tallies merge)."""
    if not priced:
        return {}
    each = total / priced
    return {
        "cost_usd": total,
        "priced_requests": priced,
        "cost_per_request_usd": each,
        "cost_per_1000_requests_usd": each * 1000,
    }


def record_quantiles(records: Sequence[RequestRecord]) -> dict[str, list[float]]:
    """``TargetResult.quantiles`` from exact samples: each of ``QUANTILED`` over the
    successful requests (ITL over every gap), at every quantile of ``QUANTILE_GRID``."""
    ok = [record for record in records if record.error is None]
    samples: dict[str, list[float]] = {
        "ttft_ms": [r.ttft_ms for r in ok if r.ttft_ms is not None],
        "itl_ms": [gap for r in ok for gap in r.itl_ms],
        "e2e_ms": [r.e2e_ms for r in ok],
    }
    if any(record.lag_ms is not None for record in records):
        samples["ttft_scheduled_ms"] = [
            r.ttft_ms + (r.lag_ms or 0.0) for r in ok if r.ttft_ms is not None
        ]
        samples["e2e_scheduled_ms"] = [r.e2e_ms + (r.lag_ms or 0.0) for r in ok]
    assert set(samples) <= set(QUANTILED)
    return {name: quantiles_of(sorted(values)) for name, values in samples.items() if values}


GENERATOR_BOUND_LAG_MS = 5.0
"""Send lag or event-loop lag past this at p99 marks a result as generator-bound."""
GENERATOR_BOUND_CPU = 0.9
"""So does the process using more than this share of one CPU over the timed phase."""


def _health(
    generator: Generator,
    summary: TargetSummary,
    loop_lag: list[float],
    wall_s: float,
    cpu_s: float | None,
) -> Generator:
    """The generator's own state over an open loop: whether the figures are the provider's or
    this process's (a loop or a CPU too busy to send on time measures itself)."""
    lag = stats_of(loop_lag)
    cpu_share = None if cpu_s is None or wall_s <= 0 else round(cpu_s / wall_s, 3)
    return msgspec.structs.replace(
        generator,
        loop_lag_ms=lag,
        cpu_share=cpu_share,
        bound=generator_bound(summary.send_lag_ms, lag, cpu_share),
    )


def generator_bound(
    send_lag: Stats | None, loop_lag: Stats | None, cpu_share: float | None, *, cpus: int = 1
) -> str | None:
    """Why a result may measure the generator rather than the provider (send or event-loop
    lag p99 over ``GENERATOR_BOUND_LAG_MS``, or more than ``GENERATOR_BOUND_CPU`` of each of
    ``cpus`` CPUs); ``None`` when it kept up."""
    reasons: list[str] = []
    if send_lag is not None and send_lag.p99 > GENERATOR_BOUND_LAG_MS:
        reasons.append(f"send lag p99 {send_lag.p99:.1f} ms")
    if loop_lag is not None and loop_lag.p99 > GENERATOR_BOUND_LAG_MS:
        reasons.append(f"event-loop lag p99 {loop_lag.p99:.1f} ms")
    if cpu_share is not None and cpu_share > GENERATOR_BOUND_CPU * cpus:
        reasons.append(f"CPU {cpu_share:.0%} of one core")
    return "; ".join(reasons) or None


def _goodput(records: Sequence[RequestRecord], wall_s: float, slo: Slo | None) -> dict[str, Any]:
    if slo is None:
        return {}
    good = [record for record in records if meets(record, slo)]
    tokens = sum(record.output_tokens for record in good)
    return {
        "slo_met": len(good),
        "goodput_requests_per_s": round(len(good) / wall_s, 3) if wall_s > 0 else 0.0,
        "goodput_tokens_per_s": round(tokens / wall_s, 3) if wall_s > 0 else 0.0,
        "slo_attained": attained(records, slo),
    }


def _open_loop_figures(
    records: Sequence[RequestRecord], ok: Sequence[RequestRecord], offered: float | None
) -> dict[str, Any]:
    """The open loop's own figures: lateness, slot waits, latency from the scheduled time."""
    timed = [record for record in records if record.lag_ms is not None]
    if not timed:
        return {}
    queued = [record.queue_ms for record in timed if record.queue_ms is not None]
    return {
        "offered_rate": None if offered is None else round(offered, 3),
        "send_lag_ms": stats_of([(r.lag_ms or 0.0) - (r.queue_ms or 0.0) for r in timed]),
        "queue_ms": stats_of(queued) if queued else None,
        "ttft_scheduled_ms": stats_of(
            [r.ttft_ms + (r.lag_ms or 0.0) for r in ok if r.ttft_ms is not None]
        ),
        "e2e_scheduled_ms": stats_of([r.e2e_ms + (r.lag_ms or 0.0) for r in ok]),
    }


def compare_transports(targets: Sequence[TargetResult]) -> list[TransportComparison]:
    """For each provider and model with a target carried wholly over HTTP and one wholly over
    a WebSocket (the first of each, in run order), how the socket compares."""
    carried: dict[tuple[str, str], dict[str, TargetResult]] = {}
    for target in targets:
        transports = target.summary.transports
        if len(transports) == 1:
            (transport,) = transports
            carried.setdefault((target.provider, target.model), {}).setdefault(transport, target)
    comparisons = []
    for (provider, model), found in carried.items():
        http, socket = found.get("http"), found.get("websocket")
        if http is None or socket is None:
            continue
        h, w = http.summary, socket.summary
        comparisons.append(
            TransportComparison(
                provider=provider,
                model=model,
                http_target=http.target,
                websocket_target=socket.target,
                ttft_p50_ratio=_ratio(
                    None if w.ttft_ms is None else w.ttft_ms.p50,
                    None if h.ttft_ms is None else h.ttft_ms.p50,
                ),
                cpu_per_request_ratio=_ratio(w.cpu_ms_per_request, h.cpu_ms_per_request),
            )
        )
    return comparisons


def _ratio(over: float | None, under: float | None) -> float | None:
    if over is None or under is None or under <= 0:
        return None
    return round(over / under, 4)
