"""``apply_preset``: file modes, atomic replacement, merging into a table, no partial writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modelwire.config import load_config
from modelwire.errors import ConfigError
from modelwire.providers import WireApi
from modelwire.setup import OPENAI_API_KEY_PRESET, apply_preset

PRESET_ID = "openai_api_key"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def refused(path: Path, match: str) -> ConfigError:
    """``apply_preset`` raised ``ConfigError`` and neither the file nor its directory changed."""
    before = path.read_bytes()
    siblings = entries(path.parent)
    with pytest.raises(ConfigError, match=match) as caught:
        apply_preset(OPENAI_API_KEY_PRESET, path=path)
    assert path.read_bytes() == before
    assert entries(path.parent) == siblings
    return caught.value


def test_new_config_is_created_private_to_the_user(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "home" / "config.toml"
    result = apply_preset(OPENAI_API_KEY_PRESET, path=path)
    assert result.created_file
    assert result.file == path
    assert result.previous_provider is None
    assert mode(path) == 0o600
    assert load_config(path).model_provider == PRESET_ID


@pytest.mark.parametrize("existing_mode", [0o644, 0o640, 0o600])
def test_existing_file_mode_is_preserved(config: Path, existing_mode: int) -> None:
    config.write_text('model = "m"\n')
    config.chmod(existing_mode)
    result = apply_preset(OPENAI_API_KEY_PRESET, path=config)
    assert not result.created_file
    assert mode(config) == existing_mode


def test_atomic_write_leaves_no_temporary_files(config: Path) -> None:
    apply_preset(OPENAI_API_KEY_PRESET, path=config)
    apply_preset(OPENAI_API_KEY_PRESET, path=config, model="gpt-5")
    assert entries(config.parent) == ["config.toml"]


def test_existing_preset_table_keeps_extra_keys_and_gets_the_preset_values(config: Path) -> None:
    config.write_text(
        f"[model_providers.{PRESET_ID}]\n"
        "# routed through the office proxy\n"
        'base_url = "http://old-proxy/v1"\n'
        'wire_api = "chat"\n'
        "request_max_retries = 9\n"
        'http_headers = { X-Team = "blue" }\n'
    )
    apply_preset(OPENAI_API_KEY_PRESET, path=config)
    assert "# routed through the office proxy" in config.read_text()
    provider = load_config(config).model_providers[PRESET_ID]
    assert provider.request_max_retries == 9
    assert provider.http_headers == {"X-Team": "blue"}
    assert provider.base_url == "https://api.openai.com/v1"
    assert provider.wire_api is WireApi.RESPONSES
    assert provider.env_key == "OPENAI_API_KEY"
    assert provider.name == OPENAI_API_KEY_PRESET.table["name"]
    assert provider.env_key_instructions is not None
    assert "OPENAI_API_KEY" in provider.env_key_instructions


def test_result_reports_the_previous_provider_and_sets_the_model(config: Path) -> None:
    config.write_text('model_provider = "ollama"\nmodel = "llama3"\n')
    result = apply_preset(OPENAI_API_KEY_PRESET, path=config, model="gpt-5")
    assert (result.provider_id, result.previous_provider) == (PRESET_ID, "ollama")
    loaded = load_config(config)
    assert (loaded.model_provider, loaded.model) == (PRESET_ID, "gpt-5")


def test_env_chooses_the_file_when_no_path_is_given(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    result = apply_preset(OPENAI_API_KEY_PRESET, env={"MODELWIRE_HOME": str(home)})
    assert result.file == home / "config.toml"
    assert load_config(result.file).model_provider == PRESET_ID


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            '# mine\ncolour = "blue"\n', "colour: unknown key", id="unknown-top-level-key"
        ),
        pytest.param(
            f'[model_providers.{PRESET_ID}.auth]\ncommand = "get-token"\n',
            "auth cannot be combined with env_key",
            id="preset-conflicts-with-existing-auth",
        ),
        pytest.param(
            '[model_providers.example]\nwire_api = "grpc"\n',
            "model_providers.example.wire_api",
            id="other-provider-invalid",
        ),
        pytest.param('model_providers = "oops"\n', "model_providers", id="providers-not-a-table"),
    ],
)
def test_result_that_would_not_load_is_never_written(config: Path, text: str, match: str) -> None:
    config.write_text(text)
    error = refused(config, match)
    assert error.file == config


def test_toml_syntax_error_is_a_config_error_naming_the_line(config: Path) -> None:
    config.write_text('model = "a"\n[model_providers.e\n')
    assert "line 2" in str(refused(config, "TOML syntax error"))


def test_directory_in_the_way_is_a_config_error_not_an_os_error(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the config directory should be\n")
    with pytest.raises(ConfigError, match="cannot be written"):
        apply_preset(OPENAI_API_KEY_PRESET, path=blocker / "config.toml")
    assert blocker.read_text() == "a file where the config directory should be\n"
    assert entries(tmp_path) == ["home"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_directory_is_a_config_error_and_the_file_survives(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    path = locked / "config.toml"
    path.write_text('model = "m"\n')
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot be written"):
            apply_preset(OPENAI_API_KEY_PRESET, path=path)
        assert path.read_text() == 'model = "m"\n'
        assert entries(locked) == ["config.toml"]
    finally:
        locked.chmod(0o700)


def test_crlf_file_stays_crlf_throughout(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(
        b'# windows\r\nmodel = "m"\r\n[model_providers.e]\r\nbase_url = "http://h"\r\n'
    )
    apply_preset(OPENAI_API_KEY_PRESET, path=path)
    data = path.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")
    assert b"# windows\r\n" in data
    assert load_config(path).model_provider == "openai_api_key"
