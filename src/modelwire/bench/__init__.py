"""Latency benchmark: the same streamed request against each target, timed as a caller sees it.

For people who pick providers by latency: ``run_bench(client, targets, settings)`` runs
``settings.requests`` timed requests (or as many as fit in ``settings.duration_s``) per target,
``settings.concurrency`` at a time, after ``settings.warmup`` untimed ones, and returns every
request's timings with a summary per target. With ``settings.rate`` (or ``settings.trace``)
the run is an **open loop** instead: every send time is fixed in advance by a seeded schedule
(``_schedule``: constant, Poisson or gamma arrivals, ramps, traces), each request goes out at
its time whatever the earlier ones are doing (at most ``max_concurrency`` in flight, a slot's
wait measured as ``queue_ms``), and every request records its scheduled time and its lateness
(``scheduled_ms``, ``lag_ms``), so queueing shows up as latency counted from the schedule
(``ttft_scheduled_ms``, ``e2e_scheduled_ms``) instead of being hidden by a generator that
slowed down with the provider. Targets run one after another, so they never
compete for the client. Every request goes through ``Client.stream``, so each is traced and
metered like any other call. ``modelwire bench`` is the command around it.

**What is measured.** Every interval is read from ``time.perf_counter`` (monotonic) and starts
the moment the request is handed to the client, before its body is encoded:

* *TTFB*: the response body's first byte, stamped by the transport as the read returns,
  before any decoding (``Call.first_byte``).
* *TTFT*: the first text, reasoning or tool-argument delta event. Stamped as the event reaches
  the benchmark's loop, first thing, so it includes request encoding, auth, the connection
  (a new connection's connect/TLS too: warm-ups exist to open them), the network, the
  provider, and decoding the bytes up to that event; nothing the benchmark does with events
  is in it (it keeps no text, and reports progress only between requests).
* *ITL*: the gaps between consecutive delta events as the caller receives them. Deltas decoded
  from one network read arrive microseconds apart, as they do for any caller.
* *E2E*: the terminal event (``Completed`` or ``ErrorEvent``), or the exception.
* *Client CPU*: ``time.process_time`` (user + system CPU of every thread) read as a target's
  timed phase begins and ends, over its timed requests. It is the whole process's: the
  client, the event loop and the progress view, and a mock only when it shares the process
  (``modelwire bench`` runs its own in a child, so there it is the client's cost).

**Transports.** ``Target.transport`` is passed to ``Client.stream`` as ``transport=``
(``auto``, ``http``, ``websocket``); each record keeps what carried its reply
(``Call.transport``), so one provider benchmarked as two targets, ``@http`` and
``@websocket``, compares the two on equal terms, and the result says how they compare
(``TransportComparison``: WebSocket over HTTP, TTFT p50 and CPU per request).

The client's own part of TTFT is measured apart and printed by ``modelwire bench`` with every
mock run (the embedded mock answering at once; modelwire's TTFT against a bare socket's, see
``ClientOverhead``), so it can be judged against the provider's share. At high concurrency on
few cores the event loop's own queueing is in every figure, as it would be for any caller.

**Summary.** Per target: p50/p90/p99/min/max/mean of TTFB, TTFT, ITL (all gaps pooled), E2E
and per-request decode speed, over successful requests, with percentiles by linear
interpolation between closest ranks (``bench._stats``); successful requests per second and
output tokens per second (aggregate) over the timed phase's wall time; the requests by the
transport that carried them; client CPU time and CPU per request; failures by kind — the
exception's class name (``ProviderError``, ``StreamError``…) or the terminal ``ErrorEvent``'s
code (``stream_truncated``, ``idle_timeout``, the provider's own). Output tokens come from the
reply's usage, else the count of delta events.

**Result file** (``write_result`` / ``load_result``; ``modelwire bench --json``), one JSON
object, times in milliseconds unless the name says otherwise::

    {"schema": "modelwire.bench/2",
     "environment": {"modelwire", "python", "implementation", "platform", "cpus",
                     "clock", "clock_resolution_s", "started_at",
                     "event_loop": "asyncio"|"asyncio+uvloop"|"trio",
                     "versions": {distribution: version}},
     "settings": {"requests" | "duration_s", "concurrency", "warmup", "prompt",
                  "prompt_tokens", "max_tokens", "percentile_method": "linear",
                  "rate", "arrival", "burstiness", "ramp_to", "ramp", "max_concurrency",
                  "seed", "trace", "slo": {"ttft_ms", "itl_ms", "e2e_ms", "percentile"}},
     "targets": [{"target", "provider", "model",
                  "transport": "auto"|"http"|"websocket", "fallback": str | null,
                  "summary": {"requests", "ok", "errors": {kind: count}, "wall_s",
                              "requests_per_s", "output_tokens", "output_tokens_per_s",
                              "ttfb_ms", "ttft_ms", "itl_ms", "e2e_ms",
                              "decode_tokens_per_s", "transports": {transport: count},
                              "cpu_s", "cpu_ms_per_request", "offered_rate",
                              "send_lag_ms", "queue_ms", "ttft_scheduled_ms",
                              "e2e_scheduled_ms", "slo_met", "goodput_requests_per_s",
                              "goodput_tokens_per_s", "slo_attained"},
                  "generator": {"workers", "backend": "process"|"processes"|"ray",
                                "event_loop", "loop_lag_ms", "cpu_share", "bound"},
                  "schedule": {"loop": "closed"|"open", "requests", "span_s",
                               "offered_rate", "digest"},
                  "quantiles": {"ttft_ms"|"itl_ms"|"e2e_ms"|"ttft_scheduled_ms"
                                |"e2e_scheduled_ms": [102 values]},
                  "stopped_early", "interrupted",
                  "requests": [{"index", "start_ms", "ttfb_ms", "ttft_ms", "itl_ms": [...],
                                "e2e_ms", "output_tokens", "tokens_from": "usage"|"deltas",
                                "attempts", "error", "error_message",
                                "transport": "http"|"websocket"|null, "fallback",
                                "scheduled_ms", "lag_ms", "queue_ms"}]}],
     "mock_profile": {...} | null,
     "client_overhead": {"samples", "modelwire_ttft_ms", "bare_ttft_ms", "overhead_ms",
                         "after_first_byte_ms"} | null,
     "comparisons": [{"provider", "model", "http_target", "websocket_target",
                      "ttft_p50_ratio", "cpu_per_request_ratio"}],
     "sweeps": [{"target", "steps": [{"rate", "target", "saturated", "stopped_early",
                                      "why": "backlog"|"rate"|"latency"|null,
                                      "latency_growth", "attained",
                                      "goodput_requests_per_s"}],
                 "synchronous_rate", "saturated_rate", "best_rate", "ended"}],
     "interrupted": false | true}

``generator`` is the load generator's own state (is the figure the provider's or the
generator's?), ``schedule`` what the timed phase ran (equal ``digest``: the same send times),
``quantiles`` each distribution at the minimum, every percent, p99.9 and the maximum
(``QUANTILE_GRID``), exact or from the workers' merged sketches, for ECDFs.

``interrupted`` marks a run stopped early (Ctrl-C, SIGTERM): ``targets`` then holds what had
been measured, the target in progress (its own ``interrupted`` set) summarised over the
requests that had ended — with workers, over what each worker had when asked to stop
(requests cut off in flight are not recorded; ``RunRecorder`` keeps the record as the run
goes).

Each distribution is ``{"count", "min", "p50", "p90", "p99", "max", "mean"}`` or ``null`` when
no request succeeded. Within a version fields are only ever added (readers ignore unknown
ones); a removal or a change of meaning bumps the version. Version 2 moved the generator's
figures (``loop_lag_ms``, ``cpu_share``, ``generator_bound`` → ``bound``, ``workers``) out of
the target's summary into ``generator``; ``load_result`` reads version 1 files, moving them.

**Layout**, the data path: ``_schedule`` fixes an open loop's send times, ``_measure`` runs a
target's requests and times each (``run_bench``, ``measure_request``, ``summarize``), with
``_sweep`` stepping the rate and ``_workers`` sharing one schedule among processes (or ``_ray``'s
actors), whose ``_sketch`` tallies merge; ``_slo`` judges requests against objectives, ``_stats``
turns samples into percentiles, ``_schema`` is the result's typed form and file format, ``_report``
the table, progress view and plot, ``_html`` the self-contained page, and ``_target`` the keyless
default target (``modelwire mock`` in a child process). The command's side is
``modelwire.cli._bench``.
"""

from ._html import render_html, write_html
from ._measure import (
    DEFAULT_PROMPT,
    BenchProgress,
    RunRecorder,
    compare_transports,
    generated_prompt,
    measure_request,
    run_bench,
    summarize,
)
from ._schema import (
    DEFAULT_REQUESTS,
    SCHEMA,
    TRANSPORTS,
    BenchError,
    BenchResult,
    ClientOverhead,
    Environment,
    Generator,
    MockProfile,
    RequestRecord,
    Schedule,
    Settings,
    Target,
    TargetResult,
    TargetSummary,
    TransportComparison,
    environment,
    load_result,
    read_result,
    write_result,
)
from ._stats import PERCENTILE_METHOD, Stats, percentile, stats_of
from ._workers import run_workers

__all__ = [
    "DEFAULT_PROMPT",
    "DEFAULT_REQUESTS",
    "PERCENTILE_METHOD",
    "SCHEMA",
    "TRANSPORTS",
    "BenchError",
    "BenchProgress",
    "BenchResult",
    "ClientOverhead",
    "Environment",
    "Generator",
    "MockProfile",
    "RequestRecord",
    "RunRecorder",
    "Schedule",
    "Settings",
    "Stats",
    "Target",
    "TargetResult",
    "TargetSummary",
    "TransportComparison",
    "compare_transports",
    "environment",
    "generated_prompt",
    "load_result",
    "measure_request",
    "percentile",
    "read_result",
    "render_html",
    "run_bench",
    "run_workers",
    "stats_of",
    "summarize",
    "write_html",
    "write_result",
]
