"""What a provider is: ``ProviderInfo``, its wire API and auth kind, and its validation rules.

``ProviderInfo`` mirrors one ``[model_providers.<id>]`` table of ``config.toml`` field for field,
so a provider declared in code and one declared in TOML are the same value. Optional numeric
knobs hold their effective defaults, so what you read is what a request will use.

Both ways in meet one check, ``__post_init__`` (msgspec runs it for ``ProviderInfo(...)`` and
for decoding alike, but type-checks only the latter): every value must be one a request can
actually carry, so a bad URL, header or timeout is a one-line ``ConfigError`` naming its key
when the definition is made, not a ``ValueError`` from deep inside the transport or telemetry
on the first call.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import msgspec

from . import _redact
from .errors import ConfigError

__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "DEFAULT_STREAM_MAX_EVENT_BYTES",
    "MAX_REQUEST_MAX_RETRIES",
    "MAX_STREAM_MAX_RETRIES",
    "MIN_STREAM_MAX_EVENT_BYTES",
    "MIN_TIMEOUT_MS",
    "AuthKind",
    "ProviderAuthInfo",
    "ProviderAwsInfo",
    "ProviderInfo",
    "WireApi",
]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
MAX_REQUEST_MAX_RETRIES = 100
MAX_STREAM_MAX_RETRIES = 100
MIN_TIMEOUT_MS = 100
"""The floor of every ``*_timeout_ms`` knob. Below about a tenth of a second a timeout is
inside ordinary event-loop, scheduler and loopback jitter, so it fails (nearly) every call, as
0 does; 100 ms still lets tests and local servers use short timeouts on purpose."""
DEFAULT_STREAM_MAX_EVENT_BYTES = 8 * 1024 * 1024
MIN_STREAM_MAX_EVENT_BYTES = 1024
"""A smaller cap would refuse ordinary single events (a tool call's arguments, the responses
API's final ``response.completed``, which repeats the whole reply)."""

NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
TimeoutMs = Annotated[int, msgspec.Meta(ge=MIN_TIMEOUT_MS)]


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
    timeout_ms: TimeoutMs = 5000
    """The command is killed and the request fails after this long (at least 100 ms)."""
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
    # The floors of these three are checked in ``__post_init__`` (not by ``msgspec.Meta``),
    # so config and code get the same message, with the reason for the floor.
    stream_idle_timeout_ms: int = 300_000
    """At least 100 ms (``MIN_TIMEOUT_MS``)."""
    websocket_connect_timeout_ms: int = 15_000
    """At least 100 ms (``MIN_TIMEOUT_MS``)."""
    stream_max_event_bytes: int = DEFAULT_STREAM_MAX_EVENT_BYTES
    """The largest single server-sent event accepted (at least 1024 bytes); a larger one ends
    the stream with a ``decode_error`` naming this key."""
    requires_openai_auth: bool = False
    supports_websockets: bool = False
    supports_standalone_web_search: bool = False

    def __post_init__(self) -> None:
        _check_provider(self)
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
        blank; an unset variable leaves its header out rather than sending it empty.

        The variable's value is stripped (a value read from a file keeps its newline); one that
        still cannot be a header value is a ``ConfigError`` naming the variable, not the value,
        rather than a protocol error from h11 on the first request."""
        headers = dict(self.http_headers or {})
        for header, variable in (self.env_http_headers or {}).items():
            value = env.get(variable, "").strip()
            if value:
                if _HEADER_VALUE.fullmatch(value) is None:
                    # The value may be a credential: say what is wrong with it, never what it is.
                    _fail(
                        f"env_http_headers.{_key(header)}",
                        f"the environment variable {variable} {_header_value_problem(value)}",
                        "HTTP header values are printable ASCII on one line",
                    )
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
        if isinstance(self.base_url, str):
            data["base_url"] = _redact.mask_url(self.base_url)
        data["experimental_bearer_token"] = _redact.mask_secret(self.experimental_bearer_token)
        data["http_headers"] = _redact.mask_headers(self.http_headers)
        data["query_params"] = _redact.mask_query(self.query_params)
        return data

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.shown().items() if v not in (None, {}))
        return f"ProviderInfo({fields})"

    def __rich_repr__(self) -> Any:
        yield from self.shown().items()


# --- validation: one function for ``ProviderInfo(...)`` and for config decoding --------------

# RFC 9110 token characters: anything else in a header name is refused by h11 when sent.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Visible ASCII with inner spaces/tabs: h11 refuses leading/trailing whitespace and controls,
# and httpx encodes ``str`` header values as ASCII (a Latin-1 ``é`` is a UnicodeEncodeError).
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCHEMES = ("http", "https")
_INT_KNOBS: tuple[tuple[str, int, str | None], ...] = (
    ("request_max_retries", 0, None),
    ("stream_max_retries", 0, None),
    (
        "stream_idle_timeout_ms",
        MIN_TIMEOUT_MS,
        "it bounds every wait for bytes; a shorter one fails every stream",
    ),
    (
        "websocket_connect_timeout_ms",
        MIN_TIMEOUT_MS,
        "a shorter one fails every connection attempt",
    ),
    (
        "stream_max_event_bytes",
        MIN_STREAM_MAX_EVENT_BYTES,
        "a smaller cap refuses ordinary events",
    ),
)
_BOOL_FIELDS = ("requires_openai_auth", "supports_websockets", "supports_standalone_web_search")

# Base URLs already found valid: a registry builds one ProviderInfo per catalog provider, and
# ``msgspec.structs.replace`` re-runs the check, so the URL parse is paid once per distinct URL.
_VALID_URLS: set[str] = set()
_VALID_ENV_NAMES: set[str] = set()
_VALID_MAX = 4096
_T = TypeVar("_T")


def _check_provider(info: ProviderInfo) -> None:
    """Refuse (or convert) anything in ``info`` a request could not carry.

    Values decoded from TOML already have their types (msgspec checked them); values passed to
    ``ProviderInfo(...)`` do not, so types are checked here too, with fast paths for the
    common already-valid case.
    """
    if type(info.name) is not str:
        _wrong_type("name", "str", info.name)
    url = info.base_url
    if url is not None and (type(url) is not str or url not in _VALID_URLS):
        _check_base_url(url)
    env_key = info.env_key
    if env_key is not None and (type(env_key) is not str or env_key not in _VALID_ENV_NAMES):
        _check_env_name("env_key", env_key)
    instructions = info.env_key_instructions
    if instructions is not None and type(instructions) is not str:
        _wrong_type("env_key_instructions", "str", instructions)
    token = info.experimental_bearer_token
    if token is not None:
        if type(token) is not str:
            _wrong_type("experimental_bearer_token", "str", token)
        if not token or _HEADER_VALUE.fullmatch(token) is None:
            problem = _header_value_problem(token) if token else "is empty"
            _fail(
                "experimental_bearer_token",
                f"{problem}, so it cannot be sent as a bearer token",
                "paste the token alone, without quotes, spaces or line breaks",
            )
    if type(info.wire_api) is not WireApi:
        msgspec.structs.force_setattr(info, "wire_api", _wire_api(info.wire_api))
    if info.auth is not None:
        if type(info.auth) is not ProviderAuthInfo:
            msgspec.structs.force_setattr(
                info, "auth", _nested("auth", info.auth, ProviderAuthInfo)
            )
        _check_auth(info.auth)
    if info.aws is not None:
        if type(info.aws) is not ProviderAwsInfo:
            msgspec.structs.force_setattr(info, "aws", _nested("aws", info.aws, ProviderAwsInfo))
        _check_aws(info.aws)
    if info.http_headers is not None:
        headers = _str_map(info, "http_headers")
        for name, value in headers.items():
            _check_header_name("http_headers", name)
            if _HEADER_VALUE.fullmatch(value) is None:
                _fail(
                    f"http_headers.{_key(name)}",
                    _header_value_problem(value),
                    "HTTP header values are printable ASCII on one line",
                )
    if info.env_http_headers is not None:
        for name, variable in _str_map(info, "env_http_headers").items():
            _check_header_name("env_http_headers", name)
            if variable.strip():  # a blank one is reported by ``conflicts()``
                _check_env_name(f"env_http_headers.{_key(name)}", variable)
    if info.query_params is not None:
        for name, value in _str_map(info, "query_params").items():
            if not name:
                _fail("query_params", "has an empty parameter name")
            if not _utf8(name) or not _utf8(value):
                _fail(
                    f"query_params.{_key(name)}",
                    "contains a character that cannot be encoded as UTF-8 (a lone surrogate)",
                )
    # One expression for the common case; the loops below only run to name what is wrong.
    retries, stream_retries = info.request_max_retries, info.stream_max_retries
    idle, connect, cap = (
        info.stream_idle_timeout_ms,
        info.websocket_connect_timeout_ms,
        info.stream_max_event_bytes,
    )
    if not (
        type(retries) is int
        and retries >= 0
        and type(stream_retries) is int
        and stream_retries >= 0
        and type(idle) is int
        and idle >= MIN_TIMEOUT_MS
        and type(connect) is int
        and connect >= MIN_TIMEOUT_MS
        and type(cap) is int
        and cap >= MIN_STREAM_MAX_EVENT_BYTES
    ):
        for key, floor, why in _INT_KNOBS:
            value = getattr(info, key)
            if type(value) is not int:
                _wrong_type(key, "int", value)
            if value < floor:
                _fail(key, f"expected int >= {floor}, got {value}", why)
    flags: tuple[object, ...] = (
        info.requires_openai_auth,
        info.supports_websockets,
        info.supports_standalone_web_search,
    )
    if not (type(flags[0]) is bool and type(flags[1]) is bool and type(flags[2]) is bool):
        for key, flag in zip(_BOOL_FIELDS, flags, strict=True):
            if type(flag) is not bool:
                _wrong_type(key, "bool", flag)


def _check_base_url(url: object) -> None:
    if type(url) is not str:
        _wrong_type("base_url", "str", url)
    problem = _url_problem(url)
    if problem is not None:
        _fail("base_url", *problem)
    if len(_VALID_URLS) < _VALID_MAX:
        _VALID_URLS.add(url)


def _url_problem(url: str) -> tuple[str, str | None] | None:
    """What keeps ``url`` from being a base URL every layer (httpx, telemetry's ``urlsplit``,
    the URL joiner) accepts, as (message, hint); the URL itself is never quoted, since its
    userinfo or query may hold a credential."""
    if not url.strip():
        return "must not be blank", "remove the key to use the OpenAI API"
    if _URL_FORBIDDEN.search(url) is not None:
        return "contains whitespace or a control character", "percent-encode it (%20) or remove it"
    if not _utf8(url):
        return "contains a character that cannot be encoded as UTF-8 (a lone surrogate)", None
    if "://" not in url:
        return "has no scheme", "start it with https://, or http:// for a local server"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "Port" in str(exc):
            return "has an invalid port", "use a port number from 1 to 65535"
        return (
            f"is not a valid URL ({str(exc)[:1].lower()}{str(exc)[1:]})",
            "write an IPv6 host in brackets, e.g. http://[::1]:8080/v1",
        )
    if parts.scheme.lower() not in _SCHEMES:
        return f"has the unsupported scheme {parts.scheme!r}", "use https:// or http://"
    if not parts.hostname:
        return "has no host", "write it as https://host[:port]/path"
    if port == 0:
        return "has port 0, which cannot be connected to", "use a port number from 1 to 65535"
    if "#" in url:
        return "has a #fragment, which is never sent", "remove everything from the #"
    # httpx's own parser last: it is what the transport will use. Imported here, not at module
    # level, because ``import modelwire`` must not load httpx (the URL check runs only for a
    # URL not seen before).
    import httpx

    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        detail = str(exc)
        if parts.password and parts.password in detail:
            detail = "invalid characters"
        return f"is not a valid URL ({detail})", None
    return None


def _wire_api(value: object) -> WireApi:
    """A ``str`` given in code becomes the ``WireApi`` decoding would have made of it."""
    if isinstance(value, str) and value in WireApi._value2member_map_:
        return WireApi(value)
    shown = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
    raise ConfigError(
        f"{shown} is not a wire API",
        key_path="wire_api",
        hint=f"use one of {', '.join(repr(w.value) for w in WireApi)}",
    )


def _nested(key: str, value: object, kind: type[_T]) -> _T:
    """A nested table given as a mapping in code becomes its struct, as decoding makes it."""
    if not isinstance(value, Mapping):
        _wrong_type(key, kind.__name__, value)
    try:
        return msgspec.convert(dict(value), kind, strict=True)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        path = ".".join(p for p in (key, where.rstrip("`").strip(".")) if p)
        message = message.replace("`", "").replace(" | null", "")
        _fail(path, message[:1].lower() + message[1:])


def _check_auth(auth: ProviderAuthInfo) -> None:
    if type(auth.command) is not str:
        _wrong_type("auth.command", "str", auth.command)
    _check_os_text("auth.command", auth.command)
    args: object = auth.args
    if type(args) is not list:
        if not isinstance(args, tuple):
            _wrong_type("auth.args", "list of str", args)
        args = list(args)
        msgspec.structs.force_setattr(auth, "args", args)
    for i, arg in enumerate(args):
        if type(arg) is not str:
            _wrong_type(f"auth.args[{i}]", "str", arg)
        _check_os_text(f"auth.args[{i}]", arg)
    if auth.cwd is not None:
        if type(auth.cwd) is not str:
            _wrong_type("auth.cwd", "str", auth.cwd)
        if not auth.cwd.strip():
            _fail("auth.cwd", "must not be blank", "remove it to run the command in the cwd")
        _check_os_text("auth.cwd", auth.cwd)
    for key, floor in (("timeout_ms", MIN_TIMEOUT_MS), ("refresh_interval_ms", 0)):
        value = getattr(auth, key)
        if type(value) is not int:
            _wrong_type(f"auth.{key}", "int", value)
        if value < floor:
            _fail(f"auth.{key}", f"expected int >= {floor}, got {value}")


def _check_aws(aws: ProviderAwsInfo) -> None:
    for key in ("profile", "region"):
        value = getattr(aws, key)
        if value is None:
            continue
        if type(value) is not str:
            _wrong_type(f"aws.{key}", "str", value)
        if _URL_FORBIDDEN.search(value.strip()) is not None or not _utf8(value):
            _fail(f"aws.{key}", "contains whitespace, a control character or a lone surrogate")


def _str_map(info: ProviderInfo, key: str) -> dict[str, str]:
    """The ``dict[str, str]`` field ``key``; any other mapping given in code becomes a dict."""
    value = getattr(info, key)
    if type(value) is not dict:
        if not isinstance(value, Mapping):
            _wrong_type(key, "dict of str to str", value)
        value = dict(value)
        msgspec.structs.force_setattr(info, key, value)
    for name, item in value.items():
        if type(name) is not str:
            _wrong_type(key, "str keys", name)
        if type(item) is not str:
            _wrong_type(f"{key}.{_key(name)}", "str", item)
    return value


def _check_header_name(key: str, name: str) -> None:
    if _TOKEN.fullmatch(name) is None:
        _fail(
            f"{key}.{_key(name)}",
            "is not a valid HTTP header name",
            "use letters, digits and !#$%&'*+-.^_`|~ only",
        )


def _header_value_problem(value: str) -> str:
    """Why ``value`` cannot be sent as a header value, without quoting it (it may be a secret)."""
    if any(c in value for c in "\r\n\x00"):
        return "contains a line break or NUL"
    if not value.isascii():
        return "contains a non-ASCII character"
    if value != value.strip(" \t"):
        return "has leading or trailing whitespace"
    return "contains a control character"


def _check_env_name(key: str, name: object) -> None:
    if type(name) is not str:
        _wrong_type(key, "str", name)
    if not name.strip():
        _fail(key, "must not be blank", "name an environment variable, or remove the key")
    if "=" in name or "\x00" in name or not _utf8(name):
        _fail(key, "is not a possible environment variable name (it has =, NUL or a surrogate)")
    if len(_VALID_ENV_NAMES) < _VALID_MAX:
        _VALID_ENV_NAMES.add(name)


def _check_os_text(key: str, text: str) -> None:
    """A string handed to the OS (program, argument, directory): NUL ends it early there."""
    if "\x00" in text:
        _fail(key, "contains a NUL character, which no program argument or path can hold")
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        _fail(key, "contains a lone surrogate, which no program argument or path can hold")


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _key(name: str) -> str:
    """``name`` as a TOML key path segment: bare when it can be, else quoted and escaped."""
    if _BARE_KEY.fullmatch(name):
        return name
    escaped = name.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'"{escaped}"'


def _wrong_type(key: str, expected: str, value: object) -> NoReturn:
    _fail(key, f"expected {expected}, got {type(value).__name__}")


def _fail(key: str, message: str, hint: str | None = None) -> NoReturn:
    """``key`` is relative to the provider table; the config loader prefixes its own path."""
    raise ConfigError(message, key_path=key, hint=hint)
