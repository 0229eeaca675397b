"""Spec §1: where requests go, including the messages ``/v1`` rule."""

from __future__ import annotations

import pytest

from modelwire.wire import is_anthropic, join_url, models_path, stream_path


@pytest.mark.parametrize(
    ("wire_api", "base_url", "url"),
    [
        ("messages", "https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
        (
            "messages",
            "https://api.minimax.io/anthropic/v1",
            "https://api.minimax.io/anthropic/v1/messages",
        ),
        ("messages", "https://proxy.test/v1/", "https://proxy.test/v1/messages"),
        ("messages", "https://proxy.test/v10", "https://proxy.test/v10/v1/messages"),
        ("chat", "https://api.deepseek.com", "https://api.deepseek.com/chat/completions"),
        (
            "chat",
            "https://api.groq.com/openai/v1/",
            "https://api.groq.com/openai/v1/chat/completions",
        ),
        ("responses", "https://api.openai.com/v1", "https://api.openai.com/v1/responses"),
    ],
)
def test_stream_urls_follow_the_joining_rule(wire_api: str, base_url: str, url: str) -> None:
    assert join_url(base_url, stream_path(wire_api, base_url)) == url


def test_models_paths_follow_the_same_rule() -> None:
    assert models_path("messages", "https://api.anthropic.com") == "v1/models"
    assert models_path("messages", "https://api.minimax.io/anthropic/v1") == "models"
    assert models_path("chat", "https://api.deepseek.com") == "models"


def test_query_params_are_encoded_and_appended_with_the_right_separator() -> None:
    assert join_url("https://h.test/v1", "models", {"api-version": "2025-01-01", "q": "a b"}) == (
        "https://h.test/v1/models?api-version=2025-01-01&q=a+b"
    )
    assert join_url("https://h.test/v1/?x=1", "models", {"y": "2"}) == (
        "https://h.test/v1/models?x=1&y=2"
    )
    assert join_url("https://h.test/v1", "/models") == "https://h.test/v1/models"


def test_unknown_wire_api_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown wire API"):
        stream_path("grpc")


@pytest.mark.parametrize(
    ("name", "base_url", "expected"),
    [
        ("Anthropic", "http://127.0.0.1:9000", True),
        ("proxy", "https://api.anthropic.com/v1", True),
        ("MiniMax", "https://api.minimax.io/anthropic/v1", False),
        (None, None, False),
    ],
)
def test_anthropic_identity_is_by_name_or_host(
    name: str | None, base_url: str | None, expected: bool
) -> None:
    assert is_anthropic(name, base_url) is expected
