"""Command auth's cached token costs nothing per request: client CPU with ``auth = {command}``
against the same run with a static bearer token, 64 concurrent streams.

Why this gate: a command-backed token must never run its command per request; once cached,
attaching it is one monotonic clock read, a comparison and a header, like a static token's one
header. If the cache broke (a run per request, a lock taken per request, a JWT decoded per
request), client CPU per request would rise measurably.

Setup: ``modelwire mock`` in a child process (``modelwire.bench._target.MockProcess``), so this
process holds only the clients and ``getrusage(RUSAGE_SELF)`` is their CPU alone. Two ``Client``
objects, each on its own warm pool with the transport bench's 60 s keep-alive, stream the
transport bench's request (chat, ``x-mock-output-tokens: 200``) through ``Client.stream`` to its
terminal event (``test_transport._modelwire``):

- static: ``experimental_bearer_token`` (``HeaderCredentials``: one header set per request);
- command: ``auth = {command = <python>, args = [helper]}`` with a one-hour refresh interval,
  the helper printing a token and counting its runs in a file. It runs once, in the untimed
  warm-up, and the bench fails if it ran again.

Method: per round, four timed blocks of ``REQUESTS // 2`` requests each by 64 workers
(``test_transport._block``: the collector paused, a young-generation collection ending each
block), as command, static, static, command (the reverse in odd rounds), so drift over the
round hits both sides alike; a full collection runs untimed before each round. The statistic is
the median over rounds of the round's command/static ratio of CPU per request, gated at
``GATE``. Both sides run exactly the same code but for ``Credentials.apply``, so the expected
ratio is 1.00 and the gate's 5 % is all noise allowance: on a two-CPU machine the mock shares
the box, and the median over the rounds keeps single disturbed blocks out.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modelwire import ProviderAuthInfo, ProviderInfo, ProviderRegistry, WireApi
from modelwire.auth._command import CommandCredentials
from modelwire.bench._target import MockProcess
from modelwire.client import Client
from modelwire.transport import Transport
from test_transport import HEADERS, OUTPUT_TOKENS, PROVIDER, Block, _block, _limits, _modelwire

from _ratio import FAST

CONCURRENCY = 64
REQUESTS = 192 if FAST else 512
"""Per side per round, as two blocks of half."""
ROUNDS = 9 if FAST else 21
GATE = 1.05

STATIC_TOKEN = "bench-static-token"
HELPER = """\
import pathlib, sys
with pathlib.Path(sys.argv[1]).open("a") as runs:
    runs.write("run\\n")
print("bench-command-token")
"""

COMMAND = "command"
STATIC = "static"


@dataclass
class Results:
    blocks: dict[str, list[Block]] = field(default_factory=lambda: {COMMAND: [], STATIC: []})
    command_runs: int = 0
    credentials: str = ""

    def ratios(self) -> list[float]:
        pairs = zip(self.blocks[COMMAND], self.blocks[STATIC], strict=True)
        return [a.cpu_ms / b.cpu_ms for a, b in pairs]

    def ratio(self) -> float:
        return statistics.median(self.ratios())


def _client(base_url: str, **auth: object) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    info = ProviderInfo(
        name="Loopback", base_url=base_url, wire_api=WireApi.CHAT, http_headers=HEADERS, **auth
    )
    registry.register(PROVIDER, info)
    return Client(registry, env={}, limits=_limits(Transport()))


async def _round(sides: dict[str, Callable[[], Awaitable[None]]], results: Results, n: int) -> None:
    order = [COMMAND, STATIC, STATIC, COMMAND] if n % 2 == 0 else [STATIC, COMMAND, COMMAND, STATIC]
    totals = {name: Block(0, 0.0, 0.0) for name in sides}
    for name in order:
        half = await _block(sides[name], REQUESTS // 2, CONCURRENCY)
        total = totals[name]
        total.requests += half.requests
        total.cpu_s += half.cpu_s
        total.wall_s += half.wall_s
    for name, total in totals.items():
        results.blocks[name].append(total)


async def _measure(base_url: str, helper: Path, runs: Path, results: Results) -> None:
    auth = ProviderAuthInfo(
        command=sys.executable, args=[str(helper), str(runs)], refresh_interval_ms=3_600_000
    )
    command = _client(base_url, auth=auth)
    static = _client(base_url, experimental_bearer_token=STATIC_TOKEN)
    try:
        credentials = command.credentials(command.provider(PROVIDER))
        assert isinstance(credentials, CommandCredentials)
        results.credentials = type(credentials).__name__
        sides = {COMMAND: _modelwire(command), STATIC: _modelwire(static)}
        for one in sides.values():  # open each pool's connections (and run the command) untimed
            await _block(one, CONCURRENCY, CONCURRENCY)
        for n in range(ROUNDS):
            gc.collect()
            await _round(sides, results, n)
    finally:
        await command.aclose()
        await static.aclose()
    results.command_runs = len(runs.read_text().splitlines())


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Results]:
    folder = tmp_path_factory.mktemp("auth_command")
    helper, runs = folder / "helper.py", folder / "runs.txt"
    helper.write_text(HELPER)
    runs.write_text("")
    results = Results()
    with MockProcess() as mock:
        asyncio.run(_measure(mock.url("/v1"), helper, runs, results))
    yield results
    _report(results)


def _report(results: Results) -> None:
    if not results.blocks[STATIC]:
        return
    mode = "fast" if FAST else "full"
    lines = [
        f"\nauth command, {mode} mode: chat streams of {OUTPUT_TOKENS} chunks from "
        f"`modelwire mock` in a child process, c={CONCURRENCY}; client CPU = "
        "getrusage(RUSAGE_SELF); per side, the median of its rounds",
        f"{'side':<10}{'rounds':>7}{'requests':>10}{'req/s':>9}{'cpu ms/req':>12}",
    ]
    for name, blocks in results.blocks.items():
        cpu = statistics.median(b.cpu_ms for b in blocks)
        rate = statistics.median(b.rate for b in blocks)
        requests = sum(b.requests for b in blocks)
        lines.append(f"{name:<10}{len(blocks):>7}{requests:>10}{rate:>9.1f}{cpu:>12.3f}")
    ratios = sorted(results.ratios())
    lines.append(
        f"per-round command/static: min {ratios[0]:.3f}, median {results.ratio():.3f}, "
        f"max {ratios[-1]:.3f}; the command ran {results.command_runs} time(s)"
    )
    print("\n".join(lines))


def test_a_cached_command_token_adds_no_measurable_client_cpu_per_request(
    results: Results,
) -> None:
    ratio = results.ratio()
    print(
        f"\nauth command c={CONCURRENCY}: command/static client CPU per request "
        f"x{ratio:.3f} (gate {GATE}), {ROUNDS} rounds x {REQUESTS} requests per side; "
        f"the command ran {results.command_runs} time(s)"
    )
    assert results.command_runs == 1
    assert ratio <= GATE
