"""Spans and metrics for provider calls, read back from the SDK's in-memory exporter and reader."""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from modelwire import Client, ProviderInfo, ProviderRegistry, Request, WireApi, user
from modelwire.config import validate_config
from modelwire.errors import AuthCommandError, ProviderError
from modelwire.mock import MockBehavior, MockProvider
from modelwire.providers import ProviderAuthInfo
from modelwire.transport import RetryPolicy, Transport
from otel_capture import Otel

WIRE_APIS = [WireApi.RESPONSES, WireApi.CHAT, WireApi.MESSAGES]
HI = Request(model="mock-model", messages=(user("hello telemetry"),), temperature=0.5)


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


async def no_sleep(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def make_client(
    mock: MockProvider, otel: Otel, *, wire_api: WireApi = WireApi.CHAT, **options: Any
) -> Client:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    base = mock.base_url if wire_api is WireApi.MESSAGES else mock.url("/v1")
    registry.register("loop", ProviderInfo(name="Loopback", base_url=base, wire_api=wire_api))
    transport = Transport(env={}, sleep=no_sleep, rand=lambda low, high: 0.0, policy=RetryPolicy())
    return Client(
        registry,
        env={},
        transport=transport,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        **options,
    )


async def stream_all(client: Client, request: Request = HI) -> list[Any]:
    async with client.stream("loop", request) as stream:
        return [event async for event in stream]


@pytest.mark.parametrize("wire_api", WIRE_APIS)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
async def test_a_call_is_one_client_span_with_the_conventions_attributes(
    mock: MockProvider, otel: Otel, wire_api: WireApi, stream: bool, anyio_backend: str
) -> None:
    async with make_client(mock, otel, wire_api=wire_api) as client:
        if stream:
            await stream_all(client)
        else:
            await client.complete("loop", HI)
    span = otel.call_span()
    attributes = dict(span.attributes or {})
    assert span.name == "chat mock-model"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "loop"
    assert attributes["gen_ai.request.model"] == "mock-model"
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.request.stream"] is stream
    assert attributes["gen_ai.response.id"]
    assert attributes["gen_ai.response.model"] == "mock-model"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == mock.port
    assert attributes["modelwire.provider.id"] == "loop"
    assert attributes["modelwire.wire_api"] == wire_api.value
    assert attributes["modelwire.auth.kind"] == "none"
    assert attributes["modelwire.retry.count"] == 0
    assert ("gen_ai.response.time_to_first_chunk" in attributes) is stream
    if stream:
        assert attributes["modelwire.stream.end_reason"] == "completed"
    assert "gen_ai.input.messages" not in attributes
    (attempt,) = otel.spans("POST")
    assert attempt.parent is not None
    assert attempt.parent.span_id == span.context.span_id
    assert attempt.attributes is not None
    assert attempt.attributes["http.response.status_code"] == 200
    assert str(attempt.attributes["url.full"]).startswith(f"http://127.0.0.1:{mock.port}/")
    metrics = otel.metrics()
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert duration.count == 1
    assert duration.attributes["gen_ai.response.model"] == "mock-model"
    assert "error.type" not in duration.attributes
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"]}
    assert usage == {
        "input": attributes["gen_ai.usage.input_tokens"],
        "output": attributes["gen_ai.usage.output_tokens"],
    }
    assert ("gen_ai.client.operation.time_to_first_chunk" in metrics) is stream


async def test_a_retried_call_shows_each_attempt_under_one_span(
    mock: MockProvider, otel: Otel, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(status=503))
    async with make_client(mock, otel) as client:
        await client.complete("loop", HI)
    span = otel.call_span()
    assert span.attributes is not None
    assert span.attributes["modelwire.retry.count"] == 1
    assert span.attributes["http.request.resend_count"] == 1
    first, second = sorted(otel.spans("POST"), key=lambda s: s.start_time or 0)
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["http.response.status_code"] == 200
    assert all(s.parent and s.parent.span_id == span.context.span_id for s in (first, second))
    (retries,) = otel.metrics()["modelwire.client.retries"]
    assert retries.value == 1


async def test_a_failed_call_carries_error_type_on_span_and_metric(
    mock: MockProvider, otel: Otel, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(status=400, error_message="bad request, secret prompt inside"))
    async with make_client(mock, otel) as client:
        with pytest.raises(ProviderError):
            await client.complete("loop", HI)
    span = otel.call_span()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "400"
    assert span.status.status_code is StatusCode.ERROR
    assert "secret prompt" not in (span.status.description or "")
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "400"


async def end_completed(client: Client) -> None:
    await stream_all(client)


async def end_failed(client: Client) -> None:
    await stream_all(client)  # the mock resets the connection after a few events


async def end_closed_early(client: Client) -> None:
    async with client.stream("loop", HI) as stream:
        async for _ in stream:
            break


async def end_cancelled(client: Client) -> None:
    # The mock stalls after a few events; the task is cancelled while the stream waits.
    stream = client.stream("loop", HI)
    with anyio.move_on_after(0.3):
        async for _ in stream:
            pass


async def end_abandoned(client: Client) -> None:
    stream = client.stream("loop", HI)
    await stream.__anext__()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del stream
        for _ in range(3):
            gc.collect()
            await anyio.sleep(0.01)


@pytest.mark.parametrize(
    ("ending", "reason", "status", "error_type"),
    [
        (end_completed, "completed", StatusCode.UNSET, None),
        (end_failed, "failed", StatusCode.ERROR, "StreamError"),
        (end_closed_early, "closed_early", StatusCode.UNSET, None),
        (end_cancelled, "cancelled", StatusCode.UNSET, None),
        (end_abandoned, "abandoned", StatusCode.ERROR, "_OTHER"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_each_stream_end_reason_ends_the_span_once_with_its_status(
    mock: MockProvider,
    otel: Otel,
    ending: Any,
    reason: str,
    status: StatusCode,
    error_type: str | None,
    anyio_backend: str,
) -> None:
    if reason == "failed":
        mock.enqueue(MockBehavior(reset_after=4, output_tokens=20))
    if reason == "cancelled":
        mock.enqueue(MockBehavior(output_tokens=5, stall_after=3))
    async with make_client(mock, otel) as client:
        await ending(client)
    span = otel.call_span()
    assert span.attributes is not None
    assert span.attributes["modelwire.stream.end_reason"] == reason
    assert span.status.status_code is status
    assert span.attributes.get("error.type") == error_type


async def test_generation_2_names_when_opted_in(
    mock: MockProvider, otel: Otel, anyio_backend: str
) -> None:
    async with make_client(mock, otel, semconv="genai-latest") as client:
        await stream_all(client)
    metrics = otel.metrics()
    assert "gen_ai.client.inference.duration" in metrics
    assert "gen_ai.client.operation.duration" not in metrics
    assert "gen_ai.client.token.usage" not in metrics
    (inputs,) = metrics["gen_ai.client.inference.usage.input_tokens"]
    assert inputs.attributes["gen_ai.token.modality"] == "text"
    assert inputs.value == otel.call_span().attributes["gen_ai.usage.input_tokens"]  # type: ignore[index]
    assert "gen_ai.client.inference.operation.output_tokens" in metrics
    assert "gen_ai.client.inference.time_to_first_chunk" in metrics


async def test_generation_2_from_the_environment(
    mock: MockProvider, otel: Otel, anyio_backend: str
) -> None:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    env = {"OTEL_SEMCONV_STABILITY_OPT_IN": "http, gen_ai_latest_experimental"}
    async with Client(
        registry, env=env, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    ) as client:
        await client.complete("loop", HI)
    assert "gen_ai.client.inference.duration" in otel.metrics()


async def test_content_is_not_recorded_unless_asked(
    mock: MockProvider, otel: Otel, anyio_backend: str
) -> None:
    async with make_client(mock, otel) as client:
        await stream_all(client)
    span = otel.call_span()
    assert span.attributes is not None
    assert not [key for key in span.attributes if "messages" in key]
    assert not span.events


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
async def test_capture_content_puts_the_conversation_on_the_span(
    mock: MockProvider, otel: Otel, stream: bool, anyio_backend: str
) -> None:
    request = Request(
        model="mock-model", instructions="be brief", messages=(user("hello telemetry"),)
    )
    async with make_client(mock, otel, capture_content=True) as client:
        if stream:
            await stream_all(client, request)
        else:
            await client.complete("loop", request)
    attributes = otel.call_span().attributes or {}
    assert '"content":"hello telemetry"' in str(attributes["gen_ai.input.messages"])
    assert str(attributes["gen_ai.system_instructions"]) == (
        '[{"type":"text","content":"be brief"}]'
    )
    output = str(attributes["gen_ai.output.messages"])
    assert '"role":"assistant"' in output
    assert "hello telemetry" in output
    assert '"finish_reason":"stop"' in output


async def test_event_only_capture_records_the_details_event_and_no_span_attributes(
    mock: MockProvider, otel: Otel, anyio_backend: str
) -> None:
    async with make_client(
        mock, otel, semconv="genai-latest", capture_content="EVENT_ONLY"
    ) as client:
        await stream_all(client)
    span = otel.call_span()
    assert "gen_ai.input.messages" not in (span.attributes or {})
    (event,) = span.events
    assert event.name == "gen_ai.client.inference.operation.details"
    assert "hello telemetry" in str((event.attributes or {})["gen_ai.input.messages"])


async def test_a_model_listing_is_a_list_models_span(
    mock: MockProvider, otel: Otel, anyio_backend: str
) -> None:
    async with make_client(mock, otel) as client:
        listed = await client.endpoint_models("loop")
    assert listed
    (span,) = otel.spans("list_models")
    attributes = span.attributes or {}
    assert span.kind is SpanKind.CLIENT
    assert attributes["gen_ai.operation.name"] == "list_models"
    assert "gen_ai.request.model" not in attributes
    assert "gen_ai.request.stream" not in attributes
    (attempt,) = otel.spans("GET")
    assert attempt.parent is not None
    assert attempt.parent.span_id == span.context.span_id
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["gen_ai.operation.name"] == "list_models"


async def test_an_auth_command_run_is_its_own_span_and_counted(
    mock: MockProvider, otel: Otel, tmp_path: Any, anyio_backend: str
) -> None:
    script = tmp_path / "token.py"
    script.write_text("print('command-token-7781')\n")
    mock.state.require_bearer = "command-token-7781"
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    auth = ProviderAuthInfo(command=sys.executable, args=[str(script)])
    registry.register(
        "cmd", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT, auth=auth)
    )
    async with Client(
        registry, env={}, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    ) as client:
        await client.complete("cmd", HI)
        await client.complete("cmd", HI)
    (run,) = otel.spans("modelwire.auth.command")
    assert run.kind is SpanKind.INTERNAL
    assert (run.attributes or {})["modelwire.auth.outcome"] == "ok"
    assert run.status.status_code is StatusCode.UNSET
    assert run.end_time is not None
    assert run.start_time is not None
    assert run.end_time > run.start_time
    (runs,) = otel.metrics()["modelwire.auth.command.runs"]
    assert runs.value == 1
    assert all(
        (s.attributes or {}).get("modelwire.auth.kind") == "command"
        for s in otel.spans("chat mock-model")
    )


async def test_a_failing_auth_command_span_carries_its_outcome(
    mock: MockProvider, otel: Otel, tmp_path: Any, anyio_backend: str
) -> None:
    script = tmp_path / "fail.py"
    script.write_text("import sys\nsys.exit(3)\n")
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    auth = ProviderAuthInfo(command=sys.executable, args=[str(script)])
    registry.register(
        "cmd", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT, auth=auth)
    )
    async with Client(
        registry, env={}, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    ) as client:
        with pytest.raises(AuthCommandError):
            await client.complete("cmd", HI)
    (run,) = otel.spans("modelwire.auth.command")
    assert run.status.status_code is StatusCode.ERROR
    assert (run.attributes or {})["error.type"] == "exit_status"
    assert otel.call_span().attributes["error.type"] == "AuthCommandError"  # type: ignore[index]


def test_a_sign_in_refresh_is_reported_as_its_own_span(otel: Otel, tmp_path: Any) -> None:
    tokens = {"id_token": "i", "access_token": "a", "refresh_token": "r", "account_id": "acct"}
    (tmp_path / "auth.json").write_bytes(
        orjson.dumps({"tokens": tokens, "last_refresh": "2026-11-30T00:00:00Z"})
    )
    env = {"MODELWIRE_AUTH_HOME": str(tmp_path)}
    client = Client(
        ProviderRegistry.from_config(env=env, catalog=None),
        env=env,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
    )
    credentials = client.credentials(client.provider("openai"))
    assert credentials.renewal_name == "modelwire.auth.refresh"
    credentials.on_refresh(0.25, "refreshed")  # type: ignore[attr-defined]
    credentials.on_refresh(0.5, "rejected")  # type: ignore[attr-defined]
    spans = otel.spans("modelwire.auth.refresh")
    by_outcome = {(s.attributes or {})["modelwire.auth.outcome"]: s for s in spans}
    ok, rejected = by_outcome["refreshed"], by_outcome["rejected"]
    assert ok.status.status_code is StatusCode.UNSET
    assert (ok.attributes or {})["modelwire.provider.id"] == "openai"
    assert rejected.status.status_code is StatusCode.ERROR
    assert (rejected.attributes or {})["error.type"] == "rejected"
    assert (ok.end_time or 0) - (ok.start_time or 0) == pytest.approx(0.25e9, rel=0.01)
    assert "modelwire.auth.command.runs" not in otel.metrics()


@pytest.mark.parametrize("provider_id", ["amazon-bedrock", "amazon-bedrock-runtime"])
async def test_both_bedrock_built_ins_are_named_aws_bedrock_in_spans(
    otel: Otel, provider_id: str, anyio_backend: str
) -> None:
    bearer = "bedrock-api-key-telemetry"
    env = {"AWS_BEARER_TOKEN_BEDROCK": bearer}
    async with MockProvider(require_bearer=bearer) as mock:
        config = validate_config(
            {"model_providers": {provider_id: {"base_url": mock.url("/openai/v1")}}}
        )
        registry = ProviderRegistry.from_config(config, env=env, catalog=None)
        client = Client(
            registry,
            env=env,
            tracer_provider=otel.tracer_provider,
            meter_provider=otel.meter_provider,
        )
        async with client:
            with anyio.fail_after(20):
                assert (await client.complete(provider_id, HI)).ok
    attributes = dict(otel.call_span().attributes or {})
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert bearer not in orjson.dumps(attributes).decode()
