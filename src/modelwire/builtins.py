"""The providers that exist before any catalog or config: OpenAI, Amazon Bedrock (Mantle and
Runtime), Ollama, LM Studio.

Each built-in also declares which keys a ``[model_providers.<id>]`` table with its id may change.
The runtime this mirrors silently drops such tables for every built-in but Bedrock; here a
key a built-in cannot take is an error that says which keys it can, so nothing is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import ConfigError
from .providers import DEFAULT_OPENAI_BASE_URL, ProviderAwsInfo, ProviderInfo, WireApi

__all__ = [
    "AMAZON_BEDROCK_ID",
    "AMAZON_BEDROCK_RUNTIME_ID",
    "BEDROCK_IDS",
    "BEDROCK_MANTLE_REGIONS",
    "BUILT_IN_IDS",
    "LMSTUDIO_ID",
    "OLLAMA_ID",
    "OPENAI_ID",
    "OVERRIDABLE_KEYS",
    "REMOVED_IDS",
    "bedrock_base_url",
    "bedrock_endpoint",
    "bedrock_region",
    "bedrock_runtime_base_url",
    "bedrock_signing_service",
    "built_in_providers",
]

OPENAI_ID = "openai"
AMAZON_BEDROCK_ID = "amazon-bedrock"
AMAZON_BEDROCK_RUNTIME_ID = "amazon-bedrock-runtime"
BEDROCK_IDS = (AMAZON_BEDROCK_ID, AMAZON_BEDROCK_RUNTIME_ID)
OLLAMA_ID = "ollama"
LMSTUDIO_ID = "lmstudio"
BUILT_IN_IDS = (OPENAI_ID, AMAZON_BEDROCK_ID, AMAZON_BEDROCK_RUNTIME_ID, OLLAMA_ID, LMSTUDIO_ID)

DEFAULT_OLLAMA_PORT = 11434
DEFAULT_LMSTUDIO_PORT = 1234
OSS_PORT_ENV = "MODELWIRE_OSS_PORT"
OSS_BASE_URL_ENV = "MODELWIRE_OSS_BASE_URL"

BEDROCK_DEFAULT_REGION = "us-east-1"
BEDROCK_MANTLE_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "ap-southeast-3",
        "ap-south-1",
        "ap-northeast-1",
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-south-1",
        "eu-north-1",
        "sa-east-1",
    }
)
BEDROCK_CLIENT_AGENT_HEADER = "x-amzn-mantle-client-agent"
# A region is part of a host name here, so only its documented shape is let in ("us-east-1",
# "us-gov-west-1", "ap-southeast-3"): anything else could redirect requests elsewhere.
_REGION_SHAPE = re.compile(r"[a-z]+(-[a-z]+)+-[0-9]+")
# What SigV4 signs for: Mantle's own service name, and the one the regional runtime uses.
_SIGNING_SERVICES: Mapping[str, str] = {
    AMAZON_BEDROCK_ID: "bedrock-mantle",
    AMAZON_BEDROCK_RUNTIME_ID: "bedrock",
}

# Ids that used to exist and now only produce an error telling the user what to use instead.
REMOVED_IDS: Mapping[str, str] = {
    "ollama-chat": "`ollama-chat` is no longer supported; use `ollama` instead",
}

_TRANSPORT_KNOBS = (
    "base_url",
    "http_headers",
    "query_params",
    "request_max_retries",
    "stream_max_retries",
    "stream_idle_timeout_ms",
    "stream_max_event_bytes",
)

# Keys a config table with a built-in's id may set, in the order error messages list them;
# ``aws`` stands for its ``profile`` and ``region``.
OVERRIDABLE_KEYS: Mapping[str, tuple[str, ...]] = {
    AMAZON_BEDROCK_ID: ("base_url", "auth", "http_headers", "aws"),
    AMAZON_BEDROCK_RUNTIME_ID: ("base_url", "auth", "http_headers", "aws"),
    OPENAI_ID: (*_TRANSPORT_KNOBS, "websocket_connect_timeout_ms"),
    OLLAMA_ID: _TRANSPORT_KNOBS,
    LMSTUDIO_ID: _TRANSPORT_KNOBS,
}


def _oss_base_url(default_port: int, env: Mapping[str, str]) -> str:
    explicit = env.get(OSS_BASE_URL_ENV, "").strip()
    if explicit:
        return explicit
    raw_port = env.get(OSS_PORT_ENV, "").strip()
    if not raw_port:
        return f"http://localhost:{default_port}/v1"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(
            f"{OSS_PORT_ENV} must be a TCP port number (1-65535), got {raw_port!r}",
            hint=f"unset it or set {OSS_BASE_URL_ENV} to a full URL",
        )
    return f"http://localhost:{int(raw_port)}/v1"


def built_in_providers(env: Mapping[str, str]) -> dict[str, ProviderInfo]:
    """The five built-ins, with the OSS providers' address taken from ``env``."""
    return {
        OPENAI_ID: ProviderInfo(
            name="OpenAI",
            base_url=DEFAULT_OPENAI_BASE_URL,
            wire_api=WireApi.RESPONSES,
            requires_openai_auth=True,
            supports_websockets=True,
            supports_standalone_web_search=True,
            env_http_headers={
                "OpenAI-Organization": "OPENAI_ORGANIZATION",
                "OpenAI-Project": "OPENAI_PROJECT",
            },
        ),
        AMAZON_BEDROCK_ID: ProviderInfo(
            name="Amazon Bedrock",
            # Derived from the region when the provider is used: see ``bedrock_base_url``.
            base_url=None,
            wire_api=WireApi.RESPONSES,
            aws=ProviderAwsInfo(),
            http_headers={BEDROCK_CLIENT_AGENT_HEADER: "modelwire"},
        ),
        AMAZON_BEDROCK_RUNTIME_ID: ProviderInfo(
            name="Amazon Bedrock Runtime",
            # The regional bedrock-runtime endpoint, derived like Mantle's: see
            # ``bedrock_runtime_base_url``. It takes no Mantle client-agent header.
            base_url=None,
            wire_api=WireApi.RESPONSES,
            aws=ProviderAwsInfo(),
        ),
        OLLAMA_ID: ProviderInfo(
            name="Ollama",
            base_url=_oss_base_url(DEFAULT_OLLAMA_PORT, env),
            wire_api=WireApi.RESPONSES,
        ),
        LMSTUDIO_ID: ProviderInfo(
            name="LM Studio",
            base_url=_oss_base_url(DEFAULT_LMSTUDIO_PORT, env),
            wire_api=WireApi.RESPONSES,
        ),
    }


def bedrock_region(aws: ProviderAwsInfo | None, env: Mapping[str, str]) -> str:
    """The region Bedrock requests go to: ``aws.region``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``."""
    for candidate in (
        aws.region if aws is not None else None,
        env.get("AWS_REGION"),
        env.get("AWS_DEFAULT_REGION"),
    ):
        if candidate and candidate.strip():
            return candidate.strip()
    return BEDROCK_DEFAULT_REGION


def bedrock_base_url(region: str) -> str:
    """Bedrock Mantle's OpenAI-compatible endpoint for ``region``; other regions are an error."""
    _check_region_shape(AMAZON_BEDROCK_ID, region)
    if region not in BEDROCK_MANTLE_REGIONS:
        raise ConfigError(
            f"Amazon Bedrock Mantle is not served in region {region!r}",
            key_path="model_providers.amazon-bedrock.aws.region",
            hint=f"use one of {', '.join(sorted(BEDROCK_MANTLE_REGIONS))}, "
            "or set model_providers.amazon-bedrock.base_url",
        )
    return f"https://bedrock-mantle.{region}.api.aws/openai/v1"


def bedrock_runtime_base_url(region: str) -> str:
    """The regional bedrock-runtime OpenAI-compatible endpoint. Unlike Mantle, AWS serves it
    in every commercial region, so any region of the right shape is accepted."""
    _check_region_shape(AMAZON_BEDROCK_RUNTIME_ID, region)
    return f"https://bedrock-runtime.{region}.amazonaws.com/openai/v1"


def bedrock_endpoint(provider_id: str, region: str) -> str:
    """The derived base URL of either Bedrock built-in for ``region``."""
    if provider_id == AMAZON_BEDROCK_RUNTIME_ID:
        return bedrock_runtime_base_url(region)
    return bedrock_base_url(region)


def bedrock_signing_service(provider_id: str) -> str:
    """The SigV4 service name of a Bedrock built-in's requests."""
    return _SIGNING_SERVICES[provider_id]


def _check_region_shape(provider_id: str, region: str) -> None:
    if _REGION_SHAPE.fullmatch(region) is None:
        raise ConfigError(
            f"{region!r} is not an AWS region name",
            key_path=f"model_providers.{provider_id}.aws.region",
            hint="use a region such as 'us-east-1' (from aws.region, AWS_REGION or "
            "AWS_DEFAULT_REGION)",
        )
