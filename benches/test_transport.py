"""Streaming over loopback: client CPU per streamed request, modelwire against a bare client loop
on the same transport and against the official ``openai`` SDK.

Server: ``modelwire mock`` in a child process (``modelwire.bench._target.MockProcess``, as
``modelwire bench`` uses), so this process holds only the clients. Client CPU is
``resource.getrusage(RUSAGE_SELF)`` user + system time: every thread of this process, so the
resolver threads asyncio uses while connecting count too; the mock's CPU is in the other process
and never does. req/s is wall clock, so it includes the mock (one uvicorn process): context, not
a gate.

Reply: wire API ``chat`` (what the openai SDK speaks), ``x-mock-output-tokens: 200``: 200 text
chunks plus the role, finish and usage chunks and ``[DONE]``, 204 SSE events each written on its
own: 204 HTTP chunks, which modelwire's pool hands up a few per socket read (httpx2's, one by
one). Every side sends the same JSON body (modelwire's encoding of one user message, with
``stream_options.include_usage``) and reads the whole reply.

Sides, each on its own warm pool, at concurrency 1 and 64 (C asyncio workers sharing a block's
requests):

- modelwire: ``Client.stream(...)`` iterated to its terminal event (env-key auth, its default
  ``Transport``): request encoding, headers, credentials, retries, observer, typed events.
- bare: the ``httpx.AsyncClient`` modelwire's ``Transport`` builds for the provider (the same HTTP
  library, pool and limits), POSTing the same bytes and headers with ``stream=True`` and feeding
  ``aiter_raw()`` to ``modelwire.wire.StreamDecoding(...).feed``: the floor for any SDK on this
  transport and decoder.
- bare httpx2: the same loop on ``httpx2.AsyncClient`` (httpcore2's pool): what the transport
  choice buys. Half the requests; it is context, not gated.
- openai: ``AsyncOpenAI(...).chat.completions.create(stream=True)`` iterated (on httpx2). It
  costs several times more per request, so it runs half the requests, in the first
  ``SDK_ROUNDS`` rounds only.

Method. Every pool keeps idle connections 60 s (``keepalive_expiry``; the 5 s default would
reconnect inside timed blocks as sides take turns), and each side's connections are opened by
an untimed burst of C requests before its first round at each concurrency. Per concurrency,
``ROUNDS`` rounds; in each, every side runs its requests once, the order rotating:

- at concurrency 1 the sides take turns request by request, each request timed alone;
- at 64, blocks run one after another; modelwire and its bare loop run as A B B A, each block
  half their requests, so drift on the machine cancels out of their ratio.

The collector is paused while timing and a young-generation ``gc.collect(0)`` ends each timed
request or block, so each side pays for its own cyclic garbage and only for that; a full
collection (~50 ms, mostly the SDKs' and pytest's long-lived objects) runs before each round,
untimed. Reported per side: the median over rounds of CPU per request and of req/s.

Gates, in the one run:

- modelwire / bare on the same transport, client CPU per request: at most ``OVERHEAD_GATE``
  (1.2) at both concurrencies. The median over rounds of the two sides' ratio within a round.
  Issue 12 asks that this stays within 1.1x of the ratio measured before its changes: at that
  commit (0f3198c) four runs read 1.08, 1.10, 1.08 (fast mode) and 1.08 (full) at c=1, 1.05,
  1.06, 1.07 and 1.09 at c=64 (medians 1.08 and 1.065). 1.1 x 1.08 = 1.19 at c=1; at c=64
  1.1 x 1.065 = 1.17, and the gate is one 1.2 for both: the c=64 ratio has moved by +-0.02
  between runs there (and up to 1.13 in earlier runs on httpcore2's pool), which 1.17 would
  leave too little room for on a shared two-CPU machine. (The goal before was 1.3; ~1.5-1.9
  while ``EventStream`` wrapped every read in an ``anyio.fail_after`` scope, ~10 us per
  chunk; 0.9-1.25 at c=64 on httpcore 1.0's pool.)
- openai SDK / modelwire, client CPU per request (ratio of the medians): at least
  ``OPENAI_GATE``, ~70 % of the lowest measured.

Reported, not gated: the absolute client CPU per request against the issue's 3 ms goal (an
absolute time, which this house does not gate on shared machines). Expect noise at c=64: on a
two-CPU machine the mock, busy on the other CPU, slows this one, and a faster side keeps the
mock busier.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from modelwire import (
    Completed,
    ErrorEvent,
    ProviderRegistry,
    Request,
    TextDelta,
    user,
)
from modelwire.bench._target import MockProcess
from modelwire.client import Client
from modelwire.transport import Transport
from modelwire.wire import StreamDecoding, encode

from _loopback import ENV, KEY_VARIABLE, PROVIDER, loopback_registry
from _ratio import FAST

CONCURRENCIES = (1, 64)
REQUESTS = {1: 48, 64: 128} if FAST else {1: 160, 64: 256}
ROUNDS = {1: 7, 64: 11} if FAST else {1: 9, 64: 15}
"""Concurrency 64 is the noisier: client and mock both saturate the machine's CPUs."""
SDK_ROUNDS = 3 if FAST else 5
"""The openai SDK runs half the requests in only the first rounds: it costs several times more
per request, and its gate has room to match."""
OUTPUT_TOKENS = 200
CPU_GOAL_MS = 3.0

OVERHEAD_GATE = 1.2
"""Issue 12: within 1.1x of the 1.08 (c=1) and 1.065 (c=64) measured before it; see above."""
OPENAI_GATE = {1: 3.0, 64: 2.5}
"""openai SDK / modelwire client CPU: measured 4.1-6.6 at c=1; at c=64 4.9-5.9 on httpcore2's
pool but 3.5-4.7 on httpcore 1.0's, whose bookkeeping cost varies from run to run."""

KEEPALIVE_S = 60.0
HEADERS = {"x-mock-output-tokens": str(OUTPUT_TOKENS)}
REQUEST = Request(model="mock-model", messages=(user("hello"),))
OPENAI_MESSAGES = [{"role": "user", "content": "hello"}]

MODELWIRE = "modelwire"
BARE = "bare"
BARE_HTTPX2 = "bare httpx2"
OPENAI = "openai"


@dataclass
class Block:
    requests: int
    cpu_s: float
    wall_s: float

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s / self.requests * 1e3

    @property
    def rate(self) -> float:
        return self.requests / self.wall_s


@dataclass
class Side:
    name: str
    label: str
    one: Callable[[], Awaitable[None]]
    share: float = 1.0
    rounds: int = max(ROUNDS.values())
    blocks: dict[int, list[Block]] = field(default_factory=dict)

    def requests(self, concurrency: int) -> int:
        return max(concurrency, int(REQUESTS[concurrency] * self.share))

    def cpu_ms(self, concurrency: int) -> float:
        return statistics.median(b.cpu_ms for b in self.blocks[concurrency])

    def rate(self, concurrency: int) -> float:
        return statistics.median(b.rate for b in self.blocks[concurrency])


def _paired(top: Side, bottom: Side, concurrency: int) -> float:
    """Median over the rounds of ``top``'s CPU per request over ``bottom``'s in the same round."""
    pairs = zip(top.blocks[concurrency], bottom.blocks[concurrency], strict=True)
    return statistics.median(a.cpu_ms / b.cpu_ms for a, b in pairs)


@dataclass
class Results:
    sides: dict[str, Side] = field(default_factory=dict)
    reads: dict[int, float] = field(default_factory=dict)
    """Mean ``aiter_raw()`` chunks per request in the bare loop, per concurrency."""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _describe(client: Any) -> str:
    """The HTTP library and pool under an httpx-style client: ``httpx 0.28.1/httpcore 1.0.9``."""
    modules = [kind.__module__.split(".")[0] for kind in type(client).__mro__]
    library = next((m for m in modules if m.startswith("httpx")), modules[0])
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if pool is None:
        return f"{library} {_version(library)}/?"
    cores = [kind.__module__.split(".")[0] for kind in type(pool).__mro__]
    core = next((m for m in cores if m != "modelwire"), "?")
    extended = " (modelwire's HTTP/1.1 body)" if cores[0] == "modelwire" else ""
    return f"{library} {_version(library)}/{core} {_version(core)}{extended}"


def _limits(transport: Transport) -> httpx.Limits:
    """modelwire's default pool limits, with idle connections kept ``KEEPALIVE_S``."""
    base = transport.limits
    return httpx.Limits(
        max_connections=base.max_connections,
        max_keepalive_connections=base.max_keepalive_connections,
        keepalive_expiry=KEEPALIVE_S,
    )


def _registry(base_url: str) -> ProviderRegistry:
    return loopback_registry(base_url, HEADERS)


def _modelwire(client: Client) -> Callable[[], Awaitable[None]]:
    async def one() -> None:
        last = None
        async with client.stream(PROVIDER, REQUEST) as stream:
            async for event in stream:
                last = event
        if not isinstance(last, Completed):
            raise AssertionError(f"modelwire ended with {last!r}")

    return one


def _bare(
    client: Any, url: str, body: bytes, headers: dict[str, str], reads: list[int] | None = None
) -> Callable[[], Awaitable[None]]:
    """The bare loop: POST, ``aiter_raw()`` into the push decoder, nothing else."""

    async def one() -> None:
        decoding = StreamDecoding("chat")
        feed = decoding.feed
        count = 0
        async with client.stream("POST", url, content=body, headers=headers) as response:
            async for chunk in response.aiter_raw():
                feed(chunk)
                count += 1
        if not decoding.done:
            raise AssertionError("the bare loop's stream did not reach its terminal event")
        if reads is not None:
            reads.append(count)

    return one


def _openai(client: Any) -> Callable[[], Awaitable[None]]:
    async def one() -> None:
        stream = await client.chat.completions.create(
            model=REQUEST.model,
            messages=OPENAI_MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        count = 0
        async for _ in stream:
            count += 1
        if count < OUTPUT_TOKENS:
            raise AssertionError(f"the openai SDK read only {count} chunks")

    return one


async def _check(client: Client, one_bare: Callable[[], Awaitable[None]]) -> None:
    """One reply read by modelwire has every text piece: a short reply would look fast."""
    events = [event async for event in client.stream(PROVIDER, REQUEST)]
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert not errors, f"the mock's reply failed: {errors[0]}"
    pieces = sum(isinstance(e, TextDelta) for e in events)
    assert pieces == OUTPUT_TOKENS, f"{pieces} text pieces, expected {OUTPUT_TOKENS}"
    await one_bare()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _block(one: Callable[[], Awaitable[None]], requests: int, concurrency: int) -> Block:
    """``requests`` calls of ``one`` by ``concurrency`` workers, timed together."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    with _collector_paused():
        cpu, wall = _cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        gc.collect(0)
        return Block(requests, _cpu() - cpu, time.perf_counter() - wall)


async def _turns(sides: list[Side]) -> list[Block]:
    """Concurrency 1: the sides take turns request by request (a side with fewer requests spread
    evenly), each request timed alone, so drift on the machine hits every side alike."""
    counts = [side.requests(1) for side in sides]
    most = max(counts)
    blocks = [Block(0, 0.0, 0.0) for _ in sides]
    with _collector_paused():
        for index in range(most):
            for side, count, block in zip(sides, counts, blocks, strict=True):
                if (index + 1) * count // most == index * count // most:
                    continue
                cpu, wall = _cpu(), time.perf_counter()
                await side.one()
                gc.collect(0)
                block.requests += 1
                block.cpu_s += _cpu() - cpu
                block.wall_s += time.perf_counter() - wall
    return blocks


async def _round(units: list[list[Side]], concurrency: int, round_: int) -> None:
    """One block per side, the units' order rotating from round to round.

    At concurrency 1 the sides take turns request by request (``_turns``). Above it, blocks run
    one after another; a pair (modelwire and its bare loop) runs as A B B A, each half the
    requests, so drift over the four blocks cancels out of their ratio.
    """
    shift = round_ % len(units)
    units = [[side for side in unit if round_ < side.rounds] for unit in units]
    units = [unit[::-1] if round_ % 2 else unit for unit in units[shift:] + units[:shift] if unit]
    if concurrency == 1:
        order = [side for unit in units for side in unit]
        for side, block in zip(order, await _turns(order), strict=True):
            side.blocks.setdefault(1, []).append(block)
        return
    for unit in units:
        if len(unit) == 1:
            (side,) = unit
            block = await _block(side.one, side.requests(concurrency), concurrency)
            side.blocks.setdefault(concurrency, []).append(block)
            continue
        first, second = unit
        halves = {first.name: Block(0, 0.0, 0.0), second.name: Block(0, 0.0, 0.0)}
        for side in (first, second, second, first):
            half = await _block(side.one, side.requests(concurrency) // 2, concurrency)
            total = halves[side.name]
            total.requests += half.requests
            total.cpu_s += half.cpu_s
            total.wall_s += half.wall_s
        for side in unit:
            side.blocks.setdefault(concurrency, []).append(halves[side.name])


async def _measure(mock_url: str, results: Results) -> None:
    openai = pytest.importorskip("openai")
    httpx2 = pytest.importorskip("httpx2")
    base_url = mock_url + "/v1"
    registry = _registry(base_url)
    limits = _limits(Transport())
    provider = registry.get(PROVIDER).usable()
    path, body = encode("chat", REQUEST, base_url=provider.base_url)

    ours = Client(registry, env=ENV, limits=limits)
    floor = Transport(env=ENV, limits=limits)
    floor_client = floor.client(provider)
    url = floor.url(provider, path)
    headers = {
        **floor.headers(provider, stream=True),
        "authorization": f"Bearer {ENV[KEY_VARIABLE]}",
    }
    other = httpx2.AsyncClient(
        limits=httpx2.Limits(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=KEEPALIVE_S,
        ),
        timeout=httpx2.Timeout(30.0, read=None),
        trust_env=False,
    )
    sdk = openai.AsyncOpenAI(
        base_url=base_url,
        api_key=ENV[KEY_VARIABLE],
        default_headers=HEADERS,
        http_client=openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(
                max_connections=1000, max_keepalive_connections=100, keepalive_expiry=KEEPALIVE_S
            )
        ),
    )
    reads: dict[int, list[int]] = {c: [] for c in CONCURRENCIES}
    read_log: list[int] = []
    bare = Side(
        BARE,
        f"bare on {_describe(floor_client)}",
        _bare(floor_client, url, body, headers, read_log),
    )
    units = [
        [Side(MODELWIRE, f"modelwire on {_describe(floor_client)}", _modelwire(ours)), bare],
        [Side(BARE_HTTPX2, f"bare on {_describe(other)}", _bare(other, url, body, headers), 0.5)],
        [
            Side(
                OPENAI,
                f"openai {_version('openai')} on {_describe(sdk._client)}",
                _openai(sdk),
                share=0.5,
                rounds=SDK_ROUNDS,
            )
        ],
    ]
    closers: list[Callable[[], Awaitable[None]]] = [
        ours.aclose,
        floor.aclose,
        other.aclose,
        sdk.close,
    ]
    sides = [side for unit in units for side in unit]
    results.sides = {side.name: side for side in sides}
    try:
        await _check(ours, bare.one)
        for concurrency in CONCURRENCIES:
            for side in sides:
                await _block(side.one, concurrency, concurrency)
            del read_log[:]
            for round_ in range(ROUNDS[concurrency]):
                gc.collect()
                await _round(units, concurrency, round_)
            reads[concurrency] = list(read_log)
    finally:
        for close in closers:
            await close()
    results.reads = {c: statistics.fmean(r) for c, r in reads.items() if r}


@pytest.fixture(scope="module")
def results() -> Iterator[Results]:
    results = Results()
    with MockProcess() as mock:
        asyncio.run(_measure(mock.base_url, results))
    yield results
    _report(results)


def _report(results: Results) -> None:
    if not results.sides:
        return
    mode = "fast" if FAST else "full"
    lines = [
        f"\ntransport, {mode} mode: chat streams of {OUTPUT_TOKENS} chunks from `modelwire mock` "
        f"in a child process; client CPU = getrusage(RUSAGE_SELF) of this process; per side, "
        f"the median of its rounds",
        f"{'side':<16}{'c':>4}{'rounds':>7}{'requests':>10}{'req/s':>9}{'cpu ms/req':>12}"
        f"{'cpu s/1k req':>14}  stack",
    ]
    for concurrency in CONCURRENCIES:
        for side in results.sides.values():
            if concurrency not in side.blocks:
                continue
            cpu = side.cpu_ms(concurrency)
            blocks = side.blocks[concurrency]
            lines.append(
                f"{side.name:<16}{concurrency:>4}{len(blocks):>7}"
                f"{sum(b.requests for b in blocks):>10}"
                f"{side.rate(concurrency):>9.1f}{cpu:>12.2f}{cpu:>14.2f}  {side.label}"
            )
    for concurrency in CONCURRENCIES:
        sides = results.sides
        if concurrency not in sides[MODELWIRE].blocks:
            continue
        ours = sides[MODELWIRE].cpu_ms(concurrency)
        overhead = _paired(sides[MODELWIRE], sides[BARE], concurrency)
        speedup = sides[OPENAI].cpu_ms(concurrency) / ours
        gain = sides[BARE].cpu_ms(concurrency) / sides[BARE_HTTPX2].cpu_ms(concurrency)
        goal = "met" if ours <= CPU_GOAL_MS else "not met"
        line = (
            f"c={concurrency}: modelwire/bare x{overhead:.2f} (gate {OVERHEAD_GATE}); "
            f"openai/modelwire x{speedup:.1f} (gate {OPENAI_GATE[concurrency]}); "
            f"bare/bare httpx2 x{gain:.2f}; "
            f"modelwire {ours:.2f} ms/req, goal {CPU_GOAL_MS} ms {goal}; "
            f"{results.reads.get(concurrency, 0):.0f} aiter_raw chunks/request"
        )
        lines.append(line)
    print("\n".join(lines))


@pytest.mark.parametrize("concurrency", CONCURRENCIES)
def test_modelwire_costs_little_client_cpu_over_a_bare_loop_on_its_transport(
    results: Results, concurrency: int
) -> None:
    ours = results.sides[MODELWIRE].cpu_ms(concurrency)
    bare = results.sides[BARE].cpu_ms(concurrency)
    overhead = _paired(results.sides[MODELWIRE], results.sides[BARE], concurrency)
    print(
        f"\nc={concurrency}: modelwire {ours:.2f} ms/req, bare {bare:.2f} ms/req: "
        f"x{overhead:.2f} (gate {OVERHEAD_GATE})"
    )
    assert overhead <= OVERHEAD_GATE


@pytest.mark.parametrize("concurrency", CONCURRENCIES)
def test_openai_sdk_costs_several_times_modelwires_client_cpu(
    results: Results, concurrency: int
) -> None:
    ours = results.sides[MODELWIRE].cpu_ms(concurrency)
    sdk = results.sides[OPENAI].cpu_ms(concurrency)
    print(
        f"\nc={concurrency}: openai {sdk:.2f} ms/req, modelwire {ours:.2f} ms/req: "
        f"x{sdk / ours:.1f} (gate {OPENAI_GATE[concurrency]})"
    )
    assert sdk / ours >= OPENAI_GATE[concurrency]
