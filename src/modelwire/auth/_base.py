"""The interface every kind of provider auth implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from .. import _redact
from ..providers import AuthKind

if TYPE_CHECKING:
    from ..registry import Provider

__all__ = ["Credentials", "NoCredentials"]


class Credentials:
    """Attaches one provider's credential to requests.

    ``description`` names the credential for error messages ("the environment variable
    OPENAI_API_KEY"); it never contains the secret, and neither does ``repr``.
    """

    kind: AuthKind = AuthKind.NONE
    description: str | None = None

    async def apply(self, request: httpx.Request) -> None:
        """Add the credential to ``request`` (called again, afresh, for every retry)."""

    def base_url(self, provider: Provider) -> str:
        """Where this provider's requests go with this credential: ``provider.base_url``.

        OpenAI sign-in state overrides it (a ChatGPT sign-in talks to the ChatGPT backend,
        not the API); the transport and the request encoder both ask here, never the provider.
        """
        return provider.base_url

    renewal_name: str | None = None
    """What a renewal of this credential is called in telemetry (``modelwire.auth.command``
    for command runs, ``modelwire.auth.refresh`` for sign-in refreshes); None: never renews."""

    def observe_renewals(self, hook: Callable[[float, str], None]) -> None:
        """Have ``hook(duration_s, outcome)`` hear every renewal (a command run, a token
        refresh); ``outcome`` is ``ok``/``refreshed``/``adopted`` or the kind of failure. Kinds
        that never renew ignore it."""

    async def unauthorized(self) -> bool:
        """The provider answered 401/403: renew the credential if this kind can.

        Returns whether a retry with renewed credentials is worth making; key kinds cannot
        renew, so they say no and the 401 surfaces as ``AuthError``.
        """
        return False

    def secret_values(self) -> tuple[str, ...]:
        """Every credential value this object holds now (keys, tokens, signing secrets).

        Used only to mask them out of text shown to people; each kind that holds a secret
        overrides it, and one that renews returns the current and previous values.
        """
        return ()

    def redact(self, text: str) -> str:
        """``text`` (provider or command output) with every value this credential holds masked."""
        secrets = self.secret_values()
        return _redact.mask_values(text, secrets) if secrets else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind.value!r}, credential={self.description!r})"


class NoCredentials(Credentials):
    """Local servers (Ollama, LM Studio) and open endpoints take no credential."""
