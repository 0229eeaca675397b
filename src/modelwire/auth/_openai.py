"""OpenAI sign-in state (``requires_openai_auth``): an API key or a ChatGPT sign-in.

``auth.json`` in the auth home (``$MODELWIRE_AUTH_HOME``, else ``$MODELWIRE_HOME``; Codex's
layout, so ``MODELWIRE_AUTH_HOME=~/.codex`` shares Codex's sign-in) holds either an
``OPENAI_API_KEY`` or ChatGPT ``tokens``. An API key is a plain bearer token to the provider's
base URL. A ChatGPT sign-in sends its access token and account id to the ChatGPT backend and
renews itself: when ``last_refresh`` is over 8 days old, when the access token's JWT has
expired, and when the provider answers 401.

The refresh token is single-use, and every process signed in from the same file holds a copy.
So renewal is single-flight twice over: an anyio lock makes concurrent callers in one process
share one refresh, and ``auth.json.lock`` makes processes take turns, each re-reading the file
under the lock and simply adopting tokens another process already rotated. The refresh and the
save that follows are shielded from cancellation (bounded by a timeout): a refresh abandoned
after the server rotated the token would leave nobody holding the new one.

No token or key ever reaches a log line, an error message or a ``repr``; ``on_refresh`` is the
hook telemetry attaches to.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import msgspec

from .._version import __version__
from ..errors import AuthError, ConnectionFailedError, MissingCredentialError
from ..providers import DEFAULT_OPENAI_BASE_URL, AuthKind
from ..registry import Provider
from ._auth_store import (
    AuthRecord,
    StoredTokens,
    auth_file_lock,
    auth_file_path,
    read_auth,
    tokens_document,
    write_auth,
)
from ._base import Credentials
from ._jwt import jwt_expiry
from ._keys import HeaderCredentials

__all__ = [
    "API_KEY_ENV",
    "CHATGPT_BASE_URL",
    "CLIENT_ID",
    "CODEX_TOKEN_URL_ENV",
    "DEFAULT_TOKEN_URL",
    "TOKEN_URL_ENV",
    "ChatGPTCredentials",
    "RefreshHook",
    "RefreshOutcome",
    "openai_credentials",
    "refresh_token_url",
    "signed_in_mode",
]

API_KEY_ENV = "OPENAI_API_KEY"
CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
"""Codex's public OAuth client id: the sign-ins this reads were issued to it."""
DEFAULT_TOKEN_URL = "https://auth.openai.com/oauth/token"
TOKEN_URL_ENV = "MODELWIRE_REFRESH_TOKEN_URL_OVERRIDE"
CODEX_TOKEN_URL_ENV = "CODEX_REFRESH_TOKEN_URL_OVERRIDE"
CHATGPT_BASE_URL = "https://chatgpt.com/backend-api/codex"
REFRESH_SCOPE = "openid profile email"
REFRESH_AFTER = timedelta(days=8)
EXPIRY_MARGIN_S = 60.0
"""An access token this close to its ``exp`` is renewed before use, not after a 401."""
RECENT_REFRESH_S = 60.0
"""Tokens refreshed this recently that still get a 401/403 are not refreshed again: the
rejection is about something a new token will not fix (a 403 for the plan, say), and
refreshing on every such response would rotate the token once per request."""
REFRESH_TIMEOUT_S = 30.0
LOCK_TIMEOUT_S = 60.0
"""Longer than another process's refresh can take, so waiting for it beats failing."""

_SIGN_IN_AGAIN = (
    "sign in again (`codex login`, with MODELWIRE_AUTH_HOME pointing at Codex's home), "
    "or store an API key with `modelwire login --api-key`"
)

_logger = logging.getLogger(__name__)


class RefreshOutcome(enum.StrEnum):
    """How one renewal of a ChatGPT sign-in ended, as ``on_refresh`` hears it."""

    REFRESHED = "refreshed"
    """The token endpoint issued new tokens."""
    ADOPTED = "adopted"
    """Another process had already refreshed; its tokens were taken from ``auth.json``."""
    REJECTED = "rejected"
    """The token endpoint refused the refresh token (reused, revoked): sign in again."""
    FAILED = "failed"
    """Anything else: unreachable endpoint, unexpected answer, lock timeout, signed out."""


RefreshHook = Callable[[float, RefreshOutcome], None]
"""``on_refresh(duration_s, outcome)``, called after every renewal attempt. The seam for
telemetry (a span or a histogram); it must not raise, and if it does the error is logged."""

# What the current task last attached: (the credentials' identity, token generation). Lets a
# 401 say which tokens it was for even after another task has already renewed them.
_applied: contextvars.ContextVar[tuple[object, int]] = contextvars.ContextVar(
    "modelwire_openai_applied"
)


class _RefreshResponse(msgspec.Struct):
    id_token: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None


class _ErrorDetail(msgspec.Struct):
    code: str | None = None


class _ErrorBody(msgspec.Struct):
    error: str | _ErrorDetail | None = None
    code: str | None = None


_decode_refresh = msgspec.json.Decoder(_RefreshResponse).decode
_decode_error = msgspec.json.Decoder(_ErrorBody).decode
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def _error_code(body: bytes) -> str | None:
    """The OAuth error code (``refresh_token_reused``, ``invalid_grant``) if the body has a
    recognisable one. Only the code: free text from the server is not repeated to the user,
    in case it echoes what was sent."""
    try:
        parsed = _decode_error(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    error = parsed.error
    code = error.code if isinstance(error, _ErrorDetail) else error or parsed.code
    return code if code is not None and _ERROR_CODE.fullmatch(code) else None


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # no offset in the file: Codex means UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _renew_at(tokens: StoredTokens, last_refresh: datetime | None) -> float:
    """When these tokens are due for renewal (epoch seconds; infinity when nothing says)."""
    due = float("inf")
    refreshed = _epoch(last_refresh)
    if refreshed is not None:
        due = refreshed + REFRESH_AFTER.total_seconds()
    expiry = jwt_expiry(tokens.access_token)
    if expiry is not None:
        due = min(due, expiry - EXPIRY_MARGIN_S)
    return due


def _stale(tokens: StoredTokens, last_refresh: datetime | None, now: float) -> bool:
    return _renew_at(tokens, last_refresh) <= now


def _newer(a: datetime | None, b: datetime | None) -> bool:
    """Whether ``a`` is strictly later than ``b`` (an unknown time is the oldest)."""
    ta, tb = _epoch(a), _epoch(b)
    return ta is not None and (tb is None or ta > tb)


class ChatGPTCredentials(Credentials):
    """A ChatGPT sign-in: bearer access token + ``chatgpt-account-id``, renewed as needed.

    ``http`` is the client the refresh goes through (default: a short-lived one per refresh);
    ``clock`` gives the time in epoch seconds, so tests can age tokens without waiting.
    """

    kind = AuthKind.OPENAI

    renewal_name = "modelwire.auth.refresh"

    def __init__(
        self,
        *,
        path: Path,
        tokens: StoredTokens,
        last_refresh: datetime | None,
        provider_id: str | None = None,
        token_url: str = DEFAULT_TOKEN_URL,
        http: httpx.AsyncClient | None = None,
        on_refresh: RefreshHook | None = None,
        clock: Callable[[], float] = time.time,
        refresh_timeout_s: float = REFRESH_TIMEOUT_S,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
    ) -> None:
        self.description = f"the ChatGPT sign-in in {path}"
        self.path = path
        self.provider_id = provider_id
        self.token_url = token_url
        self.on_refresh = on_refresh
        """Set to a ``RefreshHook`` to hear every renewal; ``None`` for nothing."""
        self._http = http
        self._clock = clock
        self._refresh_timeout_s = refresh_timeout_s
        self._lock_timeout_s = lock_timeout_s
        self._tokens = tokens
        self._retired: StoredTokens | None = None
        """The tokens before the last renewal: a provider may still echo those."""
        self._last_refresh = last_refresh
        # Worked out once per generation: every request checks it, and decoding the JWT
        # each time would be the most expensive thing apply() does.
        self._renew_at = _renew_at(tokens, last_refresh)
        self._generation = 0
        self._identity = object()
        self._lock = anyio.Lock()

    def observe_renewals(self, hook: Callable[[float, str], None]) -> None:
        self.on_refresh = hook

    def base_url(self, provider: Provider) -> str:
        """The ChatGPT backend, unless the user pointed the provider somewhere else."""
        base = provider.base_url
        return CHATGPT_BASE_URL if base.rstrip("/") == DEFAULT_OPENAI_BASE_URL else base

    async def apply(self, request: httpx.Request) -> None:
        if self._renew_at <= self._clock():
            await self._renew(self._generation, forced=False)
        tokens = self._tokens
        _applied.set((self._identity, self._generation))
        request.headers["authorization"] = f"Bearer {tokens.access_token}"
        if tokens.account_id:
            request.headers["chatgpt-account-id"] = tokens.account_id
        self._move_userinfo(request)

    def secret_values(self) -> tuple[str, ...]:
        """The access, refresh and id tokens and the account id (sent in a header masked as a
        credential everywhere else), of the tokens in hand and of those the last renewal
        replaced."""
        values = [
            value
            for tokens in (self._tokens, self._retired)
            if tokens is not None
            for value in (
                tokens.access_token,
                tokens.refresh_token,
                tokens.id_token,
                tokens.account_id,
            )
            if value
        ]
        return (*values, *super().secret_values())

    async def unauthorized(self) -> bool:
        applied = _applied.get(None)
        seen = (
            applied[1] if applied is not None and applied[0] is self._identity else self._generation
        )
        return await self._renew(seen, forced=True)

    async def _renew(self, seen: int, *, forced: bool) -> bool:
        """Renew the tokens of generation ``seen`` unless someone already has; True when the
        tokens now in hand are newer than those."""
        async with self._lock:
            if self._generation != seen:
                return True
            if forced:
                refreshed = _epoch(self._last_refresh)
                if refreshed is not None and 0 <= self._clock() - refreshed < RECENT_REFRESH_S:
                    return False
            elif self._renew_at > self._clock():
                return False
            await self._renew_locked(forced=forced)
            return True

    async def _renew_locked(self, *, forced: bool) -> None:
        started = time.perf_counter()
        outcome = RefreshOutcome.FAILED
        failed = self._tokens
        _logger.debug("renewing %s (%s)", self.description, "rejected" if forced else "stale")
        try:
            async with auth_file_lock(self.path, self._lock_timeout_s):
                record = await anyio.to_thread.run_sync(read_auth, self.path)
                tokens, last_refresh = self._latest(record)
                if tokens.access_token != failed.access_token and not _stale(
                    tokens, last_refresh, self._clock()
                ):
                    self._adopt(tokens, last_refresh)
                    outcome = RefreshOutcome.ADOPTED
                    _logger.info("%s was renewed by another process; using it", self.description)
                    return
                # Past this point the server may rotate the refresh token: finish and save
                # even if the caller is cancelled, or the new token would be lost.
                with anyio.CancelScope(shield=True):
                    try:
                        issued = await self._refresh(tokens.refresh_token)
                    except _Rejected as exc:
                        outcome = RefreshOutcome.REJECTED
                        raise exc.error from None
                    renewed = StoredTokens(
                        access_token=issued.access_token or tokens.access_token,
                        refresh_token=issued.refresh_token or tokens.refresh_token,
                        id_token=issued.id_token or tokens.id_token,
                        account_id=tokens.account_id,
                    )
                    now = datetime.fromtimestamp(self._clock(), UTC)
                    self._adopt(renewed, now)
                    outcome = RefreshOutcome.REFRESHED
                    await self._save(record, renewed, now)
        finally:
            self._report(time.perf_counter() - started, outcome)

    def _latest(self, record: AuthRecord | None) -> tuple[StoredTokens, datetime | None]:
        """The newest tokens: the file's, unless this process refreshed later than the file
        says (its save failed); an error when the sign-in was removed meanwhile."""
        if record is None or record.auth.tokens is None:
            raise AuthError(
                f"{self.description} is gone (signed out?): {_SIGN_IN_AGAIN}",
                provider_id=self.provider_id,
                credential=self.description,
            )
        stored = record.auth.tokens
        if _newer(self._last_refresh, record.auth.last_refresh):
            return self._tokens, self._last_refresh
        return stored, record.auth.last_refresh

    def _adopt(self, tokens: StoredTokens, last_refresh: datetime | None) -> None:
        if tokens != self._tokens:
            self._retired = self._tokens
        self._tokens = tokens
        self._last_refresh = last_refresh
        self._renew_at = _renew_at(tokens, last_refresh)
        self._generation += 1

    async def _save(self, record: AuthRecord | None, tokens: StoredTokens, now: datetime) -> None:
        document = tokens_document(None if record is None else record.document, tokens, now)
        try:
            await anyio.to_thread.run_sync(write_auth, self.path, document)
        except OSError as exc:
            # The new tokens work in this process; others will need to sign in again.
            _logger.warning(
                "refreshed %s but could not save it (%s); other processes using %s will "
                "have to sign in again",
                self.description,
                exc.strerror or type(exc).__name__,
                self.path,
            )

    async def _refresh(self, refresh_token: str) -> _RefreshResponse:
        body = msgspec.json.encode(
            {
                "client_id": CLIENT_ID,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "scope": REFRESH_SCOPE,
            }
        )
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": f"modelwire/{__version__}",
        }
        try:
            with anyio.fail_after(self._refresh_timeout_s):
                if self._http is not None:
                    response = await self._http.post(self.token_url, content=body, headers=headers)
                else:
                    async with httpx.AsyncClient(
                        timeout=self._refresh_timeout_s, trust_env=False
                    ) as http:
                        response = await http.post(self.token_url, content=body, headers=headers)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise ConnectionFailedError(
                f"could not reach the OpenAI token endpoint {self.token_url} to refresh "
                f"{self.description} ({type(exc).__name__}); check the network and try again",
                provider_id=self.provider_id or "openai",
            ) from None
        status = response.status_code
        if status in (400, 401, 403):
            code = _error_code(response.content)
            raise _Rejected(
                AuthError(
                    f"{self.description} can no longer be refreshed (the token endpoint "
                    f"answered HTTP {status}{f': {code}' if code else ''}): {_SIGN_IN_AGAIN}",
                    provider_id=self.provider_id,
                    credential=self.description,
                )
            )
        if not 200 <= status < 300:
            raise AuthError(
                f"the OpenAI token endpoint answered HTTP {status} while refreshing "
                f"{self.description}; try again later",
                provider_id=self.provider_id,
                credential=self.description,
            )
        try:
            return _decode_refresh(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise AuthError(
                f"the OpenAI token endpoint's answer to refreshing {self.description} was not "
                "the expected JSON; try again later",
                provider_id=self.provider_id,
                credential=self.description,
            ) from None

    def _report(self, duration_s: float, outcome: RefreshOutcome) -> None:
        hook = self.on_refresh
        if hook is None:
            return
        try:
            hook(duration_s, outcome)
        except Exception:
            _logger.warning("the on_refresh hook raised", exc_info=True)


class _Rejected(Exception):
    """Carries the token endpoint's refusal out of the refresh, marked as a rejection."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(str(error))
        self.error = error


def refresh_token_url(env: Mapping[str, str]) -> str:
    """The token endpoint: modelwire's override, Codex's, or OpenAI's."""
    for variable in (TOKEN_URL_ENV, CODEX_TOKEN_URL_ENV):
        value = env.get(variable, "").strip()
        if value:
            return value
    return DEFAULT_TOKEN_URL


def signed_in_mode(record: AuthRecord) -> str | None:
    """``apikey``, ``chatgpt`` or None: Codex's ``auth_mode`` when it names something the file
    holds, else the API key, else the tokens (the order Codex itself uses)."""
    auth = record.auth
    explicit = (auth.auth_mode or "").lower()
    if explicit.startswith("chatgpt") and auth.tokens is not None:
        return "chatgpt"
    if explicit in ("apikey", "api_key") and auth.openai_api_key:
        return "apikey"
    if auth.openai_api_key and auth.openai_api_key.strip():
        return "apikey"
    return "chatgpt" if auth.tokens is not None else None


def openai_credentials(provider: Provider, env: Mapping[str, str]) -> Credentials:
    """The credentials for a provider with ``requires_openai_auth``.

    ``auth.json`` wins when it holds a key or a sign-in; without one, ``OPENAI_API_KEY`` from
    ``env``; without that, ``MissingCredentialError`` saying how to get either. A corrupt
    ``auth.json`` is an ``AuthError`` rather than a silent fall back to the environment.
    """
    path = auth_file_path(env)
    record = read_auth(path)
    mode = None if record is None else signed_in_mode(record)
    if record is not None and mode == "chatgpt" and record.auth.tokens is not None:
        return ChatGPTCredentials(
            path=path,
            tokens=record.auth.tokens,
            last_refresh=record.auth.last_refresh,
            provider_id=provider.id,
            token_url=refresh_token_url(env),
        )
    if record is not None and mode == "apikey":
        key = (record.auth.openai_api_key or "").strip()
        return HeaderCredentials(
            AuthKind.OPENAI,
            "authorization",
            key,
            bearer=True,
            description=f"the API key stored in {path}",
        )
    key = env.get(API_KEY_ENV, "").strip()
    if key:
        return HeaderCredentials(
            AuthKind.OPENAI,
            "authorization",
            key,
            bearer=True,
            description=f"the environment variable {API_KEY_ENV}",
        )
    where = f"{path} holds no key or sign-in" if record is not None else f"there is no {path}"
    raise MissingCredentialError(
        provider.id,
        API_KEY_ENV,
        f"{where}: run `modelwire login --api-key` to store a key, or set {API_KEY_ENV}",
    )
