"""No credential of any kind leaks: not into spans, span events, metric attributes, logs,
exception text, reprs, or the mock's request log.

Every auth kind runs with distinctive secret values, once accepted by the mock and once
rejected (so error paths and their messages are covered too), with an OpenTelemetry SDK
recording everything and logging at DEBUG. Then every surface is scanned for every secret.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from modelwire import Client, ProviderInfo, ProviderRegistry, Request, WireApi, user
from modelwire.config import validate_config
from modelwire.errors import ModelwireError
from modelwire.mock import MockProvider
from modelwire.providers import ProviderAuthInfo
from otel_capture import Otel

ENV_KEY = "sk-envkey-SECRET-5150"
BEARER = "tok-bearer-SECRET-8086"
COMMAND_TOKEN = "cmd-token-SECRET-6502"
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
SECRETS = [
    ENV_KEY,
    BEARER,
    COMMAND_TOKEN,
    AWS_SECRET,
    AWS_SESSION,
    AWS_BEARER,
    OPENAI_KEY,
    ACCESS,
    REFRESH,
    ID_TOKEN,
    ACCOUNT,
    QUERY_KEY,
]
HI = Request(model="mock-model", messages=(user("hello secrets"),))


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


def providers(mock: MockProvider, tmp_path: Path) -> tuple[ProviderRegistry, dict[str, str]]:
    """One provider per auth kind, all pointed at the mock."""
    script = tmp_path / "token.py"
    script.write_text(f"print({COMMAND_TOKEN!r})\n")
    home = tmp_path / "auth-home"
    home.mkdir()
    signin = {
        "tokens": {
            "id_token": ID_TOKEN,
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "account_id": ACCOUNT,
        },
        "last_refresh": "2099-01-01T00:00:00Z",
    }
    (home / "auth.json").write_bytes(orjson.dumps(signin))
    key_home = tmp_path / "key-home"
    key_home.mkdir()
    (key_home / "auth.json").write_bytes(orjson.dumps({"OPENAI_API_KEY": OPENAI_KEY}))
    env = {
        "LOOP_KEY": ENV_KEY,
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
        {"model_providers": {"amazon-bedrock": {"base_url": mock.url("/openai/v1")}}}
    )
    registry = ProviderRegistry.from_config(config, env=env, catalog=None)
    base = mock.url("/v1")
    chat = WireApi.CHAT
    registry.register(
        "env-key",
        ProviderInfo(
            base_url=base, wire_api=chat, env_key="LOOP_KEY", query_params={"key": QUERY_KEY}
        ),
    )
    registry.register(
        "bearer", ProviderInfo(base_url=base, wire_api=chat, experimental_bearer_token=BEARER)
    )
    registry.register(
        "command",
        ProviderInfo(
            base_url=base,
            wire_api=chat,
            auth=ProviderAuthInfo(command=sys.executable, args=[str(script)]),
        ),
    )
    registry.register("signin", ProviderInfo(base_url=base, requires_openai_auth=True))
    return registry, env


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


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
            surfaces.texts.extend([str(exc), repr(exc), repr(exc.__cause__)])
    credentials = client.credentials(client.provider(provider))
    surfaces.texts.extend([repr(credentials), repr(client.provider(provider))])


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "rejected"])
async def test_no_auth_kind_leaks_a_secret_anywhere(
    mock: MockProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    accepted: bool,
    anyio_backend: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    surfaces = Surfaces()
    registry, env = providers(mock, tmp_path)
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("env-key", {"require_bearer": ENV_KEY}),
        ("bearer", {"require_bearer": BEARER}),
        ("command", {"require_bearer": COMMAND_TOKEN}),
        ("amazon-bedrock", {"require_sigv4": True}),
        ("signin", {"require_bearer": ACCESS}),
    ]
    for provider, demand in kinds:
        state = mock.state
        state.require_bearer = demand.get("require_bearer") if accepted else "nobody-has-this"
        state.require_sigv4 = bool(demand.get("require_sigv4")) and accepted
        async with Client(
            registry,
            env=env,
            tracer_provider=surfaces.tracer_provider,
            meter_provider=surfaces.meter_provider,
        ) as client:
            await exercise(client, provider, surfaces)
            surfaces.texts.append(repr(client))
    # The AWS bearer token and the stored API key take the place of the others: one call each.
    for provider, extra_env in (
        ("amazon-bedrock", {"AWS_BEARER_TOKEN_BEDROCK": AWS_BEARER}),
        ("signin", {"MODELWIRE_AUTH_HOME": str(tmp_path / "key-home")}),
    ):
        mock.state.require_sigv4 = False
        mock.state.require_bearer = (
            (AWS_BEARER if provider == "amazon-bedrock" else OPENAI_KEY)
            if accepted
            else "nobody-has-this"
        )
        async with Client(
            registry,
            env={**env, **extra_env},
            tracer_provider=surfaces.tracer_provider,
            meter_provider=surfaces.meter_provider,
        ) as client:
            await exercise(client, provider, surfaces)
    surfaces.tracer_provider.force_flush()
    spans = surfaces.exporter.get_finished_spans()
    assert {s.name for s in spans} >= {"chat mock-model", "POST", "modelwire.auth.command"}
    calls = [s for s in spans if s.name == "chat mock-model"]
    failed = [s for s in calls if (s.attributes or {}).get("error.type")]
    assert (len(failed) == 0) is accepted
    everywhere = {
        "telemetry": surfaces.text(),
        "logs": caplog.text,
        "errors and reprs": "\n".join(surfaces.texts),
        "mock request log": orjson.dumps(mock.requests).decode(),
    }
    for surface, text in everywhere.items():
        leaked = [secret for secret in SECRETS if secret in text]
        assert not leaked, f"{surface} shows {leaked}"
