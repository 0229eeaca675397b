"""Default harness selection: each row of the seed's table, the rule order and the override."""

from __future__ import annotations

import pytest

from modelwire.errors import ConfigError
from modelwire.harness import select_harness
from modelwire.providers import ProviderInfo, WireApi


def pick(
    provider_id: str = "custom",
    *,
    name: str = "Custom",
    base_url: str = "https://llm.example.com/v1",
    wire_api: WireApi = WireApi.CHAT,
    model: str | None = "some-model",
    configured: str | None = None,
) -> str | None:
    info = ProviderInfo(name=name, base_url=base_url, wire_api=wire_api)
    return select_harness(provider_id, info, model, configured=configured)


def test_no_rule_matches_gives_no_harness() -> None:
    assert pick() is None
    assert (
        pick("openai", name="OpenAI", base_url="https://api.openai.com/v1", model="gpt-5") is None
    )
    assert pick(model=None) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"wire_api": WireApi.MESSAGES},
        {"provider_id": "anthropic"},
        {"provider_id": "my-claude-proxy"},
        {"name": "Anthropic"},
        {"name": "Corporate Claude"},
        {"base_url": "https://api.anthropic.com"},
        {"base_url": "https://API.Anthropic.com/v1"},
        {"model": "claude-sonnet-4-5"},
        {"model": "anthropic/claude-opus-4"},
        {"model": "anthropic/some-future-model"},
        {"model": "us.anthropic.claude-3-7-sonnet"},
    ],
)
def test_claude_code_row(kwargs: dict[str, object]) -> None:
    provider_id = str(kwargs.pop("provider_id", "custom"))
    assert pick(provider_id, **kwargs) == "claude-code"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"provider_id": "moonshotai"},
        {"provider_id": "kimi-for-coding"},
        {"name": "Moonshot AI (China)"},
        {"name": "KIMI"},
        {"model": "kimi-k2-0905-preview"},
        {"model": "moonshotai/kimi-k2"},
        {"base_url": "https://api.kimi.com/coding/v1"},
        {"base_url": "https://api.moonshot.ai/v1"},
        {"base_url": "https://api.moonshot.cn/v1"},
    ],
)
def test_kimi_cli_row(kwargs: dict[str, object]) -> None:
    provider_id = str(kwargs.pop("provider_id", "custom"))
    assert pick(provider_id, **kwargs) == "kimi-cli"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"provider_id": "qwen-portal"},
        {"name": "Qwen"},
        {"model": "qwen3-coder-plus"},
        {"model": "QwQ-32B"},
        {"model": "qwq-plus"},
        {"model": "groq/qwq-32b"},
        {"base_url": "https://portal.qwen.ai/v1"},
        {"provider_id": "dashscope"},
        {"name": "DashScope Intl"},
        {"base_url": "https://dashscope.aliyuncs.com/compatible-mode/v1"},
        {"base_url": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"},
    ],
)
def test_qwen_code_row(kwargs: dict[str, object]) -> None:
    provider_id = str(kwargs.pop("provider_id", "custom"))
    assert pick(provider_id, **kwargs) == "qwen-code"  # type: ignore[arg-type]


def test_dashscope_host_outside_compatible_mode_is_not_qwen() -> None:
    assert pick(base_url="https://dashscope.aliyuncs.com/api/v1") is None
    assert pick(model="squawk-1") is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"provider_id": "deepseek"},
        {"name": "DeepSeek"},
        {"model": "deepseek-chat"},
        {"model": "deepseek/deepseek-r1"},
        {"base_url": "https://api.deepseek.com"},
        {"base_url": "https://api.deepseek.com/v1"},
    ],
)
def test_deepseek_tui_row(kwargs: dict[str, object]) -> None:
    provider_id = str(kwargs.pop("provider_id", "custom"))
    assert pick(provider_id, **kwargs) == "deepseek-tui"  # type: ignore[arg-type]


def test_rules_are_checked_in_order() -> None:
    assert pick("moonshotai", model="claude-sonnet-4-5") == "claude-code"
    assert pick("moonshotai", wire_api=WireApi.MESSAGES) == "claude-code"
    assert pick("qwen-portal", model="kimi-k2") == "kimi-cli"
    assert pick("deepseek", model="qwen3-235b") == "qwen-code"
    assert pick("openrouter", name="OpenRouter", model="deepseek/deepseek-r1") == "deepseek-tui"


def test_base_url_hosts_match_exactly_not_as_substrings() -> None:
    assert pick(base_url="https://api.anthropic.com.evil.example/v1") is None
    assert pick(base_url="https://notapi.deepseek.com.example/v1") is None
    assert pick(base_url="https://api.moonshot.ai.example/v1") is None


def test_a_base_url_without_a_scheme_never_reaches_harness_selection() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        pick(base_url="api.deepseek.com/v1")


def test_explicit_harness_in_config_wins_over_every_rule() -> None:
    assert pick("anthropic", wire_api=WireApi.MESSAGES, configured="codex") == "codex"
    assert pick(configured="my-harness") == "my-harness"


@pytest.mark.parametrize(
    ("provider_id", "name", "base_url", "wire_api", "expected"),
    [
        ("anthropic", "Anthropic", "https://api.anthropic.com", WireApi.MESSAGES, "claude-code"),
        (
            "minimax",
            "MiniMax (minimax.io)",
            "https://api.minimax.io/anthropic/v1",
            WireApi.MESSAGES,
            "claude-code",
        ),
        ("moonshotai", "Moonshot AI", "https://api.moonshot.ai/v1", WireApi.CHAT, "kimi-cli"),
        (
            "kimi-for-coding",
            "Kimi For Coding",
            "https://api.kimi.com/coding/v1",
            WireApi.CHAT,
            "kimi-cli",
        ),
        (
            "alibaba",
            "Alibaba",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            WireApi.CHAT,
            "qwen-code",
        ),
        ("deepseek", "DeepSeek", "https://api.deepseek.com", WireApi.CHAT, "deepseek-tui"),
        ("groq", "Groq", "https://api.groq.com/openai/v1", WireApi.CHAT, None),
    ],
)
def test_seed_catalog_providers_with_a_neutral_model(
    provider_id: str, name: str, base_url: str, wire_api: WireApi, expected: str | None
) -> None:
    assert pick(provider_id, name=name, base_url=base_url, wire_api=wire_api) == expected
