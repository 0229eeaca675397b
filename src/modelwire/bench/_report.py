"""Showing a benchmark: the live progress view, the side-by-side table, the plot.

Kept apart from the engine so that the engine imports no presentation library: rich is loaded
only here, and matplotlib only when a plot is asked for (it is an optional extra).
"""

from __future__ import annotations

import importlib
import importlib.util
import statistics
import time
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

from ._measure import BenchProgress
from ._schema import (
    BenchError,
    BenchResult,
    ClientOverhead,
    Generator,
    RequestRecord,
    Settings,
    Sweep,
    SweepStep,
    Target,
    TargetResult,
    TargetSummary,
    TransportComparison,
)
from ._stats import Stats

__all__ = [
    "LiveProgress",
    "comparison_line",
    "overhead_lines",
    "render_table",
    "require_plotting",
    "sweep_lines",
    "write_plot",
]

_PLOT_EXTRA = "pip install 'modelwire[plot]'"
_STATUS_EVERY_S = 0.25
"""How often the live view recomputes its running median: sorting on every request would put
O(n log n) work between a long run's requests, on the loop that times them."""


class LiveProgress(BenchProgress):
    """A rich progress bar per target on ``err`` while the run goes; when ``err`` is not a
    terminal (CI logs, tests) a single line per finished target instead."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._live = err.isatty()
        self._progress: Any = None
        self._task: Any = None
        self._ttfts: list[float] = []
        self._ok = 0
        self._failed = 0
        self._shown_at = 0.0
        self._sent = 0
        self._waits: list[float] = []
        self._started_at = 0.0
        self._offered: float | None = None

    def __enter__(self) -> Self:
        if self._live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=Console(file=self._err, markup=False, highlight=False, emoji=False),
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def target_started(self, target: Target, settings: Settings) -> None:
        self._ttfts, self._ok, self._failed, self._shown_at = [], 0, 0, 0.0
        self._sent, self._waits, self._started_at = 0, [], time.monotonic()
        self._offered = settings.rate if settings.open_loop else None
        if self._progress is not None:
            self._task = self._progress.add_task(
                target.name, total=settings.requests, status="starting"
            )
            return
        amount = (
            f"{settings.requests} requests"
            if settings.requests is not None
            else f"requests for {settings.duration_s:g} s"
        )
        self._err.write(f"modelwire bench: {target.name}: {amount}, {_pace(settings)}\n")
        self._err.flush()

    def request_sent(self, target: Target) -> None:
        self._sent += 1

    def request_done(self, target: Target, record: RequestRecord) -> None:
        if record.queue_ms is not None:
            self._waits.append(record.queue_ms)
        if record.error is None:
            self._ok += 1
            if record.ttft_ms is not None:
                self._ttfts.append(record.ttft_ms)
        else:
            self._failed += 1
        if self._progress is None:
            return
        now = time.monotonic()
        if now - self._shown_at >= _STATUS_EVERY_S:
            self._shown_at = now
            self._progress.update(self._task, advance=1, status=self._status())
        else:
            self._progress.update(self._task, advance=1)

    def _status(self) -> str:
        ttft = f"TTFT p50 {statistics.median(self._ttfts):.0f} ms" if self._ttfts else "no TTFT"
        status = f"ok {self._ok}  failed {self._failed}  {ttft}"
        if self._sent:
            # An open loop: is the provider keeping up with what is offered?
            done = self._ok + self._failed
            elapsed = max(time.monotonic() - self._started_at, 1e-9)
            offered = "" if self._offered is None else f"offered {self._offered:g}/s  "
            wait = f"  slot wait p50 {statistics.median(self._waits):.0f} ms" if self._waits else ""
            status += (
                f"  {offered}achieved {done / elapsed:.1f}/s  in flight {self._sent - done}{wait}"
            )
        return status

    def target_done(self, target: Target, result: TargetResult) -> None:
        summary = result.summary
        if self._progress is not None:
            self._progress.update(self._task, status=self._status(), refresh=True)
            return
        self._err.write(
            f"modelwire bench: {target.name}: {summary.ok}/{summary.requests} ok "
            f"in {summary.wall_s:.1f} s\n"
        )
        self._err.flush()


def _ms(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _triple(stats: Stats | None) -> str:
    if stats is None:
        return "-"
    return f"{_ms(stats.p50)} / {_ms(stats.p90)} / {_ms(stats.p99)}"


def _range(stats: Stats | None) -> str:
    return "-" if stats is None else f"{_ms(stats.min)} / {_ms(stats.max)}"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{kind}: {count}" for kind, count in errors.items()) or "-"


def _transports(transports: dict[str, int]) -> str:
    """What carried the requests: one name, or each with its count when they were mixed."""
    if len(transports) == 1:
        return next(iter(transports))
    return ", ".join(f"{name} {count}" for name, count in transports.items()) or "-"


def _cpu(ms: float | None) -> str:
    return "-" if ms is None else _ms(ms)


def _rows(result: TargetResult) -> list[str]:
    s = result.summary
    per_request = s.decode_tokens_per_s
    return [
        f"{s.ok} / {s.requests}",
        _errors(s.errors),
        _transports(s.transports),
        _triple(s.ttft_ms),
        _range(s.ttft_ms),
        _triple(s.itl_ms),
        _range(s.itl_ms),
        _triple(s.e2e_ms),
        _range(s.e2e_ms),
        _triple(s.ttfb_ms),
        "-" if per_request is None else f"{per_request.p50:.1f}",
        f"{s.output_tokens_per_s:.1f}",
        f"{s.requests_per_s:.2f}",
        _cpu(s.cpu_ms_per_request),
        _cost(s),
        f"{s.wall_s:.1f}",
    ]


def _cost(s: TargetSummary) -> str:
    """Per request and per 1,000, in USD; ``unknown`` when no request had a price (never $0),
    with how many were priced when not all were."""
    if s.cost_per_request_usd is None or s.cost_per_1000_requests_usd is None:
        return "unknown"
    each = _dollars(s.cost_per_request_usd)
    thousand = _dollars(s.cost_per_1000_requests_usd)
    partial = "" if s.priced_requests == s.requests else f" ({s.priced_requests} priced)"
    return f"{each} / {thousand}{partial}"


def _dollars(amount: Decimal) -> str:
    """Six significant digits at most: a request's cost is often a fraction of a cent."""
    return f"${amount:.6g}" if amount < 1 else f"${amount:,.2f}"


_LABELS = (
    "requests ok / run",
    "errors",
    "transport",
    "TTFT ms  p50 / p90 / p99",
    "TTFT ms  min / max",
    "ITL ms   p50 / p90 / p99",
    "ITL ms   min / max",
    "E2E ms   p50 / p90 / p99",
    "E2E ms   min / max",
    "TTFB ms  p50 / p90 / p99",
    "output tok/s per request p50",
    "output tok/s all requests",
    "requests/s",
    "client CPU ms/request",
    "cost USD /request /1,000",
    "wall time s",
)


def _attained(result: TargetResult) -> str:
    s = result.summary
    verdict = {True: "met", False: "missed", None: "-"}[s.slo_attained]
    return f"{verdict}, {s.slo_met or 0} / {s.requests} requests"


def _goodput_cell(result: TargetResult) -> str:
    s = result.summary
    if s.goodput_requests_per_s is None:
        return "-"
    return f"{s.goodput_requests_per_s:.2f} / {s.goodput_tokens_per_s or 0:.1f}"


def _pace(settings: Settings) -> str:
    if settings.open_loop:
        return _load_phrase(settings)
    return f"{settings.concurrency} at a time"


_OPEN_LOOP_LABELS = (
    "offered / achieved req/s",
    "send lag ms  p50 / p99 / max",
    "slot wait ms p50 / p99 / max",
    "TTFT from schedule ms p50 / p90 / p99",
    "E2E from schedule ms  p50 / p90 / p99",
    "event-loop lag ms p50 / p99 / max",
    "generator",
)


def _lateness(stats: Stats | None) -> str:
    return "-" if stats is None else f"{stats.p50:.2f} / {stats.p99:.2f} / {stats.max:.2f}"


def _open_loop_rows(result: TargetResult) -> list[str]:
    """What an open loop adds: the rate it offered, how late it sent, what waited for a slot,
    and the latencies a caller who sent on schedule would have seen."""
    s = result.summary
    offered = "-" if s.offered_rate is None else f"{s.offered_rate:.2f}"
    return [
        f"{offered} / {s.requests_per_s:.2f}",
        _lateness(s.send_lag_ms),
        _lateness(s.queue_ms),
        _triple(s.ttft_scheduled_ms),
        _triple(s.e2e_scheduled_ms),
        _lateness(result.generator.loop_lag_ms),
        _generator(result.generator),
    ]


def _generator(g: Generator) -> str:
    if g.cpu_share is None and g.bound is None:
        return "-"
    notes = [] if g.cpu_share is None else [f"CPU {g.cpu_share:.0%}"]
    if g.workers > 1:
        notes.append(f"{g.workers} {'Ray actors' if g.backend == 'ray' else 'workers'}")
    verdict = "kept up" if g.bound is None else f"BOUND: {g.bound}"
    return f"{verdict} ({', '.join(notes)})" if notes else verdict


def _settings_line(settings: Settings) -> str:
    amount = (
        f"{settings.requests} requests"
        if settings.requests is not None
        else f"{settings.duration_s:g} s"
    )
    prompt = (
        f"~{settings.prompt_tokens}-token prompt"
        if settings.prompt_tokens is not None
        else f"{len(settings.prompt.split())}-word prompt"
    )
    tokens = f", max {settings.max_tokens} tokens" if settings.max_tokens is not None else ""
    return (
        f"modelwire bench: {amount} per target, {_load_phrase(settings)}, "
        f"warmup {settings.warmup}, {prompt}{tokens}"
    )


def _load_phrase(settings: Settings) -> str:
    if settings.trace is not None:
        load = f"open loop replaying {settings.trace}"
    elif settings.rate is not None:
        shape = settings.arrival
        if settings.arrival == "gamma":
            shape += f" (burstiness {settings.burstiness:g})"
        ramp = (
            f" ramping {settings.ramp} to {settings.ramp_to:g}/s"
            if settings.ramp_to is not None
            else ""
        )
        load = f"open loop {settings.rate:g} req/s {shape}{ramp}, seed {settings.seed}"
    else:
        return f"concurrency {settings.concurrency}"
    if settings.max_concurrency is not None:
        load += f", at most {settings.max_concurrency} in flight"
    return load


def _interrupted_line(result: BenchResult) -> str:
    measured = ", ".join(
        f"{target.target} {target.summary.requests} requests" for target in result.targets
    )
    return (
        "modelwire bench: INTERRUPTED: the figures below are what was measured before the "
        f"run was stopped ({measured or 'no timed request had ended'})"
    )


def render_table(result: BenchResult, out: TextIO) -> None:
    """The targets side by side, one column each; percentiles interpolate linearly."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
    table.add_column("", no_wrap=True)
    for target in result.targets:
        table.add_column(target.target, justify="right", no_wrap=True)
    columns = [_rows(target) for target in result.targets]
    for number, label in enumerate(_LABELS):
        table.add_row(label, *(column[number] for column in columns))
    if result.settings.open_loop:
        loop_columns = [_open_loop_rows(target) for target in result.targets]
        for number, label in enumerate(_OPEN_LOOP_LABELS):
            table.add_row(label, *(column[number] for column in loop_columns))
    if result.settings.slo is not None:
        slo = result.settings.slo
        table.add_row(f"SLO {slo.describe()}", *(_attained(t) for t in result.targets))
        table.add_row("goodput req/s / tok/s", *(_goodput_cell(t) for t in result.targets))
    out.write(_settings_line(result.settings) + "\n")
    if result.interrupted:
        out.write(_interrupted_line(result) + "\n")
    width = None if out.isatty() else 10_000
    # Provider ids and error codes are data, never rich markup.
    Console(file=out, width=width, markup=False, highlight=False, emoji=False).print(table)
    for target in result.targets:
        if target.fallback is not None:
            out.write(f"{target.target}: fell back to HTTP: {target.fallback}\n")
    for comparison in result.comparisons:
        out.write(comparison_line(comparison) + "\n")
    by_name = {target.target: target for target in result.targets}
    for sweep in result.sweeps:
        out.write("\n".join(sweep_lines(sweep, by_name)) + "\n")


def sweep_lines(sweep: Sweep, targets: dict[str, TargetResult]) -> list[str]:
    """A sweep's steps, one line each, and what they add up to."""
    found = []
    if sweep.synchronous_rate is not None:
        found.append(f"one at a time {sweep.synchronous_rate:.2f}/s")
    if sweep.saturated_rate is not None:
        found.append(f"saturated {sweep.saturated_rate:.2f}/s")
    if sweep.best_rate is not None:
        found.append(f"highest rate within the SLO {sweep.best_rate:g}/s")
    elif any(step.attained is not None for step in sweep.steps):
        found.append("no step within the SLO")
    lines = [f"sweep {sweep.target}: " + ("; ".join(found) or f"{len(sweep.steps)} steps")]
    lines.append(
        f"  {'offered/s':>10} {'achieved/s':>11} {'TTFT p50/p99 ms':>18} "
        f"{'E2E p50/p99 ms':>18} {'goodput/s':>10}  notes"
    )
    for step in sweep.steps:
        target = targets.get(step.target)
        s = None if target is None else target.summary
        ttft = None if s is None else (s.ttft_scheduled_ms or s.ttft_ms)
        e2e = None if s is None else (s.e2e_scheduled_ms or s.e2e_ms)
        notes = []
        if step.saturated:
            notes.append("saturated" + _saturated_by(step))
        if step.attained is not None:
            notes.append("SLO met" if step.attained else "SLO missed")
        goodput = (
            "-" if step.goodput_requests_per_s is None else f"{step.goodput_requests_per_s:.2f}"
        )
        achieved = "-" if s is None else f"{s.requests_per_s:.2f}"
        lines.append(
            f"  {step.rate:>10g} {achieved:>11} {_pair(ttft):>18} {_pair(e2e):>18} "
            f"{goodput:>10}  {', '.join(notes)}"
        )
    if sweep.ended is not None:
        lines.append(f"  the sweep ended early: {sweep.ended}")
    return lines


def _saturated_by(step: SweepStep) -> str:
    if step.why == "latency" and step.latency_growth is not None:
        return f" (latency grew x{step.latency_growth:.1f} through the step)"
    if step.why == "rate":
        return " (answered at under 80 % of the rate sent)"
    return ", stopped early" if step.stopped_early else ""


def _pair(stats: Stats | None) -> str:
    return "-" if stats is None else f"{_ms(stats.p50)} / {_ms(stats.p99)}"


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def comparison_line(comparison: TransportComparison) -> str:
    """One provider over both transports, WebSocket over HTTP (below 1x: the socket wins)."""
    return (
        f"transports compared, {comparison.provider}:{comparison.model}: websocket / http "
        f"TTFT p50 {_times(comparison.ttft_p50_ratio)}, client CPU per request "
        f"{_times(comparison.cpu_per_request_ratio)} "
        f"({comparison.websocket_target} vs {comparison.http_target})"
    )


def overhead_lines(overhead: ClientOverhead) -> list[str]:
    m, b, r = overhead.modelwire_ttft_ms, overhead.bare_ttft_ms, overhead.after_first_byte_ms
    return [
        f"client overhead on TTFT (mock TTFT 0, {overhead.samples} requests each way): "
        f"{overhead.overhead_ms:.2f} ms at p50",
        f"  modelwire TTFT p50 {m.p50:.2f} ms (p90 {m.p90:.2f}), "
        f"bare socket p50 {b.p50:.2f} ms (p90 {b.p90:.2f}); "
        f"first byte to first token in modelwire p50 {r.p50:.3f} ms",
    ]


def require_plotting() -> None:
    """Fail before a long run, not after it, when the plot cannot be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        raise BenchError(f"--plot needs matplotlib: {_PLOT_EXTRA}")


def write_plot(result: BenchResult, path: Path) -> None:
    """Each latency's distribution per target as an empirical CDF (every request shown, tails
    included, unlike a box plot), TTFT / ITL / E2E side by side."""
    require_plotting()
    figure_module: Any = importlib.import_module("matplotlib.figure")
    figure = figure_module.Figure(figsize=(15, 4.5), layout="constrained")
    axes = figure.subplots(1, 3)
    panels = (
        ("time to first token", "requests", _ttfts),
        ("inter-token latency", "gaps", _gaps),
        ("end to end", "requests", _e2es),
    )
    for axis, (title, unit, values_of) in zip(axes, panels, strict=True):
        drawn = False
        for target in result.targets:
            values = sorted(values_of(target))
            if values:
                fractions = [(n + 1) / len(values) for n in range(len(values))]
                axis.step(values, fractions, where="post", label=target.target)
                drawn = True
        axis.set_title(title)
        axis.set_xlabel("ms")
        axis.set_ylabel(f"fraction of {unit} at or below")
        axis.grid(alpha=0.3)
        if drawn:
            axis.legend(fontsize="small")
    figure.suptitle(f"modelwire bench — {_load_phrase(result.settings)}")
    try:
        figure.savefig(path)
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot write the plot {path}: {exc}") from None


def _ok(target: TargetResult) -> list[RequestRecord]:
    return [record for record in target.requests if record.error is None]


def _ttfts(target: TargetResult) -> list[float]:
    return [record.ttft_ms for record in _ok(target) if record.ttft_ms is not None]


def _gaps(target: TargetResult) -> list[float]:
    return [gap for record in _ok(target) for gap in record.itl_ms]


def _e2es(target: TargetResult) -> list[float]:
    return [record.e2e_ms for record in _ok(target)]
