"""``modelwire chat``: one prompt, the reply streamed to the terminal.

The reply's text goes to stdout as it arrives, so it pipes cleanly; everything about the call
(which provider, tool calls, usage, how it finished, what carried it) goes to stderr.
``--json`` prints the common events themselves, one JSON object per line, and after the first
one a ``{"type": "call", "transport", "fallback"}`` line: what carried the reply (``http`` or
``websocket``) and, when a WebSocket was tried and could not be had, why (by then the
transport is settled: a stream never changes transport once something has arrived). With no
provider configured and none given, the embedded mock provider answers, so the command works
on a fresh machine with no key and no network.

``--transport`` is ``Client.stream``'s: ``auto`` (a socket where the provider has one),
``http``, or ``websocket`` (a socket or an error, no fallback). ``websocket`` on a provider
without sockets is a usage error, said before anything is sent. The embedded mock offers its
socket only to ``--transport websocket``, so a plain ``modelwire chat`` streams over HTTP as
it always did.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

import anyio
import msgspec

from ..client import Client
from ..config import load_config
from ..errors import ConfigError
from ..providers import ProviderInfo, WireApi
from ..registry import ProviderRegistry
from ..transport import Call
from ..wire import Completed, ErrorEvent, TextDelta, ToolCallEnd, Usage, user
from ._main import UsageError, provider_from_command_line

__all__ = ["run_chat"]

MOCK_PROVIDER_ID = "modelwire-mock"
MOCK_MODEL = "mock-model"


def run_chat(
    prompt: str,
    *,
    provider_id: str | None,
    model: str | None,
    as_json: bool,
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO | None = None,
    transport: str = "auto",
) -> int:
    """Stream one reply over ``transport``; 0 when it completed, 1 when it ended in an error
    event.

    Raises ``UsageError`` for an unknown ``provider_id``, a missing model, or ``websocket``
    asked of a provider that has no socket."""
    err = sys.stderr if err is None else err
    config = load_config(env=env)
    registry = ProviderRegistry.from_config(config, env=env)
    if provider_id is not None:
        # The id is judged before anything else is asked for: a typo's "did you mean" is the
        # one useful answer, not "no model for 'opnai'".
        provider_from_command_line(registry, provider_id)
    provider_id = provider_id or config.model_provider
    model = model or config.model
    if provider_id is None:
        return anyio.run(
            _chat_with_mock, prompt, model, as_json, registry, env, out, err, transport
        )
    registry.get(provider_id)  # config's `model_provider`: an unknown one is a config error
    if model is None:
        raise UsageError(
            f"no model for provider {provider_id!r}: pass --model or set `model` in config.toml"
        )
    client = Client(registry, env=env)
    try:
        client.uses_socket(registry.get(provider_id), transport)
    except ConfigError as exc:
        raise UsageError(f"--transport {transport}: {exc.message}") from None
    return anyio.run(_chat, client, provider_id, model, prompt, as_json, out, err, transport)


async def _chat_with_mock(
    prompt: str,
    model: str | None,
    as_json: bool,
    registry: ProviderRegistry,
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    transport: str,
) -> int:
    from ..mock import MockProvider

    async with MockProvider() as mock:
        err.write(
            f"modelwire: no provider configured; using the embedded mock provider at "
            f"{mock.base_url} (pass --provider ID to call a real one)\n"
        )
        err.flush()
        registry.register(
            MOCK_PROVIDER_ID,
            ProviderInfo(
                name="modelwire mock",
                base_url=mock.url("/v1"),
                wire_api=WireApi.RESPONSES,
                # Only when asked: `auto` keeps the mock's replies on HTTP, as before sockets.
                supports_websockets=transport == "websocket",
            ),
        )
        client = Client(registry, env=env)
        model = model or MOCK_MODEL
        return await _chat(client, MOCK_PROVIDER_ID, model, prompt, as_json, out, err, transport)


async def _chat(
    client: Client,
    provider_id: str,
    model: str,
    prompt: str,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    transport: str,
) -> int:
    failed = False
    told = False
    async with (
        client,
        client.stream(
            provider_id, model=model, messages=[user(prompt)], transport=transport
        ) as events,
    ):
        async for event in events:
            if as_json:
                out.write(msgspec.json.encode(event).decode() + "\n")
                if not told:
                    told = True
                    out.write(_call_line(events.call) + "\n")
                out.flush()
                failed = failed or isinstance(event, ErrorEvent)
                continue
            match event:
                case TextDelta(text=text):
                    out.write(text)
                    out.flush()
                case ToolCallEnd(name=name, arguments=arguments):
                    err.write(f"\n[tool call] {name}({arguments})\n")
                case Usage(input_tokens=given, output_tokens=made, total_tokens=total):
                    err.write(f"\n[usage] {given} in, {made} out, {total} total tokens\n")
                    err.write(_cost_line(event, provider_id, model) + "\n")
                case Completed(finish_reason=reason, raw_finish_reason=raw):
                    out.write("\n")
                    err.write(f"[finished] {reason or 'not reported'} ({raw})\n")
                case ErrorEvent(code=code, message=message):
                    failed = True
                    out.write("\n")
                    err.write(f"[error] {code}: {message}\n")
                case _:
                    pass
    if not as_json:
        err.write(f"[transport] {_carried_by(events.call)}\n")
    return 1 if failed else 0


def _cost_line(usage: Usage, provider_id: str, model: str) -> str:
    """What the reply cost and whose price that is, or why it is unknown (never "$0")."""
    cost = usage.cost
    if cost is None:
        return f"[cost] unknown: no price known for {provider_id}:{model}"
    source = cost.source.replace("_", " ")
    tier = ", long-context prices" if cost.long_context else ""
    return f"[cost] ${cost.usd()} ({source} price of {cost.model}{tier})"


def _call_line(call: Call) -> str:
    """``--json``'s line about the call: what carried the reply, and any fallback's reason."""
    shown = {"type": "call", "transport": call.transport, "fallback": call.fallback}
    return msgspec.json.encode(shown).decode()


def _carried_by(call: Call) -> str:
    if call.fallback is None:
        return call.transport
    return f"{call.transport} (fell back from a WebSocket: {call.fallback})"
