"""The GenAI semantic conventions' names, both generations, in one place.

The conventions are mid-rename (``../shared/spec/telemetry.md``): generation 1 is what today's
dashboards read, generation 2 what the conventions' main branch now says. Span names and span
attributes are shared except the cache-write usage attribute; the metrics differ in name and
shape. ``Names`` is chosen once per client, so the hot path never branches on the generation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

__all__ = [
    "DURATION_BUCKETS",
    "GENERATION_1",
    "GENERATION_2",
    "OPT_IN_ENV",
    "TOKEN_BUCKETS",
    "Names",
    "names_for",
]

OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"
_OPT_IN_VALUE = "gen_ai_latest_experimental"
LATEST = "genai-latest"
"""``Client(semconv=...)`` value that picks generation 2."""

DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS = tuple(float(4**n) for n in range(14))
"""1, 4, 16, … 67,108,864: the conventions' advice for token counts."""

# Attribute names shared by both generations.
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_STOP = "gen_ai.request.stop_sequences"
REQUEST_STREAM = "gen_ai.request.stream"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TTFC = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
TOKEN_MODALITY = "gen_ai.token.modality"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
HTTP_RESEND = "http.request.resend_count"
URL_FULL = "url.full"
PROVIDER_ID = "modelwire.provider.id"
WIRE_API = "modelwire.wire_api"
AUTH_KIND = "modelwire.auth.kind"
RETRY_COUNT = "modelwire.retry.count"
END_REASON = "modelwire.stream.end_reason"
AUTH_OUTCOME = "modelwire.auth.outcome"

RETRIES_COUNTER = "modelwire.client.retries"
TRANSPORT = "modelwire.transport"
"""``http`` or ``websocket``: what carried the reply (a call that fell back ends as http)."""
SOCKET_FALLBACK = "modelwire.websocket.fallback"
"""Why the call's socket could not be had, when it went over HTTP instead."""
SOCKET_RECONNECTS = "modelwire.websocket.reconnect_count"
SOCKET_OUTCOME = "modelwire.websocket.outcome"
SOCKET_SECONDS = "modelwire.websocket.connect_seconds"
SOCKET_EVENT = "modelwire.websocket"
"""The call span's event for each socket outcome (opened, reused, refused, fallback)."""
SOCKETS_COUNTER = "modelwire.websocket.connections"
"""Socket outcomes, by ``modelwire.websocket.outcome`` and provider."""
RECONNECTS_COUNTER = "modelwire.websocket.reconnects"
AUTH_RUNS_COUNTER = "modelwire.auth.command.runs"
COST_COUNTER = "modelwire.client.cost"
"""USD spent, per call, with the token metrics' attributes (the GenAI conventions define no
cost metric, hence modelwire's own name)."""
COST_USD = "modelwire.cost.usd"
"""The call span's cost in USD (a double: exact figures are on ``Response.cost``)."""
COST_SOURCE = "modelwire.cost.source"
"""Where the call's price came from: ``config``, ``provider_catalog``, ``compatibility_catalog``."""
AUTH_COMMAND_SPAN = "modelwire.auth.command"
AUTH_REFRESH_SPAN = "modelwire.auth.refresh"
OTHER_ERROR = "_OTHER"
"""The conventions' ``error.type`` when no better value is known (an abandoned stream)."""


class Names(msgspec.Struct, frozen=True, kw_only=True):
    """One generation's names for what differs between the two."""

    generation: int
    usage_cache_write: str
    duration: str
    time_to_first_chunk: str
    time_per_output_chunk: str
    token_usage: str | None
    """Generation 1: one histogram for both token kinds, split by ``gen_ai.token.type``."""
    usage_counters: tuple[tuple[str, str], ...] = ()
    """Generation 2: (counter name, usage field) per token kind, with ``gen_ai.token.modality``."""
    operation_input_tokens: str | None = None
    operation_output_tokens: str | None = None
    content_event: str | None = None


GENERATION_1 = Names(
    generation=1,
    usage_cache_write="gen_ai.usage.cache_creation.input_tokens",
    duration="gen_ai.client.operation.duration",
    time_to_first_chunk="gen_ai.client.operation.time_to_first_chunk",
    time_per_output_chunk="gen_ai.client.operation.time_per_output_chunk",
    token_usage="gen_ai.client.token.usage",
)

GENERATION_2 = Names(
    generation=2,
    usage_cache_write="gen_ai.usage.cache_write.input_tokens",
    duration="gen_ai.client.inference.duration",
    time_to_first_chunk="gen_ai.client.inference.time_to_first_chunk",
    time_per_output_chunk="gen_ai.client.inference.time_per_output_chunk",
    token_usage=None,
    usage_counters=(
        ("gen_ai.client.inference.usage.input_tokens", "input_tokens"),
        ("gen_ai.client.inference.usage.output_tokens", "output_tokens"),
        ("gen_ai.client.inference.usage.cache_read.input_tokens", "cached_input_tokens"),
        ("gen_ai.client.inference.usage.cache_write.input_tokens", "cache_write_input_tokens"),
        ("gen_ai.client.inference.usage.reasoning.output_tokens", "reasoning_tokens"),
    ),
    operation_input_tokens="gen_ai.client.inference.operation.input_tokens",
    operation_output_tokens="gen_ai.client.inference.operation.output_tokens",
    content_event="gen_ai.client.inference.operation.details",
)


def names_for(semconv: str | None, env: Mapping[str, str] | None = None) -> Names:
    """Generation 2 when asked for by ``semconv="genai-latest"`` or by the environment's
    ``OTEL_SEMCONV_STABILITY_OPT_IN`` (a comma-separated list), else generation 1."""
    if semconv is not None:
        if semconv == LATEST:
            return GENERATION_2
        if semconv in ("genai-1", "default"):
            return GENERATION_1
        raise ValueError(f"semconv must be {LATEST!r} or 'default', got {semconv!r}")
    env = os.environ if env is None else env
    opted = {part.strip() for part in env.get(OPT_IN_ENV, "").split(",")}
    return GENERATION_2 if _OPT_IN_VALUE in opted else GENERATION_1
