"""A Responses conversation over one WebSocket against the same conversation over HTTP + SSE:
client CPU per turn, bytes the client sends, and the socket path's cost per decoded event.

Workload (issue 14): a 10-turn conversation whose context grows: each turn adds a ~2 KB user
message and streams a 200-piece reply (``x-mock-output-tokens: 200``: 203 events). The text is
seeded random words of a Zipf-weighted made-up vocabulary, so it compresses about as prose
does (deflate to ~0.45), not like a repeated string, which permessage-deflate would shrink to
nothing. Server: ``modelwire mock`` in a child process (``modelwire.bench._target.MockProcess``);
its ``…/responses`` speaks both transports. The gated run has it decline permessage-deflate
(``--no-socket-deflate``), so both transports travel uncompressed, as the mock's SSE does; a
second, shorter run has it accept the client's offer (frames compressed both ways): its bytes
are gated too, its CPU only reported (see that test's docstring).

Sides, both ``client.conversation("loop", model="mock-model", transport=...)`` on one warm
``Client`` and a ``responses`` provider with ``supports_websockets``:

- websocket: ``transport="websocket"``: one socket for the conversation; turn 1 sends the
  whole input, turns 2-10 only the new message and ``previous_response_id``.
- http: ``transport="http"``: every turn POSTs the whole context and reads SSE.

Method. After an untimed conversation per side (which also checks the workload: every turn
over its side's transport, one attempt, 200 text pieces, one socket per conversation),
``ROUNDS`` rounds; each runs one whole conversation per side, a new ``Conversation`` each,
the order alternating from round to round so drift hits both. A conversation is timed from
its first turn to its socket's close (``async with``), with the collector paused and a
young-generation ``gc.collect(0)`` at its end (each side pays for its own garbage); a full
collection runs untimed before each round. Client CPU is ``resource.getrusage(RUSAGE_SELF)``
user + system; the mock's CPU is in the other process. Bytes sent: for the socket,
``client.sockets.sent()`` before and after (every byte the sockets wrote: handshake, frame
headers, masks, the close frame); for HTTP, a ``CallObserver`` summing each attempt's
request line, header block and body as HTTP/1.1 puts them on the connection, before TCP (the
pool adds nothing to them).
Time to first event: from ``conv.stream(...)`` to its first event.

The decode microbench has no network: the 200-piece Responses reply the mock renders
(``render_stream`` of ``reply_events``), decoded as SSE (``StreamDecoding("responses").feed``
over the body in 64 KiB reads) and as the socket path decodes it: ``WebSocket.receive`` (the
frame reader of ``modelwire._ws_frames``) on a handshaken connection reading the server's frames of
the same events from an in-memory stream in 64 KiB reads, the socket's framer, the same codec.
Both decode the same events (checked), so their ratio per reply is their ratio per event.
Frames without compression are gated (the framing's own cost); with permessage-deflate the
figure is reported, not gated: inflating is work the SSE body, not
compressed here, never needs. The SSE side is the SSE framer alone: the HTTP path's own
framing below it (h11 reading one chunk per event from the mock) is not in it, so this gate
asks more of the socket path than parity with HTTP would.

Gates, in the one run:

- client CPU per turn, websocket / http: at most ``CPU_GATE`` (0.8); the median over rounds of
  the two sides' ratio within a round.
- bytes the client sent over the conversation, websocket / http: at most ``BYTES_GATE`` (0.3).
- decode cost per event, socket path / SSE path: at most ``DECODE_GATE`` (1.2), the median
  over interleaved repeats of the two sides' ratio within a repeat.

Reported, not gated: each side's client CPU per turn (µs) and time to first event per turn
(median over every turn of every round; turn 1 includes the socket's handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import io
import pstats
import random
import resource
import statistics
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio.abc
import httpx
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, TextMessage
from wsproto.events import Request as Upgrade
from wsproto.extensions import Extension, PerMessageDeflate

from modelwire import ProviderInfo, ProviderRegistry, TextDelta, WireApi
from modelwire._websocket import Handshake, WebSocket
from modelwire._ws_transport import _MessageFramer
from modelwire.bench._target import MockProcess
from modelwire.client import Client
from modelwire.mock._render import render_stream
from modelwire.mock._script import ReplyOptions, reply_events
from modelwire.transport import Call, CallObserver, SocketEvent
from modelwire.wire import DEFAULT_MAX_EVENT_BYTES, Event, StreamDecoding

from _loopback import ENV, KEY_VARIABLE, PROVIDER
from _ratio import FAST

TURNS = 10
INPUT_BYTES = 2048
OUTPUT_TOKENS = 200
ROUNDS = 25 if FAST else 41
DEFLATED_ROUNDS = 5 if FAST else 11
"""Rounds against the mock accepting permessage-deflate: reported, and its bytes gated."""
DECODE_REPLIES = 10 if FAST else 40
"""Replies decoded per timed block of the microbench."""
DECODE_REPEATS = 9 if FAST else 25
READ = 64 * 1024

CPU_GATE = 0.8
BYTES_GATE = 0.3
DECODE_GATE = 1.2

WEBSOCKET = "websocket"
HTTP = "http"
SIDES = (WEBSOCKET, HTTP)
HEADERS = {"x-mock-output-tokens": str(OUTPUT_TOKENS)}


def _inputs() -> list[str]:
    """One ~2 KB user message per turn: seeded words of a made-up Zipf-weighted vocabulary,
    which deflate shrinks about as much as prose."""
    vocabulary_rng = random.Random(14)
    vocabulary = [
        "".join(vocabulary_rng.choices(string.ascii_lowercase, k=vocabulary_rng.randint(2, 10)))
        for _ in range(2000)
    ]
    weights = [1 / rank for rank in range(1, len(vocabulary) + 1)]
    messages = []
    for turn in range(TURNS):
        rng = random.Random(turn)
        words = rng.choices(vocabulary, weights, k=INPUT_BYTES // 3)
        messages.append(" ".join(words)[:INPUT_BYTES])
    return messages


INPUTS = _inputs()


class _Wire(CallObserver):
    """What the client wrote over HTTP (request line, headers, body), and its socket events."""

    def __init__(self) -> None:
        self.http_sent = 0
        self.sockets: list[str] = []

    def attempt(self, call: Call, number: int, request: httpx.Request) -> None:
        head = [f"{request.method} {request.url.raw_path.decode('ascii')} HTTP/1.1\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in request.headers.raw]
        self.http_sent += sum(map(len, head)) + len(b"\r\n") + len(request.content)

    def socket(self, call: Call, event: SocketEvent) -> None:
        self.sockets.append(event.outcome)


@dataclass
class Run:
    """One conversation of one side."""

    cpu_s: float
    sent: int
    first_event_s: list[float]

    @property
    def cpu_us_per_turn(self) -> float:
        return self.cpu_s / TURNS * 1e6


@dataclass
class Results:
    runs: dict[str, list[Run]] = field(default_factory=lambda: {side: [] for side in SIDES})

    def cpu_ratio(self) -> float:
        """Median over rounds of websocket's CPU over http's in the same round."""
        pairs = zip(self.runs[WEBSOCKET], self.runs[HTTP], strict=True)
        return statistics.median(ws.cpu_s / http.cpu_s for ws, http in pairs)

    def cpu_us(self, side: str) -> float:
        return statistics.median(run.cpu_us_per_turn for run in self.runs[side])

    def sent(self, side: str) -> float:
        return statistics.median(run.sent for run in self.runs[side])

    def first_event_ms(self, side: str, turns: slice = slice(None)) -> float:
        return statistics.median(
            seconds * 1e3 for run in self.runs[side] for seconds in run.first_event_s[turns]
        )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _registry(base_url: str) -> ProviderRegistry:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    info = ProviderInfo(
        name="Loopback",
        base_url=base_url,
        wire_api=WireApi.RESPONSES,
        env_key=KEY_VARIABLE,
        http_headers=HEADERS,
        supports_websockets=True,
    )
    registry.register(PROVIDER, info)
    return registry


async def _conversation(client: Client, wire: _Wire, side: str, *, check: bool = False) -> Run:
    """One whole conversation, timed from its first turn to its socket's close."""
    first_event: list[float] = []
    seen_sockets = len(wire.sockets)
    with _collector_paused():
        cpu, sent = _cpu(), client.sockets.sent() + wire.http_sent
        async with client.conversation(PROVIDER, model="mock-model", transport=side) as conv:
            for index, text in enumerate(INPUTS):
                chained = conv.previous_response_id is not None
                started = time.perf_counter()
                first: float | None = None
                pieces = 0
                async with conv.stream(text) as turn:
                    async for event in turn:
                        if first is None:
                            first = time.perf_counter() - started
                        pieces += type(event) is TextDelta
                assert first is not None, f"{side}: turn {index} yielded no event"
                first_event.append(first)
                if check:
                    _check_turn(turn.call, side, pieces, ok=turn.response.ok)
                    assert chained == (side == WEBSOCKET and index > 0), f"{side}: turn {index}"
        gc.collect(0)
        run = Run(_cpu() - cpu, client.sockets.sent() + wire.http_sent - sent, first_event)
    if check:
        sockets = wire.sockets[seen_sockets:]
        expected = ["opened", *["reused"] * (TURNS - 1)] if side == WEBSOCKET else []
        assert sockets == expected, f"{side}: socket events {sockets}"
    return run


def _check_turn(call: Call, side: str, pieces: int, *, ok: bool) -> None:
    """A turn went over its side's transport in one attempt, with no socket replaced, and read
    the whole reply."""
    assert ok, f"{side}: a turn's reply failed ({call.error_code})"
    assert pieces == OUTPUT_TOKENS, f"{side}: {pieces} text pieces, expected {OUTPUT_TOKENS}"
    assert call.transport == side, f"{side}: a turn went over {call.transport} ({call.fallback})"
    assert (call.attempts, call.reconnects) == (1, 0), f"{side}: {call.attempts} attempts"


async def _measure(mock_url: str, results: Results, rounds: int = ROUNDS) -> None:
    wire = _Wire()
    client = Client(_registry(mock_url + "/v1"), env=ENV, observer=wire)
    try:
        for side in SIDES:
            await _conversation(client, wire, side, check=True)
        assert not client.sockets.fallbacks, client.sockets.fallbacks
        for round_ in range(rounds):
            gc.collect()
            for side in SIDES if round_ % 2 == 0 else SIDES[::-1]:
                results.runs[side].append(await _conversation(client, wire, side))
        assert not client.sockets.fallbacks, client.sockets.fallbacks
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def results() -> Iterator[Results]:
    """Both transports as the mock serves them uncompressed (its SSE is not compressed
    either): what each transport itself costs the client."""
    results = Results()
    with MockProcess(["--no-socket-deflate"]) as mock:
        asyncio.run(_measure(mock.base_url, results))
    yield results
    _report(results, "frames uncompressed", ROUNDS)


@pytest.fixture(scope="module")
def deflated() -> Iterator[Results]:
    """The mock accepting the client's permessage-deflate offer: frames compressed both ways."""
    results = Results()
    with MockProcess() as mock:
        asyncio.run(_measure(mock.base_url, results, DEFLATED_ROUNDS))
    yield results
    _report(results, "permessage-deflate accepted", DEFLATED_ROUNDS)


def _report(results: Results, what: str, rounds: int) -> None:
    if not results.runs[HTTP]:
        return
    mode = "fast" if FAST else "full"
    lines = [
        f"\nwebsocket ({what}), {mode} mode: {TURNS}-turn conversations (+{INPUT_BYTES} B "
        f"input, {OUTPUT_TOKENS} text pieces a turn) against `modelwire mock` in a child "
        f"process; per side, the median of {rounds} rounds",
        f"{'side':<11}{'cpu us/turn':>12}{'sent B/conv':>13}{'1st event ms':>14}"
        f"{'turn 1':>8}{'turns 2+':>10}",
    ]
    for side in SIDES:
        lines.append(
            f"{side:<11}{results.cpu_us(side):>12.0f}{results.sent(side):>13.0f}"
            f"{results.first_event_ms(side):>14.2f}{results.first_event_ms(side, slice(1)):>8.2f}"
            f"{results.first_event_ms(side, slice(1, None)):>10.2f}"
        )
    cpu_gate = f"gate {CPU_GATE}" if rounds == ROUNDS else "not gated"
    lines.append(
        f"websocket/http: cpu x{results.cpu_ratio():.2f} ({cpu_gate}), "
        f"bytes x{results.sent(WEBSOCKET) / results.sent(HTTP):.3f} (gate {BYTES_GATE})"
    )
    print("\n".join(lines))


def test_a_socket_conversation_costs_less_client_cpu_per_turn_than_http(
    results: Results,
) -> None:
    ratio = results.cpu_ratio()
    print(
        f"\ncpu per turn: websocket {results.cpu_us(WEBSOCKET):.0f} us, "
        f"http {results.cpu_us(HTTP):.0f} us: x{ratio:.2f} (gate {CPU_GATE})"
    )
    assert ratio <= CPU_GATE


@pytest.mark.parametrize("compressed", [False, True], ids=["uncompressed", "deflated"])
def test_a_socket_conversation_sends_a_fraction_of_the_bytes_http_sends(
    compressed: bool, request: pytest.FixtureRequest
) -> None:
    runs: Results = request.getfixturevalue("deflated" if compressed else "results")
    ratio = runs.sent(WEBSOCKET) / runs.sent(HTTP)
    print(
        f"\nsent per conversation: websocket {runs.sent(WEBSOCKET):.0f} B, "
        f"http {runs.sent(HTTP):.0f} B: x{ratio:.3f} (gate {BYTES_GATE})"
    )
    assert ratio <= BYTES_GATE


def test_with_the_servers_deflate_the_client_cpu_per_turn_is_reported(
    deflated: Results,
) -> None:
    """Not gated: the mock's wsproto compresses every frame in Python (~15 us a frame), so
    frames come out slower and the client, reading them as they arrive, wakes about twice as
    often a turn (~40 reads against ~20, counted at the frame reader); those wake-ups, more
    than the client's own inflating (~1 us a frame), are what this adds."""
    print(
        f"\ncpu per turn with deflate: websocket {deflated.cpu_us(WEBSOCKET):.0f} us, "
        f"http {deflated.cpu_us(HTTP):.0f} us: x{deflated.cpu_ratio():.2f} (not gated)"
    )


# --- the decode microbench ---------------------------------------------------------------------


def _reply() -> list[bytes]:
    """The mock's 200-piece Responses reply, one SSE block per event."""
    body = {"model": "mock-model", "input": [{"role": "user", "content": INPUTS[0]}]}
    events = reply_events("responses", body, options=ReplyOptions(output_tokens=OUTPUT_TOKENS))
    return render_stream("responses", events, response_id="resp_bench", model="mock-model")


def _reads(data: bytes) -> list[bytes]:
    return [data[start : start + READ] for start in range(0, len(data), READ)]


class _Replay(anyio.abc.ByteStream):
    """A socket's reads from memory: each ``receive`` returns the next one at once."""

    def __init__(self, reads: list[bytes]) -> None:
        self._reads = iter(reads)

    async def receive(self, max_bytes: int = READ) -> bytes:
        for data in self._reads:
            return data
        raise anyio.EndOfStream

    async def send(self, item: bytes) -> None:
        return None

    async def send_eof(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _handshaken(*, deflate: bool) -> tuple[WSConnection, WSConnection]:
    """A client and a server connection past the upgrade, with or without permessage-deflate
    (the client offers it, as ``WebSocket.connect`` does; the server accepts or declines)."""
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    offer = Upgrade(host="127.0.0.1", target="/v1/responses", extensions=[PerMessageDeflate()])
    server.receive_data(client.send(offer))
    list(server.events())
    accepted: list[Extension] = [PerMessageDeflate()] if deflate else []
    client.receive_data(server.send(AcceptConnection(extensions=accepted)))
    assert any(isinstance(event, AcceptConnection) for event in client.events())
    return client, server


class _SocketSide:
    """The socket path's decode of one reply: reads → ``WebSocket.receive`` batches → the
    socket framer → the codec, as ``EventStream`` drives them."""

    def __init__(self, payloads: list[bytes], *, deflate: bool) -> None:
        self.deflate = deflate
        _, server = _handshaken(deflate=deflate)
        data = b"".join(server.send(TextMessage(data=p.decode("utf-8"))) for p in payloads)
        self.wire_bytes = len(data)
        self._reads = _reads(data)

    def prepare(self) -> WebSocket:
        """A fresh socket (its own inflater) whose reads are the reply's frames."""
        client, _ = _handshaken(deflate=self.deflate)
        socket = WebSocket(_Replay(self._reads), client)
        socket._opened(Handshake({}, self.deflate))
        return socket

    async def decode(self, socket: WebSocket) -> list[Event]:
        decoding = StreamDecoding("responses")
        framer, codec = _MessageFramer(DEFAULT_MAX_EVENT_BYTES), decoding.codec
        events: list[Event] = []
        while not codec.done:
            events += codec.feed(framer.feed(await socket.receive(DEFAULT_MAX_EVENT_BYTES)))
        return events


class _SseSide:
    def __init__(self, blocks: list[bytes]) -> None:
        self._reads = _reads(b"".join(blocks))

    def prepare(self) -> None:
        return None

    async def decode(self, _: None) -> list[Event]:
        decoding = StreamDecoding("responses")
        events: list[Event] = []
        for data in self._reads:
            events += decoding.feed(data)
        assert decoding.done
        return events


@dataclass
class Decode:
    events: int = 0
    us: dict[str, float] = field(default_factory=dict)
    """Median µs per event, per side."""
    wire_bytes: dict[str, int] = field(default_factory=dict)
    profile: str = ""

    ratios: dict[str, float] = field(default_factory=dict)
    """Median over repeats of a side's time over the SSE side's in the same repeat."""

    def ratio(self, side: str) -> float:
        return self.ratios.get(side, 1.0)


async def _block(side: Any, replies: int) -> float:
    """Seconds per reply over ``replies`` decodes, each on its own prepared input."""
    prepared = [side.prepare() for _ in range(replies)]
    with _collector_paused():
        started = time.perf_counter()
        for item in prepared:
            await side.decode(item)
        return (time.perf_counter() - started) / replies


async def _decode_measure(decode: Decode) -> None:
    blocks = _reply()
    payloads = [block.partition(b"data: ")[2].rstrip(b"\n") for block in blocks]
    sides: dict[str, Any] = {
        "sse": _SseSide(blocks),
        "socket": _SocketSide(payloads, deflate=False),
        "socket+deflate": _SocketSide(payloads, deflate=True),
    }
    expected = await sides["sse"].decode(None)
    for name, side in sides.items():
        got = await side.decode(side.prepare())
        assert got == expected, f"{name} decoded other events than SSE"
    decode.events = len(expected)
    decode.wire_bytes = {"sse": sum(map(len, blocks))} | {
        name: side.wire_bytes for name, side in sides.items() if name != "sse"
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for repeat in range(DECODE_REPEATS):
        for name in order if repeat % 2 == 0 else order[::-1]:
            times[name].append(await _block(sides[name], DECODE_REPLIES))
    decode.us = {name: statistics.median(t) / decode.events * 1e6 for name, t in times.items()}
    # Per repeat, the sides ran back to back: their ratio there cancels the machine's drift,
    # which the ratio of two medians taken minutes apart would not.
    decode.ratios = {
        name: statistics.median(a / b for a, b in zip(t, times["sse"], strict=True))
        for name, t in times.items()
        if name != "sse"
    }
    if decode.ratio("socket") > DECODE_GATE:
        decode.profile = await _profile(sides["socket"])


async def _profile(side: _SocketSide) -> str:
    """Where the socket path's time goes, for the report of a failed gate."""
    prepared = [side.prepare() for _ in range(DECODE_REPLIES)]
    profiler = cProfile.Profile()
    profiler.enable()
    for socket in prepared:
        await side.decode(socket)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(10)
    return out.getvalue()


@pytest.fixture(scope="module")
def decode() -> Decode:
    decode = Decode()
    asyncio.run(_decode_measure(decode))
    mode = "fast" if FAST else "full"
    lines = [
        f"\nwebsocket decode, {mode} mode: the mock's {decode.events}-event Responses reply, "
        f"{DECODE_REPEATS} interleaved repeats of {DECODE_REPLIES} replies",
        *(
            f"{name:<16}{decode.us[name]:>7.2f} us/event  x{decode.ratio(name):.2f}  "
            f"{decode.wire_bytes[name]} B on the wire"
            for name in decode.us
        ),
    ]
    print("\n".join(lines))
    return decode


def test_the_socket_path_decodes_an_event_about_as_cheaply_as_sse(decode: Decode) -> None:
    ratio = decode.ratio("socket")
    print(
        f"\ndecode per event: socket {decode.us['socket']:.2f} us, sse {decode.us['sse']:.2f} us: "
        f"x{ratio:.2f} (gate {DECODE_GATE})"
    )
    if ratio > DECODE_GATE:
        print(f"the socket path's decode, by own time:\n{decode.profile}")
    assert ratio <= DECODE_GATE
