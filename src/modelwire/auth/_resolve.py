"""Which ``Credentials`` a provider gets: one function that knows every kind.

The kinds that need more than a header (a command's token cache, SigV4 signing, the OpenAI
sign-in state) are imported only when a provider uses them, so a program that calls key-auth
providers never loads their machinery.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..providers import AuthKind
from ..registry import Provider
from ._base import Credentials, NoCredentials
from ._keys import key_credentials

__all__ = ["credentials_for"]


def credentials_for(provider: Provider, env: Mapping[str, str]) -> Credentials:
    """The credentials ``provider`` uses in ``env`` (resolved once; the client caches them).

    Raises ``MissingCredentialError`` / ``AuthError`` when the provider's credential cannot be
    had, naming where it was looked for and never its value. The credentials also know the
    provider's other request secrets (query keys, credential headers, the base URL's userinfo),
    so ``redact`` masks everything a provider could echo back.
    """
    credentials = _resolve(provider, env)
    credentials.mask_provider(provider.info, env)
    return credentials


def _resolve(provider: Provider, env: Mapping[str, str]) -> Credentials:
    kind = provider.info.auth_kind
    if kind is AuthKind.NONE:
        return NoCredentials()
    if kind in (AuthKind.ENV_KEY, AuthKind.BEARER_TOKEN):
        return key_credentials(provider, env)
    if kind is AuthKind.COMMAND:
        from ._command import command_credentials

        return command_credentials(provider, env)
    if kind is AuthKind.AWS_SIGV4:
        from ._sigv4 import sigv4_credentials

        return sigv4_credentials(provider, env)
    from ._openai import openai_credentials

    return openai_credentials(provider, env)
