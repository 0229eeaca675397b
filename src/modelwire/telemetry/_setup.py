"""An OpenTelemetry SDK for the ``modelwire`` command, configured by the standard variables.

The library never installs an SDK (the application owns that choice); the command is an
application, so it does, from ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` (``console``,
``otlp``, ``none``; unset means ``none`` here, so a plain run exports nothing) and
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``…_TRACES_ENDPOINT`` / ``…_METRICS_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_PROTOCOL`` (OTLP over HTTP/protobuf, the optional ``otlp`` extra). Console
output goes to stderr: stdout belongs to the command's own output (``--json``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from ..errors import ConfigError

__all__ = ["Installed", "install_from_env"]

_OTLP_EXTRA = "pip install 'modelwire[otlp]'"


class Installed:
    """What ``install_from_env`` set up; ``shutdown()`` flushes and stops it (idempotent)."""

    def __init__(
        self,
        shutdowns: list[Callable[[], Any]],
        exporters: tuple[str, ...],
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        self._shutdowns = shutdowns
        self.exporters = exporters
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider

    def shutdown(self) -> None:
        shutdowns, self._shutdowns = self._shutdowns, []
        for shutdown in shutdowns:
            shutdown()


def _choices(env: Mapping[str, str], variable: str) -> list[str]:
    raw = env.get(variable, "").strip().lower()
    chosen = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [c for c in chosen if c not in ("console", "otlp", "none")]
    if unknown:
        raise ConfigError(
            f"{variable}={raw!r}: {', '.join(unknown)} is not an exporter modelwire can install",
            hint="use console, otlp or none",
        )
    return [c for c in chosen if c != "none"]


def _resource(env: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, str] = {}
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = value.strip()
    service = env.get("OTEL_SERVICE_NAME", "").strip()
    attributes["service.name"] = service or attributes.get("service.name", "modelwire")
    return Resource.create(attributes)


def _otlp_endpoint(env: Mapping[str, str], signal: str) -> str:
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip() or "http/protobuf"
    if protocol != "http/protobuf":
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported by modelwire's command",
            hint="use http/protobuf",
        )
    specific = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if specific:
        return specific
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
    return f"{base.rstrip('/')}/v1/{signal}"


def _otlp_module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"opentelemetry.exporter.otlp.proto.http.{name}")
    except ImportError as exc:
        raise ConfigError(
            "OTLP export needs the OTLP/HTTP exporter, which is not installed",
            hint=_OTLP_EXTRA,
        ) from exc


def install_from_env(
    env: Mapping[str, str], *, console: TextIO | None = None, set_global: bool = True
) -> Installed:
    """Install a tracer and/or meter provider as the environment asks; nothing when it asks
    for none (or ``OTEL_SDK_DISABLED=true``). Raises ``ConfigError`` for an unknown exporter,
    an unsupported protocol, or OTLP without its extra. ``set_global=False`` builds the
    providers without making them the process's (OpenTelemetry allows setting those once)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Installed([], ())
    traces = _choices(env, "OTEL_TRACES_EXPORTER")
    metric_choices = _choices(env, "OTEL_METRICS_EXPORTER")
    if not traces and not metric_choices:
        return Installed([], ())
    stream = console if console is not None else sys.stderr
    resource = _resource(env)
    shutdowns: list[Callable[[], Any]] = []
    tracer_provider: Any = None
    meter_provider: Any = None
    if traces:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        tracer_provider = TracerProvider(resource=resource)
        for choice in traces:
            if choice == "console":
                exporter: Any = ConsoleSpanExporter(out=stream)
            else:
                module = _otlp_module("trace_exporter")
                exporter = module.OTLPSpanExporter(endpoint=_otlp_endpoint(env, "traces"))
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        if set_global:
            trace.set_tracer_provider(tracer_provider)
        shutdowns.append(tracer_provider.shutdown)
    if metric_choices:
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            PeriodicExportingMetricReader,
        )

        readers = []
        for choice in metric_choices:
            if choice == "console":
                metric_exporter: Any = ConsoleMetricExporter(out=stream)
            else:
                module = _otlp_module("metric_exporter")
                metric_exporter = module.OTLPMetricExporter(endpoint=_otlp_endpoint(env, "metrics"))
            readers.append(PeriodicExportingMetricReader(metric_exporter))
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        if set_global:
            metrics.set_meter_provider(meter_provider)
        shutdowns.append(meter_provider.shutdown)
    return Installed(shutdowns, (*traces, *metric_choices), tracer_provider, meter_provider)
