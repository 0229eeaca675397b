"""ProviderInfo: field defaults, caps, auth kinds, conflict rules and secret masking."""

from __future__ import annotations

import types

import msgspec
import pytest

from modelwire.errors import ConfigError
from modelwire.providers import (
    AuthKind,
    ProviderAuthInfo,
    ProviderAwsInfo,
    ProviderInfo,
    WireApi,
)


def test_defaults_match_the_runtime_this_mirrors() -> None:
    info = ProviderInfo()
    assert info.wire_api is WireApi.RESPONSES
    assert info.request_max_retries == 4
    assert info.stream_max_retries == 5
    assert info.stream_idle_timeout_ms == 300_000
    assert info.websocket_connect_timeout_ms == 15_000
    assert not info.requires_openai_auth
    assert not info.supports_websockets
    assert not info.supports_standalone_web_search
    auth = ProviderAuthInfo(command="print-token")
    assert (auth.args, auth.timeout_ms, auth.refresh_interval_ms, auth.cwd) == (
        [],
        5000,
        300_000,
        None,
    )


def test_every_seed_field_is_accepted_from_config_shape() -> None:
    table = {
        "name": "Corp",
        "base_url": "https://llm.corp.example/v1",
        "env_key_instructions": "ask IT",
        "wire_api": "chat",
        "query_params": {"api-version": "2025-01-01"},
        "http_headers": {"x-team": "search"},
        "env_http_headers": {"x-tenant": "CORP_TENANT"},
        "request_max_retries": 2,
        "stream_max_retries": 3,
        "stream_idle_timeout_ms": 1000,
        "websocket_connect_timeout_ms": 2000,
        "supports_websockets": True,
        "supports_standalone_web_search": True,
        "auth": {
            "command": "corp-token",
            "args": ["print"],
            "timeout_ms": 100,
            "refresh_interval_ms": 0,
            "cwd": "/opt/corp",
        },
    }
    info = msgspec.convert(table, ProviderInfo, strict=True)
    assert msgspec.to_builtins(info) | {} == {
        **msgspec.to_builtins(ProviderInfo()),
        **table,
    }


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `colour`"):
        msgspec.convert({"colour": "blue"}, ProviderInfo)
    with pytest.raises(msgspec.ValidationError, match="unknown field `shell`"):
        msgspec.convert({"auth": {"command": "x", "shell": True}}, ProviderInfo)


@pytest.mark.parametrize("field", ["request_max_retries", "stream_max_retries"])
def test_retry_counts_are_capped_at_one_hundred(field: str) -> None:
    assert getattr(ProviderInfo(**{field: 5000}), field) == 100
    assert getattr(msgspec.convert({field: 101}, ProviderInfo), field) == 100
    assert getattr(ProviderInfo(**{field: 100}), field) == 100
    assert getattr(ProviderInfo(**{field: 0}), field) == 0


def test_auth_timeout_must_be_positive_and_refresh_may_be_zero() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"timeout_ms"):
        msgspec.convert({"command": "x", "timeout_ms": 0}, ProviderAuthInfo)
    auth = msgspec.convert({"command": "x", "refresh_interval_ms": 0}, ProviderAuthInfo)
    assert auth.refresh_interval_ms == 0


@pytest.mark.parametrize(
    ("info", "kind"),
    [
        (ProviderInfo(), AuthKind.NONE),
        (ProviderInfo(env_key="K"), AuthKind.ENV_KEY),
        (ProviderInfo(experimental_bearer_token="t"), AuthKind.BEARER_TOKEN),
        (ProviderInfo(auth=ProviderAuthInfo(command="c")), AuthKind.COMMAND),
        (ProviderInfo(aws=ProviderAwsInfo()), AuthKind.AWS_SIGV4),
        (ProviderInfo(requires_openai_auth=True), AuthKind.OPENAI),
    ],
)
def test_auth_kind_names_the_mechanism(info: ProviderInfo, kind: AuthKind) -> None:
    assert info.auth_kind is kind


def test_aws_conflicts_list_every_clashing_key_at_once() -> None:
    info = ProviderInfo(
        aws=ProviderAwsInfo(),
        env_key="K",
        experimental_bearer_token="t",
        auth=ProviderAuthInfo(command="c"),
        requires_openai_auth=True,
        supports_websockets=True,
    )
    problems = info.conflicts()
    assert problems[0] == (
        "aws cannot be combined with env_key, experimental_bearer_token, auth, "
        "requires_openai_auth, supports_websockets"
    )
    assert problems[1] == (
        "auth cannot be combined with env_key, experimental_bearer_token, requires_openai_auth"
    )


@pytest.mark.parametrize(
    ("changes", "clash"),
    [
        ({"env_key": "K"}, "env_key"),
        ({"experimental_bearer_token": "t"}, "experimental_bearer_token"),
        ({"auth": ProviderAuthInfo(command="c")}, "auth"),
        ({"requires_openai_auth": True}, "requires_openai_auth"),
        ({"supports_websockets": True}, "supports_websockets"),
    ],
)
def test_each_aws_conflict_is_reported(changes: dict[str, object], clash: str) -> None:
    info = ProviderInfo(aws=ProviderAwsInfo(), **changes)  # type: ignore[arg-type]
    assert f"aws cannot be combined with {clash}" in info.conflicts()


@pytest.mark.parametrize(
    ("changes", "clash"),
    [
        ({"env_key": "K"}, "env_key"),
        ({"experimental_bearer_token": "t"}, "experimental_bearer_token"),
        ({"requires_openai_auth": True}, "requires_openai_auth"),
    ],
)
def test_each_auth_conflict_is_reported(changes: dict[str, object], clash: str) -> None:
    info = ProviderInfo(auth=ProviderAuthInfo(command="c"), **changes)  # type: ignore[arg-type]
    assert info.conflicts() == [f"auth cannot be combined with {clash}"]


@pytest.mark.parametrize("command", ["", "   ", "\t"])
def test_blank_auth_command_is_a_conflict(command: str) -> None:
    assert ProviderInfo(auth=ProviderAuthInfo(command=command)).conflicts() == [
        "auth.command must not be blank"
    ]


def test_env_http_header_with_blank_variable_name_is_a_conflict() -> None:
    info = ProviderInfo(env_http_headers={"x-org": " ", "x-ok": "OK_VAR"})
    assert info.conflicts() == ["env_http_headers must name an environment variable for x-org"]


def test_a_clean_definition_has_no_conflicts() -> None:
    assert ProviderInfo(env_key="K", wire_api=WireApi.CHAT).conflicts() == []
    assert ProviderInfo(auth=ProviderAuthInfo(command="c", args=["print"])).conflicts() == []


def test_base_url_defaults_to_the_openai_api() -> None:
    assert ProviderInfo().effective_base_url == "https://api.openai.com/v1"
    assert ProviderInfo(base_url="http://x/v1").effective_base_url == "http://x/v1"


def test_repr_and_shown_mask_every_secret() -> None:
    info = ProviderInfo(
        experimental_bearer_token="sk-token-value",
        http_headers={"Authorization": "Bearer sk-header-value", "x-team": "blue"},
        query_params={"key": "sk-query-value"},
    )
    for text in (repr(info), str(info.shown())):
        assert "sk-" not in text
        assert "blue" in text
    assert info.shown()["experimental_bearer_token"] == "****"
    assert ProviderInfo().shown()["experimental_bearer_token"] is None


def test_wire_api_values_are_the_three_apis() -> None:
    assert [w.value for w in WireApi] == ["responses", "chat", "messages"]


def test_env_http_headers_are_left_out_when_unset_or_blank() -> None:
    info = ProviderInfo(
        http_headers={"x-static": "1"},
        env_http_headers={"x-org": "ORG", "x-project": "PROJECT", "x-team": "TEAM"},
    )
    env = {"ORG": "acme", "PROJECT": "   ", "UNRELATED": "x"}
    assert info.static_headers(env) == {"x-static": "1", "x-org": "acme"}
    assert info.static_headers({}) == {"x-static": "1"}


def test_credential_looking_headers_are_masked_by_name() -> None:
    headers = {
        "x-goog-api-key": "a",
        "Ocp-Apim-Subscription-Key": "b",
        "X-Auth-Token": "c",
        "Proxy-Authorization": "d",
        "x-request-source": "visible",
    }
    shown = ProviderInfo(http_headers=headers).shown()["http_headers"]
    assert shown == {**dict.fromkeys(headers, "****"), "x-request-source": "visible"}


# --- issue 12 point 19: ProviderInfo(...) in code meets the checks and conversions of config --


def config_error(**fields: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        ProviderInfo(**fields)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    return caught.value


def test_a_wire_api_given_as_a_str_becomes_the_enum() -> None:
    info = ProviderInfo(wire_api="chat")  # type: ignore[arg-type]
    assert info.wire_api is WireApi.CHAT
    assert info.wire_api.value == "chat"


@pytest.mark.parametrize(
    ("fields", "key_path", "detail"),
    [
        ({"wire_api": "grpc"}, "wire_api", "'grpc' is not a wire API"),
        ({"wire_api": 3}, "wire_api", "a int is not a wire API"),
        ({"base_url": 123}, "base_url", "expected str, got int"),
        ({"base_url": b"http://h/v1"}, "base_url", "expected str, got bytes"),
        ({"base_url": "localhost:1234/v1"}, "base_url", "has no scheme"),
        ({"base_url": "http://h:99999"}, "base_url", "has an invalid port"),
        ({"base_url": "http://[::1"}, "base_url", "invalid IPv6 URL"),
        ({"name": None}, "name", "expected str, got NoneType"),
        ({"env_key": 5}, "env_key", "expected str, got int"),
        ({"env_key": "BAD=NAME"}, "env_key", "environment variable name"),
        ({"env_key_instructions": ["x"]}, "env_key_instructions", "expected str, got list"),
        ({"experimental_bearer_token": "a b\r"}, "experimental_bearer_token", "line break"),
        ({"http_headers": {"x-a": 1}}, "http_headers.x-a", "expected str, got int"),
        ({"http_headers": {1: "v"}}, "http_headers", "expected str keys, got int"),
        ({"http_headers": [("x-a", "v")]}, "http_headers", "expected dict of str to str"),
        ({"http_headers": {"x-a": "\u00e9"}}, "http_headers.x-a", "non-ASCII"),
        ({"query_params": {"k": "\ud800"}}, "query_params.k", "cannot be encoded as UTF-8"),
        ({"stream_idle_timeout_ms": 0}, "stream_idle_timeout_ms", "expected int >= 100, got 0"),
        ({"stream_idle_timeout_ms": 1.5}, "stream_idle_timeout_ms", "expected int, got float"),
        ({"request_max_retries": True}, "request_max_retries", "expected int, got bool"),
        ({"request_max_retries": -1}, "request_max_retries", "expected int >= 0, got -1"),
        ({"stream_max_event_bytes": 10}, "stream_max_event_bytes", "expected int >= 1024"),
        ({"supports_websockets": 1}, "supports_websockets", "expected bool, got int"),
        ({"auth": "cmd"}, "auth", "expected ProviderAuthInfo, got str"),
        ({"auth": {"command": "c", "timeout_ms": 0}}, "auth.timeout_ms", "expected int >= 100"),
        ({"auth": {"comand": "c"}}, "auth", "unknown field"),
        ({"auth": ProviderAuthInfo(command="a\x00b")}, "auth.command", "NUL"),
        ({"auth": ProviderAuthInfo(command=5)}, "auth.command", "expected str, got int"),  # type: ignore[arg-type]
        ({"auth": ProviderAuthInfo("c", args=["\x00"])}, "auth.args[0]", "NUL"),
        ({"auth": ProviderAuthInfo("c", args="x")}, "auth.args", "expected list of str"),  # type: ignore[arg-type]
        ({"auth": ProviderAuthInfo("c", cwd="/\x00")}, "auth.cwd", "NUL"),
        ({"auth": ProviderAuthInfo("c", timeout_ms=0)}, "auth.timeout_ms", ">= 100, got 0"),
        (
            {"auth": ProviderAuthInfo("c", refresh_interval_ms=-1)},
            "auth.refresh_interval_ms",
            ">= 0",
        ),
        ({"aws": ProviderAwsInfo(region="us\neast")}, "aws.region", "control character"),
        ({"aws": {"region": 1}}, "aws.region", "expected str"),
    ],
)
def test_a_bad_field_in_code_is_a_config_error_naming_the_field(
    fields: dict[str, object], key_path: str, detail: str
) -> None:
    error = config_error(**fields)
    assert error.key_path == key_path
    assert detail in error.message


def test_nested_tables_and_sequences_given_in_code_are_converted_like_decoding() -> None:
    info = ProviderInfo(
        auth={"command": "print-token", "args": ["a"]},  # type: ignore[arg-type]
        http_headers=types.MappingProxyType({"x-a": "1"}),  # type: ignore[arg-type]
    )
    assert info.auth == ProviderAuthInfo(command="print-token", args=["a"])
    assert type(info.http_headers) is dict
    assert ProviderInfo(aws={"region": "eu-west-1"}).aws == ProviderAwsInfo(region="eu-west-1")  # type: ignore[arg-type]
    with_tuple = ProviderInfo(auth=ProviderAuthInfo("c", args=("x", "y")))  # type: ignore[arg-type]
    assert with_tuple.auth is not None
    assert with_tuple.auth.args == ["x", "y"]


def test_a_replaced_field_is_checked_again() -> None:
    info = ProviderInfo(base_url="http://h/v1")
    with pytest.raises(ConfigError) as caught:
        msgspec.structs.replace(info, base_url="http://h:70000/v1")
    assert caught.value.key_path == "base_url"


def test_an_env_header_variable_holding_an_unsendable_value_names_it_not_its_value() -> None:
    info = ProviderInfo(env_http_headers={"x-org": "ORG"})
    with pytest.raises(ConfigError) as caught:
        info.static_headers({"ORG": "sk-secret\r\nx-evil: 1"})
    error = caught.value
    assert error.key_path == "env_http_headers.x-org"
    assert "the environment variable ORG contains a line break" in error.message
    assert "sk-secret" not in str(error)
    assert info.static_headers({"ORG": "  acme\n"}) == {"x-org": "acme"}
