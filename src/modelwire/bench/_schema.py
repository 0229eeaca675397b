"""The benchmark's data: what one run records, typed, and its file format (``modelwire.bench/2``).

Results are meant to be kept and compared across runs, machines and modelwire versions, so the
file is a versioned schema decoded back into these same types (``load_result``), never a loose
dict: a file that does not match fails loudly with the JSON path of the problem. The layout is
documented for readers in ``modelwire.bench``'s docstring.

Version 2 moved the generator's own figures (event-loop lag, CPU share, the generator-bound
verdict, the worker count) out of the target's summary, which is about the provider, into
``TargetResult.generator``, and added each target's schedule and ECDF quantiles, the versions
of the libraries in the path, and the event loop. ``load_result`` reads version 1 files too,
moving their fields to where version 2 keeps them (``_upgrade_v1``).
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from .._version import __version__
from ..errors import ModelwireError
from ._slo import Slo
from ._stats import PERCENTILE_METHOD, Stats

__all__ = [
    "DEFAULT_REQUESTS",
    "READABLE_SCHEMAS",
    "SCHEMA",
    "TRANSPORTS",
    "BenchError",
    "BenchResult",
    "ClientOverhead",
    "Environment",
    "Generator",
    "MockProfile",
    "RequestRecord",
    "Schedule",
    "Settings",
    "Target",
    "TargetResult",
    "TargetSummary",
    "TransportComparison",
    "environment",
    "load_result",
    "read_result",
    "write_records",
    "write_result",
]

SCHEMA = "modelwire.bench/2"
READABLE_SCHEMAS = ("modelwire.bench/1", SCHEMA)
"""What ``load_result`` reads (a version 1 file is upgraded as it is read)."""
DEFAULT_REQUESTS = 20
TRANSPORTS = ("auto", "http", "websocket")
"""What ``Target.transport`` may ask for (``Client.stream``'s ``transport=``)."""


class BenchError(ModelwireError):
    """Raised for a result file that is not a readable ``modelwire.bench`` document."""


@dataclass(frozen=True)
class Target:
    """One provider and model to benchmark (not part of the file: ``TargetResult`` is)."""

    provider: str
    model: str
    label: str = ""
    """How tables and files name it; default ``provider:model``."""
    before_request: Callable[[], None] | None = None
    """Called before each request is sent (warm-ups too), outside its timing: a hook for
    whatever must change between requests (an in-process mock's next reply, a rotating
    prompt) without being counted in them."""
    transport: str = "auto"
    """``auto``, ``http`` or ``websocket``, passed to ``Client.stream``: the same provider and
    model benchmarked once per transport compares the two on equal terms."""

    @property
    def name(self) -> str:
        """``provider:model``, with ``@transport`` when one was asked for (so the targets of
        one provider over two transports have names of their own)."""
        if self.label:
            return self.label
        via = "" if self.transport == "auto" else f"@{self.transport}"
        return f"{self.provider}:{self.model}{via}"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """How a run was made. ``requests`` and ``duration_s`` exclude each other; with neither,
    ``run_bench`` records ``requests=DEFAULT_REQUESTS``."""

    requests: int | None = None
    """Timed requests per target."""
    duration_s: float | None = None
    """Instead of a count: start requests for this long per target (each one started runs to
    its end, so a target's wall time exceeds this by up to one request)."""
    concurrency: int = 1
    warmup: int = 1
    """Untimed requests per target before the timed ones (run ``concurrency`` at a time)."""
    prompt: str = ""
    prompt_tokens: int | None = None
    """Set when ``prompt`` was generated to be about this many tokens (``--prompt-tokens``)."""
    max_tokens: int | None = None
    percentile_method: str = PERCENTILE_METHOD
    rate: float | None = None
    """Open loop: requests per second offered, on a schedule fixed in advance (``_schedule``);
    ``None`` is the closed loop (``concurrency`` workers)."""
    arrival: str = "poisson"
    """Open loop: ``constant``, ``poisson`` or ``gamma`` inter-arrival gaps."""
    burstiness: float = 1.0
    """Open loop, ``gamma``: the shape (CV ``1/sqrt(burstiness)``)."""
    ramp_to: float | None = None
    """Open loop: the rate at the end of ``duration_s``, reached ``ramp``-wise."""
    ramp: str = "linear"
    max_concurrency: int | None = None
    """Open loop: at most this many in flight; a request's wait for a slot is ``queue_ms``."""
    seed: int = 0
    """The schedule's seed: the same settings give the same send times."""
    trace: str | None = None
    """Open loop from a trace file (its path as given): its own offsets, prompts and limits."""
    slo: Slo | None = None
    """Objectives a request must meet to count in goodput (``_slo``)."""

    @property
    def open_loop(self) -> bool:
        return self.rate is not None or self.trace is not None

    def __post_init__(self) -> None:
        if self.rate is not None and self.trace is not None:
            raise ValueError("give rate or trace, not both")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.ramp_to is not None and (self.rate is None or self.duration_s is None):
            raise ValueError("a ramp needs rate and duration_s: it spans the run")
        if self.requests is not None and self.duration_s is not None:
            raise ValueError("give requests or duration_s, not both")
        if self.requests is not None and self.requests < 1:
            raise ValueError(f"requests must be at least 1, got {self.requests}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration_s must be more than 0, got {self.duration_s}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be at least 0, got {self.warmup}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")


class Environment(msgspec.Struct, frozen=True, kw_only=True):
    """Where the numbers came from; latencies depend on all of it."""

    modelwire: str
    python: str
    implementation: str
    platform: str
    cpus: int | None
    clock: str
    """The monotonic clock every interval is read from."""
    clock_resolution_s: float
    started_at: str
    """Wall-clock start (UTC, ISO 8601), for people; no interval is computed from it."""
    event_loop: str = ""
    """What ran the requests: ``asyncio``, ``asyncio+uvloop`` or ``trio`` (empty in files
    older than the field)."""
    versions: dict[str, str] = msgspec.field(default_factory=dict)
    """The installed version of each library on the request path or the generator's
    (``VERSIONED``), by distribution name; absent ones are left out."""


VERSIONED = (
    "httpx",
    "httpcore2",
    "anyio",
    "msgspec",
    "orjson",
    "wsproto",
    "ddsketch",
    "uvloop",
    "trio",
    "ray",
    "opentelemetry-sdk",
)
"""Distributions whose versions a result records: a change in any of them can move a figure."""


def _versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def event_loop_name() -> str:
    """The running event loop's kind (``asyncio+uvloop`` when uvloop's loop runs asyncio);
    empty outside one."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        trio = sys.modules.get("trio")
        if trio is None:
            return ""
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            return ""
        return "trio"
    return "asyncio+uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def environment() -> Environment:
    """This process's environment, now (the event loop: the one this is called from)."""
    return Environment(
        modelwire=__version__,
        python=platform.python_version(),
        implementation=sys.implementation.name,
        platform=platform.platform(),
        cpus=os.cpu_count(),
        clock="time.perf_counter",
        clock_resolution_s=time.get_clock_info("perf_counter").resolution,
        started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        event_loop=event_loop_name(),
        versions=_versions(),
    )


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One timed request. Times are ms from the moment the request was handed to the client
    (before its body was encoded); ``start_ms`` is that moment's offset from the target's start.
    """

    index: int
    start_ms: float
    ttfb_ms: float | None
    """The response body's first byte, read before any decoding (the transport's
    ``Call.first_byte``); ``None`` when no body arrived."""
    ttft_ms: float | None
    """The first text, reasoning or tool-argument delta event, as the caller receives it."""
    itl_ms: list[float]
    """Gaps between consecutive delta events (one fewer than the deltas)."""
    e2e_ms: float
    """The terminal event (``Completed`` / ``ErrorEvent``) or the exception."""
    output_tokens: int
    tokens_from: Literal["usage", "deltas"]
    """Where ``output_tokens`` came from: the reply's usage, else the number of deltas."""
    attempts: int
    error: str | None = None
    """The exception's class name, or the terminal ``ErrorEvent``'s code; ``None`` when ok."""
    error_message: str | None = None
    transport: str | None = None
    """What carried the reply: ``http`` (+ SSE) or ``websocket`` (``Call.transport``);
    ``None`` when the call failed before it had a stream, and in files older than the field."""
    fallback: str | None = None
    """Why this request went over HTTP after trying a WebSocket (``Call.fallback``)."""
    scheduled_ms: float | None = None
    """Open loop: when the schedule said to send it, from the target's start; ``start_ms``
    is when it was actually handed to the client."""
    lag_ms: float | None = None
    """Open loop: ``start_ms - scheduled_ms``, a slot's wait included. Every latency above
    counts from ``start_ms``; add this to count it from the scheduled time."""
    queue_ms: float | None = None
    """Open loop with ``max_concurrency``: the wait for a slot (part of ``lag_ms``)."""
    cost_usd: Decimal | None = None
    """What the reply cost (``Usage.cost.total``, exact; a string in the file); ``None`` when
    its price was unknown."""


class TargetSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One target's figures. Latency distributions cover successful requests only; the
    rates divide by ``wall_s``, the timed phase's wall time (first start to last end)."""

    requests: int
    ok: int
    errors: dict[str, int]
    """Failed requests by kind (``RequestRecord.error``)."""
    wall_s: float
    requests_per_s: float
    """Successful requests per second."""
    output_tokens: int
    """Output tokens of the successful requests."""
    output_tokens_per_s: float
    """Aggregate output throughput: ``output_tokens / wall_s``."""
    ttfb_ms: Stats | None
    ttft_ms: Stats | None
    itl_ms: Stats | None
    """Over every gap of every successful request, pooled."""
    e2e_ms: Stats | None
    decode_tokens_per_s: Stats | None
    """Per request: tokens after the first over the time from first to last delta."""
    transports: dict[str, int] = msgspec.field(default_factory=dict)
    """Timed requests by what carried them (``RequestRecord.transport``), so a run that fell
    back part way shows it."""
    cpu_s: float | None = None
    """CPU time (user + system, ``time.process_time``) of the whole benchmarking process over
    the timed phase: the client, the event loop, the progress view, and a mock only when it
    runs in the same process (``modelwire bench``'s runs in a child). ``None`` in files older
    than the field."""
    cpu_ms_per_request: float | None = None
    """``cpu_s`` over the timed requests, in ms: the client's cost per request."""
    offered_rate: float | None = None
    """Open loop: the requests per second the schedule offered over its span."""
    send_lag_ms: Stats | None = None
    """Open loop: the generator's lateness, ``lag_ms - queue_ms`` over every request: how far
    behind its schedule this process sent (a large one marks a generator-bound result)."""
    queue_ms: Stats | None = None
    """Open loop with ``max_concurrency``: the waits for a slot, over every request."""
    ttft_scheduled_ms: Stats | None = None
    """Open loop: TTFT counted from the scheduled send time (successful requests)."""
    e2e_scheduled_ms: Stats | None = None
    """Open loop: E2E counted from the scheduled send time: what queueing does to a caller."""
    slo_met: int | None = None
    """With an SLO: the requests that met every objective (``_slo.meets``)."""
    goodput_requests_per_s: float | None = None
    """With an SLO: ``slo_met / wall_s``."""
    goodput_tokens_per_s: float | None = None
    """With an SLO: the output tokens of those requests over ``wall_s``."""
    slo_attained: bool | None = None
    """With an SLO: each latency's ``percentile`` within its objective (``_slo.attained``)."""
    cost_usd: Decimal | None = None
    """What the priced requests cost together (exact; a string in the file); ``None`` when no
    request's price was known."""
    priced_requests: int | None = None
    """The requests whose cost was known (``cost_usd`` covers these)."""
    cost_per_request_usd: Decimal | None = None
    """``cost_usd / priced_requests``."""
    cost_per_1000_requests_usd: Decimal | None = None


class Generator(msgspec.Struct, frozen=True, kw_only=True):
    """The load generator's own state over a target's timed phase: whether its figures are
    the provider's or the generator's (a loop or a CPU too busy to send on time measures
    itself). The health figures are an open loop's; a closed loop has only the first three."""

    workers: int = 1
    """Processes (or Ray actors) that shared the schedule; over 1, the target's summary was
    merged from their sketches and its ``requests`` hold records only when asked for."""
    backend: Literal["process", "processes", "ray"] = "process"
    """``process``: this one; ``processes``: ``--workers`` on this machine; ``ray``: actors."""
    event_loop: str = ""
    """What ran the requests (``Environment.event_loop``)."""
    loop_lag_ms: Stats | None = None
    """How late the event loop ran a 10 ms timer, tick by tick (the generator's own queueing,
    in every send time and stamp), pooled over the workers."""
    cpu_share: float | None = None
    """``summary.cpu_s / summary.wall_s``: the share of one CPU the generator used (summed
    over the workers)."""
    bound: str | None = None
    """Why the figures may be the generator's rather than the provider's (send or event-loop
    lag p99 over 5 ms, or over 90 % of each worker's CPU); ``None`` when neither."""


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """The send schedule a target's timed phase ran (``settings`` says how it was drawn)."""

    loop: Literal["closed", "open"]
    requests: int | None = None
    """Open: the schedule's slots; closed: the request count asked for (``None`` with a
    duration)."""
    span_s: float | None = None
    """Open: the last send offset."""
    offered_rate: float | None = None
    """Open: slots per second over the span (``_schedule.offered_rate``)."""
    digest: str | None = None
    """Open: SHA-256 (first 16 hex digits) of every slot's offset to the nanosecond and its
    trace fields: two results with equal digests ran the same send times."""


def schedule_digest(rows: list[tuple[float, str | None, int | None, int | None]]) -> str:
    """The ``Schedule.digest`` of slots given as (offset_s, prompt, prompt_tokens, max_tokens)."""
    digest = hashlib.sha256()
    for offset_s, prompt, tokens, limit in rows:
        digest.update(f"{round(offset_s * 1e9)}|{prompt!r}|{tokens}|{limit}\n".encode())
    return digest.hexdigest()[:16]


QUANTILED = ("ttft_ms", "itl_ms", "e2e_ms", "ttft_scheduled_ms", "e2e_scheduled_ms")
"""The distributions a result keeps ECDF points for (``TargetResult.quantiles``)."""


class TargetResult(msgspec.Struct, frozen=True, kw_only=True):
    target: str
    provider: str
    model: str
    summary: TargetSummary
    requests: list[RequestRecord]
    transport: str = "auto"
    """The transport asked for (``Target.transport``); ``summary.transports`` says what
    actually carried the requests."""
    fallback: str | None = None
    """Why the provider's requests went over HTTP instead of a WebSocket, when ``auto`` tried
    one and it could not be had (possibly during the warm-ups: the client then keeps to HTTP
    for that provider, so no timed request records it)."""
    stopped_early: bool = False
    """An open loop abandoned its schedule: its backlog passed the limit (a sweep's step)."""
    generator: Generator = msgspec.field(default_factory=Generator)
    schedule: Schedule | None = None
    """``None`` in files older than the field."""
    quantiles: dict[str, list[float]] = msgspec.field(default_factory=dict)
    """For ECDFs: each distribution of ``QUANTILED`` that has values, at every quantile of
    ``_stats.QUANTILE_GRID`` (exact, or from the merged sketches), so a page can draw a
    workers' run whose samples were never kept."""
    interrupted: bool = False
    """The run was stopped while this target ran: its figures cover the requests that had
    ended."""


class TransportComparison(msgspec.Struct, frozen=True, kw_only=True):
    """One provider and model benchmarked over HTTP and over a WebSocket in the same run.

    Ratios are WebSocket over HTTP (below 1: the socket is faster or cheaper); ``None`` when
    either side has no figure (no successful request, or no CPU measured)."""

    provider: str
    model: str
    http_target: str
    websocket_target: str
    ttft_p50_ratio: float | None
    cpu_per_request_ratio: float | None


class MockProfile(msgspec.Struct, frozen=True, kw_only=True):
    """The embedded mock's latency profile when no target is given (Chat Completions wire):
    log-normal draws per request, seeded, so the distributions have realistic right tails
    (p99 well above p50) instead of the mock's fixed delays."""

    ttft_ms: float = 300.0
    """Median time to first token, as the client sees it."""
    ttft_sigma: float = 0.25
    """Log-normal shape: p90 ≈ 1.38 times the median, p99 ≈ 1.79 times."""
    itl_ms: float = 30.0
    """Median gap between tokens; one draw per request, used for every gap in it."""
    itl_sigma: float = 0.15
    output_tokens: int = 100
    seed: int = 0


class ClientOverhead(msgspec.Struct, frozen=True, kw_only=True):
    """modelwire's own cost on TTFT, against the mock with zero server-side latency: each
    sample is a modelwire request and a bare-socket request (pre-built bytes written to a
    kept-alive connection, bytes scanned for the first token), alternated."""

    samples: int
    modelwire_ttft_ms: Stats
    bare_ttft_ms: Stats
    overhead_ms: float
    """``modelwire_ttft_ms.p50 - bare_ttft_ms.p50``."""
    after_first_byte_ms: Stats
    """modelwire's TTFT minus its own TTFB per request: the receive side's share."""


class SweepStep(msgspec.Struct, frozen=True, kw_only=True):
    """One rate of a sweep (its full result is the target named ``target``)."""

    rate: float
    """The offered rate."""
    target: str
    saturated: bool
    """The provider fell behind (``why``)."""
    stopped_early: bool = False
    """The backlog passed the limit and the step sent no more."""
    why: Literal["backlog", "rate", "latency"] | None = None
    """Saturated by: the backlog limit, answers coming back at under 80 % of the rate they
    were sent at, or latency growing through the step (``_sweep``'s docstring)."""
    latency_growth: float | None = None
    """Median E2E from the scheduled time, last third of the step over its first third."""
    attained: bool | None = None
    """With an SLO: whether this step attained it."""
    goodput_requests_per_s: float | None = None


class Sweep(msgspec.Struct, frozen=True, kw_only=True):
    """One target's rate sweep (``bench._sweep``): its steps and what they say."""

    target: str
    steps: list[SweepStep]
    synchronous_rate: float | None = None
    """``auto``: successful requests per second one at a time."""
    saturated_rate: float | None = None
    """``auto``: successful requests per second at the saturating concurrency."""
    best_rate: float | None = None
    """With an SLO: the highest offered rate whose step attained it."""
    ended: str | None = None
    """Why the sweep stopped before its last rate, if it did."""


class BenchResult(msgspec.Struct, frozen=True, kw_only=True):
    """A whole run: what ``--json`` writes and ``load_result`` reads back."""

    schema: str = SCHEMA
    environment: Environment
    settings: Settings
    targets: list[TargetResult]
    mock_profile: MockProfile | None = None
    """Set when the embedded mock was the target."""
    client_overhead: ClientOverhead | None = None
    comparisons: list[TransportComparison] = msgspec.field(default_factory=list)
    """A provider and model benchmarked over both transports, compared (``TransportComparison``)."""
    interrupted: bool = False
    """The run was stopped early (Ctrl-C, SIGTERM); ``targets`` hold what had been measured."""
    sweeps: list[Sweep] = msgspec.field(default_factory=list)
    """A rate sweep's per-target findings; its steps are in ``targets``."""


class _Header(msgspec.Struct):
    schema: str


def load_result(data: bytes | str) -> BenchResult:
    """A result document (version 1 or 2), validated into its types; ``BenchError`` says
    what is wrong."""
    try:
        schema = msgspec.json.decode(data, type=_Header).schema
    except msgspec.DecodeError as exc:
        raise BenchError(f"not a benchmark result ({exc})") from None
    if schema not in READABLE_SCHEMAS:
        readable = " or ".join(repr(name) for name in READABLE_SCHEMAS)
        raise BenchError(f"the file is {schema!r}; this modelwire reads {readable}")
    try:
        if schema == SCHEMA:
            return msgspec.json.decode(data, type=BenchResult)
        document = msgspec.json.decode(data, type=dict[str, Any])
        return msgspec.convert(_upgrade_v1(document), BenchResult)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BenchError(f"not a valid {schema} document: {exc}") from None


_V1_GENERATOR = {"loop_lag_ms": "loop_lag_ms", "cpu_share": "cpu_share", "generator_bound": "bound"}


def _upgrade_v1(document: dict[str, Any]) -> dict[str, Any]:
    """A version 1 document in version 2's layout: each target's generator figures moved from
    its summary (and ``workers`` from the target) to ``generator``."""
    targets = document.get("targets")
    if not isinstance(targets, list):
        return {**document, "schema": SCHEMA}
    upgraded = []
    for target in targets:
        if not isinstance(target, dict):
            upgraded.append(target)
            continue
        target = dict(target)
        summary = target.get("summary")
        generator: dict[str, Any] = {}
        if isinstance(summary, dict):
            summary = dict(summary)
            for old, new in _V1_GENERATOR.items():
                if old in summary:
                    generator[new] = summary.pop(old)
            target["summary"] = summary
        workers = target.pop("workers", 1)
        generator["workers"] = workers
        generator["backend"] = (
            "processes" if isinstance(workers, int) and workers > 1 else "process"
        )
        target["generator"] = generator
        upgraded.append(target)
    return {**document, "schema": SCHEMA, "targets": upgraded}


def read_result(path: Path) -> BenchResult:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return load_result(data)
    except BenchError as exc:
        raise BenchError(f"{path}: {exc}") from None


def write_records(result: BenchResult, path: Path) -> None:
    """Every request's record as one JSON line, its target's name first (``--records``)."""
    lines = [
        msgspec.json.encode({"target": target.target, **msgspec.structs.asdict(record)})
        for target in result.targets
        for record in target.requests
    ]
    try:
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc}") from None


def write_result(result: BenchResult, path: Path) -> None:
    try:
        path.write_bytes(msgspec.json.encode(result) + b"\n")
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}") from None
