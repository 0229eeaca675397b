"""OpenAI sign-in state: API keys, ChatGPT tokens, and refreshes that never spend a token twice.

The token endpoint is a loopback server written here (stdlib ``http.server`` in a thread, so it
serves asyncio tests, trio tests and child processes alike). Like the real one, it rotates the
refresh token on every refresh and rejects a refresh token that was already used, so any path
that refreshes twice — two tasks, two processes, a lost save — fails loudly.
"""

from __future__ import annotations

import base64
import http.server
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import filelock
import httpx
import orjson
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, Request, WireApi, user
from modelwire._redact import MASK
from modelwire.auth import HeaderCredentials, credentials_for
from modelwire.auth._auth_store import read_auth, write_auth
from modelwire.auth._openai import (
    CHATGPT_BASE_URL,
    CLIENT_ID,
    ChatGPTCredentials,
    RefreshOutcome,
    openai_credentials,
    refresh_token_url,
)
from modelwire.config import Config
from modelwire.errors import AuthError, ConnectionFailedError, MissingCredentialError
from modelwire.mock import MockProvider
from modelwire.providers import AuthKind
from modelwire.registry import Provider
from modelwire.transport import Transport

API_KEY = "sk-proj-loopback-api-key-0001"
ACCOUNT = "acct-loopback-7"
FAR_FUTURE = 4_102_444_800.0  # 2100-01-01: tokens that do not expire during a test run
HI = Request(model="gpt-5", messages=(user("hello sign-in"),))


def b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()


def jwt(exp: float, subject: str) -> str:
    """An unsigned JWT: only its ``exp`` matters to the code under test."""
    return f"{b64({'alg': 'none'})}.{b64({'exp': exp, 'sub': subject})}.c2lnbmF0dXJl"


def access_token(generation: int, exp: float = FAR_FUTURE) -> str:
    return jwt(exp, f"access-{generation}-secret")


def refresh_token(generation: int) -> str:
    return f"rt-{generation}-secret"


def id_token(generation: int) -> str:
    return jwt(FAR_FUTURE, f"id-{generation}-secret")


def every_secret(upto: int = 3) -> list[str]:
    secrets = [API_KEY]
    for n in range(upto + 1):
        secrets += [access_token(n), refresh_token(n), id_token(n)]
    return secrets


# ---------------------------------------------------------------------------------------------
# The loopback token endpoint


class TokenServer:
    """OAuth refresh on loopback: generation N's refresh token buys generation N+1's tokens."""

    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.current = refresh_token(0)
        self.refreshes = 0
        self.rejected = 0
        self.bodies: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.delay_s = delay_s
        self.status: int | None = None
        self.error_body: dict[str, Any] = {}
        self.omit: set[str] = set()
        self.lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
        self._server.daemon_threads = True
        self._server.state = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/oauth/token"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(self.delay_s)
        with self.lock:
            self.bodies.append(body)
            if self.status is not None:
                return self.status, self.error_body
            if body.get("refresh_token") != self.current:
                self.rejected += 1
                return 401, {
                    "error": {
                        "message": "Your refresh token has already been used.",
                        "code": "refresh_token_reused",
                    }
                }
            self.refreshes += 1
            n = self.refreshes
            self.current = refresh_token(n)
            issued = {
                "id_token": id_token(n),
                "access_token": access_token(n),
                "refresh_token": refresh_token(n),
            }
            return 200, {k: v for k, v in issued.items() if k not in self.omit}


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = orjson.loads(self.rfile.read(length))
        state: TokenServer = self.server.state  # type: ignore[attr-defined]
        with state.lock:
            state.content_types.append(self.headers.get("content-type", ""))
        status, payload = state.answer(body)
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    server.start()
    yield server
    server.stop()


# ---------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def env_for(home: Path, server: TokenServer | None = None, **extra: str) -> dict[str, str]:
    env = {"MODELWIRE_HOME": str(home)}
    if server is not None:
        env["MODELWIRE_REFRESH_TOKEN_URL_OVERRIDE"] = server.url
    env.update(extra)
    return env


def registry() -> ProviderRegistry:
    return ProviderRegistry.from_config(Config(), env={}, catalog=None)


def openai() -> Provider:
    return registry().get("openai")


def write_json(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document))
    path.chmod(0o600)
    return path


def write_signin(
    home: Path,
    *,
    access: str | None = None,
    last_refresh: datetime | None = None,
    generation: int = 0,
    **extra: Any,
) -> Path:
    """A ChatGPT sign-in (generation 0 by default), refreshed a day ago unless told."""
    refreshed = last_refresh or datetime.now(UTC) - timedelta(days=1)
    document: dict[str, Any] = {
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": id_token(generation),
            "access_token": access or access_token(generation),
            "refresh_token": refresh_token(generation),
            "account_id": ACCOUNT,
        },
        "last_refresh": refreshed.isoformat().replace("+00:00", "Z"),
    }
    document.update(extra)
    return write_json(home / "auth.json", document)


def stored(home: Path) -> dict[str, Any]:
    data = orjson.loads((home / "auth.json").read_bytes())
    assert isinstance(data, dict)
    return data


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def sent_headers(credentials: Any) -> dict[str, str]:
    request = httpx.Request("POST", "https://example.test/v1/responses")
    await credentials.apply(request)
    return {
        k.lower(): v
        for k, v in request.headers.items()
        if k.lower() not in ("host", "content-length")
    }


class Clock:
    """Wall-clock time, moved forward on demand so tokens age without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def __call__(self) -> float:
        return time.time() + self.offset


def chatgpt(home: Path, server: TokenServer, **options: Any) -> ChatGPTCredentials:
    """The sign-in in ``home`` as ``openai_credentials`` resolves it, or built directly with
    ``options`` (a clock, a lock timeout) when a test needs them."""
    if not options:
        credentials = openai_credentials(openai(), env_for(home, server))
        assert isinstance(credentials, ChatGPTCredentials)
        return credentials
    path = home / "auth.json"
    record = read_auth(path)
    assert record is not None
    assert record.auth.tokens is not None
    return ChatGPTCredentials(
        path=path,
        tokens=record.auth.tokens,
        last_refresh=record.auth.last_refresh,
        token_url=server.url,
        **options,
    )


def loop_client(mock: MockProvider, env: dict[str, str]) -> Client:
    """A client whose ``loop`` provider takes OpenAI sign-in and talks to the mock."""
    reg = registry()
    reg.register(
        "loop",
        ProviderInfo(
            name="Loopback OpenAI",
            base_url=mock.url("/v1"),
            wire_api=WireApi.RESPONSES,
            requires_openai_auth=True,
        ),
    )
    return Client(reg, env=env, transport=Transport(env=env))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# API-key mode


async def test_a_stored_api_key_reaches_the_provider_as_a_bearer_token(
    home: Path, anyio_backend: str
) -> None:
    write_json(home / "auth.json", {"OPENAI_API_KEY": API_KEY, "tokens": None})
    async with (
        MockProvider(require_bearer=API_KEY) as mock,
        loop_client(mock, env_for(home)) as client,
    ):
        response = await client.complete("loop", HI)
    assert response.ok
    assert mock.requests[-1]["headers"]["authorization"] == "Bearer ****"
    assert "chatgpt-account-id" not in mock.requests[-1]["headers"]


async def test_without_auth_json_the_environment_key_is_used(
    home: Path, anyio_backend: str
) -> None:
    async with (
        MockProvider(require_bearer=API_KEY) as mock,
        loop_client(mock, env_for(home, OPENAI_API_KEY=API_KEY)) as client,
    ):
        assert (await client.complete("loop", HI)).ok
    credentials = openai_credentials(openai(), env_for(home, OPENAI_API_KEY=API_KEY))
    assert credentials.description == "the environment variable OPENAI_API_KEY"


def test_a_stored_key_wins_over_the_environment_and_keeps_the_api_base_url(home: Path) -> None:
    write_json(home / "auth.json", {"OPENAI_API_KEY": API_KEY})
    credentials = openai_credentials(openai(), env_for(home, OPENAI_API_KEY="sk-from-env"))
    assert isinstance(credentials, HeaderCredentials)
    assert credentials.kind is AuthKind.OPENAI
    assert credentials.description == f"the API key stored in {home / 'auth.json'}"
    assert credentials.base_url(openai()) == "https://api.openai.com/v1"


def test_with_no_sign_in_and_no_key_the_error_says_how_to_get_one(home: Path) -> None:
    with pytest.raises(MissingCredentialError) as caught:
        credentials_for(openai(), env_for(home))
    message = str(caught.value)
    assert "modelwire login --api-key" in message
    assert "OPENAI_API_KEY" in message
    assert str(home / "auth.json") in message


def test_an_auth_json_with_neither_key_nor_tokens_falls_back_to_the_environment(
    home: Path,
) -> None:
    write_json(home / "auth.json", {"OPENAI_API_KEY": None, "tokens": None})
    credentials = openai_credentials(openai(), env_for(home, OPENAI_API_KEY=API_KEY))
    assert credentials.description == "the environment variable OPENAI_API_KEY"
    with pytest.raises(MissingCredentialError, match="holds no key or sign-in"):
        openai_credentials(openai(), env_for(home))


def test_modelwire_auth_home_wins_over_modelwire_home(tmp_path: Path) -> None:
    shared = tmp_path / "codex-home"
    write_json(shared / "auth.json", {"OPENAI_API_KEY": API_KEY})
    env = env_for(tmp_path / "home", MODELWIRE_AUTH_HOME=str(shared))
    credentials = openai_credentials(openai(), env)
    assert credentials.description == f"the API key stored in {shared / 'auth.json'}"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, HeaderCredentials),
        ({"auth_mode": "chatgpt"}, ChatGPTCredentials),
        ({"auth_mode": "apikey"}, HeaderCredentials),
    ],
)
def test_a_file_with_both_kinds_follows_auth_mode_else_prefers_the_key(
    home: Path, extra: dict[str, str], expected: type
) -> None:
    write_signin(home, OPENAI_API_KEY=API_KEY, **extra)
    assert type(openai_credentials(openai(), env_for(home))) is expected


# ---------------------------------------------------------------------------------------------
# A corrupt file


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"{not json", "malformed"),
        (b"[1, 2]", "Expected object"),
        (
            orjson.dumps({"tokens": {"access_token": access_token(0), "refresh_token": 5}}),
            "$.tokens.refresh_token",
        ),
        (
            orjson.dumps({"tokens": None, "last_refresh": "yesterday"}),
            "$.last_refresh",
        ),
    ],
)
def test_a_corrupt_auth_json_is_a_clear_error_without_its_contents(
    home: Path, content: bytes, reason: str
) -> None:
    (home).mkdir(parents=True)
    (home / "auth.json").write_bytes(content)
    with pytest.raises(AuthError) as caught:
        openai_credentials(openai(), env_for(home, OPENAI_API_KEY=API_KEY))
    message = str(caught.value)
    assert str(home / "auth.json") in message
    assert "not a usable auth.json" in message
    assert reason in message
    assert "modelwire login --api-key" in message
    assert access_token(0) not in message
    assert caught.value.__cause__ is None


# ---------------------------------------------------------------------------------------------
# ChatGPT mode


async def test_a_chatgpt_sign_in_sends_its_access_token_and_account_id(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home)
    credentials = chatgpt(home, token_server)
    assert await sent_headers(credentials) == {
        "authorization": f"Bearer {access_token(0)}",
        "chatgpt-account-id": ACCOUNT,
    }
    assert token_server.refreshes == 0


def test_a_chatgpt_sign_in_talks_to_the_chatgpt_backend_instead_of_the_api(
    home: Path, token_server: TokenServer
) -> None:
    write_signin(home)
    provider = openai()
    credentials = chatgpt(home, token_server)
    assert credentials.base_url(provider) == CHATGPT_BASE_URL
    transport = Transport()
    assert transport.url(provider, "responses", credentials) == (
        "https://chatgpt.com/backend-api/codex/responses"
    )
    assert transport.url(provider, "responses") == "https://api.openai.com/v1/responses"


async def test_a_configured_base_url_wins_over_the_chatgpt_backend(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home)
    env = env_for(home, token_server)
    async with (
        MockProvider(require_bearer=access_token(0)) as mock,
        loop_client(mock, env) as client,
    ):
        credentials = client.credentials(client.provider("loop"))
        assert credentials.base_url(client.provider("loop")) == mock.url("/v1")
        response = await client.complete("loop", HI)
    assert response.ok
    sent = mock.requests[-1]
    assert sent["path"] == "/v1/responses"
    assert sent["headers"]["authorization"] == "Bearer ****"
    assert sent["headers"]["chatgpt-account-id"] == "****"  # present; the mock masks its value


def test_nanosecond_timestamps_as_codex_writes_them_are_read(
    home: Path, token_server: TokenServer
) -> None:
    write_signin(home)
    document = stored(home)
    document["last_refresh"] = "2025-08-06T20:41:36.232376123Z"
    write_json(home / "auth.json", document)
    credentials = chatgpt(home, token_server)
    record = read_auth(home / "auth.json")
    assert record is not None
    assert record.auth.last_refresh == datetime(2025, 8, 6, 20, 41, 36, 232376, tzinfo=UTC)
    assert credentials.path == home / "auth.json"


# ---------------------------------------------------------------------------------------------
# When a refresh happens


async def test_a_sign_in_refreshed_more_than_8_days_ago_is_refreshed_before_use(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, last_refresh=datetime.now(UTC) - timedelta(days=8, minutes=1))
    credentials = chatgpt(home, token_server)
    headers = await sent_headers(credentials)
    assert headers["authorization"] == f"Bearer {access_token(1)}"
    assert token_server.refreshes == 1
    saved = stored(home)
    assert saved["tokens"]["refresh_token"] == refresh_token(1)
    refreshed = datetime.fromisoformat(saved["last_refresh"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - refreshed).total_seconds()) < 60
    assert saved["last_refresh"].endswith("Z")
    assert mode_of(home / "auth.json") == 0o600


async def test_a_sign_in_refreshed_7_days_ago_with_a_live_token_is_used_as_is(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, last_refresh=datetime.now(UTC) - timedelta(days=7))
    before = (home / "auth.json").read_bytes()
    credentials = chatgpt(home, token_server)
    for _ in range(3):
        assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(0)}"
    assert token_server.refreshes == 0
    assert token_server.bodies == []
    assert (home / "auth.json").read_bytes() == before


@pytest.mark.parametrize("seconds_left", [-3600, 30])
async def test_an_expired_or_expiring_access_token_is_refreshed_before_use(
    home: Path, token_server: TokenServer, seconds_left: int, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() + seconds_left))
    credentials = chatgpt(home, token_server)
    assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(1)}"
    assert token_server.refreshes == 1


async def test_a_401_from_the_provider_refreshes_and_the_request_is_retried(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home)
    async with (
        MockProvider(require_bearer=access_token(1)) as mock,
        loop_client(mock, env_for(home, token_server)) as client,
    ):
        response = await client.complete("loop", HI)
    assert response.ok
    assert token_server.refreshes == 1
    assert len(mock.requests) == 2  # the 401, then the retry with the new token
    assert stored(home)["tokens"]["access_token"] == access_token(1)


async def test_the_refresh_request_is_codexs_json_body(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    await sent_headers(chatgpt(home, token_server))
    assert token_server.bodies == [
        {
            "client_id": CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token(0),
            "scope": "openid profile email",
        }
    ]
    assert token_server.content_types == ["application/json"]


async def test_fields_missing_from_the_refresh_answer_keep_their_old_values(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    token_server.omit = {"refresh_token", "id_token"}
    credentials = chatgpt(home, token_server)
    assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(1)}"
    tokens = stored(home)["tokens"]
    assert tokens["access_token"] == access_token(1)
    assert tokens["refresh_token"] == refresh_token(0)
    assert tokens["id_token"] == id_token(0)
    assert tokens["account_id"] == ACCOUNT


async def test_a_rewrite_keeps_keys_modelwire_does_not_know(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10), future_key={"x": [1, 2]})
    document = stored(home)
    document["tokens"]["future_token_field"] = "kept"
    write_json(home / "auth.json", document)
    await sent_headers(chatgpt(home, token_server))
    saved = stored(home)
    assert saved["future_key"] == {"x": [1, 2]}
    assert saved["OPENAI_API_KEY"] is None
    assert saved["tokens"]["future_token_field"] == "kept"
    assert saved["tokens"]["refresh_token"] == refresh_token(1)


async def test_tokens_refreshed_moments_ago_are_not_refreshed_again_on_a_401(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, last_refresh=datetime.now(UTC) - timedelta(seconds=5))
    credentials = chatgpt(home, token_server)
    await sent_headers(credentials)
    assert await credentials.unauthorized() is False
    assert token_server.bodies == []


# ---------------------------------------------------------------------------------------------
# One refresh at a time


async def test_fifty_concurrent_requests_with_an_expired_token_share_one_refresh(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    token_server.delay_s = 0.2
    credentials = chatgpt(home, token_server)
    seen: list[str] = []

    async def call() -> None:
        seen.append((await sent_headers(credentials))["authorization"])

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(call)
    assert token_server.refreshes == 1
    assert len(token_server.bodies) == 1
    assert seen == [f"Bearer {access_token(1)}"] * 50


async def test_fifty_concurrent_401s_for_one_token_share_one_refresh(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home)
    token_server.delay_s = 0.2
    credentials = chatgpt(home, token_server)
    all_applied = anyio.Event()
    applied = 0
    renewed: list[bool] = []
    after: list[str] = []

    async def request_then_401() -> None:
        nonlocal applied
        assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(0)}"
        applied += 1
        if applied == 50:
            all_applied.set()
        await all_applied.wait()
        renewed.append(await credentials.unauthorized())
        after.append((await sent_headers(credentials))["authorization"])

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(request_then_401)
    assert token_server.refreshes == 1
    assert token_server.rejected == 0
    assert renewed == [True] * 50
    assert after == [f"Bearer {access_token(1)}"] * 50


async def test_a_401_for_the_old_token_arriving_after_the_refresh_does_not_refresh_again(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home)
    credentials = chatgpt(home, token_server)
    both_sent = anyio.Event()
    first_done = anyio.Event()
    sent = 0

    async def request(first: bool) -> None:
        nonlocal sent
        await sent_headers(credentials)
        sent += 1
        if sent == 2:
            both_sent.set()
        await both_sent.wait()
        if not first:
            await first_done.wait()  # this 401 comes back only after the refresh finished
        assert await credentials.unauthorized() is True
        if first:
            first_done.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(request, True)
            group.start_soon(request, False)
    assert token_server.refreshes == 1
    assert len(token_server.bodies) == 1


def test_two_processes_refreshing_at_once_rotate_the_refresh_token_exactly_once(
    home: Path, token_server: TokenServer
) -> None:
    write_signin(home)
    token_server.delay_s = 0.3
    script = """
import os, sys, time, pathlib
import anyio, httpx
from modelwire import ProviderRegistry
from modelwire.config import Config
from modelwire.auth._openai import openai_credentials

home = pathlib.Path(os.environ["MODELWIRE_HOME"])
provider = ProviderRegistry.from_config(Config(), env={}, catalog=None).get("openai")
credentials = openai_credentials(provider, os.environ)
(home / f"ready-{sys.argv[1]}").touch()
deadline = time.monotonic() + 30
while not (home / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.002)

async def main():
    request = httpx.Request("POST", "https://example.test/")
    await credentials.apply(request)
    assert await credentials.unauthorized()
    request = httpx.Request("POST", "https://example.test/")
    await credentials.apply(request)
    print(request.headers["authorization"].removeprefix("Bearer "))

anyio.run(main)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELWIRE_", "CODEX_"))}
    env.update(env_for(home, token_server))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((home / f"ready-{n}").exists() for n in (1, 2)):
            assert time.monotonic() < deadline, "the children never loaded their credentials"
            assert all(child.poll() is None for child in children), "a child died early"
            time.sleep(0.01)
        (home / "go").touch()  # both hold generation 0 now; both see it rejected at once
        results = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == access_token(1)
    assert token_server.refreshes == 1
    assert token_server.rejected == 0
    assert len(token_server.bodies) == 1
    saved = stored(home)
    assert saved["tokens"]["refresh_token"] == refresh_token(1)
    assert saved["tokens"]["access_token"] == access_token(1)
    assert mode_of(home / "auth.json") == 0o600


async def test_tokens_another_process_already_rotated_are_adopted_without_a_refresh(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    credentials = chatgpt(home, token_server)
    outcomes: list[RefreshOutcome] = []
    credentials.on_refresh = lambda duration, outcome: outcomes.append(outcome)
    write_signin(home, generation=1, last_refresh=datetime.now(UTC))  # the other process
    token_server.current = refresh_token(1)
    assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(1)}"
    assert token_server.bodies == []
    assert outcomes == [RefreshOutcome.ADOPTED]


async def test_a_401_after_another_process_rotated_adopts_its_tokens(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home)
    credentials = chatgpt(home, token_server)
    await sent_headers(credentials)
    write_signin(home, generation=1, last_refresh=datetime.now(UTC) - timedelta(minutes=1))
    token_server.current = refresh_token(1)
    assert await credentials.unauthorized() is True
    assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(1)}"
    assert token_server.bodies == []


async def test_a_refresh_waits_for_another_process_holding_the_lock_then_gives_up(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    credentials = chatgpt(home, token_server, lock_timeout_s=0.3)
    holder = filelock.FileLock(str(home / "auth.json.lock"), thread_local=False)
    with holder:
        started = time.monotonic()
        with pytest.raises(AuthError, match="another process is updating"):
            await sent_headers(credentials)
        assert 0.25 < time.monotonic() - started < 5
    assert token_server.bodies == []
    assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(1)}"


async def test_a_cancelled_caller_does_not_abandon_a_refresh_already_sent(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    token_server.delay_s = 0.4
    credentials = chatgpt(home, token_server)
    started = time.monotonic()
    with anyio.fail_after(10), anyio.move_on_after(0.1) as scope:
        await sent_headers(credentials)
        await anyio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    assert time.monotonic() - started >= 0.35  # the refresh ran to its end regardless
    assert token_server.refreshes == 1
    assert stored(home)["tokens"]["refresh_token"] == refresh_token(1)
    assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(1)}"
    assert token_server.refreshes == 1


# ---------------------------------------------------------------------------------------------
# When a refresh fails


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            401,
            {"error": {"code": "refresh_token_reused", "message": "used"}},
            "refresh_token_reused",
        ),
        (400, {"error": "invalid_grant", "error_description": "expired"}, "invalid_grant"),
    ],
)
async def test_a_rejected_refresh_token_says_to_sign_in_again(
    home: Path,
    token_server: TokenServer,
    status: int,
    body: dict[str, Any],
    code: str,
    anyio_backend: str,
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    token_server.status, token_server.error_body = status, body
    credentials = chatgpt(home, token_server)
    outcomes: list[RefreshOutcome] = []
    credentials.on_refresh = lambda duration, outcome: outcomes.append(outcome)
    with pytest.raises(AuthError) as caught:
        await sent_headers(credentials)
    message = str(caught.value)
    assert "sign in again" in message
    assert code in message
    assert f"HTTP {status}" in message
    assert not any(secret in message for secret in every_secret())
    assert outcomes == [RefreshOutcome.REJECTED]
    assert stored(home)["tokens"]["refresh_token"] == refresh_token(0)


async def test_a_refresh_token_spent_elsewhere_is_reported_as_reused(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    token_server.current = refresh_token(5)  # rotated by someone who never saved it here
    with pytest.raises(AuthError, match="refresh_token_reused"):
        await sent_headers(chatgpt(home, token_server))
    assert token_server.rejected == 1


async def test_a_server_error_from_the_token_endpoint_says_try_again_later(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    token_server.status, token_server.error_body = 503, {"error": "overloaded"}
    with pytest.raises(AuthError, match=r"HTTP 503.*try again later") as caught:
        await sent_headers(chatgpt(home, token_server))
    assert "sign in again" not in str(caught.value)


async def test_an_unreachable_token_endpoint_is_a_connection_error(
    home: Path, anyio_backend: str
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    url = f"http://127.0.0.1:{free_port()}/oauth/token"
    credentials = openai_credentials(
        openai(), env_for(home, MODELWIRE_REFRESH_TOKEN_URL_OVERRIDE=url)
    )
    outcomes: list[tuple[float, RefreshOutcome]] = []
    assert isinstance(credentials, ChatGPTCredentials)
    credentials.on_refresh = lambda duration, outcome: outcomes.append((duration, outcome))
    with pytest.raises(ConnectionFailedError) as caught:
        await sent_headers(credentials)
    message = str(caught.value)
    assert url in message
    assert "could not reach the OpenAI token endpoint" in message
    assert not any(secret in message for secret in every_secret())
    assert [outcome for _, outcome in outcomes] == [RefreshOutcome.FAILED]


async def test_a_sign_in_removed_meanwhile_is_not_resurrected(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home)
    credentials = chatgpt(home, token_server)
    await sent_headers(credentials)
    (home / "auth.json").unlink()
    with pytest.raises(AuthError, match="is gone"):
        await credentials.unauthorized()
    assert token_server.bodies == []
    assert not (home / "auth.json").exists()


async def test_the_refresh_hook_hears_each_refresh_and_a_raising_hook_breaks_nothing(
    home: Path, token_server: TokenServer, anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    write_signin(home, access=access_token(0, exp=time.time() - 10))
    clock = Clock()
    calls: list[tuple[float, RefreshOutcome]] = []
    credentials = chatgpt(home, token_server, clock=clock)
    credentials.on_refresh = lambda duration, outcome: calls.append((duration, outcome))
    await sent_headers(credentials)
    assert len(calls) == 1
    assert calls[0][1] is RefreshOutcome.REFRESHED
    assert 0 <= calls[0][0] < 10

    def broken(duration: float, outcome: RefreshOutcome) -> None:
        raise RuntimeError("telemetry is down")

    credentials.on_refresh = broken
    clock.advance(120)  # past the grace period for fresh tokens
    with caplog.at_level(logging.WARNING, logger="modelwire"):
        assert await credentials.unauthorized() is True
    assert "the on_refresh hook raised" in caplog.text
    assert token_server.refreshes == 2
    assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(2)}"


# ---------------------------------------------------------------------------------------------
# Saving


def test_a_crash_between_write_and_rename_leaves_the_old_file_intact(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_signin(home)
    before = path.read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error (simulated crash)")

    monkeypatch.setattr(os, "replace", crash)
    record = read_auth(path)
    assert record is not None
    with pytest.raises(OSError, match="simulated crash"):
        write_auth(path, {**record.document, "OPENAI_API_KEY": "sk-new"})
    assert path.read_bytes() == before
    assert mode_of(path) == 0o600
    assert sorted(p.name for p in home.iterdir()) == ["auth.json"]


def test_a_new_file_is_private_whatever_the_umask(home: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_auth(home / "auth.json", {"OPENAI_API_KEY": API_KEY})
    finally:
        os.umask(previous)
    assert mode_of(home / "auth.json") == 0o600
    assert orjson.loads((home / "auth.json").read_bytes()) == {"OPENAI_API_KEY": API_KEY}


async def test_a_refresh_that_cannot_be_saved_still_serves_this_process(
    home: Path,
    token_server: TokenServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    anyio_backend: str,
) -> None:
    path = write_signin(home, access=access_token(0, exp=time.time() - 10))
    before = path.read_bytes()
    clock = Clock()
    credentials = chatgpt(home, token_server, clock=clock)
    real_replace = os.replace

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with caplog.at_level(logging.DEBUG, logger="modelwire"):
        assert (await sent_headers(credentials))["authorization"] == f"Bearer {access_token(1)}"
    assert path.read_bytes() == before
    assert "could not save it" in caplog.text
    assert sorted(p.name for p in home.iterdir()) == ["auth.json", "auth.json.lock"]
    # The next refresh spends the token this process holds, not the stale one on disk.
    monkeypatch.setattr(os, "replace", real_replace)
    clock.advance(120)  # past the grace period for fresh tokens
    assert await credentials.unauthorized() is True
    assert token_server.rejected == 0
    assert token_server.refreshes == 2
    assert stored(home)["tokens"]["refresh_token"] == refresh_token(2)


# ---------------------------------------------------------------------------------------------
# Secrets stay secret


async def test_no_token_appears_in_reprs_errors_or_logs(
    home: Path, token_server: TokenServer, caplog: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    write_signin(
        home,
        access=access_token(0, exp=time.time() - 10),
        OPENAI_API_KEY=API_KEY,
        auth_mode="chatgpt",
    )
    record = read_auth(home / "auth.json")
    clock = Clock()
    with caplog.at_level(logging.DEBUG):
        credentials = chatgpt(home, token_server, clock=clock)
        await sent_headers(credentials)  # a refresh, logged at every level
        token_server.status, token_server.error_body = (
            401,
            {"error": {"code": "refresh_token_reused", "message": refresh_token(1)}},
        )
        clock.advance(120)
        with pytest.raises(AuthError) as caught:
            await credentials.unauthorized()
    shown = [
        repr(credentials),
        repr(record),
        repr(record.auth if record else None),
        repr(record.auth.tokens if record else None),
        str(caught.value),
        repr(caught.value),
        caplog.text,
    ]
    for text in shown:
        for secret in [*every_secret(), ACCOUNT]:
            assert secret not in text, f"{secret[:12]}… leaked into {text[:80]!r}"
    assert "ChatGPT sign-in" in repr(credentials)
    assert caplog.text  # the refresh did log something, just nothing secret


def test_the_token_url_comes_from_modelwires_override_then_codexs(home: Path) -> None:
    assert refresh_token_url({}) == "https://auth.openai.com/oauth/token"
    codex = {"CODEX_REFRESH_TOKEN_URL_OVERRIDE": "http://127.0.0.1:1/codex"}
    assert refresh_token_url(codex) == "http://127.0.0.1:1/codex"
    both = {**codex, "MODELWIRE_REFRESH_TOKEN_URL_OVERRIDE": "http://127.0.0.1:1/mw"}
    assert refresh_token_url(both) == "http://127.0.0.1:1/mw"


async def test_every_token_of_the_sign_in_and_of_the_one_a_refresh_replaced_is_masked(
    home: Path, token_server: TokenServer, anyio_backend: str
) -> None:
    write_signin(home)
    credentials = chatgpt(home, token_server)
    first = {access_token(0), refresh_token(0), id_token(0), ACCOUNT}
    assert first <= set(credentials.secret_values())
    await sent_headers(credentials)
    assert await credentials.unauthorized()
    renewed = {access_token(1), refresh_token(1), id_token(1)}
    assert first | renewed <= set(credentials.secret_values())
    echoed = f"token {access_token(0)} was revoked, {refresh_token(1)} too, account {ACCOUNT}"
    assert credentials.redact(echoed) == f"token {MASK} was revoked, {MASK} too, account {MASK}"


def test_a_stored_api_key_is_masked(home: Path) -> None:
    write_json(home / "auth.json", {"OPENAI_API_KEY": API_KEY})
    credentials = openai_credentials(openai(), env_for(home))
    assert credentials.redact(f"Incorrect API key provided: {API_KEY}") == (
        f"Incorrect API key provided: {MASK}"
    )
