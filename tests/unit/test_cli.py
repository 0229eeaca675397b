"""The ``modelwire`` command, run in-process through ``modelwire.cli.main`` (and once for real).

Every command reads ``$MODELWIRE_HOME/config.toml``; each test points ``MODELWIRE_HOME`` at its
own temporary directory. Every failing command is checked to print exactly one line on stderr,
no traceback, and to leave the user's config exactly as it was.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from modelwire import ProviderRegistry, WireApi, __version__, load_config
from modelwire.cli import main

SEED_EXAMPLE = """\
[model_providers.example]
name = "Example"
base_url = "https://api.example.com/v1"
env_key = "EXAMPLE_API_KEY"
wire_api = "chat"
"""

SECRETS = ("sk-secret-123", "sk-secret-456", "sk-secret-789")

WITH_SECRETS = """\
[model_providers.leaky]
name = "Leaky"
base_url = "https://llm.internal.example/v1"
env_key = "LEAKY_API_KEY"
experimental_bearer_token = "sk-secret-123"
http_headers = { Authorization = "Bearer sk-secret-456", X-Trace = "visible" }
query_params = { key = "sk-secret-789" }
"""

BEDROCK_US_EAST_1 = "https://bedrock-mantle.us-east-1.api.aws/openai/v1"

# The built-ins as the seed's "Built-In Runtime Providers" table describes them.
BUILT_INS = {
    "openai": ("OpenAI", "openai", "https://api.openai.com/v1"),
    "amazon-bedrock": ("Amazon Bedrock", "aws-sigv4", BEDROCK_US_EAST_1),
    "amazon-bedrock-runtime": (
        "Amazon Bedrock Runtime",
        "aws-sigv4",
        "https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1",
    ),
    "ollama": ("Ollama", "none", "http://localhost:11434/v1"),
    "lmstudio": ("LM Studio", "none", "http://localhost:1234/v1"),
}

LISTING_KEYS = {"id", "name", "wire_api", "env_key", "base_url", "auth", "models", "source"}

# Variables that would change what the commands print if the developer's shell had them set.
AMBIENT_ENV = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "MODELWIRE_OSS_PORT",
    "MODELWIRE_OSS_BASE_URL",
    "OPENAI_API_KEY",
    "EXAMPLE_API_KEY",
    "LEAKY_API_KEY",
    "FORCE_COLOR",
)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``MODELWIRE_HOME`` for this test; it does not exist until something writes to it."""
    for name in AMBIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("MODELWIRE_HOME", str(home))
    return home


@pytest.fixture
def config(home: Path) -> Path:
    return home / "config.toml"


@pytest.fixture
def cli(home: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``modelwire ARGV…`` in-process and return its exit status and output."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def run_modelwire(env: Mapping[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m modelwire ARGV…`` in a child process with ``env``: what a shell user sees,
    stderr logging included, which the in-process runner cannot show."""
    return subprocess.run(
        [sys.executable, "-m", "modelwire", *argv],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def listing(result: Result) -> dict[str, dict[str, Any]]:
    assert result.code == 0, result.err
    rows = orjson.loads(result.out)
    assert isinstance(rows, list)
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows), "provider ids must be unique"
    return by_id


def assert_one_error_line(result: Result, code: int = 1) -> str:
    """The command failed the way scripts expect: ``code`` (1: an error, 2: a usage error), one
    stderr line, nothing else."""
    assert result.code == code
    assert "Traceback" not in result.err
    assert result.err.endswith("\n")
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("modelwire: error: ")
    assert result.out == ""
    return lines[0]


def snapshot(path: Path) -> object:
    """Everything about ``path`` an error must not change: its bytes, or a directory's tree."""
    if path.is_dir():
        return {
            str(p.relative_to(path)): p.read_bytes() if p.is_file() else None
            for p in sorted(path.rglob("*"))
        }
    return path.read_bytes()


# --- providers --json ----------------------------------------------------------------------


def test_providers_json_objects_have_exactly_the_documented_keys(cli: Cli, config: Path) -> None:
    write(config, SEED_EXAMPLE)
    rows = listing(cli("providers", "--json"))
    for row in rows.values():
        assert set(row) == LISTING_KEYS


@pytest.mark.parametrize("provider_id", list(BUILT_INS))
def test_providers_json_lists_every_builtin_with_its_auth_kind(cli: Cli, provider_id: str) -> None:
    name, auth, base_url = BUILT_INS[provider_id]
    row = listing(cli("providers", "--json"))[provider_id]
    assert row == {
        "id": provider_id,
        "name": name,
        "wire_api": "responses",
        "env_key": None,
        "base_url": base_url,
        "auth": auth,
        "models": None,
        "source": "built-in",
    }


def test_providers_json_lists_builtins_first_even_without_a_config(cli: Cli, home: Path) -> None:
    rows = listing(cli("providers", "--json"))
    assert list(rows)[: len(BUILT_INS)] == list(BUILT_INS)
    assert not home.exists(), "listing must not create the config"


def test_providers_json_lists_the_seed_custom_provider_from_config(cli: Cli, config: Path) -> None:
    write(config, SEED_EXAMPLE)
    assert listing(cli("providers", "--json"))["example"] == {
        "id": "example",
        "name": "Example",
        "wire_api": "chat",
        "env_key": "EXAMPLE_API_KEY",
        "base_url": "https://api.example.com/v1",
        "auth": "env-key",
        "models": None,
        "source": "config",
    }


def test_providers_json_derives_the_bedrock_url_from_aws_region(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    row = listing(cli("providers", "--json"))["amazon-bedrock"]
    assert row["base_url"] == "https://bedrock-mantle.eu-west-1.api.aws/openai/v1"


def test_providers_still_lists_bedrock_in_a_region_mantle_does_not_serve(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    assert listing(cli("providers", "--json"))["amazon-bedrock"]["base_url"] is None
    table = cli("providers")
    assert table.code == 0
    bedrock = next(line for line in table.out.splitlines() if line.startswith("amazon-bedrock "))
    assert "(unavailable here)" in bedrock
    shown = cli("providers", "show", "amazon-bedrock", "--json")
    assert shown.code == 0
    assert "not served in region 'ca-central-1'" in orjson.loads(shown.out)["error"]


# --- providers (table) ---------------------------------------------------------------------


def test_providers_table_lists_every_id_with_full_urls_when_piped(cli: Cli, config: Path) -> None:
    write(config, SEED_EXAMPLE)
    result = cli("providers")
    assert result.code == 0
    assert result.err == ""
    lines = result.out.splitlines()
    for provider_id in [*BUILT_INS, "example"]:
        assert any(line.split()[:1] == [provider_id] for line in lines), provider_id
    # Not truncated with an ellipsis and not wrapped onto a second line.
    bedrock = next(line for line in lines if line.startswith("amazon-bedrock "))
    assert BEDROCK_US_EAST_1 in bedrock
    assert "…" not in result.out


@pytest.mark.parametrize(
    ("name", "base_url"),
    [
        ("Acme [beta]", "http://acme.example/v1"),
        ("Acme", "http://acme.example/v1?route=[bold]"),
        ("Acme [/beta]", "http://acme.example/v1"),
    ],
)
def test_providers_table_prints_names_and_urls_verbatim(
    cli: Cli, config: Path, name: str, base_url: str
) -> None:
    write(config, f'[model_providers.acme]\nname = "{name}"\nbase_url = "{base_url}"\n')
    result = cli("providers")
    assert result.code == 0
    acme = next(line for line in result.out.splitlines() if line.startswith("acme "))
    assert name in acme
    assert base_url in acme


# --- providers show ------------------------------------------------------------------------


def test_providers_show_text_masks_every_secret(cli: Cli, config: Path) -> None:
    write(config, WITH_SECRETS)
    result = cli("providers", "show", "leaky")
    assert result.code == 0
    for secret in SECRETS:
        assert secret not in result.out + result.err
    fields = dict(line.split(maxsplit=1) for line in result.out.splitlines())
    assert fields["id"] == "leaky"
    assert fields["experimental_bearer_token"] not in ("", "null")
    assert orjson.loads(fields["http_headers"])["X-Trace"] == "visible"
    assert set(orjson.loads(fields["query_params"])) == {"key"}


def test_providers_show_json_masks_every_secret(cli: Cli, config: Path) -> None:
    write(config, WITH_SECRETS)
    result = cli("providers", "show", "leaky", "--json")
    assert result.code == 0
    for secret in SECRETS:
        assert secret not in result.out + result.err
    shown = orjson.loads(result.out)
    assert shown["id"] == "leaky"
    assert shown["source"] == "config"
    assert shown["auth_kind"] == "bearer-token"
    assert shown["experimental_bearer_token"] is not None
    assert set(shown["http_headers"]) == {"Authorization", "X-Trace"}
    assert shown["http_headers"]["X-Trace"] == "visible"
    assert set(shown["query_params"]) == {"key"}


@pytest.mark.parametrize(
    "header", ["Authorization", "Proxy-Authorization", "X-Api-Key", "api-key", "x-goog-api-key"]
)
@pytest.mark.parametrize("form", [(), ("--json",)], ids=["text", "json"])
def test_providers_show_masks_credential_headers(
    cli: Cli, config: Path, header: str, form: tuple[str, ...]
) -> None:
    write(config, f'[model_providers.p]\nhttp_headers = {{ {header} = "sk-header-000" }}\n')
    result = cli("providers", "show", "p", *form)
    assert result.code == 0
    assert header in result.out
    assert "sk-header-000" not in result.out + result.err


@pytest.mark.parametrize("form", [(), ("--json",)], ids=["text", "json"])
@pytest.mark.parametrize(("value", "is_set"), [(None, False), ("  ", False), ("sk-env-42", True)])
def test_providers_show_reports_whether_env_key_is_set_never_its_value(
    cli: Cli,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    form: tuple[str, ...],
    value: str | None,
    is_set: bool,
) -> None:
    write(config, SEED_EXAMPLE)
    if value is not None:
        monkeypatch.setenv("EXAMPLE_API_KEY", value)
    result = cli("providers", "show", "example", *form)
    assert result.code == 0
    assert "sk-env-42" not in result.out + result.err
    if form:
        assert orjson.loads(result.out)["env_key_set"] is is_set
    else:
        assert f"env_key_set {str(is_set).lower()}" in " ".join(result.out.split())


def test_providers_show_json_flag_before_show_still_prints_json(cli: Cli) -> None:
    result = cli("providers", "--json", "show", "openai")
    assert result.code == 0
    assert orjson.loads(result.out)["id"] == "openai"


@pytest.mark.parametrize(
    "argv",
    [
        ("providers", "show", "nope"),
        ("harness", "--provider", "nope"),
        ("chat", "--provider", "nope", "hi"),
        ("bench", "--provider", "nope"),
        ("models", "--provider", "nope"),
    ],
    ids=["show", "harness", "chat", "bench", "models"],
)
def test_an_unknown_provider_on_the_command_line_is_a_one_line_usage_error(
    cli: Cli, argv: tuple[str, ...]
) -> None:
    line = assert_one_error_line(cli(*argv), code=2)
    assert "unknown provider 'nope'" in line


@pytest.mark.parametrize(
    "argv",
    [
        ("providers", "show", "opnai"),
        ("chat", "--provider", "opnai", "hi"),
        ("bench", "--provider", "opnai"),
    ],
    ids=["show", "chat", "bench"],
)
def test_an_unknown_provider_is_named_with_a_suggestion_before_a_model_is_asked_for(
    cli: Cli, argv: tuple[str, ...]
) -> None:
    line = assert_one_error_line(cli(*argv), code=2)
    assert "unknown provider 'opnai' (did you mean 'openai'?)" in line
    assert "no model" not in line


# --- harness -------------------------------------------------------------------------------

MOONSHOT_PROXY = """\
[model_providers.corp]
name = "Corp"
base_url = "https://api.moonshot.ai/v1"
"""


@pytest.mark.parametrize(
    ("config_text", "argv", "expected"),
    [
        pytest.param("", ("--provider", "openai", "--model", "gpt-5"), "none", id="openai-gpt5"),
        pytest.param(
            "",
            ("--provider", "openai", "--model", "anthropic/claude-sonnet-4-5"),
            "claude-code",
            id="anthropic-model-prefix",
        ),
        pytest.param(
            'harness = "my-harness"\n',
            ("--provider", "openai", "--model", "anthropic/claude-sonnet-4-5"),
            "my-harness",
            id="explicit-harness-wins",
        ),
        pytest.param(
            SEED_EXAMPLE, ("--provider", "example", "--model", "qwq-32b"), "qwen-code", id="qwq"
        ),
        pytest.param(
            '[model_providers.anthro]\nbase_url = "https://gw.example/v1"\nwire_api = "messages"\n',
            ("--provider", "anthro"),
            "claude-code",
            id="messages-wire-api",
        ),
        pytest.param("", ("--provider", "openai", "--model", "kimi-k2"), "kimi-cli", id="kimi"),
        pytest.param(
            "",
            ("--provider", "ollama", "--model", "deepseek-r1:14b"),
            "deepseek-tui",
            id="deepseek",
        ),
        pytest.param("", (), "none", id="no-config-means-openai"),
        pytest.param(
            'model_provider = "corp"\n' + MOONSHOT_PROXY, (), "kimi-cli", id="config-provider"
        ),
        pytest.param(
            'model_provider = "corp"\n' + MOONSHOT_PROXY,
            ("--provider", "openai"),
            "none",
            id="provider-flag-beats-config",
        ),
        pytest.param(
            'model = "deepseek-chat"\n',
            ("--provider", "openai"),
            "deepseek-tui",
            id="config-model",
        ),
        pytest.param(
            'model = "deepseek-chat"\n',
            ("--provider", "openai", "--model", "gpt-5"),
            "none",
            id="model-flag-beats-config",
        ),
    ],
)
def test_harness_prints_the_selected_harness_or_none(
    cli: Cli, config: Path, config_text: str, argv: tuple[str, ...], expected: str
) -> None:
    if config_text:
        write(config, config_text)
    result = cli("harness", *argv)
    assert (result.code, result.out, result.err) == (0, f"{expected}\n", "")


# --- setup openai-api-key ------------------------------------------------------------------

HAND_WRITTEN = """\
# modelwire config, kept by hand
# (two comment lines up top)

model_provider = "example"  # the default
model = "gpt-4.1"

# the seed's custom provider
[model_providers.example]
name = "Example"
base_url = "https://api.example.com/v1"
env_key = "EXAMPLE_API_KEY"  # read at request time
wire_api = "chat"

# ollama runs on the GPU box
[model_providers.ollama]
base_url = "http://gpu-box:11434/v1"
# trailing comment
"""


def comments(text: str) -> list[str]:
    return [line[line.index("#") :] for line in text.splitlines() if "#" in line]


def assert_preset_selected(config: Path) -> None:
    """The written config loads and selects a working OpenAI-compatible provider."""
    loaded = load_config(config)
    assert loaded.model_provider == "openai_api_key"
    registry = ProviderRegistry.from_config(loaded, env={})
    provider = registry.default()
    assert provider.id == "openai_api_key"
    assert provider.info.env_key == "OPENAI_API_KEY"
    assert provider.info.wire_api is WireApi.RESPONSES
    assert provider.base_url == "https://api.openai.com/v1"
    assert registry.get("openai").source.value == "built-in"


def test_setup_creates_a_missing_config_and_its_directory(cli: Cli, home: Path) -> None:
    config = home / "config.toml"
    result = cli("setup", "openai-api-key")
    assert result.code == 0, result.err
    assert result.out.startswith(f"created {config}: model_provider = 'openai_api_key'")
    assert_preset_selected(config)


def test_setup_keeps_comments_other_tables_and_keys(cli: Cli, config: Path) -> None:
    write(config, HAND_WRITTEN)
    result = cli("setup", "openai-api-key")
    assert result.code == 0, result.err
    text = config.read_text()
    new_lines = text.splitlines()
    for comment in comments(HAND_WRITTEN):
        assert comment in text
    for line in HAND_WRITTEN.splitlines():
        if not line.startswith("model_provider "):
            assert line in new_lines
    assert_preset_selected(config)
    loaded = load_config(config)
    assert loaded.model == "gpt-4.1"
    example = loaded.model_providers["example"]
    assert (example.name, example.base_url, example.env_key, example.wire_api) == (
        "Example",
        "https://api.example.com/v1",
        "EXAMPLE_API_KEY",
        WireApi.CHAT,
    )
    ollama = ProviderRegistry.from_config(loaded, env={}).get("ollama")
    assert ollama.base_url == "http://gpu-box:11434/v1"


def test_setup_reports_the_previous_model_provider(cli: Cli, config: Path) -> None:
    write(config, HAND_WRITTEN)
    result = cli("setup", "openai-api-key")
    assert result.out.splitlines()[0] == (
        f"updated {config}: model_provider = 'openai_api_key' (was 'example')"
    )


def test_setup_model_flag_sets_the_default_model(cli: Cli, config: Path) -> None:
    write(config, HAND_WRITTEN)
    assert cli("setup", "openai-api-key", "--model", "gpt-5").code == 0
    assert load_config(config).model == "gpt-5"


def test_setup_without_model_flag_keeps_the_model(cli: Cli, config: Path) -> None:
    assert cli("setup", "openai-api-key").code == 0
    assert load_config(config).model is None


@pytest.mark.parametrize(("value", "noted"), [(None, True), ("", True), ("sk-live-1", False)])
def test_setup_notes_when_openai_api_key_is_unset(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str | None, noted: bool
) -> None:
    if value is not None:
        monkeypatch.setenv("OPENAI_API_KEY", value)
    result = cli("setup", "openai-api-key")
    assert result.code == 0
    assert ("OPENAI_API_KEY is not set" in result.out) is noted
    assert "sk-live-1" not in result.out + result.err


@pytest.mark.parametrize("original", ["", HAND_WRITTEN], ids=["fresh", "hand-written"])
def test_setup_twice_is_idempotent(cli: Cli, config: Path, original: str) -> None:
    if original:
        write(config, original)
    assert cli("setup", "openai-api-key", "--model", "gpt-5").code == 0
    first = config.read_bytes()
    assert cli("setup", "openai-api-key", "--model", "gpt-5").code == 0
    assert config.read_bytes() == first
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


def test_setup_again_does_not_report_a_previous_provider(cli: Cli) -> None:
    assert cli("setup", "openai-api-key").code == 0
    again = cli("setup", "openai-api-key")
    assert again.code == 0
    assert "(was" not in again.out


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('model = "unterminated\n', id="unterminated-string"),
        pytest.param('model = "a"\nmodel = "b"\n', id="duplicate-key"),
        pytest.param("[model_providers.example\n", id="unclosed-table-header"),
        pytest.param(
            '[model_providers.example]\nhttp_headers = { X-A = "1", }\n',
            id="trailing-comma-in-inline-table",
        ),
        pytest.param(
            '[model_providers.example]\nauth.command = "x"\n'
            "[model_providers.example.auth]\nargs = []\n",
            id="table-defined-twice",
        ),
    ],
)
def test_setup_leaves_a_config_with_a_toml_syntax_error_untouched(
    cli: Cli, config: Path, text: str
) -> None:
    before = write(config, text).read_bytes()
    line = assert_one_error_line(cli("setup", "openai-api-key"))
    assert str(config) in line
    assert "line " in line
    assert config.read_bytes() == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


def test_setup_names_the_same_syntax_error_position_as_loading(cli: Cli, config: Path) -> None:
    write(config, 'model = "unterminated\n')
    loading = assert_one_error_line(cli("providers"))
    setup = assert_one_error_line(cli("setup", "openai-api-key"))
    position = loading.split(f"{config}: ", 1)[1].split(":", 1)[0]
    assert position.startswith("line 1, column ")
    assert f"{config}: {position}:" in setup


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('model_providers.example.name = "Example"\n', id="dotted-keys"),
        pytest.param('model_providers = { example = { name = "Example" } }\n', id="inline-table"),
    ],
)
def test_setup_accepts_other_valid_spellings_of_model_providers(
    cli: Cli, config: Path, text: str
) -> None:
    assert load_config(write(config, text)).model_providers["example"].name == "Example"
    result = cli("setup", "openai-api-key")
    assert result.code == 0, result.err
    assert_preset_selected(config)
    assert load_config(config).model_providers["example"].name == "Example"


# --- error paths ---------------------------------------------------------------------------

DIRECTORY = None  # stands for "config.toml is a directory"

BAD_CONFIGS = [
    pytest.param(DIRECTORY, ("is a directory",), id="directory"),
    pytest.param(b'# caf\xe9\nmodel = "x"\n', ("not valid UTF-8", "line 1"), id="non-utf8"),
    pytest.param(b'colour = "blue"\n', ("colour: unknown key",), id="unknown-key"),
    pytest.param(
        b'[model_providers.example]\nbase_urll = "https://x/v1"\n',
        ("model_providers.example.base_urll: unknown key",),
        id="unknown-provider-key",
    ),
    pytest.param(
        b'[model_providers.example]\nwire_api = "grpc"\n',
        ("model_providers.example.wire_api", "grpc", "'responses'", "'chat'", "'messages'"),
        id="wire-api-grpc",
    ),
    pytest.param(
        b'[model_providers.ollama-chat]\nbase_url = "http://localhost:11434/v1"\n',
        ("model_providers.ollama-chat", "`ollama`"),
        id="ollama-chat-table",
    ),
    pytest.param(
        b'[model_providers.amazon-bedrock]\nwire_api = "chat"\n',
        ("model_providers.amazon-bedrock", "wire_api cannot be changed"),
        id="bedrock-wire-api-override",
    ),
    pytest.param(
        b'[model_providers.example.auth]\ncommand = "get-token"\ntimeout_ms = 0\n',
        ("model_providers.example.auth.timeout_ms",),
        id="timeout-ms-zero",
    ),
]

READ_COMMANDS = [
    pytest.param(("providers",), id="providers"),
    pytest.param(("providers", "--json"), id="providers-json"),
    pytest.param(("providers", "show", "openai"), id="show"),
    pytest.param(("providers", "show", "openai", "--json"), id="show-json"),
    pytest.param(("harness", "--provider", "openai"), id="harness"),
]


def install(config: Path, content: bytes | None) -> object:
    """Put a bad config in place and return its snapshot."""
    if content is DIRECTORY:
        write(config / "notes.txt", "a directory where the config should be\n")
    else:
        write(config, content)
    return snapshot(config)


def assert_bad_config_reported(result: Result, config: Path, fragments: tuple[str, ...]) -> None:
    line = assert_one_error_line(result)
    assert str(config) in line
    for fragment in fragments:
        assert fragment in line


@pytest.mark.parametrize("argv", READ_COMMANDS)
@pytest.mark.parametrize(("content", "fragments"), BAD_CONFIGS)
def test_bad_config_is_one_error_line_and_left_unchanged(
    cli: Cli,
    config: Path,
    argv: tuple[str, ...],
    content: bytes | None,
    fragments: tuple[str, ...],
) -> None:
    before = install(config, content)
    assert_bad_config_reported(cli(*argv), config, fragments)
    assert snapshot(config) == before


@pytest.mark.parametrize("argv", READ_COMMANDS)
def test_selecting_ollama_chat_says_to_use_ollama(
    cli: Cli, config: Path, argv: tuple[str, ...]
) -> None:
    before = install(config, b'model_provider = "ollama-chat"\n')
    assert_bad_config_reported(cli(*argv), config, ("model_provider", "`ollama`"))
    assert snapshot(config) == before


@pytest.mark.parametrize(("content", "fragments"), BAD_CONFIGS)
def test_setup_refuses_a_bad_config_and_leaves_it_unchanged(
    cli: Cli, config: Path, content: bytes | None, fragments: tuple[str, ...]
) -> None:
    before = install(config, content)
    assert_bad_config_reported(cli("setup", "openai-api-key"), config, fragments)
    assert snapshot(config) == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("frobnicate",),
        ("providers", "show"),
        ("harness", "--bogus"),
        ("setup",),
        ("setup", "anthropic-api-key"),
    ],
    ids=["no-command", "unknown-command", "show-without-id", "bad-flag", "no-preset", "bad-preset"],
)
def test_usage_error_is_one_line_with_exit_status_2(
    home: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "error:" in err
    assert "Traceback" not in err


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"modelwire {__version__}\n"
    assert importlib.metadata.version("modelwire") == __version__


def test_console_script_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "modelwire"
    assert script.is_file(), "the modelwire console script is not installed in this venv"
    home = tmp_path / "home"
    config = write(home / "config.toml", '[model_providers.example]\nwire_api = "grpc"\n')
    before = config.read_bytes()
    env = {**os.environ, "MODELWIRE_HOME": str(home)}
    completed = subprocess.run(
        [str(script), "providers"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith(f"modelwire: error: {config}: model_providers.example.wire_api")
    assert completed.stdout == ""
    assert config.read_bytes() == before


# --- catalogs ------------------------------------------------------------------------------


def test_providers_markdown_prints_the_seed_table_shape(cli: Cli, config: Path) -> None:
    write(config, SEED_EXAMPLE)
    result = cli("providers", "--markdown")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "| Provider ID | Name | Wire API | Auth env | Models |"
    assert lines[1] == "|---|---|---|---|---|"
    assert "| openai | OpenAI | responses |  |  |" in lines
    assert "| example | Example | chat | EXAMPLE_API_KEY |  |" in lines
    anthropic = next(line for line in lines if line.startswith("| anthropic |"))
    assert anthropic.startswith("| anthropic | Anthropic | messages | ANTHROPIC_API_KEY | ")
    assert anthropic.removesuffix(" |").rsplit("| ", 1)[1].isdigit()


def test_providers_json_includes_catalog_providers_with_model_counts(cli: Cli) -> None:
    rows = listing(cli("providers", "--json"))
    groq = rows["groq"]
    assert groq["source"] == "catalog"
    assert groq["auth"] == "env-key"
    assert groq["env_key"] == "GROQ_API_KEY"
    assert isinstance(groq["models"], int)
    assert groq["models"] > 0
    assert list(rows)[: len(BUILT_INS)] == list(BUILT_INS)


def test_configured_provider_redirects_a_catalog_provider(cli: Cli, config: Path) -> None:
    write(
        config, '[model_providers.groq]\nname = "Groq proxy"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    groq = listing(cli("providers", "--json"))["groq"]
    assert (groq["source"], groq["base_url"], groq["name"]) == (
        "config",
        "http://127.0.0.1:9/v1",
        "Groq proxy",
    )


SHADOW = '[model_providers.anthropic]\nbase_url = "https://llm-proxy.corp.example/anthropic"\n'


def test_providers_show_says_a_table_replaces_the_catalog_provider_whole(
    cli: Cli, config: Path
) -> None:
    write(config, SHADOW)
    text = cli("providers", "show", "anthropic")
    assert text.code == 0, text.err
    line = next(row for row in text.out.splitlines() if row.startswith("replaces "))
    assert "the catalog provider Anthropic whole" in line
    assert "wire_api messages" in line
    assert "env_key ANTHROPIC_API_KEY" in line
    assert "inherits none of it" in line
    shown = orjson.loads(cli("providers", "show", "anthropic", "--json").out)
    assert (shown["source"], shown["wire_api"], shown["auth_kind"]) == (
        "config",
        "responses",
        "none",
    )
    assert shown["replaces"] == {
        "source": "catalog",
        "name": "Anthropic",
        "wire_api": "messages",
        "env_key": "ANTHROPIC_API_KEY",
        "base_url": "https://api.anthropic.com",
    }


def test_providers_show_of_a_provider_that_replaces_nothing_has_no_replaces_line(
    cli: Cli, config: Path
) -> None:
    write(config, SEED_EXAMPLE)
    for provider_id in ("example", "anthropic", "openai"):
        shown = orjson.loads(cli("providers", "show", provider_id, "--json").out)
        assert "replaces" not in shown, provider_id


def test_a_command_warns_on_stderr_in_one_line_about_a_table_that_drops_catalog_keys(
    tmp_path: Path,
) -> None:
    write(tmp_path / "config.toml", SHADOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_"))}
    env["MODELWIRE_HOME"] = str(tmp_path)
    done = run_modelwire(env, "providers", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert line == (
        f"{tmp_path / 'config.toml'}: model_providers.anthropic replaces the catalog provider "
        'Anthropic whole and leaves out its wire_api = "messages" and '
        'env_key = "ANTHROPIC_API_KEY"; add them to the table to keep them'
    )
    rows = {row["id"]: row for row in orjson.loads(done.stdout)}
    assert rows["anthropic"]["wire_api"] == "responses"


MINI_SOURCE = (
    b'{"tiny": {"name": "Tiny", "npm": "@ai-sdk/openai-compatible", "api": "https://t.example/v1",'
    b' "env": ["TINY_KEY"], "models": {"t1": {"tool_call": true}}}}'
)


def test_catalog_generate_providers_writes_and_reports_counts(cli: Cli, tmp_path: Path) -> None:
    source = write(tmp_path / "api.json", MINI_SOURCE)
    output = tmp_path / "out.json"
    result = cli(
        "catalog", "generate", "providers", "--source", str(source), "--output", str(output)
    )
    assert result.code == 0, result.err
    assert result.out == f"wrote 1 providers, 1 models to {output}\n"
    assert orjson.loads(output.read_bytes())["providers"][0]["id"] == "tiny"


def test_catalog_generate_providers_failure_is_one_line(cli: Cli, tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    line = assert_one_error_line(
        cli("catalog", "generate", "providers", "--source", str(tmp_path / "missing.json"),
            "--output", str(output))
    )  # fmt: skip
    assert "models.dev catalog" in line
    assert not output.exists()


def test_catalog_generate_needs_moonshot_auth_or_a_recorded_list(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    monkeypatch.delenv("KIMI_API_KEY", raising=False)
    source = write(
        tmp_path / "api.json",
        b'{"moonshotai": {"name": "Moonshot AI", "npm": "@ai-sdk/openai-compatible",'
        b' "api": "https://api.moonshot.ai/v1", "env": ["MOONSHOT_API_KEY"],'
        b' "models": {"kimi-k2.5": {"tool_call": true}}}}',
    )
    output = tmp_path / "out.json"
    base = ("catalog", "generate", "providers", "--source", str(source), "--output", str(output))
    line = assert_one_error_line(cli(*base))
    assert "MOONSHOT_API_KEY or KIMI_API_KEY" in line
    assert "https://api.moonshot.ai/v1/models" in line
    recorded = write(tmp_path / "live.json", b'{"data": [{"id": "kimi-k2.5"}, {"id": "kimi-k3"}]}')
    result = cli(*base, "--live-source", f"moonshotai={recorded}")
    assert result.code == 0, result.err
    assert "2 models" in result.out


def test_live_source_argument_must_be_id_equals_path(cli: Cli) -> None:
    with pytest.raises(SystemExit) as caught:
        cli("catalog", "generate", "providers", "--live-source", "moonshotai")
    assert caught.value.code == 2


def test_the_command_exports_its_calls_as_the_otel_variables_ask(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MODELWIRE_HOME": str(tmp_path),
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "modelwire-cli-test",
    }
    done = run_modelwire(env, "chat", "trace me")
    assert done.returncode == 0, done.stderr
    assert "Echo: trace me" in done.stdout
    assert '"name": "chat mock-model"' in done.stderr
    assert "gen_ai.client.operation.duration" in done.stderr
    assert "modelwire-cli-test" in done.stderr


def test_without_otel_variables_the_command_exports_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["MODELWIRE_HOME"] = str(tmp_path)
    done = run_modelwire(env, "chat", "quiet")
    assert done.returncode == 0, done.stderr
    assert "gen_ai" not in done.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--requests", "0"], "must be at least 1, got 0"),
        (["--concurrency", "x"], "not a number: 'x'"),
        (["--warmup", "-1"], "must be at least 0, got -1"),
        (["--duration", "0"], "must be more than 0.0, got 0"),
    ],
)
def test_bench_numbers_out_of_range_are_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", *flags])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


# --- mock: bad flags fail at startup, in one line -----------------------------------------------


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_mock_port_out_of_range_is_a_one_line_usage_error(
    home: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["mock", "--port", port])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "argument --port" in err
    assert "Traceback" not in err


def test_mock_log_in_a_missing_folder_fails_before_listening(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelwire.mock import _server

    def never(**kwargs: object) -> None:
        raise AssertionError("the mock started serving with a log it cannot write")

    monkeypatch.setattr(_server, "serve_forever", never)
    log = tmp_path / "missing" / "requests.jsonl"
    line = assert_one_error_line(cli("mock", "--log", str(log)))
    assert f"--log {log}: cannot write it: No such file or directory" in line


def test_mock_demo_home_never_replaces_a_config_it_did_not_write(cli: Cli, home: Path) -> None:
    config = write(home / "config.toml", SEED_EXAMPLE)
    line = assert_one_error_line(cli("mock", "--demo-home", str(home)))
    assert "config.toml exists and was not written by the mock" in line
    assert config.read_text() == SEED_EXAMPLE
    assert not (home / "auth.json").exists()


def test_flags_that_need_each_other_and_a_key_on_the_command_line_are_usage_errors(
    cli: Cli,
) -> None:
    line = assert_one_error_line(cli("mock", "--ttft-jitter", "0.2"), code=2)
    assert "--ttft-jitter spreads --ttft-ms" in line
    line = assert_one_error_line(cli("login", "--api-key", "sk-typed-here"), code=2)
    assert "sk-typed-here" not in line
