"""What a caller hands ``Client.stream`` / ``stream_raw`` / ``complete``, judged before it is sent.

``Request`` is a msgspec struct, and msgspec does not type-check ``__init__`` arguments: a
plain string in ``messages``, an OpenAI-style ``{"role": ..., "content": ...}`` dict,
``temperature="0.5"`` or ``max_tokens=`` would otherwise surface as an ``AttributeError``
inside a codec or as a provider's 400 after a network round trip. Here each becomes one line
that says what to write instead. A ``Request`` built directly meets the same checks as one
built from keywords.

The request path is measured per call, so the common case (a handful of messages built with
``modelwire.user()``/``assistant()``, unset knobs) costs a few type comparisons; the slower
code that names the problem only runs once something is wrong.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

import msgspec

from .wire.events import ReasoningBlock, ToolCall
from .wire.request import ImagePart, Message, Request, RequestError, TextPart, Tool, ToolResultPart

__all__ = ["check_request", "request_from"]

_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(Request))
_ACCEPTED = frozenset(_FIELDS) | {"input"}
# Spellings of the peers' SDKs (OpenAI, Anthropic) that difflib cannot be trusted to map.
_ALIASES = {
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "system": "instructions",
    "system_prompt": "instructions",
    "prompt": "messages",
    "reasoning": "reasoning_effort",
}
_PART_TYPES = (TextPart, ImagePart, ToolResultPart)
_ROLES = ("user", "assistant")
_EFFORTS = ("minimal", "low", "medium", "high")
_HELPERS = "modelwire.user(...), modelwire.assistant(...), modelwire.tool_result(...)"
_ROLE_HELPERS = {
    "user": "modelwire.user(text)",
    "assistant": "modelwire.assistant(text)",
    "tool": "modelwire.tool_result(call_id, output)",
}


def request_from(request: object, fields: dict[str, Any], *, stream: bool) -> Request:
    """The checked request to send: ``request`` itself, or one built from keyword ``fields``.

    Raises ``TypeError`` for something of the wrong kind (an unknown keyword, a string where a
    message belongs) and ``RequestError`` (a ``ValueError``) for a value no provider accepts.
    """
    if request is not None:
        if fields:
            raise TypeError("pass either a Request or its fields as keywords, not both")
        if type(request) is not Request:
            raise TypeError(_not_a_request(request))
        check_request(request)
        if request.stream is stream:
            return request
        return msgspec.structs.replace(request, stream=stream)
    if not _ACCEPTED.issuperset(fields):
        raise TypeError(_unknown_field(min(fields.keys() - _ACCEPTED)))
    if "stream" in fields:
        raise TypeError(
            "stream is set by the method: use stream() or stream_raw() for events, "
            "complete() for one aggregated reply"
        )
    if "input" in fields:
        if "messages" in fields:
            raise TypeError("pass input or messages (the same thing), not both")
        fields["messages"] = fields.pop("input")
    if "model" not in fields:
        raise TypeError("model is required: the provider's model id, e.g. model='gpt-5'")
    for name in ("messages", "tools"):
        if name in fields:
            fields[name] = _sequence(name, fields[name])
    fields["stream"] = stream
    built = Request(**fields)
    check_request(built)
    return built


def check_request(request: Request) -> None:
    """Raise ``TypeError`` / ``RequestError`` if ``request`` holds anything a codec cannot send."""
    model = request.model
    if type(model) is not str or not model.strip():
        _bad_model(model)
    messages = request.messages
    if type(messages) is not tuple:
        messages = _sequence("messages", messages)
    if not messages:
        raise RequestError(
            "messages is empty: a request needs at least one message, "
            "e.g. messages=[modelwire.user('hi')]"
        )
    for message in messages:
        if type(message) is not Message:
            raise TypeError(_not_a_message(f"messages[{_index(messages, message)}]", message))
        content = message.content
        if message.role not in _ROLES or type(content) is not tuple:
            _bad_message(_index(messages, message), message)
        for part in content:
            if type(part) not in _PART_TYPES:
                raise TypeError(
                    f"messages[{_index(messages, message)}].content[{_index(content, part)}] "
                    f"is a {type(part).__name__}, not a part: pass text as a str to "
                    "modelwire.user(...) / modelwire.assistant(...), images with "
                    "modelwire.image(url)"
                )
        if message.tool_calls or message.reasoning:
            _check_assistant_extras(_index(messages, message), message)
    tools = request.tools
    if tools:
        for i, tool in enumerate(_sequence("tools", tools)):
            if type(tool) is not Tool:
                raise TypeError(
                    f"tools[{i}] is a {type(tool).__name__}, not a Tool: "
                    "use modelwire.Tool(name=..., description=..., parameters={...JSON schema...})"
                )
    if not (
        request.temperature is None
        and request.max_output_tokens is None
        and request.thinking_budget is None
        and request.reasoning_effort is None
        and request.tool_choice is None
        and request.instructions is None
        and request.thinking is None
        and request.parallel_tool_calls is None
        and type(request.extra_body) is dict
        and not request.extra_body
        and type(request.stream) is bool
    ):
        _check_knobs(request)


def _check_knobs(request: Request) -> None:
    temperature: object = request.temperature
    if temperature is not None:
        if type(temperature) not in (float, int):
            raise TypeError(
                f"temperature must be a number, got {type(temperature).__name__} "
                "(e.g. temperature=0.5, not '0.5')"
            )
        assert isinstance(temperature, float | int)
        if not math.isfinite(temperature) or temperature < 0:
            raise RequestError(f"temperature must be a finite number >= 0, got {temperature!r}")
    for name in ("max_output_tokens", "thinking_budget"):
        value: object = getattr(request, name)
        if value is None:
            continue
        if type(value) is not int:
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        assert isinstance(value, int)
        if value < 1:
            raise RequestError(f"{name} must be a positive number of tokens, got {value}")
    effort: object = request.reasoning_effort
    if effort is not None and effort not in _EFFORTS:
        raise (RequestError if isinstance(effort, str) else TypeError)(
            f"reasoning_effort must be one of {', '.join(map(repr, _EFFORTS))}, got {effort!r}"
        )
    for name in ("tool_choice", "instructions"):
        text: object = getattr(request, name)
        if text is not None and type(text) is not str:
            raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    for name in ("thinking", "parallel_tool_calls", "stream"):
        flag: object = getattr(request, name)
        if flag is not None and type(flag) is not bool:
            raise TypeError(f"{name} must be True or False, got {type(flag).__name__}")
    extra: object = request.extra_body
    if not isinstance(extra, Mapping) or not all(type(k) is str for k in extra):
        raise TypeError(
            f"extra_body must be a dict with str keys (merged into the JSON body), "
            f"got {type(extra).__name__}"
        )


def _check_assistant_extras(i: int, message: Message) -> None:
    for name, kind in (("tool_calls", ToolCall), ("reasoning", ReasoningBlock)):
        items: object = getattr(message, name)
        if not isinstance(items, tuple | list):
            raise TypeError(f"messages[{i}].{name} must be a tuple, got {type(items).__name__}")
        for j, item in enumerate(items):
            if type(item) is not kind:
                raise TypeError(
                    f"messages[{i}].{name}[{j}] is a {type(item).__name__}, not a "
                    f"{kind.__name__}: pass the ones from a Response (response.{name}) "
                    "to modelwire.assistant(...)"
                )


def _index(items: Any, item: object) -> int:
    """Where ``item`` sits in ``items``, by identity: computed only to name a problem, so the
    loops that find none need not count."""
    return next(i for i, x in enumerate(items) if x is item)


def _sequence(name: str, value: object) -> tuple[Any, ...]:
    """``value`` as a tuple; a str or a mapping is refused rather than split into pieces."""
    if type(value) is tuple:
        return value
    if type(value) is list:
        return tuple(value)
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        if name == "messages":
            raise TypeError(_not_a_message("messages", value, whole=True))
        raise TypeError(f"{name} must be a list of modelwire.Tool, got {type(value).__name__}")
    return tuple(value)


def _not_a_message(where: str, value: object, *, whole: bool = False) -> str:
    kind = type(value).__name__
    if whole:
        if isinstance(value, str):
            return (
                "messages must be a list of messages, got a str: "
                "write messages=[modelwire.user('...')]"
            )
        if not isinstance(value, Mapping):
            return f"messages must be a list of messages, got {kind} (build them with {_HELPERS})"
    if isinstance(value, str):
        return (
            f"{where} is a str, not a Message: wrap text in modelwire.user('...') "
            "(or modelwire.assistant('...') for an earlier reply)"
        )
    if isinstance(value, Mapping):
        role = value.get("role")
        if role in ("system", "developer"):
            advice = "pass a system prompt as instructions='...'"
        elif isinstance(role, str) and role in _ROLE_HELPERS:
            advice = f"use {_ROLE_HELPERS[role]}"
        else:
            advice = f"use {_HELPERS}"
        shape = f" with role {role!r}" if isinstance(role, str) else ""
        return (
            f"{where} is an OpenAI-style dict{shape}, not a Message: {advice} "
            "(modelwire builds each API's JSON itself from modelwire.user(...), "
            "modelwire.assistant(...), modelwire.tool_result(...))"
        )
    return f"{where} is a {kind}, not a Message: build messages with {_HELPERS}"


def _bad_message(i: int, message: Message) -> None:
    role: object = message.role
    if role not in _ROLES:
        hint = (
            "pass a system prompt as instructions='...'"
            if role in ("system", "developer")
            else f"build it with {_HELPERS}"
        )
        raise RequestError(f"messages[{i}] has role {role!r}; {hint}")
    content: object = message.content
    if isinstance(content, list):
        return  # a list iterates like the tuple the helpers build; the parts are checked next
    raise TypeError(
        f"messages[{i}].content must be a tuple of parts, got {type(content).__name__}: "
        "use modelwire.user('text') / modelwire.assistant('text')"
    )


def _bad_model(model: object) -> None:
    if type(model) is not str:
        raise TypeError(f"model must be a str (a model id), not {type(model).__name__}")
    raise RequestError("model must not be blank: pass the provider's model id, e.g. model='gpt-5'")


def _not_a_request(request: object) -> str:
    kind = type(request).__name__
    if isinstance(request, str):
        return (
            f"the request must be a modelwire.Request, got {kind}: to send text, pass "
            "model='...', messages=[modelwire.user('...')] as keywords"
        )
    if isinstance(request, Mapping):
        return (
            f"the request must be a modelwire.Request, got {kind}: pass its fields as "
            "keywords instead (model='...', messages=[modelwire.user('...')])"
        )
    return f"the request must be a modelwire.Request, got {kind}"


def _unknown_field(name: str) -> str:
    suggestion = _ALIASES.get(name)
    if suggestion is None:
        close = difflib.get_close_matches(name, _FIELDS, n=1, cutoff=0.6)
        suggestion = close[0] if close else None
    if suggestion is not None:
        return f"unknown request field {name!r}; did you mean {suggestion!r}?"
    return f"unknown request field {name!r}; the fields are {', '.join(_FIELDS)}"
