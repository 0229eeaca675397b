"""The masking helpers every display surface goes through: URLs' userinfo, values in text, and
the provider secrets a credential masks besides its own."""

from __future__ import annotations

import base64

import pytest

from modelwire import ProviderInfo
from modelwire._redact import MASK, mask_url, mask_urls_in, mask_values
from modelwire.auth import NoCredentials
from modelwire.auth._base import provider_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:pa55word@example.test/v1", f"http://{MASK}@example.test/v1"),
        ("https://token-only@example.test:8443/v1?x=1", f"https://{MASK}@example.test:8443/v1?x=1"),
        ("http://us%40er:p%3Ass@[::1]:8080/v1", f"http://{MASK}@[::1]:8080/v1"),
        ("http://a@b@example.test/x", f"http://{MASK}@example.test/x"),
        # Unparseable or scheme-less URLs are where error messages quote them: masked all the same.
        ("http://alice:pa55word@[::1/v1", f"http://{MASK}@[::1/v1"),
        ("alice:pa55word@example.test/v1", f"{MASK}@example.test/v1"),
        ("//alice:pa55word@example.test/v1", f"//{MASK}@example.test/v1"),
    ],
)
def test_a_urls_userinfo_is_masked_user_name_and_all(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "http://example.test/v1",
        "http://example.test/v1/users/a@b?to=c@d#e@f",
        "http://[::1]:8080/v1",
    ],
)
def test_an_at_sign_outside_the_authority_leaves_the_url_as_it_is(url: str) -> None:
    assert mask_url(url) == url


def test_every_url_userinfo_in_a_text_is_masked_and_mail_addresses_are_left_alone() -> None:
    text = (
        "could not reach http://alice:pa55word@proxy.test/v1 (tried https://x:y@z.test too); "
        "write to ops@example.test"
    )
    assert mask_urls_in(text) == (
        f"could not reach http://{MASK}@proxy.test/v1 (tried https://{MASK}@z.test too); "
        "write to ops@example.test"
    )


def test_values_are_masked_longest_first_and_short_ones_are_not_searched() -> None:
    text = "key sk-abcdef-123456 and its prefix sk-abcdef and ab"
    assert mask_values(text, ["sk-abcdef", "sk-abcdef-123456", "ab"]) == (
        f"key {MASK} and its prefix {MASK} and ab"
    )


def test_a_providers_query_keys_credential_headers_env_headers_and_userinfo_are_secrets() -> None:
    info = ProviderInfo(
        base_url="https://alice:pa55word-42@proxy.test/v1",
        query_params={"key": "query-key-0001", "api-version": "2024-06-01"},
        http_headers={"x-goog-api-key": "header-key-0002", "x-title": "My Application"},
        env_http_headers={
            "x-auth-token": "TOKEN_VAR",
            "x-absent-key": "UNSET_VAR",
            "openai-project": "PROJECT_VAR",
        },
    )
    env = {"TOKEN_VAR": " env-token-0003 ", "PROJECT_VAR": "proj-readable-0004"}
    found = provider_secrets(info, env)
    basic = base64.b64encode(b"alice:pa55word-42").decode()
    assert set(found) == {
        "query-key-0001",
        "2024-06-01",
        "header-key-0002",
        "env-token-0003",
        "alice",
        "pa55word-42",
        basic,
    }
    assert "My Application" not in found
    assert "proj-readable-0004" not in found


def test_a_provider_with_nothing_secret_about_its_requests_has_no_provider_secrets() -> None:
    assert provider_secrets(ProviderInfo(base_url="http://127.0.0.1:11434/v1"), {}) == ()


def test_provider_info_shows_its_base_url_with_userinfo_masked() -> None:
    info = ProviderInfo(base_url="https://alice:pa55word@proxy.test/v1")
    assert info.shown()["base_url"] == f"https://{MASK}@proxy.test/v1"
    assert "pa55word" not in repr(info)
    assert "alice" not in repr(info)


def test_a_cut_off_text_ending_inside_a_secret_has_that_end_masked() -> None:
    secret = "sk-live-0123456789abcdef"
    cut = f"key {secret} rejected; you sent {secret[:11]}"
    assert mask_values(cut, [secret], truncated=True) == f"key {MASK} rejected; you sent {MASK}"
    # Without ``truncated`` (the text is whole) the end is left as it is...
    assert mask_values(cut, [secret]).endswith(secret[:11])
    # ...and a truncated text that ends in less than a few characters of a secret keeps them.
    assert mask_values("ends in sk-", [secret], truncated=True) == "ends in sk-"


def test_credentials_redact_masks_userinfo_in_any_url_a_provider_quotes() -> None:
    assert NoCredentials().redact("proxy http://bob:hunter22@p.test/ said no") == (
        f"proxy http://{MASK}@p.test/ said no"
    )
