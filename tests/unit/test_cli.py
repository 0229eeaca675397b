"""The `modelwire` command: listings, masking, harness, setup, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import modelwire
from modelwire.cli import main
from modelwire.config import load_config
from modelwire.registry import ProviderRegistry

EXAMPLE = """
[model_providers.example]
name = "Example"
base_url = "https://api.example.com/v1"
env_key = "EXAMPLE_API_KEY"
wire_api = "chat"
"""

SECRETS = ("sk-secret-123", "sk-secret-456", "sk-secret-789")
WITH_SECRETS = """
[model_providers.leaky]
base_url = "https://leaky.example/v1"
experimental_bearer_token = "sk-secret-123"
http_headers = { Authorization = "Bearer sk-secret-456", x-team = "blue" }
query_params = { key = "sk-secret-789" }
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELWIRE_HOME", str(tmp_path))
    for name in ("EXAMPLE_API_KEY", "OPENAI_API_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MODELWIRE_OSS_PORT", raising=False)
    monkeypatch.delenv("MODELWIRE_OSS_BASE_URL", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 1
    assert err.startswith("modelwire: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_providers_json_lists_every_builtin_with_its_auth_kind(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "providers", "--json")
    assert code == 0
    rows = {row["id"]: row for row in json.loads(out)}
    expected = {
        "openai": ("OpenAI", "openai", "https://api.openai.com/v1"),
        "amazon-bedrock": (
            "Amazon Bedrock",
            "aws-sigv4",
            "https://bedrock-mantle.us-east-1.api.aws/openai/v1",
        ),
        "ollama": ("Ollama", "none", "http://localhost:11434/v1"),
        "lmstudio": ("LM Studio", "none", "http://localhost:1234/v1"),
    }
    for provider_id, (name, auth, base_url) in expected.items():
        assert rows[provider_id] == {
            "id": provider_id,
            "name": name,
            "wire_api": "responses",
            "env_key": None,
            "base_url": base_url,
            "auth": auth,
            "models": None,
            "source": "built-in",
        }


def test_providers_json_includes_configured_providers(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "config.toml").write_text(EXAMPLE)
    _, out, _ = run(capsys, "providers", "--json")
    example = next(row for row in json.loads(out) if row["id"] == "example")
    assert example == {
        "id": "example",
        "name": "Example",
        "wire_api": "chat",
        "env_key": "EXAMPLE_API_KEY",
        "base_url": "https://api.example.com/v1",
        "auth": "env-key",
        "models": None,
        "source": "config",
    }


def test_providers_table_shows_every_id_and_full_urls_when_piped(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "config.toml").write_text(EXAMPLE)
    code, out, _ = run(capsys, "providers")
    assert code == 0
    for provider_id in ("openai", "amazon-bedrock", "ollama", "lmstudio", "example"):
        assert provider_id in out
    assert "https://bedrock-mantle.us-east-1.api.aws/openai/v1" in out
    assert "…" not in out


def test_providers_table_marks_bedrock_unusable_in_an_unserved_region(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    code, out, _ = run(capsys, "providers")
    assert code == 0
    assert "(unavailable here)" in out
    code, out, _ = run(capsys, "providers", "show", "amazon-bedrock", "--json")
    assert code == 0
    assert "not served in region 'ca-central-1'" in json.loads(out)["error"]


@pytest.mark.parametrize("as_json", [False, True])
def test_providers_show_masks_every_secret(
    home: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    (home / "config.toml").write_text(WITH_SECRETS)
    code, out, err = run(capsys, "providers", "show", "leaky", *(["--json"] if as_json else []))
    assert code == 0
    for secret in SECRETS:
        assert secret not in out
        assert secret not in err
    assert "blue" in out
    assert "****" in out


def test_providers_show_says_whether_the_key_is_set_never_its_value(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "config.toml").write_text(EXAMPLE)
    _, out, _ = run(capsys, "providers", "show", "example", "--json")
    assert json.loads(out)["env_key_set"] is False
    monkeypatch.setenv("EXAMPLE_API_KEY", "sk-live-value")
    _, out, _ = run(capsys, "providers", "show", "example", "--json")
    shown = json.loads(out)
    assert shown["env_key_set"] is True
    assert shown["auth_kind"] == "env-key"
    assert "sk-live-value" not in out


def test_providers_show_unknown_id_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "providers", "show", "opneai")
    assert_one_line_error(code, err)
    assert "did you mean 'openai'?" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--provider", "openai", "--model", "gpt-5"], "none"),
        (["--provider", "openai", "--model", "anthropic/claude-sonnet-4-5"], "claude-code"),
        (["--provider", "openai", "--model", "kimi-k2"], "kimi-cli"),
        (["--provider", "ollama", "--model", "qwq:32b"], "qwen-code"),
        (["--provider", "ollama", "--model", "deepseek-r1:14b"], "deepseek-tui"),
        (["--provider", "example"], "none"),
    ],
)
def test_harness_prints_the_selected_harness(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    (home / "config.toml").write_text(EXAMPLE)
    code, out, _ = run(capsys, "harness", *argv)
    assert code == 0
    assert out == f"{expected}\n"


def test_harness_defaults_to_the_configured_provider_and_model(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = 'model_provider = "example"\nmodel = "deepseek-chat"\n' + EXAMPLE
    (home / "config.toml").write_text(config)
    assert run(capsys, "harness")[1] == "deepseek-tui\n"
    assert run(capsys, "harness", "--model", "gpt-5")[1] == "none\n"


def test_explicit_harness_in_config_wins(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "config.toml").write_text('harness = "my-harness"\n')
    _, out, _ = run(capsys, "harness", "--provider", "openai", "--model", "claude-opus-4")
    assert out == "my-harness\n"


def test_setup_creates_a_missing_config_and_selects_the_preset(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "setup", "openai-api-key")
    assert code == 0
    assert out.startswith(f"created {home / 'config.toml'}: model_provider = 'openai_api_key'")
    assert "note: OPENAI_API_KEY is not set" in out
    registry = ProviderRegistry.from_config(load_config(home / "config.toml"), env={})
    provider = registry.default()
    assert provider.id == "openai_api_key"
    assert provider.info.env_key == "OPENAI_API_KEY"
    assert provider.info.wire_api == "responses"
    assert provider.base_url == "https://api.openai.com/v1"


def test_setup_preserves_comments_and_other_tables_and_reports_the_previous_provider(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-present")
    original = (
        "# my modelwire settings\n"
        'model_provider = "example"  # the work account\n' + EXAMPLE + "# trailing note\n"
    )
    (home / "config.toml").write_text(original)
    code, out, _ = run(capsys, "setup", "openai-api-key", "--model", "gpt-5")
    assert code == 0
    assert "(was 'example')" in out
    assert "note:" not in out
    text = (home / "config.toml").read_text()
    for line in original.splitlines():
        if line.startswith(("#", "[")) or "api.example.com" in line:
            assert line in text
    config = load_config(home / "config.toml")
    assert config.model_provider == "openai_api_key"
    assert config.model == "gpt-5"
    assert config.model_providers["example"].env_key == "EXAMPLE_API_KEY"


def test_setup_twice_is_idempotent(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "config.toml").write_text("# keep me\n" + EXAMPLE)
    run(capsys, "setup", "openai-api-key")
    first = (home / "config.toml").read_text()
    code, out, _ = run(capsys, "setup", "openai-api-key")
    assert code == 0
    assert "(was" not in out
    assert (home / "config.toml").read_text() == first


def test_setup_leaves_a_broken_config_untouched(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = b'model = "a"\n[model_providers.e\n'
    (home / "config.toml").write_bytes(broken)
    code, _, err = run(capsys, "setup", "openai-api-key")
    assert_one_line_error(code, err)
    assert "line 2" in err
    assert (home / "config.toml").read_bytes() == broken


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'colour = "blue"\n', "colour: unknown key"),
        (b'[model_providers.e]\nwire_api = "grpc"\n', "'responses', 'chat', 'messages'"),
        (b'model_provider = "ollama-chat"\n', "use `ollama` instead"),
        (b'model = "caf\xe9"\n', "not valid UTF-8"),
        (b"[model_providers.amazon-bedrock]\nwire_api = 'chat'\n", "wire_api cannot be changed"),
        (b"[model_providers.e.auth]\ncommand = 'c'\ntimeout_ms = 0\n", "auth.timeout_ms"),
    ],
)
@pytest.mark.parametrize("command", [["providers"], ["providers", "--json"], ["harness"]])
def test_bad_config_is_one_line_error_and_the_file_is_unchanged(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    needle: str,
    command: list[str],
) -> None:
    (home / "config.toml").write_bytes(content)
    code, out, err = run(capsys, *command)
    assert_one_line_error(code, err)
    assert needle in err
    assert out == ""
    assert (home / "config.toml").read_bytes() == content


def test_config_that_is_a_directory_is_one_line_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "config.toml").mkdir()
    code, _, err = run(capsys, "providers")
    assert_one_line_error(code, err)
    assert "is a directory" in err
    assert (home / "config.toml").is_dir()


def test_usage_errors_are_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["providers", "shw"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "modelwire --help" in err or "modelwire providers --help" in err


def test_version_flag_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"modelwire {modelwire.__version__}\n"


def test_installed_console_script_fails_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "modelwire"
    (tmp_path / "config.toml").write_text('[model_providers.e]\nwire_api = "grpc"\n')
    result = subprocess.run(
        [str(script), "providers"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"MODELWIRE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "model_providers.e.wire_api" in result.stderr
