"""Onboarding presets that write a provider into the user's ``config.toml``.

The user's file is edited, not regenerated: comments, ordering and every other table survive.
The new text is validated as a whole config before it replaces the old file, and it replaces
it atomically, so a failed or interrupted setup leaves the original untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

from .config import config_path, read_text, validate_config
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
    text = "" if created else read_text(path)
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(
            f"line {exc.line}, column {exc.col}: TOML syntax error; nothing was changed",
            file=path,
        ) from exc

    previous = document.get("model_provider")
    document["model_provider"] = preset.provider_id
    if model is not None:
        document["model"] = model

    providers = document.get("model_providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        document["model_providers"] = providers
    elif not isinstance(providers, Table):
        raise ConfigError(
            "must be a table; nothing was changed", file=path, key_path="model_providers"
        )
    entry = providers.get(preset.provider_id)
    if entry is None:
        entry = tomlkit.table()
        providers[preset.provider_id] = entry
    for key, value in preset.table.items():
        entry[key] = value

    new_text = tomlkit.dumps(document)
    # Validate the result as a whole before anything touches the disk.
    validate_config(tomlkit.parse(new_text).unwrap(), file=path)
    try:
        _write_atomically(path, new_text)
    except OSError as exc:
        raise ConfigError(
            f"cannot be written: {exc.strerror}; nothing was changed", file=path
        ) from exc
    return SetupResult(
        file=path,
        provider_id=preset.provider_id,
        previous_provider=str(previous) if previous is not None else None,
        created_file=created,
    )


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
