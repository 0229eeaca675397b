"""Spans and metrics for every provider call, attached at the transport's observer seam.

One ``CLIENT`` span per logical call, with one child span per HTTP attempt; the call span of a
stream stays open until the stream's lifecycle ends (the transport's end-once state machine
calls ``end`` exactly once, for every end reason). Everything a span or metric needs is read
off the ``Call`` at ``end``, so nothing runs per event: the streamed hot path pays for two
spans and a handful of metric records per call, not per chunk. ``time_per_output_chunk`` is
recorded once per stream, as the mean gap between delivered events after the first.

Only the OpenTelemetry API is used; the providers are the global ones unless given.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._version import __version__
from ..errors import ProviderError
from ..transport import Call, CallObserver, EndReason, SocketEvent
from ..wire import ResponseAccumulator
from . import _names as n
from ._content import Capture, input_messages, output_messages, system_instructions
from ._names import Names

__all__ = ["TelemetryObserver", "provider_name"]

_WELL_KNOWN = {
    "openai": "openai",
    "anthropic": "anthropic",
    "amazon-bedrock": "aws.bedrock",
    "amazon-bedrock-runtime": "aws.bedrock",
    "deepseek": "deepseek",
    "groq": "groq",
    "perplexity": "perplexity",
    "perplexity-agent": "perplexity",
    "xai": "x_ai",
    "mistral": "mistral_ai",
    "moonshotai": "moonshot_ai",
    "moonshotai-cn": "moonshot_ai",
    "google": "gcp.gemini",
    "google-vertex": "gcp.vertex_ai",
    "azure": "azure.ai.openai",
    "cohere": "cohere",
}
_AUTH_KINDS = {
    "env-key": "env_key",
    "bearer-token": "bearer",
    "command": "command",
    "aws-sigv4": "aws_sigv4",
    "openai": "openai_auth",
    "none": "none",
}


def provider_name(provider_id: str) -> str:
    """``gen_ai.provider.name``: the conventions' well-known value, else modelwire's id."""
    return _WELL_KNOWN.get(provider_id, provider_id)


class _State:
    """One call's spans and what its metrics share."""

    __slots__ = ("attempt", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.attempt: trace.Span | None = None


class TelemetryObserver(CallObserver):
    """The transport's observer that turns calls into spans and metrics."""

    def __init__(
        self,
        *,
        names: Names,
        capture: Capture,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        cost: bool = True,
    ) -> None:
        """``cost``: the call span's cost attributes and the cost counter (off: neither)."""
        self.names = names
        self.capture = capture
        self._tracer = trace.get_tracer("modelwire", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("modelwire", __version__, meter_provider=meter_provider)
        self._meter = meter
        seconds = list(n.DURATION_BUCKETS)
        tokens = list(n.TOKEN_BUCKETS)
        self._duration = meter.create_histogram(
            names.duration,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=seconds,
        )
        self._ttfc = meter.create_histogram(
            names.time_to_first_chunk,
            unit="s",
            description="Time to the first response chunk",
            explicit_bucket_boundaries_advisory=seconds,
        )
        self._tpoc = meter.create_histogram(
            names.time_per_output_chunk,
            unit="s",
            description="Mean time between output chunks after the first, one record per stream",
            explicit_bucket_boundaries_advisory=seconds,
        )
        self._token_usage = (
            meter.create_histogram(
                names.token_usage,
                unit="{token}",
                description="Tokens used",
                explicit_bucket_boundaries_advisory=tokens,
            )
            if names.token_usage
            else None
        )
        self._usage_counters = [
            (meter.create_counter(name, unit="{token}"), field)
            for name, field in names.usage_counters
        ]
        self._operation_tokens = [
            (
                meter.create_histogram(
                    name, unit="{token}", explicit_bucket_boundaries_advisory=tokens
                ),
                field,
            )
            for name, field in (
                (names.operation_input_tokens, "input_tokens"),
                (names.operation_output_tokens, "output_tokens"),
            )
            if name
        ]
        self._retries = meter.create_counter(
            n.RETRIES_COUNTER, unit="{retry}", description="Provider call attempts retried"
        )
        self._auth_runs = meter.create_counter(
            n.AUTH_RUNS_COUNTER, unit="{run}", description="Auth command runs"
        )
        self._sockets = meter.create_counter(
            n.SOCKETS_COUNTER,
            unit="{connection}",
            description="WebSocket outcomes: opened, reused, refused, fallback",
        )
        self._reconnects = meter.create_counter(
            n.RECONNECTS_COUNTER,
            unit="{reconnect}",
            description="WebSockets replaced during a call (stale, too old, closed by the server)",
        )
        self._cost = (
            meter.create_counter(n.COST_COUNTER, unit="USD", description="What calls cost")
            if cost
            else None
        )
        self._servers: dict[str, tuple[str, int | None]] = {}

    # --- where a call goes ----------------------------------------------------------------

    def _server(self, url: str) -> tuple[str, int | None]:
        """Host and port of ``url`` (cached: a client talks to a handful of base URLs)."""
        found = self._servers.get(url)
        if found is None:
            parts = urlsplit(url)
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
            found = (parts.hostname or "", port)
            if len(self._servers) < 256:
                self._servers[url] = found
        return found

    # --- the observer hooks ---------------------------------------------------------------

    def start(self, call: Call) -> None:
        host, port = self._server(call.url)
        model = call.model or ""
        attributes: dict[str, Any] = {
            n.OPERATION: call.operation,
            n.PROVIDER: provider_name(call.provider_id),
            n.SERVER_ADDRESS: host,
            n.PROVIDER_ID: call.provider_id,
            n.WIRE_API: call.wire_api,
            n.AUTH_KIND: _AUTH_KINDS.get(call.auth_kind, call.auth_kind),
        }
        if port is not None:
            attributes[n.SERVER_PORT] = port
        if model:
            attributes[n.REQUEST_MODEL] = model
        request = call.request
        if request is not None:
            if request.max_output_tokens is not None:
                attributes[n.REQUEST_MAX_TOKENS] = request.max_output_tokens
            if request.temperature is not None:
                attributes[n.REQUEST_TEMPERATURE] = request.temperature
            extra = request.extra_body
            if extra:
                _extra_parameters(extra, attributes)
        if call.operation == "chat":
            attributes[n.REQUEST_STREAM] = call.stream
        name = f"{call.operation} {model}" if model else call.operation
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        call.telemetry = _State(span)
        if request is not None and self.capture.any and span.is_recording():
            call.collector = ResponseAccumulator() if call.stream else None
            if self.capture.span:
                span.set_attribute(n.INPUT_MESSAGES, input_messages(request))
                instructions = system_instructions(request)
                if instructions is not None:
                    span.set_attribute(n.SYSTEM_INSTRUCTIONS, instructions)

    def attempt(self, call: Call, number: int, request: httpx.Request) -> None:
        state: _State | None = call.telemetry
        if state is None:
            return
        host, port = self._server(call.url)
        attributes: dict[str, Any] = {
            n.HTTP_METHOD: request.method,
            n.URL_FULL: call.url,
            n.SERVER_ADDRESS: host,
        }
        if port is not None:
            attributes[n.SERVER_PORT] = port
        if number > 1:
            attributes[n.HTTP_RESEND] = number - 1
        state.attempt = self._tracer.start_span(
            request.method,
            context=trace.set_span_in_context(state.span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    def attempt_response(self, call: Call, number: int, status: int) -> None:
        state: _State | None = call.telemetry
        if state is None or state.attempt is None:
            return
        attempt, state.attempt = state.attempt, None
        attempt.set_attribute(n.HTTP_STATUS, status)
        if status >= 400:
            attempt.set_attribute(n.ERROR_TYPE, str(status))
            attempt.set_status(Status(StatusCode.ERROR))
        attempt.end()

    def attempt_failed(self, call: Call, number: int, reason: str, *, retrying: bool) -> None:
        if retrying:
            self._retries.add(1, {n.PROVIDER: provider_name(call.provider_id)})
        state: _State | None = call.telemetry
        if state is None or state.attempt is None:
            return
        attempt, state.attempt = state.attempt, None
        attempt.set_attribute(n.ERROR_TYPE, reason)
        attempt.set_status(Status(StatusCode.ERROR, reason))
        attempt.end()

    def socket(self, call: Call, event: SocketEvent) -> None:
        provider = provider_name(call.provider_id)
        self._sockets.add(1, {n.PROVIDER: provider, n.SOCKET_OUTCOME: event.outcome})
        state: _State | None = call.telemetry
        if state is None or not state.span.is_recording():
            return
        attributes: dict[str, Any] = {n.SOCKET_OUTCOME: event.outcome}
        if event.outcome == "opened":
            attributes[n.SOCKET_SECONDS] = event.seconds
        if event.reason is not None:
            attributes[n.SOCKET_FALLBACK] = event.reason
        state.span.add_event(n.SOCKET_EVENT, attributes)

    def end(self, call: Call, reason: EndReason, error: BaseException | None) -> None:
        state: _State | None = call.telemetry
        if state is None:
            return
        call.telemetry = None
        now = time.perf_counter()
        span = state.span
        if state.attempt is not None:  # cancelled or abandoned while waiting for headers
            state.attempt.set_status(Status(StatusCode.ERROR, reason.value))
            state.attempt.set_attribute(n.ERROR_TYPE, n.OTHER_ERROR)
            state.attempt.end()
        error_type = _error_type(call, reason, error)
        host, port = self._server(call.url)
        metric_attributes: dict[str, Any] = {
            n.OPERATION: call.operation,
            n.PROVIDER: provider_name(call.provider_id),
            n.SERVER_ADDRESS: host,
        }
        if port is not None:
            metric_attributes[n.SERVER_PORT] = port
        if call.model:
            metric_attributes[n.REQUEST_MODEL] = call.model
        if call.response_model:
            metric_attributes[n.RESPONSE_MODEL] = call.response_model
        if error_type is not None:
            metric_attributes[n.ERROR_TYPE] = error_type
        first_chunk = (
            call.first_byte - call.started if call.stream and call.first_byte is not None else None
        )
        if span.is_recording():
            self._finish_span(span, call, reason, error, error_type, first_chunk)
        span.end()
        self._duration.record(now - call.started, metric_attributes)
        if first_chunk is not None:
            self._ttfc.record(first_chunk, metric_attributes)
            if call.chunks > 1 and call.first_byte is not None:
                self._tpoc.record((now - call.first_byte) / (call.chunks - 1), metric_attributes)
        self._record_usage(call, metric_attributes)
        if call.reconnects:
            self._reconnects.add(call.reconnects, {n.PROVIDER: provider_name(call.provider_id)})

    def _finish_span(
        self,
        span: trace.Span,
        call: Call,
        reason: EndReason,
        error: BaseException | None,
        error_type: str | None,
        first_chunk: float | None,
    ) -> None:
        attributes: dict[str, Any] = {}
        if call.response_id:
            attributes[n.RESPONSE_ID] = call.response_id
        if call.response_model:
            attributes[n.RESPONSE_MODEL] = call.response_model
        if call.finish_reason:
            attributes[n.RESPONSE_FINISH_REASONS] = [call.finish_reason]
        usage = call.usage
        if usage is not None:
            attributes[n.USAGE_INPUT] = usage.input_tokens
            attributes[n.USAGE_OUTPUT] = usage.output_tokens
            if usage.cached_input_tokens:
                attributes[n.USAGE_CACHE_READ] = usage.cached_input_tokens
            if usage.cache_write_input_tokens:
                attributes[self.names.usage_cache_write] = usage.cache_write_input_tokens
            if usage.reasoning_tokens:
                attributes[n.USAGE_REASONING] = usage.reasoning_tokens
            cost = usage.cost
            if cost is not None and self._cost is not None:
                attributes[n.COST_USD] = float(cost.total)
                attributes[n.COST_SOURCE] = cost.source
        retries = max(call.attempts - 1, 0)
        attributes[n.RETRY_COUNT] = retries
        if retries:
            attributes[n.HTTP_RESEND] = retries
        if first_chunk is not None:
            attributes[n.RESPONSE_TTFC] = first_chunk
        if call.stream:
            attributes[n.END_REASON] = reason.value
        attributes[n.TRANSPORT] = call.transport
        if call.fallback is not None:
            attributes[n.SOCKET_FALLBACK] = call.fallback
        if call.reconnects:
            attributes[n.SOCKET_RECONNECTS] = call.reconnects
        if error_type is not None:
            attributes[n.ERROR_TYPE] = error_type
            span.set_status(Status(StatusCode.ERROR, _status_message(reason, error, error_type)))
        span.set_attributes(attributes)
        if self.capture.any and call.response is not None:
            self._record_content(span, call)

    def _record_content(self, span: trace.Span, call: Call) -> None:
        assert call.response is not None
        output = output_messages(call.response)
        if self.capture.span:
            span.set_attribute(n.OUTPUT_MESSAGES, output)
        if self.capture.event:
            details: dict[str, Any] = {n.OUTPUT_MESSAGES: output}
            if call.request is not None:
                details[n.INPUT_MESSAGES] = input_messages(call.request)
                instructions = system_instructions(call.request)
                if instructions is not None:
                    details[n.SYSTEM_INSTRUCTIONS] = instructions
            span.add_event(
                self.names.content_event or "gen_ai.client.inference.operation.details", details
            )

    def _record_usage(self, call: Call, attributes: dict[str, Any]) -> None:
        usage = call.usage
        if self._cost is not None and usage is not None:
            cost = usage.cost
            if cost is not None:
                self._cost.add(float(cost.total), attributes)
        if self._token_usage is not None:
            if usage is not None:
                self._token_usage.record(usage.input_tokens, {**attributes, n.TOKEN_TYPE: "input"})
                self._token_usage.record(
                    usage.output_tokens, {**attributes, n.TOKEN_TYPE: "output"}
                )
            return
        if usage is None:
            unknown = {**attributes, n.TOKEN_MODALITY: "unknown"}
            for counter, _ in self._usage_counters:
                counter.add(0, unknown)
            return
        text = {**attributes, n.TOKEN_MODALITY: "text"}
        for counter, field in self._usage_counters:
            counter.add(getattr(usage, field), text)
        for histogram, field in self._operation_tokens:
            histogram.record(getattr(usage, field), attributes)

    # --- auth runs ------------------------------------------------------------------------

    def auth_run(self, span_name: str, provider_id: str, duration_s: float, outcome: str) -> None:
        """A command-token run or a sign-in refresh took ``duration_s`` and ended ``outcome``
        (``ok`` or an error kind); recorded after the fact as an internal span."""
        end_ns = time.time_ns()
        span = self._tracer.start_span(
            span_name,
            kind=SpanKind.INTERNAL,
            start_time=end_ns - int(duration_s * 1e9),
            attributes={n.PROVIDER_ID: provider_id, n.AUTH_OUTCOME: outcome},
        )
        if outcome not in _RENEWED:
            span.set_attribute(n.ERROR_TYPE, outcome)
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end(end_time=end_ns)
        if span_name == n.AUTH_COMMAND_SPAN:
            attributes: Mapping[str, str] = {n.PROVIDER_ID: provider_id, n.AUTH_OUTCOME: outcome}
            self._auth_runs.add(1, attributes)


_RENEWED = frozenset({"ok", "refreshed", "adopted"})
"""Renewal outcomes that are not failures (a command run, a fresh or adopted refresh)."""


def _extra_parameters(extra: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    """Request parameters a caller passed through ``extra_body`` that the conventions name."""
    top_p = extra.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        attributes[n.REQUEST_TOP_P] = float(top_p)
    stop = extra.get("stop", extra.get("stop_sequences"))
    if isinstance(stop, str):
        attributes[n.REQUEST_STOP] = [stop]
    elif isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        attributes[n.REQUEST_STOP] = stop


def _error_type(call: Call, reason: EndReason, error: BaseException | None) -> str | None:
    """``error.type`` for a call that ended ``reason``: None when it did not fail."""
    if reason is EndReason.ABANDONED:
        return n.OTHER_ERROR
    if reason is not EndReason.FAILED:
        return None
    if isinstance(error, ProviderError):
        return str(error.status)
    if error is not None:
        return type(error).__name__
    return call.error_code or n.OTHER_ERROR


def _status_message(reason: EndReason, error: BaseException | None, error_type: str) -> str:
    """A short status description: the kind of failure, never its text (which may quote
    content or a provider's message)."""
    if reason is EndReason.ABANDONED:
        return "the stream was garbage-collected without being closed"
    return error_type
