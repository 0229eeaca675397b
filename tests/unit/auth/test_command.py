"""Command-backed tokens: one run shared by every caller, renewed on time, failures that say why.

The commands are small helper programs written into ``tmp_path`` (Python scripts run by
``sys.executable``, or ``#!/bin/sh`` executables) that count their runs in a file, so each test
can say exactly how many times the command ran. Time is a fake clock wherever a test is about
renewal; the only real waits are the timeout and cancellation tests' sub-second deadlines.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from modelwire import (
    Client,
    ProviderAuthInfo,
    ProviderInfo,
    ProviderRegistry,
    Request,
    WireApi,
    user,
)
from modelwire._redact import MASK
from modelwire.auth import credentials_for
from modelwire.auth._command import CommandCredentials, CommandOutcome
from modelwire.errors import AuthCommandError, AuthError
from modelwire.mock import MockProvider
from modelwire.transport import RetryPolicy, Transport

LIMIT_S = 30
"""Every test finishes well within this; a hang fails instead of stalling the suite."""
SECRET = "tok-cmd-secret-7f3a9c"
ROTATED = "tok-cmd-rotated-2b8e41"
HI = Request(model="mock-model", messages=(user("hello command auth"),))
WALL = 1_800_000_000.0

TOKEN_SCRIPT = """\
import pathlib, sys, time
tokens, runs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with runs.open("a") as log:
    log.write("run\\n")
count = len(runs.read_text().splitlines())
delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
if delay:
    time.sleep(delay)
lines = tokens.read_text().splitlines()
print(lines[min(count, len(lines)) - 1])
"""
"""Run N prints line N of the token file (its last line once the lines run out)."""


class Helper:
    """A token-printing command and its bookkeeping: which tokens it hands out, how often it ran."""

    def __init__(self, tmp_path: Path, *tokens: str, delay_s: float = 0.0) -> None:
        self.script = tmp_path / "token_helper.py"
        self.script.write_text(TOKEN_SCRIPT)
        self.tokens_file = tmp_path / "tokens.txt"
        self.runs_file = tmp_path / "runs.txt"
        self.runs_file.write_text("")
        self.delay_s = delay_s
        self.set_tokens(*tokens)

    def set_tokens(self, *tokens: str) -> None:
        self.tokens_file.write_text("".join(f"{token}\n" for token in tokens))

    def add_token(self, token: str) -> None:
        with self.tokens_file.open("a") as tokens:
            tokens.write(f"{token}\n")

    @property
    def runs(self) -> int:
        return len(self.runs_file.read_text().splitlines())

    def auth(self, **fields: Any) -> ProviderAuthInfo:
        args = [str(self.script), str(self.tokens_file), str(self.runs_file)]
        if self.delay_s:
            args.append(str(self.delay_s))
        return ProviderAuthInfo(command=sys.executable, args=args, **fields)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def jwt(exp: float) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header, claims = part(b'{"alg":"none"}'), part(orjson.dumps({"exp": exp, "sub": "u"}))
    return f"{header}.{claims}.sig"


def credentials(
    auth: ProviderAuthInfo,
    *,
    clock: Clock | None = None,
    wall: Clock | None = None,
    env: dict[str, str] | None = None,
) -> CommandCredentials:
    return CommandCredentials(
        "loop",
        auth,
        env or {},
        clock=clock or Clock(100.0),
        wall_clock=wall or Clock(WALL),
    )


async def sent_token(creds: CommandCredentials) -> str | None:
    """The bearer token ``creds`` puts on a request (None when it sets none)."""
    request = httpx.Request("POST", "https://api.example.test/v1/chat/completions")
    await creds.apply(request)
    value = request.headers.get("authorization")
    return None if value is None else value.removeprefix("Bearer ")


def script(tmp_path: Path, body: str, *args: str, **fields: Any) -> ProviderAuthInfo:
    """A Python helper run by this interpreter (so it needs no PATH and no executable bit)."""
    path = tmp_path / "helper.py"
    path.write_text(body)
    return ProviderAuthInfo(command=sys.executable, args=[str(path), *args], **fields)


def executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def make_client(mock: MockProvider, auth: ProviderAuthInfo) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    info = ProviderInfo(name="Loopback", base_url=mock.url("/v1"), wire_api=WireApi.CHAT, auth=auth)
    registry.register("loop", info)
    transport = Transport(env={}, rand=lambda low, high: 0.0, policy=RetryPolicy())
    return Client(registry, env={}, transport=transport)


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs; a zombie (dead, waiting for a parent that may never reap it,
    such as a container's init) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return status.rpartition(")")[2].split()[0] not in ("Z", "X")


async def still_alive(pids: list[int], within_s: float = 5.0) -> list[int]:
    """The processes among ``pids`` that are still running after up to ``within_s``."""
    with anyio.move_on_after(within_s):
        while any(alive(pid) for pid in pids):
            await anyio.sleep(0.02)
    return [pid for pid in pids if alive(pid)]


SPAWNER = """\
import os, pathlib, subprocess, sys, time
pids = pathlib.Path(sys.argv[1])
child = subprocess.Popen([sys.argv[2], "60"])
partial = pids.with_suffix(".partial")
partial.write_text(f"{os.getpid()} {child.pid}")
partial.rename(pids)
time.sleep(60)
"""
"""Starts a grandchild ``sleep 60`` (holding stdout open too), records both pids, sleeps."""


# -- sharing one run ------------------------------------------------------------------------------


async def test_200_concurrent_requests_run_the_command_once(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET, delay_s=0.3)
    with anyio.fail_after(LIMIT_S):
        async with MockProvider(require_bearer=SECRET) as mock:
            results: list[bool] = []

            async def one(client: Client) -> None:
                results.append((await client.complete("loop", HI)).ok)

            async with make_client(mock, helper.auth()) as client:
                async with anyio.create_task_group() as group:
                    for _ in range(200):
                        group.start_soon(one, client)
                for _ in range(5):
                    await one(client)
            assert len(mock.requests) == 205
    assert results == [True] * 205
    assert helper.runs == 1


async def test_concurrent_callers_share_one_failed_run(tmp_path: Path, anyio_backend: str) -> None:
    runs = tmp_path / "runs.txt"
    auth = script(
        tmp_path,
        "import sys, time\n"
        "open(sys.argv[1], 'a').write('run\\n')\n"
        "time.sleep(0.2)\n"
        "sys.exit('helper: cannot reach the identity provider')\n",
        str(runs),
    )
    creds = credentials(auth)
    errors: list[AuthCommandError] = []

    async def one() -> None:
        try:
            await sent_token(creds)
        except AuthCommandError as exc:
            errors.append(exc)

    with anyio.fail_after(LIMIT_S):
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
        assert len(runs.read_text().splitlines()) == 1
        assert len(errors) == 20
        assert all("cannot reach the identity provider" in str(e) for e in errors)
        # A failure is not cached: the next request tries again.
        with pytest.raises(AuthCommandError):
            await sent_token(creds)
    assert len(runs.read_text().splitlines()) == 2


# -- renewal on the clock -------------------------------------------------------------------------


async def test_the_token_is_renewed_when_the_interval_has_passed_and_not_before(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET, ROTATED)
    clock = Clock(100.0)
    creds = credentials(helper.auth(refresh_interval_ms=1000), clock=clock)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == SECRET
        clock.advance(0.999)
        assert await sent_token(creds) == SECRET
        assert helper.runs == 1
        clock.advance(0.001)
        assert await sent_token(creds) == ROTATED
        assert helper.runs == 2
        clock.advance(0.5)
        assert await sent_token(creds) == ROTATED
    assert helper.runs == 2


async def test_a_zero_interval_reuses_the_token_until_a_401(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET, ROTATED)
    clock = Clock(100.0)
    creds = credentials(helper.auth(refresh_interval_ms=0), clock=clock)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == SECRET
        clock.advance(30 * 24 * 3600)
        assert await sent_token(creds) == SECRET
        assert helper.runs == 1
        assert await creds.unauthorized() is True
        assert helper.runs == 2
        assert await sent_token(creds) == ROTATED
    assert helper.runs == 2


async def test_a_jwt_is_renewed_a_tenth_of_its_lifetime_early_when_that_beats_the_interval(
    tmp_path: Path, anyio_backend: str
) -> None:
    first, second = jwt(WALL + 100), jwt(WALL + 1000)
    helper = Helper(tmp_path, first, second)
    clock, wall = Clock(100.0), Clock(WALL)
    creds = credentials(helper.auth(refresh_interval_ms=300_000), clock=clock, wall=wall)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == first
        clock.advance(89.9)
        wall.advance(89.9)
        assert await sent_token(creds) == first
        assert helper.runs == 1
        clock.advance(0.1)
        wall.advance(0.1)  # 10 s (a tenth of its 100 s) before exp, far before the interval
        assert await sent_token(creds) == second
    assert helper.runs == 2


async def test_a_long_lived_jwt_is_renewed_a_minute_before_exp(
    tmp_path: Path, anyio_backend: str
) -> None:
    first, second = jwt(WALL + 3600), jwt(WALL + 7200)
    helper = Helper(tmp_path, first, second)
    clock, wall = Clock(100.0), Clock(WALL)
    creds = credentials(helper.auth(refresh_interval_ms=0), clock=clock, wall=wall)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == first
        clock.advance(3539.9)
        wall.advance(3539.9)
        assert await sent_token(creds) == first
        clock.advance(0.1)
        wall.advance(0.1)
        assert await sent_token(creds) == second
    assert helper.runs == 2


async def test_the_interval_still_wins_when_it_comes_before_a_jwts_exp(
    tmp_path: Path, anyio_backend: str
) -> None:
    first, second = jwt(WALL + 3600), jwt(WALL + 7200)
    helper = Helper(tmp_path, first, second)
    clock, wall = Clock(100.0), Clock(WALL)
    creds = credentials(helper.auth(refresh_interval_ms=60_000), clock=clock, wall=wall)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == first
        clock.advance(60)
        wall.advance(60)
        assert await sent_token(creds) == second
    assert helper.runs == 2


async def test_an_expired_jwt_is_not_handed_out_after_the_machine_slept(
    tmp_path: Path, anyio_backend: str
) -> None:
    first, second = jwt(WALL + 600), jwt(WALL + 7200)
    helper = Helper(tmp_path, first, second)
    clock, wall = Clock(100.0), Clock(WALL)
    creds = credentials(helper.auth(refresh_interval_ms=300_000), clock=clock, wall=wall)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == first
        # Suspended for an hour: the monotonic clock stood still, the wall clock did not.
        wall.advance(3600)
        assert await sent_token(creds) == second
    assert helper.runs == 2


async def test_an_expired_jwt_from_the_command_is_replaced_by_running_it_again(
    tmp_path: Path, anyio_backend: str
) -> None:
    stale, fresh = jwt(WALL - 5), jwt(WALL + 3600)
    helper = Helper(tmp_path, stale, fresh)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(credentials(helper.auth())) == fresh
    assert helper.runs == 2


async def test_a_command_that_keeps_printing_an_expired_jwt_is_an_error_not_a_token(
    tmp_path: Path, anyio_backend: str
) -> None:
    stale = jwt(WALL - 120)
    helper = Helper(tmp_path, stale)
    creds = credentials(helper.auth())
    request = httpx.Request("POST", "https://api.example.test/v1/chat/completions")
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await creds.apply(request)
    assert "authorization" not in request.headers
    assert "expired 120 s ago" in str(caught.value)
    assert stale not in str(caught.value)
    assert helper.runs == 2


# -- 401s -----------------------------------------------------------------------------------------


async def test_a_401_renews_once_and_retries_once_and_a_second_401_is_an_auth_error(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET)
    with anyio.fail_after(LIMIT_S):
        async with (
            MockProvider(require_bearer=SECRET) as mock,
            make_client(mock, helper.auth()) as client,
        ):
            assert (await client.complete("loop", HI)).ok
            assert helper.runs == 1
            # The provider rotates the credential; the helper hands out the new one.
            helper.add_token(ROTATED)
            mock.state.require_bearer = ROTATED
            assert (await client.complete("loop", HI)).ok
            assert helper.runs == 2
            assert len(mock.requests) == 3  # 200, then 401 + the retry's 200
            # Now the provider refuses what the helper prints: one renewal, one retry.
            mock.state.require_bearer = "tok-nobody-has-this"
            with pytest.raises(AuthError) as caught:
                await client.complete("loop", HI)
            assert helper.runs == 3
            assert len(mock.requests) == 5
    message = str(caught.value)
    assert "HTTP 401" in message
    assert caught.value.credential == f"the auth command `{sys.executable} {helper.script} " + (
        f"{helper.tokens_file} {helper.runs_file}`"
    )
    assert SECRET not in message
    assert ROTATED not in message


async def test_50_concurrent_401s_for_one_token_renew_it_once(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET)
    with anyio.fail_after(LIMIT_S):
        async with (
            MockProvider(require_bearer=SECRET) as mock,
            make_client(mock, helper.auth()) as client,
        ):
            assert (await client.complete("loop", HI)).ok
            helper.add_token(ROTATED)
            mock.state.require_bearer = ROTATED
            results: list[bool] = []

            async def one() -> None:
                results.append((await client.complete("loop", HI)).ok)

            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(one)
    assert results == [True] * 50
    assert helper.runs == 2


async def test_a_401_retires_only_the_token_the_failing_request_carried(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET, ROTATED, "tok-cmd-third-9d0c")
    creds = credentials(helper.auth())
    carried = anyio.Event()
    renewed = anyio.Event()

    async def early() -> None:
        await carried.wait()
        assert await sent_token(creds) == SECRET
        assert await creds.unauthorized() is True
        renewed.set()

    async def late() -> None:
        # Carried the old token too, but its 401 arrives after the renewal: no second run.
        assert await sent_token(creds) == SECRET
        carried.set()
        await renewed.wait()
        assert await creds.unauthorized() is True

    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == SECRET
        async with anyio.create_task_group() as group:
            group.start_soon(late)
            group.start_soon(early)
        assert helper.runs == 2
        assert await sent_token(creds) == ROTATED
        # A 401 for the renewed token itself does run the command again.
        assert await creds.unauthorized() is True
        assert helper.runs == 3
        assert await sent_token(creds) == "tok-cmd-third-9d0c"


# -- how the command is run -----------------------------------------------------------------------


async def test_a_timeout_kills_the_command_and_everything_it_started(
    tmp_path: Path, anyio_backend: str
) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    pids_file = tmp_path / "pids.txt"
    creds = credentials(script(tmp_path, SPAWNER, str(pids_file), sleep, timeout_ms=1000))
    with anyio.fail_after(LIMIT_S):
        with pytest.raises(AuthCommandError) as caught:
            await sent_token(creds)
        assert "timed out after 1000 ms" in str(caught.value)
        pids = [int(pid) for pid in pids_file.read_text().split()]
        assert len(pids) == 2
        assert await still_alive(pids) == []


async def test_a_cancelled_request_kills_the_command_and_everything_it_started(
    tmp_path: Path, anyio_backend: str
) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    pids_file = tmp_path / "pids.txt"
    creds = credentials(script(tmp_path, SPAWNER, str(pids_file), sleep, timeout_ms=60_000))
    with anyio.fail_after(LIMIT_S):
        async with anyio.create_task_group() as group:
            group.start_soon(sent_token, creds)
            while not pids_file.exists():
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()
        pids = [int(pid) for pid in pids_file.read_text().split()]
        assert await still_alive(pids) == []


async def test_a_caller_waiting_on_a_cancelled_run_runs_the_command_itself(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET, delay_s=0.5)
    creds = credentials(helper.auth())
    got: list[str | None] = []
    first = anyio.CancelScope()

    async def runner() -> None:
        with first:
            got.append(await sent_token(creds))

    async def waiter() -> None:
        got.append(await sent_token(creds))

    with anyio.fail_after(LIMIT_S):
        async with anyio.create_task_group() as group:
            group.start_soon(runner)
            while helper.runs == 0:  # the runner's command has started
                await anyio.sleep(0.01)
            group.start_soon(waiter)
            await anyio.sleep(0.05)
            first.cancel()
    assert first.cancelled_caught
    assert got == [SECRET]
    assert helper.runs == 2


async def test_a_non_zero_exit_is_an_error_quoting_stderr(
    tmp_path: Path, anyio_backend: str
) -> None:
    auth = script(
        tmp_path, "import sys\nsys.stderr.write('helper: refresh token revoked\\n')\nsys.exit(3)\n"
    )
    creds = credentials(auth)
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await sent_token(creds)
    message = str(caught.value)
    assert "exited with status 3" in message
    assert "helper: refresh token revoked" in message
    assert message.startswith("provider 'loop': the auth command `")
    assert caught.value.provider_id == "loop"
    assert caught.value.credential == creds.description
    assert isinstance(caught.value, AuthError)


async def test_a_command_killed_by_a_signal_is_an_error_naming_the_signal(
    tmp_path: Path, anyio_backend: str
) -> None:
    auth = script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await sent_token(credentials(auth))
    assert "was killed by signal 15 (SIGTERM) (nothing on stderr)" in str(caught.value)


async def test_a_long_stderr_is_cut_to_its_tail_in_the_error(
    tmp_path: Path, anyio_backend: str
) -> None:
    auth = script(
        tmp_path,
        "import sys\nsys.stderr.write('noise ' * 50_000 + 'the real reason')\nsys.exit(1)\n",
    )
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await sent_token(credentials(auth))
    message = str(caught.value)
    assert message.endswith("the real reason")
    assert len(message) < 1000


@pytest.mark.parametrize(
    ("body", "expected", "outcome"),
    [
        ("print('   ')", "printed no token", CommandOutcome.EMPTY),
        ("pass", "printed no token", CommandOutcome.EMPTY),
        (
            "import sys\nsys.stdout.buffer.write(b'tok-\\xff\\xfe-x')",
            "not UTF-8",
            CommandOutcome.NOT_UTF8,
        ),
        ("print('first line')", "is not a bearer token", CommandOutcome.INVALID),
        ("print('tok-1\\ntok-2')", "is not a bearer token", CommandOutcome.INVALID),
        ("print('tok-\u00e9')", "is not a bearer token", CommandOutcome.INVALID),
        (
            "import sys\nsys.stdout.write('a' * (2 * 1024 * 1024))",
            "printed more than 1048576 bytes",
            CommandOutcome.INVALID,
        ),
    ],
)
async def test_output_that_is_no_token_is_an_error_naming_the_problem(
    tmp_path: Path, body: str, expected: str, outcome: CommandOutcome, anyio_backend: str
) -> None:
    heard: list[CommandOutcome] = []
    creds = credentials(script(tmp_path, body))
    creds.observer = lambda duration, result: heard.append(result)
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError, match=expected):
        await sent_token(creds)
    assert heard == [outcome]


async def test_a_missing_program_fails_to_start_naming_the_resolved_path(
    tmp_path: Path, anyio_backend: str
) -> None:
    auth = ProviderAuthInfo(command="bin/missing-helper", cwd=str(tmp_path))
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await sent_token(credentials(auth))
    assert f"failed to start {tmp_path / 'bin' / 'missing-helper'}" in str(caught.value)
    assert isinstance(caught.value.__cause__, FileNotFoundError)


async def test_a_program_without_the_executable_bit_fails_to_start(
    tmp_path: Path, anyio_backend: str
) -> None:
    path = tmp_path / "not-executable"
    path.write_text("#!/bin/sh\necho tok\n")
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await sent_token(credentials(ProviderAuthInfo(command=str(path))))
    assert f"failed to start {path}" in str(caught.value)
    assert "Permission denied" in str(caught.value)


async def test_a_bare_name_missing_from_path_fails_to_start(
    tmp_path: Path, anyio_backend: str
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    creds = credentials(
        ProviderAuthInfo(command="modelwire-no-such-helper"), env={"PATH": str(empty)}
    )
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await sent_token(creds)
    assert "'modelwire-no-such-helper' is not an executable on PATH" in str(caught.value)
    assert str(empty) in str(caught.value)


async def test_a_bare_name_is_found_on_the_path_in_the_clients_env(
    tmp_path: Path, anyio_backend: str
) -> None:
    bin_dir = tmp_path / "pathbin"
    executable(bin_dir / "modelwire-test-token", "#!/bin/sh\necho tok-from-path\n")
    creds = credentials(
        ProviderAuthInfo(command="modelwire-test-token"), env={"PATH": str(bin_dir)}
    )
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == "tok-from-path"


@pytest.mark.parametrize("command", ["./bin/tok", "bin/tok"])
async def test_a_relative_program_path_is_resolved_against_cwd_and_runs_there(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    helpers = tmp_path / "helpers"
    executable(helpers / "bin" / "tok", '#!/bin/sh\necho "tok-$(basename "$(pwd -P)")"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    creds = credentials(ProviderAuthInfo(command=command, cwd=str(helpers)))
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == "tok-helpers"


async def test_a_relative_cwd_is_taken_from_the_process_cwd_when_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    executable(tmp_path / "helpers" / "bin" / "tok", '#!/bin/sh\necho "tok-$(basename "$PWD")"\n')
    monkeypatch.chdir(tmp_path)
    creds = credentials(ProviderAuthInfo(command="bin/tok", cwd="helpers"))
    monkeypatch.chdir(tmp_path / "helpers" / "bin")
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == "tok-helpers"


async def test_arguments_reach_the_program_verbatim_without_a_shell(
    tmp_path: Path, anyio_backend: str
) -> None:
    literal = ["$HOME", "a; echo injected", "*", "`id`"]
    auth = script(
        tmp_path,
        f"import sys\nprint('verbatim' if sys.argv[1:] == {literal!r} else 'mangled')\n",
        *literal,
    )
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(credentials(auth)) == "verbatim"


async def test_the_commands_stdin_is_dev_null(tmp_path: Path, anyio_backend: str) -> None:
    auth = script(
        tmp_path,
        "import os\n"
        "same = os.path.samestat(os.fstat(0), os.stat(os.devnull))\n"
        "print('devnull' if same and os.read(0, 1) == b'' else 'something-else')\n",
    )
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(credentials(auth)) == "devnull"


async def test_the_observer_hears_each_run_with_its_duration_and_outcome(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET, ROTATED)
    clock = Clock(100.0)
    creds = credentials(helper.auth(refresh_interval_ms=1000), clock=clock)
    heard: list[tuple[float, CommandOutcome]] = []
    creds.observer = lambda duration, outcome: heard.append((duration, outcome))
    with anyio.fail_after(LIMIT_S):
        await sent_token(creds)
        await sent_token(creds)
        clock.advance(1)
        await sent_token(creds)
        helper.tokens_file.unlink()  # the helper now crashes
        clock.advance(1)
        with pytest.raises(AuthCommandError):
            await sent_token(creds)
    assert [outcome for _, outcome in heard] == [
        CommandOutcome.OK,
        CommandOutcome.OK,
        CommandOutcome.EXIT_STATUS,
    ]
    assert all(0 < duration < LIMIT_S for duration, _ in heard)


# -- resolution and secrecy -----------------------------------------------------------------------


def test_a_provider_with_an_auth_table_resolves_to_command_credentials_without_running_it(
    tmp_path: Path,
) -> None:
    helper = Helper(tmp_path, SECRET)
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    provider = registry.register(
        "corp", ProviderInfo(name="Corp", base_url="https://llm.corp.test/v1", auth=helper.auth())
    )
    creds = credentials_for(provider, {})
    assert isinstance(creds, CommandCredentials)
    assert creds.kind.value == "command"
    assert creds.description is not None
    assert creds.description.startswith(f"the auth command `{sys.executable} ")
    assert helper.runs == 0


async def test_the_token_is_masked_in_repr(tmp_path: Path, anyio_backend: str) -> None:
    helper = Helper(tmp_path, SECRET)
    creds = credentials(helper.auth())
    assert "token=None" in repr(creds)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == SECRET
    shown = repr(creds)
    assert SECRET not in shown
    assert f"token={MASK!r}" in shown
    assert "CommandCredentials(kind='command'" in shown


async def test_a_failing_commands_token_is_masked_in_the_error(
    tmp_path: Path, anyio_backend: str
) -> None:
    auth = script(
        tmp_path,
        "import sys\n"
        f"print({SECRET!r})\n"
        f"sys.stderr.write('debug: got token {SECRET} but the cache write failed\\n')\n"
        "sys.exit(1)\n",
    )
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await sent_token(credentials(auth))
    message = str(caught.value)
    assert SECRET not in message
    assert f"debug: got token {MASK} but the cache write failed" in message


async def test_the_token_never_reaches_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET)
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(LIMIT_S):
        async with (
            MockProvider(require_bearer=ROTATED) as mock,
            make_client(mock, helper.auth()) as client,
        ):
            helper.add_token(ROTATED)
            assert (await client.complete("loop", HI)).ok
    assert helper.runs == 2
    runs = [r for r in caplog.records if r.name == "modelwire.auth"]
    assert len(runs) == 2
    assert all("ran the auth command" in r.getMessage() for r in runs)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert ROTATED not in record.getMessage()
    assert SECRET not in caplog.text
    assert ROTATED not in caplog.text


async def test_everything_a_failing_command_printed_on_stdout_is_masked_in_its_stderr(
    tmp_path: Path, anyio_backend: str
) -> None:
    json_token = "tok-json-secret-41f0aa"
    word_token = "tok-word-secret-93c2bb"
    line = "session ready: use it well"
    auth = script(
        tmp_path,
        "import sys\n"
        f'print(\'{{"access_token": "{json_token}"}}\')\n'
        f"print('Bearer {word_token} (expires soon)')\n"
        f"print({line!r})\n"
        f"sys.stderr.write('got {json_token}; header Bearer {word_token}; said {line}\\n')\n"
        "sys.exit(2)\n",
    )
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthCommandError) as caught:
        await sent_token(credentials(auth))
    for shown in (str(caught.value), repr(caught.value), repr(caught.value.__context__)):
        assert json_token not in shown
        assert word_token not in shown
        assert line not in shown
    assert f"got {MASK}; header Bearer {MASK}" in str(caught.value)


async def test_a_token_from_an_earlier_run_is_masked_when_a_later_run_fails(
    tmp_path: Path, anyio_backend: str
) -> None:
    runs = tmp_path / "runs.txt"
    auth = script(
        tmp_path,
        "import pathlib, sys\n"
        "runs = pathlib.Path(sys.argv[1])\n"
        "runs.write_text(runs.read_text() + 'run\\n' if runs.exists() else 'run\\n')\n"
        "if len(runs.read_text().splitlines()) == 1:\n"
        f"    print({SECRET!r})\n"
        "else:\n"
        f"    sys.stderr.write('could not renew {SECRET}: revoked\\n')\n"
        "    sys.exit(1)\n",
        str(runs),
    )
    creds = credentials(auth)
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == SECRET
        with pytest.raises(AuthCommandError) as caught:
            await creds.unauthorized()
    message = str(caught.value)
    assert f"could not renew {MASK}: revoked" in message
    assert SECRET not in message + repr(caught.value)


async def test_the_current_and_the_renewed_away_token_are_both_masked(
    tmp_path: Path, anyio_backend: str
) -> None:
    helper = Helper(tmp_path, SECRET, ROTATED)
    creds = credentials(helper.auth())
    with anyio.fail_after(LIMIT_S):
        assert await sent_token(creds) == SECRET
        assert await creds.unauthorized()
        assert await sent_token(creds) == ROTATED
    assert {SECRET, ROTATED} <= set(creds.secret_values())
    echoed = f"token {ROTATED} rejected; {SECRET} was revoked"
    assert creds.redact(echoed) == f"token {MASK} rejected; {MASK} was revoked"
