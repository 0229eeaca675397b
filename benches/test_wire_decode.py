"""Decoding streamed responses: modelwire's full path against its floor and the official SDKs.

Data: one generated, realistic response stream per wire API (``wire_streams``: 20,000 SSE
events of text, reasoning, three tool calls with arguments in pieces, usage and the terminal
events, ~2.5-7 MB) cut into 4 KiB reads. Per-event cost is the run's time over the stream's
SSE event count. Compared in one run, sides interleaved (``_ratio.ratio``, medians):

- floor, per wire API: ``modelwire.wire.decode`` over the reads (SSE framing + the codec's
  typed msgspec decode + the common events) against a bare ``msgspec.json.Decoder`` of the
  same native type over the already-split data payloads (chat: ``ChatChunk``, ``[DONE]``
  left out; messages: the ``MessagesEvent`` union; responses: the ``ResponsesEvent`` union,
  and ``ResponsesOtherEvent`` for the few event types the union leaves out, as the codec
  does). Goal (issue 4): at most 2.0x the floor. Not met in pure Python on this machine
  kind: framing, the typed decode and building the common events each cost about as much as
  the decode itself for the small per-token payloads of messages and responses. What is gated
  is the level reached (``HELD``, with room for noisy shared machines) so it cannot regress;
  each run prints the ratio against the goal too.
- raw mode, per wire API: ``modelwire.wire.decode_raw`` (the provider's own typed events)
  against ``decode`` on the same reads; gate at most 1.2x. Both take the same framer and the
  same typed decode, raw mode only skips the common events, so it should cost less.
- SDKs: the ``openai`` SDK's streaming path (``chat.completions.create(stream=True)``
  iterated) on the chat stream, gate at least 30x faster per event; the ``anthropic``
  SDK's (``messages.create(stream=True)`` iterated) on the messages stream, gate at least 8x.
  Both sides go through HTTP with a mock transport serving the same 4 KiB reads: each SDK on
  its own HTTP library (``httpx2``, which both are built on) with ``httpx2.MockTransport``,
  modelwire on ``httpx`` (what its transport uses) with ``httpx.MockTransport``, reading
  ``iter_raw()`` into ``decode``. The HTTP clients' own cost is ~0.02-0.04 us per event on
  either library, and per-request cost is in both, amortized over the stream. The SDKs take
  ~10-80 us per event, so fast mode gives them a 4,000-event stream from the same generator
  (same mix); the full run uses the 20,000-event one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from modelwire.wire import Completed, ErrorEvent, decode, decode_raw
from wire_streams import READ_SIZE, WireStream, reads, stream_for

from _ratio import FAST, ratio

FLOOR_GOAL = 2.0
HELD = {"chat": 3.2, "messages": 4.3, "responses": 4.4}
"""Regression gates per wire API (issue 12: the hot path stays pure Python + msgspec, so these
hold the level reached instead of the goal). Reached on a loaded 2-core machine, fast and full
mode: chat 2.3-2.8x, messages 3.1-3.5x, responses 2.9-3.7x; the gates are ~1.3x the medians."""
RAW_GATE = 1.2
"""``decode_raw`` against ``decode``, per event, on the same reads (issue 12 point 25)."""
OPENAI_GATE = 30.0
ANTHROPIC_GATE = 8.0

EVENTS = 20_000
SDK_EVENTS = 4_000 if FAST else 20_000

NATIVE_TYPES: dict[str, tuple[str, ...]] = {
    "chat": ("ChatChunk",),
    "messages": ("MessagesEvent",),
    "responses": ("ResponsesEvent", "ResponsesOtherEvent"),
}
"""Per wire API: the codec module's native stream type, then fallbacks for what it rejects."""


@dataclass
class Row:
    events: int = 0
    ours: float | None = None
    floor: float | None = None
    sdk_name: str = ""
    sdk_events: int = 0
    sdk: float | None = None
    ours_http: float | None = None


RESULTS: dict[str, Row] = {}


def _us(seconds: float | None, events: int) -> str:
    return "-" if seconds is None else f"{seconds / events * 1e6:.2f}"


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if not RESULTS:
        return
    mode = "fast" if FAST else "full"
    lines = [
        f"\nwire decode, {mode} mode, {READ_SIZE}-byte reads, us per SSE event. ours: "
        "modelwire.wire.decode; floor: bare msgspec typed decode of the payloads; "
        "sdk / ours+http: both through a mock HTTP transport",
        f"{'api':<10}{'events':>7}{'ours':>7}{'floor':>7}{'x floor':>8}  "
        f"{'sdk':<10}{'events':>7}{'sdk':>8}{'ours+http':>10}{'speedup':>8}",
    ]
    for api, row in RESULTS.items():
        cost = f"{row.ours / row.floor:.2f}" if row.ours and row.floor else "-"
        speedup = f"{row.sdk / row.ours_http:.1f}" if row.sdk and row.ours_http else "-"
        sdk_events = row.sdk_events or 1
        lines.append(
            f"{api:<10}{row.events:>7}{_us(row.ours, row.events):>7}"
            f"{_us(row.floor, row.events):>7}{cost:>8}  {row.sdk_name or '-':<10}"
            f"{row.sdk_events or '-':>7}{_us(row.sdk, sdk_events):>8}"
            f"{_us(row.ours_http, sdk_events):>10}{speedup:>8}"
        )
    print("\n".join(lines))


def _codec_module(wire_api: str) -> Any:
    try:
        module = importlib.import_module(f"modelwire.wire.{wire_api}")
    except ImportError as exc:
        pytest.skip(f"the {wire_api} codec is not importable yet: {exc}")
    if getattr(module, "CODEC", None) is None:
        pytest.skip(f"modelwire.wire.{wire_api} has no CODEC yet")
    return module


def _ours(wire_api: str, chunks: list[bytes]) -> Callable[[], object]:
    def run() -> None:
        for _ in decode(wire_api, chunks):
            pass

    return run


def _check_complete(wire_api: str, chunks: list[bytes]) -> None:
    """Decode once and make sure the whole stream was read: a codec that stopped early on an
    error would look fast for the wrong reason."""
    events = list(decode(wire_api, chunks))
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert not errors, f"{wire_api}: the generated stream failed to decode: {errors[0]}"
    assert isinstance(events[-1], Completed), f"{wire_api}: ended with {events[-1]!r}"


def _floor(wire_api: str, module: Any, stream: WireStream) -> Callable[[], object]:
    """Bare typed decodes of the payloads, each into the first native type that takes it."""
    decoders = [msgspec.json.Decoder(getattr(module, name)) for name in NATIVE_TYPES[wire_api]]
    groups: list[list[bytes]] = [[] for _ in decoders]
    for payload in stream.payloads:
        for decoder, group in zip(decoders, groups, strict=True):
            try:
                decoder.decode(payload)
            except msgspec.ValidationError:
                continue
            except msgspec.DecodeError:
                break  # not JSON: chat's [DONE] sentinel, which no decoder sees
            group.append(payload)
            break
    typed = sum(map(len, groups))
    assert typed >= stream.events - 1, f"{wire_api}: only {typed}/{stream.events} payloads typed"
    pairs = [(d.decode, g) for d, g in zip(decoders, groups, strict=True) if g]

    def run() -> None:
        for native, payloads in pairs:
            for payload in payloads:
                native(payload)

    return run


@pytest.mark.parametrize("wire_api", ["chat", "messages", "responses"])
def test_full_decode_cost_over_the_bare_typed_decode_holds_its_level(
    wire_api: str, benchmark: Any
) -> None:
    module = _codec_module(wire_api)
    stream = stream_for(wire_api, EVENTS)
    chunks = reads(stream.body)
    _check_complete(wire_api, chunks)
    ours, floor = _ours(wire_api, chunks), _floor(wire_api, module, stream)
    number = 1 if FAST else 3
    full, bare, cost = ratio(ours, floor, number=number)
    row = RESULTS.setdefault(wire_api, Row())
    row.events, row.ours, row.floor = stream.events, full, bare
    print(
        f"\n{wire_api}: decode {full / stream.events * 1e6:.2f} us/event, bare typed decode "
        f"{bare / stream.events * 1e6:.2f} us/event (x{cost:.2f}; gate {HELD[wire_api]}, "
        f"goal {FLOOR_GOAL}{'' if cost <= FLOOR_GOAL else ' not met'}); "
        f"{stream.events:,} events, {len(stream.body):,} bytes, {len(chunks)} reads"
    )
    benchmark.pedantic(ours, rounds=3 if FAST else 10)
    assert cost <= HELD[wire_api]


@pytest.mark.parametrize("wire_api", ["chat", "messages", "responses"])
def test_raw_mode_costs_at_most_a_fifth_more_than_the_common_events(wire_api: str) -> None:
    _codec_module(wire_api)
    stream = stream_for(wire_api, EVENTS)
    chunks = reads(stream.body)
    _check_complete(wire_api, chunks)
    typed = sum(1 for _ in decode_raw(wire_api, chunks))
    assert typed >= stream.events - stream.events // 10, f"{wire_api}: raw mode stopped early"

    def raw() -> None:
        for _ in decode_raw(wire_api, chunks):
            pass

    mine, common, cost = ratio(raw, _ours(wire_api, chunks), number=2 if FAST else 3)
    print(
        f"\n{wire_api}: decode_raw {mine / stream.events * 1e6:.2f} us/event, decode "
        f"{common / stream.events * 1e6:.2f} us/event (x{cost:.2f}; gate {RAW_GATE}); "
        f"{stream.events:,} events, {typed:,} typed"
    )
    assert cost <= RAW_GATE


# --- against the SDKs -------------------------------------------------------------------------


def _serve(chunks: list[bytes]) -> httpx.Client:
    """An ``httpx`` client whose every response streams ``chunks``, one read each."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, content=iter(chunks))

    return httpx.Client(transport=httpx.MockTransport(handler))


def _sdk_http(chunks: list[bytes]) -> Any:
    """The same on ``httpx2``, the HTTP library both SDKs are built on."""
    httpx2 = pytest.importorskip("httpx2", reason="the SDKs here are built on httpx2")

    def handler(request: Any) -> Any:
        headers = {"content-type": "text/event-stream"}
        return httpx2.Response(200, headers=headers, content=iter(chunks))

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def _ours_over_http(wire_api: str, client: httpx.Client, path: str) -> Callable[[], object]:
    def run() -> None:
        with client.stream("POST", "http://127.0.0.1" + path, content=b"{}") as response:
            for _ in decode(wire_api, response.iter_raw()):
                pass

    return run


def _compare_with_sdk(
    wire_api: str,
    sdk_name: str,
    sdk_run: Callable[[], int],
    ours_client: httpx.Client,
    path: str,
    expected_items: int,
    stream: WireStream,
) -> float:
    assert sdk_run() == expected_items, f"the {sdk_name} SDK did not read the whole stream"
    ours = _ours_over_http(wire_api, ours_client, path)
    reference, mine, speedup = ratio(sdk_run, ours, number=1, repeats=5 if FAST else 7)
    row = RESULTS.setdefault(wire_api, Row())
    row.sdk_name, row.sdk_events, row.sdk, row.ours_http = sdk_name, stream.events, reference, mine
    print(
        f"\n{wire_api}: {sdk_name} SDK {reference / stream.events * 1e6:.2f} us/event vs "
        f"modelwire {mine / stream.events * 1e6:.2f} us/event, both over a mock HTTP "
        f"transport (x{speedup:.1f} faster); {stream.events:,} events"
    )
    return speedup


def test_chat_decode_is_thirty_times_faster_than_the_openai_sdk() -> None:
    _codec_module("chat")
    openai = pytest.importorskip("openai")
    stream = stream_for("chat", SDK_EVENTS)
    chunks = reads(stream.body)
    _check_complete("chat", chunks)
    http = _sdk_http(chunks)
    ours_client = _serve(chunks)
    client = openai.OpenAI(
        api_key="x", base_url="http://127.0.0.1/v1", max_retries=0, http_client=http
    )

    def sdk_run() -> int:
        count = 0
        for _ in client.chat.completions.create(
            model="bench-model", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            count += 1
        return count

    try:
        speedup = _compare_with_sdk(
            "chat",
            "openai",
            sdk_run,
            ours_client,
            "/v1/chat/completions",
            stream.events - 1,
            stream,
        )
    finally:
        client.close()
        ours_client.close()
    assert speedup >= OPENAI_GATE


def test_messages_decode_is_eight_times_faster_than_the_anthropic_sdk() -> None:
    _codec_module("messages")
    anthropic = pytest.importorskip("anthropic")
    stream = stream_for("messages", SDK_EVENTS)
    chunks = reads(stream.body)
    _check_complete("messages", chunks)
    http = _sdk_http(chunks)
    ours_client = _serve(chunks)
    client = anthropic.Anthropic(
        api_key="x", base_url="http://127.0.0.1", max_retries=0, http_client=http
    )
    pings = sum(p == b'{"type":"ping"}' for p in stream.payloads)

    def sdk_run() -> int:
        count = 0
        for _ in client.messages.create(
            model="bench-model",
            max_tokens=1024,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        ):
            count += 1
        return count

    try:
        speedup = _compare_with_sdk(
            "messages",
            "anthropic",
            sdk_run,
            ours_client,
            "/v1/messages",
            stream.events - pings,
            stream,
        )
    finally:
        client.close()
        ours_client.close()
    assert speedup >= ANTHROPIC_GATE
