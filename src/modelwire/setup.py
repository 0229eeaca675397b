"""Onboarding presets that write a provider into the user's ``config.toml``.

The user's file is edited, not regenerated: comments, ordering and every other table survive.
The new text is validated as a whole config before it replaces the old file, and it replaces
it atomically, so a failed or interrupted setup leaves the original untouched.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import InlineTable

from ._atomic import write_atomically
from .config import config_path, parse_toml, read_text, validate_config
from .errors import ConfigError
from .providers import DEFAULT_OPENAI_BASE_URL, WireApi

__all__ = ["OPENAI_API_KEY_PRESET", "Preset", "SetupResult", "apply_preset"]


@dataclass(frozen=True, slots=True)
class Preset:
    """A provider table to write and select."""

    provider_id: str
    table: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SetupResult:
    """What ``apply_preset`` did, for the command to report."""

    file: Path
    provider_id: str
    previous_provider: str | None
    created_file: bool


OPENAI_API_KEY_PRESET = Preset(
    provider_id="openai_api_key",
    table={
        "name": "OpenAI (API key)",
        "base_url": DEFAULT_OPENAI_BASE_URL,
        "env_key": "OPENAI_API_KEY",
        "env_key_instructions": "Create a key at https://platform.openai.com/api-keys "
        "and export it as OPENAI_API_KEY",
        "wire_api": WireApi.RESPONSES.value,
    },
)


def apply_preset(
    preset: Preset,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    model: str | None = None,
) -> SetupResult:
    """Write ``preset``'s provider into the config, select it, and return what changed."""
    path = path or config_path(os.environ if env is None else env)
    created = not path.exists()
    # tomllib is the syntax authority (it is what loading uses, and tomlkit accepts some
    # invalid TOML), so a broken file fails here with the same message loading gives.
    current = {} if created else parse_toml(path)
    original = "" if created else read_text(path)
    document = tomlkit.parse(original)

    top_level = {"model_provider": preset.provider_id}
    if model is not None:
        top_level["model"] = model
    new_top_level = {k: v for k, v in top_level.items() if k not in current}
    for key, value in top_level.items():
        if key in current:
            document[key] = value

    _put_provider(document, current, preset, path)

    # New top-level keys go first: appended at the end they would land inside the last table.
    head = "".join(f"{k} = {tomlkit.item(v).as_string()}\n" for k, v in new_top_level.items())
    new_text = _match_line_endings(original, head + tomlkit.dumps(document))
    try:
        reparsed = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"cannot add the preset to this file's layout ({exc}); nothing was changed",
            file=path,
            hint=f"add [model_providers.{preset.provider_id}] by hand",
        ) from exc
    validate_config(reparsed, file=path)
    try:
        _write_atomically(path, new_text)
    except OSError as exc:
        raise ConfigError(
            f"cannot be written: {exc.strerror}; nothing was changed", file=path
        ) from exc
    previous = current.get("model_provider")
    return SetupResult(
        file=path,
        provider_id=preset.provider_id,
        previous_provider=str(previous) if previous is not None else None,
        created_file=created,
    )


def _put_provider(
    document: tomlkit.TOMLDocument, current: Mapping[str, Any], preset: Preset, path: Path
) -> None:
    """Set the preset's keys in its table, wherever and however the file spells that table."""
    providers_now = current.get("model_providers")
    if providers_now is not None and not isinstance(providers_now, dict):
        raise ConfigError(
            "must be a table; nothing was changed", file=path, key_path="model_providers"
        )
    providers = document.get("model_providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        document["model_providers"] = providers
    entry = providers.get(preset.provider_id)
    if entry is None:
        entry = tomlkit.inline_table() if isinstance(providers, InlineTable) else tomlkit.table()
        providers[preset.provider_id] = entry
    for key, value in preset.table.items():
        entry[key] = value


def _match_line_endings(original: str, text: str) -> str:
    """Keep a Windows-edited file CRLF throughout instead of mixing in bare LF lines."""
    if "\r\n" not in original or original.count("\n") != original.count("\r\n"):
        return text
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    write_atomically(path, text.encode("utf-8"), mode=mode, durable=True)
