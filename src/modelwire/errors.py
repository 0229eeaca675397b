"""One exception hierarchy for everything modelwire raises.

Lower layers' errors (TOML, msgspec, httpx, subprocess) are translated at the module boundary
that meets them, with the original chained as ``__cause__``, so callers only ever need to catch
``ModelwireError`` or one of its families. No message ever carries a credential's value.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AuthCommandError",
    "AuthError",
    "CatalogError",
    "ConfigError",
    "ConnectionFailedError",
    "MissingCredentialError",
    "ModelwireError",
    "ProviderError",
    "RateLimitError",
    "StreamDecodeError",
    "StreamError",
    "StreamIdleTimeout",
    "UnknownProviderError",
]


class ModelwireError(Exception):
    """Raised for every failure modelwire reports; the root of the hierarchy."""


class ConfigError(ModelwireError):
    """Raised when configuration is unreadable, malformed, conflicting or names a removed id.

    ``file`` is the config file involved (if any) and ``key_path`` the dotted TOML key the
    problem sits at (``model_providers.example.auth.timeout_ms``), so tools can point at it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | None = None,
        key_path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.key_path = key_path
        self.message = message
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = [str(self.file)] if self.file is not None else []
        if self.key_path:
            where.append(self.key_path)
        text = f"{': '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class UnknownProviderError(ConfigError, LookupError):
    """Raised when a provider id is neither built in, in the bundled catalog, nor configured."""

    def __init__(self, provider_id: str, suggestions: list[str] | None = None) -> None:
        self.provider_id = provider_id
        self.suggestions = suggestions or []
        hint = (
            f"did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else "run `modelwire providers` to list the known ids"
        )
        super().__init__(f"unknown provider {provider_id!r}", hint=hint)


class CatalogError(ModelwireError):
    """Raised when a bundled catalog is missing or corrupt, or a generator's source fails."""


class AuthError(ModelwireError):
    """Raised when credentials cannot be obtained or the provider rejects them.

    ``provider_id`` and ``credential`` (a description such as "the environment variable
    OPENAI_API_KEY", never the value) say which credential was involved.
    """

    def __init__(
        self, message: str, *, provider_id: str | None = None, credential: str | None = None
    ) -> None:
        self.provider_id = provider_id
        self.credential = credential
        super().__init__(message)


class MissingCredentialError(AuthError):
    """Raised when a provider's ``env_key`` variable is unset or blank."""

    def __init__(self, provider_id: str, variable: str, instructions: str | None = None) -> None:
        self.variable = variable
        self.instructions = instructions
        message = f"provider {provider_id!r} needs the environment variable {variable}, which is "
        message += "unset or blank"
        if instructions:
            message += f" ({instructions})"
        super().__init__(
            message, provider_id=provider_id, credential=f"the environment variable {variable}"
        )


class AuthCommandError(AuthError):
    """Raised when an auth command fails to start, times out, exits non-zero or prints no token."""


class ProviderError(ModelwireError):
    """Raised when a provider answers with an HTTP error status.

    Carries the ``status``, the ``provider_id``, the provider's ``request_id`` header when it
    sent one, and an ``excerpt`` of the body (its error message when it has a known shape).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        provider_id: str,
        request_id: str | None = None,
        excerpt: str | None = None,
    ) -> None:
        self.status = status
        self.provider_id = provider_id
        self.request_id = request_id
        self.excerpt = excerpt
        super().__init__(message)


class RateLimitError(ProviderError):
    """Raised on HTTP 429 that is not retried, with ``retry_after`` when the provider sent one."""

    def __init__(
        self,
        message: str,
        *,
        provider_id: str,
        retry_after: float | None = None,
        request_id: str | None = None,
        excerpt: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            status=429,
            provider_id=provider_id,
            request_id=request_id,
            excerpt=excerpt,
        )


class ConnectionFailedError(ModelwireError):
    """Raised when a provider cannot be reached, or the connection fails before a response,
    on every attempt the retry policy allows."""

    def __init__(self, message: str, *, provider_id: str) -> None:
        self.provider_id = provider_id
        super().__init__(message)


class StreamError(ModelwireError):
    """Raised when a streamed response fails after it started."""


class StreamIdleTimeout(StreamError):
    """Raised when a stream delivers no byte within the provider's ``stream_idle_timeout_ms``."""


class StreamDecodeError(StreamError):
    """Raised on malformed SSE, JSON or event order in a provider's stream."""
