"""What a provider is: ``ProviderInfo``, its wire API and auth kind, and its validation rules.

``ProviderInfo`` mirrors one ``[model_providers.<id>]`` table of ``config.toml`` field for field,
so a provider declared in code and one declared in TOML are the same value. Optional numeric
knobs hold their effective defaults, so what you read is what a request will use.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from . import _redact

__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "MAX_REQUEST_MAX_RETRIES",
    "MAX_STREAM_MAX_RETRIES",
    "AuthKind",
    "ProviderAuthInfo",
    "ProviderAwsInfo",
    "ProviderInfo",
    "WireApi",
]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
MAX_REQUEST_MAX_RETRIES = 100
MAX_STREAM_MAX_RETRIES = 100

NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]


class WireApi(enum.StrEnum):
    """The HTTP request shape a provider speaks."""

    RESPONSES = "responses"
    """OpenAI Responses API (``POST {base_url}/responses``)."""
    CHAT = "chat"
    """OpenAI-compatible Chat Completions (``POST {base_url}/chat/completions``)."""
    MESSAGES = "messages"
    """Anthropic Messages (``POST {base_url}/v1/messages``)."""


class AuthKind(enum.StrEnum):
    """How credentials are attached to a provider's requests."""

    NONE = "none"
    ENV_KEY = "env-key"
    BEARER_TOKEN = "bearer-token"
    COMMAND = "command"
    AWS_SIGV4 = "aws-sigv4"
    OPENAI = "openai"


class ProviderAuthInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Command-backed bearer token: ``command args…`` prints the token on stdout."""

    command: str
    args: list[str] = msgspec.field(default_factory=list)
    timeout_ms: PositiveInt = 5000
    """The command is killed and the request fails after this long."""
    refresh_interval_ms: NonNegativeInt = 300_000
    """How long a token is reused; 0 means until the provider answers 401."""
    cwd: str | None = None
    """Working directory for the command; relative command paths resolve against it."""


class ProviderAwsInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """AWS SigV4 signing for Amazon Bedrock; unset fields fall back to the AWS environment."""

    profile: str | None = None
    region: str | None = None


class ProviderInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One provider definition, exactly the keys ``[model_providers.<id>]`` accepts.

    Unknown keys are rejected when decoding from config. ``request_max_retries`` and
    ``stream_max_retries`` are capped at 100, silently, as the runtime this mirrors does:
    a larger number is never what anyone meant and the cap keeps a typo from looping for hours.
    """

    name: str = ""
    base_url: str | None = None
    """``None`` means the OpenAI API (``https://api.openai.com/v1``)."""
    env_key: str | None = None
    """Environment variable holding the API key."""
    env_key_instructions: str | None = None
    """Shown when ``env_key`` is unset, to tell the user where to get a key."""
    experimental_bearer_token: str | None = None
    """A literal token; discouraged, since it lives in the config file."""
    auth: ProviderAuthInfo | None = None
    aws: ProviderAwsInfo | None = None
    wire_api: WireApi = WireApi.RESPONSES
    query_params: dict[str, str] | None = None
    http_headers: dict[str, str] | None = None
    env_http_headers: dict[str, str] | None = None
    """Header name → environment variable; left out of requests when the variable is unset
    or blank."""
    request_max_retries: NonNegativeInt = 4
    stream_max_retries: NonNegativeInt = 5
    stream_idle_timeout_ms: NonNegativeInt = 300_000
    websocket_connect_timeout_ms: NonNegativeInt = 15_000
    requires_openai_auth: bool = False
    supports_websockets: bool = False
    supports_standalone_web_search: bool = False

    def __post_init__(self) -> None:
        if self.request_max_retries > MAX_REQUEST_MAX_RETRIES:
            msgspec.structs.force_setattr(self, "request_max_retries", MAX_REQUEST_MAX_RETRIES)
        if self.stream_max_retries > MAX_STREAM_MAX_RETRIES:
            msgspec.structs.force_setattr(self, "stream_max_retries", MAX_STREAM_MAX_RETRIES)

    @property
    def effective_base_url(self) -> str:
        """Where requests go: ``base_url``, or the OpenAI API when none is set."""
        return self.base_url if self.base_url is not None else DEFAULT_OPENAI_BASE_URL

    @property
    def auth_kind(self) -> AuthKind:
        """Which mechanism attaches credentials; command auth wins over AWS on Bedrock."""
        if self.auth is not None:
            return AuthKind.COMMAND
        if self.aws is not None:
            return AuthKind.AWS_SIGV4
        if self.requires_openai_auth:
            return AuthKind.OPENAI
        if self.experimental_bearer_token is not None:
            return AuthKind.BEARER_TOKEN
        if self.env_key is not None:
            return AuthKind.ENV_KEY
        return AuthKind.NONE

    def static_headers(self, env: Mapping[str, str]) -> dict[str, str]:
        """``http_headers`` plus each ``env_http_headers`` entry whose variable is set and not
        blank; an unset variable leaves its header out rather than sending it empty."""
        headers = dict(self.http_headers or {})
        for header, variable in (self.env_http_headers or {}).items():
            value = env.get(variable, "")
            if value.strip():
                headers[header] = value
        return headers

    def conflicts(self) -> list[str]:
        """Every rule this definition breaks, one message per rule, all keys named at once."""
        problems: list[str] = []
        if self.aws is not None:
            clashing = [
                key
                for key, present in (
                    ("env_key", self.env_key is not None),
                    ("experimental_bearer_token", self.experimental_bearer_token is not None),
                    ("auth", self.auth is not None),
                    ("requires_openai_auth", self.requires_openai_auth),
                    ("supports_websockets", self.supports_websockets),
                )
                if present
            ]
            if clashing:
                problems.append(f"aws cannot be combined with {', '.join(clashing)}")
        if self.auth is not None:
            if not self.auth.command.strip():
                problems.append("auth.command must not be blank")
            clashing = [
                key
                for key, present in (
                    ("env_key", self.env_key is not None),
                    ("experimental_bearer_token", self.experimental_bearer_token is not None),
                    ("requires_openai_auth", self.requires_openai_auth),
                )
                if present
            ]
            if clashing:
                problems.append(f"auth cannot be combined with {', '.join(clashing)}")
        if self.env_http_headers:
            blank = sorted(h for h, var in self.env_http_headers.items() if not var.strip())
            if blank:
                problems.append(
                    f"env_http_headers must name an environment variable for {', '.join(blank)}"
                )
        return problems

    def shown(self) -> dict[str, Any]:
        """A plain mapping of this definition with every secret masked, for display."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        data["experimental_bearer_token"] = _redact.mask_secret(self.experimental_bearer_token)
        data["http_headers"] = _redact.mask_headers(self.http_headers)
        data["query_params"] = _redact.mask_query(self.query_params)
        return data

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.shown().items() if v not in (None, {}))
        return f"ProviderInfo({fields})"

    def __rich_repr__(self) -> Any:
        yield from self.shown().items()
