"""The mock's server-wide latency profile: seeded log-normal draws of its default delays."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from modelwire.cli import main
from modelwire.mock import Jitter, MockBehavior, MockProvider
from modelwire.mock._app import MockState
from modelwire.mock._behavior import JITTER_CAP
from modelwire.wire import TextDelta, decode

DEFAULTS = MockBehavior(ttft_ms=1000, delay_ms=100, output_tokens=2)
CHAT = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}


def delays(state: MockState, count: int) -> list[tuple[int | None, int | None]]:
    return [(b.ttft_ms, b.delay_ms) for b in (state.next_behavior() for _ in range(count))]


def test_each_request_draws_its_own_delays() -> None:
    state = MockState(behavior=DEFAULTS, jitter=Jitter(ttft_sigma=0.5, delay_sigma=0.5, seed=1))
    drawn = delays(state, 50)
    assert len({ttft for ttft, _ in drawn}) > 40
    assert len({delay for _, delay in drawn}) > 30
    # The two delays are drawn apart, not one factor scaling both.
    assert len({round(ttft / delay, 2) for ttft, delay in drawn if ttft and delay}) > 40
    assert state.next_behavior().output_tokens == 2


def test_a_seed_replays_the_same_draws_and_another_seed_does_not() -> None:
    jitter = Jitter(ttft_sigma=0.3, delay_sigma=0.2, seed=42)
    first = delays(MockState(behavior=DEFAULTS, jitter=jitter), 20)
    again = delays(MockState(behavior=DEFAULTS, jitter=jitter), 20)
    other = delays(
        MockState(behavior=DEFAULTS, jitter=msgspec.structs.replace(jitter, seed=43)), 20
    )
    assert first == again
    assert first != other


def test_draws_are_capped_either_way_at_four_times_the_default() -> None:
    # A shape of 1 puts 8 % of draws beyond each cap, so 400 draws must reach both.
    state = MockState(behavior=DEFAULTS, jitter=Jitter(ttft_sigma=1.0, delay_sigma=1.0, seed=5))
    drawn = delays(state, 400)
    ttfts = [ttft or 0 for ttft, _ in drawn]
    gaps = [delay or 0 for _, delay in drawn]
    assert (min(ttfts), max(ttfts)) == (1000 / JITTER_CAP, 1000 * JITTER_CAP)
    assert (min(gaps), max(gaps)) == (100 / JITTER_CAP, 100 * JITTER_CAP)


def test_without_jitter_the_defaults_are_served_as_set() -> None:
    state = MockState(behavior=DEFAULTS)
    assert delays(state, 5) == [(1000, 100)] * 5
    unset = MockState(jitter=Jitter(ttft_sigma=0.5, delay_sigma=0.5, seed=1))
    assert delays(unset, 3) == [(None, None)] * 3  # nothing to spread


def test_a_queued_delay_is_used_as_given_and_takes_no_other_requests_draw() -> None:
    jitter = Jitter(ttft_sigma=0.5, delay_sigma=0.5, seed=9)
    reference = delays(MockState(behavior=DEFAULTS, jitter=jitter), 3)
    state = MockState(behavior=DEFAULTS, jitter=jitter)
    state.enqueue(MockBehavior(ttft_ms=5, delay_ms=7), MockBehavior(output_tokens=9))
    exact, tokens_only, plain = (state.next_behavior() for _ in range(3))
    assert (exact.ttft_ms, exact.delay_ms) == (5, 7)
    assert (tokens_only.ttft_ms, tokens_only.delay_ms) == reference[1]
    assert tokens_only.output_tokens == 9
    assert (plain.ttft_ms, plain.delay_ms) == reference[2]


@pytest.mark.parametrize(
    "sigmas", [{"ttft_sigma": -0.1}, {"delay_sigma": math.nan}, {"ttft_sigma": math.inf}]
)
def test_a_shape_that_is_negative_or_not_finite_is_refused(sigmas: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="finite number of at least 0"):
        Jitter(**sigmas)


async def test_a_request_header_wins_over_the_drawn_delay_and_replies_say_what_they_served(
    anyio_backend: str,
) -> None:
    behavior = MockBehavior(ttft_ms=8000, delay_ms=40, output_tokens=2)
    jitter = Jitter(ttft_sigma=0.5, delay_sigma=0.5, seed=3)
    reference = delays(MockState(behavior=behavior, jitter=jitter), 2)
    async with (
        MockProvider(behavior=behavior, jitter=jitter) as mock,
        httpx.AsyncClient(timeout=10) as http,
    ):
        url = mock.url("/v1/chat/completions")
        # The drawn first delay is at least 2 s; the header's 0 makes the reply come at once.
        begun = time.perf_counter()
        fast = await http.post(url, json=CHAT, headers={"x-mock-ttft-ms": "0"})
        assert time.perf_counter() - begun < 8000 / JITTER_CAP / 1000
        assert fast.headers["x-mock-ttft-ms"] == "0"
        assert int(fast.headers["x-mock-delay-ms"]) == reference[0][1]
        # Headers go out before the first delay, so the draw can be read without waiting on it.
        async with http.stream("POST", url, json=CHAT) as slow:
            served = int(slow.headers["x-mock-ttft-ms"]), int(slow.headers["x-mock-delay-ms"])
    assert served == reference[1]


@pytest.fixture
def mock_process() -> Iterator[list[subprocess.Popen[str]]]:
    """Children started by a test, each stopped (SIGTERM, then SIGKILL) however it ends."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=5)


def start_mock(started: list[subprocess.Popen[str]], *flags: str) -> str:
    process = subprocess.Popen(
        [sys.executable, "-m", "modelwire", "mock", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    started.append(process)
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    assert first.startswith("listening on http://127.0.0.1:"), first
    return first.removeprefix("listening on ")


def test_modelwire_mock_serves_the_profile_its_flags_describe(
    mock_process: list[subprocess.Popen[str]],
) -> None:
    flags = ["--ttft-ms", "6000", "--delay-ms", "30", "--output-tokens", "3"]
    flags += ["--ttft-jitter", "0.4", "--delay-jitter", "0.3", "--seed", "11"]
    urls = [start_mock(mock_process, *flags) for _ in range(2)]
    behavior = MockBehavior(ttft_ms=6000, delay_ms=30, output_tokens=3)
    expected = delays(
        MockState(behavior=behavior, jitter=Jitter(ttft_sigma=0.4, delay_sigma=0.3, seed=11)), 4
    )
    with httpx.Client(timeout=10) as http:
        for url in urls:
            served = []
            for _ in range(4):
                with http.stream("POST", f"{url}/v1/chat/completions", json=CHAT) as response:
                    headers = response.headers
                served.append((int(headers["x-mock-ttft-ms"]), int(headers["x-mock-delay-ms"])))
            assert served == expected  # the same seed, the same draws, in each process
        begun = time.perf_counter()
        reply = http.post(
            f"{urls[0]}/v1/chat/completions", json=CHAT, headers={"x-mock-ttft-ms": "0"}
        )
        elapsed_ms = (time.perf_counter() - begun) * 1000
    gap = int(reply.headers["x-mock-delay-ms"])
    assert 30 / JITTER_CAP <= gap <= 30 * JITTER_CAP
    assert sum(isinstance(event, TextDelta) for event in decode("chat", [reply.content])) == 3
    # Role chunk, three tokens, finish, [DONE] (no usage chunk: the request did not ask for
    # one): five gaps of the drawn delay.
    assert elapsed_ms >= 5 * gap - 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ttft-jitter", "0.2"], "--ttft-jitter spreads --ttft-ms: give --ttft-ms too"),
        (["--delay-ms", "5", "--delay-jitter", "-1"], "--delay-jitter: must be at least 0.0"),
        (["--ttft-ms", "5", "--ttft-jitter", "nan"], "--ttft-jitter: must be a finite number"),
    ],
)
def test_modelwire_mock_refuses_a_jitter_it_cannot_apply(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main(["mock", *argv])
    except SystemExit as exc:  # argparse's usage errors
        status = int(exc.code or 0)
    assert status in (1, 2)
    assert message in capsys.readouterr().err
