"""Fuzzed provider tables through the real loader: usable providers or one ConfigError, no other.

Each example is a ``[model_providers.<id>]`` table of valid and invalid values (bad URLs,
ports, IPv6 hosts, header names and values, NULs, zero and huge numbers, wrong types),
written as TOML and read back with ``load_config``. Either loading fails with
a one-line ``ConfigError``, or every provider in the resulting registry can build what its
first request needs: the URL (joined, with its query), the headers (static and from the
environment, plus a bearer token), an ``httpx.Request`` of them, h11's serialisation of that
request (which refuses what no server may receive) and telemetry's host/port parse.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwire.builtins import OVERRIDABLE_KEYS
from modelwire.config import load_config
from modelwire.errors import ConfigError
from modelwire.registry import ProviderRegistry
from modelwire.transport import Transport
from modelwire.wire.endpoints import stream_path

_TEXT = st.text(max_size=8)
_WRONG_TYPE = st.one_of(st.integers(-3, 3), st.booleans(), st.lists(st.integers(0, 3), max_size=2))


def _mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any], *, typed: bool = False
) -> Any:
    """Valid five times in six (so whole tables are often valid), else invalid or (unless
    ``typed``: keys and environment values are always strings) of another TOML type."""
    bad = invalid if typed else st.one_of(invalid, _WRONG_TYPE)
    return st.sampled_from(range(6)).flatmap(lambda n: bad if n == 3 else valid)


_HEADER_NAME = _mostly(
    st.text(alphabet="abcxyzXYZ019-_!#$%&'*+.^`|~", min_size=1, max_size=8),
    st.one_of(st.sampled_from(["x y", "x:y", "", "x\n", "caf\u00e9"]), _TEXT),
    typed=True,
)
_HEADER_VALUE = _mostly(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=8),
    st.one_of(
        st.sampled_from(
            ["a b", " lead", "trail ", "a\tb", "a\r\nb", "\x00", "caf\u00e9", "\u20ac"]
        ),
        _TEXT,
    ),
)
_ENV_TEXT = _mostly(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=8),
    st.sampled_from(["a\r\nb", "caf\u00e9", " pad ", "a\x00"]),
    typed=True,
)
_ENV_NAME_TEXT = _mostly(
    st.text(alphabet="ABCZ_019", min_size=1, max_size=6),
    st.one_of(st.sampled_from(["A=B", "", " ", "A\x00B"]), _TEXT),
    typed=True,
)
_ENV_NAME = _mostly(_ENV_NAME_TEXT, _WRONG_TYPE)
_INVALID_URL = st.one_of(
    st.builds(
        "{}{}{}{}".format,
        st.sampled_from(["http://", "https://", "ftp://", "", "http:/", "//"]),
        st.sampled_from(["h", "[::1]", "[::1", "::1", "[fe80::zz]", "", "exa mple", "u:p@h"]),
        st.sampled_from(["", ":0", ":99999", ":-1", ":abc", ":", ":65535", ":8080"]),
        st.sampled_from(["", "/v1", "/v1?q=1", "/v 1", "/v1#frag", "/\u00e9", "/\x00"]),
    ),
    _TEXT,
)
_URL = _mostly(
    st.sampled_from(
        [
            "http://127.0.0.1:8080/v1",
            "https://api.example.com",
            "http://[::1]:11434/v1",
            "https://h.example/openai/v1?api-version=2025-01-01",
            "http://user:pw@proxy.internal:3128/v1/",
            "HTTPS://H.EXAMPLE/v1",
        ]
    ),
    _INVALID_URL,
)
_MS = _mostly(
    st.integers(100, 10**7),
    st.sampled_from([-1, 0, 1, 99, 1023, 2**63 - 1]),
)
_AUTH = st.fixed_dictionaries(
    {
        "command": _mostly(
            st.sampled_from(["print-token", "./tok"]), st.sampled_from(["a\x00b", " "])
        )
    },
    optional={
        "args": _mostly(st.lists(st.sampled_from(["print", "-v"]), max_size=2), st.just(["x\x00"])),
        "cwd": _mostly(st.sampled_from(["/opt", "rel"]), st.sampled_from(["", "/\x00", " "])),
        "timeout_ms": _MS,
        "refresh_interval_ms": _MS,
    },
)
_SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "name": _mostly(_TEXT, _WRONG_TYPE),
        "base_url": _URL,
        "wire_api": _mostly(
            st.sampled_from(["responses", "chat", "messages"]), st.sampled_from(["grpc", ""])
        ),
        "http_headers": st.dictionaries(_HEADER_NAME, _HEADER_VALUE, max_size=2),
        "env_http_headers": st.dictionaries(_HEADER_NAME, _ENV_NAME_TEXT, max_size=2),
        "query_params": _mostly(
            st.dictionaries(st.text(min_size=1, max_size=6), _TEXT, max_size=2),
            st.just({"": "v"}),
        ),
        "request_max_retries": _MS,
        "stream_idle_timeout_ms": _MS,
        "websocket_connect_timeout_ms": _MS,
        "stream_max_event_bytes": _mostly(st.integers(1024, 2**40), st.sampled_from([0, 1023])),
        "supports_websockets": _mostly(st.booleans(), st.just("yes")),
    },
)
# One credential kind at a time, as real tables have; sometimes two (a conflict).
_ONE_CREDENTIAL = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"env_key": _ENV_NAME}),
    st.fixed_dictionaries({"experimental_bearer_token": _HEADER_VALUE}),
    st.fixed_dictionaries({"auth": _AUTH}),
    st.fixed_dictionaries(
        {
            "aws": st.fixed_dictionaries(
                {}, optional={"region": _mostly(st.just("eu-west-1"), st.sampled_from(["eu west"]))}
            )
        }
    ),
)
_TABLE = st.builds(
    lambda settings, first, second, conflict: {**settings, **first, **(second if conflict else {})},
    _SETTINGS,
    _ONE_CREDENTIAL,
    _ONE_CREDENTIAL,
    st.integers(0, 5).map(lambda n: n == 0),
)
OUTCOMES = {"loaded": 0, "refused": 0}


def _toml_value(value: Any) -> str:
    """TOML for one value (inline tables for nested ones): a small writer, since the fuzzer
    only needs the types a config holds and ``tomlkit`` would cost most of its time."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = "".join(
            f"\\u{ord(c):04x}" if c < " " or c == "\x7f" else "\\" + c if c in '"\\' else c
            for c in value
        )
        return f'"{escaped}"'
    if isinstance(value, list):
        return f"[{', '.join(_toml_value(v) for v in value)}]"
    return "{" + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _toml_document(provider_id: str, table: dict[str, Any]) -> str:
    lines = [f"[model_providers.{_toml_value(provider_id)}]"]
    lines += [f"{_toml_value(key)} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _sendable(transport: Transport, registry: ProviderRegistry) -> None:
    """Build every provider's first request the way the transport does, down to h11's bytes."""
    for provider in registry:
        if provider.error is not None:
            continue
        info = provider.info
        url = transport.url(provider, stream_path(info.wire_api.value, provider.base_url))
        headers = transport.headers(provider, stream=True)
        if info.experimental_bearer_token is not None:
            headers["authorization"] = f"Bearer {info.experimental_bearer_token}"
        request = httpx.Request("POST", url, headers=headers, content=b"{}")
        connection = h11.Connection(h11.CLIENT)
        connection.send(
            h11.Request(
                method="POST", target=request.url.raw_path, headers=list(request.headers.raw)
            )
        )
        parts = urlsplit(url)
        assert parts.hostname
        assert parts.port is None or 0 < parts.port < 65536


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    provider_id=st.sampled_from(["fuzz", "fuzz", "fuzz", "openai", "ollama", "amazon-bedrock"]),
    table=_TABLE,
    only_overridable=st.booleans(),
    env_values=st.dictionaries(_ENV_NAME_TEXT, _ENV_TEXT, max_size=3),
)
def test_any_provider_table_loads_into_sendable_providers_or_is_one_config_error(
    workdir: Path,
    provider_id: str,
    table: dict[str, Any],
    only_overridable: bool,
    env_values: dict[str, str],
) -> None:
    if provider_id in OVERRIDABLE_KEYS and only_overridable:
        table = {k: v for k, v in table.items() if k in OVERRIDABLE_KEYS[provider_id]}
    error = _outcome(workdir, _toml_document(provider_id, table), env_values)
    if error is not None:
        assert "\n" not in str(error)
        assert error.key_path is None or error.key_path.startswith(f"model_providers.{provider_id}")


def _outcome(workdir: Path, document: str, env_values: dict[str, str]) -> ConfigError | None:
    """``None`` when the document loaded and every provider is sendable, else the ConfigError;
    any other exception propagates and fails the property."""
    path = workdir / "config.toml"
    path.write_text(document, encoding="utf-8")
    env = {"MODELWIRE_HOME": str(workdir), **env_values}
    try:
        config = load_config(path)
        registry = ProviderRegistry.from_config(config, env=env, catalog=None)
        _sendable(Transport(env=env), registry)
    except ConfigError as exc:
        OUTCOMES["refused"] += 1
        return exc
    OUTCOMES["loaded"] += 1
    return None
