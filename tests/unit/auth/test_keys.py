"""Key auth: which header carries which credential, and errors that name it without its value."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from modelwire import Provider, ProviderInfo, ProviderRegistry, WireApi
from modelwire._redact import MASK
from modelwire.auth import Credentials, HeaderCredentials, NoCredentials, credentials_for
from modelwire.errors import AuthError, MissingCredentialError

SECRET = "sk-test-secret-value"


def provider(provider_id: str = "p", **fields: Any) -> Provider:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    info = ProviderInfo(
        **{"name": provider_id, "base_url": "https://api.example.test/v1", **fields}
    )
    return registry.register(provider_id, info)


async def headers_of(credentials: Credentials) -> dict[str, str]:
    request = httpx.Request("POST", "https://api.example.test/v1/x")
    await credentials.apply(request)
    return {
        k.lower(): v
        for k, v in request.headers.items()
        if k.lower() not in ("host", "content-length")
    }


async def test_env_key_is_sent_as_a_bearer_token(anyio_backend: str) -> None:
    credentials = credentials_for(provider(env_key="EXAMPLE_KEY"), {"EXAMPLE_KEY": SECRET})
    assert await headers_of(credentials) == {"authorization": f"Bearer {SECRET}"}


async def test_anthropic_takes_its_env_key_in_x_api_key(anyio_backend: str) -> None:
    anthropic = provider(
        "anthropic",
        base_url="https://api.anthropic.com",
        env_key="ANTHROPIC_API_KEY",
        wire_api=WireApi.MESSAGES,
    )
    credentials = credentials_for(anthropic, {"ANTHROPIC_API_KEY": SECRET})
    assert await headers_of(credentials) == {"x-api-key": SECRET}


async def test_other_messages_hosts_take_a_bearer_token(anyio_backend: str) -> None:
    minimax = provider(
        "minimax",
        base_url="https://api.minimax.io/anthropic/v1",
        env_key="MINIMAX_API_KEY",
        wire_api=WireApi.MESSAGES,
    )
    credentials = credentials_for(minimax, {"MINIMAX_API_KEY": SECRET})
    assert await headers_of(credentials) == {"authorization": f"Bearer {SECRET}"}


async def test_a_configured_bearer_token_is_sent_as_is(anyio_backend: str) -> None:
    credentials = credentials_for(provider(experimental_bearer_token=SECRET), {})
    assert await headers_of(credentials) == {"authorization": f"Bearer {SECRET}"}


async def test_providers_without_auth_send_no_credential(anyio_backend: str) -> None:
    credentials = credentials_for(provider(), {})
    assert isinstance(credentials, NoCredentials)
    assert await headers_of(credentials) == {}


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_unset_or_blank_key_names_the_variable_and_the_instructions(value: str | None) -> None:
    env = {} if value is None else {"EXAMPLE_KEY": value}
    target = provider(env_key="EXAMPLE_KEY", env_key_instructions="create one at example.test")
    with pytest.raises(MissingCredentialError) as caught:
        credentials_for(target, env)
    assert caught.value.variable == "EXAMPLE_KEY"
    assert "EXAMPLE_KEY" in str(caught.value)
    assert "create one at example.test" in str(caught.value)
    assert isinstance(caught.value, AuthError)


def test_the_secret_never_appears_in_reprs_or_descriptions() -> None:
    credentials = credentials_for(provider(env_key="EXAMPLE_KEY"), {"EXAMPLE_KEY": SECRET})
    assert isinstance(credentials, HeaderCredentials)
    assert SECRET not in repr(credentials)
    assert SECRET not in (credentials.description or "")
    assert credentials.description == "the environment variable EXAMPLE_KEY"


@pytest.mark.parametrize(
    "fields",
    [{"env_key": "EXAMPLE_KEY"}, {"experimental_bearer_token": SECRET}],
    ids=["env key", "bearer token"],
)
def test_the_key_is_masked_in_provider_text(fields: dict[str, Any]) -> None:
    credentials = credentials_for(provider(**fields), {"EXAMPLE_KEY": SECRET})
    assert SECRET in credentials.secret_values()
    assert credentials.redact(f'{{"error": "key {SECRET} is invalid"}}') == (
        f'{{"error": "key {MASK} is invalid"}}'
    )


def test_query_keys_and_credential_headers_are_masked_even_without_a_credential() -> None:
    keyless = provider(
        query_params={"key": "query-secret-0001"},
        http_headers={"x-goog-api-key": "header-secret-0002", "x-title": "Shown Title"},
        env_http_headers={"x-api-token": "ORG_VAR"},
    )
    env = {"ORG_VAR": "org-secret-value-0003"}
    credentials = credentials_for(keyless, env)
    assert isinstance(credentials, NoCredentials)
    echoed = "query-secret-0001 header-secret-0002 org-secret-value-0003 Shown Title"
    assert credentials.redact(echoed) == f"{MASK} {MASK} {MASK} Shown Title"
    env["ORG_VAR"] = "org-secret-rotated-0004"
    assert credentials.redact("org-secret-rotated-0004") == MASK


async def test_base_url_userinfo_is_sent_as_basic_auth_when_the_credential_is_not_a_header(
    anyio_backend: str,
) -> None:
    keyless = provider(base_url="http://alice:pa55word-1@proxy.example.test/v1")
    credentials = credentials_for(keyless, {})
    request = httpx.Request("POST", "http://alice:pa55word-1@proxy.example.test/v1/x")
    await credentials.apply(request)
    basic = base64.b64encode(b"alice:pa55word-1").decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    assert str(request.url) == "http://proxy.example.test/v1/x"
    assert (
        credentials.redact(f"denied alice:pa55word-1 ({basic})") == f"denied alice:{MASK} ({MASK})"
    )


async def test_base_url_userinfo_never_replaces_the_providers_own_authorization(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    keyed = provider(base_url="http://alice:pa55word-1@proxy.example.test/v1", env_key="K")
    credentials = credentials_for(keyed, {"K": SECRET})
    for _ in range(2):
        request = httpx.Request("POST", "http://alice:pa55word-1@proxy.example.test/v1/x")
        await credentials.apply(request)
        assert request.headers["authorization"] == f"Bearer {SECRET}"
        assert str(request.url) == "http://proxy.example.test/v1/x"
    # ...and it does reach the wire that way: httpx adds no Basic auth of its own.
    sent: list[httpx.Request] = []
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    ) as http:
        await http.send(request)
    assert sent[0].headers["authorization"] == f"Bearer {SECRET}"
    warnings = [r for r in caplog.records if "user:password@ is not sent" in r.getMessage()]
    assert len(warnings) == 1
    assert "pa55word" not in caplog.text
