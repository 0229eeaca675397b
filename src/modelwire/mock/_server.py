"""Running the mock: in-process beside a test or an application, or as ``modelwire mock``.

In-process, the server runs uvicorn on its own event loop in a daemon thread. That keeps it
independent of the caller's loop — the client under test may run on asyncio or trio, and
uvicorn speaks only asyncio — and makes every test's traffic real loopback HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self, TextIO

import anyio.to_thread
import uvicorn

from ._app import DEFAULT_MODELS, MockState, build_app
from ._behavior import Jitter, MockBehavior
from ._demo import write_demo_home

__all__ = ["MockProvider", "serve_forever"]

_START_TIMEOUT_S = 15.0


def _config(
    state: MockState, *, log_level: str = "critical", socket_deflate: bool = True
) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(state),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        # Streams idle between events on purpose (stalls, slow tokens); never cut them here.
        timeout_keep_alive=30,
        # Responses over WebSocket (mock._socket); wsproto is the client's library too.
        ws="wsproto",
        # Accepting the client's permessage-deflate offer costs this server ~15 us per frame
        # (wsproto compresses in Python): benches comparing client CPU can turn it off.
        ws_per_message_deflate=socket_deflate,
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: accepted sockets copy the listener's protocol, and asyncio turns Nagle
    # off only on sockets that say TCP. With Nagle on, a streamed reply's small writes wait for
    # the client's delayed ACKs: ~40 ms per request on loopback.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class MockProvider:
    """A provider speaking all three wire APIs on loopback; ``async with`` or ``with`` it.

    ``base_url`` is the server root; every wire path works under any prefix, so
    ``mock.url("/v1")`` is an OpenAI-style base URL and ``mock.base_url`` an Anthropic one.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        behavior: MockBehavior | None = None,
        jitter: Jitter | None = None,
        require_bearer: str | None = None,
        require_api_key: str | None = None,
        require_sigv4: bool = False,
        log: Path | None = None,
        models: tuple[str, ...] = DEFAULT_MODELS,
        socket_lifetime_s: float = 3600.0,
        socket_deflate: bool = True,
        serial: bool = False,
    ) -> None:
        self.host = host
        self._socket_deflate = socket_deflate
        self._requested_port = port
        self.state = MockState(
            behavior=behavior,
            jitter=jitter,
            require_bearer=require_bearer,
            require_api_key=require_api_key,
            require_sigv4=require_sigv4,
            log_path=log,
            models=models,
            socket_lifetime_s=socket_lifetime_s,
            serial=serial,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def __repr__(self) -> str:
        return f"MockProvider({self.base_url if self.port else 'not started'})"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, prefix: str = "") -> str:
        """The base URL with a path prefix, e.g. ``url("/v1")``."""
        return self.base_url + prefix

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received, as logged (credentials masked)."""
        return self.state.requests

    @property
    def in_flight(self) -> int:
        """Requests being answered right now (a stream counts until its last chunk is sent)."""
        return self.state.in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests answered at once since start (or ``reset_peak()``)."""
        return self.state.peak_in_flight

    def reset_peak(self) -> None:
        self.state.reset_peak()

    def enqueue(self, *behaviors: MockBehavior) -> None:
        """Behaviours for the next requests, one each; then the defaults apply again."""
        self.state.enqueue(*behaviors)

    def start(self) -> None:
        """Bind, start serving in a background thread, and return once it accepts requests."""
        if self._thread is not None:
            raise RuntimeError("this mock provider is already running")
        sock = _bind(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(_config(self.state, socket_deflate=self._socket_deflate))
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"modelwire-mock-{self.port}",
            daemon=True,
        )
        thread.start()
        waited = threading.Event()
        for _ in range(int(_START_TIMEOUT_S / 0.005)):
            if server.started or not thread.is_alive():
                break
            waited.wait(0.005)
        if not server.started:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the mock provider did not start on {self.base_url}")
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Shut down: open streams are cut after a one-second grace period."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=10)

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

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)


def serve_forever(
    *,
    host: str,
    port: int,
    log: Path | None,
    require_bearer: str | None,
    require_api_key: str | None,
    require_sigv4: bool,
    behavior: MockBehavior | None = None,
    jitter: Jitter | None = None,
    demo_home: Path | None = None,
    socket_deflate: bool = True,
    socket_lifetime_s: float = 3600.0,
    serial: bool = False,
    out: TextIO = sys.stdout,
) -> None:
    """``modelwire mock``: serve in the foreground until SIGINT/SIGTERM.

    The first line on ``out`` is ``listening on http://HOST:PORT``, flushed, so a script can
    start the mock with ``--port 0`` and read where it landed. ``behavior`` and ``jitter`` are
    the server's defaults (``--ttft-ms``, ``--ttft-jitter``…): a process of its own serving a
    seeded latency profile, so a benchmark's client does not share its CPU with the server.
    ``demo_home``, once the port is known, gets a config that points the README's providers
    here (``write_demo_home``), named on stderr.
    """
    state = MockState(
        behavior=behavior,
        jitter=jitter,
        require_bearer=require_bearer,
        require_api_key=require_api_key,
        require_sigv4=require_sigv4,
        log_path=log,
        socket_lifetime_s=socket_lifetime_s,
        serial=serial,
    )
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown}:{bound}"
    if demo_home is not None:
        try:
            write_demo_home(demo_home, base_url)
        except BaseException:
            sock.close()
            raise
    server = _ForegroundServer(_config(state, log_level="warning", socket_deflate=socket_deflate))
    # A caller may stop us as soon as it reads the line below: be ready for it first.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, server._stop)
    out.write(f"listening on {base_url}\n")
    out.flush()
    if demo_home is not None:
        print(
            f"modelwire mock: wrote {demo_home}/config.toml and auth.json: "
            f"`export MODELWIRE_HOME={demo_home}` sends providers openai, anthropic and "
            "example here",
            file=sys.stderr,
            flush=True,
        )
    server.run(sockets=[sock])


class _ForegroundServer(uvicorn.Server):
    """uvicorn, but SIGINT/SIGTERM end the process with status 0 after a clean shutdown.

    uvicorn re-raises the signal once it has shut down, so the process dies of it; for a
    command whose normal way to stop is Ctrl-C or ``kill``, that reads as a failure.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True
