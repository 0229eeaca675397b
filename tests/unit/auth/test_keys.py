"""Key auth: which header carries which credential, and errors that name it without its value."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelwire import Provider, ProviderInfo, ProviderRegistry, WireApi
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
