"""The mock answers the calls the official SDKs make, in the shapes the real APIs use: raw HTTP
against the in-process mock, then the ``openai`` and ``anthropic`` SDKs against ``modelwire
mock`` in its own process, as a user would point them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from modelwire.bench._target import MockProcess
from modelwire.mock import MockProvider
from modelwire.wire import Usage, decode

CHAT = {"model": "mock-model", "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
COUNTED = {
    "model": "mock-model",
    "max_tokens": 16,
    "system": "be brief",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "one two three"}]}],
}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockProvider]:
    with MockProvider() as provider:
        yield provider


def chat_chunks(http: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    reply = http.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200
    payloads = [line.removeprefix(b"data: ") for line in reply.content.split(b"\n") if line.strip()]
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(payload) for payload in payloads[:-1]]
    return [{k: v for k, v in chunk.items() if k != "id"} for chunk in chunks]  # ids differ


def test_a_chat_stream_has_no_usage_chunk_unless_include_usage_asks(mock: MockProvider) -> None:
    with httpx.Client(base_url=mock.base_url, timeout=10) as http:
        plain = chat_chunks(http, CHAT)
        asked = chat_chunks(http, {**CHAT, "stream_options": {"include_usage": True}})
        declined = chat_chunks(http, {**CHAT, "stream_options": {"include_usage": False}})
    assert all(chunk["choices"] for chunk in plain)
    assert "usage" not in plain[-1]
    assert declined == plain
    assert asked[:-1] == plain
    assert asked[-1]["choices"] == []
    assert asked[-1]["usage"]["prompt_tokens"] == 3


def test_a_non_streamed_chat_reply_always_carries_usage(mock: MockProvider) -> None:
    with httpx.Client(base_url=mock.base_url, timeout=10) as http:
        body = http.post("/v1/chat/completions", json={**CHAT, "stream": False}).json()
    assert body["usage"]["prompt_tokens"] == 3


def test_one_model_is_served_in_each_apis_shape(mock: MockProvider) -> None:
    with httpx.Client(base_url=mock.base_url, timeout=10) as http:
        openai_model = http.get("/v1/models/mock-mini").json()
        anthropic_model = http.get("/v1/models/mock-mini", headers=ANTHROPIC_HEADERS).json()
        prefixed = http.get("/openai/v1/models/mock-model/")
    assert set(openai_model) == {"id", "object", "created", "owned_by"}
    assert (openai_model["id"], openai_model["object"]) == ("mock-mini", "model")
    assert isinstance(openai_model["created"], int)
    assert set(anthropic_model) == {"type", "id", "display_name", "created_at"}
    assert (anthropic_model["type"], anthropic_model["id"]) == ("model", "mock-mini")
    assert anthropic_model["display_name"] == "Mock Mini"
    assert prefixed.json()["id"] == "mock-model"


def test_an_unknown_model_is_a_404_in_the_apis_error_shape(mock: MockProvider) -> None:
    with httpx.Client(base_url=mock.base_url, timeout=10) as http:
        openai_reply = http.get("/v1/models/gpt-9")
        anthropic_reply = http.get("/v1/models/claude-9", headers=ANTHROPIC_HEADERS)
    assert openai_reply.status_code == anthropic_reply.status_code == 404
    error = openai_reply.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "model_not_found")
    assert "gpt-9" in error["message"]
    body = anthropic_reply.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
    assert "claude-9" in body["error"]["message"]


def test_count_tokens_counts_the_request_as_the_reply_then_reports_it(mock: MockProvider) -> None:
    with httpx.Client(base_url=mock.base_url, timeout=10) as http:
        counted = http.post(
            "/v1/messages/count_tokens", json=COUNTED, headers=ANTHROPIC_HEADERS
        ).json()
        again = http.post("/v1/messages/count_tokens", json=COUNTED, headers=ANTHROPIC_HEADERS)
        streamed = http.post("/v1/messages", json={**COUNTED, "stream": True})
    assert counted == {"input_tokens": 5}  # "be brief" + "one two three"
    assert again.json() == counted
    usage = [event for event in decode("messages", [streamed.content]) if isinstance(event, Usage)]
    assert usage[-1].input_tokens == counted["input_tokens"]


def test_count_tokens_refuses_a_body_that_is_not_json(mock: MockProvider) -> None:
    with httpx.Client(base_url=mock.base_url, timeout=10) as http:
        reply = http.post("/v1/messages/count_tokens", content=b"{", headers=ANTHROPIC_HEADERS)
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_a_request_log_that_cannot_be_written_fails_when_the_mock_is_made(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        MockProvider(log=tmp_path / "missing" / "requests.jsonl")


# --- the official SDKs against `modelwire mock` ------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``modelwire mock`` in a child process (the one ``modelwire bench`` starts); its base URL.
    ``MockProcess`` fails unless the child says it listens on 127.0.0.1."""
    with MockProcess() as mock:
        yield mock.base_url


@pytest.fixture
def openai_client(served: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{served}/v1", api_key="mock-key", max_retries=0) as client:
        yield client


@pytest.fixture
def anthropic_client(served: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=served, api_key="mock-key", max_retries=0) as client:
        yield client


def test_the_openai_sdk_retrieves_a_model_and_gets_not_found_for_an_unknown_one(
    openai_client: openai.OpenAI,
) -> None:
    model = openai_client.models.retrieve("mock-model")
    assert (model.id, model.object, model.owned_by) == ("mock-model", "model", "modelwire")
    with pytest.raises(openai.NotFoundError) as raised:
        openai_client.models.retrieve("gpt-9")
    assert raised.value.code == "model_not_found"


def test_the_openai_sdk_streams_usage_only_when_it_asks_for_it(
    openai_client: openai.OpenAI,
) -> None:
    messages: list[Any] = [{"role": "user", "content": "hello there"}]
    plain = list(
        openai_client.chat.completions.create(model="mock-model", messages=messages, stream=True)
    )
    asked = list(
        openai_client.chat.completions.create(
            model="mock-model",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(chunk.usage is None and chunk.choices for chunk in plain)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in plain)
    assert text == "Echo: hello there"
    assert len(asked) == len(plain) + 1
    assert asked[-1].choices == []
    assert asked[-1].usage is not None
    assert asked[-1].usage.prompt_tokens == 2


def test_the_anthropic_sdk_retrieves_a_model_and_counts_tokens(
    anthropic_client: anthropic.Anthropic,
) -> None:
    model = anthropic_client.models.retrieve("mock-reasoner")
    assert (model.id, model.type, model.display_name) == ("mock-reasoner", "model", "Mock Reasoner")
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.models.retrieve("claude-9")
    counted = anthropic_client.messages.count_tokens(
        model="mock-model",
        system="be brief",
        messages=[{"role": "user", "content": "one two three"}],
    )
    assert counted.input_tokens == 5
    reply = anthropic_client.messages.create(
        model="mock-model",
        max_tokens=16,
        system="be brief",
        messages=[{"role": "user", "content": "one two three"}],
    )
    assert reply.usage.input_tokens == counted.input_tokens
