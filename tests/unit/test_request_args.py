"""What callers hand Client.stream/complete is judged before anything is encoded or sent.

Each wrong shape is one line that says what to write instead: a str or an OpenAI-style dict
where a message belongs names ``modelwire.user()``; an unknown keyword names the nearest field;
a wrong type or an impossible value is refused, for keyword fields and for a ``Request`` built
directly alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from modelwire import (
    Client,
    Completed,
    Message,
    ProviderInfo,
    ProviderRegistry,
    Request,
    RequestError,
    TextPart,
    Tool,
    ToolCall,
    WireApi,
    assistant,
    image,
    tool_result,
    user,
)
from modelwire._request_args import request_from
from modelwire.mock import MockProvider

HI = (user("hi"),)


def refused(kind: type[Exception], request: object = None, **fields: Any) -> str:
    with pytest.raises(kind) as caught:
        request_from(request, fields, stream=True)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "messages",
    [["hi"], ("hi",), [user("ok"), "and this"]],
)
def test_a_plain_string_message_names_modelwire_user(messages: Any) -> None:
    message = refused(TypeError, model="m", messages=messages)
    assert "is a str, not a Message" in message
    assert "modelwire.user(" in message


def test_a_string_for_the_whole_messages_list_is_not_split_into_letters() -> None:
    message = refused(TypeError, model="m", messages="hi")
    assert message == (
        "messages must be a list of messages, got a str: write messages=[modelwire.user('...')]"
    )


@pytest.mark.parametrize(
    ("role", "advice"),
    [
        ("user", "use modelwire.user(text)"),
        ("assistant", "use modelwire.assistant(text)"),
        ("tool", "use modelwire.tool_result(call_id, output)"),
        ("system", "pass a system prompt as instructions='...'"),
        ("developer", "pass a system prompt as instructions='...'"),
    ],
)
def test_an_openai_style_dict_message_names_the_helper_for_its_role(role: str, advice: str) -> None:
    message = refused(TypeError, model="m", input=[{"role": role, "content": "hi"}])
    assert message.startswith(f"messages[0] is an OpenAI-style dict with role {role!r}")
    assert advice in message
    assert "modelwire.user(" in message


@pytest.mark.parametrize(
    ("keyword", "suggestion"),
    [
        ("max_tokens", "max_output_tokens"),
        ("max_completion_tokens", "max_output_tokens"),
        ("system", "instructions"),
        ("temprature", "temperature"),
        ("tool", "tools"),
        ("reasoning", "reasoning_effort"),
    ],
)
def test_an_unknown_keyword_suggests_the_nearest_field(keyword: str, suggestion: str) -> None:
    message = refused(TypeError, model="m", messages=HI, **{keyword: 1})
    assert message == f"unknown request field {keyword!r}; did you mean {suggestion!r}?"


def test_an_unknown_keyword_with_no_near_field_lists_the_fields() -> None:
    message = refused(TypeError, model="m", messages=HI, zzzz=1)
    assert message.startswith("unknown request field 'zzzz'; the fields are model, messages")


@pytest.mark.parametrize(
    ("fields", "kind", "detail"),
    [
        ({"temperature": "0.5"}, TypeError, "temperature must be a number, got str"),
        ({"temperature": True}, TypeError, "temperature must be a number, got bool"),
        ({"temperature": float("nan")}, RequestError, "temperature must be a finite number"),
        ({"temperature": -0.1}, RequestError, "temperature must be a finite number >= 0"),
        ({"max_output_tokens": 0}, RequestError, "max_output_tokens must be a positive number"),
        ({"max_output_tokens": -5}, RequestError, "max_output_tokens must be a positive number"),
        ({"max_output_tokens": "100"}, TypeError, "max_output_tokens must be an int, got str"),
        ({"max_output_tokens": 1.0}, TypeError, "max_output_tokens must be an int, got float"),
        ({"thinking_budget": 0}, RequestError, "thinking_budget must be a positive number"),
        ({"reasoning_effort": "max"}, RequestError, "reasoning_effort must be one of 'minimal'"),
        ({"reasoning_effort": 3}, TypeError, "reasoning_effort must be one of"),
        ({"thinking": "yes"}, TypeError, "thinking must be True or False, got str"),
        ({"parallel_tool_calls": 1}, TypeError, "parallel_tool_calls must be True or False"),
        ({"instructions": ["be brief"]}, TypeError, "instructions must be a str, got list"),
        ({"tool_choice": 1}, TypeError, "tool_choice must be a str, got int"),
        ({"extra_body": [("n", 2)]}, TypeError, "extra_body must be a dict with str keys"),
        ({"extra_body": {1: 2}}, TypeError, "extra_body must be a dict with str keys"),
        ({"tools": [{"type": "function", "name": "f"}]}, TypeError, "tools[0] is a dict"),
        ({"tools": "f"}, TypeError, "tools must be a list of modelwire.Tool"),
        ({"messages": []}, RequestError, "messages is empty"),
        ({"messages": [user("a"), 5]}, TypeError, "messages[1] is a int, not a Message"),
        ({"messages": None}, TypeError, "messages must be a list of messages, got NoneType"),
        ({"model": ""}, RequestError, "model must not be blank"),
        ({"model": 5}, TypeError, "model must be a str"),
        ({"stream": False}, TypeError, "stream is set by the method"),
    ],
)
def test_a_wrong_type_or_impossible_value_is_refused_in_one_line(
    fields: dict[str, Any], kind: type[Exception], detail: str
) -> None:
    message = refused(kind, **({"model": "m", "messages": HI} | fields))
    assert detail in message


def test_a_missing_model_is_a_type_error_that_shows_the_keyword() -> None:
    assert "model is required" in refused(TypeError, messages=HI)


def test_input_and_messages_together_are_refused() -> None:
    assert "not both" in refused(TypeError, model="m", input=HI, messages=HI)


@pytest.mark.parametrize(
    ("request_", "kind", "detail"),
    [
        (Request(model="m", messages=("hi",)), TypeError, "messages[0] is a str"),  # type: ignore[arg-type]
        (Request(model="m"), RequestError, "messages is empty"),
        (Request(model="m", messages=HI, temperature="0.5"), TypeError, "temperature"),  # type: ignore[arg-type]
        (Request(model="m", messages=HI, max_output_tokens=0), RequestError, "max_output_tokens"),
        (
            Request(model="m", messages=(Message(role="system", content=(TextPart("x"),)),)),  # type: ignore[arg-type]
            RequestError,
            "messages[0] has role 'system'; pass a system prompt as instructions='...'",
        ),
        (
            Request(model="m", messages=(Message(role="user", content="hi"),)),  # type: ignore[arg-type]
            TypeError,
            "messages[0].content must be a tuple of parts, got str",
        ),
        (
            Request(model="m", messages=(user("a"), Message(role="user", content=("x",)))),  # type: ignore[arg-type]
            TypeError,
            "messages[1].content[0] is a str, not a part",
        ),
        (
            Request(model="m", messages=(Message(role="assistant", tool_calls=({"id": 1},)),)),  # type: ignore[arg-type]
            TypeError,
            "messages[0].tool_calls[0] is a dict, not a ToolCall",
        ),
        ("hi", TypeError, "the request must be a modelwire.Request, got str"),
        ({"model": "m"}, TypeError, "pass its fields as keywords instead"),
    ],
)
def test_a_request_built_directly_meets_the_same_checks(
    request_: object, kind: type[Exception], detail: str
) -> None:
    assert detail in refused(kind, request_)


def test_every_helper_built_shape_passes_unchanged() -> None:
    call = ToolCall(index=0, id="c1", name="weather", arguments="{}")
    request = Request(
        model="m",
        instructions="be brief",
        messages=(
            user("what is this?", image("https://example.com/a.png", detail="low")),
            assistant("calling", tool_calls=[call]),
            tool_result("c1", "sunny"),
        ),
        tools=(Tool(name="weather"),),
        tool_choice="weather",
        parallel_tool_calls=False,
        reasoning_effort="low",
        thinking=True,
        thinking_budget=2048,
        max_output_tokens=256,
        temperature=0,
        extra_body={"seed": 7},
    )
    assert request_from(request, {}, stream=True) is request
    assert request_from(request, {}, stream=False).stream is False
    built = request_from(None, {"model": "m", "input": [user("hi")], "tools": []}, stream=False)
    assert built == Request(model="m", messages=(user("hi"),), stream=False)


# --- through the client: refused before anything reaches the provider -----------------------


@pytest.fixture
async def mock() -> AsyncIterator[MockProvider]:
    async with MockProvider() as provider:
        yield provider


@pytest.mark.anyio
async def test_the_client_refuses_bad_arguments_before_sending_anything(
    mock: MockProvider,
) -> None:
    registry = ProviderRegistry.from_config(env={}, catalog=None)
    registry.register("loop", ProviderInfo(base_url=mock.url("/v1"), wire_api=WireApi.CHAT))
    async with Client(registry, env={}, telemetry=False) as client:
        with pytest.raises(TypeError, match=r"modelwire\.user\("):
            client.stream("loop", model="mock-model", messages=["hi"])
        with pytest.raises(TypeError, match="did you mean 'max_output_tokens'"):
            client.stream_raw("loop", model="mock-model", messages=HI, max_tokens=10)
        with pytest.raises(TypeError, match="OpenAI-style dict"):
            await client.complete("loop", model="mock-model", messages=[{"role": "user"}])
        with pytest.raises(RequestError, match="messages is empty"):
            client.stream("loop", Request(model="mock-model"))
        assert mock.requests == []
        events = [e async for e in client.stream("loop", model="mock-model", messages=HI)]
    assert isinstance(events[-1], Completed)
    assert len(mock.requests) == 1
