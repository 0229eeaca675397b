"""ConfigError renders file, key path, message and hint into one line."""

from __future__ import annotations

from pathlib import Path

from modelwire.errors import ConfigError, UnknownProviderError


def test_config_error_renders_every_part_it_has() -> None:
    full = ConfigError(
        "unknown key", file=Path("/h/config.toml"), key_path="model_providers.x.y", hint="fix it"
    )
    assert str(full) == "/h/config.toml: model_providers.x.y: unknown key (fix it)"
    assert str(ConfigError("bare")) == "bare"
    assert str(ConfigError("m", key_path="k")) == "k: m"
    assert "\n" not in str(full)


def test_unknown_provider_error_is_a_lookup_and_config_error() -> None:
    error = UnknownProviderError("x", [])
    assert isinstance(error, LookupError)
    assert isinstance(error, ConfigError)
    assert "modelwire providers" in str(error)
