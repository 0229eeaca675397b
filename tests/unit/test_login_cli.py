"""``modelwire login`` / ``logout``: a key goes into a private auth.json and nowhere else."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelwire import ProviderRegistry
from modelwire.auth import credentials_for
from modelwire.cli import main
from modelwire.config import Config

KEY = "sk-proj-login-test-key-5150"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


class FakeTerminal(io.StringIO):
    """A stdin that says it is a terminal; reading it would be a bug (the prompt reads)."""

    def isatty(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise AssertionError("a terminal's key must come from the no-echo prompt")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MODELWIRE_AUTH_HOME", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("MODELWIRE_HOME", str(home))
    return home


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdin: io.StringIO | None = None,
) -> Result:
    monkeypatch.setattr(sys, "stdin", stdin if stdin is not None else io.StringIO(""))
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return Result(code, out, err)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_key_piped_on_stdin_is_stored_privately_and_never_printed(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(monkeypatch, capsys, "login", "--api-key", stdin=io.StringIO(f"  {KEY}\n"))
    assert result.code == 0, result.err
    path = home / "auth.json"
    assert str(path) in result.out
    assert KEY not in result.out + result.err
    assert orjson.loads(path.read_bytes()) == {
        "OPENAI_API_KEY": KEY,
        "tokens": None,
        "last_refresh": None,
    }
    assert mode_of(path) == 0o600
    assert mode_of(home) == 0o700
    assert sorted(p.name for p in home.iterdir()) == ["auth.json", "auth.json.lock"]


async def test_the_stored_key_is_what_openai_requests_carry(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    anyio_backend: str,
) -> None:
    assert run(monkeypatch, capsys, "login", "--api-key", stdin=io.StringIO(KEY)).code == 0
    provider = ProviderRegistry.from_config(Config(), env={}, catalog=None).get("openai")
    credentials = credentials_for(provider, {"MODELWIRE_HOME": str(home)})
    request = httpx.Request("POST", "https://api.openai.com/v1/responses")
    await credentials.apply(request)
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_at_a_terminal_the_key_is_read_by_a_prompt_without_echo(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return KEY

    monkeypatch.setattr("getpass.getpass", getpass)
    result = run(monkeypatch, capsys, "login", "--api-key", stdin=FakeTerminal())
    assert result.code == 0, result.err
    assert prompts == ["OpenAI API key (input hidden): "]
    assert orjson.loads((home / "auth.json").read_bytes())["OPENAI_API_KEY"] == KEY
    assert KEY not in result.out + result.err


@pytest.mark.parametrize(
    "argv",
    [("login", "--api-key", KEY), ("login", f"--api-key={KEY}"), ("login", "--status", KEY)],
)
def test_a_key_on_the_command_line_is_refused_without_being_repeated(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
) -> None:
    result = run(monkeypatch, capsys, *argv, stdin=io.StringIO("sk-from-stdin"))
    assert result.code != 0
    assert KEY not in result.out + result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (home / "auth.json").exists()


@pytest.mark.parametrize("given", ["", "   \n", "sk-one\nsk-two\n", "sk-with blank"])
def test_an_empty_or_malformed_key_is_an_error_and_writes_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    result = run(monkeypatch, capsys, "login", "--api-key", stdin=io.StringIO(given))
    assert result.code == 1
    assert result.err.startswith("modelwire: error: ")
    assert not (home / "auth.json").exists()
    for part in given.split():
        assert part not in result.err


def test_login_replaces_a_chatgpt_sign_in_and_keeps_the_file_private(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir()
    path = home / "auth.json"
    path.write_bytes(
        orjson.dumps(
            {
                "tokens": {"access_token": "at-old-secret", "refresh_token": "rt-old-secret"},
                "last_refresh": "2025-01-01T00:00:00Z",
            }
        )
    )
    path.chmod(0o644)  # written by something careless; login must not inherit that
    result = run(monkeypatch, capsys, "login", "--api-key", stdin=io.StringIO(KEY))
    assert result.code == 0, result.err
    assert "replacing the ChatGPT sign-in" in result.out
    assert orjson.loads(path.read_bytes())["tokens"] is None
    assert mode_of(path) == 0o600


def test_login_replaces_a_corrupt_auth_json(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir()
    (home / "auth.json").write_text("{broken")
    result = run(monkeypatch, capsys, "login", "--api-key", stdin=io.StringIO(KEY))
    assert result.code == 0, result.err
    assert "unreadable" in result.out
    assert orjson.loads((home / "auth.json").read_bytes())["OPENAI_API_KEY"] == KEY


def test_a_failed_write_is_one_line_and_leaves_the_old_file(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir()
    (home / "auth.json").write_text('{"OPENAI_API_KEY": "sk-old"}')

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    result = run(monkeypatch, capsys, "login", "--api-key", stdin=io.StringIO(KEY))
    assert result.code == 1
    assert (
        result.err
        == f"modelwire: error: cannot write {home / 'auth.json'}: No space left on device\n"
    )
    assert (home / "auth.json").read_text() == '{"OPENAI_API_KEY": "sk-old"}'


def test_status_names_the_kind_of_sign_in_but_no_secret(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    none = run(monkeypatch, capsys, "login", "--status")
    assert none.code == 1
    assert "not signed in" in none.out
    assert "modelwire login --api-key" in none.out

    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    from_env = run(monkeypatch, capsys, "login", "--status")
    assert from_env.code == 0
    assert "OPENAI_API_KEY from the environment" in from_env.out
    assert "sk-env-secret" not in from_env.out

    run(monkeypatch, capsys, "login", "--api-key", stdin=io.StringIO(KEY))
    keyed = run(monkeypatch, capsys, "login", "--status")
    assert keyed.code == 0
    assert keyed.out == f"signed in with an API key, stored in {home / 'auth.json'}\n"

    (home / "auth.json").write_bytes(
        orjson.dumps(
            {
                "tokens": {
                    "access_token": "at-status-secret",
                    "refresh_token": "rt-status-secret",
                    "account_id": "acct-status-secret",
                },
                "last_refresh": "2025-01-02T03:04:05Z",
            }
        )
    )
    signed_in = run(monkeypatch, capsys, "login", "--status")
    assert signed_in.code == 0
    assert "a ChatGPT sign-in (last refreshed 2025-01-02T03:04:05Z)" in signed_in.out
    assert "secret" not in signed_in.out


def test_logout_removes_the_file_and_is_harmless_when_signed_out(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(monkeypatch, capsys, "login", "--api-key", stdin=io.StringIO(KEY))
    removed = run(monkeypatch, capsys, "logout")
    assert removed.code == 0
    assert removed.out == f"removed {home / 'auth.json'}\n"
    assert not (home / "auth.json").exists()
    again = run(monkeypatch, capsys, "logout")
    assert again.code == 0
    assert "not signed in" in again.out


def test_login_with_neither_flag_is_a_usage_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(monkeypatch, capsys, "login")
    assert result.code == 2
    assert "--api-key" in result.err
    assert not home.exists()


def test_the_real_command_reads_stdin_and_prints_no_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELWIRE_", "OPENAI_"))}
    env["MODELWIRE_AUTH_HOME"] = str(tmp_path / "auth-home")
    done = subprocess.run(
        [sys.executable, "-m", "modelwire", "login", "--api-key"],
        input=KEY + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    path = tmp_path / "auth-home" / "auth.json"
    assert str(path) in done.stdout
    assert mode_of(path) == 0o600
