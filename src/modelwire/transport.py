"""Sending requests: one pooled HTTP client per provider, retries, and the stream lifecycle.

This is the only module that talks HTTP. Three things matter here:

* **Retries happen only before the caller saw anything.** HTTP 408/409/5xx and transport
  errors back off exponentially (200 ms·2^n, ±10 %); a 429 waits only for a ``Retry-After``
  within the ceiling; ``x-should-retry`` from the provider overrides the decision; a stream
  that drops, stalls, or reports a retryable error before its first event reaches the caller
  is re-requested (up to ``stream_max_retries``). Once an event has been delivered, a failure
  becomes the stream's terminal ``ErrorEvent`` instead — never a silent truncation.
* **A stream ends exactly once**, for one reason (``EndReason``), and every ending releases the
  connection at once: completion, failure, the consumer closing early, cancellation, and a
  stream object dropped unclosed (the event loop finalizes it; a ``ResourceWarning`` says so).
* **One seam for observation**: ``CallObserver`` hears start, each attempt, first byte and the
  end of every call; telemetry attaches there instead of timing code spread through the path.

Sleep and jitter are injectable, so retry tests run on a fake clock.
"""

from __future__ import annotations

import contextlib
import email.utils
import enum
import math
import random
import ssl
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

import anyio
import httpx
import msgspec

from ._http import ACCEPT_ENCODING, CorruptBody, PooledTransport, masking_request_log
from ._redact import mask_query, mask_url, mask_values
from ._version import __version__
from .auth import Credentials
from .errors import (
    AuthError,
    ConfigError,
    ConnectionFailedError,
    DeadlineExceeded,
    ModelwireError,
    ProviderError,
    RateLimitError,
    ResponseTimeout,
    StreamDecodeError,
    StreamError,
    StreamIdleTimeout,
    TransportCause,
    UnusableResponseError,
)
from .pricing import PriceBook, PricedUsage, cost_of
from .registry import Provider, ProviderSource
from .wire import (
    Completed,
    ErrorEvent,
    Event,
    EventTooLargeError,
    Request,
    Response,
    ResponseAccumulator,
    Start,
    StreamDecoding,
    Usage,
    decode_response,
)
from .wire.endpoints import is_anthropic, join_url
from .wire.listing import ListedModel, decode_model_page, page_params

__all__ = [
    "USER_AGENT",
    "Call",
    "CallObserver",
    "EndReason",
    "EventStream",
    "ObserverGroup",
    "RetryPolicy",
    "SocketEvent",
    "Transport",
    "read_excerpt",
]

USER_AGENT = f"modelwire/{__version__}"
ANTHROPIC_VERSION = "2023-06-01"
_EXCERPT = 500
_EXCERPT_READ = 16 * 1024
"""Bytes of a body read to build an error's excerpt: a JSON error's message fits, a 200 MB page
is not read."""
_EXCERPT_WITHIN_S = 10.0
"""The time an excerpt may take to read, however slowly its bytes come."""
_BODY_CAP = 64 * 1024 * 1024
"""The largest non-streamed JSON body read (decoded size): far over any real reply."""
_DRAIN_LIMIT = 64 * 1024
_DRAIN_WITHIN_S = 0.01
"""How long a finished stream's body may take to end before its connection is closed instead
of reused: the end of a chunked body normally follows the terminal event at once, and the
caller's loop must not wait on a server that never sends it."""
_DEADLINE_CODE = "deadline_exceeded"
"""The terminal ``ErrorEvent`` code of a stream whose deadline passed after events arrived."""
_MAX_MODEL_PAGES = 50
_OWN_CODES: dict[str, type[StreamError]] = {
    "stream_truncated": StreamError,
    "idle_timeout": StreamIdleTimeout,
    "decode_error": StreamDecodeError,
}
"""Raw mode has no common events to carry these failures, so they are raised instead."""

T = TypeVar("T")


def _base_and_query(
    provider: Provider, credentials: Credentials | None, params: Mapping[str, str] | None
) -> tuple[str, Mapping[str, str] | None]:
    base = provider.base_url if credentials is None else credentials.base_url(provider)
    query = provider.info.query_params
    if params:
        query = {**(query or {}), **params}
    return base, query


def _error_code(code: str) -> str:
    """An error event's code as telemetry's ``error.type``: modelwire's own failures by the
    exception they stand for, a provider's by its code."""
    own = _OWN_CODES.get(code)
    if own is not None:
        return own.__name__
    return DeadlineExceeded.__name__ if code == _DEADLINE_CODE else code


class EndReason(enum.StrEnum):
    """Why a call ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    CLOSED_EARLY = "closed_early"
    """The consumer stopped reading (``break``, ``aclose()``) before the terminal event."""
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    """The stream object was garbage-collected without being closed."""


class Call(msgspec.Struct, kw_only=True):
    """One logical provider call, as observers see it (no credentials, query values masked).

    The transport fills in what it learns as the call goes (attempts, the last HTTP status, the
    first byte's time, the reply's id, model, finish reason and usage), so an observer reads
    everything at ``end`` instead of watching every event.
    """

    provider_id: str
    wire_api: str
    operation: str
    url: str
    model: str | None
    stream: bool
    request: Request | None = None
    auth_kind: str = "none"
    started: float = 0.0
    attempts: int = 0
    status: int | None = None
    first_byte: float | None = None
    chunks: int = 0
    """Events delivered to the caller (streams)."""
    response_id: str | None = None
    response_model: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    error_code: str | None = None
    """For a reply that ended in an error event: the exception class modelwire would raise for
    it (``StreamIdleTimeout``…) or the provider's error code."""
    collector: ResponseAccumulator | None = None
    """Set by an observer that records the reply's content: every delivered event is added."""
    response: Response | None = None
    """The aggregated reply: always for ``complete``; for a stream, when ``collector`` is set."""
    telemetry: Any = None
    """The telemetry observer's per-call state (its spans); the transport never reads it."""
    deadline_s: float | None = None
    """The caller's deadline for the whole call, in seconds (for ``DeadlineExceeded``)."""
    transport: str = "http"
    """``http`` (+ SSE) or ``websocket``: what carried the reply (a fallback ends as http)."""
    fallback: str | None = None
    """Why this call's socket could not be had and it went over HTTP instead, if it did."""
    reconnects: int = 0
    """Sockets replaced during the call (stale, too old, closed by the server)."""

    def took(self, response: Response) -> None:
        """Note what an aggregated reply says about the call."""
        self.response = response
        self.response_id = response.id
        self.response_model = response.model
        self.finish_reason = response.finish_reason
        self.usage = response.usage
        if response.error is not None:
            self.error_code = _error_code(response.error.code)


class SocketEvent(msgspec.Struct, frozen=True):
    """What became of a call's WebSocket: ``opened`` (a handshake, ``seconds`` long),
    ``reused`` (an open socket carried the turn), ``refused`` (the handshake got an HTTP
    answer, ``reason`` its status) or ``fallback`` (the call goes over HTTP; ``reason`` says
    why, with no credential in it)."""

    outcome: str
    seconds: float
    reason: str | None


class CallObserver:
    """Hooks on a call's lifecycle; the default does nothing. Telemetry subclasses this."""

    def start(self, call: Call) -> None:
        """The call is about to make its first attempt."""

    def attempt(self, call: Call, number: int, request: httpx.Request) -> None:
        """Attempt ``number`` (from 1) is about to be sent."""

    def attempt_response(self, call: Call, number: int, status: int) -> None:
        """Attempt ``number`` got response headers with ``status`` (an error status is then
        also reported to ``attempt_failed``)."""

    def attempt_failed(self, call: Call, number: int, reason: str, *, retrying: bool) -> None:
        """An attempt failed (``reason``: an HTTP status, an error type, or ``stream`` for a
        stream that broke before its first event)."""

    def first_byte(self, call: Call) -> None:
        """The response body's first bytes arrived."""

    def socket(self, call: Call, event: SocketEvent) -> None:
        """The call's WebSocket was opened, reused, refused or given up for HTTP."""

    def end(self, call: Call, reason: EndReason, error: BaseException | None) -> None:
        """The call ended, exactly once."""


class ObserverGroup(CallObserver):
    """Several observers hearing the same calls, in order (telemetry and the user's own)."""

    def __init__(self, *observers: CallObserver) -> None:
        self.observers = observers

    def start(self, call: Call) -> None:
        for observer in self.observers:
            observer.start(call)

    def attempt(self, call: Call, number: int, request: httpx.Request) -> None:
        for observer in self.observers:
            observer.attempt(call, number, request)

    def attempt_response(self, call: Call, number: int, status: int) -> None:
        for observer in self.observers:
            observer.attempt_response(call, number, status)

    def attempt_failed(self, call: Call, number: int, reason: str, *, retrying: bool) -> None:
        for observer in self.observers:
            observer.attempt_failed(call, number, reason, retrying=retrying)

    def first_byte(self, call: Call) -> None:
        for observer in self.observers:
            observer.first_byte(call)

    def socket(self, call: Call, event: SocketEvent) -> None:
        for observer in self.observers:
            observer.socket(call, event)

    def end(self, call: Call, reason: EndReason, error: BaseException | None) -> None:
        for observer in self.observers:
            observer.end(call, reason, error)


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How failures before the first event are retried."""

    base_delay_s: float = 0.2
    max_delay_s: float = 20.0
    jitter: float = 0.1
    retry_after_ceiling_s: float = 60.0
    """A 429 is waited out only when the provider's ``Retry-After`` is at most this."""

    def backoff(self, retry: int, rand: Callable[[float, float], float]) -> float:
        """Delay before retry number ``retry`` (from 1)."""
        delay = min(self.base_delay_s * 2 ** (retry - 1), self.max_delay_s)
        return float(delay * (1 + rand(-self.jitter, self.jitter)))


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """``retry-after-ms``, else ``retry-after`` as seconds or an HTTP date; ``None`` if absent."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_message(body: bytes) -> str | None:
    """The provider's own message from an error body of any known shape (spec §5)."""
    try:
        parsed = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:_EXCERPT] or None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for key in ("error", "message", "detail"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])
    return body.decode("utf-8", "replace")[:_EXCERPT]


async def read_excerpt(
    response: httpx.Response, limit: int = _EXCERPT_READ, *, within: float = _EXCERPT_WITHIN_S
) -> bytes:
    """At most ``limit`` bytes of ``response``'s body (what an error's excerpt needs), read
    within ``within`` seconds, then the response closed.

    A body that ended within the limit leaves its connection to the pool for reuse; a longer
    one (a 200 MB HTML page, an endless error body) is not read further: closing it mid-body
    drops its connection. Best effort: a transport failure while reading returns what came.
    """
    parts: list[bytes] = []
    size = 0
    reads = cast(AsyncGenerator[bytes, None], response.aiter_raw())
    try:
        with anyio.move_on_after(within):
            while size < limit:
                try:
                    part = await reads.__anext__()
                except StopAsyncIteration:
                    break
                except httpx.TransportError:
                    break
                parts.append(part)
                size += len(part)
    finally:
        with anyio.CancelScope(shield=True):
            await reads.aclose()
            await response.aclose()
    return b"".join(parts)[:limit]


async def _close(response: httpx.Response) -> None:
    """Close ``response`` even while cancelled: its pool entry is released only by this."""
    with anyio.CancelScope(shield=True):
        await response.aclose()


def _undecoded(response: httpx.Response) -> str | None:
    """A content coding left on a response (``_http`` strips those it decoded), else ``None``."""
    coding: str | None = response.headers.get("content-encoding")
    if coding is None or coding.strip().lower() in ("", "identity"):
        return None
    return coding


def _certificate_failed(exc: BaseException) -> bool:
    """Whether a connect error comes from a certificate that did not verify (a few links down
    the cause chain: httpx's error, httpcore's, then ssl's)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _request_id(response: httpx.Response) -> str | None:
    found: str | None = response.headers.get("x-request-id") or response.headers.get("request-id")
    return found


class _Failed:
    """One attempt's transport failure, kept without the exception (its ``.request`` holds the
    credentials): the type's name for observers and the modelwire error for the caller."""

    __slots__ = ("error", "kind", "retryable", "timed_out")

    def __init__(
        self, kind: str, error: ModelwireError, *, retryable: bool, timed_out: bool
    ) -> None:
        self.kind = kind
        self.error = error
        self.retryable = retryable
        self.timed_out = timed_out

    @classmethod
    def of(
        cls,
        kind: str,
        error: ModelwireError,
        cause: TransportCause | None = None,
        *,
        retryable: bool = True,
        timed_out: bool = False,
    ) -> _Failed:
        error.__cause__ = cause
        return cls(kind, error, retryable=retryable, timed_out=timed_out)


class Transport:
    """HTTP for every provider: pools, headers, credentials, retries."""

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        timeout: httpx.Timeout | None = None,
        policy: RetryPolicy | None = None,
        observer: CallObserver | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[float, float], float] = random.uniform,
        env: Mapping[str, str] | None = None,
        http_transport: Callable[[Provider], httpx.AsyncBaseTransport | None] | None = None,
    ) -> None:
        self.limits = limits or httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        self.timeout = timeout or httpx.Timeout(30.0)
        """Connect, write and pool timeouts; the read timeout of every request is the
        provider's ``stream_idle_timeout_ms`` (streams and bodies alike)."""
        self.policy = policy or RetryPolicy()
        self.observer = observer or CallObserver()
        self.sleep = sleep
        self.rand = rand
        self.env: Mapping[str, str] = {} if env is None else env
        self._http_transport = http_transport
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._catalog_ids: dict[str, str | None] = {}
        self.prices: PriceBook | None = None
        """Where a call's price comes from; with one, each reply's usage is replaced by a
        ``PricedUsage`` carrying its cost (``priced``). ``Client`` sets it."""

    def priced(self, call: Call, usage: Usage, provider: Provider | None = None) -> Usage:
        """``usage`` with its cost, when the call's model has a known price (the requested
        model's, else the one the reply names); as it was otherwise. Once per reply, never
        per event: a dict lookup and a few Decimal products."""
        book = self.prices
        if book is None or type(usage) is not Usage:
            return usage
        catalog_id = None if provider is None else self._catalog_id(provider)
        price = None
        for model in (call.model, call.response_model):
            if model:
                price = book.price_for(call.provider_id, model, catalog_id=catalog_id)
                if price is not None:
                    break
        if price is None:
            return usage
        cost = cost_of(usage, price)
        return usage if cost is None else PricedUsage.of(usage, cost)

    def _catalog_id(self, provider: Provider) -> str | None:
        """The catalog provider whose listing prices ``provider``'s models: its own id when
        it came from the catalog, else the one its definition fronts (``_model_match``, as
        ``modelwire models`` finds it), worked out once per provider."""
        if provider.source is ProviderSource.CATALOG:
            return provider.id
        try:
            return self._catalog_ids[provider.id]
        except KeyError:
            pass
        from ._model_match import match_catalog_provider
        from .catalog.bundled import provider_catalog

        match = match_catalog_provider(provider.info, provider_catalog())
        found = None if match is None else match.provider.id
        self._catalog_ids[provider.id] = found
        return found

    def client(self, provider: Provider) -> httpx.AsyncClient:
        """The provider's pooled client, created on first use."""
        client = self._clients.get(provider.id)
        if client is None:
            custom = self._http_transport(provider) if self._http_transport else None
            client = httpx.AsyncClient(
                limits=self.limits,
                timeout=self.timeout,
                transport=custom if custom is not None else PooledTransport(self.limits),
                trust_env=False,
            )
            self._clients[provider.id] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def headers(self, provider: Provider, *, stream: bool) -> dict[str, str]:
        """Every non-credential header a request to ``provider`` carries."""
        headers = {
            "user-agent": USER_AGENT,
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "accept-encoding": ACCEPT_ENCODING,
        }
        if is_anthropic(provider.name, provider.base_url):
            headers["anthropic-version"] = ANTHROPIC_VERSION
        headers.update({k.lower(): v for k, v in provider.info.static_headers(self.env).items()})
        return headers

    def url(
        self,
        provider: Provider,
        path: str,
        credentials: Credentials | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """Where a request goes: the base URL (the credential's choice, see
        ``Credentials.base_url``) + the wire API's path + the provider's query parameters
        (+ the request's own ``params``)."""
        base, query = _base_and_query(provider, credentials, params)
        return join_url(base, path, query)

    def shown_url(
        self,
        provider: Provider,
        path: str,
        credentials: Credentials | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """The URL with every query value and any ``user:password@`` masked, for errors, logs
        and spans."""
        base, query = _base_and_query(provider, credentials, params)
        return mask_url(join_url(base, path, mask_query(query)))

    async def send(
        self,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        method: str,
        path: str,
        body: bytes | None,
        *,
        stream: bool,
        params: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> httpx.Response:
        """Send with retries until a 2xx response or an error.

        With ``stream`` the response comes back unread; without, its body is read (bounded: see
        ``_read_body``) into ``response.content``. Every failure is a modelwire error whose
        cause chain holds no httpx object (they carry the request's credentials).

        ``deadline`` (on ``anyio.current_time()``'s clock) bounds the whole send: each
        attempt's timeouts are capped by the time left, a backoff sleep that would pass it
        ends the retries, and passing it raises ``DeadlineExceeded``.
        """
        client = self.client(provider)
        url = self.url(provider, path, credentials, params)
        headers = self.headers(provider, stream=stream)
        if body is None:
            del headers["content-type"]
        idle_s = provider.info.stream_idle_timeout_ms / 1000
        max_retries = provider.info.request_max_retries
        if call.deadline_s is not None:
            limit_s: float | None = call.deadline_s
        elif deadline is not None:
            limit_s = max(0.0, deadline - anyio.current_time())
        else:
            limit_s = None
        retries = 0
        renewed = False
        last: ModelwireError | None = None
        while True:
            timeout, capped = self._attempt_timeout(idle_s, deadline)
            if timeout is None:
                raise self._deadline_error(provider, call, limit_s, last)
            request = self._build(client, provider, method, url, body, headers, timeout)
            await credentials.apply(request)
            call.attempts += 1
            self.observer.attempt(call, call.attempts, request)
            outcome = await self._attempt(
                client, request, call, provider, credentials, path, params, stream, deadline
            )
            del request
            if outcome is None:
                raise self._deadline_error(provider, call, limit_s, last)
            if isinstance(outcome, _Failed):
                if capped and outcome.timed_out:
                    # The capped timeout, not the provider, ended the attempt: the deadline did.
                    raise self._deadline_error(provider, call, limit_s, outcome.error)
                retrying = outcome.retryable and retries < max_retries
                self.observer.attempt_failed(call, call.attempts, outcome.kind, retrying=retrying)
                if not retrying:
                    raise outcome.error
                last = outcome.error
                retries += 1
                if not await self._pause(self.policy.backoff(retries, self.rand), deadline):
                    raise self._deadline_error(provider, call, limit_s, last)
                continue
            response, content = outcome
            if content is None:
                return response
            status = response.status_code
            if status in (401, 403) and not renewed and await credentials.unauthorized():
                renewed = True
                self.observer.attempt_failed(call, call.attempts, str(status), retrying=True)
                continue
            delay = self._retry_delay(response, retries, max_retries)
            self.observer.attempt_failed(
                call, call.attempts, str(status), retrying=delay is not None
            )
            error = self._http_error(provider, credentials, response, content)
            if delay is None:
                raise error
            last = error
            retries += 1
            if not await self._pause(delay, deadline):
                raise self._deadline_error(provider, call, limit_s, last)

    def _attempt_timeout(
        self, idle_s: float, deadline: float | None
    ) -> tuple[httpx.Timeout | None, bool]:
        """One attempt's timeouts, and whether the deadline capped any; ``None`` once the
        deadline has passed.

        The read timeout is the provider's ``stream_idle_timeout_ms`` for streams and bodies
        alike (no byte for that long fails the read, and the head must be complete within it:
        see ``_http``), so every call is bounded even when the caller sets no deadline.
        """
        base = self.timeout
        values = {"connect": base.connect, "read": idle_s, "write": base.write, "pool": base.pool}
        if deadline is None:
            return httpx.Timeout(**values), False
        left = deadline - anyio.current_time()
        if left <= 0:
            return None, True
        capped = any(value is None or value > left for value in values.values())
        return httpx.Timeout(
            **{name: left if value is None else min(value, left) for name, value in values.items()}
        ), capped

    def _build(
        self,
        client: httpx.AsyncClient,
        provider: Provider,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: httpx.Timeout,
    ) -> httpx.Request:
        """The request, or a ``ConfigError`` for a URL that cannot be a request at all."""
        problem: str | None = None
        try:
            return client.build_request(method, url, content=body, headers=headers, timeout=timeout)
        except httpx.InvalidURL as exc:
            problem = self._masked(str(exc), provider, None)
        raise ConfigError(
            f"{provider.id}: {mask_url(provider.base_url)} is not a valid URL ({problem})",
            key_path=f"model_providers.{provider.id}.base_url",
        )

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        request: httpx.Request,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        path: str,
        params: Mapping[str, str] | None,
        stream: bool,
        deadline: float | None,
    ) -> tuple[httpx.Response, bytes | None] | _Failed | None:
        """One attempt: the 2xx response (its body read unless ``stream``) with ``None``, an
        error status's response with its excerpt bytes, a failure, or ``None`` when the
        deadline passed. The response is closed on every path that does not return it."""
        response: httpx.Response | None = None
        failure: _Failed | None = None
        scope = anyio.CancelScope(deadline=math.inf if deadline is None else deadline)
        with scope:
            try:
                with masking_request_log():
                    response = await client.send(request, stream=True)
                status = call.status = response.status_code
                self.observer.attempt_response(call, call.attempts, status)
                coding = _undecoded(response)
                if status >= 400:
                    if coding is not None:
                        await response.aclose()
                        return response, b""
                    return response, await read_excerpt(response)
                if coding is not None:
                    await response.aclose()
                    return _Failed.of(
                        "content-encoding",
                        UnusableResponseError(
                            f"{provider.id} answered with content-encoding {coding!r}, which "
                            f"modelwire does not decode (it asks for {ACCEPT_ENCODING})",
                            status=status,
                            provider_id=provider.id,
                        ),
                        retryable=False,
                    )
                if stream:
                    return response, None
                body = await self._read_body(response, provider, credentials)
                return (
                    httpx.Response(
                        status, headers=response.headers, content=body, request=response.request
                    ),
                    None,
                )
            except httpx.TransportError as exc:
                failure = self._failure(
                    exc, call, provider, credentials, path, params, stream, response is not None
                )
            except BaseException:
                if response is not None:
                    await _close(response)
                raise
        if response is not None:
            await _close(response)
        if scope.cancelled_caught:
            return None
        assert failure is not None
        return failure

    async def _read_body(
        self, response: httpx.Response, provider: Provider, credentials: Credentials
    ) -> bytes:
        """A 2xx non-streamed body: read whole when its content type is JSON (or absent), up
        to ``_BODY_CAP``; anything else (a proxy's HTML page) is refused after reading only
        what its excerpt needs, and its connection closed."""
        kind = response.headers.get("content-type", "")
        status = response.status_code
        if kind and "json" not in kind.partition(";")[0].lower():
            excerpt = self._masked(
                (await read_excerpt(response)).decode("utf-8", "replace")[:_EXCERPT],
                provider,
                credentials,
            )
            raise UnusableResponseError(
                f"{provider.id} answered a non-streamed request with {kind}, not JSON: "
                f"{excerpt.strip()[:200]!r}",
                status=status,
                provider_id=provider.id,
                request_id=_request_id(response),
                excerpt=excerpt,
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > _BODY_CAP:
            await response.aclose()
            raise self._too_large(provider, response)
        parts: list[bytes] = []
        size = 0
        reads = cast(AsyncGenerator[bytes, None], response.aiter_raw())
        try:
            async for part in reads:
                size += len(part)
                if size > _BODY_CAP:
                    break
                parts.append(part)
        finally:
            with anyio.CancelScope(shield=True):
                await reads.aclose()
                await response.aclose()
        if size > _BODY_CAP:
            raise self._too_large(provider, response)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _too_large(self, provider: Provider, response: httpx.Response) -> UnusableResponseError:
        return UnusableResponseError(
            f"{provider.id} answered with a body over {_BODY_CAP // (1024 * 1024)} MiB",
            status=response.status_code,
            provider_id=provider.id,
            request_id=_request_id(response),
        )

    def _failure(
        self,
        exc: httpx.TransportError,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        path: str,
        params: Mapping[str, str] | None,
        stream: bool,
        headed: bool,
    ) -> _Failed:
        """What a transport exception means, kept without the exception: its ``.request``
        holds the credentials, so only its type's name and masked message go on."""
        kind = type(exc).__name__
        cause = TransportCause(kind, self._masked(str(exc), provider, credentials))
        where = self.shown_url(provider, path, credentials, params)
        attempts = f"{call.attempts} attempt(s)"
        error: ModelwireError
        if isinstance(exc, httpx.UnsupportedProtocol):
            error = ConfigError(
                f"{provider.id}: {where} cannot be requested ({cause})",
                key_path=f"model_providers.{provider.id}.base_url",
                hint="a base_url starts with http:// or https://",
            )
            return _Failed.of(kind, error, cause, retryable=False)
        if isinstance(exc, httpx.LocalProtocolError):
            error = ConnectionFailedError(
                f"{provider.id}: the request to {where} cannot be sent as built ({cause})",
                provider_id=provider.id,
            )
            return _Failed.of(kind, error, cause, retryable=False)
        if isinstance(exc, httpx.ConnectError) and _certificate_failed(exc):
            error = ConnectionFailedError(
                f"{provider.id}: the TLS certificate of {where} does not verify ({cause})",
                provider_id=provider.id,
            )
            return _Failed.of(kind, error, cause, retryable=False)
        if isinstance(exc, CorruptBody):
            error = UnusableResponseError(
                f"{provider.id}: {cause}", status=call.status or 200, provider_id=provider.id
            )
            return _Failed.of(kind, error, cause, retryable=False)
        ms = provider.info.stream_idle_timeout_ms
        if isinstance(exc, httpx.ReadTimeout):
            what = (
                f"no bytes for {ms} ms mid-body"
                if headed
                else f"no response headers complete within {ms} ms"
            )
            if stream:
                # Streams fail before their first event like this: no (complete) head in time.
                error = StreamIdleTimeout(f"{provider.id}: {what}, {attempts}")
            else:
                error = ResponseTimeout(
                    f"{provider.id}: {what}, {attempts}",
                    provider_id=provider.id,
                    attempts=call.attempts,
                )
            return _Failed.of(kind, error, cause, timed_out=True)
        phase = "mid-body from" if headed else "talking to"
        error = ConnectionFailedError(
            f"{provider.id}: {kind} {phase} {where} after {attempts}", provider_id=provider.id
        )
        return _Failed.of(kind, error, cause, timed_out=isinstance(exc, httpx.TimeoutException))

    def _masked(self, text: str, provider: Provider, credentials: Credentials | None) -> str:
        """Text shown to people with every credential and query value masked.

        Such text is often a cut-off excerpt (a bounded read, a 500-character message), so an
        end that starts a secret is masked as well.
        """
        if credentials is not None:
            text = credentials.redact(text, truncated=True)
        query = provider.info.query_params
        return mask_values(text, query.values(), truncated=True) if query else text

    async def _pause(self, delay: float, deadline: float | None) -> bool:
        """Sleep ``delay`` before a retry, unless that would pass ``deadline`` (``False``)."""
        if deadline is not None and anyio.current_time() + delay >= deadline:
            return False
        await self.sleep(delay)
        return True

    def _deadline_error(
        self,
        provider: Provider,
        call: Call,
        limit_s: float | None,
        last: ModelwireError | None,
    ) -> DeadlineExceeded:
        limit = f" of {limit_s:g} s" if limit_s is not None else ""
        detail = f"; the last attempt: {last}" if last is not None else ""
        error = DeadlineExceeded(
            f"{provider.id}: the call's deadline{limit} passed after "
            f"{call.attempts} attempt(s){detail}",
            provider_id=provider.id,
            attempts=call.attempts,
            limit_s=limit_s,
        )
        error.__cause__ = last
        return error

    def _retry_delay(
        self, response: httpx.Response, retries: int, max_retries: int
    ) -> float | None:
        """Seconds to wait before retrying ``response``'s request, or ``None`` to give up."""
        if retries >= max_retries:
            return None
        status = response.status_code
        hint = response.headers.get("x-should-retry")
        if status == 429:
            wait = retry_after_seconds(response.headers)
            if hint == "false":
                return None
            if wait is not None and wait <= self.policy.retry_after_ceiling_s:
                return wait
            return self.policy.backoff(retries + 1, self.rand) if hint == "true" else None
        if hint == "false":
            return None
        if hint == "true" or status in (408, 409) or status >= 500:
            return self.policy.backoff(retries + 1, self.rand)
        return None

    def _http_error(
        self,
        provider: Provider,
        credentials: Credentials,
        response: httpx.Response,
        content: bytes,
    ) -> ModelwireError:
        status = response.status_code
        request_id = _request_id(response)
        message = _error_message(content)
        excerpt = None if message is None else self._masked(message, provider, credentials)
        where = f"{provider.id} answered HTTP {status}"
        detail = f": {excerpt}" if excerpt else ""
        if status in (401, 403):
            used = credentials.description or "no credential"
            return AuthError(
                f"{where} (credential used: {used}){detail}",
                provider_id=provider.id,
                credential=credentials.description,
            )
        if status == 429:
            wait = retry_after_seconds(response.headers)
            hint = f"; retry after {wait:g} s" if wait is not None else ""
            return RateLimitError(
                f"{where}{hint}{detail}",
                provider_id=provider.id,
                retry_after=wait,
                request_id=request_id,
                excerpt=excerpt,
            )
        return ProviderError(
            f"{where}{detail}",
            status=status,
            provider_id=provider.id,
            request_id=request_id,
            excerpt=excerpt,
        )

    async def complete(
        self,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        path: str,
        body: bytes,
        *,
        deadline: float | None = None,
    ) -> Response:
        """A non-streamed call, aggregated; ``deadline`` as in ``send`` (it covers the body)."""
        self._begin(call)
        try:
            response = await self.send(
                call, provider, credentials, "POST", path, body, stream=False, deadline=deadline
            )
            result = decode_response(call.wire_api, response.content)
            if result.usage is not None and self.prices is not None:
                usage = self.priced(call, result.usage, provider)
                result = msgspec.structs.replace(result, usage=usage)
            call.took(result)
        except anyio.get_cancelled_exc_class():
            self.observer.end(call, EndReason.CANCELLED, None)
            raise
        except BaseException as exc:
            self.observer.end(call, EndReason.FAILED, exc)
            raise
        self.observer.end(call, EndReason.COMPLETED if result.ok else EndReason.FAILED, None)
        return result

    async def list_models(
        self,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        path: str,
        *,
        deadline: float | None = None,
    ) -> list[ListedModel]:
        """Every model the provider's listing endpoint names, following its pages (messages:
        ``has_more`` / ``last_id``; at most ``_MAX_MODEL_PAGES`` pages); ``deadline`` as in
        ``send``, over every page."""
        self._begin(call)
        models: list[ListedModel] = []
        try:
            after: str | None = None
            for _ in range(_MAX_MODEL_PAGES):
                params = page_params(call.wire_api, after)
                response = await self.send(
                    call,
                    provider,
                    credentials,
                    "GET",
                    path,
                    None,
                    stream=False,
                    params=params,
                    deadline=deadline,
                )
                try:
                    page = decode_model_page(call.wire_api, response.content)
                except msgspec.DecodeError as exc:
                    raise ProviderError(
                        f"{provider.id}: the model list is not JSON ({exc})",
                        status=response.status_code,
                        provider_id=provider.id,
                        request_id=_request_id(response),
                        excerpt=self._masked(
                            response.content[:_EXCERPT].decode("utf-8", "replace"),
                            provider,
                            credentials,
                        ),
                    ) from exc
                models.extend(page.models)
                after = page.next_after
                if after is None:
                    break
        except anyio.get_cancelled_exc_class():
            self.observer.end(call, EndReason.CANCELLED, None)
            raise
        except BaseException as exc:
            self.observer.end(call, EndReason.FAILED, exc)
            raise
        self.observer.end(call, EndReason.COMPLETED, None)
        return models

    def _begin(self, call: Call) -> None:
        call.started = time.perf_counter()
        self.observer.start(call)

    def stream(
        self,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        path: str,
        body: bytes,
        *,
        raw: bool = False,
        deadline_s: float | None = None,
        first_event_timeout_s: float | None = None,
        max_event_bytes: int | None = None,
    ) -> EventStream[Any]:
        """A stream of common events (or native events with ``raw``); nothing is sent until the
        first ``__anext__``. The bounds (seconds, counted from that first ``__anext__``) and the
        event-size cap (default: the provider's ``stream_max_event_bytes``) are
        ``EventStream``'s."""
        return EventStream(
            self,
            call,
            provider,
            credentials,
            path,
            body,
            raw=raw,
            deadline_s=deadline_s,
            first_event_timeout_s=first_event_timeout_s,
            max_event_bytes=max_event_bytes,
        )


class EventStream(Generic[T]):
    """The events of one streamed call: ``async for`` it, and close it (or ``async with``).

    Iteration stops after the terminal event. Closing before that ends the call as
    ``closed_early``; the connection is released in every case.

    Retries are decided by what was *received*, never by how the bytes were cut into reads: a
    stream that failed before any content event (anything past ``Start``) was decoded may be
    re-requested; once one was, the caller gets every decoded event and then the terminal
    ``ErrorEvent``. Raw mode decides the same way by the provider's own events.

    ``deadline_s`` bounds the whole call (every attempt, backoff and the body up to the
    terminal event), ``first_event_timeout_s`` the time until the first content event, across
    retries; both count from the first ``__anext__``. Passing either before any content event
    raises ``DeadlineExceeded``; a deadline passing after events arrived ends the stream with
    an ``ErrorEvent`` coded ``deadline_exceeded`` (raw mode: raises it), the events kept.
    """

    def __init__(
        self,
        transport: Transport,
        call: Call,
        provider: Provider,
        credentials: Credentials,
        path: str,
        body: bytes,
        *,
        raw: bool,
        deadline_s: float | None = None,
        first_event_timeout_s: float | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        self._transport = transport
        self.call = call
        self._provider = provider
        self._credentials = credentials
        self._path = path
        self._body = body
        self._raw = raw
        self._deadline_s = deadline_s
        self._first_event_s = first_event_timeout_s
        self._max_event_bytes = (
            max_event_bytes if max_event_bytes is not None else provider.info.stream_max_event_bytes
        )
        if deadline_s is not None:
            call.deadline_s = deadline_s
        self._response: httpx.Response | None = None
        self._reads: AsyncGenerator[bytes, None] | None = None
        self._close_requested = False
        self.end_reason: EndReason | None = None
        self._terminal: Event | None = None
        self._events = self._run()

    def __repr__(self) -> str:
        state = self.end_reason.value if self.end_reason else "open"
        return f"EventStream({self.call.provider_id}, {self.call.wire_api}, {state})"

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        return await self._events.__anext__()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Stop the stream; the connection is released before this returns."""
        self._close_requested = True
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _release(self, *, abandoned: bool = False) -> None:
        """Close the response, which hands its connection back to the pool (or drops it).

        When the stream was abandoned, the body's reader is garbage too, and the event loop
        finalizes it on its own schedule; closing it here as well would race that (asyncio
        reports "aclose(): asynchronous generator is already running"), so only the response
        is closed, which is a plain method call on httpx's and httpcore's side.
        """
        response, self._response = self._response, None
        reads, self._reads = self._reads, None
        if response is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                if reads is not None and not abandoned:
                    with contextlib.suppress(RuntimeError):
                        await reads.aclose()
            finally:
                await response.aclose()

    async def _run(self) -> AsyncGenerator[Any, None]:
        transport = self._transport
        transport._begin(self.call)
        reason = EndReason.ABANDONED
        error: BaseException | None = None
        try:
            # One generator for the whole stream (no inner generator to finalize separately
            # when the stream is abandoned): re-requested while nothing has been received.
            transport, provider, call = self._transport, self._provider, self.call
            idle_ms = provider.info.stream_idle_timeout_ms
            retries_left = provider.info.stream_max_retries
            retries = 0
            # A content event was yielded; every batch after it is yielded too.
            delivered = False
            deadline, first_by = self._bounds()
            # Until the first content event both bounds apply, then only the deadline. Reads
            # get a cancel scope only when a bound is set: the unbounded path is unchanged.
            limit = _earlier(deadline, first_by)
            resend = False
            while True:
                reads, capped = await self._attempt_reads(limit, deadline, first_by)
                decoding = StreamDecoding(call.wire_api, max_event_bytes=self._max_event_bytes)
                framer, codec = self._framer(decoding), decoding.codec
                native = codec.native
                held: Start | None = None
                failure: str | None = None
                first = True
                seen = 0
                while True:
                    payloads: list[bytes] = []
                    try:
                        if limit is None:
                            chunk = await reads.__anext__()
                        else:
                            bound = deadline if delivered else limit
                            chunk = (
                                await reads.__anext__()
                                if bound is None
                                else await _read_before(reads, bound)
                            )
                    except StopAsyncIteration:
                        events = codec.finish()
                        if events and isinstance(events[-1], ErrorEvent):
                            failure = "the connection closed"
                    except httpx.ReadTimeout:
                        if capped:
                            failure = "deadline"
                            events = codec.fail(
                                _DEADLINE_CODE, self._passed(deadline, first_by, delivered)
                            )
                        else:
                            failure = "idle"
                            events = codec.fail("idle_timeout", f"no bytes for {idle_ms} ms")
                    except _DeadlinePassed:
                        failure = "deadline"
                        events = codec.fail(
                            _DEADLINE_CODE, self._passed(deadline, first_by, delivered)
                        )
                    except httpx.TransportError as exc:
                        failure = type(exc).__name__
                        events = codec.fail(
                            "stream_truncated", f"the connection failed mid-stream ({failure})"
                        )
                    else:
                        if first:
                            first = False
                            call.first_byte = time.perf_counter()
                            transport.observer.first_byte(call)
                        try:
                            payloads = framer.feed(chunk)
                        except StreamDecodeError as exc:
                            # What the read completed before its bad line was received too.
                            seen = codec.events_seen
                            payloads = exc.completed if isinstance(exc, EventTooLargeError) else []
                            events = decoding.failed(exc)
                        else:
                            seen = codec.events_seen
                            events = codec.feed(payloads) if payloads else []
                    if codec.done and events:
                        if self._raw:
                            # Only the events up to the terminal one, however the reads fell.
                            payloads = payloads[: codec.events_seen - seen]
                        terminal = events[-1]
                        if isinstance(terminal, ErrorEvent):
                            terminal = events[-1] = self._redacted(terminal)
                            if not delivered and not self._received(
                                events, payloads, failure, native
                            ):
                                if failure == "deadline":
                                    await self._release()
                                    raise self._deadline_error(deadline, first_by)
                                if failure is None and self._resend(terminal):
                                    resend = True
                                    break
                                if terminal.retryable and retries_left:
                                    break
                                if failure is not None and not retries_left:
                                    await self._release()
                                    raise self._failed_before_first_event(failure)
                    if self._raw:
                        for data in payloads:
                            try:
                                item = native(data)
                            except (msgspec.DecodeError, UnicodeDecodeError):
                                break
                            if item is not None:
                                delivered = True
                                yield item
                        if codec.done:
                            self._note_terminal(events)
                            self._terminal = terminal = events[-1]
                            if isinstance(terminal, ErrorEvent):
                                if terminal.code == _DEADLINE_CODE:
                                    raise self._deadline_error(deadline, None)
                                if terminal.code in _OWN_CODES:
                                    raise _OWN_CODES[terminal.code](
                                        f"{provider.id}: {terminal.message}"
                                    )
                            elif isinstance(terminal, Completed):
                                await self._drain(reads)
                            return
                        continue
                    if codec.done:
                        self._note_terminal(events)
                    collector = call.collector
                    for event in events:
                        if not delivered and type(event) is Start:
                            held = event
                            call.response_id, call.response_model = event.id, event.model
                            continue
                        if held is not None:
                            if collector is not None:
                                collector.add(held)
                            yield held
                            held = None
                        delivered = True
                        call.chunks += 1
                        if collector is not None:
                            collector.add(event)
                        yield event
                    if codec.done:
                        self._terminal = events[-1]
                        if collector is not None:
                            call.response = collector.result()
                        if isinstance(self._terminal, Completed):
                            await self._drain(reads)
                        return
                await self._release()
                if resend:
                    # Sent again at once, as the transport asked (not a failure's retry).
                    resend = False
                    continue
                retries_left -= 1
                retries += 1
                transport.observer.attempt_failed(call, call.attempts, "stream", retrying=True)
                delay = transport.policy.backoff(retries, transport.rand)
                if not await transport._pause(delay, limit):
                    raise self._deadline_error(deadline, first_by)
        except GeneratorExit:
            reason = EndReason.CLOSED_EARLY if self._close_requested else EndReason.ABANDONED
            raise
        except anyio.get_cancelled_exc_class():
            reason = EndReason.CANCELLED
            raise
        except BaseException as exc:
            if _only_cancelled(exc):
                reason = EndReason.CANCELLED
            else:
                reason, error = EndReason.FAILED, exc
            raise
        finally:
            last = self._terminal
            if last is not None and error is None:
                # The terminal event was delivered: the call ended then, whatever came after
                # (closing, or a cancel while the finished body was drained).
                reason = EndReason.FAILED if isinstance(last, ErrorEvent) else EndReason.COMPLETED
            await self._release(abandoned=reason is EndReason.ABANDONED)
            self.end_reason = reason
            transport.observer.end(self.call, reason, error)
            if reason is EndReason.ABANDONED:
                warnings.warn(
                    f"a {self.call.provider_id} stream was garbage-collected without being "
                    "closed; close streams (or use `async with`) to release connections promptly",
                    ResourceWarning,
                    stacklevel=1,
                )

    def _bounds(self) -> tuple[float | None, float | None]:
        """The absolute deadline and first-event bound (``anyio.current_time()``), if set."""
        if self._deadline_s is None and self._first_event_s is None:
            return None, None
        now = anyio.current_time()
        deadline = None if self._deadline_s is None else now + self._deadline_s
        first_by = None if self._first_event_s is None else now + self._first_event_s
        return deadline, first_by

    async def _attempt_reads(
        self, limit: float | None, deadline: float | None, first_by: float | None
    ) -> tuple[AsyncIterator[bytes], bool]:
        """One attempt, sent: the reads of its reply and whether the deadline capped their
        idle bound (so a read timeout means the deadline passed). The WebSocket stream
        overrides this; the rest of ``_run`` is the same for both transports."""
        response = await self._open(limit, deadline, first_by)
        self._response = response
        await self._check_event_stream(response)
        read_timeout = response.request.extensions.get("timeout", {}).get("read")
        capped = read_timeout is not None and read_timeout * 1000 < (
            self._provider.info.stream_idle_timeout_ms
        )
        reads = self._reads = response.aiter_raw()  # type: ignore[assignment]
        return reads, capped

    def _framer(self, decoding: StreamDecoding) -> Any:
        """What cuts the reads into event payloads: SSE over HTTP."""
        return decoding.framer

    def _resend(self, terminal: ErrorEvent) -> bool:
        """Whether a reply that failed with ``terminal`` before anything was received should
        be sent again at once, outside the retry budget (the WebSocket stream's chain
        rebuilds); over HTTP, never."""
        return False

    async def _open(
        self, limit: float | None, deadline: float | None, first_by: float | None
    ) -> httpx.Response:
        """One ``send`` (its own retries included) within the bounds before the first event."""
        transport, provider = self._transport, self._provider
        args = (self.call, provider, self._credentials, "POST", self._path, self._body)
        if first_by is None or (deadline is not None and deadline <= first_by):
            return await transport.send(*args, stream=True, deadline=deadline)
        with anyio.CancelScope(deadline=first_by):
            return await transport.send(*args, stream=True, deadline=deadline)
        raise self._deadline_error(deadline, first_by)

    def _received(
        self,
        events: list[Event],
        payloads: list[bytes],
        failure: str | None,
        native: Callable[[bytes], object | None],
    ) -> bool:
        """Whether the batch that ended the stream in an error holds content: common events
        past ``Start`` before the terminal one, or in raw mode native events before it (the
        terminal payload's own event aside when the provider sent the error)."""
        if not self._raw:
            return any(type(event) is not Start for event in events[:-1])
        before = payloads if failure is not None else payloads[:-1]
        for data in before:
            try:
                if native(data) is not None:
                    return True
            except (msgspec.DecodeError, UnicodeDecodeError):
                return False
        return False

    def _redacted(self, event: ErrorEvent) -> ErrorEvent:
        """A terminal error event with every credential value masked out of its message (the
        provider's text, or a decode error's excerpt of the provider's bytes)."""
        message = event.message
        if not message:
            return event
        masked = self._transport._masked(message, self._provider, self._credentials)
        return event if masked == message else msgspec.structs.replace(event, message=masked)

    def _passed(self, deadline: float | None, first_by: float | None, delivered: bool) -> str:
        """The terminal event's message for the bound that cut a read."""
        return self._which(deadline, None if delivered else first_by)[1]

    def _which(self, deadline: float | None, first_by: float | None) -> tuple[float | None, str]:
        """The bound in force (its seconds and a phrase): the earlier one while ``first_by``
        (the first-event bound, ``None`` once an event was delivered) still applies."""
        if deadline is not None and (first_by is None or deadline <= first_by):
            return self._deadline_s, f"the call's deadline of {self._deadline_s:g} s passed"
        return self._first_event_s, (
            f"no event within the first_event_timeout_s of {self._first_event_s:g} s"
        )

    def _deadline_error(self, deadline: float | None, first_by: float | None) -> DeadlineExceeded:
        """``DeadlineExceeded`` for the bound in force (see ``_which``)."""
        provider, call = self._provider, self.call
        limit_s, what = self._which(deadline, first_by)
        return DeadlineExceeded(
            f"{provider.id}: {what}, {call.attempts} attempt(s)",
            provider_id=provider.id,
            attempts=call.attempts,
            limit_s=limit_s,
        )

    def _failed_before_first_event(self, failure: str) -> StreamError:
        provider, call = self._provider, self.call
        if failure == "idle":
            return StreamIdleTimeout(
                f"{provider.id}: no bytes for {provider.info.stream_idle_timeout_ms} ms, "
                f"{call.attempts} attempt(s)"
            )
        return StreamError(
            f"{provider.id}: the stream failed before its first event ({failure}), "
            f"{call.attempts} attempt(s)"
        )

    def _note_terminal(self, events: list[Event]) -> None:
        """Record the reply's usage and finish reason from the batch that ended the stream
        (the codec emits usage right before the terminal event)."""
        call = self.call
        for event in reversed(events[-3:]):
            if isinstance(event, Start) and call.response_id is None:
                call.response_id, call.response_model = event.id, event.model
        for position in range(len(events) - 1, max(-1, len(events) - 4), -1):
            event = events[position]
            if isinstance(event, Completed):
                call.finish_reason = event.finish_reason
            elif isinstance(event, Usage):
                priced = self._transport.priced(call, event, self._provider)
                events[position] = call.usage = priced
            elif isinstance(event, ErrorEvent):
                call.error_code = _error_code(event.code)
                if event.finish_reason is not None:  # a truncated stream's last report
                    call.finish_reason = event.finish_reason

    async def _drain(self, reads: AsyncIterator[bytes]) -> None:
        """Read a finished stream's body to its end, so its connection goes back to the pool,
        but only what arrives within ``_DRAIN_WITHIN_S`` (usually it already has: the body's
        end came with the terminal event) and at most ``_DRAIN_LIMIT`` bytes; a body that does
        not end by then is closed (its connection dropped) rather than holding the caller."""
        left = _DRAIN_LIMIT
        with anyio.move_on_after(_DRAIN_WITHIN_S):
            async for chunk in reads:
                left -= len(chunk)
                if left < 0:
                    break

    async def _check_event_stream(self, response: httpx.Response) -> None:
        """A 200 that is not an event stream is a JSON error or a decode error (spec §5); only
        what the error's excerpt needs is read (a captive portal's 200 MB page is not)."""
        kind = response.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            return
        content = await read_excerpt(response)
        await self._release()
        message = _error_message(content)
        if message:
            message = self._transport._masked(message, self._provider, self._credentials)
        raise StreamDecodeError(
            f"{self._provider.id} answered a streamed request with {kind or 'no content type'}"
            + (f": {message}" if message else "")
        )


def _only_cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is a group of cancellations only (trio's connect raises a nursery's
    ``Cancelled`` errors as a group): the call was cancelled, it did not fail."""
    if not isinstance(exc, BaseExceptionGroup):
        return False
    cancelled = anyio.get_cancelled_exc_class()
    return all(_only_cancelled(inner) or isinstance(inner, cancelled) for inner in exc.exceptions)


def _earlier(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


class _DeadlinePassed(Exception):
    """A stream's read was cut by its deadline (internal to ``EventStream._run``)."""


async def _read_before(reads: AsyncIterator[bytes], bound: float) -> bytes:
    """The next read, or ``_DeadlinePassed`` at ``bound``; the scope never spans a ``yield``."""
    with anyio.CancelScope(deadline=bound):
        return await reads.__anext__()
    raise _DeadlinePassed
