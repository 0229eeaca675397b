"""The mock provider over real loopback HTTP: every wire API, every knob, credentials, the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from conformance.vectors import assert_events_match, load, vector_params
from modelwire.mock import MockBehavior, MockProvider, Replay
from modelwire.wire import (
    Completed,
    ErrorEvent,
    Event,
    Request,
    Tool,
    ToolCallEnd,
    adecode,
    collect,
    decode_response,
    encode,
    user,
)

WEATHER = Tool(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


def base_for(mock: MockProvider, wire_api: str) -> str:
    return mock.base_url if wire_api == "messages" else mock.url("/v1")


async def post(
    mock: MockProvider,
    wire_api: str,
    request: Request,
    *,
    headers: dict[str, str] | None = None,
    prefix: str | None = None,
) -> tuple[httpx.Response, list[Event]]:
    """Send ``request`` the way a client would and decode what comes back."""
    base = mock.url(prefix) if prefix is not None else base_for(mock, wire_api)
    path, body = encode(wire_api, request, base_url=base)
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream(
            "POST",
            f"{base}/{path}",
            content=body,
            headers={"content-type": "application/json", **(headers or {})},
        ) as response,
    ):
        if response.status_code != 200 or not request.stream:
            await response.aread()
            return response, []
        async with aclosing(response.aiter_raw()) as raw:
            events = [event async for event in adecode(wire_api, raw)]
        return response, events


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


WIRE_APIS = ["responses", "chat", "messages"]


@pytest.mark.parametrize("wire_api", WIRE_APIS)
async def test_streams_an_echo_in_each_wire_api(
    mock: MockProvider, wire_api: str, anyio_backend: str
) -> None:
    response, events = await post(mock, wire_api, Request(model="m", messages=(user("hi"),)))
    assert response.headers["content-type"].startswith("text/event-stream")
    result = collect(events)
    assert result.error is None
    assert "hi" in result.text
    assert isinstance(events[-1], Completed)
    assert result.usage is not None


@pytest.mark.parametrize("wire_api", WIRE_APIS)
async def test_answers_non_streamed_requests_in_each_wire_api(
    mock: MockProvider, wire_api: str, anyio_backend: str
) -> None:
    request = Request(model="m", messages=(user("hello there"),), stream=False)
    response, _ = await post(mock, wire_api, request)
    assert response.status_code == 200
    result = decode_response(wire_api, response.content)
    assert result.error is None
    assert "hello there" in result.text


@pytest.mark.parametrize("wire_api", WIRE_APIS)
async def test_calls_the_offered_tool_with_schema_shaped_arguments(
    mock: MockProvider, wire_api: str, anyio_backend: str
) -> None:
    request = Request(model="m", messages=(user("weather?"),), tools=(WEATHER,))
    _, events = await post(mock, wire_api, request)
    calls = [event for event in events if isinstance(event, ToolCallEnd)]
    assert [call.name for call in calls] == ["get_weather"]
    assert "city" in orjson.loads(calls[0].arguments)
    assert collect(events).finish_reason == "tool_calls"


async def test_wire_paths_work_under_any_prefix(mock: MockProvider, anyio_backend: str) -> None:
    request = Request(model="m", messages=(user("hi"),))
    _, events = await post(mock, "responses", request, prefix="/openai/v1")
    assert collect(events).error is None
    assert mock.requests[-1]["path"] == "/openai/v1/responses"


async def test_lists_models_in_the_openai_and_anthropic_shapes(
    anyio_backend: str,
) -> None:
    models = tuple(f"model-{n}" for n in range(5))
    async with MockProvider(models=models) as mock, httpx.AsyncClient() as http:
        openai_list = (await http.get(mock.url("/v1/models"))).json()
        assert [m["id"] for m in openai_list["data"]] == list(models)
        seen: list[str] = []
        after: str | None = None
        for _ in range(5):
            params = {"limit": "2", **({"after_id": after} if after else {})}
            page = (
                await http.get(
                    mock.url("/v1/models"),
                    params=params,
                    headers={"anthropic-version": "2023-06-01"},
                )
            ).json()
            seen += [m["id"] for m in page["data"]]
            if not page["has_more"]:
                break
            after = page["last_id"]
        assert seen == list(models)


async def test_an_error_status_carries_the_api_error_body_and_retry_headers(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(status=429, retry_after="3", retry_after_ms=2500))
    response, _ = await post(mock, "messages", Request(model="m", messages=(user("x"),)))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["retry-after-ms"] == "2500"
    assert response.json()["error"]["type"] == "rate_limit_error"
    # The queue held one behaviour; the next request is back to the defaults.
    response, events = await post(mock, "messages", Request(model="m", messages=(user("x"),)))
    assert response.status_code == 200
    assert isinstance(events[-1], Completed)


async def test_request_headers_set_knobs_and_bad_knobs_are_400s(
    mock: MockProvider, anyio_backend: str
) -> None:
    request = Request(model="m", messages=(user("x"),))
    response, _ = await post(mock, "chat", request, headers={"x-mock-status": "503"})
    assert response.status_code == 503
    assert response.json()["error"]["message"]
    response, _ = await post(mock, "chat", request, headers={"x-mock-status": "soon"})
    assert response.status_code == 400
    response, events = await post(mock, "chat", request, headers={"x-mock-output-tokens": "7"})
    assert sum(1 for e in events if type(e).__name__ == "TextDelta") == 7


@pytest.mark.parametrize("wire_api", WIRE_APIS)
async def test_a_reset_after_n_events_drops_the_connection_mid_stream(
    mock: MockProvider, wire_api: str, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(reset_after=3))
    with pytest.raises(httpx.RemoteProtocolError):
        await post(mock, wire_api, Request(model="m", messages=(user("a b c d e f"),)))


async def test_a_stall_keeps_the_connection_open_without_bytes(
    mock: MockProvider, anyio_backend: str
) -> None:
    mock.enqueue(MockBehavior(stall_after=2))
    base = mock.url("/v1")
    path, body = encode("chat", Request(model="m", messages=(user("x"),)))

    async def read_all(http: httpx.AsyncClient) -> None:
        async with (
            http.stream("POST", f"{base}/{path}", content=body) as response,
            aclosing(response.aiter_raw()) as raw,
        ):
            async for _ in raw:
                pass

    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.3)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await read_all(http)


@pytest.mark.parametrize("kind", ["json", "sse"])
async def test_malformed_streams_decode_to_a_decode_error(
    mock: MockProvider, kind: str, anyio_backend: str
) -> None:
    request = Request(model="m", messages=(user("x"),))
    _, events = await post(mock, "responses", request, headers={"x-mock-malformed": kind})
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].code == "decode_error"


@pytest.mark.parametrize(
    ("options", "headers", "allowed"),
    [
        ({"require_bearer": "sk-mock-1"}, {"authorization": "Bearer sk-mock-1"}, True),
        ({"require_bearer": "sk-mock-1"}, {"authorization": "Bearer wrong"}, False),
        ({"require_api_key": "ak-1"}, {"x-api-key": "ak-1"}, True),
        ({"require_api_key": "ak-1"}, {}, False),
        (
            {"require_sigv4": True},
            {
                "authorization": "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/x/aws4_request,"
                " SignedHeaders=host;x-amz-date, Signature=abc",
                "x-amz-date": "20260101T000000Z",
            },
            True,
        ),
        ({"require_sigv4": True}, {"authorization": "Bearer x"}, False),
    ],
)
async def test_required_credentials_are_checked(
    options: dict[str, Any], headers: dict[str, str], allowed: bool, anyio_backend: str
) -> None:
    async with MockProvider(**options) as mock:
        request = Request(model="m", messages=(user("x"),))
        response, _ = await post(mock, "chat", request, headers=headers)
        assert response.status_code == (200 if allowed else 401)
        logged = orjson.dumps(mock.requests).decode()
        for secret in ("sk-mock-1", "ak-1", "Signature=abc", "wrong"):
            assert secret not in logged
        if options.get("require_sigv4") and allowed:
            # The scheme stays readable, so a test can tell a signed request from a bearer one.
            assert mock.requests[-1]["headers"]["authorization"] == "AWS4-HMAC-SHA256 ****"


async def test_the_log_has_one_json_line_per_request_with_masked_credentials(
    tmp_path: Path, anyio_backend: str
) -> None:
    log = tmp_path / "requests.jsonl"
    async with MockProvider(log=log) as mock:
        request = Request(model="m", messages=(user("x"),))
        await post(mock, "chat", request, headers={"Authorization": "Bearer sk-secret"})
        await post(mock, "messages", request, headers={"X-Api-Key": "ak-secret"})
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert [line["path"] for line in lines] == ["/v1/chat/completions", "/v1/messages"]
    assert set(lines[0]) == {"method", "path", "query", "headers", "body"}
    assert lines[0]["headers"]["authorization"] == "Bearer ****"
    assert lines[1]["headers"]["x-api-key"] == "****"
    assert orjson.loads(lines[0]["body"])["model"] == "m"
    assert "secret" not in log.read_text()


@pytest.mark.parametrize("name", vector_params())
async def test_every_spec_vector_served_in_its_cuts_decodes_over_http(
    name: str, anyio_backend: str
) -> None:
    vector = load(name)
    async with MockProvider() as mock, httpx.AsyncClient(timeout=10) as http:
        mock.enqueue(MockBehavior(replay=Replay(vector.body, tuple(vector.cuts or ()))))
        path = {"chat": "v1/chat/completions", "responses": "v1/responses"}.get(
            vector.wire_api, "v1/messages"
        )
        async with (
            http.stream("POST", mock.url(f"/{path}"), content=b"{}") as response,
            aclosing(response.aiter_raw()) as raw,
        ):
            events = [event async for event in adecode(vector.wire_api, raw)]
    assert_events_match(vector, events, "served by the mock over loopback")


def test_the_sync_context_manager_starts_and_stops() -> None:
    with MockProvider() as mock:
        response = httpx.get(mock.url("/v1/models"), timeout=5)
        assert response.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(mock.url("/v1/models"), timeout=1)


def test_modelwire_mock_prints_where_it_listens_and_exits_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "modelwire", "mock", "--port", "0", "--log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("listening on http://127.0.0.1:")
        url = first.removeprefix("listening on ")
        assert httpx.get(f"{url}/v1/models", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)
    assert orjson.loads(log.read_bytes().splitlines()[0])["path"] == "/v1/models"


async def test_the_mock_counts_requests_in_flight_until_their_last_chunk(
    anyio_backend: str,
) -> None:
    async with MockProvider() as mock, httpx.AsyncClient(timeout=10) as http:
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        headers = {"x-mock-output-tokens": "20", "x-mock-delay-ms": "20"}
        url = mock.url("/v1/chat/completions")
        async with http.stream("POST", url, json=body, headers=headers) as first:
            first_reads = first.aiter_raw()
            await anext(first_reads)
            async with http.stream("POST", url, json=body, headers=headers) as second:
                second_reads = second.aiter_raw()
                await anext(second_reads)
                assert mock.in_flight == 2
                async for _ in second_reads:
                    pass
            async for _ in first_reads:
                pass
        assert mock.peak_in_flight == 2
        for _ in range(100):
            if mock.in_flight == 0:
                break
            await anyio.sleep(0.01)
        assert mock.in_flight == 0
        mock.reset_peak()
        assert mock.peak_in_flight == 0


async def test_a_models_listing_honours_the_time_to_first_token_knob(anyio_backend: str) -> None:
    async with MockProvider() as mock, httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(mock.url("/v1/models"), headers={"x-mock-ttft-ms": "2000"}, timeout=0.2)
        assert (await http.get(mock.url("/v1/models"))).status_code == 200


def test_mock_command_stopped_right_after_its_first_line_exits_cleanly() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "modelwire", "mock", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("listening on http://127.0.0.1:")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
