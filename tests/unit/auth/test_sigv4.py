"""SigV4 for Amazon Bedrock: botocore's signature, fresh per attempt, keys from env or botocore.

End-to-end tests point the ``amazon-bedrock`` built-in's ``base_url`` at the loopback mock
(``require_sigv4=True`` answers 401 to anything unsigned). botocore never reaches the network
here: every test that lets it resolve credentials runs with instance metadata disabled and the
AWS files pointed into a temporary directory, both in the ``env`` mapping modelwire reads and in
``os.environ`` (so a lookup that wrongly read the process environment would find nothing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreStaticCredentials
from botocore.credentials import RefreshableCredentials

from modelwire import Client, Completed, ProviderRegistry, Request, TextDelta, user
from modelwire._redact import MASK
from modelwire.auth import HeaderCredentials, credentials_for
from modelwire.auth._sigv4 import (
    RUNTIME_SERVICE,
    SERVICE,
    AwsKeys,
    BotocoreKeys,
    SigV4Credentials,
    sigv4_credentials,
)
from modelwire.config import validate_config
from modelwire.errors import AuthError, ConfigError
from modelwire.mock import MockBehavior, MockProvider
from modelwire.providers import AuthKind, ProviderAwsInfo
from modelwire.registry import Provider
from modelwire.transport import Call, CallObserver, RetryPolicy, Transport

BEDROCK = "amazon-bedrock"
RUNTIME = "amazon-bedrock-runtime"
SERVICES = {BEDROCK: SERVICE, RUNTIME: RUNTIME_SERVICE}
ACCESS_KEY = "AKIDMODELWIRETEST"
SECRET_KEY = "wJalrXUtnFEMI-modelwire-secret-key"
TOKEN = "FwoGZXIvYXdzEJr-modelwire-session-token"
WHEN = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
HI = Request(model="mock-model", messages=(user("hello bedrock"),))
LIMIT_S = 20
KEYS = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


class Sent(CallObserver):
    """Each attempt's request as the transport sends it, after credentials were applied."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def attempt(self, call: Call, number: int, request: httpx.Request) -> None:
        self.requests.append(request)


class Ticking:
    """A clock that moves one second per reading, so consecutive signatures differ in date."""

    def __init__(self, start: dt.datetime = WHEN) -> None:
        self.readings = 0
        self._start = start

    def __call__(self) -> dt.datetime:
        self.readings += 1
        return self._start + dt.timedelta(seconds=self.readings)


async def no_sleep(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def bedrock(env: dict[str, str], provider_id: str = BEDROCK, **table: Any) -> Provider:
    """The built-in as a registry built from ``env`` and a ``[model_providers.<provider_id>]``
    table resolves it."""
    config = validate_config({"model_providers": {provider_id: table}} if table else {})
    return ProviderRegistry.from_config(config, env=env, catalog=None).get(provider_id)


def bedrock_client(
    mock: MockProvider,
    env: dict[str, str],
    observer: CallObserver | None = None,
    provider_id: str = BEDROCK,
    **table: Any,
) -> Client:
    config = validate_config(
        {"model_providers": {provider_id: {"base_url": mock.url("/openai/v1"), **table}}}
    )
    registry = ProviderRegistry.from_config(config, env=env, catalog=None)
    transport = Transport(
        env=env, sleep=no_sleep, rand=lambda low, high: 0.0, observer=observer, policy=RetryPolicy()
    )
    return Client(registry, env=env, transport=transport)


def sigv4_of(client: Client, provider_id: str = BEDROCK) -> SigV4Credentials:
    credentials = client.credentials(client.provider(provider_id))
    assert isinstance(credentials, SigV4Credentials)
    return credentials


def botocore_authorization(
    request: httpx.Request,
    region: str,
    token: str | None,
    monkeypatch: pytest.MonkeyPatch,
    service: str = SERVICE,
    when: dt.datetime = WHEN,
) -> str:
    """botocore's ``Authorization`` for the same method, URL, body, keys and time, with only
    the headers aws-requests-auth signs (botocore adds the date and token itself)."""
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: when.replace(tzinfo=None)
    )
    reference = AWSRequest(
        method=request.method,
        url=str(request.url),
        data=request.content,
        headers={"host": request.headers["host"]},
    )
    signer = SigV4Auth(BotocoreStaticCredentials(ACCESS_KEY, SECRET_KEY, token), service, region)
    signer.add_auth(reference)
    return str(reference.headers["Authorization"])


def signed_headers(authorization: str) -> list[str]:
    part = next(p for p in authorization.split(", ") if p.startswith("SignedHeaders="))
    return part.removeprefix("SignedHeaders=").split(";")


def scope(authorization: str) -> str:
    return authorization.split("Credential=", 1)[1].split(",", 1)[0]


async def signed(credentials: Any, url: str = "https://bedrock.test/openai/v1/responses") -> str:
    request = httpx.Request("POST", url, content=b"{}")
    await credentials.apply(request)
    return str(request.headers["authorization"])


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider(require_sigv4=True) as provider:
        yield provider


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An env mapping whose AWS files live in ``tmp_path`` (not yet written) and whose instance
    metadata is off; the process environment is emptied of AWS settings and made just as
    inert, so botocore can find nothing but what a test writes, and never tries the network."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "process-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "process-credentials"))
    monkeypatch.setenv("BOTO_CONFIG", str(tmp_path / "boto"))
    return {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def write_profile(env: dict[str, str], profile: str, access_key: str, secret_key: str) -> None:
    Path(env["AWS_CONFIG_FILE"]).write_text(f"[profile {profile}]\noutput = json\n")
    Path(env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[{profile}]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"
    )


@pytest.fixture
def without_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``import botocore...`` fails, as on an install without ``modelwire[aws]``."""
    for name in [m for m in sys.modules if m == "botocore" or m.startswith("botocore.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "botocore", None)


# --- the signature ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term-keys", "session-token"])
async def test_a_streamed_call_is_signed_exactly_as_botocore_signs_it_and_the_mock_accepts_it(
    mock: MockProvider,
    token: str | None,
    monkeypatch: pytest.MonkeyPatch,
    anyio_backend: str,
) -> None:
    env = {**KEYS, "AWS_REGION": "eu-west-1"} | ({"AWS_SESSION_TOKEN": token} if token else {})
    sent = Sent()
    async with bedrock_client(mock, env, observer=sent) as client:
        sigv4_of(client).clock = lambda: WHEN
        with anyio.fail_after(LIMIT_S):
            events = [event async for event in client.stream(BEDROCK, HI)]
    assert isinstance(events[-1], Completed)
    assert "hello bedrock" in "".join(e.text for e in events if isinstance(e, TextDelta))
    (request,) = sent.requests
    authorization = request.headers["authorization"]
    assert authorization == botocore_authorization(request, "eu-west-1", token, monkeypatch)
    assert scope(authorization) == f"{ACCESS_KEY}/20250304/eu-west-1/{SERVICE}/aws4_request"
    expected = ["host", "x-amz-date", "x-amz-security-token"] if token else ["host", "x-amz-date"]
    assert signed_headers(authorization) == expected
    assert request.headers["x-amz-date"] == "20250304T050607Z"
    assert request.headers.get("x-amz-security-token") == token
    logged = mock.requests[-1]["headers"]
    assert authorization.split("Signature=")[1] not in logged["authorization"]
    assert ("x-amz-security-token" in logged) is (token is not None)


async def test_the_payload_hash_is_over_the_exact_body_bytes_sent(anyio_backend: str) -> None:
    credentials = sigv4_credentials(bedrock(KEYS), KEYS, clock=lambda: WHEN)
    body = '{"input":"héllo"}'.encode()
    request = httpx.Request("POST", "https://bedrock.test/openai/v1/responses", content=body)
    await credentials.apply(request)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()


async def test_headers_with_underscores_are_dropped_and_other_headers_stay_unsigned(
    mock: MockProvider, anyio_backend: str
) -> None:
    sent = Sent()
    headers = {"x_team_id": "core", "X_Other": "1", "x-team": "core"}
    async with bedrock_client(mock, KEYS, observer=sent, http_headers=headers) as client:
        with anyio.fail_after(LIMIT_S):
            assert (await client.complete(BEDROCK, HI)).ok
    logged = mock.requests[-1]["headers"]
    assert "x_team_id" not in logged
    assert "x_other" not in logged
    assert logged["x-team"] == "core"
    assert logged["x-amzn-mantle-client-agent"] == "modelwire"
    assert not [name for name in sent.requests[-1].headers if "_" in name]
    assert signed_headers(sent.requests[-1].headers["authorization"]) == ["host", "x-amz-date"]


async def test_a_retry_is_signed_afresh_with_a_new_date_and_one_set_of_signature_headers(
    mock: MockProvider, anyio_backend: str
) -> None:
    env = {**KEYS, "AWS_SESSION_TOKEN": TOKEN}
    sent = Sent()
    mock.enqueue(MockBehavior(status=500))
    async with bedrock_client(mock, env, observer=sent) as client:
        sigv4_of(client).clock = Ticking()
        with anyio.fail_after(LIMIT_S):
            events = [event async for event in client.stream(BEDROCK, HI)]
    assert isinstance(events[-1], Completed)
    first, second = mock.requests
    assert first["headers"]["x-amz-date"] == "20250304T050608Z"
    assert second["headers"]["x-amz-date"] == "20250304T050609Z"
    for request in sent.requests:
        for name in ("authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"):
            assert len(request.headers.get_list(name)) == 1, name
    assert sent.requests[0].headers["authorization"] != sent.requests[1].headers["authorization"]


async def test_signing_a_request_again_replaces_every_previous_signature_header(
    anyio_backend: str,
) -> None:
    env = {**KEYS, "AWS_SESSION_TOKEN": TOKEN}
    credentials = sigv4_credentials(bedrock(env), env, clock=Ticking())
    request = httpx.Request("POST", "https://bedrock.test/openai/v1/responses", content=b"{}")
    await credentials.apply(request)
    first = request.headers["authorization"]
    del env["AWS_SESSION_TOKEN"]  # the session ended: long-term keys from now on
    await credentials.apply(request)
    assert request.headers.get_list("x-amz-date") == ["20250304T050609Z"]
    assert len(request.headers.get_list("authorization")) == 1
    assert request.headers["authorization"] != first
    assert signed_headers(request.headers["authorization"]) == ["host", "x-amz-date"]
    assert "x-amz-security-token" not in request.headers


async def test_a_streamed_request_body_cannot_be_signed_and_says_so(anyio_backend: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"{}"

    credentials = sigv4_credentials(bedrock(KEYS), KEYS)
    request = httpx.Request("POST", "https://bedrock.test/openai/v1/responses", content=chunks())
    with pytest.raises(AuthError, match="exact body bytes"):
        await credentials.apply(request)


async def test_aws_requests_auth_reads_the_real_utc_clock_outside_a_signature(
    anyio_backend: str,
) -> None:
    """The pinned time of a signature must not leak into the next reading in the same task,
    nor into other code in the process that uses aws-requests-auth directly."""
    import aws_requests_auth.aws_auth as aws_auth

    await signed(sigv4_credentials(bedrock(KEYS), KEYS, clock=lambda: WHEN))
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    reading = aws_auth.datetime.datetime.utcnow()
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert before <= reading <= after


# --- region --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        ("eu-west-1", {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-north-1"}, "eu-west-1"),
        (None, {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-north-1"}, "eu-west-2"),
        (None, {"AWS_DEFAULT_REGION": "eu-north-1"}, "eu-north-1"),
        (None, {"AWS_REGION": "  ", "AWS_DEFAULT_REGION": "eu-north-1"}, "eu-north-1"),
        (None, {}, "us-east-1"),
    ],
    ids=["aws.region", "AWS_REGION", "AWS_DEFAULT_REGION", "blank-AWS_REGION", "default"],
)
async def test_the_region_comes_from_aws_region_then_aws_region_then_aws_default_region(
    configured: str | None, env: dict[str, str], expected: str, anyio_backend: str
) -> None:
    env = {**KEYS, **env}
    provider = bedrock(env, aws={"region": configured}) if configured else bedrock(env)
    credentials = credentials_for(provider, env)
    assert isinstance(credentials, SigV4Credentials)
    assert credentials.region == expected
    assert provider.base_url == f"https://bedrock-mantle.{expected}.api.aws/openai/v1"
    assert f"/{expected}/{SERVICE}/aws4_request" in await signed(credentials)


async def test_an_unsupported_region_is_a_config_error_naming_the_supported_ones(
    anyio_backend: str,
) -> None:
    env = {**KEYS, "AWS_REGION": "mars-north-1"}
    client = Client(
        ProviderRegistry.from_config(validate_config({}), env=env, catalog=None), env=env
    )
    async with client:
        with pytest.raises(ConfigError) as caught:
            client.stream(BEDROCK, HI)
    assert caught.value.key_path == "model_providers.amazon-bedrock.aws.region"
    assert "'mars-north-1'" in str(caught.value)
    assert "us-east-1" in str(caught.value)
    with pytest.raises(ConfigError, match="mars-north-1"):
        credentials_for(bedrock(env), env)


def test_an_unsupported_region_with_a_mantle_base_url_is_a_config_error() -> None:
    provider = bedrock(
        KEYS,
        base_url="https://bedrock-mantle.us-east-1.api.aws/openai/v1",
        aws={"region": "mars-north-1"},
    )
    with pytest.raises(ConfigError, match="not served in region 'mars-north-1'"):
        credentials_for(provider, KEYS)


def test_a_mantle_endpoint_of_another_region_than_the_signing_region_is_a_config_error() -> None:
    provider = bedrock({})  # the registry saw no region: the us-east-1 endpoint
    with pytest.raises(ConfigError) as caught:
        credentials_for(provider, {**KEYS, "AWS_REGION": "eu-west-1"})
    message = str(caught.value)
    assert "bedrock-mantle.us-east-1.api.aws" in message
    assert "'eu-west-1'" in message


async def test_a_custom_base_url_is_signed_for_the_configured_region_whatever_it_is(
    anyio_backend: str,
) -> None:
    provider = bedrock(KEYS, base_url="https://proxy.corp.test/v1", aws={"region": "mars-north-1"})
    credentials = credentials_for(provider, KEYS)
    assert f"/mars-north-1/{SERVICE}/aws4_request" in await signed(credentials)


# --- both Bedrock built-ins: Mantle (bedrock-mantle) and Runtime (bedrock) ----------------------


@pytest.mark.parametrize("provider_id", [BEDROCK, RUNTIME])
@pytest.mark.parametrize("token", [None, TOKEN], ids=["long-term-keys", "session-token"])
async def test_every_attempt_of_a_retried_call_is_signed_as_botocore_signs_it_for_the_service(
    mock: MockProvider,
    provider_id: str,
    token: str | None,
    monkeypatch: pytest.MonkeyPatch,
    anyio_backend: str,
) -> None:
    env = {**KEYS, "AWS_REGION": "eu-west-1"} | ({"AWS_SESSION_TOKEN": token} if token else {})
    service = SERVICES[provider_id]
    sent = Sent()
    mock.enqueue(MockBehavior(status=500), MockBehavior(status=503))
    async with bedrock_client(mock, env, observer=sent, provider_id=provider_id) as client:
        clock = Ticking()
        sigv4_of(client, provider_id).clock = clock
        assert sigv4_of(client, provider_id).service == service
        with anyio.fail_after(LIMIT_S):
            events = [event async for event in client.stream(provider_id, HI)]
    assert isinstance(events[-1], Completed)
    assert len(sent.requests) == len(mock.requests) == 3
    for attempt, request in enumerate(sent.requests, start=1):
        authorization = request.headers["authorization"]
        moment = WHEN + dt.timedelta(seconds=attempt)
        expected = botocore_authorization(request, "eu-west-1", token, monkeypatch, service, moment)
        assert authorization == expected, f"attempt {attempt}"
        assert scope(authorization) == f"{ACCESS_KEY}/20250304/eu-west-1/{service}/aws4_request"
    assert len({r.headers["authorization"] for r in sent.requests}) == 3


async def test_bedrock_runtime_keeps_underscore_headers_and_sends_no_mantle_client_agent(
    mock: MockProvider, anyio_backend: str
) -> None:
    sent = Sent()
    headers = {"x_team_id": "core", "x-team": "core"}
    client = bedrock_client(mock, KEYS, observer=sent, provider_id=RUNTIME, http_headers=headers)
    async with client:
        with anyio.fail_after(LIMIT_S):
            assert (await client.complete(RUNTIME, HI)).ok
    logged = mock.requests[-1]["headers"]
    assert logged["x_team_id"] == "core"
    assert logged["x-team"] == "core"
    assert "x-amzn-mantle-client-agent" not in logged
    assert signed_headers(sent.requests[-1].headers["authorization"]) == ["host", "x-amz-date"]


@pytest.mark.parametrize("provider_id", [BEDROCK, RUNTIME])
async def test_aws_bearer_token_bedrock_authenticates_either_built_in_unsigned(
    provider_id: str, anyio_backend: str
) -> None:
    bearer = "bedrock-api-key-runtime"
    env = {**KEYS, "AWS_BEARER_TOKEN_BEDROCK": bearer}
    sent = Sent()
    async with MockProvider(require_bearer=bearer) as mock:
        client = bedrock_client(mock, env, observer=sent, provider_id=provider_id)
        async with client:
            with anyio.fail_after(LIMIT_S):
                assert (await client.complete(provider_id, HI)).ok
    assert sent.requests[-1].headers["authorization"] == f"Bearer {bearer}"
    assert "x-amz-date" not in sent.requests[-1].headers


async def test_bedrock_runtime_signs_for_its_region_at_its_regional_endpoint(
    anyio_backend: str,
) -> None:
    env = {**KEYS, "AWS_DEFAULT_REGION": "ca-central-1"}
    provider = bedrock(env, RUNTIME)
    assert provider.base_url == "https://bedrock-runtime.ca-central-1.amazonaws.com/openai/v1"
    credentials = credentials_for(provider, env)
    assert isinstance(credentials, SigV4Credentials)
    assert (credentials.region, credentials.service) == ("ca-central-1", "bedrock")
    assert "/ca-central-1/bedrock/aws4_request" in await signed(credentials)


def test_a_runtime_endpoint_of_another_region_than_the_signing_region_is_a_config_error() -> None:
    provider = bedrock({}, RUNTIME)  # the registry saw no region: the us-east-1 endpoint
    with pytest.raises(ConfigError) as caught:
        credentials_for(provider, {**KEYS, "AWS_REGION": "eu-west-1"})
    assert caught.value.key_path == "model_providers.amazon-bedrock-runtime.aws.region"
    assert "bedrock-runtime.us-east-1.amazonaws.com" in str(caught.value)


async def test_a_runtime_profile_is_its_own_and_read_through_botocore(
    aws_files: dict[str, str], anyio_backend: str
) -> None:
    write_profile(aws_files, "runtime", ACCESS_KEY, SECRET_KEY)
    provider = bedrock(aws_files, RUNTIME, aws={"profile": "runtime", "region": "us-west-2"})
    assert bedrock(aws_files).info.aws == ProviderAwsInfo()
    credentials = credentials_for(provider, aws_files)
    assert isinstance(credentials, SigV4Credentials)
    authorization = await signed(credentials)
    assert scope(authorization).startswith(f"{ACCESS_KEY}/")
    assert "/us-west-2/bedrock/aws4_request" in authorization


# --- where the credentials come from ---------------------------------------------------------


async def test_aws_bearer_token_bedrock_wins_over_keys_and_profile_and_is_not_signed(
    anyio_backend: str,
) -> None:
    bearer = "bedrock-api-key-modelwire"
    env = {**KEYS, "AWS_SESSION_TOKEN": TOKEN, "AWS_BEARER_TOKEN_BEDROCK": bearer}
    sent = Sent()
    async with MockProvider(require_bearer=bearer) as mock:
        client = bedrock_client(mock, env, observer=sent, aws={"profile": "dev"})
        async with client:
            credentials = client.credentials(client.provider(BEDROCK))
            with anyio.fail_after(LIMIT_S):
                assert (await client.complete(BEDROCK, HI)).ok
    assert isinstance(credentials, HeaderCredentials)
    assert credentials.kind is AuthKind.ENV_KEY
    assert credentials.description == "the environment variable AWS_BEARER_TOKEN_BEDROCK"
    headers = sent.requests[-1].headers
    assert headers["authorization"] == f"Bearer {bearer}"
    assert "x-amz-date" not in headers
    assert "x-amz-security-token" not in headers


def test_a_blank_aws_bearer_token_bedrock_is_ignored() -> None:
    env = {**KEYS, "AWS_BEARER_TOKEN_BEDROCK": "  "}
    assert isinstance(credentials_for(bedrock(env), env), SigV4Credentials)


def test_environment_keys_are_described_by_variable_name_only() -> None:
    credentials = credentials_for(bedrock(KEYS), KEYS)
    assert credentials.kind is AuthKind.AWS_SIGV4
    assert credentials.description == "AWS credentials from the environment (AWS_ACCESS_KEY_ID)"


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"AWS_ACCESS_KEY_ID": ACCESS_KEY}, "AWS_SECRET_ACCESS_KEY"),
        ({"AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_ACCESS_KEY_ID": " "}, "AWS_ACCESS_KEY_ID"),
    ],
)
def test_half_a_key_pair_is_an_auth_error_naming_the_missing_variable(
    env: dict[str, str], missing: str
) -> None:
    with pytest.raises(AuthError, match=f"{missing} is unset or blank") as caught:
        credentials_for(bedrock(env), env)
    assert SECRET_KEY not in str(caught.value)


@pytest.mark.usefixtures("without_botocore")
def test_a_profile_without_botocore_says_to_install_the_aws_extra() -> None:
    provider = bedrock(KEYS, aws={"profile": "dev"})
    with pytest.raises(AuthError) as caught:
        credentials_for(provider, KEYS)
    message = str(caught.value)
    assert "AWS profile 'dev'" in message
    assert "pip install 'modelwire[aws]'" in message
    assert caught.value.provider_id == BEDROCK


@pytest.mark.usefixtures("without_botocore")
def test_no_credentials_without_botocore_names_the_variables_it_looked_for() -> None:
    env = {"AWS_PROFILE": "work"}
    with pytest.raises(AuthError) as caught:
        credentials_for(bedrock(env), env)
    message = str(caught.value)
    for variable in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert variable in message
    assert "pip install 'modelwire[aws]'" in message
    assert "AWS_PROFILE='work'" in message


@pytest.mark.usefixtures("without_botocore")
async def test_environment_keys_need_no_botocore(anyio_backend: str) -> None:
    credentials = credentials_for(bedrock(KEYS), KEYS)
    assert scope(await signed(credentials)).startswith(f"{ACCESS_KEY}/")


async def test_a_profile_is_read_through_botocore_from_the_files_env_names(
    mock: MockProvider, aws_files: dict[str, str], anyio_backend: str
) -> None:
    write_profile(aws_files, "dev", "AKIDPROFILEDEV", "profile-secret")
    env = {**aws_files, **KEYS}  # a configured profile wins over keys in the environment
    sent = Sent()
    async with bedrock_client(mock, env, observer=sent, aws={"profile": "dev"}) as client:
        credentials = sigv4_of(client)
        with anyio.fail_after(LIMIT_S):
            assert (await client.complete(BEDROCK, HI)).ok
    assert credentials.description == "AWS profile 'dev'"
    assert scope(sent.requests[-1].headers["authorization"]).startswith("AKIDPROFILEDEV/")


async def test_aws_profile_in_env_selects_the_default_chains_profile(
    aws_files: dict[str, str], anyio_backend: str
) -> None:
    write_profile(aws_files, "ops", "AKIDPROFILEOPS", "ops-secret")
    env = {**aws_files, "AWS_PROFILE": "ops"}
    credentials = credentials_for(bedrock(env), env)
    assert credentials.description == "AWS credentials from botocore's default chain"
    with anyio.fail_after(LIMIT_S):
        assert scope(await signed(credentials)).startswith("AKIDPROFILEOPS/")


async def test_an_undefined_profile_is_an_auth_error_naming_the_files_read(
    aws_files: dict[str, str], anyio_backend: str
) -> None:
    write_profile(aws_files, "dev", "AKIDPROFILEDEV", "profile-secret")
    credentials = credentials_for(bedrock(aws_files, aws={"profile": "prod"}), aws_files)
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthError) as caught:
        await signed(credentials)
    message = str(caught.value)
    assert "AWS profile 'prod' is not defined" in message
    assert aws_files["AWS_CONFIG_FILE"] in message
    assert aws_files["AWS_SHARED_CREDENTIALS_FILE"] in message


async def test_no_credentials_anywhere_is_an_auth_error_naming_where_it_looked(
    aws_files: dict[str, str], anyio_backend: str
) -> None:
    credentials = credentials_for(bedrock(aws_files), aws_files)
    with anyio.fail_after(LIMIT_S), pytest.raises(AuthError) as caught:
        await signed(credentials)
    message = str(caught.value)
    for place in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ACCESS_KEY_ID",
        "profile 'default'",
        aws_files["AWS_SHARED_CREDENTIALS_FILE"],
        "instance metadata",
    ):
        assert place in message
    assert caught.value.provider_id == BEDROCK


# --- temporary credentials -------------------------------------------------------------------


class FakeSts:
    """Issues numbered temporary credentials, each valid for an hour from ``clock``'s time,
    recording which thread asked."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock
        self.issued = 0
        self.threads: list[int] = []

    def __call__(self) -> dict[str, str]:
        self.issued += 1
        self.threads.append(threading.get_ident())
        return {
            "access_key": f"AKIDTEMP{self.issued}",
            "secret_key": f"temp-secret-{self.issued}",
            "token": f"temp-token-{self.issued}",
            "expiry_time": (self.clock() + dt.timedelta(hours=1)).isoformat(),
        }


async def test_refreshable_credentials_are_refreshed_off_the_event_loop_when_near_expiry(
    anyio_backend: str,
) -> None:
    now = [WHEN]
    sts = FakeSts(lambda: now[0])
    refreshable = RefreshableCredentials(
        access_key="AKIDTEMP0",
        secret_key="temp-secret-0",
        token="temp-token-0",
        expiry_time=WHEN + dt.timedelta(minutes=30),
        refresh_using=sts,
        method="fake-sts",
        time_fetcher=lambda: now[0],
    )
    loads: list[int] = []

    def load() -> Any:
        loads.append(1)
        return refreshable

    credentials = SigV4Credentials(
        BotocoreKeys(load, description="fake STS credentials"), region="us-east-1"
    )
    assert scope(await signed(credentials)).startswith("AKIDTEMP0/")
    assert scope(await signed(credentials)).startswith("AKIDTEMP0/")
    assert sts.issued == 0
    now[0] = WHEN + dt.timedelta(minutes=20)  # ten minutes left: inside botocore's window
    request = httpx.Request("POST", "https://bedrock.test/openai/v1/responses", content=b"{}")
    await credentials.apply(request)
    assert scope(request.headers["authorization"]).startswith("AKIDTEMP1/")
    assert request.headers["x-amz-security-token"] == "temp-token-1"
    assert scope(await signed(credentials)).startswith("AKIDTEMP1/")
    assert sts.issued == 1
    assert threading.get_ident() not in sts.threads
    assert loads == [1]


async def test_a_failed_refresh_of_expired_credentials_is_an_auth_error(anyio_backend: str) -> None:
    def refuse() -> dict[str, str]:
        raise RuntimeError("the token service is down")

    expired = RefreshableCredentials(
        access_key="AKIDTEMP0",
        secret_key="temp-secret-0",
        token="temp-token-0",
        expiry_time=WHEN,
        refresh_using=refuse,
        method="fake-sts",
        time_fetcher=lambda: WHEN + dt.timedelta(minutes=1),
    )
    credentials = SigV4Credentials(
        BotocoreKeys(lambda: expired, description="fake STS credentials"), region="us-east-1"
    )
    with pytest.raises(AuthError, match="the token service is down") as caught:
        await signed(credentials)
    assert "temp-secret-0" not in str(caught.value)


async def test_session_credentials_in_the_environment_are_re_read_for_each_request(
    anyio_backend: str,
) -> None:
    env = {**KEYS, "AWS_SESSION_TOKEN": TOKEN}
    credentials = credentials_for(bedrock(env), env)
    assert scope(await signed(credentials)).startswith(f"{ACCESS_KEY}/")
    env.update(AWS_ACCESS_KEY_ID="AKIDROTATED", AWS_SESSION_TOKEN="rotated-token")
    request = httpx.Request("POST", "https://bedrock.test/openai/v1/responses", content=b"{}")
    await credentials.apply(request)
    assert scope(request.headers["authorization"]).startswith("AKIDROTATED/")
    assert request.headers["x-amz-security-token"] == "rotated-token"


async def test_a_401_is_worth_a_retry_only_when_the_environment_keys_changed(
    anyio_backend: str,
) -> None:
    env = dict(KEYS)
    credentials = credentials_for(bedrock(env), env)
    assert await credentials.unauthorized() is False
    env["AWS_SECRET_ACCESS_KEY"] = "a-new-secret"
    assert await credentials.unauthorized() is True
    assert await credentials.unauthorized() is False


# --- secrets ------------------------------------------------------------------------------------


async def test_the_secret_key_and_token_appear_in_no_repr_error_log_or_mock_record(
    mock: MockProvider, caplog: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {**KEYS, "AWS_SESSION_TOKEN": TOKEN}
    mock.enqueue(MockBehavior(status=403, error_message="not allowed"))
    async with bedrock_client(mock, env) as client:
        credentials = sigv4_of(client)
        with anyio.fail_after(LIMIT_S), pytest.raises(AuthError) as caught:
            await client.complete(BEDROCK, HI)
    shown = [repr(credentials), str(caught.value), repr(caught.value), caplog.text]
    shown.append(str(mock.requests))
    for text in shown:
        assert SECRET_KEY not in text
        assert TOKEN not in text
    assert "AWS credentials from the environment (AWS_ACCESS_KEY_ID)" in str(caught.value)
    assert caught.value.credential == credentials.description


def test_keys_show_masks_for_every_part() -> None:
    shown = repr(AwsKeys(ACCESS_KEY, SECRET_KEY, TOKEN))
    assert ACCESS_KEY not in shown
    assert SECRET_KEY not in shown
    assert TOKEN not in shown


async def test_the_keys_signed_with_and_the_ones_a_rotation_retired_are_masked(
    anyio_backend: str,
) -> None:
    env = {**KEYS, "AWS_SESSION_TOKEN": TOKEN}
    credentials = credentials_for(bedrock(env), env)
    await signed(credentials)
    assert {ACCESS_KEY, SECRET_KEY, TOKEN} <= set(credentials.secret_values())
    env.update(AWS_ACCESS_KEY_ID="AKIDROTATED0001", AWS_SESSION_TOKEN="rotated-session-token")
    await signed(credentials)
    echoed = f"key {ACCESS_KEY} / {SECRET_KEY} / {TOKEN}; now AKIDROTATED0001 rotated-session-token"
    assert credentials.redact(echoed) == f"key {MASK} / {MASK} / {MASK}; now {MASK} {MASK}"


async def test_a_bedrock_api_key_is_masked(anyio_backend: str) -> None:
    bearer = "bedrock-api-key-value-77"
    env = {**KEYS, "AWS_BEARER_TOKEN_BEDROCK": bearer}
    credentials = credentials_for(bedrock(env), env)
    assert credentials.redact(f"bad key {bearer}") == f"bad key {MASK}"


async def test_a_signed_request_with_userinfo_keeps_its_signature_and_loses_the_userinfo(
    anyio_backend: str,
) -> None:
    credentials = credentials_for(bedrock(KEYS), KEYS)
    request = httpx.Request(
        "POST", "https://bob:pw-secret-9@bedrock.test/openai/v1/x", content=b"{}"
    )
    await credentials.apply(request)
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert str(request.url) == "https://bedrock.test/openai/v1/x"
