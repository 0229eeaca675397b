"""``modelwire bench``: the latency benchmark from the command line.

The table goes to stdout (it is the result; it pipes and redirects cleanly), the live progress
view and notes to stderr. With no ``--provider`` the target is the mock provider, started as
``modelwire mock`` in a child process with a realistic latency profile (``MockProfile``), so the
command runs on a fresh machine with no key and no network, and the mock's work does not land
in the client's timings; such a run also measures and prints modelwire's own share of TTFT. The
child is stopped however the run ends. The exit status is 1 when a target had no successful
request at all (its latency figures are empty), else 0: failures are part of a benchmark's
findings, counted in the table. An interrupted run (Ctrl-C, SIGTERM) still prints and writes
what it had measured, marked interrupted, and exits 130.

``--transport http,websocket`` makes each target one target per transport, run one after the
other on the same client, so the table shows the two side by side (and a line comparing
them); against the mock this benchmarks its Responses provider, which has both. A
``websocket`` a provider cannot do is a usage error, found before anything is sent.

``--workers N`` shares an open loop's schedule among N local processes, ``--ray auto|ADDRESS``
among Ray actors (``bench._ray``); ``--html FILE`` writes one self-contained page of the result
(``bench._html``). The run, and every worker process, uses uvloop's event loop when it is
installed (``modelwire[fast]``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import msgspec

from ..bench._html import write_html
from ..bench._measure import DEFAULT_PROMPT, RunRecorder, generated_prompt
from ..bench._measure import run_bench as run_benchmark
from ..bench._report import (
    LiveProgress,
    overhead_lines,
    render_table,
    require_plotting,
    write_plot,
)
from ..bench._schema import (
    TRANSPORTS,
    BenchError,
    BenchResult,
    ClientOverhead,
    MockProfile,
    Settings,
    Target,
    write_records,
    write_result,
)
from ..bench._slo import Slo, parse_slo
from ..bench._sweep import DEFAULT_STEPS, run_sweeps
from ..bench._workers import fastest_loop, run_workers
from ..client import Client
from ..config import Config, load_config
from ..errors import ConfigError
from ..registry import ProviderRegistry
from ._main import EXIT_INTERRUPTED, UsageError, provider_from_command_line

if TYPE_CHECKING:
    from ..bench._target import MockServer

__all__ = ["run_bench"]


def run_bench(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO | None = None
) -> int:
    """Run the benchmark the parsed arguments describe; see the module docstring."""
    err = sys.stderr if err is None else err
    if args.plot is not None:
        require_plotting()
    for path in (args.json, args.plot, args.html):
        if path is not None and not path.parent.is_dir():
            raise BenchError(f"cannot write {path}: {path.parent} is not a directory")
    transports = _transports(args.transport)
    config = load_config(env=env)
    registry = ProviderRegistry.from_config(config, env=env)
    targets = _targets(args.provider, config, registry, transports)
    client = Client(registry, env=env)
    _check_transports(client, targets)
    settings = Settings(
        requests=args.requests,
        duration_s=args.duration,
        concurrency=args.concurrency or 1,
        warmup=args.warmup,
        slo=_slo(args.slo),
        **_load(args),
        prompt=(
            generated_prompt(args.prompt_tokens)
            if args.prompt_tokens is not None
            else args.prompt or DEFAULT_PROMPT
        ),
        prompt_tokens=args.prompt_tokens,
        max_tokens=args.max_tokens,
    )
    sweep = _sweep(args)
    spread = args.ray is not None or (args.workers or 1) > 1
    flag = "--ray" if args.ray is not None else "--workers"
    if spread and sweep is not None:
        raise UsageError(f"{flag} runs one open loop; a --sweep runs in this process")
    if spread and not settings.open_loop:
        raise UsageError(f"{flag} share an open loop's schedule: give --rate or --trace")
    if args.ray is not None and not args.ray.strip():
        raise UsageError("--ray: give auto or the cluster's address")
    if args.records is not None and not args.records.parent.is_dir():
        raise BenchError(f"cannot write {args.records}: {args.records.parent} is not a directory")
    plan = _Plan(
        sweep=sweep,
        workers=args.workers if args.ray is not None else (args.workers or 1),
        ray=None if args.ray is None else args.ray.strip(),
        keep_records=args.records is not None,
    )
    recorder = RunRecorder()
    interrupted = False
    try:
        with _terminate_as_interrupt():
            if targets:
                result = anyio.run(
                    _bench, client, targets, settings, err, recorder, plan, **fastest_loop()
                )
            else:
                result = _bench_mock(client, transports, settings, err, recorder, plan)
    except KeyboardInterrupt:
        partial = recorder.partial()
        if partial is None:  # stopped before the run began: nothing was measured
            raise
        result, interrupted = partial, True
    render_table(result, out)
    if result.client_overhead is not None:
        out.write("\n".join(overhead_lines(result.client_overhead)) + "\n")
    out.flush()
    if args.json is not None:
        write_result(result, args.json)
        err.write(f"modelwire bench: wrote {args.json}\n")
    if args.records is not None:
        write_records(result, args.records)
        err.write(f"modelwire bench: wrote {args.records}\n")
    if args.plot is not None:
        write_plot(result, args.plot)
        err.write(f"modelwire bench: wrote {args.plot}\n")
    if args.html is not None:
        write_html(result, args.html)
        err.write(f"modelwire bench: wrote {args.html}\n")
    if interrupted:
        return EXIT_INTERRUPTED
    return 1 if any(target.summary.ok == 0 for target in result.targets) else 0


def _sweep(args: argparse.Namespace) -> _Sweep:
    """``--sweep RATE,RATE,...`` or ``--sweep auto``, checked before anything runs."""
    if args.sweep is None:
        if args.sweep_steps is not None:
            raise UsageError("--sweep-steps is for --sweep auto")
        return None
    if args.rate is not None or args.trace is not None:
        raise UsageError("--sweep sets each step's rate: leave out --rate and --trace")
    if args.requests is None and args.duration is None:
        raise UsageError("--sweep needs --requests or --duration (per step)")
    if args.sweep.strip() == "auto":
        steps = DEFAULT_STEPS if args.sweep_steps is None else args.sweep_steps
        if steps < 2:
            raise UsageError("--sweep-steps: a sweep needs at least 2 steps")
        return None, steps
    if args.sweep_steps is not None:
        raise UsageError("--sweep-steps is for --sweep auto; a list names its own steps")
    rates: list[float] = []
    for part in args.sweep.split(","):
        try:
            rate = float(part)
        except ValueError:
            rate = math.nan
        if not (math.isfinite(rate) and rate > 0):
            raise UsageError(
                f"--sweep {args.sweep!r}: {part.strip()!r} is not a rate (requests per second)"
            )
        rates.append(rate)
    return sorted(set(rates)), len(rates)


def _slo(spec: str | None) -> Slo | None:
    if spec is None:
        return None
    try:
        return parse_slo(spec)
    except ValueError as exc:
        raise UsageError(f"--slo {spec!r}: {exc}") from None


def _load(args: argparse.Namespace) -> dict[str, Any]:
    """The open loop's settings, or none; every combination that means nothing is a usage
    error here, before anything runs."""
    open_loop = args.rate is not None or args.trace is not None or args.sweep is not None
    if not open_loop:
        given = [
            flag
            for flag, value, default in (
                ("--arrival", args.arrival, "poisson"),
                ("--burstiness", args.burstiness, 1.0),
                ("--ramp-to", args.ramp_to, None),
                ("--ramp", args.ramp, "linear"),
                ("--max-concurrency", args.max_concurrency, None),
                ("--seed", args.seed, 0),
            )
            if value != default
        ]
        if given:
            raise UsageError(f"{', '.join(given)} shape an open loop: give --rate or --trace")
        return {}
    if args.concurrency is not None:
        raise UsageError(
            "--concurrency is the closed loop's; an open loop caps with --max-concurrency"
        )
    if args.ramp_to is not None and (args.rate is None or args.duration is None):
        raise UsageError("--ramp-to spans the run: give --rate and --duration")
    if args.burstiness != 1.0 and args.arrival != "gamma":
        raise UsageError("--burstiness shapes gamma arrivals: add --arrival gamma")
    if args.rate is not None and args.requests is None and args.duration is None:
        raise UsageError("an open loop needs --requests or --duration")
    if args.sweep is not None:
        # A sweep's steps get their rates from it; the rest of the shape applies to each.
        return {
            "arrival": args.arrival,
            "burstiness": args.burstiness,
            "max_concurrency": args.max_concurrency,
            "seed": args.seed,
        }
    return {
        "rate": args.rate,
        "arrival": args.arrival,
        "burstiness": args.burstiness,
        "ramp_to": args.ramp_to,
        "ramp": args.ramp,
        "max_concurrency": args.max_concurrency,
        "seed": args.seed,
        "trace": None if args.trace is None else str(args.trace),
    }


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """``kill`` (SIGTERM) stops a run the way Ctrl-C does, so the child mock and open streams
    are cleaned up on that path too (Python's default for SIGTERM exits without cleanup)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        # Exactly what Ctrl-C does: the SIGINT handler in force (the event loop's, while one
        # runs, which cancels the run at a safe point) takes it from here.
        signal.raise_signal(signal.SIGINT)

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals to whoever owns them
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _transports(text: str) -> list[str]:
    """``--transport``: one of ``TRANSPORTS`` or a comma list of them, each once."""
    transports = [part.strip() for part in text.split(",")]
    for transport in transports:
        if transport not in TRANSPORTS:
            raise UsageError(
                f"--transport {text!r}: {transport!r} is not one of {', '.join(TRANSPORTS)} "
                "(give one, or a comma list such as http,websocket)"
            )
    if len(set(transports)) != len(transports):
        raise UsageError(f"--transport {text!r}: a transport is given twice")
    return transports


def _check_transports(client: Client, targets: list[Target]) -> None:
    """A ``websocket`` target whose provider has no socket is the command line's mistake:
    said before any request, as a usage error."""
    for target in targets:
        try:
            client.uses_socket(client.registry.get(target.provider), target.transport)
        except ConfigError as exc:
            raise UsageError(f"--transport {target.transport}: {exc.message}") from None


def _targets(
    specs: list[str], config: Config, registry: ProviderRegistry, transports: list[str]
) -> list[Target]:
    """``ID[:MODEL]`` specs as targets, one per transport; a bare ``ID`` takes config's
    ``model`` only when it is config's ``model_provider``, since another provider's model
    name would mean nothing. Every mistake here is a usage error, and an unknown id is named
    before a missing model."""
    targets: list[Target] = []
    for spec in specs:
        provider, _, model = spec.partition(":")
        if not provider:
            raise UsageError(f"--provider {spec!r}: no provider id (use ID or ID:MODEL)")
        provider_from_command_line(registry, provider)
        if not model:
            if provider != config.model_provider or config.model is None:
                raise UsageError(
                    f"--provider {spec}: no model for {provider!r} (use {provider}:MODEL)"
                )
            model = config.model
        if any((t.provider, t.model) == (provider, model) for t in targets):
            raise UsageError(f"--provider {provider}:{model} is given twice")
        targets.extend(Target(provider, model, transport=transport) for transport in transports)
    return targets


_Sweep = tuple[list[float] | None, int] | None
"""``--sweep``: its rates (``None``: found automatically) and ``--sweep-steps``."""


class _Plan(msgspec.Struct, frozen=True):
    """How the timed requests run: a sweep, or workers sharing an open loop."""

    sweep: _Sweep = None
    workers: int | None = 1
    """``None``: one Ray actor per CPU of the cluster."""
    ray: str | None = None
    keep_records: bool = False


async def _measure(
    client: Client,
    targets: list[Target],
    settings: Settings,
    recorder: RunRecorder,
    plan: _Plan,
) -> BenchResult:
    sweep = plan.sweep
    if plan.ray is not None or (plan.workers or 1) > 1:
        return await run_workers(
            client,
            targets,
            settings,
            workers=plan.workers,
            keep_records=plan.keep_records,
            progress=recorder,
            ray=plan.ray,
        )
    if sweep is None:
        return await run_benchmark(client, targets, settings, progress=recorder)
    rates, steps = sweep
    return await run_sweeps(client, targets, settings, rates=rates, steps=steps, progress=recorder)


async def _bench(
    client: Client,
    targets: list[Target],
    settings: Settings,
    err: TextIO,
    recorder: RunRecorder,
    plan: _Plan,
) -> BenchResult:
    async with client:
        with LiveProgress(err) as progress:
            recorder.inner = progress
            return await _measure(client, targets, settings, recorder, plan)


def _bench_mock(
    client: Client,
    transports: list[str],
    settings: Settings,
    err: TextIO,
    recorder: RunRecorder,
    plan: _Plan,
) -> BenchResult:
    from ..bench._target import MockProcess, mock_arguments, mock_targets, mock_wire

    profile = MockProfile()
    recorder.mock_profile = profile
    wire_api = mock_wire(transports)
    with MockProcess(mock_arguments(profile, wire_api)) as mock:
        over = (
            ""
            if transports == ["auto"]
            else f"; its {wire_api.value} wire over {', '.join(transports)}"
        )
        err.write(
            f"modelwire bench: no target given; benchmarking the mock provider in a child "
            f"process (pid {mock.pid}) at {mock.base_url} (TTFT ~{profile.ttft_ms:g} ms, "
            f"~{profile.itl_ms:g} ms between tokens, {profile.output_tokens} tokens{over}; "
            "pass --provider ID[:MODEL] for a real one)\n"
        )
        err.flush()
        targets = mock_targets(mock.url("/v1"), client.registry, transports)
        result, overhead = anyio.run(
            _bench_and_overhead,
            client,
            targets,
            settings,
            err,
            mock,
            recorder,
            plan,
            **fastest_loop(),
        )
    return msgspec.structs.replace(result, mock_profile=profile, client_overhead=overhead)


async def _bench_and_overhead(
    client: Client,
    targets: list[Target],
    settings: Settings,
    err: TextIO,
    mock: MockServer,
    recorder: RunRecorder,
    plan: _Plan,
) -> tuple[BenchResult, ClientOverhead]:
    from ..bench._target import measure_ttft_overhead

    async with client:
        with LiveProgress(err) as progress:
            recorder.inner = progress
            result = await _measure(client, targets, settings, recorder, plan)
        overhead = await measure_ttft_overhead(client, mock)
    return result, overhead
