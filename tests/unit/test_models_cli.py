"""``modelwire models``: the table, ``--json``, prices (config, then catalog, else ``-``),
warnings on stderr, the cache between runs, and the Amazon Bedrock built-ins' built-in lists."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import orjson
import pytest

from modelwire.catalog.bundled import compatibility_catalog
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
    assert header.split() == [
        *("ID", "Name", "Context", "In", "$/M", "Out", "$/M"),
        *("Reasoning", "Input", "Source"),
    ]
    assert first.split()[:7] == [
        *("claude-sonnet-4-5-20250929", "Claude", "Sonnet", "4.5", "200,000"),
        *("3", "15"),  # Anthropic's catalog price, found for the proxy's own id "loop"
    ]
    assert "effort: low/medium/high" in first
    assert "text, image" in first
    assert first.rstrip().endswith("endpoint+catalog+compatibility")
    assert second.split() == [
        *("claude-next", "Claude", "Next", "-", "-", "-", "none", "text", "endpoint")
    ]
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
    assert sonnet["web_search"] == "text_and_image"  # the catalog's search flag, image input
    assert sonnet["price"]["source"] == "provider_catalog"
    assert (sonnet["price"]["input"], sonnet["price"]["output"]) == ("3", "15")
    assert listing["models"][1]["web_search"] is None  # unknown to every catalog
    assert listing["models"][1]["price"] is None
    assert [m["id"] for m in listing["models"]] == list(IDS)


PRICED_IDS = ("claude-sonnet-4-5-20250929", "claude-next", "claude-mystery")
PRICES = """
[model_providers.loop.prices."claude-sonnet-4-5-20250929"]
input = 1.25
output = 10
[model_providers.loop.prices."claude-next"]
input = "0.075"
output = 15
"""


def priced_proxy(home: Path, mock: MockProvider) -> None:
    """The Anthropic proxy, with the user's prices for two of the three listed models."""
    anthropic_proxy(home, mock)
    with (home / "config.toml").open("a") as config:
        config.write(PRICES)


def test_the_table_shows_the_users_configured_prices_and_a_dash_for_an_unknown_one(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with MockProvider(models=PRICED_IDS) as mock:
        priced_proxy(home, mock)
        assert main(["models"]) == 0
    _, sonnet, mystery, following = capsys.readouterr().out.splitlines()
    assert sonnet.split()[4:7] == ["200,000", "1.25", "10"]  # the config's, over the catalog's
    assert mystery.split()[:6] == ["claude-mystery", "Claude", "Mystery", "-", "-", "-"]
    assert following.split()[:6] == ["claude-next", "Claude", "Next", "-", "0.075", "15"]


def test_price_columns_are_right_aligned_under_their_headers(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with MockProvider(models=PRICED_IDS) as mock:
        priced_proxy(home, mock)
        assert main(["models"]) == 0
    header, sonnet, mystery, following = capsys.readouterr().out.splitlines()
    in_end = header.index("In $/M") + len("In $/M")
    out_end = header.index("Out $/M") + len("Out $/M")
    for row, cells in (
        (sonnet, ("1.25", "10")),
        (mystery, ("-", "-")),
        (following, ("0.075", "15")),
    ):
        assert row[in_end - len(cells[0]) - 1 : in_end] == f" {cells[0]}"
        assert row[out_end - len(cells[1]) - 1 : out_end] == f" {cells[1]}"


def test_json_carries_each_models_price_as_exact_strings_with_its_source(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with MockProvider(models=PRICED_IDS) as mock:
        priced_proxy(home, mock)
        assert main(["models", "--json"]) == 0
    models = {m["id"]: m for m in orjson.loads(capsys.readouterr().out)["models"]}
    assert models["claude-next"]["price"] == {
        "model": "claude-next",
        "source": "config",
        "input": "0.075",
        "output": "15",
        "cache_read": None,
        "cache_write": None,
        "reasoning": None,
        "long_context": None,
        "long_context_threshold": 200_000,
    }
    sonnet = models["claude-sonnet-4-5-20250929"]["price"]
    assert (sonnet["source"], sonnet["input"], sonnet["output"]) == ("config", "1.25", "10")
    assert models["claude-mystery"]["price"] is None


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


# --- the Amazon Bedrock built-ins: their built-in lists, no call -----------------------------

MANTLE = [
    ("openai.gpt-5.6-sol", "GPT-5.6 Sol", "gpt-5.6-sol"),
    ("openai.gpt-5.6-terra", "GPT-5.6 Terra", "gpt-5.6-terra"),
    ("openai.gpt-5.6-luna", "GPT-5.6 Luna", "gpt-5.6-luna"),
    ("openai.gpt-5.5", "GPT-5.5", "gpt-5.5"),
    ("openai.gpt-5.4", "GPT-5.4", "gpt-5.4"),
]
RUNTIME = [
    (f"{prefix}{model_id}", f"{name} ({label})", base)
    for prefix, label in (("global.", "Global"), ("us.", "US cross-region"))
    for model_id, name, base in MANTLE[:3]
]


def bedrock_json(provider_id: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["models", "--provider", provider_id, "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # a built-in list is no fallback: nothing to warn about
    listing: dict[str, Any] = orjson.loads(captured.out)
    assert listing["provider_id"] == provider_id
    assert listing["source"] == "built-in"
    assert listing["warning"] is None
    return listing


@pytest.mark.parametrize(
    ("provider_id", "expected", "search"),
    [
        pytest.param("amazon-bedrock", MANTLE, "text", id="mantle"),
        pytest.param("amazon-bedrock-runtime", RUNTIME, None, id="runtime"),
    ],
)
def test_json_lists_a_bedrock_built_ins_models_in_priority_order_with_their_metadata(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    provider_id: str,
    expected: list[tuple[str, str, str]],
    search: str | None,
) -> None:
    models = bedrock_json(provider_id, capsys)["models"]
    assert [(m["id"], m["display_name"]) for m in models] == [(i, n) for i, n, _ in expected]
    assert [m["priority"] for m in models] == list(range(len(expected)))
    compat = compatibility_catalog()
    for model, (model_id, _, base_id) in zip(models, expected, strict=True):
        base = compat.get(base_id)
        assert base is not None
        assert model["context_window"] == 272_000
        assert model["web_search"] == search
        assert model["description"] == base.description
        assert model["reasoning_control"] == "effort"
        assert model["default_reasoning_level"] == "medium"
        levels = model["supported_reasoning_levels"]
        assert levels[: len(base.supported_reasoning_levels)] == base.supported_reasoning_levels
        assert ("max" in levels) is ("gpt-5.6-" in model_id), model_id
        assert levels.count("max") <= 1
        assert model["sources"] == ["built-in", "compatibility"]


def test_mantle_offers_max_reasoning_on_5_6_only(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = {m["id"]: m for m in bedrock_json("amazon-bedrock", capsys)["models"]}
    assert models["openai.gpt-5.6-sol"]["supported_reasoning_levels"][-1] == "max"
    assert "max" not in models["openai.gpt-5.5"]["supported_reasoning_levels"]
    assert "max" not in models["openai.gpt-5.4"]["supported_reasoning_levels"]


def test_the_bedrock_table_names_the_built_in_list_as_its_source(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--provider", "amazon-bedrock-runtime"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    rows = captured.out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == [model_id for model_id, _, _ in RUNTIME]
    assert all(row.rstrip().endswith("built-in+compatibility") for row in rows)
    assert "272,000" in rows[0]
    assert "effort: none/low/medium/high/xhigh/max" in rows[0]
