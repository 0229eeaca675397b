"""AWS SigV4 for Amazon Bedrock: credentials resolved once, every attempt signed afresh.

The signature itself comes from aws-requests-auth, which is written for ``requests``: its
signing function reads only ``method``, ``url`` and ``body`` off the request it is given, so a
three-field view of the ``httpx.Request`` drives it unchanged. Two things about it shape this
module:

* It reads the time from ``datetime.datetime.utcnow()`` inside the signing function, with no
  parameter for it. The module's ``datetime`` name is pointed, once, at a stand-in that returns
  the time the current signing call chose (a context variable, so concurrent signers in other
  threads or tasks never see each other's clock) and the real UTC time otherwise. That makes the
  clock injectable, and keeps Python 3.12's ``utcnow`` deprecation warning out of users' logs.
* It always signs exactly ``host``, ``x-amz-date`` and, with a session token,
  ``x-amz-security-token``. ``x-amz-content-sha256`` is sent but cannot be added to the signed
  set; the body is covered all the same, because its hash is part of the canonical request.

Signing that small fixed set means a proxy that adds or rewrites other headers cannot break the
signature. For Bedrock Mantle (service ``bedrock-mantle``), headers whose names contain ``_`` are
dropped before signing, since its front door does not pass them through; the regional
bedrock-runtime endpoint (service ``bedrock``) keeps them. ``AWS_BEARER_TOKEN_BEDROCK`` (a
Bedrock API key) bypasses signing for both.

Credentials come from the ``env`` mapping's standard variables, or, for a configured profile or
when the variables are unset, from botocore (optional: ``modelwire[aws]``). botocore can block
on files and the network (SSO, STS, instance metadata), so it runs in a worker thread, and only
on the first request and when its credentials approach expiry; every other request reads its
frozen credentials in the event loop.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading
import types
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, cast

import anyio.to_thread
import aws_requests_auth.aws_auth as _aws_auth  # type: ignore[import-untyped]
import httpx

from .._redact import MASK
from ..builtins import (
    AMAZON_BEDROCK_ID,
    BEDROCK_IDS,
    bedrock_endpoint,
    bedrock_region,
    bedrock_signing_service,
)
from ..errors import AuthError, ConfigError
from ..providers import AuthKind
from ..registry import Provider
from ._base import Credentials
from ._keys import HeaderCredentials

__all__ = [
    "BEARER_TOKEN_ENV",
    "RUNTIME_SERVICE",
    "SERVICE",
    "AwsKeys",
    "BotocoreKeys",
    "EnvironmentKeys",
    "KeySource",
    "SigV4Credentials",
    "signing_region",
    "sigv4_credentials",
]

SERVICE = "bedrock-mantle"
RUNTIME_SERVICE = "bedrock"
BEARER_TOKEN_ENV = "AWS_BEARER_TOKEN_BEDROCK"
_ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
_SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY"
_SESSION_TOKEN_ENV = "AWS_SESSION_TOKEN"
_INSTALL_HINT = "pip install 'modelwire[aws]'"
_SIGNATURE_HEADERS = ("authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token")
"""What one attempt's signing adds; removed before the next attempt signs."""

Clock = Callable[[], dt.datetime]
"""The current time: timezone-aware, or naive and in UTC."""


# ---------------------------------------------------------------------------------------------
# aws-requests-auth's clock


_SIGNING_TIME: ContextVar[dt.datetime | None] = ContextVar("modelwire_sigv4_time", default=None)


def _utcnow() -> dt.datetime:
    """Stands in for ``datetime.datetime.utcnow`` inside aws-requests-auth (naive UTC)."""
    chosen = _SIGNING_TIME.get()
    return chosen if chosen is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)


_aws_auth.datetime = types.SimpleNamespace(datetime=types.SimpleNamespace(utcnow=_utcnow))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# Where the keys come from


@dataclass(frozen=True, slots=True, repr=False)
class AwsKeys:
    """One consistent set of AWS credentials, as used to sign one request."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:
        token = None if self.token is None else MASK
        return f"AwsKeys(access_key={MASK!r}, secret_key={MASK!r}, token={token!r})"


class KeySource(Protocol):
    """Hands out the keys to sign with, renewing temporary ones before they expire."""

    description: str

    async def current(self) -> AwsKeys: ...

    async def renew(self) -> bool: ...


def _env_keys(env: Mapping[str, str]) -> AwsKeys | None:
    access_key = env.get(_ACCESS_KEY_ENV, "").strip()
    secret_key = env.get(_SECRET_KEY_ENV, "").strip()
    if not access_key or not secret_key:
        return None
    token = env.get(_SESSION_TOKEN_ENV, "").strip() or None
    return AwsKeys(access_key, secret_key, token)


class EnvironmentKeys:
    """``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` from ``env``.

    Keys with a session token are temporary, and whatever issued them rotates them in the
    environment; so they are re-read from ``env`` for every request (three lookups), and a
    rotation is in use from the next request on.
    """

    description = f"AWS credentials from the environment ({_ACCESS_KEY_ENV})"

    def __init__(self, env: Mapping[str, str], keys: AwsKeys) -> None:
        self._env = env
        self._keys = keys

    @classmethod
    def from_env(cls, env: Mapping[str, str], provider_id: str) -> EnvironmentKeys | None:
        """The environment's keys; ``None`` when neither key is set, ``AuthError`` when one is."""
        keys = _env_keys(env)
        if keys is not None:
            return cls(env, keys)
        present = [v for v in (_ACCESS_KEY_ENV, _SECRET_KEY_ENV) if env.get(v, "").strip()]
        if present:
            (given,) = present
            missing = _SECRET_KEY_ENV if given == _ACCESS_KEY_ENV else _ACCESS_KEY_ENV
            raise AuthError(
                f"provider {provider_id!r}: {given} is set but {missing} is unset or blank; "
                "set both, or neither to use an AWS profile",
                provider_id=provider_id,
                credential=cls.description,
            )
        return None

    async def current(self) -> AwsKeys:
        if self._keys.token is not None:
            # A half-written rotation (one variable updated, not the other) keeps the last keys.
            self._keys = _env_keys(self._env) or self._keys
        return self._keys

    async def renew(self) -> bool:
        """Re-read the environment after a 401/403: worth a retry only if the keys changed."""
        fresh = _env_keys(self._env)
        if fresh is None or fresh == self._keys:
            return False
        self._keys = fresh
        return True


class _Frozen(Protocol):
    """botocore's ``ReadOnlyCredentials``."""

    access_key: str
    secret_key: str
    token: str | None


class BotocoreCredentials(Protocol):
    """What this module uses of a botocore ``Credentials`` (refreshable or not)."""

    def get_frozen_credentials(self) -> _Frozen: ...


def _refresh_due(credentials: BotocoreCredentials) -> bool:
    """Whether botocore would refresh on the next read: a clock comparison, no I/O."""
    refresh_needed = getattr(credentials, "refresh_needed", None)
    return bool(refresh_needed()) if refresh_needed is not None else False


class BotocoreKeys:
    """Credentials from botocore: a profile, SSO, ``credential_process``, roles, metadata.

    ``load`` resolves them (blocking, so it runs in a worker thread, once). Refreshable ones
    are read through botocore's frozen view each request; when botocore's clock says a refresh
    is due, the read moves to a worker thread, where botocore refreshes under its own lock.
    """

    def __init__(self, load: Callable[[], BotocoreCredentials], *, description: str) -> None:
        self.description = description
        self._load = load
        self._credentials: BotocoreCredentials | None = None
        self._lock = threading.Lock()

    async def current(self) -> AwsKeys:
        credentials = self._credentials
        if credentials is None or _refresh_due(credentials):
            return await anyio.to_thread.run_sync(self._read_blocking, abandon_on_cancel=True)
        return _keys_of(credentials.get_frozen_credentials())

    def _read_blocking(self) -> AwsKeys:
        with self._lock:
            if self._credentials is None:
                self._credentials = self._load()
            credentials = self._credentials
        try:
            frozen = credentials.get_frozen_credentials()
        except Exception as exc:
            raise AuthError(
                f"{self.description}: refreshing the AWS credentials failed "
                f"({type(exc).__name__}: {exc})",
                credential=self.description,
            ) from exc
        return _keys_of(frozen)

    async def renew(self) -> bool:
        """botocore already refreshes before expiry; a 401/403 is not something it can fix."""
        return False


def _keys_of(frozen: _Frozen) -> AwsKeys:
    return AwsKeys(frozen.access_key, frozen.secret_key, frozen.token or None)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _botocore_loader(
    provider_id: str, env: Mapping[str, str], profile: str | None, description: str
) -> Callable[[], BotocoreCredentials]:
    """A function that resolves botocore's credentials, reading variables from ``env``.

    botocore reads ``os.environ`` by default; its session variables (profile, config and
    credentials file paths, metadata settings) are re-pointed at ``env``, the container
    provider is given ``env``, and its own environment-variable provider is dropped (those
    variables were already read from ``env``). Instance metadata is skipped when ``env`` sets
    ``AWS_EC2_METADATA_DISABLED=true``.
    """

    def load() -> BotocoreCredentials:
        import botocore.configprovider  # type: ignore[import-untyped]
        import botocore.credentials  # type: ignore[import-untyped]
        import botocore.exceptions  # type: ignore[import-untyped]
        import botocore.session  # type: ignore[import-untyped]

        session: Any = botocore.session.Session(profile=profile)
        chains = botocore.configprovider.ConfigChainFactory(session=session, environ=env)
        store = session.get_component("config_store")
        for name, (config_name, env_names, default, convert) in session.session_var_map.items():
            store.set_config_provider(
                name,
                chains.create_config_chain(
                    instance_name=name,
                    env_var_names=env_names,
                    config_property_names=config_name,
                    default=default,
                    conversion_func=convert,
                ),
            )
        files = (
            f"{session.get_config_variable('credentials_file')} and "
            f"{session.get_config_variable('config_file')}"
        )
        try:
            resolver = session.get_component("credential_provider")
            resolver.remove("env")
            if _truthy(env.get("AWS_EC2_METADATA_DISABLED")):
                resolver.remove("iam-role")
            providers: list[Any] = resolver.providers
            for index, candidate in enumerate(providers):
                if candidate.METHOD == "container-role":
                    providers[index] = botocore.credentials.ContainerProvider(environ=env)
            credentials = resolver.load_credentials()
        except botocore.exceptions.ProfileNotFound as exc:
            raise AuthError(
                f"provider {provider_id!r}: AWS profile {profile or session.profile!r} is not "
                f"defined in {files}",
                provider_id=provider_id,
                credential=description,
            ) from exc
        except Exception as exc:
            raise AuthError(
                f"provider {provider_id!r}: botocore could not load {description} "
                f"({type(exc).__name__}: {exc})",
                provider_id=provider_id,
                credential=description,
            ) from exc
        if credentials is None:
            where = (
                f"AWS profile {profile!r} in {files}"
                if profile
                else f"{BEARER_TOKEN_ENV}, {_ACCESS_KEY_ENV}/{_SECRET_KEY_ENV}, then botocore's "
                f"default chain (profile {session.get_config_variable('profile') or 'default'!r} "
                f"in {files}, SSO, credential_process, web identity, container and instance "
                "metadata)"
            )
            raise AuthError(
                f"provider {provider_id!r} found no AWS credentials; looked in {where}",
                provider_id=provider_id,
                credential=description,
            )
        return cast(BotocoreCredentials, credentials)

    return load


def _botocore_installed() -> bool:
    try:
        return importlib.util.find_spec("botocore") is not None
    except (ImportError, ValueError):
        return False


def _key_source(provider: Provider, env: Mapping[str, str]) -> KeySource:
    """A configured profile, else the environment's keys, else botocore's default chain.

    A configured profile wins over keys in the environment, as an explicit profile does in the
    AWS CLI and SDKs.
    """
    aws = provider.info.aws
    profile = ((aws.profile if aws is not None else None) or "").strip() or None
    if profile is not None:
        description = f"AWS profile {profile!r}"
        if not _botocore_installed():
            raise AuthError(
                f"provider {provider.id!r}: {description} "
                f"(model_providers.{provider.id}.aws.profile) needs botocore: {_INSTALL_HINT}",
                provider_id=provider.id,
                credential=description,
            )
        return BotocoreKeys(
            _botocore_loader(provider.id, env, profile, description), description=description
        )
    keys = EnvironmentKeys.from_env(env, provider.id)
    if keys is not None:
        return keys
    if not _botocore_installed():
        named = env.get("AWS_PROFILE", "").strip()
        profile_note = f"; AWS_PROFILE={named!r} also needs it" if named else ""
        raise AuthError(
            f"provider {provider.id!r} found no AWS credentials; looked in the environment for "
            f"{BEARER_TOKEN_ENV} and {_ACCESS_KEY_ENV}/{_SECRET_KEY_ENV}. Set them, or "
            f"{_INSTALL_HINT} to use AWS profiles, SSO and instance roles{profile_note}",
            provider_id=provider.id,
            credential="AWS credentials",
        )
    description = "AWS credentials from botocore's default chain"
    return BotocoreKeys(
        _botocore_loader(provider.id, env, None, description), description=description
    )


# ---------------------------------------------------------------------------------------------
# Signing


class _RequestView:
    """The three attributes of a ``requests`` request that aws-requests-auth's signer reads."""

    __slots__ = ("body", "method", "url")

    def __init__(self, method: str, url: str, body: bytes) -> None:
        self.method = method
        self.url = url
        self.body = body


class SigV4Credentials(Credentials):
    """Signs each attempt with SigV4 for ``service`` in ``region``.

    ``clock`` is read once per signature; tests replace it (the attribute or the argument)
    to pin the signing time. ``drop_underscore_headers`` is for endpoints that lose such
    headers before verifying the signature (Bedrock Mantle).
    """

    kind = AuthKind.AWS_SIGV4

    def __init__(
        self,
        source: KeySource,
        *,
        region: str,
        service: str = SERVICE,
        clock: Clock | None = None,
        drop_underscore_headers: bool = True,
    ) -> None:
        self.description = source.description
        self.region = region
        self.service = service
        self.drop_underscore_headers = drop_underscore_headers
        self.clock: Clock = clock or _now
        self._source = source
        self._signed_with: tuple[AwsKeys, ...] = ()
        """The keys of the last two signatures that differed: a provider may echo the keys
        a rotation just retired."""

    async def apply(self, request: httpx.Request) -> None:
        keys = await self._source.current()
        if not self._signed_with or self._signed_with[-1] != keys:
            self._signed_with = (*self._signed_with[-1:], keys)
        headers = request.headers
        dropped = [
            name
            for name in headers
            if name.lower() in _SIGNATURE_HEADERS or (self.drop_underscore_headers and "_" in name)
        ]
        for name in dropped:
            del headers[name]
        try:
            body = request.content
        except httpx.RequestNotRead as exc:
            raise AuthError(
                "SigV4 signs the exact body bytes, and this request's body is a stream; "
                "send it as bytes",
                credential=self.description,
            ) from exc
        host = headers.get("host") or request.url.netloc.decode("ascii")
        signer = _aws_auth.AWSRequestsAuth(
            aws_access_key=keys.access_key,
            aws_secret_access_key=keys.secret_key,
            aws_host=host,
            aws_region=self.region,
            aws_service=self.service,
            aws_token=keys.token,
        )
        chosen = _SIGNING_TIME.set(_naive_utc(self.clock()))
        try:
            signed: dict[str, str] = signer.get_aws_request_headers(
                _RequestView(request.method, str(request.url), body),
                keys.access_key,
                keys.secret_key,
                keys.token,
            )
        finally:
            _SIGNING_TIME.reset(chosen)
        for name, value in signed.items():
            headers[name.lower()] = value
        self._move_userinfo(request)

    async def unauthorized(self) -> bool:
        return await self._source.renew()

    def secret_values(self) -> tuple[str, ...]:
        """The keys requests were signed with: the secret key and session token, and the
        access key id too (an identifier, but one that names the account and is half of what
        a leaked pair needs; it goes out in every ``Authorization`` header, so a provider can
        echo it)."""
        values = [
            value
            for keys in self._signed_with
            for value in (keys.access_key, keys.secret_key, keys.token)
            if value
        ]
        return (*values, *super().secret_values())

    def __repr__(self) -> str:
        return (
            f"SigV4Credentials(kind={self.kind.value!r}, service={self.service!r}, "
            f"region={self.region!r}, credential={self.description!r})"
        )


def signing_region(provider: Provider, env: Mapping[str, str]) -> str:
    """The region requests are signed for: ``aws.region``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``.

    When the base URL is the Bedrock built-in's own derived endpoint kind (Mantle's
    ``bedrock-mantle.*.api.aws``, the runtime's ``bedrock-runtime.*.amazonaws.com``), it must be
    that endpoint for the signing region (a mismatch would only come back as an opaque 403).
    Any other base URL — a proxy, a test server — is signed for the region as configured.
    """
    region = bedrock_region(provider.info.aws, env)
    host = httpx.URL(provider.base_url).host
    if provider.id not in BEDROCK_IDS or not _is_own_endpoint_kind(provider.id, host):
        return region
    expected = httpx.URL(bedrock_endpoint(provider.id, region)).host
    if host != expected:
        raise ConfigError(
            f"{provider.id} sends requests to {host} but signs them for region {region!r}",
            key_path=f"model_providers.{provider.id}.aws.region",
            hint="use the same environment (AWS_REGION) for the registry and the client, "
            "or set aws.region",
        )
    return region


def _is_own_endpoint_kind(provider_id: str, host: str) -> bool:
    if provider_id == AMAZON_BEDROCK_ID:
        return host.startswith("bedrock-mantle.") and host.endswith(".api.aws")
    return host.startswith("bedrock-runtime.") and host.endswith(".amazonaws.com")


def sigv4_credentials(
    provider: Provider, env: Mapping[str, str], *, clock: Clock | None = None
) -> Credentials:
    """Bedrock's credentials in ``env``: a Bedrock API key, else SigV4 signing.

    Raises ``ConfigError`` for a region Bedrock Mantle does not serve, and ``AuthError`` when
    no credentials can be had (naming where it looked; a profile without botocore says how to
    install it). botocore's own lookup happens on the first request, off the event loop.
    """
    provider.usable()
    bearer = env.get(BEARER_TOKEN_ENV, "").strip()
    if bearer:
        return HeaderCredentials(
            AuthKind.ENV_KEY,
            "authorization",
            bearer,
            bearer=True,
            description=f"the environment variable {BEARER_TOKEN_ENV}",
        )
    region = signing_region(provider, env)
    return SigV4Credentials(
        _key_source(provider, env),
        region=region,
        service=_signing_service(provider.id),
        clock=clock,
        drop_underscore_headers=provider.id == AMAZON_BEDROCK_ID,
    )


def _signing_service(provider_id: str) -> str:
    """The Bedrock built-ins' own service names; any other provider given ``aws`` in code
    (the registry keeps config from doing so) signs as Mantle does."""
    return bedrock_signing_service(provider_id) if provider_id in BEDROCK_IDS else SERVICE
