"""Default harness selection: which native agent harness suits a provider and model.

The rules are checked in a fixed order and the first match wins, so a Claude model served
through a Kimi-named proxy still gets ``claude-code``. Matching is case-insensitive
substring matching on ids and names and exact matching on base-URL hosts, because hosts are
the one place a substring (``api.anthropic.com.evil.example``) would be wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .providers import ProviderInfo, WireApi

__all__ = ["HarnessInput", "select_harness"]

CLAUDE_CODE = "claude-code"
KIMI_CLI = "kimi-cli"
QWEN_CODE = "qwen-code"
DEEPSEEK_TUI = "deepseek-tui"

_KIMI_HOSTS = frozenset({"api.kimi.com", "api.moonshot.ai", "api.moonshot.cn"})
_DASHSCOPE_HOSTS = frozenset({"dashscope.aliyuncs.com", "dashscope-intl.aliyuncs.com"})


@dataclass(frozen=True, slots=True)
class HarnessInput:
    """The lower-cased facts the rules look at."""

    provider_id: str
    name: str
    wire_api: WireApi
    host: str
    path: str
    model: str

    @classmethod
    def of(cls, provider_id: str, provider: ProviderInfo, model: str | None) -> HarnessInput:
        # ProviderInfo guarantees an http(s) URL with a host (or None: no host to match).
        parts = urlsplit(provider.base_url or "")
        return cls(
            provider_id=provider_id.lower(),
            name=provider.name.lower(),
            wire_api=provider.wire_api,
            host=(parts.hostname or "").lower(),
            path=parts.path.lower(),
            model=(model or "").lower(),
        )

    def any_names(self, *needles: str) -> bool:
        """A needle occurs in the provider id, its name, or the model id."""
        return any(
            n in field for n in needles for field in (self.provider_id, self.name, self.model)
        )


def _claude_code(h: HarnessInput) -> bool:
    return (
        h.wire_api is WireApi.MESSAGES
        or h.any_names("anthropic", "claude")
        or h.host == "api.anthropic.com"
    )


def _kimi_cli(h: HarnessInput) -> bool:
    return h.any_names("kimi", "moonshot") or h.host in _KIMI_HOSTS


def _qwen_code(h: HarnessInput) -> bool:
    return (
        h.any_names("qwen")
        or "qwen" in h.host
        or "qwen" in h.path
        or h.model.startswith("qwq")
        or "/qwq" in h.model
        or "dashscope" in h.provider_id
        or "dashscope" in h.name
        or (h.host in _DASHSCOPE_HOSTS and "/compatible-mode" in h.path)
    )


def _deepseek_tui(h: HarnessInput) -> bool:
    return h.any_names("deepseek") or h.host == "api.deepseek.com"


_RULES: tuple[tuple[str, Callable[[HarnessInput], bool]], ...] = (
    (CLAUDE_CODE, _claude_code),
    (KIMI_CLI, _kimi_cli),
    (QWEN_CODE, _qwen_code),
    (DEEPSEEK_TUI, _deepseek_tui),
)


def select_harness(
    provider_id: str,
    provider: ProviderInfo,
    model: str | None = None,
    *,
    configured: str | None = None,
) -> str | None:
    """The harness for this provider and model, or ``None`` when no rule matches.

    ``configured`` is the config's explicit ``harness = "..."``, which always wins.
    """
    if configured is not None:
        return configured
    facts = HarnessInput.of(provider_id, provider, model)
    for harness, matches in _RULES:
        if matches(facts):
            return harness
    return None
