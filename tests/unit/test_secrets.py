"""No credential of any kind leaks: not into spans, span events, metric attributes, logs,
exception text, reprs, or the mock's request log.

Every auth kind runs with distinctive secret values, once accepted by the mock and once
rejected (so error paths and their messages are covered too), with an OpenTelemetry SDK
recording everything and logging at DEBUG. Then every surface is scanned for every secret.
"""

from __future__ import annotations

import base64
import functools
import logging
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import anyio
import httpx
import orjson
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, Request, WireApi, user
from modelwire._redact import MASK
from modelwire.config import validate_config
from modelwire.errors import AuthError, ModelwireError, ProviderError
from modelwire.mock import MockBehavior, MockProvider
from modelwire.providers import ProviderAuthInfo
from modelwire.transport import Transport
from otel_capture import Otel

ENV_KEY = "sk-envkey-SECRET-5150"
BEARER = "tok-bearer-SECRET-8086"
COMMAND_TOKEN = "cmd-token-SECRET-6502"
FAILED_COMMAND_TOKEN = "cmd-failed-SECRET-1976"
"""Printed on stdout by a command that then fails, and echoed on its stderr."""
AWS_KEY_ID = "AKIASECRET68000000"
AWS_SECRET = "aws-secret-SECRET-Z80zzzzzzzzzzzzzzzzzz"
AWS_SESSION = "aws-session-SECRET-6809"
AWS_BEARER = "bedrock-bearer-SECRET-1802"
OPENAI_KEY = "sk-openai-SECRET-8080"
ACCESS = "chatgpt-access-SECRET-4004"
REFRESH = "chatgpt-refresh-SECRET-2650"
ID_TOKEN = "chatgpt-id-SECRET-3031"
ACCOUNT = "acct-SECRET-9900"
QUERY_KEY = "query-key-SECRET-1130"
HEADER_KEY = "header-key-SECRET-6845"
"""A configured ``http_headers`` credential (``x-goog-api-key``)."""
ENV_HEADER_TOKEN = "env-header-SECRET-2114"
"""An ``env_http_headers`` credential (``x-gateway-token``) read from the environment."""
URL_USER = "url-user-SECRET-1750"
URL_PASSWORD = "url-password-SECRET-1801"
URL_BASIC = base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()
"""What a base URL's ``user:password@`` goes out as: ``Authorization: Basic <this>``."""
SECRETS = [
    ENV_KEY,
    BEARER,
    COMMAND_TOKEN,
    FAILED_COMMAND_TOKEN,
    AWS_KEY_ID,
    AWS_SECRET,
    AWS_SESSION,
    AWS_BEARER,
    OPENAI_KEY,
    ACCESS,
    REFRESH,
    ID_TOKEN,
    ACCOUNT,
    QUERY_KEY,
    HEADER_KEY,
    ENV_HEADER_TOKEN,
    URL_USER,
    URL_PASSWORD,
    URL_BASIC,
]
HI = Request(model="mock-model", messages=(user("hello secrets"),))
MODES = ["accepted", "rejected", "echoed-401", "echoed-400"]
"""The provider takes the credential; refuses it; or answers 401 / 400 with an error message
that echoes every secret the client holds for it."""


class Kind(NamedTuple):
    """One provider of the scan: what the mock demands to accept it, what it could echo."""

    provider: str
    bearer: str | None
    sigv4: bool
    held: tuple[str, ...]
    extra_env: tuple[tuple[str, str], ...] = ()


class Surfaces(Otel):
    """Everything a secret could leak into: the SDK's output, plus texts the test collects."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []


def closed_port() -> int:
    """A loopback port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_userinfo(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{URL_USER}:{URL_PASSWORD}@{rest}"


def providers(
    base: str, tmp_path: Path, *, last_refresh: str = "2099-01-01T00:00:00Z"
) -> tuple[ProviderRegistry, dict[str, str]]:
    """One provider per auth kind (and per other place a secret travels), all at ``base``."""
    script = tmp_path / "token.py"
    script.write_text(f"print({COMMAND_TOKEN!r})\n")
    failing = tmp_path / "failing.py"
    failing.write_text(
        "import sys\n"
        f'print(\'{{"token": "{FAILED_COMMAND_TOKEN}"}}\')\n'
        f"sys.stderr.write('cache write failed for {FAILED_COMMAND_TOKEN}\\n')\n"
        "sys.exit(1)\n"
    )
    home = tmp_path / "auth-home"
    home.mkdir(exist_ok=True)
    signin = {
        "tokens": {
            "id_token": ID_TOKEN,
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "account_id": ACCOUNT,
        },
        "last_refresh": last_refresh,
    }
    (home / "auth.json").write_bytes(orjson.dumps(signin))
    key_home = tmp_path / "key-home"
    key_home.mkdir(exist_ok=True)
    (key_home / "auth.json").write_bytes(orjson.dumps({"OPENAI_API_KEY": OPENAI_KEY}))
    env = {
        "LOOP_KEY": ENV_KEY,
        "GATEWAY_TOKEN": ENV_HEADER_TOKEN,
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": AWS_SESSION,
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "MODELWIRE_AUTH_HOME": str(home),
        # A rejected sign-in tries a refresh: keep it on loopback, at a port nobody serves.
        "MODELWIRE_REFRESH_TOKEN_URL_OVERRIDE": f"http://127.0.0.1:{closed_port()}/oauth/token",
    }
    config = validate_config(
        {"model_providers": {"amazon-bedrock": {"base_url": base.replace("/v1", "/openai/v1")}}}
    )
    registry = ProviderRegistry.from_config(config, env=env, catalog=None)
    chat = WireApi.CHAT
    registry.register(
        "env-key",
        ProviderInfo(
            base_url=base,
            wire_api=chat,
            env_key="LOOP_KEY",
            query_params={"key": QUERY_KEY},
            http_headers={"x-goog-api-key": HEADER_KEY},
            env_http_headers={"x-gateway-token": "GATEWAY_TOKEN"},
        ),
    )
    # The key wins over the URL's userinfo, which must stay masked all the same.
    registry.register(
        "bearer",
        ProviderInfo(base_url=with_userinfo(base), wire_api=chat, experimental_bearer_token=BEARER),
    )
    registry.register(
        "command",
        ProviderInfo(
            base_url=base,
            wire_api=chat,
            auth=ProviderAuthInfo(command=sys.executable, args=[str(script)]),
        ),
    )
    registry.register(
        "failing-command",
        ProviderInfo(
            base_url=base,
            wire_api=chat,
            auth=ProviderAuthInfo(command=sys.executable, args=[str(failing)]),
        ),
    )
    # No credential of its own: the URL's userinfo goes out as Basic auth.
    registry.register("userinfo", ProviderInfo(base_url=with_userinfo(base), wire_api=chat))
    registry.register("signin", ProviderInfo(base_url=base, requires_openai_auth=True))
    # The same credentials over a Responses WebSocket: the handshake carries them instead.
    socketed = {"wire_api": WireApi.RESPONSES, "supports_websockets": True}
    registry.register(
        "env-key-socket",
        ProviderInfo(
            base_url=base,
            env_key="LOOP_KEY",
            query_params={"key": QUERY_KEY},
            http_headers={"x-goog-api-key": HEADER_KEY},
            env_http_headers={"x-gateway-token": "GATEWAY_TOKEN"},
            **socketed,
        ),
    )
    registry.register(
        "command-socket",
        ProviderInfo(
            base_url=base,
            auth=ProviderAuthInfo(command=sys.executable, args=[str(script)]),
            **socketed,
        ),
    )
    registry.register(
        "signin-socket",
        ProviderInfo(base_url=base, requires_openai_auth=True, **socketed),
    )
    return registry, env


def kinds(tmp_path: Path) -> list[Kind]:
    userinfo = (URL_USER, URL_PASSWORD, URL_BASIC)
    return [
        Kind("env-key", ENV_KEY, False, (ENV_KEY, QUERY_KEY, HEADER_KEY, ENV_HEADER_TOKEN)),
        Kind("bearer", BEARER, False, (BEARER, *userinfo)),
        Kind("command", COMMAND_TOKEN, False, (COMMAND_TOKEN,)),
        Kind("failing-command", None, False, (FAILED_COMMAND_TOKEN,)),
        Kind("userinfo", None, False, userinfo),
        Kind("amazon-bedrock", None, True, (AWS_KEY_ID, AWS_SECRET, AWS_SESSION)),
        Kind("signin", ACCESS, False, (ACCESS, REFRESH, ID_TOKEN, ACCOUNT)),
        Kind("env-key-socket", ENV_KEY, False, (ENV_KEY, QUERY_KEY, HEADER_KEY, ENV_HEADER_TOKEN)),
        Kind("command-socket", COMMAND_TOKEN, False, (COMMAND_TOKEN,)),
        Kind("signin-socket", ACCESS, False, (ACCESS, REFRESH, ID_TOKEN, ACCOUNT)),
        # The AWS bearer token and the stored API key take the place of the others.
        Kind(
            "amazon-bedrock",
            AWS_BEARER,
            False,
            (AWS_BEARER,),
            (("AWS_BEARER_TOKEN_BEDROCK", AWS_BEARER),),
        ),
        Kind(
            "signin",
            OPENAI_KEY,
            False,
            (OPENAI_KEY,),
            (("MODELWIRE_AUTH_HOME", str(tmp_path / "key-home")),),
        ),
    ]


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


def shown_by(exc: BaseException) -> list[str]:
    """Every text a crash reporter would take from ``exc``: message, repr, excerpt, and the same
    of what it is chained to."""
    texts: list[str] = []
    for each in (exc, exc.__cause__, exc.__context__):
        if each is not None:
            texts += [str(each), repr(each), str(getattr(each, "excerpt", None))]
    return texts


async def exercise(client: Client, provider: str, surfaces: Surfaces) -> None:
    """A streamed and a non-streamed call, keeping whatever error text and reprs they show."""
    for stream in (True, False):
        try:
            if stream:
                async with client.stream(provider, HI) as events:
                    surfaces.texts.append(repr(events))
                    async for event in events:
                        surfaces.texts.append(repr(event))
            else:
                surfaces.texts.append(repr(await client.complete(provider, HI)))
        except ModelwireError as exc:
            surfaces.texts.extend(shown_by(exc))
    surfaces.texts.append(repr(client.provider(provider)))
    try:
        surfaces.texts.append(repr(client.credentials(client.provider(provider))))
    except ModelwireError as exc:
        surfaces.texts.extend(shown_by(exc))


@pytest.mark.parametrize("mode", MODES)
async def test_no_auth_kind_leaks_a_secret_anywhere(
    mock: MockProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    anyio_backend: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    surfaces = Surfaces()
    registry, env = providers(mock.url("/v1"), tmp_path)
    for kind in kinds(tmp_path):
        state = mock.state
        accepted = mode != "rejected"
        state.require_bearer = kind.bearer if accepted else "nobody-has-this"
        state.require_sigv4 = kind.sigv4 and accepted
        state.behavior = (
            MockBehavior(
                status=int(mode.removeprefix("echoed-")),
                error_message=f"you sent {' and '.join(kind.held)}",
            )
            if mode.startswith("echoed")
            else MockBehavior()
        )
        async with Client(
            registry,
            env={**env, **dict(kind.extra_env)},
            tracer_provider=surfaces.tracer_provider,
            meter_provider=surfaces.meter_provider,
        ) as client:
            await exercise(client, kind.provider, surfaces)
            surfaces.texts.append(repr(client))
            surfaces.texts.append(repr(client.sockets))
    surfaces.tracer_provider.force_flush()
    spans = surfaces.exporter.get_finished_spans()
    assert {s.name for s in spans} >= {"chat mock-model", "POST", "modelwire.auth.command"}
    calls = [s for s in spans if s.name == "chat mock-model"]
    failed = [s for s in calls if (s.attributes or {}).get("error.type")]
    # Only the failing command fails when the provider takes every credential.
    assert (len(failed) == 2) is (mode == "accepted")
    # The userinfo providers' URLs are in the spans, masked.
    urls = {str((s.attributes or {}).get("url.full")) for s in spans}
    assert any(f"://{MASK}@127.0.0.1:" in url for url in urls)
    everywhere = {
        "telemetry": surfaces.text(),
        "logs": caplog.text,
        "errors and reprs": "\n".join(surfaces.texts),
        "mock request log": orjson.dumps(mock.requests).decode(),
    }
    for surface, text in everywhere.items():
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, f"{surface} shows {leaked}"
    if mode.startswith("echoed"):
        # The echoes did reach the errors, masked: the scan above is not vacuous.
        assert "you sent ****" in everywhere["errors and reprs"]
    # The socket providers did talk over sockets: their handshakes carried the secrets.
    assert any(r["method"] == "GET" and r["path"].endswith("/responses") for r in mock.requests)
    if mode == "accepted":
        assert any(r["method"] == "WS" for r in mock.requests)
        # The userinfo was sent as Basic auth, and the key provider's key was not replaced.
        sent = [r["headers"].get("authorization", "") for r in mock.requests]
        assert f"Basic {MASK}" in sent
        assert f"Bearer {MASK}" in sent


def echo(status: int, request: httpx.Request) -> httpx.Response:
    """A provider that quotes back everything it was sent (URL and every header) in its error."""
    received = f"{request.url} " + " ".join(f"{k}={v}" for k, v in request.headers.items())
    body = orjson.dumps({"error": {"message": f"rejected: {received}", "type": "invalid"}})
    headers = {"content-type": "application/json"}
    return httpx.Response(status, stream=httpx.ByteStream(body), headers=headers)


@pytest.mark.parametrize("status", [401, 400])
async def test_a_provider_echoing_the_request_shows_no_secret_in_the_error(
    tmp_path: Path, status: int, anyio_backend: str
) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")  # too fresh to refresh on a 401
    registry, env = providers("http://127.0.0.1:9/v1", tmp_path, last_refresh=now)
    for kind in kinds(tmp_path):
        if kind.provider == "failing-command":
            continue
        transport = Transport(
            env={**env, **dict(kind.extra_env)},
            http_transport=lambda provider: httpx.MockTransport(functools.partial(echo, status)),
            sleep=lambda seconds: anyio.sleep(0),
        )
        async with Client(registry, env={**env, **dict(kind.extra_env)}, transport=transport) as c:
            with anyio.fail_after(10), pytest.raises(ModelwireError) as caught:
                await c.complete(kind.provider, HI)
        exc = caught.value
        assert isinstance(exc, AuthError if status == 401 else ProviderError), kind
        shown = "\n".join(shown_by(exc))
        assert "rejected: http://127.0.0.1:9/" in str(exc)
        leaked = [secret for secret in SECRETS if secret in shown]
        assert not leaked, f"{kind.provider}: {leaked} in {shown}"
