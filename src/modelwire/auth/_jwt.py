"""Reading a JWT's expiry without verifying it.

Command helpers and the OpenAI sign-in hand out JWTs; their ``exp`` claim says how long the
token is good for, which beats any configured refresh interval when it is sooner. Nothing here
trusts the token (the provider verifies it); an unreadable token simply has no known expiry.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

__all__ = ["jwt_expiry"]


class _Claims(msgspec.Struct):
    exp: float | None = None


_decode_claims = msgspec.json.Decoder(_Claims).decode


def jwt_expiry(token: str) -> float | None:
    """The token's ``exp`` (seconds since the epoch) if it is a JWT that has one, else None."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        exp = _decode_claims(raw).exp
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    if exp is None or exp != exp or exp in (float("inf"), float("-inf")):
        return None
    return float(exp)
