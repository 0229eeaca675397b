"""A benchmark result as one self-contained HTML page (``modelwire bench --html FILE``).

The page is meant to be mailed, attached to an issue or opened years later, so it loads
nothing: no chart library, font or stylesheet from elsewhere, and a Content-Security-Policy
that forbids any fetch and runs only the page's own script (allowed by its hash). It carries
the result file itself, byte for byte, in a ``<script type="application/json"
id="modelwire-bench-data">``, and the charts are drawn by the page's script from those bytes,
so what is drawn cannot disagree with what is kept, and the data can be taken back out
(``load_result`` on the embedded text). The header and the table are plain HTML, readable
without the script.
"""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path

import msgspec

from ._report import _triple
from ._schema import (
    BenchError,
    BenchResult,
    Environment,
    Settings,
    Sweep,
    TargetResult,
    TargetSummary,
)
from ._stats import QUANTILE_GRID

__all__ = ["DATA_ID", "render_html", "write_html"]

DATA_ID = "modelwire-bench-data"
"""The id of the element holding the result's JSON: where a reader (or a test) finds it."""


def write_html(result: BenchResult, path: Path) -> None:
    try:
        path.write_text(render_html(result), encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}") from None


def render_html(result: BenchResult) -> str:
    """The whole page (see the module docstring)."""
    script = _SCRIPT.replace("__GRID__", msgspec.json.encode(list(QUANTILE_GRID)).decode())
    policy = (
        "default-src 'none'; "
        f"script-src '{_sha256(script)}'; style-src '{_sha256(_STYLE)}'; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    names = ", ".join(target.target for target in result.targets) or "no targets"
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            f'<meta http-equiv="Content-Security-Policy" content="{_attr(policy)}">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f'<meta name="generator" content="modelwire {_attr(result.environment.modelwire)}">\n',
            f"<title>modelwire bench: {_text(names)}</title>\n",
            f"<style>{_STYLE}</style>\n</head>\n<body>\n",
            _header(result),
            "<main>\n",
            _controls(result),
            _rate_section(result),
            _goodput_section(result),
            _ecdf_section(),
            _over_time_section(),
            _targets_section(result),
            "</main>\n",
            f'<script type="application/json" id="{DATA_ID}">',
            embedded_json(msgspec.json.encode(result)),
            "</script>\n",
            f"<script>{script}</script>\n</body>\n</html>\n",
        ]
    )


def embedded_json(encoded: bytes) -> str:
    """The result's JSON made safe inside a ``<script>`` element, still the same JSON.

    ``</`` would let a prompt holding ``</script>`` end the element; ``<!--`` (followed by
    ``<script``) would put the HTML parser in the state where the real ``</script>`` no longer
    ends it. Both can only occur inside JSON strings, where ``<\\/`` and ``\\u003c`` are
    escapes every JSON parser reads back as ``</`` and ``<``.
    """
    return encoded.decode().replace("</", "<\\/").replace("<!--", "\\u003c!--")


def _sha256(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _text(value: object) -> str:
    return html.escape(str(value), quote=False)


def _attr(value: object) -> str:
    return html.escape(str(value), quote=True)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _open_loop(target: TargetResult) -> bool:
    """Whether the target ran on a schedule (version 1 files have no ``schedule``)."""
    if target.schedule is not None:
        return target.schedule.loop == "open"
    return target.summary.offered_rate is not None


def _load_phrase(settings: Settings, sweeps: list[Sweep]) -> str:
    """The load shape in words: what a reader needs first to read any figure."""
    if sweeps:
        rates = sorted({step.rate for sweep in sweeps for step in sweep.steps})
        load = f"open-loop rate sweep, steps run at {', '.join(f'{r:g}' for r in rates)} req/s"
    elif settings.trace is not None:
        return f"open loop replaying the trace {settings.trace}" + _cap(settings)
    elif settings.rate is not None:
        load = f"open loop at {settings.rate:g} req/s"
        if settings.ramp_to is not None:
            load += f" ramping {settings.ramp} to {settings.ramp_to:g} req/s"
    else:
        return f"closed loop, {settings.concurrency} at a time"
    shape = settings.arrival
    if settings.arrival == "gamma":
        shape += f" (burstiness {settings.burstiness:g})"
    return f"{load}, {shape} arrivals, seed {settings.seed}" + _cap(settings)


def _cap(settings: Settings) -> str:
    if settings.max_concurrency is None:
        return ""
    return f", at most {settings.max_concurrency} in flight"


def _definitions(items: list[tuple[str, str]]) -> str:
    """A ``<dl>`` of already-escaped values."""
    rows = "".join(f"<dt>{_text(name)}</dt><dd>{value}</dd>" for name, value in items)
    return f"<dl>{rows}</dl>"


def _settings_items(result: BenchResult) -> list[tuple[str, str]]:
    settings = result.settings
    amount = (
        f"{settings.duration_s:g} s per target"
        if settings.duration_s is not None
        else f"{settings.requests} per target"
    )
    words = len(settings.prompt.split())
    prompt = (
        f"about {settings.prompt_tokens} tokens"
        if settings.prompt_tokens is not None
        else f"{words} words"
    )
    items = [
        ("load", _text(_load_phrase(settings, result.sweeps))),
        ("timed requests", _text(amount)),
        ("warm-up", _text(f"{settings.warmup} per target")),
        (
            "prompt",
            f"<details><summary>{_text(prompt)}</summary>"
            f"<pre>{_text(settings.prompt)}</pre></details>",
        ),
        ("max tokens", _text(settings.max_tokens or "provider's default")),
        ("SLO", _text("none" if settings.slo is None else settings.slo.describe())),
        ("percentiles", _text(f"{settings.percentile_method} interpolation")),
    ]
    if result.mock_profile is not None:
        mock = result.mock_profile
        items.append(
            (
                "provider",
                _text(
                    f"modelwire's embedded mock: TTFT median {mock.ttft_ms:g} ms, ITL median "
                    f"{mock.itl_ms:g} ms, {mock.output_tokens} tokens, seed {mock.seed}"
                ),
            )
        )
    if result.client_overhead is not None:
        overhead = result.client_overhead
        items.append(
            (
                "client overhead",
                _text(
                    f"{overhead.overhead_ms:.2f} ms of TTFT at p50 over a bare socket "
                    f"({overhead.samples} requests each way)"
                ),
            )
        )
    for comparison in result.comparisons:
        ratio = comparison.ttft_p50_ratio
        items.append(
            (
                "transports",
                _text(
                    f"{comparison.websocket_target} over {comparison.http_target}: TTFT p50 "
                    + ("-" if ratio is None else f"{ratio:.2f}x")
                ),
            )
        )
    return items


def _environment_items(environment: Environment, result: BenchResult) -> list[tuple[str, str]]:
    loops = {target.generator.event_loop for target in result.targets} - {""}
    event_loop = environment.event_loop or ", ".join(sorted(loops)) or "not recorded"
    versions = ", ".join(f"{name} {version}" for name, version in environment.versions.items())
    return [
        ("modelwire", _text(environment.modelwire)),
        ("python", _text(f"{environment.implementation} {environment.python}")),
        ("event loop", _text(event_loop)),
        ("platform", _text(environment.platform)),
        ("CPUs", _text(environment.cpus if environment.cpus is not None else "unknown")),
        ("clock", _text(f"{environment.clock} ({environment.clock_resolution_s:g} s)")),
        ("started", _text(environment.started_at)),
        ("libraries", _text(versions or "not recorded")),
    ]


def _header(result: BenchResult) -> str:
    mark = ""
    if result.interrupted:
        measured = ", ".join(
            f"{target.target}: {target.summary.requests} requests" for target in result.targets
        )
        mark = (
            '<p class="interrupted" id="interrupted"><strong>INTERRUPTED</strong>: the run was '
            "stopped early; these figures cover the requests that had ended "
            f"({_text(measured or 'no timed request had ended')}).</p>\n"
        )
    count = len(result.targets)
    lede = (
        f"{count} target{'' if count == 1 else 's'}, "
        f"{_load_phrase(result.settings, result.sweeps)}; started {result.environment.started_at}"
    )
    return (
        '<header id="overview">\n<h1>modelwire bench</h1>\n'
        f'{mark}<p>{_text(lede)}</p>\n<div class="panels">'
        f'<section id="settings"><h2>Settings</h2>{_definitions(_settings_items(result))}'
        "</section>"
        f'<section id="environment"><h2>Environment</h2>'
        f"{_definitions(_environment_items(result.environment, result))}</section>"
        "</div>\n</header>\n"
    )


def _controls(result: BenchResult) -> str:
    scheduled = any(_open_loop(target) for target in result.targets)
    schedule = (
        '<label><input type="checkbox" id="opt-schedule" checked> open-loop TTFT and E2E '
        "from the scheduled send time</label>"
        if scheduled
        else ""
    )
    return (
        f'<div id="controls">{schedule}'
        '<label><input type="checkbox" id="opt-log"> log scale for latencies</label>'
        "<noscript><p>The charts are drawn by this page's script from the embedded result; "
        "with scripts off, the table below has the figures.</p></noscript></div>\n"
    )


def _section(ident: str, title: str, note: str, body: str) -> str:
    return (
        f'<section id="{ident}">\n<h2>{_text(title)}</h2>\n<p class="note">{_text(note)}</p>\n'
        f"{body}</section>\n"
    )


def _figures(*idents: str) -> str:
    boxes = "".join(f'<div class="figure" id="{ident}"></div>' for ident in idents)
    return f'<div class="figures">{boxes}</div>\n'


def _sweep_findings(sweep: Sweep) -> str:
    found = []
    if sweep.synchronous_rate is not None:
        found.append(f"one at a time {sweep.synchronous_rate:.2f} req/s")
    if sweep.saturated_rate is not None:
        found.append(f"saturated {sweep.saturated_rate:.2f} req/s")
    if sweep.best_rate is not None:
        found.append(f"highest rate within the SLO {sweep.best_rate:g} req/s")
    elif any(step.attained is not None for step in sweep.steps):
        found.append("no step within the SLO")
    saturated = [f"{step.rate:g}" for step in sweep.steps if step.saturated]
    if saturated:
        found.append(f"saturated at {', '.join(saturated)} req/s")
    if sweep.ended is not None:
        found.append(f"ended early: {sweep.ended}")
    summary = "; ".join(found) or f"{len(sweep.steps)} steps"
    return f"<li>{_text(sweep.target)}: {_text(summary)}</li>"


def _rate_section(result: BenchResult) -> str:
    findings = "".join(_sweep_findings(sweep) for sweep in result.sweeps)
    note = (
        "p50 (solid), p90 (dashed) and p99 (dotted) of each latency against the rate: one curve "
        "per sweep at each step's offered rate; a target outside a sweep is a point at its "
        "offered rate (open loop) or its achieved rate (closed loop)."
    )
    body = _figures("chart-rate-ttft", "chart-rate-itl", "chart-rate-e2e")
    if findings:
        body += f'<ul class="findings">{findings}</ul>\n'
    return _section("latency-vs-rate", "Latency vs offered rate", note, body)


def _goodput_section(result: BenchResult) -> str:
    if result.settings.slo is None:
        note = (
            "Successful requests per second against the offered rate (the grey diagonal: "
            "keeping up). No SLO was set, so there is no goodput (--slo)."
        )
    else:
        note = (
            "Throughput (successful requests per second, solid) and goodput (those within the "
            f"SLO {result.settings.slo.describe()}, dashed) against the offered rate; the grey "
            "diagonal is keeping up."
        )
    return _section("goodput-vs-rate", "Goodput vs rate", note, _figures("chart-goodput"))


def _ecdf_section() -> str:
    note = (
        "The fraction of successful requests (of gaps, for ITL) at or below each latency, per "
        "target: exact from the kept requests, else from the result's quantiles."
    )
    body = _figures("chart-ecdf-ttft", "chart-ecdf-itl", "chart-ecdf-e2e")
    return _section("ecdf", "Latency distributions (ECDF)", note, body)


def _over_time_section() -> str:
    note = (
        "Each request's TTFT and E2E against when it was sent (its scheduled time in an open "
        "loop), per target; failed requests are crosses at their E2E."
    )
    body = '<div class="figures" id="chart-over-time"></div>\n'
    return _section("latency-over-time", "Latency over the run", note, body)


_COLUMNS = (
    "target",
    "requests",
    "ok",
    "errors",
    "req/s",
    "offered req/s",
    "output tok/s",
    "TTFT ms p50 / p90 / p99",
    "ITL ms p50 / p90 / p99",
    "E2E ms p50 / p90 / p99",
)
_SCHEDULED_COLUMNS = ("TTFT from schedule ms", "E2E from schedule ms")
_TAIL_COLUMNS = ("goodput req/s", "SLO", "cost USD / request / 1,000", "generator", "notes")


def _generator(target: TargetResult) -> str:
    generator = target.generator
    if generator.backend == "ray":
        who = f"{generator.workers} Ray actor{'' if generator.workers == 1 else 's'}"
    else:
        who = f"{generator.workers} process{'' if generator.workers == 1 else 'es'}"
    parts = [who]
    if generator.event_loop:
        parts.append(generator.event_loop)
    if generator.cpu_share is not None:
        parts.append(f"CPU {generator.cpu_share:.0%}")
    if generator.bound is not None:
        bound = _text(generator.bound)
        return _text(", ".join(parts)) + f' <strong class="bad">BOUND: {bound}</strong>'
    return _text(", ".join(parts))


def _slo_cell(target: TargetResult) -> str:
    summary = target.summary
    if summary.slo_attained is None and summary.slo_met is None:
        return "-"
    verdict = {True: "met", False: "missed", None: "-"}[summary.slo_attained]
    return f"{verdict}, {summary.slo_met or 0} / {summary.requests}"


def _notes(target: TargetResult) -> str:
    notes = []
    if target.interrupted:
        notes.append("interrupted")
    if target.stopped_early:
        notes.append("stopped early")
    if target.summary.transports:
        notes.append(", ".join(f"{k} {v}" for k, v in target.summary.transports.items()))
    if target.fallback is not None:
        notes.append(f"fell back to HTTP: {target.fallback}")
    return "; ".join(notes) or "-"


def _cost_cell(s: TargetSummary) -> str:
    """Exact amounts as the file has them; ``unknown`` when no request was priced, never $0."""
    if s.cost_per_request_usd is None or s.cost_per_1000_requests_usd is None:
        return "unknown"
    priced = "" if s.priced_requests == s.requests else f" ({s.priced_requests} priced)"
    return f"{s.cost_per_request_usd:.6g} / {s.cost_per_1000_requests_usd:.6g}{priced}"


def _row(target: TargetResult, scheduled: bool) -> str:
    s = target.summary
    errors = ", ".join(f"{kind} {count}" for kind, count in s.errors.items()) or "-"
    cells = [
        (False, target.target),
        (True, s.requests),
        (True, s.ok),
        (False, errors),
        (True, _rate(s.requests_per_s)),
        (True, _rate(s.offered_rate)),
        (True, f"{s.output_tokens_per_s:.1f}"),
        (True, _triple(s.ttft_ms)),
        (True, _triple(s.itl_ms)),
        (True, _triple(s.e2e_ms)),
    ]
    if scheduled:
        cells += [(True, _triple(s.ttft_scheduled_ms)), (True, _triple(s.e2e_scheduled_ms))]
    cells += [
        (True, _rate(s.goodput_requests_per_s)),
        (False, _slo_cell(target)),
        (True, _cost_cell(s)),
    ]
    row = "".join(
        f'<td class="num">{_text(value)}</td>' if numeric else f"<td>{_text(value)}</td>"
        for numeric, value in cells
    )
    return f"<tr>{row}<td>{_generator(target)}</td><td>{_text(_notes(target))}</td></tr>"


def _error_messages(result: BenchResult) -> str:
    """The first message of each failure kind per target: the table gives only kinds."""
    items = []
    for target in result.targets:
        seen: set[str] = set()
        for record in target.requests:
            if record.error is None or record.error in seen:
                continue
            seen.add(record.error)
            message = record.error_message or "(no message)"
            items.append(
                f"<li>{_text(target.target)}, request {record.index}: "
                f"<code>{_text(record.error)}</code> {_text(message)}</li>"
            )
    if not items:
        return ""
    return (
        '<details id="error-messages"><summary>error messages (the first of each kind)'
        f"</summary><ul>{''.join(items)}</ul></details>\n"
    )


def _targets_section(result: BenchResult) -> str:
    scheduled = any(_open_loop(target) for target in result.targets)
    columns = _COLUMNS + (_SCHEDULED_COLUMNS if scheduled else ()) + _TAIL_COLUMNS
    head = "".join(f'<th scope="col">{_text(name)}</th>' for name in columns)
    rows = "".join(_row(target, scheduled) for target in result.targets)
    if not result.targets:
        rows = f'<tr><td colspan="{len(columns)}">no target was measured</td></tr>'
    note = (
        "Latencies over successful requests (ITL: every gap, pooled), rates over each "
        "target's timed phase, percentiles by linear interpolation."
    )
    table = (
        f'<div class="scroll"><table id="targets-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>\n"
    )
    return _section("targets", "Targets", note, table + _error_messages(result))


_STYLE = """
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6474; --line: #d8dce3; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); margin: 0 auto; max-width: 1280px; padding: 0 20px 40px; }
h1 { font-size: 22px; margin: 18px 0 4px; }
h2 { font-size: 17px; margin: 26px 0 4px; }
.note { color: var(--muted); margin: 2px 0 10px; max-width: 900px; }
.panels { display: flex; flex-wrap: wrap; gap: 8px 40px; }
.panels section { flex: 1 1 420px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; margin: 4px 0; max-height: 240px; overflow: auto; }
.interrupted { background: #fff1c2; border: 1px solid #e0b000; padding: 8px 12px; }
.bad { color: #b3261e; }
#controls { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 16px 0 0;
  padding: 8px 0; border-top: 1px solid var(--line); border-bottom: 1px solid var(--line); }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
.figure { flex: 1 1 380px; max-width: 600px; min-width: 280px; }
.figure h3 { font-size: 14px; margin: 4px 0; overflow-wrap: anywhere; }
svg.plot { width: 100%; height: auto; display: block; }
svg.plot text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg.plot .title { font-size: 13px; font-weight: 600; }
svg.plot .grid { stroke: #eceef2; }
svg.plot .axis { stroke: #9aa1ad; }
svg.plot .readout { fill: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 12px; margin: 2px 0 0 8px; }
.legend span { display: inline-flex; align-items: center; gap: 4px; }
.legend .toggle { cursor: pointer; }
.legend .off { opacity: 0.35; }
.legend svg { width: 26px; height: 10px; }
.empty, .error { color: var(--muted); font-style: italic; }
.error { color: #b3261e; }
.findings { margin: 8px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
  vertical-align: top; }
th { font-weight: 600; background: #f5f6f8; position: sticky; top: 0; }
td.num { text-align: right; white-space: nowrap; }
"""

_SCRIPT = r"""
(() => {
  "use strict";
  // Draws every chart of the page from the embedded result (nothing else is read).
  const NS = "http://www.w3.org/2000/svg";
  const GRID = __GRID__;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  const W = 540, H = 330, M = { l: 58, r: 14, t: 26, b: 42 };
  const PCTS = [["p50", "", "dot"], ["p90", "6 3", "ring"], ["p99", "2 3", "square"]];
  const LATENCIES = [["ttft", "TTFT"], ["itl", "ITL"], ["e2e", "E2E"]];
  const data = JSON.parse(document.getElementById("modelwire-bench-data").textContent);
  const targets = data.targets || [];
  const opts = { schedule: true, log: false };
  const color = (i) => COLORS[i % COLORS.length];

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, text, parent, cls) {
    const node = document.createElement(tag);
    if (text !== null) node.textContent = text;
    if (cls) node.setAttribute("class", cls);
    if (parent) parent.appendChild(node);
    return node;
  }

  function fmt(v) {
    const a = Math.abs(v);
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 0.01 || a === 0) return v.toFixed(2);
    return v.toPrecision(2);
  }

  // Tick labels as short as they can be: 0, 5, 10, 0.25 (not 0.00, 5.00).
  const tick = (v) => String(Number(v.toPrecision(6)));

  function linearTicks(lo, hi) {
    const raw = (hi - lo) / 5 || 1;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * 0.999);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Number(v.toPrecision(12)));
    }
    return out;
  }

  function logTicks(lo, hi) {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * Math.pow(10, e);
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
    }
    return out;
  }

  // A scale from a data extent to pixels, with its inverse (the cursor readout's).
  function scale(values, a, b, log, zero, fixed) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (fixed) [lo, hi] = fixed;
    else if (log) { lo /= 1.25; hi *= 1.25; }
    else {
      if (zero) lo = Math.min(0, lo);
      const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.1 || 1;
      hi += pad;
      if (!zero) lo -= pad;
    }
    const f = log ? Math.log10 : (v) => v;
    const g = log ? (v) => Math.pow(10, v) : (v) => v;
    const l0 = f(lo), span = f(hi) - l0 || 1;
    const to = (v) => a + ((f(v) - l0) / span) * (b - a);
    to.invert = (p) => g(l0 + ((p - a) / (b - a)) * span);
    to.ticks = () => (log ? logTicks(lo, hi) : linearTicks(lo, hi));
    return to;
  }

  function marker(group, shape, x, y, fill, tip) {
    const attrs = shape === "square"
      ? { x: x - 3, y: y - 3, width: 6, height: 6 }
      : { cx: x, cy: y, r: 3.2 };
    const hollow = shape !== "dot";
    const node = svg(shape === "square" ? "rect" : "circle", Object.assign(attrs, {
      fill: hollow ? "white" : fill, stroke: fill, "stroke-width": 1.4,
    }), group);
    if (tip) svg("title", {}, node).textContent = tip;
  }

  function pathOf(series, sx, sy) {
    const p = series.points;
    if (series.kind === "step") {
      const n = p.length;
      const parts = [`M${sx(p[0][0]).toFixed(1)},${sy(0).toFixed(1)}`];
      for (let i = 0; i < n; i++) {
        parts.push(`H${sx(p[i][0]).toFixed(1)}V${sy(p[i][1]).toFixed(1)}`);
      }
      return parts.join("");
    }
    if (series.kind === "dots") {
      return p.map((q) => `M${sx(q[0]).toFixed(1)},${sy(q[1]).toFixed(1)}h0`).join("");
    }
    if (series.kind === "cross") {
      return p.map((q) => {
        const x = sx(q[0]), y = sy(q[1]);
        return `M${(x - 3).toFixed(1)},${(y - 3).toFixed(1)}l6,6m0,-6l-6,6`;
      }).join("");
    }
    return p.map((q, i) => `${i ? "L" : "M"}${sx(q[0]).toFixed(1)},${sy(q[1]).toFixed(1)}`)
      .join("");
  }

  function swatch(parent, stroke, dash, width, shape) {
    const icon = svg("svg", { viewBox: "0 0 26 10" }, parent);
    svg("line", {
      x1: 1, y1: 5, x2: 25, y2: 5, stroke, "stroke-width": width,
      "stroke-dasharray": dash || "none", "stroke-linecap": "round",
    }, icon);
    if (shape) marker(icon, shape, 13, 5, stroke, null);
  }

  // One chart: spec.series are {key, color, dash, kind, marker, points: [[x, y, tip]]};
  // series sharing a key share a legend entry that shows or hides them together.
  function plot(root, spec) {
    const fig = html("div", null, root, "chart");
    const positive = (v) => !spec.xLog || v > 0;
    const up = (v) => !spec.yLog || v > 0;
    const series = spec.series.map((s) => Object.assign({}, s, {
      points: s.points.filter((q) => Number.isFinite(q[0]) && Number.isFinite(q[1])
        && positive(q[0]) && up(q[1])),
    })).filter((s) => s.points.length);
    if (!series.length) {
      html("h3", spec.title, fig);
      html("p", spec.empty, fig, "empty");
      return;
    }
    const xs = series.flatMap((s) => s.points.map((q) => q[0]));
    const ys = series.flatMap((s) => s.points.map((q) => q[1]));
    if (spec.diagonal) for (const x of xs) ys.push(x);
    const sx = scale(xs, M.l, W - M.r, spec.xLog, spec.xZero, null);
    const sy = scale(ys, H - M.b, M.t, spec.yLog, spec.yZero, spec.yFixed);
    const chart = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": spec.title,
    }, fig);
    svg("text", { x: M.l, y: 16, class: "title" }, chart).textContent = spec.title;
    for (const t of sx.ticks()) {
      const x = sx(t);
      svg("line", { x1: x, x2: x, y1: M.t, y2: H - M.b, class: "grid" }, chart);
      svg("text", { x, y: H - M.b + 14, "text-anchor": "middle" }, chart).textContent = tick(t);
    }
    for (const t of sy.ticks()) {
      const y = sy(t);
      svg("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, class: "grid" }, chart);
      svg("text", { x: M.l - 5, y: y + 4, "text-anchor": "end" }, chart).textContent = tick(t);
    }
    svg("path", { d: `M${M.l},${M.t}V${H - M.b}H${W - M.r}`, fill: "none", class: "axis" },
      chart);
    svg("text", { x: (M.l + W - M.r) / 2, y: H - 8, "text-anchor": "middle" }, chart)
      .textContent = spec.xLabel;
    svg("text", {
      x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle",
      transform: `rotate(-90 14 ${(M.t + H - M.b) / 2})`,
    }, chart).textContent = spec.yLabel;
    if (spec.diagonal) {
      const lo = Math.max(sx.invert(M.l), sy.invert(H - M.b));
      const hi = Math.min(sx.invert(W - M.r), sy.invert(M.t));
      if (hi > lo) {
        svg("line", {
          x1: sx(lo), y1: sy(lo), x2: sx(hi), y2: sy(hi), stroke: "#b8bec8",
          "stroke-dasharray": "1 3",
        }, chart);
      }
    }
    const groups = new Map();
    for (const s of series) {
      if (!groups.has(s.key)) groups.set(s.key, { node: svg("g", {}, chart), color: s.color });
      const group = groups.get(s.key).node;
      const dots = s.kind === "dots";
      if (s.kind !== "none") {
        svg("path", {
          d: pathOf(s, sx, sy), fill: "none", stroke: s.color,
          "stroke-width": dots ? 4 : 1.6, "stroke-linecap": dots ? "round" : "butt",
          "stroke-dasharray": s.dash || "none", "stroke-opacity": dots ? 0.7 : 1,
        }, group);
      }
      if (s.marker && s.points.length <= 400) {
        for (const q of s.points) marker(group, s.marker, sx(q[0]), sy(q[1]), s.color, q[2]);
      }
    }
    const readout = svg("text", { x: W - M.r, y: 16, "text-anchor": "end", class: "readout" },
      chart);
    chart.addEventListener("mousemove", (event) => {
      const ctm = chart.getScreenCTM();
      if (!ctm) return;
      const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(ctm.inverse());
      const inside = p.x >= M.l && p.x <= W - M.r && p.y >= M.t && p.y <= H - M.b;
      readout.textContent = inside ? `x ${fmt(sx.invert(p.x))}  y ${fmt(sy.invert(p.y))}` : "";
    });
    chart.addEventListener("mouseleave", () => { readout.textContent = ""; });
    legend(fig, groups, spec.styles || []);
  }

  function legend(fig, groups, styles) {
    const box = html("div", null, fig, "legend");
    for (const [key, group] of groups) {
      const item = html("span", null, box, "toggle");
      swatch(item, group.color, "", 3);
      html("span", key, item, null);
      item.addEventListener("click", () => {
        const hidden = group.node.getAttribute("visibility") === "hidden";
        group.node.setAttribute("visibility", hidden ? "visible" : "hidden");
        item.setAttribute("class", hidden ? "toggle" : "toggle off");
      });
    }
    for (const style of styles) {
      const item = html("span", null, box, null);
      swatch(item, "#5b6474", style.dash, 1.6, style.marker);
      html("span", style.label, item, null);
    }
  }

  function openLoop(t) {
    return t.schedule ? t.schedule.loop === "open" : t.summary.offered_rate != null;
  }

  function summaryLatency(t, name) {
    const s = t.summary;
    const scheduled = s[`${name}_scheduled_ms`];
    if (opts.schedule && name !== "itl" && scheduled) return scheduled;
    return s[`${name}_ms`];
  }

  // Curves against the rate: one per sweep (its steps' targets at their offered rates),
  // and a point for every target outside a sweep (offered rate, or achieved when closed).
  function rateGroups() {
    const byName = new Map(targets.map((t) => [t.target, t]));
    const used = new Set();
    const groups = [];
    for (const sweep of data.sweeps || []) {
      const points = [];
      for (const step of sweep.steps) {
        const t = byName.get(step.target);
        if (!t) continue;
        used.add(t.target);
        points.push({ x: step.rate, t, step });
      }
      groups.push({ name: `sweep ${sweep.target}`, points, joined: true });
    }
    for (const t of targets) {
      if (used.has(t.target)) continue;
      const x = openLoop(t) && t.summary.offered_rate != null
        ? t.summary.offered_rate : t.summary.requests_per_s;
      groups.push({ name: t.target, points: [{ x, t, step: null }], joined: false });
    }
    return groups;
  }

  function rateLabel(groups) {
    const anyOpen = groups.some((g) => g.joined || g.points.some((p) => openLoop(p.t)));
    return anyOpen ? "offered requests/s" : "achieved requests/s (closed loop)";
  }

  function drawRate() {
    const groups = rateGroups();
    for (const [name, label] of LATENCIES) {
      const series = [];
      groups.forEach((g, i) => {
        for (const [p, dash, mark] of PCTS) {
          const points = [];
          for (const point of g.points) {
            const stats = summaryLatency(point.t, name);
            if (!stats) continue;
            const tip = `${point.t.target}: ${label} ${p} ${fmt(stats[p])} ms at ${fmt(point.x)}/s`;
            points.push([point.x, stats[p], tip]);
          }
          series.push({
            key: g.name, color: color(i), dash: g.joined ? dash : "", marker: mark,
            kind: g.joined ? "line" : "none", points,
          });
        }
      });
      const from = name !== "itl" && opts.schedule ? " (from schedule in an open loop)" : "";
      plot(box(`chart-rate-${name}`), {
        title: `${label} vs rate`, xLabel: rateLabel(groups), yLabel: `${label} ms${from}`,
        series, styles: PCTS.map(([p, dash, mark]) => ({ label: p, dash, marker: mark })),
        xZero: true, yZero: true, yLog: opts.log,
        empty: `no successful request: no ${label} to plot`,
      });
    }
  }

  function drawGoodput() {
    const groups = rateGroups();
    const series = [];
    groups.forEach((g, i) => {
      const through = [], good = [];
      for (const point of g.points) {
        const s = point.t.summary;
        through.push([point.x, s.requests_per_s,
          `${point.t.target}: ${fmt(s.requests_per_s)} req/s at ${fmt(point.x)}/s`]);
        if (s.goodput_requests_per_s != null) {
          good.push([point.x, s.goodput_requests_per_s,
            `${point.t.target}: goodput ${fmt(s.goodput_requests_per_s)} req/s`]);
        }
      }
      const kind = g.joined ? "line" : "none";
      series.push({ key: g.name, color: color(i), kind, marker: "dot", points: through });
      series.push({
        key: g.name, color: color(i), dash: g.joined ? "6 3" : "", kind, marker: "ring",
        points: good,
      });
    });
    const styles = [{ label: "throughput", dash: "", marker: "dot" }];
    if (data.settings && data.settings.slo) {
      styles.push({ label: "goodput", dash: "6 3", marker: "ring" });
    }
    plot(box("chart-goodput"), {
      title: "Throughput and goodput vs rate", xLabel: rateLabel(groups),
      yLabel: "successful requests/s", series, styles, xZero: true, yZero: true,
      diagonal: true, empty: "no target to plot",
    });
  }

  // A target's distribution: exact from its kept requests, else its quantiles.
  function distribution(t, name) {
    const ok = (t.requests || []).filter((r) => r.error == null);
    if (ok.length) {
      let values;
      if (name === "itl") values = ok.flatMap((r) => r.itl_ms);
      else {
        values = ok.filter((r) => r[`${name}_ms`] != null).map((r) => r[`${name}_ms`]
          + (opts.schedule && r.lag_ms != null ? r.lag_ms : 0));
      }
      values.sort((a, b) => a - b);
      return { exact: true, points: values.map((v, i) => [v, (i + 1) / values.length]) };
    }
    const q = t.quantiles || {};
    const scheduled = q[`${name}_scheduled_ms`];
    const values = (opts.schedule && name !== "itl" && scheduled && scheduled.length
      ? scheduled : q[`${name}_ms`]) || [];
    const grid = values.length === GRID.length
      ? GRID : values.map((_, i) => i / Math.max(values.length - 1, 1));
    return { exact: false, points: values.map((v, i) => [v, grid[i]]) };
  }

  function drawEcdf() {
    for (const [name, label] of LATENCIES) {
      const series = targets.map((t, i) => {
        const d = distribution(t, name);
        const key = d.exact || !d.points.length ? t.target : `${t.target} (from quantiles)`;
        return { key, color: color(i), kind: d.exact ? "step" : "line", points: d.points };
      });
      const unit = name === "itl" ? "gaps" : "requests";
      plot(box(`chart-ecdf-${name}`), {
        title: `${label} ECDF`, xLabel: `${label} ms`, yLabel: `fraction of ${unit} at or below`,
        series, xLog: opts.log, xZero: true, yFixed: [0, 1],
        empty: `no successful request: no ${label} to plot`,
      });
    }
  }

  function noRecords(t) {
    const workers = (t.generator && t.generator.workers) || 1;
    if (workers > 1) {
      return `${t.target} kept no per-request records: its ${workers} workers sent back only `
        + "their merged tallies (run with --records to keep every request).";
    }
    if (!t.summary.requests) return `${t.target}: no timed request ended.`;
    return `${t.target} kept no per-request records in this result.`;
  }

  function drawOverTime() {
    const root = box("chart-over-time");
    if (!targets.length) html("p", "no target was measured", root, "empty");
    targets.forEach((t) => {
      const fig = html("div", null, root, "figure");
      const records = t.requests || [];
      if (!records.length) {
        html("h3", t.target, fig);
        html("p", noRecords(t), fig, "empty");
        return;
      }
      const when = (r) => (opts.schedule && r.scheduled_ms != null ? r.scheduled_ms : r.start_ms)
        / 1000;
      const late = (r) => (opts.schedule && r.lag_ms != null ? r.lag_ms : 0);
      const ok = records.filter((r) => r.error == null);
      const failed = records.filter((r) => r.error != null);
      const series = [
        { key: "E2E", color: COLORS[4], kind: "dots",
          points: ok.map((r) => [when(r), r.e2e_ms + late(r)]) },
        { key: "TTFT", color: COLORS[0], kind: "dots",
          points: ok.filter((r) => r.ttft_ms != null).map((r) => [when(r), r.ttft_ms + late(r)]) },
        { key: "failed", color: COLORS[1], kind: "cross",
          points: failed.map((r) => [when(r), r.e2e_ms + late(r)]) },
      ];
      const sent = opts.schedule && records.some((r) => r.scheduled_ms != null)
        ? "scheduled send time" : "send time";
      plot(fig, {
        title: t.target, xLabel: `${sent}, s from the target's start`, yLabel: "ms",
        series, xZero: true, yZero: true, yLog: opts.log, empty: "nothing to plot",
      });
    });
  }

  function box(id) {
    const node = document.getElementById(id);
    node.replaceChildren();
    return node;
  }

  function draw() {
    for (const [id, drawing] of [["chart-rate-ttft", drawRate], ["chart-goodput", drawGoodput],
      ["chart-ecdf-ttft", drawEcdf], ["chart-over-time", drawOverTime]]) {
      try {
        drawing();
      } catch (error) {
        console.error(error);
        html("p", `this chart could not be drawn: ${error}`, box(id), "error");
      }
    }
  }

  for (const [id, key] of [["opt-schedule", "schedule"], ["opt-log", "log"]]) {
    const input = document.getElementById(id);
    if (!input) continue;
    opts[key] = input.checked;
    input.addEventListener("change", () => { opts[key] = input.checked; draw(); });
  }
  draw();
})();
"""
