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
import random
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import anyio
import httpx
import msgspec

from ._http import PooledTransport, masking_request_log
from ._redact import mask_query
from ._version import __version__
from .auth import Credentials
from .errors import (
    AuthError,
    ConnectionFailedError,
    ProviderError,
    RateLimitError,
    StreamDecodeError,
    StreamError,
    StreamIdleTimeout,
)
from .registry import Provider
from .wire import (
    Completed,
    ErrorEvent,
    Event,
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
    "Transport",
]

USER_AGENT = f"modelwire/{__version__}"
ANTHROPIC_VERSION = "2023-06-01"
_EXCERPT = 500
_DRAIN_LIMIT = 64 * 1024
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
    return own.__name__ if own is not None else code


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

    def took(self, response: Response) -> None:
        """Note what an aggregated reply says about the call."""
        self.response = response
        self.response_id = response.id
        self.response_model = response.model
        self.finish_reason = response.finish_reason
        self.usage = response.usage
        if response.error is not None:
            self.error_code = _error_code(response.error.code)


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
        self.timeout = timeout or httpx.Timeout(30.0, read=None)
        self.policy = policy or RetryPolicy()
        self.observer = observer or CallObserver()
        self.sleep = sleep
        self.rand = rand
        self.env: Mapping[str, str] = {} if env is None else env
        self._http_transport = http_transport
        self._clients: dict[str, httpx.AsyncClient] = {}

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
        """The URL with every query value masked, for errors, logs and spans."""
        base, query = _base_and_query(provider, credentials, params)
        return join_url(base, path, mask_query(query))

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
    ) -> httpx.Response:
        """Send with retries until a 2xx response (returned unread when ``stream``) or an error."""
        client = self.client(provider)
        url = self.url(provider, path, credentials, params)
        headers = self.headers(provider, stream=stream)
        if body is None:
            del headers["content-type"]
        max_retries = provider.info.request_max_retries
        retries = 0
        renewed = False
        # A stream's idle timeout is the HTTP read timeout: no byte for that long fails the read.
        # (A cancel scope around every read would do the same at ~10 us per chunk.)
        timeout = (
            self.timeout
            if not stream
            else httpx.Timeout(
                connect=self.timeout.connect,
                read=provider.info.stream_idle_timeout_ms / 1000,
                write=self.timeout.write,
                pool=self.timeout.pool,
            )
        )
        while True:
            request = client.build_request(
                method, url, content=body, headers=headers, timeout=timeout
            )
            await credentials.apply(request)
            call.attempts += 1
            self.observer.attempt(call, call.attempts, request)
            try:
                with masking_request_log():
                    response = await client.send(request, stream=True)
            except httpx.TransportError as exc:
                retrying = retries < max_retries
                self.observer.attempt_failed(
                    call, call.attempts, type(exc).__name__, retrying=retrying
                )
                if not retrying:
                    if stream and isinstance(exc, httpx.ReadTimeout):
                        # The read timeout is the idle timeout here: not even headers came.
                        raise StreamIdleTimeout(
                            f"{provider.id}: no bytes for {provider.info.stream_idle_timeout_ms} "
                            f"ms (no response headers), {call.attempts} attempt(s)"
                        ) from exc
                    raise ConnectionFailedError(
                        f"{provider.id}: {type(exc).__name__} talking to "
                        f"{self.shown_url(provider, path, credentials, params)} "
                        f"after {call.attempts} attempt(s)",
                        provider_id=provider.id,
                    ) from exc
                retries += 1
                await self.sleep(self.policy.backoff(retries, self.rand))
                continue
            status = call.status = response.status_code
            self.observer.attempt_response(call, call.attempts, status)
            if status < 400:
                if not stream:
                    await response.aread()
                return response
            content = await response.aread()
            await response.aclose()
            if status in (401, 403) and not renewed and await credentials.unauthorized():
                renewed = True
                self.observer.attempt_failed(call, call.attempts, str(status), retrying=True)
                continue
            delay = self._retry_delay(response, retries, max_retries)
            self.observer.attempt_failed(
                call, call.attempts, str(status), retrying=delay is not None
            )
            if delay is None:
                raise self._http_error(provider, credentials, response, content)
            retries += 1
            await self.sleep(delay)

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
    ) -> Exception:
        status = response.status_code
        request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        excerpt = _error_message(content)
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
    ) -> Response:
        """A non-streamed call, aggregated."""
        self._begin(call)
        try:
            response = await self.send(
                call, provider, credentials, "POST", path, body, stream=False
            )
            result = decode_response(call.wire_api, response.content)
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
        self, call: Call, provider: Provider, credentials: Credentials, path: str
    ) -> list[ListedModel]:
        """Every model the provider's listing endpoint names, following its pages (messages:
        ``has_more`` / ``last_id``; at most ``_MAX_MODEL_PAGES`` pages)."""
        self._begin(call)
        models: list[ListedModel] = []
        try:
            after: str | None = None
            for _ in range(_MAX_MODEL_PAGES):
                params = page_params(call.wire_api, after)
                response = await self.send(
                    call, provider, credentials, "GET", path, None, stream=False, params=params
                )
                try:
                    page = decode_model_page(call.wire_api, response.content)
                except msgspec.DecodeError as exc:
                    raise ProviderError(
                        f"{provider.id}: the model list is not JSON ({exc})",
                        status=response.status_code,
                        provider_id=provider.id,
                        request_id=response.headers.get("x-request-id"),
                        excerpt=response.content[:_EXCERPT].decode("utf-8", "replace"),
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
    ) -> EventStream[Any]:
        """A stream of common events (or native events with ``raw``); nothing is sent until the
        first ``__anext__``."""
        return EventStream(self, call, provider, credentials, path, body, raw=raw)


class EventStream(Generic[T]):
    """The events of one streamed call: ``async for`` it, and close it (or ``async with``).

    Iteration stops after the terminal event. Closing before that ends the call as
    ``closed_early``; the connection is released in every case.
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
    ) -> None:
        self._transport = transport
        self.call = call
        self._provider = provider
        self._credentials = credentials
        self._path = path
        self._body = body
        self._raw = raw
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
            # when the stream is abandoned): re-requested while nothing has reached the caller.
            transport, provider, call = self._transport, self._provider, self.call
            idle_s = provider.info.stream_idle_timeout_ms / 1000
            retries_left = provider.info.stream_max_retries
            retries = 0
            delivered = False
            while True:
                response = await transport.send(
                    call, provider, self._credentials, "POST", self._path, self._body, stream=True
                )
                self._response = response
                await self._check_event_stream(response)
                decoding = StreamDecoding(call.wire_api)
                framer, codec = decoding.framer, decoding.codec
                native = codec.native
                reads = self._reads = response.aiter_raw()  # type: ignore[assignment]
                held: Start | None = None
                failure: str | None = None
                first = True
                while True:
                    payloads: list[bytes] = []
                    try:
                        chunk = await reads.__anext__()
                    except StopAsyncIteration:
                        events = codec.finish()
                        if events and isinstance(events[-1], ErrorEvent):
                            failure = "the connection closed"
                    except httpx.ReadTimeout:
                        failure = "idle"
                        events = codec.fail(
                            "idle_timeout",
                            f"no bytes for {provider.info.stream_idle_timeout_ms} ms",
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
                            events = codec.fail("decode_error", str(exc))
                        else:
                            events = codec.feed(payloads) if payloads else []
                    if not delivered and codec.done and events:
                        terminal = events[-1]
                        if isinstance(terminal, ErrorEvent) and terminal.retryable and retries_left:
                            break
                        if failure is not None and not retries_left:
                            await self._release()
                            if failure == "idle":
                                raise StreamIdleTimeout(
                                    f"{provider.id}: no bytes for "
                                    f"{provider.info.stream_idle_timeout_ms} ms, "
                                    f"{call.attempts} attempt(s)"
                                )
                            raise StreamError(
                                f"{provider.id}: the stream failed before its first event "
                                f"({failure}), {call.attempts} attempt(s)"
                            )
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
                            if isinstance(terminal, ErrorEvent) and terminal.code in _OWN_CODES:
                                raise _OWN_CODES[terminal.code](
                                    f"{provider.id}: {terminal.message}"
                                )
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
                            await self._drain(reads, idle_s)
                        return
                await self._release()
                retries_left -= 1
                retries += 1
                transport.observer.attempt_failed(call, call.attempts, "stream", retrying=True)
                await transport.sleep(transport.policy.backoff(retries, transport.rand))
        except GeneratorExit:
            reason = EndReason.CLOSED_EARLY if self._close_requested else EndReason.ABANDONED
            raise
        except anyio.get_cancelled_exc_class():
            reason = EndReason.CANCELLED
            raise
        except BaseException as exc:
            reason, error = EndReason.FAILED, exc
            raise
        finally:
            last = self._terminal
            if last is not None and error is None and reason is not EndReason.CANCELLED:
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

    def _note_terminal(self, events: list[Event]) -> None:
        """Record the reply's usage and finish reason from the batch that ended the stream
        (the codec emits usage right before the terminal event)."""
        call = self.call
        for event in reversed(events[-3:]):
            if isinstance(event, Completed):
                call.finish_reason = event.finish_reason
            elif isinstance(event, Usage):
                call.usage = event
            elif isinstance(event, ErrorEvent):
                call.error_code = _error_code(event.code)
            elif isinstance(event, Start) and call.response_id is None:
                call.response_id, call.response_model = event.id, event.model

    async def _drain(self, reads: AsyncIterator[bytes], idle_s: float) -> None:
        """Read a finished stream to its end (a few bytes at most), so its connection goes back
        to the pool for reuse instead of being dropped."""
        left = _DRAIN_LIMIT
        with anyio.move_on_after(idle_s):
            async for chunk in reads:
                left -= len(chunk)
                if left < 0:
                    break

    async def _check_event_stream(self, response: httpx.Response) -> None:
        """A 200 that is not an event stream is a JSON error or a decode error (spec §5)."""
        kind = response.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            return
        content = await response.aread()
        await self._release()
        message = _error_message(content)
        raise StreamDecodeError(
            f"{self._provider.id} answered a streamed request with {kind or 'no content type'}"
            + (f": {message}" if message else "")
        )
