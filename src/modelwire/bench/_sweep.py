"""Rate sweeps: what rate a provider sustains, and the highest one that still meets the SLO.

A sweep runs one open-loop step per offered rate, one after another, for each target, with
the run's arrival shape, seed and per-step ``requests`` / ``duration_s``. The rates are given,
or found (``auto``): a closed loop at concurrency 1 measures the *synchronous* rate (one
request at a time), one at ``saturation_concurrency`` the *saturated* rate (as many as the
provider takes at once), and the steps are spread evenly between the two, as GuideLLM does.

A step is **saturated** when the provider fell behind what was offered: it answered at under 80 %
of the rate it was sent at (``achieved_share``: the schedule's span over the span of the answers'
arrivals, so a short step whose requests each take long is not mistaken for a slow one, as requests
over the step's wall time would); or its backlog (requests sent and not yet answered) passed
``backlog_limit``, at which point the step stops sending early (the rest of its schedule would only
queue without bound); or its latency kept growing through the step — the median E2E counted from
the scheduled time, of the requests scheduled in the step's last third, over that of its first
third, past ``GROWTH_LIMIT`` (and by more than ``GROWTH_FLOOR_MS``, so jitter on a fast target does
not count). A provider just above its capacity can still achieve most of the offered rate over a
short step, but its queue, and so every caller's wait, grows as long as the step lasts: the trend
shows it before the backlog limit does. ``SweepStep.why`` says which.

Two saturated steps in a row, or a step whose error rate passes ``max_error_rate``, end the
sweep: higher rates can only do worse. With an SLO, the sweep's answer is the highest offered
rate whose step attained it (``_slo.attained``) without saturating.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import msgspec

from ..client import Client
from ._measure import BenchProgress, compare_transports, run_bench
from ._schema import (
    BenchResult,
    RequestRecord,
    Settings,
    Sweep,
    SweepStep,
    Target,
    TargetResult,
    environment,
)
from ._stats import percentile

__all__ = ["achieved_share", "auto_rates", "latency_growth", "run_sweep", "run_sweeps"]

SATURATED_SHARE = 0.8
"""A step that achieved less than this share of its offered rate is saturated."""
DEFAULT_STEPS = 6
DEFAULT_MAX_ERROR_RATE = 0.5


def auto_rates(synchronous: float, saturated: float, steps: int) -> list[float]:
    """``steps`` rates from the synchronous to the saturated one, evenly spaced."""
    if steps < 2:
        raise ValueError(f"a sweep needs at least 2 steps, got {steps}")
    low, high = sorted((synchronous, saturated))
    if math.isclose(low, high):
        high = low * 2
    width = (high - low) / (steps - 1)
    return [round(low + width * index, 3) for index in range(steps)]


GROWTH_LIMIT = 1.5
"""Latency growth (last third's median over the first third's) that marks a queue growing."""
GROWTH_FLOOR_MS = 20.0
"""...and only when the median grew by more than this much."""
_TREND_MIN_REQUESTS = 9
_Why = Literal["backlog", "rate", "latency"]


def latency_growth(records: Sequence[RequestRecord]) -> tuple[float, float] | None:
    """The medians of E2E counted from the scheduled time, over the successful requests
    scheduled in the first and the last third of the step; ``None`` with too few."""
    timed = sorted(
        (r.scheduled_ms, r.e2e_ms + (r.lag_ms or 0.0))
        for r in records
        if r.error is None and r.scheduled_ms is not None
    )
    if len(timed) < _TREND_MIN_REQUESTS:
        return None
    third = len(timed) // 3
    first = sorted(latency for _, latency in timed[:third])
    last = sorted(latency for _, latency in timed[-third:])
    return percentile(first, 0.5), percentile(last, 0.5)


def achieved_share(records: Sequence[RequestRecord]) -> float | None:
    """How fast answers came back against how fast their requests were scheduled: the span of
    the successful requests' scheduled times over the span of their answers' arrivals (both
    from the step's start). 1 keeps up; a provider at capacity answers at its own pace, so
    the answers spread out and the share falls. ``None`` under two answers."""
    ok = [r for r in records if r.error is None and r.scheduled_ms is not None]
    if len(ok) < 2:
        return None
    scheduled = [r.scheduled_ms or 0.0 for r in ok]
    answered = [(r.scheduled_ms or 0.0) + (r.lag_ms or 0.0) + r.e2e_ms for r in ok]
    answers_span = max(answered) - min(answered)
    if answers_span <= 0:
        return 1.0
    return round(min(1.0, (max(scheduled) - min(scheduled)) / answers_span), 3)


def _saturation(result: TargetResult, rate: float) -> tuple[_Why | None, float | None]:
    """Why the step is saturated (``None``: it kept up), and its latency growth."""
    growth = latency_growth(result.requests)
    ratio = None
    if growth is not None and growth[0] > 0:
        ratio = round(growth[1] / growth[0], 3)
    if result.stopped_early:
        return "backlog", ratio
    share = achieved_share(result.requests)
    if share is None:  # no records to judge by: the rate over the step's wall time
        share = result.summary.requests_per_s / rate
    if share < SATURATED_SHARE:
        return "rate", ratio
    if (
        growth is not None
        and ratio is not None
        and ratio > GROWTH_LIMIT
        and growth[1] - growth[0] > GROWTH_FLOOR_MS
    ):
        return "latency", ratio
    return None, ratio


async def _closed(
    client: Client, target: Target, settings: Settings, concurrency: int
) -> TargetResult:
    """A closed loop at ``concurrency`` (four requests per slot, at least 8)."""
    probe = msgspec.structs.replace(
        settings,
        rate=None,
        ramp_to=None,
        trace=None,
        max_concurrency=None,
        concurrency=concurrency,
        requests=max(8, 4 * concurrency),
        duration_s=None,
        warmup=0,
    )
    return (await run_bench(client, [target], probe)).targets[0]


async def run_sweep(
    client: Client,
    target: Target,
    settings: Settings,
    *,
    rates: Sequence[float] | None = None,
    steps: int = DEFAULT_STEPS,
    saturation_concurrency: int = 16,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    backlog_limit: int | None = None,
    progress: BenchProgress | None = None,
) -> tuple[Sweep, list[TargetResult]]:
    """One target's sweep (see the module docstring) and each step's full result, named
    ``<target>@<rate>/s``."""
    synchronous = saturated = None
    one_at_a_time = await _closed(client, target, settings, 1)
    if rates is None:
        synchronous = one_at_a_time.summary.requests_per_s
        saturated = (
            await _closed(client, target, settings, saturation_concurrency)
        ).summary.requests_per_s
        rates = auto_rates(synchronous, saturated, steps)
    # What a provider keeping up holds in flight at a rate: the rate times a request's time.
    # Four times that (and never under 64) is a backlog that only grows.
    e2e = one_at_a_time.summary.e2e_ms
    e2e_s = (e2e.p50 / 1000) if e2e is not None else 1.0
    done: list[SweepStep] = []
    results: list[TargetResult] = []
    ended: str | None = None
    in_a_row = 0
    for rate in rates:
        step_target = Target(
            target.provider,
            target.model,
            label=f"{target.name}@{rate:g}/s",
            before_request=target.before_request,
            transport=target.transport,
        )
        step = msgspec.structs.replace(settings, rate=rate, ramp_to=None, trace=None)
        limit = backlog_limit
        if limit is None:
            limit = max(64, math.ceil(4 * rate * e2e_s))
        outcome = await run_bench(
            client, [step_target], step, progress=progress, backlog_limit=limit
        )
        result = outcome.targets[0]
        stopped = result.stopped_early
        why, growth = _saturation(result, rate)
        saturated_now = why is not None
        done.append(
            SweepStep(
                rate=rate,
                target=result.target,
                saturated=saturated_now,
                stopped_early=stopped,
                why=why,
                latency_growth=growth,
                # A provider that fell behind cannot hold an SLO for long, whatever the
                # requests it did answer say: its queue only grows.
                attained=(
                    None
                    if result.summary.slo_attained is None
                    else result.summary.slo_attained and not saturated_now
                ),
                goodput_requests_per_s=result.summary.goodput_requests_per_s,
            )
        )
        results.append(result)
        summary = result.summary
        if summary.requests and (summary.requests - summary.ok) / summary.requests > max_error_rate:
            ended = f"the error rate passed {max_error_rate:g} at {rate:g}/s"
            break
        in_a_row = in_a_row + 1 if saturated_now else 0
        if in_a_row >= 2:
            ended = f"two saturated steps in a row, the last at {rate:g}/s"
            break
    best = None
    if settings.slo is not None:
        passing = [step.rate for step in done if step.attained]
        best = max(passing) if passing else None
    sweep = Sweep(
        target=target.name,
        steps=done,
        synchronous_rate=synchronous,
        saturated_rate=saturated,
        best_rate=best,
        ended=ended,
    )
    return sweep, results


async def run_sweeps(
    client: Client,
    targets: Sequence[Target],
    settings: Settings,
    *,
    rates: Sequence[float] | None = None,
    steps: int = DEFAULT_STEPS,
    progress: BenchProgress | None = None,
) -> BenchResult:
    """Each target's sweep in turn, as one result: every step a target of its own
    (``<target>@<rate>/s``) and ``sweeps`` saying what they add up to."""
    for target in targets:
        provider = client.provider(target.provider)
        client.credentials(provider)
        client.uses_socket(provider, target.transport)
    sweeps: list[Sweep] = []
    results: list[TargetResult] = []
    for target in targets:
        sweep, stepped = await run_sweep(
            client, target, settings, rates=rates, steps=steps, progress=progress
        )
        sweeps.append(sweep)
        results.extend(stepped)
    return BenchResult(
        environment=environment(),
        settings=settings,
        targets=results,
        comparisons=compare_transports(results),
        sweeps=sweeps,
    )
