"""The command's SDK from the standard OTEL_* variables, and a real OTLP/HTTP round trip."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from modelwire import Client, ProviderInfo, ProviderRegistry, Request, WireApi, user
from modelwire.errors import ConfigError
from modelwire.mock import MockProvider
from modelwire.telemetry import install_from_env

HI = Request(model="mock-model", messages=(user("hello otlp"),))


def test_no_exporter_set_installs_nothing() -> None:
    installed = install_from_env({}, set_global=False)
    assert installed.exporters == ()
    assert installed.tracer_provider is None
    assert installed.meter_provider is None


def test_sdk_disabled_wins_over_exporters() -> None:
    env = {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}
    assert install_from_env(env, set_global=False).exporters == ()


def test_none_is_no_exporter() -> None:
    env = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    assert install_from_env(env, set_global=False).exporters == ()


def test_an_unknown_exporter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="zipkin"):
        install_from_env({"OTEL_TRACES_EXPORTER": "zipkin"}, set_global=False)


def test_grpc_is_refused_with_a_hint() -> None:
    env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(ConfigError, match="http/protobuf"):
        install_from_env(env, set_global=False)


def test_otlp_without_its_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError) as caught:
        install_from_env({"OTEL_TRACES_EXPORTER": "otlp"}, set_global=False)
    assert "modelwire[otlp]" in str(caught.value.hint)


@pytest.fixture
async def mock() -> Any:
    async with MockProvider() as provider:
        yield provider


def client_for(mock: MockProvider, installed: Any) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    return Client(
        registry,
        env={},
        tracer_provider=installed.tracer_provider,
        meter_provider=installed.meter_provider,
    )


async def test_console_exporters_write_spans_and_metrics_to_the_given_stream(
    mock: MockProvider, anyio_backend: str
) -> None:
    out = io.StringIO()
    env = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "modelwire-test",
    }
    installed = install_from_env(env, console=out, set_global=False)
    async with client_for(mock, installed) as client:
        await client.complete("loop", HI)
    installed.shutdown()
    text = out.getvalue()
    assert '"name": "chat mock-model"' in text
    assert "modelwire-test" in text
    assert "gen_ai.client.operation.duration" in text


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace endpoint: decodes each export with opentelemetry-proto."""

    requests: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            self.server.requests.append(request)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what arrived, not the access log."""


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


async def test_spans_arrive_at_an_otlp_http_receiver(
    mock: MockProvider, receiver: ThreadingHTTPServer, anyio_backend: str
) -> None:
    host, port = receiver.server_address[:2]
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{host!s}:{port}",
        "OTEL_SERVICE_NAME": "modelwire-otlp-test",
    }
    installed = install_from_env(env, set_global=False)
    async with client_for(mock, installed) as client:
        await client.complete("loop", HI)
    installed.shutdown()
    spans = {
        span.name: {kv.key: kv.value for kv in span.attributes}
        for request in receiver.requests  # type: ignore[attr-defined]
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }
    assert set(spans) == {"chat mock-model", "POST"}
    call = spans["chat mock-model"]
    assert call["gen_ai.operation.name"].string_value == "chat"
    assert call["gen_ai.usage.output_tokens"].int_value > 0
    services = {
        kv.value.string_value
        for request in receiver.requests  # type: ignore[attr-defined]
        for resource in request.resource_spans
        for kv in resource.resource.attributes
        if kv.key == "service.name"
    }
    assert services == {"modelwire-otlp-test"}
