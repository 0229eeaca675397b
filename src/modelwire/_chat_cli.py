"""``modelwire chat``: one prompt, the reply streamed to the terminal.

The reply's text goes to stdout as it arrives, so it pipes cleanly; everything about the call
(which provider, tool calls, usage, how it finished) goes to stderr. ``--json`` prints the
common events themselves, one JSON object per line. With no provider configured and none
given, the embedded mock provider answers, so the command works on a fresh machine with no key
and no network.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

import anyio
import msgspec

from .cli import UsageError, provider_from_command_line
from .client import Client
from .config import load_config
from .providers import ProviderInfo, WireApi
from .registry import ProviderRegistry
from .wire import Completed, ErrorEvent, TextDelta, ToolCallEnd, Usage, user

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
) -> int:
    """Stream one reply; 0 when it completed, 1 when it ended in an error event.

    Raises ``UsageError`` for an unknown ``provider_id`` or a missing model."""
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
        return anyio.run(_chat_with_mock, prompt, model, as_json, registry, env, out, err)
    registry.get(provider_id)  # config's `model_provider`: an unknown one is a config error
    if model is None:
        raise UsageError(
            f"no model for provider {provider_id!r}: pass --model or set `model` in config.toml"
        )
    client = Client(registry, env=env)
    return anyio.run(_chat, client, provider_id, model, prompt, as_json, out, err)


async def _chat_with_mock(
    prompt: str,
    model: str | None,
    as_json: bool,
    registry: ProviderRegistry,
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
) -> int:
    from .mock import MockProvider

    async with MockProvider() as mock:
        err.write(
            f"modelwire: no provider configured; using the embedded mock provider at "
            f"{mock.base_url} (pass --provider ID to call a real one)\n"
        )
        err.flush()
        registry.register(
            MOCK_PROVIDER_ID,
            ProviderInfo(
                name="modelwire mock", base_url=mock.url("/v1"), wire_api=WireApi.RESPONSES
            ),
        )
        client = Client(registry, env=env)
        return await _chat(client, MOCK_PROVIDER_ID, model or MOCK_MODEL, prompt, as_json, out, err)


async def _chat(
    client: Client,
    provider_id: str,
    model: str,
    prompt: str,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    failed = False
    async with (
        client,
        client.stream(provider_id, model=model, messages=[user(prompt)]) as events,
    ):
        async for event in events:
            if as_json:
                out.write(msgspec.json.encode(event).decode() + "\n")
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
                case Completed(finish_reason=reason, raw_finish_reason=raw):
                    out.write("\n")
                    err.write(f"[finished] {reason or 'not reported'} ({raw})\n")
                case ErrorEvent(code=code, message=message):
                    failed = True
                    out.write("\n")
                    err.write(f"[error] {code}: {message}\n")
                case _:
                    pass
    return 1 if failed else 0
