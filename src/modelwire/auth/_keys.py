"""Key auth: an API key from the environment or a configured bearer token.

Anthropic itself takes its API key in ``x-api-key``; every other provider, including other
hosts speaking the messages API, takes ``Authorization: Bearer`` (spec §1). A configured
bearer token is always sent as a bearer token.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from .._redact import MASK
from ..errors import AuthError, MissingCredentialError
from ..providers import AuthKind, WireApi
from ..registry import Provider
from ..wire.endpoints import is_anthropic
from ._base import Credentials

__all__ = ["HeaderCredentials", "key_credentials"]


class HeaderCredentials(Credentials):
    """A secret sent in one header, as ``Bearer <secret>`` or bare (``x-api-key``)."""

    __slots__ = ("_header", "_secret", "_value")

    def __init__(
        self, kind: AuthKind, header: str, secret: str, *, bearer: bool, description: str
    ) -> None:
        self.kind = kind
        self.description = description
        self._header = header
        self._secret = secret
        self._value = f"Bearer {secret}" if bearer else secret

    @property
    def header(self) -> str:
        return self._header

    async def apply(self, request: httpx.Request) -> None:
        request.headers[self._header] = self._value
        self._move_userinfo(request)

    def secret_values(self) -> tuple[str, ...]:
        return (self._secret, *super().secret_values())

    def __repr__(self) -> str:
        return (
            f"HeaderCredentials(kind={self.kind.value!r}, header={self._header!r}, "
            f"value={MASK!r}, credential={self.description!r})"
        )


def key_credentials(provider: Provider, env: Mapping[str, str]) -> HeaderCredentials:
    """An env key or a configured bearer token; ``MissingCredentialError`` when unset."""
    info = provider.info
    kind = info.auth_kind
    anthropic = info.wire_api is WireApi.MESSAGES and is_anthropic(info.name, provider.base_url)
    if kind is AuthKind.ENV_KEY:
        variable = info.env_key or ""
        secret = env.get(variable, "").strip()
        if not secret:
            raise MissingCredentialError(provider.id, variable, info.env_key_instructions)
        description = f"the environment variable {variable}"
        if anthropic:
            return HeaderCredentials(
                kind, "x-api-key", secret, bearer=False, description=description
            )
    else:
        secret = (info.experimental_bearer_token or "").strip()
        if not secret:
            raise AuthError(
                f"provider {provider.id!r} has an empty experimental_bearer_token",
                provider_id=provider.id,
                credential="the configured experimental_bearer_token",
            )
        description = "the configured experimental_bearer_token"
    return HeaderCredentials(kind, "authorization", secret, bearer=True, description=description)
