"""Masking of secrets wherever a provider or a request is shown to a person.

Kept in one place so every surface (reprs, ``providers show``, error messages, logs) masks
the same names the same way; a secret that one surface forgot is a secret leaked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

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


PARTIAL_SECRET_CHARS = 4
"""A text cut short that ends in this much (or more) of a secret's start has that end masked."""


def mask_values(text: str, secrets: Iterable[str], *, truncated: bool = False) -> str:
    """``text`` with every occurrence of each secret (longest first) replaced by the mask.

    Provider text (an error body, an event's message, a command's stderr) can echo what was sent
    to it; this is the one place such text is cleaned before it is shown. ``truncated``: the
    text was cut from something longer (a bounded read of an error body), so it may end inside
    a secret; an end that is the start of a secret is masked too. Text cut by the caller should
    be masked *before* it is cut, which needs no such guess.
    """
    wanted = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
    for secret in wanted:
        if secret in text:
            text = text.replace(secret, MASK)
    if truncated:
        for secret in wanted:
            for size in range(min(len(secret) - 1, len(text)), PARTIAL_SECRET_CHARS - 1, -1):
                if text.endswith(secret[:size]):
                    return text[:-size] + MASK
    return text


def mask_url(url: str) -> str:
    """``url`` with any ``user:password@`` userinfo masked, user name too (tokens travel there).

    Parsed by hand rather than with ``urlsplit``: a URL shown in an error is often one that
    failed to parse (``http://u:p@[::1/v1``) or lacks its scheme (``u:p@host/v1``, which
    ``urlsplit`` reads as scheme ``u``), and its userinfo must be masked all the same.
    """
    if "@" not in url:
        return url
    scheme, separator, rest = url.partition("://")
    if separator:
        prefix = scheme + separator
    else:
        prefix, rest = "", url
        if rest.startswith("//"):
            prefix, rest = "//", rest[2:]
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter)
        if 0 <= found < end:
            end = found
    authority = rest[:end]
    if "@" not in authority:
        return url
    return f"{prefix}{MASK}@{authority.rpartition('@')[2]}{rest[end:]}"


_URL_USERINFO = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#]*@")


def mask_urls_in(text: str) -> str:
    """``text`` with the userinfo of every ``scheme://user:password@host`` in it masked: error
    messages and provider bodies quote URLs, and a base URL's userinfo is a credential."""
    return _URL_USERINFO.sub(rf"\1{MASK}@", text) if "@" in text else text
