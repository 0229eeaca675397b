"""One exception hierarchy for everything modelwire raises.

Lower layers' errors (TOML, msgspec, httpx, subprocess) are translated at the module boundary
that meets them, so callers only ever need to catch ``ModelwireError`` or one of its families.
No message ever carries a credential's value. An HTTP failure is never chained as the raw httpx
exception (its ``.request`` holds the request's headers and URL, credentials included, and crash
reporters read those attributes): its cause is a ``TransportCause`` naming only the exception's
type and its masked message.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AuthCommandError",
    "AuthError",
    "CatalogError",
    "ConfigError",
    "ConnectionFailedError",
    "DeadlineExceeded",
    "MissingCredentialError",
    "ModelwireError",
    "ProviderError",
    "RateLimitError",
    "ResponseTimeout",
    "StreamDecodeError",
    "StreamError",
    "StreamIdleTimeout",
    "TransportCause",
    "UnknownProviderError",
    "UnusableResponseError",
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


class UnusableResponseError(ProviderError):
    """Raised when a provider answers with a success status but a body no call can use.

    A non-JSON content type to a non-streamed call (a proxy's or captive portal's HTML page), a
    body over the size cap, a content encoding modelwire does not decode, or a corrupt
    compressed body. ``excerpt`` holds the start of the body when it is text.
    """


class TransportCause(Exception):
    """The ``__cause__`` of an error translated from httpx: the original's type name (``kind``)
    and its message with credentials masked, and nothing else (no request, no response)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}" if message else kind)


class ConnectionFailedError(ModelwireError):
    """Raised when a provider cannot be reached, or the connection fails before a response
    (or, for a non-streamed call, before its whole body arrived), on every attempt the retry
    policy allows; at once for failures no retry can mend (a certificate that does not verify,
    a request that cannot be sent as built)."""

    def __init__(self, message: str, *, provider_id: str) -> None:
        self.provider_id = provider_id
        super().__init__(message)


class ResponseTimeout(ModelwireError, TimeoutError):
    """Raised when a non-streamed reply stalls on every attempt allowed: no byte for the
    provider's ``stream_idle_timeout_ms``, or its head not complete within that time."""

    def __init__(self, message: str, *, provider_id: str, attempts: int) -> None:
        self.provider_id = provider_id
        self.attempts = attempts
        super().__init__(message)


class DeadlineExceeded(ModelwireError, TimeoutError):
    """Raised when a call's deadline passes: it bounds every attempt, every backoff sleep and
    the reading of the reply. ``limit_s`` is the time the call was given, ``attempts`` how many
    requests were sent; ``__cause__`` is the last attempt's error when one failed before."""

    def __init__(
        self, message: str, *, provider_id: str, attempts: int, limit_s: float | None
    ) -> None:
        self.provider_id = provider_id
        self.attempts = attempts
        self.limit_s = limit_s
        super().__init__(message)


class StreamError(ModelwireError):
    """Raised when a streamed response fails after it started."""


class StreamIdleTimeout(StreamError):
    """Raised when a stream delivers no byte within the provider's ``stream_idle_timeout_ms``."""


class StreamDecodeError(StreamError):
    """Raised on malformed SSE, JSON or event order in a provider's stream."""
