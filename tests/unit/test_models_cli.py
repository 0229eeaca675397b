"""``modelwire models``: the table, ``--json``, warnings on stderr, the cache between runs."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import pytest

from modelwire.cli import main
from modelwire.mock import MockBehavior, MockProvider

SECRET = "sk-models-cli-secret"
KEYS = ("ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "NOWHERE_KEY", "OPENAI_API_KEY")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELWIRE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def configure(home: Path, **provider: str | int) -> None:
    """``[model_providers.loop]`` with these keys, selected as the default provider."""
    home.mkdir(parents=True, exist_ok=True)
    lines = ['model_provider = "loop"', "[model_providers.loop]"]
    lines += [f"{key} = {orjson.dumps(value).decode()}" for key, value in provider.items()]
    (home / "config.toml").write_text("\n".join(lines) + "\n")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def anthropic_proxy(home: Path, mock: MockProvider) -> None:
    configure(
        home,
        name="Anthropic",
        base_url=mock.base_url,
        env_key="ANTHROPIC_API_KEY",
        wire_api="messages",
        request_max_retries=0,
    )


IDS = ("claude-sonnet-4-5-20250929", "claude-next")


def test_the_table_shows_the_endpoints_models_with_catalog_metadata(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with MockProvider(models=IDS, require_api_key=SECRET) as mock:
        anthropic_proxy(home, mock)
        assert main(["models"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    header, first, second = captured.out.splitlines()
    assert header.split() == ["ID", "Name", "Context", "Reasoning", "Input", "Source"]
    assert first.split()[:5] == ["claude-sonnet-4-5-20250929", "Claude", "Sonnet", "4.5", "200,000"]
    assert "effort: low/medium/high" in first
    assert "text, image" in first
    assert first.rstrip().endswith("endpoint+catalog+compatibility")
    assert second.split() == ["claude-next", "Claude", "Next", "-", "none", "text", "endpoint"]
    assert SECRET not in captured.out


def test_json_prints_the_list_with_where_it_came_from(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with MockProvider(models=IDS) as mock:
        anthropic_proxy(home, mock)
        assert main(["models", "--provider", "loop", "--json"]) == 0
    listing = orjson.loads(capsys.readouterr().out)
    assert listing["provider_id"] == "loop"
    assert listing["source"] == "endpoint"
    assert (listing["catalog_provider"], listing["matched_by"]) == ("anthropic", "anthropic")
    assert listing["stale"] is False
    sonnet = listing["models"][0]
    assert sonnet["id"] == "claude-sonnet-4-5-20250929"
    assert sonnet["reasoning_control"] == "effort"
    assert sonnet["default_reasoning_level"] == "medium"
    assert sonnet["supported_reasoning_levels"] == ["low", "medium", "high"]
    assert sonnet["sources"] == ["endpoint", "catalog", "compatibility"]
    assert [m["id"] for m in listing["models"]] == list(IDS)


def test_an_unreachable_endpoint_is_a_one_line_warning_when_the_catalog_can_seed(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    configure(
        home,
        name="Corp Router",
        base_url=f"http://127.0.0.1:{closed_port()}/v1",
        env_key="OPENROUTER_API_KEY",
        wire_api="chat",
        request_max_retries=0,
    )
    assert main(["models"]) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.splitlines()
    assert warning.startswith("modelwire: warning: loop: the model endpoint could not be asked")
    assert "showing the bundled catalog's models for OpenRouter" in warning
    assert any(line.startswith("openai/gpt-5 ") for line in captured.out.splitlines())
    assert SECRET not in captured.out + captured.err


def test_the_built_in_openai_without_a_key_lists_the_catalogs_with_one_warning(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--provider", "openai"]) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.splitlines()
    assert warning.startswith("modelwire: warning: openai: the model endpoint could not be asked")
    assert "OPENAI_API_KEY" in warning
    ids = [line.split()[0] for line in captured.out.splitlines()[1:]]
    assert {"gpt-5", "gpt-4.1", "o3"} <= set(ids)


def test_nothing_to_list_is_a_one_line_error_and_exit_status_1(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(home, name="Nowhere", base_url="http://127.0.0.1:9/v1", env_key="NOWHERE_KEY")
    assert main(["models"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (error,) = captured.err.splitlines()
    assert error.startswith("modelwire: error: loop: the model endpoint could not be asked")
    assert "NOWHERE_KEY" in error


def test_an_unknown_provider_is_a_one_line_usage_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--provider", "no-such-provider"]) == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert "unknown provider 'no-such-provider'" in error


def test_answers_are_cached_between_runs_and_refresh_asks_again(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with MockProvider(models=IDS) as mock:
        anthropic_proxy(home, mock)
        assert main(["models"]) == 0
        assert main(["models"]) == 0
        assert len(mock.requests) == 1
        assert main(["models", "--refresh"]) == 0
        assert len(mock.requests) == 2
    assert (home / "cache" / "models.json").is_file()
    assert SECRET.encode() not in (home / "cache" / "models.json").read_bytes()
    first, second, third = capsys.readouterr().out.split("ID ")[1:]
    assert first == second == third


def test_a_failed_refresh_shows_the_last_good_list_with_a_warning(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with MockProvider(models=IDS) as mock:
        anthropic_proxy(home, mock)
        assert main(["models"]) == 0
        capsys.readouterr()
        mock.enqueue(MockBehavior(status=500))
        assert main(["models", "--refresh", "--json"]) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.splitlines()
    assert "showing its last good list, from less than a minute ago" in warning
    listing = orjson.loads(captured.out)
    assert listing["stale"] is True
    assert [m["id"] for m in listing["models"]] == list(IDS)


def test_ids_left_out_as_non_chat_models_are_noted_on_stderr(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    with MockProvider(models=("openai/gpt-5", "text-embedding-3-small")) as mock:
        configure(
            home,
            name="Corp Router",
            base_url=mock.url("/v1"),
            env_key="OPENROUTER_API_KEY",
            wire_api="chat",
        )
        assert main(["models"]) == 0
    captured = capsys.readouterr()
    (note,) = captured.err.splitlines()
    assert note.startswith("modelwire: note: 1 listed id(s) left out as not chat models")
    assert "text-embedding-3-small" not in captured.out
    assert "openai/gpt-5" in captured.out
