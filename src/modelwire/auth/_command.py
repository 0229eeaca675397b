"""Command-backed bearer tokens: a helper program prints the token, the cache shares it.

A provider with ``auth = {command = ..., args = [...]}`` gets its token from a program (a cloud
CLI, a corporate SSO helper). Running that program costs tens of milliseconds and a process,
so it must never run per request: one token is cached and reused until it is due for renewal,
and any number of concurrent callers that find it due share one run.

When a token is due, the soonest of:

* ``refresh_interval_ms`` after the run that produced it finished (0: no interval; only a 401
  retires it);
* for a JWT with an ``exp`` claim, shortly before ``exp``: the margin is 60 s or a tenth of the
  token's remaining lifetime when it was received, whichever is smaller, so a request never
  leaves with a token that expires in flight, and a short-lived token (2 minutes, say) is still
  used for most of its life instead of being renewed on every call;
* the provider answering 401/403 with it (``unauthorized``).

The interval runs on a monotonic clock (immune to wall-clock steps); ``exp`` is checked against
the wall clock, because that is what the issuer meant, and because the monotonic clock stops
while a machine sleeps: after a suspend, an expired JWT is caught by the wall-clock check
rather than handed out. A token that is already expired when received is never handed out:
the command is run once more and, if it still prints an expired token, that is an error.

The program runs without a shell (arguments are passed as they are), with stdin on
``/dev/null``, in a new session so that a timeout can kill it together with everything it
started (``os.killpg``), and through anyio's subprocess API so the event loop keeps serving
other requests meanwhile, on asyncio and on trio alike. The run is over when the program has
exited and closed its output; a background process it leaves holding stdout open keeps the run
going until the timeout kills the group.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import logging
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import httpx

from .._redact import MASK, MIN_SECRET_CHARS, mask_values
from ..errors import AuthCommandError
from ..providers import AuthKind, ProviderAuthInfo
from ..registry import Provider
from ._base import Credentials
from ._jwt import jwt_expiry

__all__ = [
    "JWT_MARGIN_FRACTION",
    "JWT_MARGIN_S",
    "CommandCredentials",
    "CommandObserver",
    "CommandOutcome",
    "command_credentials",
]

JWT_MARGIN_S = 60.0
"""A JWT is renewed at most this long before its ``exp``..."""
JWT_MARGIN_FRACTION = 0.1
"""...or this fraction of its remaining lifetime when received, if that is less."""

STDOUT_LIMIT = 1024 * 1024
"""More output than this is not a token; it is a program printing something else."""
STDERR_KEEP = 64 * 1024
"""The tail of stderr kept while the program runs (all of it is read, so it never blocks)."""
STDERR_EXCERPT = 500
"""How much of stderr's tail an error message quotes."""
REAP_TIMEOUT_S = 5.0
"""How long to wait for a killed program to be reaped before giving up on it."""
TOKENS_KEPT = 16
"""How many of the tokens the command printed are remembered, to be masked wherever its or the
provider's text is shown: a provider may echo a token that was since renewed."""
PRINTED_PIECES = 256
"""At most this many pieces of one run's stdout are masked (a token helper prints one line;
a program printing a book is not worth masking word by word)."""
_TOKENISH = re.compile(rf"[A-Za-z0-9._~+/=\-]{{{MIN_SECRET_CHARS},}}")
"""A run of the characters tokens are made of (base64url, JWTs, hex), found inside quotes or
JSON on stdout (``{"token": "..."}``) as well as standing alone."""

_log = logging.getLogger("modelwire.auth")


class CommandOutcome(enum.StrEnum):
    """How one run of the auth command ended, as the observer hears it."""

    OK = "ok"
    START_FAILED = "start_failed"
    TIMEOUT = "timeout"
    EXIT_STATUS = "exit_status"
    NOT_UTF8 = "not_utf8"
    EMPTY = "empty"
    INVALID = "invalid"
    """Output that cannot be a bearer token: too long, or whitespace/non-ASCII inside it."""
    EXPIRED = "expired"
    CANCELLED = "cancelled"


CommandObserver = Callable[[float, CommandOutcome], None]
"""Called after every run of the command with its wall duration in seconds and how it ended.

This is the seam telemetry attaches to (a span or a histogram per run); it is called on the
event loop, so it must be quick, and whatever it raises propagates to the request that
triggered the run. It never sees the token.
"""


class _Token:
    """One token the command printed, with when it is due for renewal."""

    __slots__ = ("expires", "fresh_until", "header")

    def __init__(self, header: str, fresh_until: float, expires: float | None) -> None:
        self.header = header
        self.fresh_until = fresh_until
        """Monotonic deadline from ``refresh_interval_ms`` (``inf`` without one)."""
        self.expires = expires
        """Wall-clock deadline from a JWT's ``exp`` minus the margin, if it has one."""


class _Flight:
    """One run of the command that every caller arriving meanwhile waits for."""

    __slots__ = ("done", "error", "token")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.token: _Token | None = None
        self.error: AuthCommandError | None = None


class _Failed(Exception):
    """A run went wrong in a way the caller hears about as ``AuthCommandError``."""

    def __init__(self, outcome: CommandOutcome, message: str) -> None:
        self.outcome = outcome
        super().__init__(message)


class CommandCredentials(Credentials):
    """A bearer token printed by a command, cached and renewed as the module docstring says.

    Safe to share across tasks. ``clock`` (monotonic) and ``wall_clock`` (seconds since the
    epoch) are injectable so tests move time instead of sleeping; ``observer`` hears every run
    (see ``CommandObserver``) and may also be set after construction.
    """

    kind = AuthKind.COMMAND

    renewal_name = "modelwire.auth.command"

    def __init__(
        self,
        provider_id: str,
        auth: ProviderAuthInfo,
        env: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        observer: CommandObserver | None = None,
    ) -> None:
        self.provider_id = provider_id
        self.command_line = shlex.join([auth.command, *auth.args])
        self.description = f"the auth command `{self.command_line}`"
        self.observer = observer
        self._auth = auth
        self._env = env
        # Fixed now: a relative cwd means relative to where the process stood when the
        # credentials were resolved, not to wherever it has wandered by the next renewal.
        self._cwd = None if auth.cwd is None else Path(auth.cwd).absolute()
        self._timeout_s = auth.timeout_ms / 1000
        self._interval_s = auth.refresh_interval_ms / 1000 if auth.refresh_interval_ms else math.inf
        self._clock = clock
        self._wall_clock = wall_clock
        self._current: _Token | None = None
        self._flight: _Flight | None = None
        self._tokens_seen: deque[str] = deque(maxlen=TOKENS_KEPT)
        self._last_printed: tuple[str, ...] = ()
        # Which token this task's last request carried: ``unauthorized`` (no arguments, called
        # by the task whose request failed) must retire that one, not one renewed meanwhile.
        self._used: contextvars.ContextVar[_Token | None] = contextvars.ContextVar(
            f"modelwire_command_token_{provider_id}", default=None
        )

    def observe_renewals(self, hook: Callable[[float, str], None]) -> None:
        self.observer = hook

    def secret_values(self) -> tuple[str, ...]:
        """The tokens the command printed (the current one and the last ``TOKENS_KEPT``
        before it) and every piece of the last run's stdout, even a failed run's."""
        return (*self._tokens_seen, *self._last_printed, *super().secret_values())

    def __repr__(self) -> str:
        token = MASK if self._current is not None else None
        return (
            f"CommandCredentials(kind={self.kind.value!r}, command={self.command_line!r}, "
            f"token={token!r}, credential={self.description!r})"
        )

    async def apply(self, request: httpx.Request) -> None:
        """Attach the cached token; only a missing or due token costs more than a clock read.

        The warm path takes no lock and never awaits: every request passes here. The token is
        also noted for this task (a context variable) so that a 401 retires exactly it.
        """
        token = self._current
        if (
            token is None
            or self._clock() >= token.fresh_until
            or (token.expires is not None and self._wall_clock() >= token.expires)
        ):
            token = await self._renew(stale=token)
        self._used.set(token)
        request.headers["authorization"] = token.header
        self._move_userinfo(request)

    async def unauthorized(self) -> bool:
        """Retire the token the failing request carried and run the command for a new one.

        Every request that failed with the same token shares one run; one that arrives after
        the renewal finds the new token already there. Returns True (retry once); a failing
        run raises ``AuthCommandError`` instead.
        """
        used = self._used.get() or self._current
        if used is not None and self._current is used:
            self._current = None
        await self._renew(stale=used)
        return True

    def _usable(self, token: _Token) -> bool:
        return self._clock() < token.fresh_until and (
            token.expires is None or self._wall_clock() < token.expires
        )

    async def _renew(self, stale: _Token | None) -> _Token:
        """A token that is not ``stale`` and not due, running the command at most once for all
        concurrent callers; they share its failure too, rather than each running it again."""
        while True:
            current = self._current
            if current is not None and current is not stale and self._usable(current):
                return current
            flight = self._flight
            if flight is not None:
                await flight.done.wait()
                if flight.token is not None:
                    return flight.token
                if flight.error is not None:
                    error = flight.error
                    raise AuthCommandError(
                        str(error), provider_id=error.provider_id, credential=error.credential
                    ) from error
                continue  # the task running it was cancelled: someone runs it again
            flight = self._flight = _Flight()
            try:
                token = await self._obtain()
                self._current = flight.token = token
            except AuthCommandError as exc:
                flight.error = exc
                raise
            finally:
                self._flight = None
                flight.done.set()
            return token

    async def _obtain(self) -> _Token:
        """Run the command; once more if it printed an expired JWT (a helper that caches may
        hand out a stale token once and renew it on the next call)."""
        try:
            try:
                return await self._run()
            except _Failed as exc:
                if exc.outcome is not CommandOutcome.EXPIRED:
                    raise
            return await self._run()
        except _Failed as exc:
            raise AuthCommandError(
                f"provider {self.provider_id!r}: {self.description} {self.redact(str(exc))}",
                provider_id=self.provider_id,
                credential=self.description,
            ) from exc.__cause__

    async def _run(self) -> _Token:
        """One run of the command, reported to the observer and the debug log."""
        started = time.perf_counter()
        outcome = CommandOutcome.CANCELLED
        try:
            token = self._token(await self._execute())
        except _Failed as exc:
            outcome = exc.outcome
            raise
        else:
            outcome = CommandOutcome.OK
            return token
        finally:
            duration = time.perf_counter() - started
            _log.debug(
                "provider %r: ran %s in %.0f ms (%s)",
                self.provider_id,
                self.description,
                duration * 1000,
                outcome.value,
            )
            if self.observer is not None:
                self.observer(duration, outcome)

    def _token(self, stdout: bytes) -> _Token:
        """The printed token with its deadlines; ``_Failed`` when the output is not one."""
        try:
            text = stdout.decode("utf-8")
        except UnicodeDecodeError:
            raise _Failed(CommandOutcome.NOT_UTF8, "printed output that is not UTF-8") from None
        value = text.strip()
        if not value:
            raise _Failed(CommandOutcome.EMPTY, "printed no token (its output was empty)")
        if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
            raise _Failed(
                CommandOutcome.INVALID,
                "printed something that is not a bearer token (one line of visible ASCII "
                "characters, no spaces inside)",
            )
        if value not in self._tokens_seen:
            self._tokens_seen.append(value)
        fresh_until = self._clock() + self._interval_s
        exp = jwt_expiry(value)
        expires = None
        if exp is not None:
            remaining = exp - self._wall_clock()
            if remaining <= 0:
                raise _Failed(
                    CommandOutcome.EXPIRED,
                    f"printed a JWT that expired {-remaining:.0f} s ago (its exp claim)",
                )
            expires = exp - min(JWT_MARGIN_S, remaining * JWT_MARGIN_FRACTION)
        return _Token(f"Bearer {value}", fresh_until, expires)

    def _child_env(self) -> dict[str, str]:
        """The process environment with the client's ``env`` over it: variables the caller
        handed the client reach the helper too, and the helper still finds HOME, PATH etc."""
        if self._env is os.environ:
            return dict(os.environ)
        return {**os.environ, **self._env}

    async def _program(self, env: Mapping[str, str]) -> str:
        """The path to execute: a path is taken relative to ``cwd``, a bare name from PATH."""
        command = self._auth.command
        separators = [os.sep] + ([os.altsep] if os.altsep else [])
        if any(sep in command for sep in separators):
            path = Path(command)
            if not path.is_absolute():
                path = (self._cwd if self._cwd is not None else Path.cwd()) / path
            return str(path)
        search = env.get("PATH", os.defpath)
        found = await anyio.to_thread.run_sync(shutil.which, command, os.F_OK | os.X_OK, search)
        if found is None:
            raise _Failed(
                CommandOutcome.START_FAILED,
                f"failed to start: {command!r} is not an executable on PATH ({search})",
            )
        return found

    async def _execute(self) -> bytes:
        """Run the program to completion within the timeout and return its stdout."""
        env = self._child_env()
        program = await self._program(env)
        try:
            process = await anyio.open_process(
                [program, *self._auth.args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self._cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise _Failed(
                CommandOutcome.START_FAILED, _start_failure(program, self._cwd, exc)
            ) from exc
        stdout = bytearray()
        stderr = bytearray()
        finished = False
        try:
            assert process.stdout is not None
            assert process.stderr is not None
            with anyio.move_on_after(self._timeout_s):
                async with anyio.create_task_group() as group:
                    group.start_soon(_read_head, process.stdout, stdout, STDOUT_LIMIT + 1)
                    group.start_soon(_read_tail, process.stderr, stderr, STDERR_KEEP)
                returncode = await process.wait()
                finished = True
        finally:
            if not finished:
                # Timed out or cancelled: take the whole group down, then reap the leader so no
                # zombie is left behind (anyio kills only the leader).
                _kill_group(process)
            with anyio.CancelScope(shield=True), anyio.move_on_after(REAP_TIMEOUT_S):
                await process.aclose()
        self._last_printed = _printed_pieces(bytes(stdout))
        if not finished:
            raise _Failed(
                CommandOutcome.TIMEOUT,
                f"timed out after {self._auth.timeout_ms} ms (it and its process group were "
                "killed)",
            )
        if returncode != 0:
            ended = (
                f"was killed by signal {-returncode} ({_signal_name(-returncode)})"
                if returncode < 0
                else f"exited with status {returncode}"
            )
            excerpt = _excerpt(bytes(stderr), self.secret_values())
            detail = f"; stderr: {excerpt}" if excerpt else " (nothing on stderr)"
            raise _Failed(CommandOutcome.EXIT_STATUS, ended + detail)
        if len(stdout) > STDOUT_LIMIT:
            raise _Failed(
                CommandOutcome.INVALID, f"printed more than {STDOUT_LIMIT} bytes on stdout"
            )
        return bytes(stdout)


def command_credentials(provider: Provider, env: Mapping[str, str]) -> CommandCredentials:
    """The credentials for a provider whose config has an ``auth`` table.

    Nothing runs yet: the command runs when the first request needs a token, so resolving a
    provider that is never called costs no process.
    """
    auth = provider.info.auth
    if auth is None:
        raise AuthCommandError(
            f"provider {provider.id!r} has no auth command configured",
            provider_id=provider.id,
            credential="the auth command",
        )
    return CommandCredentials(provider.id, auth, env)


async def _read_head(stream: anyio.abc.ByteReceiveStream, into: bytearray, limit: int) -> None:
    """Keep the first ``limit`` bytes and read the rest away, so the writer never blocks."""
    async for chunk in stream:
        if len(into) < limit:
            into += chunk[: limit - len(into)]


async def _read_tail(stream: anyio.abc.ByteReceiveStream, into: bytearray, keep: int) -> None:
    """Keep about the last ``keep`` bytes: a failing program's reason is usually at the end."""
    async for chunk in stream:
        into += chunk
        if len(into) > 2 * keep:
            del into[:-keep]


def _kill_group(process: anyio.abc.Process) -> None:
    if sys.platform == "win32":  # no process groups; the command is started without a session
        process.kill()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the leader and everything it started are already gone
    except PermissionError:
        # macOS refuses killpg on a group whose only member left is the leader's zombie.
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _printed_pieces(stdout: bytes) -> tuple[str, ...]:
    """What a run printed on stdout that could be a token, to be masked wherever it is shown:
    the whole output, each line, each whitespace-separated word and each run of token
    characters, of ``MIN_SECRET_CHARS`` or more; stdout is where a token would be even when
    the program then failed."""
    text = stdout.decode("utf-8", "replace")
    pieces: dict[str, None] = {}
    for found in (
        (text.strip(),),
        (line.strip() for line in text.splitlines()),
        text.split(),
        _TOKENISH.findall(text),
    ):
        for piece in found:
            if len(piece) >= MIN_SECRET_CHARS:
                pieces[piece] = None
            if len(pieces) >= PRINTED_PIECES:
                return tuple(pieces)
    return tuple(pieces)


def _excerpt(stderr: bytes, secrets: Iterable[str]) -> str:
    """The tail of stderr for an error message, with ``secrets`` (what the command printed on
    stdout, this run and before) masked in it: masked before it is cut, so no token is shown
    in part either."""
    text = mask_values(stderr.decode("utf-8", "replace").strip(), secrets)
    if len(text) > STDERR_EXCERPT:
        text = "…" + text[-STDERR_EXCERPT:].lstrip()
    return " ".join(text.split())


def _start_failure(program: str, cwd: Path | None, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    if cwd is not None and exc.filename is not None and str(exc.filename) == str(cwd):
        return f"failed to start: its cwd {cwd} is unusable ({reason})"
    if isinstance(exc, PermissionError):
        reason += "; is it executable?"
    return f"failed to start {program}: {reason}"
