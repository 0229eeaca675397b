"""config.toml loading: the seed's shapes load, and every kind of bad input gets a clear error.

Every failing load is also checked to leave the user's file exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelwire.config import config_path, load_config, modelwire_home
from modelwire.errors import ConfigError
from modelwire.providers import AuthKind, ProviderAuthInfo, ProviderAwsInfo, WireApi

SEED_CUSTOM_PROVIDER = """
[model_providers.example]
name = "Example"
base_url = "https://api.example.com/v1"
env_key = "EXAMPLE_API_KEY"
wire_api = "chat"
"""

SEED_COMMAND_AUTH = """
[model_providers.example]
name = "Example"
base_url = "https://api.example.com/v1"

[model_providers.example.auth]
command = "example-token"
args = ["print"]
timeout_ms = 5000
refresh_interval_ms = 300000
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


@pytest.fixture
def unchanged(config_file: Path) -> Iterator[None]:
    """After the test, the config file's bytes must be what the test wrote."""
    yield
    if config_file.is_file():
        assert config_file.read_bytes() == _written[config_file]


_written: dict[Path, bytes] = {}


def write(path: Path, text: str | bytes) -> Path:
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(data)
    _written[path] = data
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


def test_home_defaults_to_dot_modelwire_and_honours_the_env() -> None:
    assert modelwire_home({}) == Path("~/.modelwire").expanduser()
    assert modelwire_home({"MODELWIRE_HOME": "  "}) == Path("~/.modelwire").expanduser()
    assert config_path({"MODELWIRE_HOME": "/srv/mw"}) == Path("/srv/mw/config.toml")


def test_missing_file_is_an_empty_config(config_file: Path) -> None:
    config = load_config(config_file)
    assert config.model_providers == {}
    assert config.model_provider is None
    assert config.file == config_file


def test_seed_custom_provider_example_loads(config_file: Path) -> None:
    config = load_config(write(config_file, SEED_CUSTOM_PROVIDER))
    example = config.model_providers["example"]
    assert example.name == "Example"
    assert example.base_url == "https://api.example.com/v1"
    assert example.env_key == "EXAMPLE_API_KEY"
    assert example.wire_api is WireApi.CHAT
    assert example.auth_kind is AuthKind.ENV_KEY


def test_seed_command_auth_example_loads(config_file: Path) -> None:
    example = load_config(write(config_file, SEED_COMMAND_AUTH)).model_providers["example"]
    assert example.auth == ProviderAuthInfo(
        command="example-token", args=["print"], timeout_ms=5000, refresh_interval_ms=300000
    )
    assert example.auth_kind is AuthKind.COMMAND


def test_top_level_keys_load(config_file: Path) -> None:
    text = 'model_provider = "example"\nmodel = "m-1"\nharness = "claude-code"\n'
    config = load_config(write(config_file, text + SEED_CUSTOM_PROVIDER))
    assert (config.model_provider, config.model, config.harness) == (
        "example",
        "m-1",
        "claude-code",
    )


@pytest.mark.parametrize("wire_api", ["responses", "chat", "messages"])
def test_each_wire_api_value_is_accepted(config_file: Path, wire_api: str) -> None:
    text = f'[model_providers.p]\nbase_url = "http://h/v1"\nwire_api = "{wire_api}"\n'
    assert load_config(write(config_file, text)).model_providers["p"].wire_api == wire_api


def test_provider_name_defaults_to_its_id(config_file: Path) -> None:
    config = load_config(write(config_file, '[model_providers.corp]\nbase_url = "http://h"\n'))
    assert config.model_providers["corp"].name == "corp"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("text", "key_path"),
    [
        ('colour = "blue"\n', "colour"),
        ('[model_providers.example]\nbase_urll = "x"\n', "model_providers.example.base_urll"),
        (
            '[model_providers.example.auth]\ncommand = "x"\nshell = true\n',
            "model_providers.example.auth.shell",
        ),
        ('[model_providers.example.aws]\nzone = "x"\n', "model_providers.example.aws.zone"),
    ],
)
def test_unknown_key_is_named_by_its_path(config_file: Path, text: str, key_path: str) -> None:
    error = load_error(write(config_file, text))
    assert error.key_path == key_path
    assert str(error) == f"{config_file}: {key_path}: unknown key ({error.hint})"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("text", "key_path", "detail"),
    [
        (
            '[model_providers.e]\nrequest_max_retries = "3"\n',
            "model_providers.e.request_max_retries",
            "expected int, got str",
        ),
        ("[model_providers.e]\nname = 5\n", "model_providers.e.name", "expected str, got int"),
        (
            "[model_providers.e]\nsupports_websockets = 1\n",
            "model_providers.e.supports_websockets",
            "expected bool, got int",
        ),
        (
            '[model_providers.e]\nhttp_headers = { x-ok = "1", x-bad = 2 }\n',
            "model_providers.e.http_headers.x-bad",
            "expected str, got int",
        ),
        (
            '[model_providers.e.auth]\ncommand = "x"\ntimeout_ms = "5000"\n',
            "model_providers.e.auth.timeout_ms",
            "expected int, got str",
        ),
        (
            '[model_providers.e.auth]\nargs = ["x"]\n',
            "model_providers.e.auth.command",
            "is required",
        ),
        ("model = 3\n", "model", "expected str, got int"),
        (
            'model_providers = { e = "not a table" }\n',
            "model_providers.e",
            "expected object, got str",
        ),
        (
            "[model_providers.e]\nrequest_max_retries = -1\n",
            "model_providers.e.request_max_retries",
            "expected int >= 0",
        ),
    ],
)
def test_wrong_type_names_the_key_and_the_types(
    config_file: Path, text: str, key_path: str, detail: str
) -> None:
    error = load_error(write(config_file, text))
    assert error.key_path == key_path
    assert detail in error.message


@pytest.mark.usefixtures("unchanged")
def test_unknown_wire_api_lists_the_three_valid_values(config_file: Path) -> None:
    error = load_error(write(config_file, '[model_providers.e]\nwire_api = "grpc"\n'))
    assert error.key_path == "model_providers.e.wire_api"
    text = str(error)
    assert "'grpc' is not a wire API" in text
    assert "'responses', 'chat', 'messages'" in text


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'env_key = "K"\nexperimental_bearer_token = "t"\nrequires_openai_auth = true\n'
            "supports_websockets = true\n[model_providers.e.aws]\n",
            "aws cannot be combined with env_key, experimental_bearer_token, "
            "requires_openai_auth, supports_websockets",
        ),
        (
            '[model_providers.e.aws]\n[model_providers.e.auth]\ncommand = "c"\n',
            "aws cannot be combined with auth",
        ),
        (
            'env_key = "K"\nexperimental_bearer_token = "t"\nrequires_openai_auth = true\n'
            '[model_providers.e.auth]\ncommand = "c"\n',
            "auth cannot be combined with env_key, experimental_bearer_token, requires_openai_auth",
        ),
        ('[model_providers.e.auth]\ncommand = "  "\n', "auth.command must not be blank"),
        ('env_http_headers = { x-org = "" }\n', "env_http_headers must name an environment"),
    ],
)
def test_conflicts_are_errors_listing_every_key(config_file: Path, body: str, message: str) -> None:
    error = load_error(write(config_file, f"[model_providers.e]\n{body}"))
    assert error.key_path == "model_providers.e"
    assert message in error.message


@pytest.mark.usefixtures("unchanged")
def test_zero_auth_timeout_is_rejected_at_its_key(config_file: Path) -> None:
    error = load_error(
        write(config_file, '[model_providers.e.auth]\ncommand = "c"\ntimeout_ms = 0\n')
    )
    assert error.key_path == "model_providers.e.auth.timeout_ms"
    assert ">= 1" in error.message


@pytest.mark.usefixtures("unchanged")
def test_toml_syntax_error_names_line_and_column(config_file: Path) -> None:
    error = load_error(write(config_file, 'model = "a"\n\n[model_providers.e\nname = "x"\n'))
    assert "line 3, column" in error.message
    assert "TOML syntax error" in error.message
    assert str(config_file) in str(error)


@pytest.mark.usefixtures("unchanged")
def test_non_utf8_file_names_line_column_and_byte(config_file: Path) -> None:
    error = load_error(write(config_file, b'model = "a"\nname = "caf\xe9"\n'))
    assert error.message.startswith("line 2, column 12: not valid UTF-8 (byte 0xe9)")


def test_directory_in_place_of_the_file_is_an_error(config_file: Path) -> None:
    config_file.mkdir()
    (config_file / "keep").write_text("x")
    error = load_error(config_file)
    assert "is a directory" in str(error)
    assert (config_file / "keep").read_text() == "x"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "text",
    [
        'model_provider = "ollama-chat"\n',
        '[model_providers.ollama-chat]\nbase_url = "http://localhost:11434/v1"\n',
    ],
)
def test_removed_ollama_chat_id_tells_the_user_to_use_ollama(config_file: Path, text: str) -> None:
    error = load_error(write(config_file, text))
    assert "`ollama-chat` is no longer supported; use `ollama` instead" in str(error)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("key", ["model_provider", "model", "harness"])
def test_blank_top_level_strings_are_rejected(config_file: Path, key: str) -> None:
    assert load_error(write(config_file, f'{key} = " "\n')).key_path == key


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("provider_id", ["amazon-bedrock", "amazon-bedrock-runtime"])
@pytest.mark.parametrize(
    ("body", "rejected"),
    [
        ('wire_api = "chat"\n', "wire_api"),
        ('name = "Custom Bedrock"\nenv_key = "K"\n', "env_key, name"),
        ("supports_websockets = true\n", "supports_websockets"),
        ('[model_providers.ID.aws]\nsecret = "s"\n', "aws.secret"),
    ],
)
def test_each_bedrock_built_in_rejects_keys_it_cannot_change_naming_them(
    config_file: Path, provider_id: str, body: str, rejected: str
) -> None:
    text = f"[model_providers.{provider_id}]\n{body.replace('.ID.', f'.{provider_id}.')}"
    error = load_error(write(config_file, text))
    assert error.key_path == f"model_providers.{provider_id}"
    assert f"{rejected} cannot be changed" in error.message
    assert error.hint is not None
    assert "base_url, auth, http_headers, aws.profile, aws.region" in error.hint


@pytest.mark.parametrize("provider_id", ["amazon-bedrock", "amazon-bedrock-runtime"])
def test_each_bedrock_built_in_takes_every_key_it_can_change(
    config_file: Path, provider_id: str
) -> None:
    text = (
        f"[model_providers.{provider_id}]\n"
        'base_url = "https://proxy.example/v1"\n'
        'http_headers = { x-team = "core" }\n'
        f"[model_providers.{provider_id}.auth]\n"
        'command = "print-token"\n'
        f"[model_providers.{provider_id}.aws]\n"
        'profile = "work"\nregion = "eu-west-1"\n'
    )
    override = load_config(write(config_file, text)).built_in_overrides[provider_id]
    assert override.keys == {"base_url", "http_headers", "auth", "aws"}
    assert override.values.aws == ProviderAwsInfo(profile="work", region="eu-west-1")


@pytest.mark.usefixtures("unchanged")
def test_aws_is_refused_for_a_provider_of_ones_own(config_file: Path) -> None:
    text = '[model_providers.my-bedrock]\nbase_url = "https://x.example/v1"\n'
    error = load_error(write(config_file, text + "[model_providers.my-bedrock.aws]\n"))
    assert error.key_path == "model_providers.my-bedrock"
    assert "aws is only supported for amazon-bedrock and amazon-bedrock-runtime" in error.message


@pytest.mark.usefixtures("unchanged")
def test_openai_built_in_rejects_auth_changes(config_file: Path) -> None:
    error = load_error(write(config_file, '[model_providers.openai]\nenv_key = "K"\n'))
    assert "env_key cannot be changed" in error.message


@pytest.mark.usefixtures("unchanged")
def test_bedrock_override_with_blank_auth_command_is_rejected(config_file: Path) -> None:
    error = load_error(write(config_file, '[model_providers.amazon-bedrock.auth]\ncommand = ""\n'))
    assert error.key_path == "model_providers.amazon-bedrock.auth.command"


def test_built_in_override_records_the_keys_it_set(config_file: Path) -> None:
    text = (
        "[model_providers.amazon-bedrock]\n"
        'base_url = "https://proxy.example/v1"\n'
        "[model_providers.amazon-bedrock.aws]\n"
        'region = "eu-west-1"\n'
    )
    override = load_config(write(config_file, text)).built_in_overrides["amazon-bedrock"]
    assert override.keys == {"base_url", "aws"}
    assert override.values.base_url == "https://proxy.example/v1"


def test_relative_auth_cwd_is_anchored_at_the_config_file(config_file: Path) -> None:
    text = (
        '[model_providers.rel.auth]\ncommand = "./print-token"\ncwd = "scripts"\n'
        '[model_providers.abs.auth]\ncommand = "t"\ncwd = "/opt/tokens"\n'
    )
    config = load_config(write(config_file, text))
    rel_auth = config.model_providers["rel"].auth
    abs_auth = config.model_providers["abs"].auth
    assert rel_auth is not None
    assert abs_auth is not None
    assert rel_auth.cwd == str(config_file.parent.resolve() / "scripts")
    assert abs_auth.cwd == "/opt/tokens"


# --- issue 12 point 18: every value a request cannot carry is refused at load time ----------


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("body", "key_path", "detail"),
    [
        ('base_url = "http://h:99999/v1"', "base_url", "has an invalid port"),
        ('base_url = "http://h:0/v1"', "base_url", "has port 0"),
        ('base_url = "http://h:port/v1"', "base_url", "has an invalid port"),
        ('base_url = "http://[::1/v1"', "base_url", "is not a valid URL (invalid IPv6 URL)"),
        ('base_url = "http://[fe80::zz]/v1"', "base_url", "is not a valid URL"),
        ('base_url = "localhost:8080/v1"', "base_url", "has no scheme"),
        ('base_url = "api.example.com/v1"', "base_url", "has no scheme"),
        ('base_url = "ftp://h/v1"', "base_url", "unsupported scheme 'ftp'"),
        ('base_url = "http:///v1"', "base_url", "has no host"),
        ('base_url = "http://h/v1#frag"', "base_url", "has a #fragment"),
        ('base_url = "http://h/v 1"', "base_url", "contains whitespace"),
        ('base_url = "   "', "base_url", "must not be blank"),
        ('http_headers = { "x a" = "v" }', 'http_headers."x a"', "not a valid HTTP header name"),
        ('http_headers = { "x:y" = "v" }', 'http_headers."x:y"', "not a valid HTTP header name"),
        ('http_headers = { "" = "v" }', 'http_headers.""', "not a valid HTTP header name"),
        ('http_headers = { x-a = "caf\u00e9" }', "http_headers.x-a", "non-ASCII character"),
        ('http_headers = { x-a = "\u20ac" }', "http_headers.x-a", "non-ASCII character"),
        ('http_headers = { x-a = "a\\r\\nb" }', "http_headers.x-a", "line break or NUL"),
        ('http_headers = { x-a = "a\\u0000b" }', "http_headers.x-a", "line break or NUL"),
        ('http_headers = { x-a = "a\\u0007" }', "http_headers.x-a", "control character"),
        ('http_headers = { x-a = "v " }', "http_headers.x-a", "leading or trailing whitespace"),
        ('env_http_headers = { "x y" = "VAR" }', 'env_http_headers."x y"', "header name"),
        ('env_http_headers = { x-org = "A=B" }', "env_http_headers.x-org", "environment variable"),
        ('env_key = "A\\u0000B"', "env_key", "environment variable name"),
        ('env_key = " "', "env_key", "must not be blank"),
        ('experimental_bearer_token = "tok\\n"', "experimental_bearer_token", "line break"),
        ('experimental_bearer_token = ""', "experimental_bearer_token", "is empty"),
        ('query_params = { "" = "v" }', "query_params", "empty parameter name"),
        ("stream_idle_timeout_ms = 0", "stream_idle_timeout_ms", "expected int >= 100, got 0"),
        ("stream_idle_timeout_ms = 99", "stream_idle_timeout_ms", "expected int >= 100"),
        ("stream_idle_timeout_ms = -5", "stream_idle_timeout_ms", "expected int >= 100"),
        ("websocket_connect_timeout_ms = 0", "websocket_connect_timeout_ms", ">= 100, got 0"),
        ("stream_max_event_bytes = 1023", "stream_max_event_bytes", "expected int >= 1024"),
        ("stream_max_event_bytes = 0", "stream_max_event_bytes", "expected int >= 1024"),
        ("stream_max_retries = -1", "stream_max_retries", "expected int >= 0"),
        (
            '[model_providers.e.auth]\ncommand = "get\\u0000token"',
            "auth.command",
            "contains a NUL character",
        ),
        (
            '[model_providers.e.auth]\ncommand = "t"\nargs = ["ok", "b\\u0000d"]',
            "auth.args[1]",
            "contains a NUL character",
        ),
        (
            '[model_providers.e.auth]\ncommand = "t"\ncwd = "/tmp/\\u0000"',
            "auth.cwd",
            "contains a NUL character",
        ),
        ('[model_providers.e.auth]\ncommand = "t"\ncwd = " "', "auth.cwd", "must not be blank"),
        (
            '[model_providers.e.auth]\ncommand = "t"\ntimeout_ms = 50',
            "auth.timeout_ms",
            "expected int >= 100",
        ),
        ('[model_providers.e.aws]\nregion = "eu west"', "aws.region", "whitespace"),
    ],
)
def test_a_value_no_request_can_carry_is_one_line_at_its_key(
    config_file: Path, body: str, key_path: str, detail: str
) -> None:
    error = load_error(write(config_file, f"[model_providers.e]\n{body}\n"))
    assert error.key_path == f"model_providers.e.{key_path}"
    assert detail in error.message
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"{config_file}: model_providers.e.{key_path}: ")


@pytest.mark.usefixtures("unchanged")
def test_an_error_never_quotes_a_base_url_or_header_value_it_refuses(config_file: Path) -> None:
    text = '[model_providers.e]\nbase_url = "http://user:hunter2-secret@h:99999/v1?key=sk-secret"\n'
    error = load_error(write(config_file, text))
    assert "hunter2" not in str(error)
    assert "sk-secret" not in str(error)
    error = load_error(
        write(config_file, '[model_providers.e]\nhttp_headers = { x-key = "sk-secr\u00e9t" }\n')
    )
    assert "sk-secr" not in str(error)


@pytest.mark.usefixtures("unchanged")
def test_a_built_in_override_meets_the_same_checks(config_file: Path) -> None:
    error = load_error(write(config_file, "[model_providers.openai]\nstream_idle_timeout_ms = 0\n"))
    assert error.key_path == "model_providers.openai.stream_idle_timeout_ms"
    error = load_error(
        write(config_file, '[model_providers.ollama]\nbase_url = "localhost:1/v1"\n')
    )
    assert error.key_path == "model_providers.ollama.base_url"


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080/v1",
        "https://api.example.com",
        "HTTPS://API.EXAMPLE.COM/v1/",
        "http://[::1]:11434/v1",
        "http://user:pass@proxy.internal:3128/openai/v1",
        "https://h.example/openai/deployments/x?api-version=2025-01-01",
        "http://localhost:65535/v1",
    ],
)
def test_every_ordinary_base_url_shape_loads(config_file: Path, base_url: str) -> None:
    text = f'[model_providers.e]\nbase_url = "{base_url}"\n'
    assert load_config(write(config_file, text)).model_providers["e"].base_url == base_url


def test_sendable_headers_knobs_at_their_floors_and_the_event_cap_load(config_file: Path) -> None:
    text = (
        "[model_providers.e]\n"
        'base_url = "http://h/v1"\n'
        "stream_idle_timeout_ms = 100\n"
        "websocket_connect_timeout_ms = 100\n"
        "stream_max_event_bytes = 1024\n"
        'http_headers = { "X-Team_1.ok" = "a b\\tc", x-empty = "" }\n'
        'env_http_headers = { "OpenAI-Organization" = "OPENAI_ORGANIZATION" }\n'
        'query_params = { "api-version" = "2025-01-01", q = "caf\u00e9 \u20ac" }\n'
        "[model_providers.e.auth]\n"
        'command = "print-token"\n'
        "timeout_ms = 100\n"
    )
    info = load_config(write(config_file, text)).model_providers["e"]
    assert (info.stream_idle_timeout_ms, info.websocket_connect_timeout_ms) == (100, 100)
    assert info.stream_max_event_bytes == 1024
    assert info.http_headers == {"X-Team_1.ok": "a b\tc", "x-empty": ""}


def test_the_event_cap_defaults_to_eight_mebibytes(config_file: Path) -> None:
    info = load_config(write(config_file, SEED_CUSTOM_PROVIDER)).model_providers["example"]
    assert info.stream_max_event_bytes == 8 * 1024 * 1024


def test_each_custom_table_records_the_keys_it_set(config_file: Path) -> None:
    text = (
        '[model_providers.anthropic]\nbase_url = "https://proxy.example/a"\nwire_api = "messages"\n'
        '[model_providers.corp]\nbase_url = "https://corp.example/v1"\n'
        '[model_providers.corp.auth]\ncommand = "t"\n'
    )
    config = load_config(write(config_file, text))
    assert config.model_provider_keys == {
        "anthropic": frozenset({"base_url", "wire_api"}),
        "corp": frozenset({"base_url", "auth"}),
    }
