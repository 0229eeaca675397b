"""The facade users hold: pick a provider, send a ``Request``, get events or a ``Response``.

``Client`` joins the pieces — the registry says where a provider is and how it authenticates,
the wire codec shapes the body, the transport sends it — and caches per provider what can be
reused (credentials, the connection pool). It is an async context manager; closing it closes
every pool.
"""

from __future__ import annotations

import enum
import functools
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from ._request_args import request_from
from ._ws_transport import SocketHome, Sockets, Turn, WebSocketStream, usable
from .auth import Credentials, credentials_for
from .config import load_config
from .conversation import Conversation
from .errors import ConfigError, DeadlineExceeded
from .models import DEFAULT_LIST_TIMEOUT_S, ModelCache, ModelList
from .models import list_models as _list_models
from .pricing import PriceBook
from .registry import Provider, ProviderRegistry
from .telemetry import TelemetryObserver
from .transport import Call, CallObserver, EventStream, ObserverGroup, RetryPolicy, Transport
from .wire import Event, Request, Response, encode
from .wire.endpoints import models_path
from .wire.listing import ListedModel

__all__ = ["Client"]

_OPERATION = "chat"
_TRANSPORTS = ("auto", "http", "websocket")


class _Unset(enum.Enum):
    UNSET = "the client's default"


_UNSET = _Unset.UNSET


class Client:
    """Calls providers. Use one per application; it is safe to share across tasks."""

    def __init__(
        self,
        registry: ProviderRegistry | None = None,
        *,
        env: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        limits: httpx.Limits | None = None,
        policy: RetryPolicy | None = None,
        observer: CallObserver | None = None,
        telemetry: bool = True,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        semconv: str | None = None,
        capture_content: bool | str | None = None,
        deadline_s: float | None = None,
        first_event_timeout_s: float | None = None,
        max_event_bytes: int | None = None,
        websockets: bool = True,
        prices: bool | PriceBook = True,
        cost_telemetry: bool = True,
    ) -> None:
        """``websockets``: stream Responses over a WebSocket for providers that support one
        (``supports_websockets``; never ``aws`` ones), falling back to HTTP + SSE for good
        when a provider's socket cannot be had; ``False`` keeps every call on HTTP. Each
        call's ``transport=`` (``auto``/``http``/``websocket``) overrides it.

        ``telemetry``: spans and metrics on every call through the OpenTelemetry API (the
        global providers unless ``tracer_provider`` / ``meter_provider`` are given; without an
        SDK installed this costs the API's no-op). ``semconv="genai-latest"`` picks the GenAI
        conventions' generation-2 names (default: ``OTEL_SEMCONV_STABILITY_OPT_IN``).
        ``capture_content`` records prompts and replies (default: off, or the conventions'
        ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``).

        ``deadline_s`` and ``first_event_timeout_s`` are every call's defaults for the
        per-call arguments of the same names (``None``: unbounded, except by each provider's
        ``stream_idle_timeout_ms``). ``max_event_bytes`` caps one SSE line or event's data in
        every stream, over each provider's ``stream_max_event_bytes``.

        ``prices``: price every reply whose model has a known price (``pricing``: the user's
        ``[model_providers.<id>.prices]``, then the provider catalog, then the compatibility
        catalog), so ``Response.cost`` and the ``Usage`` event carry its cost; ``False``
        leaves every cost unknown; a ``PriceBook`` of your own replaces the default one.
        ``cost_telemetry``: each call span's ``modelwire.cost.usd`` / ``modelwire.cost.source``
        and the ``modelwire.client.cost`` counter (USD, the token metrics' attributes)."""
        self.deadline_s = _seconds("deadline_s", deadline_s)
        self.first_event_timeout_s = _seconds("first_event_timeout_s", first_event_timeout_s)
        self.max_event_bytes = _event_bytes(max_event_bytes)
        self._heads: _HeadWatch | None = None
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.registry = (
            registry if registry is not None else ProviderRegistry.from_config(env=self.env)
        )
        self.transport = transport or Transport(
            limits=limits, policy=policy, observer=observer, env=self.env
        )
        self.telemetry: TelemetryObserver | None = None
        if telemetry:
            from .telemetry import capture_for, names_for

            self.telemetry = TelemetryObserver(
                names=names_for(semconv, self.env),
                capture=capture_for(capture_content, self.env),
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                cost=cost_telemetry,
            )
            current = self.transport.observer
            self.transport.observer = (
                self.telemetry
                if type(current) is CallObserver
                else ObserverGroup(self.telemetry, current)
            )
        if prices is True:
            self.transport.prices = PriceBook.bundled(self.registry.prices)
        elif isinstance(prices, PriceBook):
            self.transport.prices = prices
        self.websockets = websockets
        self.sockets = Sockets()
        """The WebSocket state: open sockets, and the providers fallen back to HTTP."""
        self._credentials: dict[str, Credentials] = {}
        self.model_cache = ModelCache()
        """``list_models``' per-provider cache (in memory; replace it for a file-backed one)."""

    @classmethod
    def from_config(
        cls, path: Path | None = None, *, env: Mapping[str, str] | None = None, **options: Any
    ) -> Client:
        """A client over the built-ins, the bundled catalog and the user's ``config.toml``."""
        env = os.environ if env is None else env
        registry = ProviderRegistry.from_config(load_config(path, env=env), env=env)
        return cls(registry, env=env, **options)

    def __repr__(self) -> str:
        return f"Client({len(self._credentials)} provider(s) in use)"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection pool and socket this client opened."""
        try:
            await self.sockets.aclose()
        finally:
            await self.transport.aclose()

    def provider(self, provider_id: str) -> Provider:
        return self.registry.get(provider_id).usable()

    def credentials(self, provider: Provider) -> Credentials:
        """The provider's credentials, resolved once and reused."""
        credentials = self._credentials.get(provider.id)
        if credentials is None:
            credentials = self._credentials[provider.id] = credentials_for(provider, self.env)
            name = credentials.renewal_name
            if name is not None and self.telemetry is not None:
                credentials.observe_renewals(
                    functools.partial(self.telemetry.auth_run, name, provider.id)
                )
        return credentials

    def _prepare(
        self, provider_id: str, request: Request | None, fields: dict[str, Any], *, stream: bool
    ) -> tuple[Provider, Credentials, Call, str, bytes]:
        request = _request(request, fields, stream=stream)
        provider = self.provider(provider_id)
        credentials = self.credentials(provider)
        wire_api = provider.info.wire_api.value
        path, body = encode(wire_api, request, base_url=credentials.base_url(provider))
        return provider, credentials, self._call(provider, credentials, path, request), path, body

    def _call(
        self, provider: Provider, credentials: Credentials, path: str, request: Request
    ) -> Call:
        wire_api = provider.info.wire_api.value
        return Call(
            provider_id=provider.id,
            wire_api=wire_api,
            operation=_OPERATION,
            url=self.transport.shown_url(provider, path, credentials),
            model=request.model,
            stream=request.stream,
            request=request,
            auth_kind=credentials.kind.value,
        )

    def uses_socket(self, provider: Provider, transport: str = "auto") -> bool:
        """Whether a streamed call to ``provider`` with ``transport`` goes over a socket."""
        if transport not in _TRANSPORTS:
            raise ValueError(
                f"transport must be one of {', '.join(_TRANSPORTS)}, not {transport!r}"
            )
        if transport == "http":
            return False
        if transport == "websocket":
            if not usable(provider):
                raise ConfigError(
                    f"{provider.id} does not stream over a WebSocket (it needs "
                    "supports_websockets, the responses wire API and no aws table)",
                    key_path=f"model_providers.{provider.id}.supports_websockets",
                )
            return True
        return self.websockets and self.sockets.allowed(provider)

    def _streamed(
        self,
        provider_id: str,
        request: Request | None,
        fields: dict[str, Any],
        *,
        raw: bool,
        transport: str,
        deadline_s: float | None,
        first_event_timeout_s: float | None,
        turn: Turn | None = None,
        home: SocketHome | None = None,
    ) -> EventStream[Any]:
        """A streamed call over the transport it takes (see ``uses_socket``)."""
        provider = self.provider(provider_id)
        if turn is None and self.uses_socket(provider, transport):
            turn = Turn(_request(request, fields, stream=True))
        if turn is not None and self.uses_socket(provider, transport):
            credentials = self.credentials(provider)
            call = self._call(provider, credentials, "responses", turn.request)
            return WebSocketStream(
                self.transport,
                call,
                provider,
                credentials,
                "responses",
                turn,
                self.sockets,
                home if home is not None else self.sockets.home(provider.id),
                raw=raw,
                deadline_s=deadline_s,
                first_event_timeout_s=first_event_timeout_s,
                max_event_bytes=self.max_event_bytes,
                strict=transport == "websocket",
            )
        if turn is not None:
            request, fields = turn.request, {}
        provider_, credentials, call, path, body = self._prepare(
            provider_id, request, fields, stream=True
        )
        return self.transport.stream(
            call,
            provider_,
            credentials,
            path,
            body,
            raw=raw,
            deadline_s=deadline_s,
            first_event_timeout_s=first_event_timeout_s,
            max_event_bytes=self.max_event_bytes,
        )

    def conversation(
        self,
        provider: str,
        *,
        model: str,
        instructions: str | None = None,
        transport: str = "auto",
        **defaults: Any,
    ) -> Conversation:
        """A multi-turn exchange with one provider and model (see ``Conversation``).

        ``defaults`` are ``Request`` fields every turn carries (``tools``,
        ``max_output_tokens``…); ``transport`` is every turn's, as in ``stream``."""
        # An unknown provider, or a transport it cannot take, is an error here, not at turn 1.
        self.uses_socket(self.provider(provider), transport)
        return Conversation(
            self, provider, model=model, instructions=instructions, transport=transport, **defaults
        )

    def stream(
        self,
        provider: str,
        request: Request | None = None,
        /,
        *,
        deadline_s: float | _Unset | None = _UNSET,
        first_event_timeout_s: float | _Unset | None = _UNSET,
        transport: str = "auto",
        **fields: Any,
    ) -> EventStream[Event]:
        """Stream a reply as common events; pass a ``Request`` or its fields as keywords.

        Nothing is sent until iteration starts. ``async for`` the result; close it (or use
        ``async with``) if you stop before the terminal event.

        ``deadline_s`` bounds the whole call (every attempt and backoff, and reading the reply
        up to its terminal event), ``first_event_timeout_s`` the time until the first content
        event, across retries; both count from the start of iteration, default to the
        client's, and ``None`` lifts them. Passing either before a content event arrived
        raises ``DeadlineExceeded``; the deadline passing later ends the stream with an
        ``ErrorEvent`` coded ``deadline_exceeded``, after every event that arrived.
        """
        return self._streamed(
            provider,
            request,
            fields,
            raw=False,
            transport=transport,
            deadline_s=self._bound("deadline_s", deadline_s, self.deadline_s),
            first_event_timeout_s=self._bound(
                "first_event_timeout_s", first_event_timeout_s, self.first_event_timeout_s
            ),
        )

    def stream_raw(
        self,
        provider: str,
        request: Request | None = None,
        /,
        *,
        deadline_s: float | _Unset | None = _UNSET,
        first_event_timeout_s: float | _Unset | None = _UNSET,
        transport: str = "auto",
        **fields: Any,
    ) -> EventStream[object]:
        """Like ``stream``, but yields the provider's own typed events (``chat.ChatChunk``…);
        the deadline passing after events arrived raises ``DeadlineExceeded``."""
        return self._streamed(
            provider,
            request,
            fields,
            raw=True,
            transport=transport,
            deadline_s=self._bound("deadline_s", deadline_s, self.deadline_s),
            first_event_timeout_s=self._bound(
                "first_event_timeout_s", first_event_timeout_s, self.first_event_timeout_s
            ),
        )

    async def complete(
        self,
        provider: str,
        request: Request | None = None,
        /,
        *,
        deadline_s: float | _Unset | None = _UNSET,
        first_event_timeout_s: float | _Unset | None = _UNSET,
        **fields: Any,
    ) -> Response:
        """A whole reply, non-streamed, aggregated into a ``Response``.

        ``deadline_s`` bounds the whole call, body included; ``first_event_timeout_s`` bounds
        the time until a successful response's head arrives (a non-streamed reply's first
        sign of life: providers send it when the reply is ready), across retries. Both raise
        ``DeadlineExceeded`` and default to the client's; ``None`` lifts them.
        """
        limit_s = self._bound("deadline_s", deadline_s, self.deadline_s)
        head_s = self._bound(
            "first_event_timeout_s", first_event_timeout_s, self.first_event_timeout_s
        )
        provider_, credentials, call, path, body = self._prepare(
            provider, request, fields, stream=False
        )
        transport = self.transport
        if limit_s is None and head_s is None:
            return await transport.complete(call, provider_, credentials, path, body)
        call.deadline_s = limit_s
        now = anyio.current_time()
        deadline = None if limit_s is None else now + limit_s
        if head_s is None or (limit_s is not None and limit_s <= head_s):
            return await transport.complete(
                call, provider_, credentials, path, body, deadline=deadline
            )
        heads = self._head_watch()
        scope = anyio.CancelScope(deadline=now + head_s)
        heads.arm(call, scope, deadline)
        try:
            with scope:
                return await transport.complete(
                    call, provider_, credentials, path, body, deadline=deadline
                )
        finally:
            heads.disarm(call)
        raise DeadlineExceeded(
            f"{provider_.id}: no response head within the first_event_timeout_s of "
            f"{head_s:g} s, {call.attempts} attempt(s)",
            provider_id=provider_.id,
            attempts=call.attempts,
            limit_s=head_s,
        )

    @staticmethod
    def _bound(name: str, value: float | _Unset | None, default: float | None) -> float | None:
        return default if value is _UNSET else _seconds(name, value)

    def _head_watch(self) -> _HeadWatch:
        """The observer that lifts a ``complete``'s head bound when its head arrives, put in
        front of the transport's observers on first use (calls without one never meet it)."""
        if self._heads is None:
            self._heads = _HeadWatch()
            self.transport.observer = ObserverGroup(self._heads, self.transport.observer)
        return self._heads

    async def endpoint_models(self, provider: str) -> list[ListedModel]:
        """The models the provider's own listing endpoint names (``GET …/models``, every page),
        with the provider's auth; raises like any call when the endpoint cannot be asked."""
        provider_ = self.provider(provider)
        credentials = self.credentials(provider_)
        wire_api = provider_.info.wire_api.value
        path = models_path(wire_api, credentials.base_url(provider_))
        call = Call(
            provider_id=provider_.id,
            wire_api=wire_api,
            operation="list_models",
            url=self.transport.shown_url(provider_, path, credentials),
            model=None,
            stream=False,
            auth_kind=credentials.kind.value,
        )
        return await self.transport.list_models(call, provider_, credentials, path)

    async def list_models(
        self, provider: str, *, refresh: bool = False, timeout_s: float = DEFAULT_LIST_TIMEOUT_S
    ) -> ModelList:
        """The provider's models: its endpoint's list (cached per ``model_cache``'s TTL;
        ``refresh`` asks again), described by the bundled catalogs, or seeded from them when
        the endpoint cannot be asked within ``timeout_s``. Never raises for an endpoint that
        cannot be asked — the list's ``warning`` says why; an unknown id raises."""
        return await _list_models(
            self,
            provider,
            cache=self.model_cache,
            refresh=refresh,
            timeout_s=timeout_s,
            prices=self.transport.prices,
        )


def _request(request: Request | None, fields: dict[str, Any], *, stream: bool) -> Request:
    """The request to send: the given one, or one built from keyword fields; either way
    checked before anything is encoded (a wrong type or an empty ``messages`` is one line
    here, not an ``AttributeError`` in a codec or a provider's 400)."""
    return request_from(request, fields, stream=stream)


class _HeadWatch(CallObserver):
    """Lifts a ``complete``'s first-event bound once a successful response head arrives: from
    then on only the call's deadline (or nothing) bounds it."""

    def __init__(self) -> None:
        self._armed: dict[int, tuple[anyio.CancelScope, float | None]] = {}

    def arm(self, call: Call, scope: anyio.CancelScope, deadline: float | None) -> None:
        self._armed[id(call)] = (scope, deadline)

    def disarm(self, call: Call) -> None:
        self._armed.pop(id(call), None)

    def attempt_response(self, call: Call, number: int, status: int) -> None:
        armed = self._armed.get(id(call))
        if armed is not None and status < 400:
            scope, deadline = armed
            scope.deadline = math.inf if deadline is None else deadline


def _seconds(name: str, value: object) -> float | None:
    """A bound in seconds, checked where it is given: positive, ``None`` or infinite for none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or None, not {value!r}")
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds, not {value!r}")
    return None if math.isinf(value) else float(value)


def _event_bytes(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_event_bytes must be an int (bytes) or None, not {value!r}")
    if value < 1:
        raise ValueError(f"max_event_bytes must be at least 1 byte, not {value}")
    return value
