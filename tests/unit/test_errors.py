"""ConfigError renders file, key path, message and hint into one line; the error families."""

from __future__ import annotations

from pathlib import Path

from modelwire.errors import (
    ConfigError,
    DeadlineExceeded,
    ModelwireError,
    ProviderError,
    ResponseTimeout,
    TransportCause,
    UnknownProviderError,
    UnusableResponseError,
)


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


def test_timeouts_are_modelwire_errors_and_builtin_timeout_errors() -> None:
    deadline = DeadlineExceeded("d", provider_id="p", attempts=2, limit_s=1.5)
    stalled = ResponseTimeout("r", provider_id="p", attempts=1)
    for error in (deadline, stalled):
        assert isinstance(error, ModelwireError)
        assert isinstance(error, TimeoutError)
    assert (deadline.provider_id, deadline.attempts, deadline.limit_s) == ("p", 2, 1.5)


def test_an_unusable_success_is_a_provider_error_with_its_status() -> None:
    error = UnusableResponseError("html", status=200, provider_id="p", excerpt="<html>")
    assert isinstance(error, ProviderError)
    assert (error.status, error.excerpt) == (200, "<html>")


def test_a_transport_cause_holds_only_a_type_name_and_a_message() -> None:
    cause = TransportCause("ReadError", "connection reset")
    assert str(cause) == "ReadError: connection reset"
    assert vars(cause) == {"kind": "ReadError"}
    assert str(TransportCause("ReadTimeout", "")) == "ReadTimeout"
