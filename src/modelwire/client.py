"""The facade users hold: pick a provider, send a ``Request``, get events or a ``Response``.

``Client`` joins the pieces — the registry says where a provider is and how it authenticates,
the wire codec shapes the body, the transport sends it — and caches per provider what can be
reused (credentials, the connection pool). It is an async context manager; closing it closes
every pool.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import msgspec

from .auth import Credentials, credentials_for
from .config import load_config
from .models import DEFAULT_LIST_TIMEOUT_S, ModelCache, ModelList
from .models import list_models as _list_models
from .registry import Provider, ProviderRegistry
from .telemetry import TelemetryObserver
from .transport import Call, CallObserver, EventStream, ObserverGroup, RetryPolicy, Transport
from .wire import Event, Request, Response, encode
from .wire.endpoints import models_path
from .wire.listing import ListedModel

__all__ = ["Client"]

_OPERATION = "chat"


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
    ) -> None:
        """``telemetry``: spans and metrics on every call through the OpenTelemetry API (the
        global providers unless ``tracer_provider`` / ``meter_provider`` are given; without an
        SDK installed this costs the API's no-op). ``semconv="genai-latest"`` picks the GenAI
        conventions' generation-2 names (default: ``OTEL_SEMCONV_STABILITY_OPT_IN``).
        ``capture_content`` records prompts and replies (default: off, or the conventions'
        ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``)."""
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
            )
            current = self.transport.observer
            self.transport.observer = (
                self.telemetry
                if type(current) is CallObserver
                else ObserverGroup(self.telemetry, current)
            )
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
        """Close every connection pool this client opened."""
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
        call = Call(
            provider_id=provider.id,
            wire_api=wire_api,
            operation=_OPERATION,
            url=self.transport.shown_url(provider, path, credentials),
            model=request.model,
            stream=stream,
            request=request,
            auth_kind=credentials.kind.value,
        )
        return provider, credentials, call, path, body

    def stream(
        self, provider: str, request: Request | None = None, /, **fields: Any
    ) -> EventStream[Event]:
        """Stream a reply as common events; pass a ``Request`` or its fields as keywords.

        Nothing is sent until iteration starts. ``async for`` the result; close it (or use
        ``async with``) if you stop before the terminal event.
        """
        provider_, credentials, call, path, body = self._prepare(
            provider, request, fields, stream=True
        )
        return self.transport.stream(call, provider_, credentials, path, body)

    def stream_raw(
        self, provider: str, request: Request | None = None, /, **fields: Any
    ) -> EventStream[object]:
        """Like ``stream``, but yields the provider's own typed events (``chat.ChatChunk``…)."""
        provider_, credentials, call, path, body = self._prepare(
            provider, request, fields, stream=True
        )
        return self.transport.stream(call, provider_, credentials, path, body, raw=True)

    async def complete(
        self, provider: str, request: Request | None = None, /, **fields: Any
    ) -> Response:
        """A whole reply, non-streamed, aggregated into a ``Response``."""
        provider_, credentials, call, path, body = self._prepare(
            provider, request, fields, stream=False
        )
        return await self.transport.complete(call, provider_, credentials, path, body)

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
            self, provider, cache=self.model_cache, refresh=refresh, timeout_s=timeout_s
        )


def _request(request: Request | None, fields: dict[str, Any], *, stream: bool) -> Request:
    """The request to send: the given one, or one built from keyword fields."""
    if request is not None:
        if fields:
            raise TypeError("pass either a Request or its fields as keywords, not both")
        return request if request.stream == stream else _with_stream(request, stream)
    if "input" in fields:
        fields["messages"] = fields.pop("input")
    for name in ("messages", "tools"):
        if name in fields:
            fields[name] = tuple(fields[name])
    fields["stream"] = stream
    return Request(**fields)


def _with_stream(request: Request, stream: bool) -> Request:
    return msgspec.structs.replace(request, stream=stream)
