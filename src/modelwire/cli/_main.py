"""The command's entry point: arguments, dispatch, exit statuses (the package docstring says
what the command promises)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import orjson

from .._redact import mask_url
from .._version import __version__
from ..config import load_config
from ..errors import ModelwireError, UnknownProviderError
from ..harness import select_harness
from ..registry import Provider, ProviderRegistry

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
"""argparse's own status for a command line it rejects; modelwire's ``UsageError`` uses it too."""
EXIT_INTERRUPTED = 130
_MAX_PORT = 65535
_EXPLICIT_ARGUMENT = re.compile(r"ignored explicit argument .*", re.DOTALL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace, Mapping[str, str], TextIO], int] = args.handler
    installed = None
    try:
        # The command is an application: it installs the OpenTelemetry SDK the OTEL_*
        # variables ask for (none by default), so `modelwire chat`/`bench` calls are exported.
        from ..telemetry import install_from_env

        installed = install_from_env(os.environ)
        return handler(args, os.environ, sys.stdout)
    except UsageError as exc:
        print(f"modelwire: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModelwireError as exc:
        print(f"modelwire: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (`| head`) went away; make the interpreter's final flush quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    finally:
        if installed is not None:
            installed.shutdown()  # flush what was recorded before exiting


class UsageError(ModelwireError):
    """The command line is wrong in a way argparse cannot see (an unknown ``--provider`` id, a
    flag that needs another): exit status 2, like argparse's own usage errors."""


def provider_from_command_line(registry: ProviderRegistry, provider_id: str) -> Provider:
    """``registry.get`` for an id the user typed: an unknown one is a usage error (with the
    registry's suggestions), raised before anything else is asked of the user or the network."""
    try:
        return registry.get(provider_id)
    except UnknownProviderError as exc:
        raise UsageError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str) -> NoReturn:
        # A value given to a flag that takes none (`--api-key=sk-...`) could be a secret:
        # argparse would quote it back, so say what is wrong without it.
        message = _EXPLICIT_ARGUMENT.sub("takes no value", message)
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelwire",
        description="Call, list, inspect and benchmark LLM providers; replay captured streams; "
        "run the mock provider.",
    )
    parser.add_argument("--version", action="version", version=f"modelwire {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    providers = commands.add_parser("providers", help="list providers, or show one")
    listing_format = providers.add_mutually_exclusive_group()
    listing_format.add_argument("--json", action="store_true", help="print a JSON array")
    listing_format.add_argument(
        "--markdown", action="store_true", help="print a Markdown table (id, name, wire API, ...)"
    )
    providers.set_defaults(handler=_cmd_providers)
    providers_sub = providers.add_subparsers(
        dest="providers_command", metavar="show", parser_class=_Parser
    )
    show = providers_sub.add_parser("show", help="print one resolved provider, secrets masked")
    show.add_argument("provider_id", metavar="ID")
    # SUPPRESS keeps `providers --json show ID` working: the sub-parser must not reset it.
    show.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print a JSON object"
    )
    show.set_defaults(handler=_cmd_providers_show)

    harness = commands.add_parser("harness", help="print the harness selected for a provider")
    harness.add_argument("--provider", metavar="ID", help="provider id (default: config's)")
    harness.add_argument("--model", metavar="M", help="model id (default: config's)")
    harness.set_defaults(handler=_cmd_harness)

    catalog = commands.add_parser("catalog", help="regenerate the bundled catalogs")
    catalog_sub = catalog.add_subparsers(
        dest="catalog_command", required=True, metavar="generate", parser_class=_Parser
    )
    generate = catalog_sub.add_parser("generate", help="regenerate one catalog file")
    generators = generate.add_subparsers(
        dest="catalog_kind", required=True, metavar="KIND", parser_class=_Parser
    )
    gen_providers = generators.add_parser(
        "providers", help="provider_catalog.json from models.dev and live model lists"
    )
    gen_providers.add_argument("--source", metavar="PATH|URL", help="models.dev api.json")
    gen_providers.add_argument(
        "--live-source",
        metavar="ID=PATH",
        action="append",
        default=[],
        type=_live_source,
        help="use a recorded /models response for a live source (repeatable)",
    )
    gen_providers.add_argument(
        "--provider",
        metavar="ID",
        action="append",
        help="regenerate only this provider, keeping the others (repeatable)",
    )
    gen_providers.add_argument("--output", metavar="PATH", type=Path)
    gen_providers.add_argument("--overrides", metavar="PATH", type=Path)
    gen_providers.set_defaults(handler=_cmd_generate_providers)
    gen_compat = generators.add_parser(
        "compatibility", help="model_compatibility_catalog.json from LiteLLM's metadata"
    )
    gen_compat.add_argument("--source", metavar="PATH|URL", help="LiteLLM metadata JSON")
    gen_compat.add_argument("--output", metavar="PATH", type=Path)
    gen_compat.add_argument("--overrides", metavar="PATH", type=Path)
    gen_compat.set_defaults(handler=_cmd_generate_compatibility)

    replay = commands.add_parser(
        "decode", help="replay a captured stream: one JSON line per common event, then the total"
    )
    replay.add_argument("--wire", required=True, choices=("responses", "chat", "messages"))
    reads = replay.add_mutually_exclusive_group()
    reads.add_argument(
        "--read-size", metavar="N", type=_positive_int, help="feed the stream N bytes per read"
    )
    reads.add_argument(
        "--cuts",
        metavar="FILE",
        type=Path,
        help='feed the reads a .chunks.json file describes: a JSON object {"cuts": [O1, O2, '
        '...], "length": N}, the byte offsets where one read ends and the next begins '
        "(strictly increasing, inside the stream) and, optionally, the stream's size in bytes; "
        "other keys are ignored",
    )
    replay.add_argument(
        "--max-event-bytes",
        metavar="N",
        type=_positive_int,
        help="refuse an SSE line or event larger than this (default 8 MiB)",
    )
    replay.add_argument("file", metavar="FILE", help="the captured body (- for stdin)")
    replay.set_defaults(handler=_cmd_decode)

    chat = commands.add_parser(
        "chat", help="stream one reply (with no provider configured: from the embedded mock)"
    )
    chat.add_argument("--provider", metavar="ID", help="provider id (default: config's)")
    chat.add_argument("--model", metavar="M", help="model id (default: config's)")
    chat.add_argument("--json", action="store_true", help="print common events as JSON lines")
    chat.add_argument(
        "--transport",
        choices=("auto", "http", "websocket"),
        default="auto",
        help="how the reply streams: auto (a WebSocket where the provider has one, else HTTP; "
        "the default), http (HTTP + SSE), websocket (a WebSocket or an error)",
    )
    chat.add_argument("prompt", metavar="PROMPT", help="the prompt; - reads it from stdin")
    chat.set_defaults(handler=_cmd_chat)

    mock = commands.add_parser(
        "mock", help="run the embedded mock provider (all three wire APIs) until interrupted"
    )
    mock.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    mock.add_argument(
        "--port", type=_port, default=0, help="port, 0-65535 (default 0: any free port)"
    )
    mock.add_argument("--log", metavar="FILE", type=Path, help="append one JSON line per request")
    mock.add_argument("--require-bearer", metavar="TOKEN", help="answer 401 without this bearer")
    mock.add_argument("--require-api-key", metavar="KEY", help="answer 401 without this x-api-key")
    mock.add_argument(
        "--require-sigv4", action="store_true", help="answer 401 without a SigV4 Authorization"
    )
    mock.add_argument(
        "--socket-deflate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="accept permessage-deflate on Responses WebSockets (default: yes); "
        "--no-socket-deflate serves frames uncompressed",
    )
    mock.add_argument(
        "--stop-with-stdin",
        action="store_true",
        help="stop when stdin reaches its end: a parent holding the pipe's other end takes the "
        "mock with it however it ends, SIGKILL included",
    )
    mock.add_argument(
        "--serial",
        action="store_true",
        help="answer one HTTP request at a time, the others queueing (a provider at capacity)",
    )
    mock.add_argument(
        "--socket-lifetime-s",
        type=_positive_float,
        default=3600.0,
        metavar="S",
        help="a WebSocket's age past which its next turn gets websocket_connection_limit_reached "
        "(default 3600, as providers do)",
    )
    mock.add_argument(
        "--demo-home",
        metavar="DIR",
        type=Path,
        help="write DIR/config.toml and DIR/auth.json pointing the providers `openai`, "
        "`anthropic` and `example` at this mock, so MODELWIRE_HOME=DIR runs the README's "
        "examples unchanged (refuses to replace files it did not write)",
    )
    latency = mock.add_argument_group(
        "default latency (a request's own x-mock-* knobs win over these)"
    )
    latency.add_argument(
        "--ttft-ms", type=_non_negative_int, metavar="MS", help="delay before the first event"
    )
    latency.add_argument(
        "--delay-ms", type=_non_negative_int, metavar="MS", help="delay between events"
    )
    latency.add_argument(
        "--output-tokens", type=_non_negative_int, metavar="N", help="text pieces per reply"
    )
    latency.add_argument(
        "--ttft-jitter",
        type=_sigma,
        default=0.0,
        metavar="SIGMA",
        help="spread --ttft-ms per request: log-normal shape, e.g. 0.25 (default 0)",
    )
    latency.add_argument(
        "--delay-jitter",
        type=_sigma,
        default=0.0,
        metavar="SIGMA",
        help="spread --delay-ms per request, one draw per reply (default 0)",
    )
    latency.add_argument(
        "--seed", type=int, metavar="N", help="seed the draws, to replay them (default: random)"
    )
    mock.set_defaults(handler=_cmd_mock)

    login = commands.add_parser(
        "login", help="store an OpenAI API key in auth.json, or show the OpenAI sign-in"
    )
    login_what = login.add_mutually_exclusive_group(required=True)
    login_what.add_argument(
        "--api-key",
        action="store_true",
        help="read a key from stdin (or a prompt with echo off) and store it, mode 0600",
    )
    login_what.add_argument(
        "--status", action="store_true", help="say what OpenAI requests authenticate with"
    )
    # Catches `login --api-key sk-...` so it can be refused without repeating the key.
    login.add_argument("command_line_secret", nargs="?", help=argparse.SUPPRESS)
    login.set_defaults(handler=_cmd_login)

    logout = commands.add_parser("logout", help="remove auth.json (the stored key or sign-in)")
    logout.set_defaults(handler=_cmd_logout)

    models = commands.add_parser(
        "models", help="a provider's models: its endpoint's list, merged with the catalogs"
    )
    models.add_argument("--provider", metavar="ID", help="provider id (default: config's)")
    models.add_argument("--json", action="store_true", help="print the models as JSON")
    models.add_argument(
        "--refresh", action="store_true", help="ask the endpoint again, not the cached list"
    )
    models.set_defaults(handler=_cmd_models)

    bench = commands.add_parser(
        "bench",
        help="latency benchmark: TTFT, inter-token, end to end, tokens/s per provider "
        "(no target: the embedded mock)",
    )
    bench.add_argument(
        "--provider",
        metavar="ID[:MODEL]",
        action="append",
        default=[],
        help="a target (repeatable); default: the embedded mock",
    )
    amount = bench.add_mutually_exclusive_group()
    amount.add_argument("--requests", type=_positive_int, metavar="N", help="requests per target")
    amount.add_argument(
        "--duration", type=_positive_float, metavar="S", help="seconds per target instead"
    )
    bench.add_argument(
        "--concurrency",
        type=_positive_int,
        default=None,
        metavar="C",
        help="closed loop: C workers, each sending when its last request ended (default 1)",
    )
    load = bench.add_argument_group(
        "open loop (send times fixed in advance; latencies also counted from them)"
    )
    shape = load.add_mutually_exclusive_group()
    shape.add_argument(
        "--rate", type=_positive_float, metavar="R", help="offer R requests per second"
    )
    shape.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="replay a JSONL trace: offset_s, prompt or prompt_tokens, max_tokens per line",
    )
    load.add_argument(
        "--arrival",
        choices=("constant", "poisson", "gamma"),
        default="poisson",
        help="inter-arrival gaps (default poisson)",
    )
    load.add_argument(
        "--burstiness",
        type=_positive_float,
        default=1.0,
        metavar="B",
        help="gamma shape: under 1 burstier than poisson, over 1 smoother (default 1)",
    )
    load.add_argument(
        "--ramp-to",
        type=_positive_float,
        metavar="R",
        help="ramp the rate to R over --duration",
    )
    load.add_argument(
        "--ramp",
        choices=("linear", "exponential"),
        default="linear",
        help="how the rate moves to --ramp-to (default linear)",
    )
    load.add_argument(
        "--max-concurrency",
        type=_positive_int,
        metavar="N",
        help="at most N in flight; the wait for a slot is measured and reported",
    )
    load.add_argument(
        "--seed", type=int, default=0, metavar="N", help="the schedule's seed (default 0)"
    )
    load.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="share the open loop's schedule among N processes (default 1: this one; with "
        "--ray, one actor per CPU of the cluster)",
    )
    load.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run the workers as Ray actors spread over a cluster (auto: RAY_ADDRESS's or a "
        "local one started for the run); needs modelwire[ray]",
    )
    load.add_argument(
        "--sweep",
        metavar="RATES|auto",
        help="one open-loop step per rate (R1,R2,... or auto: from the one-at-a-time rate to "
        "the saturated one), --requests or --duration each; with --slo, the best rate",
    )
    load.add_argument(
        "--sweep-steps",
        type=_positive_int,
        metavar="N",
        help="steps of --sweep auto (default 6)",
    )
    bench.add_argument(
        "--slo",
        metavar="SPEC",
        help="objectives for goodput, e.g. ttft=500ms,itl=50ms,e2e=10s,p=0.99 (any subset)",
    )
    prompt = bench.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", metavar="TEXT", help="the prompt every request sends")
    prompt.add_argument(
        "--prompt-tokens", type=_positive_int, metavar="N", help="a generated prompt of ~N tokens"
    )
    bench.add_argument("--max-tokens", type=_positive_int, metavar="N", help="max output tokens")
    bench.add_argument(
        "--warmup", type=_non_negative_int, default=1, metavar="N", help="untimed requests first"
    )
    bench.add_argument(
        "--transport",
        metavar="T[,T]",
        default="auto",
        help="auto (default), http or websocket, or a comma list (http,websocket): each "
        "target is benchmarked once per transport, side by side",
    )
    bench.add_argument("--json", metavar="FILE", type=Path, help="write every timing + summary")
    bench.add_argument(
        "--records",
        metavar="FILE",
        type=Path,
        help="write every request's record as JSON lines (with --workers, the only place they go)",
    )
    bench.add_argument("--plot", metavar="FILE", type=Path, help="draw latency distributions")
    bench.add_argument(
        "--html",
        metavar="FILE",
        type=Path,
        help="write one self-contained page: latency vs rate, goodput, ECDFs, timeline, table",
    )
    bench.set_defaults(handler=_cmd_bench)

    setup = commands.add_parser("setup", help="write an onboarding preset into config.toml")
    presets = setup.add_subparsers(
        dest="preset", required=True, metavar="PRESET", parser_class=_Parser
    )
    openai_key = presets.add_parser(
        "openai-api-key", help="an OpenAI provider that uses OPENAI_API_KEY, selected"
    )
    openai_key.add_argument("--model", metavar="M", help="also set the default model")
    openai_key.set_defaults(handler=_cmd_setup_openai_api_key)
    return parser


_N = TypeVar("_N", int, float)


def _bounded(kind: Callable[[str], _N], floor: _N, *, inclusive: bool) -> Callable[[str], _N]:
    """An argparse type: a number of ``kind`` above ``floor`` (or at it, when ``inclusive``)."""

    def parse(text: str) -> _N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < floor or (value == floor and not inclusive):
            bound = "at least" if inclusive else "more than"
            raise argparse.ArgumentTypeError(f"must be {bound} {floor}, got {text}")
        return value

    return parse


def _port(text: str) -> int:
    port = _non_negative_int(text)
    if port > _MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be at most {_MAX_PORT}, got {text}")
    return port


_positive_int = _bounded(int, 1, inclusive=True)
_non_negative_int = _bounded(int, 0, inclusive=True)
_positive_float = _bounded(float, 0.0, inclusive=False)


def _cmd_models(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from ._models import run_models

    return run_models(args, env, out)


def _cmd_bench(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from ._bench import run_bench

    return run_bench(args, env, out)


def _cmd_decode(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from .. import _replay

    body = _replay.read_input(args.file)
    if args.cuts is not None:
        reads: Iterable[bytes] = _replay.reads_from_cuts(body, args.cuts)
    elif args.read_size is not None:
        reads = _replay.reads_of_size(body, args.read_size)
    else:
        reads = [body]
    return _replay.replay(
        args.wire, args.file, reads, body, out, max_event_bytes=args.max_event_bytes
    )


def _cmd_chat(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from ._chat import run_chat

    prompt: str = args.prompt
    if prompt == "-":
        # `echo hi | modelwire chat -`: the newline that ends the piped text is not the prompt's.
        prompt = sys.stdin.read().rstrip("\r\n")
        if not prompt.strip():
            raise UsageError("the prompt read from stdin (`-`) is empty")
    return run_chat(
        prompt,
        provider_id=args.provider,
        model=args.model,
        as_json=args.json,
        env=env,
        out=out,
        transport=args.transport,
    )


def _cmd_login(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from ._login import run_login_api_key, run_login_status

    if args.command_line_secret is not None:
        raise UsageError(
            "`modelwire login` takes no key on the command line (it would stay in your shell "
            "history); pipe it on stdin or type it at the prompt"
        )
    if args.status:
        return run_login_status(env, out)
    import getpass

    return run_login_api_key(env, out, stdin=sys.stdin, prompt=getpass.getpass)


def _cmd_logout(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from ._login import run_logout

    return run_logout(env, out)


def _sigma(text: str) -> float:
    """A log-normal shape: a finite number, at least 0 (``nan`` passes a plain comparison)."""
    import math

    value = _bounded(float, 0.0, inclusive=True)(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _cmd_mock(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from ..mock import Jitter, MockBehavior
    from ..mock._server import serve_forever

    for spread, sigma, knob, delay in (
        ("--ttft-jitter", args.ttft_jitter, "--ttft-ms", args.ttft_ms),
        ("--delay-jitter", args.delay_jitter, "--delay-ms", args.delay_ms),
    ):
        if sigma and delay is None:
            # Jitter spreads a default; with none set there is nothing to spread.
            raise UsageError(f"{spread} spreads {knob}: give {knob} too")
    if args.log is not None:
        _check_writable(args.log, "--log")
    if args.stop_with_stdin:
        _stop_when_stdin_ends()
    try:
        serve_forever(
            host=args.host,
            port=args.port,
            log=args.log,
            require_bearer=args.require_bearer,
            require_api_key=args.require_api_key,
            require_sigv4=args.require_sigv4,
            socket_deflate=args.socket_deflate,
            socket_lifetime_s=args.socket_lifetime_s,
            serial=args.serial,
            demo_home=args.demo_home,
            behavior=MockBehavior(
                ttft_ms=args.ttft_ms, delay_ms=args.delay_ms, output_tokens=args.output_tokens
            ),
            jitter=Jitter(
                ttft_sigma=args.ttft_jitter, delay_sigma=args.delay_jitter, seed=args.seed
            ),
            out=out,
        )
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ModelwireError(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    return EXIT_OK


def _stop_when_stdin_ends() -> None:
    """SIGTERM this process once stdin is at its end, which a parent holding the pipe's write
    end causes by exiting, however it exits: a benchmark killed outright cannot leave its
    mock behind. SIGTERM, because the server stops cleanly on it (and, before its handler is
    in place, the default action ends the process just as well)."""
    import contextlib
    import signal
    import threading

    def watch() -> None:
        # The raw descriptor, not ``sys.stdin``: a daemon thread blocked in a buffered read
        # holds its lock, and the interpreter aborts at exit when it cannot take it.
        with contextlib.suppress(OSError):
            while os.read(descriptor, 65536):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    try:
        descriptor = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # no stdin at all: nothing to watch
        return

    threading.Thread(target=watch, name="modelwire-mock-stdin", daemon=True).start()


def _check_writable(path: Path, flag: str) -> None:
    """Open ``path`` for appending now, so a log that cannot be written fails the command at
    startup instead of every request later."""
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise ModelwireError(f"{flag} {path}: cannot write it: {exc.strerror or exc}") from None


def _registry(env: Mapping[str, str]) -> ProviderRegistry:
    return ProviderRegistry.from_config(load_config(env=env), env=env)


def _listing(provider: Provider) -> dict[str, Any]:
    info = provider.info
    return {
        "id": provider.id,
        "name": info.name,
        "wire_api": info.wire_api.value,
        "env_key": info.env_key,
        "base_url": None if provider.error is not None else mask_url(provider.base_url),
        "auth": info.auth_kind.value,
        "models": provider.models,
        "source": provider.source.value,
    }


def _cmd_providers(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    rows = [_listing(p) for p in _registry(env)]
    if args.json:
        out.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    if args.markdown:
        out.write("| Provider ID | Name | Wire API | Auth env | Models |\n")
        out.write("|---|---|---|---|---|\n")
        for row in rows:
            cells = (
                row["id"],
                row["name"],
                row["wire_api"],
                row["env_key"] or "",
                "" if row["models"] is None else str(row["models"]),
            )
            out.write("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "Name", "Wire API", "Auth", "Env key", "Base URL", "Models", "Source"):
        table.add_column(column, no_wrap=column in ("ID", "Base URL"))
    for row in rows:
        table.add_row(
            row["id"],
            row["name"],
            row["wire_api"],
            row["auth"],
            row["env_key"] or "-",
            row["base_url"] or "(unavailable here)",
            "-" if row["models"] is None else str(row["models"]),
            row["source"],
        )
    # Piped output is for grep and scripts: never truncate or wrap it to a guessed width.
    width = None if out.isatty() else 10_000
    # Names and URLs are data, never rich markup: "Acme [beta]" must print as written.
    Console(file=out, width=width, markup=False, highlight=False, emoji=False).print(table)
    return EXIT_OK


def _cmd_providers_show(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    config = load_config(env=env)
    registry = ProviderRegistry.from_config(config, env=env)
    provider = provider_from_command_line(registry, args.provider_id)
    info = provider.info
    shown: dict[str, Any] = {"id": provider.id, "source": provider.source.value}
    replaced = registry.replaced(provider.id)
    if replaced is not None:
        shown["replaces"] = _replaced_entry(replaced)
    shown.update(info.shown())
    shown["base_url"] = None if provider.error is not None else mask_url(provider.base_url)
    shown["auth_kind"] = info.auth_kind.value
    if info.env_key is not None:
        shown["env_key_set"] = bool(env.get(info.env_key, "").strip())
    shown["harness"] = select_harness(provider.id, info, config.model, configured=config.harness)
    if provider.error is not None:
        shown["error"] = str(provider.error)
    if getattr(args, "json", False):
        out.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    width = max(len(k) for k in shown)
    for key, value in shown.items():
        if value is None or value == {}:
            continue
        if key == "replaces":
            text = _replaces_sentence(value)
        else:
            text = orjson.dumps(value).decode() if not isinstance(value, str) else value
        out.write(f"{key.ljust(width)}  {text}\n")
    return EXIT_OK


def _replaced_entry(entry: Provider) -> dict[str, Any]:
    """The catalog entry a configured table replaces whole: what it would have been."""
    return {
        "source": entry.source.value,
        "name": entry.info.name,
        "wire_api": entry.info.wire_api.value,
        "env_key": entry.info.env_key,
        "base_url": mask_url(entry.info.effective_base_url),
    }


def _replaces_sentence(entry: dict[str, Any]) -> str:
    env_key = entry["env_key"] or "none"
    return (
        f"the {entry['source']} provider {entry['name']} whole (wire_api {entry['wire_api']}, "
        f"env_key {env_key}, base_url {entry['base_url']}): this table inherits none of it"
    )


def _cmd_harness(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    config = load_config(env=env)
    registry = ProviderRegistry.from_config(config, env=env)
    provider = (
        provider_from_command_line(registry, args.provider) if args.provider else registry.default()
    )
    model = args.model if args.model is not None else config.model
    harness = select_harness(provider.id, provider.info, model, configured=config.harness)
    out.write(f"{harness or 'none'}\n")
    return EXIT_OK


def _live_source(text: str) -> tuple[str, Path]:
    provider_id, sep, path = text.partition("=")
    if not sep or not provider_id or not path:
        raise argparse.ArgumentTypeError(f"expected ID=PATH, got {text!r}")
    return provider_id, Path(path)


def _cmd_generate_providers(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from ..catalog.bundled import PROVIDER_CATALOG_FILE, catalog_dir
    from ..catalog.providers_gen import (
        MODELS_DEV_URL,
        ProviderGeneration,
        generate_providers,
        load_provider_overrides,
    )

    output = args.output or catalog_dir() / PROVIDER_CATALOG_FILE
    overrides = load_provider_overrides(
        args.overrides or catalog_dir() / "provider_catalog_overrides.json"
    )
    generation = ProviderGeneration(overrides, env=env, live_source_files=dict(args.live_source))
    catalog = generate_providers(
        args.source or MODELS_DEV_URL, generation=generation, output=output, only=args.provider
    )
    models = sum(len(p.models) for p in catalog.providers)
    scope = f" (regenerated {', '.join(sorted(args.provider))})" if args.provider else ""
    out.write(f"wrote {len(catalog.providers)} providers, {models} models to {output}{scope}\n")
    return EXIT_OK


def _cmd_generate_compatibility(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO
) -> int:
    from ..catalog.bundled import COMPATIBILITY_CATALOG_FILE, catalog_dir
    from ..catalog.compat_gen import LITELLM_URL, generate_compatibility
    from ..catalog.schema import Visibility

    output = args.output or catalog_dir() / COMPATIBILITY_CATALOG_FILE
    catalog = generate_compatibility(
        args.source or LITELLM_URL,
        overrides_path=args.overrides or catalog_dir() / "model_compatibility_overrides.json",
        output=output,
    )
    listed = sum(1 for e in catalog.entries if e.visibility is Visibility.LIST)
    out.write(f"wrote {len(catalog.entries)} entries ({listed} listed) to {output}\n")
    return EXIT_OK


def _cmd_setup_openai_api_key(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from ..setup import OPENAI_API_KEY_PRESET, apply_preset

    result = apply_preset(OPENAI_API_KEY_PRESET, env=env, model=args.model)
    verb = "created" if result.created_file else "updated"
    out.write(f"{verb} {result.file}: model_provider = {result.provider_id!r}")
    if result.previous_provider not in (None, result.provider_id):
        out.write(f" (was {result.previous_provider!r})")
    out.write("\n")
    if not env.get("OPENAI_API_KEY", "").strip():
        out.write("note: OPENAI_API_KEY is not set; export it before making calls\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
