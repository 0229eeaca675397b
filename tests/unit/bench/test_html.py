"""The HTML page of a result: one file that loads nothing, carries the result file byte for
byte, keeps every text from the result inert, and draws its charts from that embedded data
(run under node against a small DOM stand-in, so a broken script fails here)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, WireApi
from modelwire.bench import BenchError, Settings, Target, load_result, run_bench
from modelwire.bench._html import DATA_ID, render_html, write_html
from modelwire.bench._measure import summarize
from modelwire.bench._schema import (
    BenchResult,
    Generator,
    RequestRecord,
    Schedule,
    TargetResult,
    environment,
)
from modelwire.bench._slo import parse_slo
from modelwire.bench._stats import quantiles_of
from modelwire.bench._sweep import run_sweeps
from modelwire.mock import MockBehavior, MockProvider

DATA = Path(__file__).parent / "data"
SECTIONS = (
    "overview",
    "settings",
    "environment",
    "latency-vs-rate",
    "goodput-vs-rate",
    "ecdf",
    "latency-over-time",
    "targets",
    "targets-table",
)
CHARTS = (
    "chart-rate-ttft",
    "chart-rate-itl",
    "chart-rate-e2e",
    "chart-goodput",
    "chart-ecdf-ttft",
    "chart-ecdf-itl",
    "chart-ecdf-e2e",
    "chart-over-time",
)
HOSTILE = '</script><img src=x onerror="alert(1)"><!--<script>'


class Page(HTMLParser):
    """What the page holds, as a browser's parser splits it: tags, ids, script texts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._texts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script, self._texts = dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._texts)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._texts.append(data)

    @property
    def ids(self) -> list[str]:
        return [attrs["id"] or "" for _, attrs in self.tags if "id" in attrs]

    def embedded(self) -> str:
        (text,) = [text for attrs, text in self.scripts if attrs.get("id") == DATA_ID]
        return text

    def program(self) -> str:
        (text,) = [text for attrs, text in self.scripts if "type" not in attrs]
        return text


def record(
    index: int,
    *,
    ttft: float = 40.0,
    e2e: float = 90.0,
    scheduled: float | None = None,
    lag: float | None = None,
    error: str | None = None,
    message: str | None = None,
) -> RequestRecord:
    failed = error is not None
    return RequestRecord(
        index=index,
        start_ms=(scheduled or index * 50.0) + (lag or 0.0),
        ttfb_ms=None if failed else ttft - 1,
        ttft_ms=None if failed else ttft,
        itl_ms=[] if failed else [10.0, 12.0, 11.0],
        e2e_ms=e2e,
        output_tokens=0 if failed else 4,
        tokens_from="usage",
        attempts=1,
        error=error,
        error_message=message,
        transport=None if failed else "http",
        scheduled_ms=scheduled,
        lag_ms=lag,
    )


def target_of(
    name: str,
    records: list[RequestRecord],
    *,
    settings: Settings,
    offered: float | None = None,
    keep: bool = True,
    workers: int = 1,
) -> TargetResult:
    """A target summarised by the engine's own ``summarize``, with its quantiles."""
    ok = [r for r in records if r.error is None]
    values = {
        "ttft_ms": [r.ttft_ms for r in ok if r.ttft_ms is not None],
        "itl_ms": [gap for r in ok for gap in r.itl_ms],
        "e2e_ms": [r.e2e_ms for r in ok],
    }
    return TargetResult(
        target=name,
        provider="loop",
        model="mock-model",
        summary=summarize(records, 1.0, cpu_s=0.1, offered=offered, slo=settings.slo),
        requests=records if keep else [],
        generator=Generator(workers=workers, backend="processes" if workers > 1 else "process"),
        schedule=Schedule(loop="open" if offered else "closed", offered_rate=offered),
        quantiles={key: quantiles_of(sorted(v)) for key, v in values.items() if v},
    )


def result_of(targets: list[TargetResult], settings: Settings, **fields: Any) -> BenchResult:
    return BenchResult(environment=environment(), settings=settings, targets=targets, **fields)


def closed_result() -> BenchResult:
    settings = Settings(requests=4, slo=parse_slo("ttft=50ms"))
    records = [record(i, ttft=30.0 + i * 10) for i in range(4)]
    return result_of([target_of("loop:mock-model", records, settings=settings)], settings)


def hostile_result() -> BenchResult:
    settings = Settings(requests=2, prompt=f"say {HOSTILE} & stop")
    records = [record(0), record(1, error=HOSTILE, message=f"<b>{HOSTILE}</b>")]
    return result_of([target_of(HOSTILE, records, settings=settings)], settings)


def failed_result() -> BenchResult:
    settings = Settings(requests=3, rate=5.0, slo=parse_slo("e2e=1s"))
    records = [
        record(i, scheduled=i * 200.0, lag=0.5, error="ProviderError", message="HTTP 503")
        for i in range(3)
    ]
    target = target_of("down:model", records, settings=settings, offered=5.0)
    return result_of([target], settings, interrupted=True)


def fixture(name: str) -> BenchResult:
    return load_result((DATA / name).read_bytes())


def sweep_file() -> BenchResult:
    return fixture("result_v1_sweep.json")


def workers_file() -> BenchResult:
    return fixture("result_v1_workers.json")


RESULTS: dict[str, Callable[[], BenchResult]] = {
    "closed": closed_result,
    "hostile": hostile_result,
    "failed": failed_result,
    "v1-sweep": sweep_file,
    "v1-workers": workers_file,
}


@pytest.fixture(params=sorted(RESULTS))
def result(request: pytest.FixtureRequest) -> BenchResult:
    return RESULTS[request.param]()


def test_the_page_embeds_the_result_file_byte_for_byte_and_it_loads_back(
    result: BenchResult,
) -> None:
    embedded = Page(render_html(result)).embedded()
    encoded = msgspec.json.encode(result)
    assert json.loads(embedded) == json.loads(encoded)
    assert load_result(embedded) == result
    assert embedded.replace("<\\/", "</").replace("\\u003c!--", "<!--") == encoded.decode()


def test_the_page_has_every_section_and_chart(result: BenchResult) -> None:
    ids = Page(render_html(result)).ids
    assert set(SECTIONS) | set(CHARTS) | {DATA_ID} <= set(ids)
    assert len(ids) == len(set(ids))


def test_the_page_loads_nothing_from_outside_and_runs_only_its_own_script(
    result: BenchResult,
) -> None:
    text = render_html(result)
    page = Page(text)
    assert "link" not in {tag for tag, _ in page.tags}
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data", "xlink:href"):
            assert name not in attrs, (tag, attrs)
    style = text.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "url(" not in style
    assert "@import" not in style
    program = page.program()
    for call in ("fetch(", "XMLHttpRequest", "import(", "WebSocket", "EventSource"):
        assert call not in program
    # Outside the embedded data, the only URL is the SVG namespace (a name, never fetched).
    rest = text.replace(page.embedded(), "").replace('"http://www.w3.org/2000/svg"', "")
    assert not re.search(r"https?://", rest)
    (policy,) = [
        attrs["content"] or ""
        for tag, attrs in page.tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    digest = base64.b64encode(hashlib.sha256(program.encode()).digest()).decode()
    assert "default-src 'none'" in policy
    assert f"script-src 'sha256-{digest}'" in policy


def test_a_hostile_target_name_prompt_and_error_stay_text() -> None:
    result = hostile_result()
    text = render_html(result)
    page = Page(text)
    assert "img" not in {tag for tag, _ in page.tags}
    assert [attrs.get("type") for attrs, _ in page.scripts] == ["application/json", None]
    assert '<img src=x onerror="alert(1)">' not in text
    embedded = page.embedded()
    assert "</" not in embedded
    assert "<!--" not in embedded
    decoded = json.loads(embedded)
    assert decoded["targets"][0]["target"] == HOSTILE
    assert HOSTILE in decoded["settings"]["prompt"]
    assert "&lt;/script&gt;&lt;img src=x onerror" in text


def test_a_result_with_no_successful_request_still_renders_with_its_interrupted_mark() -> None:
    text = render_html(failed_result())
    page = Page(text)
    assert "interrupted" in page.ids
    assert "INTERRUPTED" in text
    assert "HTTP 503" in text
    table = text.split('id="targets-table"', 1)[1].split("</table>", 1)[0]
    assert "<td>down:model</td>" in table
    assert "missed" not in table
    assert "ProviderError 3" in table


def test_the_table_has_a_row_per_target_with_the_generator_and_the_slo() -> None:
    text = render_html(fixture("result_v1_sweep.json"))
    table = text.split('id="targets-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 2
    assert "modelwire-mock:mock-model@5/s" in table
    assert "TTFT from schedule ms" in table
    assert "missed, 0 / 6" in table
    assert "1 process" in table
    workers = render_html(fixture("result_v1_workers.json"))
    assert "2 processes" in workers.split('id="targets-table"', 1)[1]


def test_write_html_writes_the_page_and_a_bad_path_is_a_bench_error(tmp_path: Path) -> None:
    result = closed_result()
    path = tmp_path / "bench.html"
    write_html(result, path)
    assert path.read_text(encoding="utf-8") == render_html(result)
    with pytest.raises(BenchError, match="cannot write"):
        write_html(result, tmp_path / "missing" / "bench.html")


NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

DOM = r"""
"use strict";
const fs = require("fs");
const page = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const errors = [];
console.error = (...args) => errors.push(args.map(String).join(" "));
class Node {
  constructor(tag, ns) {
    Object.assign(this, { tag, ns, attrs: {}, children: [], listeners: {}, text: "" });
  }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join(""); }
  set textContent(value) { this.children = []; this.text = String(value); }
  appendChild(child) { this.children.push(child); return child; }
  replaceChildren() { this.children = []; this.text = ""; }
  setAttribute(name, value) {
    if (typeof value !== "string") throw new TypeError(`${name} is not a string`);
    this.attrs[name] = value;
  }
  getAttribute(name) { return name in this.attrs ? this.attrs[name] : null; }
  addEventListener(type, listener) { (this.listeners[type] ||= []).push(listener); }
  fire(type, event) { for (const listener of this.listeners[type] || []) listener(event || {}); }
  getScreenCTM() { return { inverse() { return this; } }; }
  *walk() { yield this; for (const child of this.children) yield* child.walk(); }
}
globalThis.DOMPoint = class {
  constructor(x, y) { this.x = x; this.y = y; }
  matrixTransform() { return this; }
};
const byId = new Map(page.ids.map((id) => [id, new Node("div", null)]));
byId.get("modelwire-bench-data").text = page.data;
for (const [id, checked] of Object.entries(page.inputs)) byId.get(id).checked = checked;
globalThis.document = {
  getElementById: (id) => byId.get(id) || null,
  createElement: (tag) => new Node(tag, null),
  createElementNS: (ns, tag) => new Node(tag, ns),
};
function report() {
  const out = {};
  for (const id of page.charts) {
    const nodes = [...byId.get(id).walk()];
    const count = (tag) => nodes.filter((n) => n.tag === tag).length;
    out[id] = {
      plots: nodes.filter((n) => n.attrs.class === "plot").length,
      paths: count("path"),
      marks: count("circle") + count("rect"),
      bad: nodes.filter((n) => /NaN|Infinity|undefined/.test(Object.values(n.attrs).join(" ")))
        .length,
      text: byId.get(id).textContent,
    };
  }
  return out;
}
eval(page.script);
const first = report();
for (const node of byId.values()) {
  for (const n of node.walk()) {
    n.fire("mousemove", { clientX: 120, clientY: 100 });
    n.fire("click");
  }
}
for (const id of Object.keys(page.inputs)) {
  const input = byId.get(id);
  input.checked = !input.checked;
  input.fire("change");
}
process.stdout.write(JSON.stringify({ first, toggled: report(), errors }));
"""


def run_page(text: str, tmp_path: Path) -> dict[str, Any]:
    """The page's script run under node against a DOM stand-in made from the page's ids."""
    assert NODE is not None
    page = Page(text)
    inputs = {
        attrs["id"] or "": "checked" in attrs
        for tag, attrs in page.tags
        if tag == "input" and "id" in attrs
    }
    spec = {
        "ids": page.ids,
        "data": page.embedded(),
        "script": page.program(),
        "charts": CHARTS,
        "inputs": inputs,
    }
    (tmp_path / "page.json").write_text(json.dumps(spec))
    (tmp_path / "dom.js").write_text(DOM)
    done = subprocess.run(
        [NODE, str(tmp_path / "dom.js"), str(tmp_path / "page.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    drawn: dict[str, Any] = json.loads(done.stdout)
    assert drawn["errors"] == []
    return drawn


@needs_node
def test_the_inline_script_is_valid_javascript(tmp_path: Path) -> None:
    assert NODE is not None
    script = tmp_path / "page.js"
    script.write_text(Page(render_html(closed_result())).program())
    done = subprocess.run(
        [NODE, "--check", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


@needs_node
def test_the_script_draws_every_chart_from_the_embedded_data(
    result: BenchResult, tmp_path: Path
) -> None:
    drawn = run_page(render_html(result), tmp_path)
    for view in (drawn["first"], drawn["toggled"]):
        for chart in CHARTS:
            assert view[chart]["bad"] == 0, (chart, view[chart])
            assert "could not be drawn" not in view[chart]["text"]
        # With every option flipped (log scales, latency from the send time) too.
        assert view["chart-goodput"]["plots"] == 1


@needs_node
def test_an_open_loop_sweep_draws_a_curve_per_sweep_and_an_ecdf_per_step(tmp_path: Path) -> None:
    drawn = run_page(render_html(fixture("result_v1_sweep.json")), tmp_path)["first"]
    for chart in ("chart-rate-ttft", "chart-rate-e2e", "chart-ecdf-ttft", "chart-ecdf-e2e"):
        assert drawn[chart]["plots"] == 1
    assert "sweep modelwire-mock:mock-model" in drawn["chart-rate-ttft"]["text"]
    # Three percentiles at each of two steps: one marker each.
    assert drawn["chart-rate-ttft"]["marks"] >= 6
    assert "modelwire-mock:mock-model@10/s" in drawn["chart-ecdf-ttft"]["text"]
    assert drawn["chart-over-time"]["plots"] == 2


@needs_node
def test_workers_without_records_draw_ecdfs_from_quantiles_and_say_they_kept_no_records(
    tmp_path: Path,
) -> None:
    settings = Settings(requests=20, rate=20.0)
    records = [record(i, ttft=30.0 + i, scheduled=i * 50.0, lag=0.2) for i in range(20)]
    target = target_of("w", records, settings=settings, offered=20.0, keep=False, workers=2)
    drawn = run_page(render_html(result_of([target], settings)), tmp_path)["first"]
    assert drawn["chart-ecdf-e2e"]["plots"] == 1
    assert "(from quantiles)" in drawn["chart-ecdf-e2e"]["text"]
    over_time = drawn["chart-over-time"]
    assert over_time["plots"] == 0
    assert "kept no per-request records" in over_time["text"]
    assert "--records" in over_time["text"]


@needs_node
def test_a_result_with_no_successful_request_says_there_is_nothing_to_plot(
    tmp_path: Path,
) -> None:
    drawn = run_page(render_html(failed_result()), tmp_path)["first"]
    assert drawn["chart-rate-ttft"]["plots"] == 0
    assert "no successful request" in drawn["chart-rate-ttft"]["text"]
    assert "no successful request" in drawn["chart-ecdf-itl"]["text"]
    # The failures themselves still show over time, as crosses at their E2E.
    assert drawn["chart-over-time"]["plots"] == 1


def make_client(mock: MockProvider) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    return Client(registry, env={})


async def test_a_real_closed_loop_run_and_a_real_sweep_render_and_round_trip(
    anyio_backend: str, tmp_path: Path
) -> None:
    behavior = MockBehavior(ttft_ms=5, output_tokens=3)
    loop = Target("loop", "mock-model")
    async with MockProvider(behavior=behavior) as mock, make_client(mock) as client:
        closed = await run_bench(client, [loop], Settings(requests=4, concurrency=2, warmup=0))
        swept = await run_sweeps(
            client,
            [loop],
            Settings(requests=4, warmup=0, arrival="constant", slo=parse_slo("e2e=2s")),
            rates=[20.0, 40.0],
        )
    for result in (closed, swept):
        path = tmp_path / "bench.html"
        write_html(result, path)
        embedded = Page(path.read_text(encoding="utf-8")).embedded()
        assert load_result(embedded) == result
    assert [step.target for step in swept.sweeps[0].steps] == [
        "loop:mock-model@20/s",
        "loop:mock-model@40/s",
    ]
    if NODE is not None:
        drawn = run_page(render_html(swept), tmp_path)["first"]
        assert drawn["chart-rate-e2e"]["plots"] == 1
        assert drawn["chart-over-time"]["plots"] == 2
