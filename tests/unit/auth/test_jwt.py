"""A JWT's expiry is read when present and ignored, never trusted or fatal, when not."""

from __future__ import annotations

import base64

import orjson
import pytest

from modelwire.auth._jwt import jwt_expiry


def jwt(claims: object) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(b'{"alg":"none"}')
    return f"{header}.{part(orjson.dumps(claims))}.sig"


def test_exp_is_read_from_the_payload() -> None:
    assert jwt_expiry(jwt({"exp": 1_900_000_000, "sub": "u"})) == 1_900_000_000.0


def test_fractional_exp_is_kept() -> None:
    assert jwt_expiry(jwt({"exp": 12.5})) == 12.5


@pytest.mark.parametrize(
    "token",
    [
        "opaque-token",
        "a.b",
        "a..c",
        "a.!!!.c",
        jwt({"sub": "no exp"}),
        jwt({"exp": "soon"}),
        jwt([1, 2]),
        "x." + base64.urlsafe_b64encode(b"not json").decode() + ".y",
    ],
)
def test_tokens_without_a_readable_exp_have_no_known_expiry(token: str) -> None:
    assert jwt_expiry(token) is None
