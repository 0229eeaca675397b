"""The mock as a benchmark target, and the measurement of modelwire's own TTFT cost.

Two jobs need the mock. With no target, ``modelwire bench`` must show something that looks like
a provider, runnable with no key: ``python -m modelwire mock`` in a child process serving
``MockProfile`` (``MockProcess``). A process of its own, because a mock in the bench's process
shares the CPU and the GIL with the client being timed, and at high concurrency its work shows
up as client latency (a C=256 run read TTFT p50 418 ms in-process, ~347 ms out of it, for a
profile whose median is 300 ms). The mock draws each request's delays itself (``Jitter``:
log-normal, seeded, one draw per request). And the client's own share of TTFT can only be seen
against a server that answers at once: with the mock's delays zeroed by ``x-mock-*`` request
headers (a request's own knobs win over the server's drawn defaults), the same request is
timed through modelwire and through a bare socket that writes pre-built bytes and scans the
reply for the first token, alternately, so drift on a busy machine hits both alike.

The mock speaks Chat Completions here because its stream is the simplest to reason about: the
mock sends the role chunk after ``ttft_ms`` and every later chunk one ``delay_ms`` after the one
before, so the first token arrives at ``ttft_ms + delay_ms`` and the reply ends three chunks
(finish, usage, ``[DONE]``) after the last token. A run that names transports
(``--transport http,websocket``) compares them on one provider that has both, so there the
mock is a Responses provider with ``supports_websockets``; its stream sends four events
before the first token (created, in progress, item and part added), on either transport
alike, and the served defaults are worked out for that lead instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Protocol, Self
from urllib.parse import urlsplit

import anyio
import anyio.abc

from ..client import Client
from ..mock import Jitter, MockBehavior
from ..providers import ProviderInfo, WireApi
from ..registry import ProviderRegistry
from ..wire import Request, encode, user
from ._measure import measure_request
from ._schema import BenchError, ClientOverhead, MockProfile, Target
from ._stats import Stats, stats_of

__all__ = [
    "MOCK_MODEL",
    "MOCK_PROVIDER_ID",
    "MockProcess",
    "MockServer",
    "measure_ttft_overhead",
    "mock_arguments",
    "mock_target",
    "mock_targets",
    "mock_wire",
    "served_defaults",
]

MOCK_PROVIDER_ID = "modelwire-mock"
MOCK_MODEL = "mock-model"
_INSTANT_ID = "modelwire-mock-instant"
_INSTANT_HEADERS = {"x-mock-ttft-ms": "0", "x-mock-delay-ms": "0", "x-mock-output-tokens": "1"}
_FIRST_TOKEN = b'"delta":{"content":"'
"""The first chunk with text (the role chunk before it has ``{"role":…,"content":""``)."""
_LAST_CHUNK = b"\r\n0\r\n\r\n"
_BARE_TIMEOUT_S = 10.0
_WARMUP_PAIRS = 5
_LOOPBACK = "127.0.0.1"
_LISTENING = "listening on http://"
_LEAD_EVENTS = {WireApi.CHAT: 1, WireApi.RESPONSES: 4}
"""Events the mock sends before the first token, each after one gap (the first after TTFT)."""


class MockServer(Protocol):
    """Where a mock listens: an in-process ``MockProvider`` or a ``MockProcess``."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    def url(self, prefix: str = "") -> str: ...


def served_defaults(
    profile: MockProfile, wire_api: WireApi = WireApi.CHAT
) -> tuple[MockBehavior, Jitter]:
    """The mock's defaults and jitter that give a client ``profile``'s TTFT and gaps.

    The client's first token comes one gap after each of the mock's events before it (one on
    Chat Completions, four on Responses), so the mock's ``ttft_ms`` is the profile's median
    TTFT minus those gaps, and TTFT is the sum of the two draws (a reply's gaps are one draw).
    Its spread is then mostly the first draw's, scaled by that draw's share of the median; the
    first draw's shape is widened to make up for it, to first order in the logs (with the
    defaults the client's TTFT p50, p90 and p99 land within 2 % of the profile's on Chat
    Completions; on Responses, where the gaps are 40 % of the median, the widened first draw
    overshoots the tail: p50 within 2 %, p90 ~4 % and p99 ~9 % high).
    """
    gap = max(0, round(profile.itl_ms))
    lead = gap * _LEAD_EVENTS[wire_api]
    first = max(0, round(profile.ttft_ms) - lead)
    total = first + lead
    ttft_sigma = 0.0
    if first and total:
        gap_part = (lead / total * profile.itl_sigma) ** 2
        ttft_sigma = math.sqrt(max(0.0, profile.ttft_sigma**2 - gap_part)) * total / first
    behavior = MockBehavior(ttft_ms=first, delay_ms=gap, output_tokens=profile.output_tokens)
    jitter = Jitter(ttft_sigma=ttft_sigma, delay_sigma=profile.itl_sigma, seed=profile.seed)
    return behavior, jitter


def mock_arguments(profile: MockProfile, wire_api: WireApi = WireApi.CHAT) -> list[str]:
    """``modelwire mock`` flags serving ``profile`` to ``wire_api`` (see ``served_defaults``)."""
    behavior, jitter = served_defaults(profile, wire_api)
    return [
        f"--ttft-ms={behavior.ttft_ms}",
        f"--delay-ms={behavior.delay_ms}",
        f"--output-tokens={behavior.output_tokens}",
        f"--ttft-jitter={jitter.ttft_sigma!r}",
        f"--delay-jitter={jitter.delay_sigma!r}",
        f"--seed={jitter.seed}",
    ]


class MockProcess:
    """``python -m modelwire mock`` on loopback in a child process, for as long as a ``with``.

    The child runs this interpreter (``sys.executable``), so it imports the modelwire of this
    process's environment. It is stopped however the block ends, Ctrl-C included: SIGTERM, then
    SIGKILL if it has not exited within ``stop_timeout_s``. Its stderr goes to a temporary
    file, quoted when it fails to start (it must not write into the live progress view).
    """

    def __init__(
        self,
        arguments: Sequence[str] = (),
        *,
        start_timeout_s: float = 30.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self._command = [
            *(sys.executable, "-m", "modelwire", "mock", "--host", _LOOPBACK, "--port", "0"),
            # The child reads its stdin (this process's pipe) to its end: if this process dies
            # without stopping it, even by SIGKILL, the pipe closes and the child stops too.
            "--stop-with-stdin",
            *arguments,
        ]
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self._errors: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self.host = _LOOPBACK
        self.port = 0
        self.pid = 0
        """The child's process id (0 until started)."""

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, prefix: str = "") -> str:
        return self.base_url + prefix

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has been stopped (or has died), else ``None``."""
        return None if self._process is None else self._process.poll()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the child and return once it has said where it listens."""
        if self._process is not None:
            raise RuntimeError("this mock process was started already")
        # Open for the child's lifetime, not a block's: ``_close`` closes it.
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                text=True,
            )
        except OSError as exc:
            self._close()
            raise BenchError(f"cannot start the mock provider: {exc}") from None
        self.pid = self._process.pid
        try:
            line = self._first_line(self._process)
        except BaseException:
            self.stop()
            raise
        port = urlsplit(line.strip().removeprefix("listening on ")).port
        if not line.startswith(_LISTENING) or port is None:
            self._halt()
            said = self._stderr_tail() or line.strip() or "no output"
            self.stop()
            raise BenchError(f"the mock provider did not start: {said}")
        self.port = port

    def stop(self) -> None:
        """Stop the child (if running) and wait for it, within the bounds above."""
        try:
            self._halt()
        finally:
            self._close()

    def _first_line(self, process: subprocess.Popen[str]) -> str:
        """The child's first line, or ``BenchError`` if none comes within the start timeout.

        Read on a helper thread because a pipe read cannot time out portably; the thread
        ends when the child is stopped, as its pipe then closes."""
        stdout = process.stdout
        if stdout is None:
            raise RuntimeError("the mock process has no stdout pipe")
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.append(stdout.readline()),
            name="modelwire-mock-process-start",
            daemon=True,
        )
        self._reader = reader
        reader.start()
        reader.join(self._start_timeout_s)
        if reader.is_alive():
            raise BenchError(f"the mock provider did not start within {self._start_timeout_s:g} s")
        return lines[0] if lines else ""

    def _halt(self) -> None:
        process = self._process
        if process is None:
            return
        try:
            if process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=self._stop_timeout_s)
        finally:
            # Also reached when a second Ctrl-C interrupts the wait above.
            if process.poll() is None:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=self._stop_timeout_s)

    def _close(self) -> None:
        process, errors, reader = self._process, self._errors, self._reader
        self._errors = self._reader = None
        if reader is not None:
            reader.join(self._stop_timeout_s)  # the child is gone: its pipe is at its end
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if errors is not None:
            errors.close()

    def _stderr_tail(self) -> str:
        if self._errors is None:
            return ""
        self._errors.seek(0)
        lines = self._errors.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1].strip() if lines else ""


def mock_wire(transports: Sequence[str]) -> WireApi:
    """The mock's wire API for a run over ``transports``: Chat Completions for the plain
    ``auto`` run (as ever), Responses as soon as transports are named, since only there can
    one provider be reached over both."""
    return WireApi.CHAT if list(transports) == ["auto"] else WireApi.RESPONSES


def mock_target(
    base_url: str, registry: ProviderRegistry, wire_api: WireApi = WireApi.CHAT
) -> Target:
    """Register the mock at ``base_url`` (OpenAI-style, ``…/v1``) as provider
    ``modelwire-mock`` and return it as a target; on Responses it takes WebSockets too."""
    registry.register(
        MOCK_PROVIDER_ID,
        ProviderInfo(
            name="modelwire mock",
            base_url=base_url,
            wire_api=wire_api,
            supports_websockets=wire_api is WireApi.RESPONSES,
        ),
    )
    return Target(MOCK_PROVIDER_ID, MOCK_MODEL)


def mock_targets(
    base_url: str, registry: ProviderRegistry, transports: Sequence[str]
) -> list[Target]:
    """The mock as one target per transport, all one provider (see ``mock_wire``)."""
    target = mock_target(base_url, registry, mock_wire(transports))
    return [dataclasses.replace(target, transport=transport) for transport in transports]


async def measure_ttft_overhead(
    client: Client, mock: MockServer, *, samples: int = 100
) -> ClientOverhead:
    """modelwire's TTFT against a bare socket's, both on ``mock`` answering at once (its delays
    are zeroed by ``x-mock-*`` headers, which win over anything queued and over its jitter)."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    base_url = mock.url("/v1")
    client.registry.register(
        _INSTANT_ID,
        ProviderInfo(
            name="modelwire mock (no delay)",
            base_url=base_url,
            wire_api=WireApi.CHAT,
            http_headers=_INSTANT_HEADERS,
            request_max_retries=0,
            stream_max_retries=0,
        ),
    )
    target = Target(_INSTANT_ID, MOCK_MODEL)
    request = Request(model=MOCK_MODEL, messages=(user("how long does modelwire take?"),))
    path, body = encode(WireApi.CHAT.value, request, base_url=base_url)
    raw = _raw_request(mock, f"/v1/{path}", body)
    bare: list[float] = []
    ttft: list[float] = []
    receiving: list[float] = []
    async with await anyio.connect_tcp(mock.host, mock.port) as sock:
        for number in range(_WARMUP_PAIRS + samples):
            socket_ms = await _bare_ttft(sock, raw)
            record = await measure_request(client, target, request)
            if record.error is not None or record.ttft_ms is None or record.ttfb_ms is None:
                raise RuntimeError(f"the mock failed a timing request: {record.error_message}")
            if number >= _WARMUP_PAIRS:
                bare.append(socket_ms)
                ttft.append(record.ttft_ms)
                receiving.append(record.ttft_ms - record.ttfb_ms)
    modelwire_stats, bare_stats = _stats(ttft), _stats(bare)
    return ClientOverhead(
        samples=samples,
        modelwire_ttft_ms=modelwire_stats,
        bare_ttft_ms=bare_stats,
        overhead_ms=round(modelwire_stats.p50 - bare_stats.p50, 3),
        after_first_byte_ms=_stats(receiving),
    )


def _stats(values: list[float]) -> Stats:
    stats = stats_of(values)
    if stats is None:
        raise ValueError("no samples")
    return stats


def _raw_request(mock: MockServer, path: str, body: bytes) -> bytes:
    """The HTTP/1.1 request modelwire sends, minus what only it needs (auth, user agent)."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"host: {mock.host}:{mock.port}",
        "content-type: application/json",
        "accept: text/event-stream",
        f"content-length: {len(body)}",
        *(f"{name}: {value}" for name, value in _INSTANT_HEADERS.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _bare_ttft(sock: anyio.abc.ByteStream, raw: bytes) -> float:
    """ms from writing the request to reading the bytes of its first token; the reply is then
    read to its last chunk so the connection is ready for the next request."""
    begun = time.perf_counter()
    first: float | None = None
    seen = b""
    with anyio.fail_after(_BARE_TIMEOUT_S):
        await sock.send(raw)
        while True:
            chunk = await sock.receive()
            now = time.perf_counter()
            seen = seen + chunk if first is None else (seen + chunk)[-len(_LAST_CHUNK) :]
            if first is None and _FIRST_TOKEN in seen:
                first = now
            if first is not None and seen.endswith(_LAST_CHUNK):
                return round((first - begun) * 1000, 3)
