"""apply_preset: file modes, atomic replacement, merging into a table, no partial writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modelwire.config import load_config
from modelwire.errors import ConfigError
from modelwire.setup import OPENAI_API_KEY_PRESET, apply_preset


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_config_is_private_to_the_user(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "config.toml"
    result = apply_preset(OPENAI_API_KEY_PRESET, path=path)
    assert result.created_file
    assert mode(path) == 0o600
    assert load_config(path).model_provider == "openai_api_key"


def test_existing_file_mode_is_preserved(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('model = "m"\n')
    path.chmod(0o640)
    result = apply_preset(OPENAI_API_KEY_PRESET, path=path)
    assert not result.created_file
    assert mode(path) == 0o640


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    apply_preset(OPENAI_API_KEY_PRESET, path=path)
    apply_preset(OPENAI_API_KEY_PRESET, path=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_existing_preset_table_keeps_extra_keys_and_gets_preset_values(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[model_providers.openai_api_key]\n"
        'base_url = "http://old-proxy/v1"\n'
        "request_max_retries = 9\n"
    )
    apply_preset(OPENAI_API_KEY_PRESET, path=path)
    provider = load_config(path).model_providers["openai_api_key"]
    assert provider.base_url == "https://api.openai.com/v1"
    assert provider.request_max_retries == 9
    assert provider.env_key == "OPENAI_API_KEY"


def test_result_that_would_not_load_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    original = b'# mine\ncolour = "blue"\n'
    path.write_bytes(original)
    with pytest.raises(ConfigError, match="colour: unknown key"):
        apply_preset(OPENAI_API_KEY_PRESET, path=path)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_model_providers_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    original = b'model_providers = "oops"\n'
    path.write_bytes(original)
    with pytest.raises(ConfigError, match="model_providers"):
        apply_preset(OPENAI_API_KEY_PRESET, path=path)
    assert path.read_bytes() == original


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_directory_is_a_config_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    path = locked / "config.toml"
    path.write_text('model = "m"\n')
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot be written"):
            apply_preset(OPENAI_API_KEY_PRESET, path=path)
        assert path.read_text() == 'model = "m"\n'
    finally:
        locked.chmod(0o700)
