"""Masking of secrets wherever a provider or a request is shown to a person.

Kept in one place so every surface (reprs, ``providers show``, error messages, logs) masks
the same names the same way; a secret that one surface forgot is a secret leaked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

MASK = "****"

# Header names (lower-cased) whose values are credentials or session state.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-amz-security-token",
        "cookie",
        "set-cookie",
        "chatgpt-account-id",
    }
)


# Name fragments that mark a header as a credential (x-goog-api-key, ocp-apim-subscription-key,
# x-auth-token, ...). Over-masking a harmless header costs nothing; under-masking leaks a key.
_SENSITIVE_FRAGMENTS = (
    "auth",
    "key",
    "token",
    "secret",
    "cookie",
    "session",
    "password",
    "credential",
    "signature",
)


def is_sensitive_header(name: str) -> bool:
    """True for header names that carry credentials, matched case-insensitively."""
    lowered = name.lower()
    return lowered in SENSITIVE_HEADERS or any(f in lowered for f in _SENSITIVE_FRAGMENTS)


def mask_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """Copy ``headers`` with every sensitive value replaced by the mask."""
    if headers is None:
        return None
    return {k: (MASK if is_sensitive_header(k) else v) for k, v in headers.items()}


def mask_query(params: Mapping[str, str] | None) -> dict[str, str] | None:
    """Copy query parameters with every value masked: keys travel in them too often."""
    if params is None:
        return None
    return dict.fromkeys(params, MASK)


def mask_secret(value: str | None) -> str | None:
    """The mask for a present secret, ``None`` for an absent one (never a hint of its length)."""
    return None if value is None else MASK


MIN_SECRET_CHARS = 8
"""Shorter values are not searched for in text: masking every "ab" would shred messages, and a
credential that short is no secret worth the name."""


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (longest first) replaced by the mask.

    Provider text (an error body, an event's message, a command's stderr) can echo what was sent
    to it; this is the one place such text is cleaned before it is shown.
    """
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def mask_url(url: str) -> str:
    """``url`` with any ``user:password@`` userinfo masked, user name too (tokens travel there)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))
