"""The seed's "Built-In Runtime Providers" table, row by row, plus Bedrock regions and OSS env."""

from __future__ import annotations

import pytest

from modelwire.builtins import (
    BEDROCK_MANTLE_REGIONS,
    OVERRIDABLE_KEYS,
    bedrock_base_url,
    bedrock_region,
    bedrock_runtime_base_url,
    bedrock_signing_service,
    built_in_providers,
)
from modelwire.errors import ConfigError
from modelwire.providers import AuthKind, ProviderAwsInfo, WireApi


def test_openai_row() -> None:
    openai = built_in_providers({})["openai"]
    assert openai.name == "OpenAI"
    assert openai.wire_api is WireApi.RESPONSES
    assert openai.requires_openai_auth
    assert openai.supports_websockets
    assert openai.supports_standalone_web_search
    assert openai.auth_kind is AuthKind.OPENAI
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.env_http_headers == {
        "OpenAI-Organization": "OPENAI_ORGANIZATION",
        "OpenAI-Project": "OPENAI_PROJECT",
    }
    assert openai.conflicts() == []


def test_amazon_bedrock_row() -> None:
    bedrock = built_in_providers({})["amazon-bedrock"]
    assert bedrock.name == "Amazon Bedrock"
    assert bedrock.wire_api is WireApi.RESPONSES
    assert bedrock.auth_kind is AuthKind.AWS_SIGV4
    assert bedrock.http_headers == {"x-amzn-mantle-client-agent": "modelwire"}
    assert bedrock.conflicts() == []


def test_amazon_bedrock_runtime_is_bedrock_without_the_mantle_client_agent() -> None:
    built_ins = built_in_providers({})
    runtime = built_ins["amazon-bedrock-runtime"]
    assert runtime.name == "Amazon Bedrock Runtime"
    assert runtime.wire_api is WireApi.RESPONSES
    assert runtime.auth_kind is AuthKind.AWS_SIGV4
    assert runtime.aws == ProviderAwsInfo()
    assert runtime.base_url is None
    assert runtime.http_headers is None
    assert not runtime.supports_websockets
    assert not runtime.supports_standalone_web_search
    assert not runtime.requires_openai_auth
    assert runtime.conflicts() == []
    assert OVERRIDABLE_KEYS["amazon-bedrock-runtime"] == OVERRIDABLE_KEYS["amazon-bedrock"]


def test_each_bedrock_built_in_signs_for_its_own_service() -> None:
    assert bedrock_signing_service("amazon-bedrock") == "bedrock-mantle"
    assert bedrock_signing_service("amazon-bedrock-runtime") == "bedrock"


@pytest.mark.parametrize("region", ["us-east-1", "us-west-1", "ca-central-1", "us-gov-west-1"])
def test_bedrock_runtime_base_url_is_the_regional_runtime_endpoint(region: str) -> None:
    assert (
        bedrock_runtime_base_url(region)
        == f"https://bedrock-runtime.{region}.amazonaws.com/openai/v1"
    )


@pytest.mark.parametrize(
    "region", ["evil.example/x", "us-east-1.attacker", "US-EAST-1", "us_east_1", "east", ""]
)
@pytest.mark.parametrize("derive", [bedrock_base_url, bedrock_runtime_base_url])
def test_a_region_that_is_not_a_region_name_never_becomes_part_of_a_host(
    derive: object, region: str
) -> None:
    assert callable(derive)
    with pytest.raises(ConfigError, match="is not an AWS region name"):
        derive(region)


@pytest.mark.parametrize(
    ("provider_id", "name", "port"), [("ollama", "Ollama", 11434), ("lmstudio", "LM Studio", 1234)]
)
def test_local_oss_rows(provider_id: str, name: str, port: int) -> None:
    info = built_in_providers({})[provider_id]
    assert info.name == name
    assert info.wire_api is WireApi.RESPONSES
    assert info.auth_kind is AuthKind.NONE
    assert info.base_url == f"http://localhost:{port}/v1"


def test_oss_port_and_base_url_environment_overrides() -> None:
    by_port = built_in_providers({"MODELWIRE_OSS_PORT": "9999"})
    assert by_port["ollama"].base_url == "http://localhost:9999/v1"
    assert by_port["lmstudio"].base_url == "http://localhost:9999/v1"
    by_url = built_in_providers(
        {"MODELWIRE_OSS_PORT": "9999", "MODELWIRE_OSS_BASE_URL": "http://gpu-box:8080/v1"}
    )
    assert by_url["ollama"].base_url == "http://gpu-box:8080/v1"
    blank = built_in_providers({"MODELWIRE_OSS_PORT": " ", "MODELWIRE_OSS_BASE_URL": ""})
    assert blank["ollama"].base_url == "http://localhost:11434/v1"


@pytest.mark.parametrize("port", ["abc", "0", "70000", "-1"])
def test_invalid_oss_port_is_a_clear_error(port: str) -> None:
    with pytest.raises(ConfigError, match="MODELWIRE_OSS_PORT must be a TCP port number"):
        built_in_providers({"MODELWIRE_OSS_PORT": port})


def test_bedrock_region_precedence() -> None:
    env = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}
    assert bedrock_region(ProviderAwsInfo(region="us-west-2"), env) == "us-west-2"
    assert bedrock_region(ProviderAwsInfo(), env) == "eu-west-1"
    assert bedrock_region(None, {"AWS_DEFAULT_REGION": "eu-west-2"}) == "eu-west-2"
    assert bedrock_region(None, {}) == "us-east-1"


@pytest.mark.parametrize("region", sorted(BEDROCK_MANTLE_REGIONS))
def test_bedrock_base_url_for_every_served_region(region: str) -> None:
    assert bedrock_base_url(region) == f"https://bedrock-mantle.{region}.api.aws/openai/v1"


def test_bedrock_mantle_serves_exactly_twelve_regions() -> None:
    assert len(BEDROCK_MANTLE_REGIONS) == 12


def test_unserved_bedrock_region_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as caught:
        bedrock_base_url("ca-central-1")
    message = str(caught.value)
    assert "'ca-central-1'" in message
    assert "model_providers.amazon-bedrock.aws.region" in message
    assert "us-east-1" in message
