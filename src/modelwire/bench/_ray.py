"""Ray actors as the workers: one schedule shared beyond one machine (``modelwire[ray]``).

``--ray auto|ADDRESS`` runs ``_workers``' workers as Ray actors instead of local processes:
the same job, the same split of the schedule (actor ``k`` of ``N`` takes every ``N``-th
request from the ``k``-th), the same warm-up, ready and shared start, the same sketches merged
into the same report. Actors ask one CPU each and are spread over the cluster's nodes
(``SPREAD``); without ``--workers`` there is one per CPU of the cluster.

``auto`` joins the cluster ``RAY_ADDRESS`` names (or one already running on this machine),
else starts a local one for the run; ``ADDRESS`` is handed to ``ray.init`` as is
(``ray://head:10001``, ``head:6379``). A cluster this run started is shut down when it ends;
one it joined is only left. Every actor is killed on every ending, interrupted or not, so
none outlives the command.

What the cluster must provide: modelwire installed on every node, clocks in step (the start
is a wall-clock instant; NTP-synced nodes are within a millisecond or so, and that offset is
in every send time), and the provider reachable from every node (a mock on this machine's
loopback is reachable only from this machine). The job carries the client's environment, API
keys included, to the actors through the cluster, as a worker process gets it from its parent.

Ray runs each actor's coroutines on its own asyncio loop (uvloop's when it is installed), so
that is the actors' event loop whatever this process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread

from ._schema import BenchError
from ._workers import _POLL_S, _Job, _Remote, _Tally, _work

__all__ = ["RayCluster", "ray_cluster"]

_INSTALL_HINT = "Ray is not installed: pip install 'modelwire[ray]'"


def _import_ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise BenchError(_INSTALL_HINT) from None


class _ActorControl:
    """An actor's ``_work`` told when to start and stop by the actor's own methods.

    asyncio's events bind to a loop when first awaited, so they can be made in ``__init__``,
    which Ray may run outside the actor's loop."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.started = asyncio.Event()
        self.stop = asyncio.Event()
        self.at = 0.0

    async def say_ready(self) -> None:
        self.ready.set()

    async def start_at(self) -> float:
        await self.started.wait()
        return self.at

    async def stop_asked(self) -> None:
        await self.stop.wait()


class BenchActor:
    """One worker as a Ray actor (an async actor: its methods share one asyncio loop, so
    ``start`` and ``stop`` reach a ``run`` in progress)."""

    def __init__(self, job: _Job) -> None:
        self._job = job
        self._control = _ActorControl()

    async def run(self) -> tuple[str, Any]:
        try:
            return ("done", await _work(self._job, self._control))
        except Exception as exc:  # the driver reports it; an actor never prints a traceback
            return ("failed", f"{type(exc).__name__}: {exc}")

    async def wait_ready(self) -> None:
        await self._control.ready.wait()

    async def start(self, at: float) -> None:
        self._control.at = at
        self._control.started.set()

    async def stop(self) -> None:
        self._control.stop.set()


class _RayWorker:
    """A ``_Remote`` for one actor: its ``run`` started at once, polled, never abandoned."""

    def __init__(self, ray: Any, actor: Any, number: int) -> None:
        self._ray = ray
        self._actor = actor
        self.number = number
        self._run = actor.run.remote()

    async def ready(self, timeout_s: float) -> None:
        ready = self._actor.wait_ready.remote()
        done = await self._first([ready, self._run], timeout_s, "did not start")
        if done == self._run:  # the run ended before it was ready: its warm-up failed
            _, detail = await self._get(self._run)
            raise BenchError(f"bench actor {self.number} did not start: {detail}")

    async def start(self, start_at: float) -> None:
        await self._get(self._actor.start.remote(start_at))

    async def result(self, timeout_s: float | None) -> _Tally:
        await self._first([self._run], timeout_s, "sent no result")
        kind, detail = await self._get(self._run)
        if kind != "done":
            raise BenchError(f"bench actor {self.number} failed: {detail}")
        tally: _Tally = detail
        return tally

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._actor.stop.remote()

    async def reap(self) -> None:
        with contextlib.suppress(Exception):
            self._ray.kill(self._actor, no_restart=True)

    async def _first(self, refs: list[Any], timeout_s: float | None, what: str) -> Any:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            done, _ = await anyio.to_thread.run_sync(
                lambda: self._ray.wait(refs, num_returns=1, timeout=_POLL_S)
            )
            if done:
                return done[0]
            if deadline is not None and time.monotonic() > deadline:
                raise BenchError(f"bench actor {self.number} {what} in {timeout_s:g} s")

    async def _get(self, ref: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(self._ray.get, ref)
        except Exception as exc:  # RayActorError, RayTaskError…: the actor died
            lines = str(exc).strip().splitlines()
            why = lines[-1][:300] if lines else ""  # Ray's last line is the cause's
            raise BenchError(
                f"bench actor {self.number} was lost: {type(exc).__name__}"
                + (f" ({why})" if why else "")
            ) from None


class RayCluster:
    """The cluster a run's actors go to (``ray_cluster``)."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._actor_class = ray.remote(num_cpus=1)(BenchActor)

    def cpus(self) -> int:
        """One actor per CPU the cluster has (at least one)."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    async def spawn(self, job: _Job) -> _Remote:
        actor = self._actor_class.options(
            name=None, scheduling_strategy="SPREAD", max_restarts=0
        ).remote(job)
        return _RayWorker(self._ray, actor, job.index)


@contextlib.asynccontextmanager
async def ray_cluster(address: str) -> AsyncIterator[RayCluster]:
    """Ray, initialised for the run (``auto`` or an address, see the module docstring) unless
    the caller already had it; shut down after only if this started it."""
    ray = _import_ray()
    owned = not ray.is_initialized()
    if owned:
        joining = address != "auto" or "RAY_ADDRESS" in os.environ
        options: dict[str, Any] = {"log_to_driver": False}
        if address != "auto":
            options["address"] = address
        if not joining:
            options["include_dashboard"] = False
        try:
            await anyio.to_thread.run_sync(lambda: ray.init(**options))
        except Exception as exc:
            where = "the local Ray instance" if not joining else f"the Ray cluster at {address}"
            raise BenchError(f"cannot start {where}: {type(exc).__name__}: {exc}") from None
    try:
        yield RayCluster(ray)
    finally:
        if owned:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(ray.shutdown)
