"""How the mock misbehaves: one struct of knobs, set per server, queued, or per request.

Tests need every failure a real provider produces, on demand and deterministically: slow first
tokens, slow streams, HTTP errors with ``Retry-After``, connections reset mid-stream, stalls
that trip idle timeouts, malformed bytes. The same knobs arrive three ways — the server's
defaults, a queue consumed one request at a time (for "fail twice, then succeed"), and
``x-mock-*`` request headers (for clients that can only set headers) — and are merged in that
order, later winning.

Fixed delays give every request the same latency, so p99 equals p50; a benchmark needs the
long right tail real providers have. ``Jitter`` spreads the server's *defaults* per request
(one seeded log-normal draw each for ``ttft_ms`` and ``delay_ms``), drawn by the server itself
so that a mock in its own process serves a realistic profile with no help from its clients.
A request that sets ``ttft_ms`` or ``delay_ms`` (queued or by header) gets exactly that value.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping
from typing import Literal

import msgspec

__all__ = ["HEADER_PREFIX", "JITTER_CAP", "Jitter", "MockBehavior", "Replay", "from_headers"]

HEADER_PREFIX = "x-mock-"
JITTER_CAP = 4.0
"""A drawn factor stays within [1 / JITTER_CAP, JITTER_CAP]: a log-normal's tail is unbounded,
and one draw must never stall a run."""


class Replay(msgspec.Struct, frozen=True):
    """A recorded body served verbatim, one write per piece ``cuts`` describes."""

    body: bytes
    cuts: tuple[int, ...] = ()
    content_type: str = "text/event-stream"

    def pieces(self) -> list[bytes]:
        points = [0, *self.cuts, len(self.body)]
        return [self.body[a:b] for a, b in itertools.pairwise(points) if b > a]


class MockBehavior(msgspec.Struct, frozen=True, kw_only=True):
    """Knobs for one reply. ``None`` means "not set here": the next layer down decides."""

    ttft_ms: int | None = None
    """Delay before the first event (or before a non-streamed body)."""
    delay_ms: int | None = None
    """Delay between events."""
    output_tokens: int | None = None
    """Number of text pieces in the reply."""
    reasoning: bool | None = None
    """Add a reasoning block (default: when the request asks for reasoning)."""
    tool_calls: int | None = None
    """Number of tool calls (default: one when the request offers tools)."""
    status: int | None = None
    """Answer with this HTTP status and the API's error body instead of a reply."""
    error_message: str | None = None
    retry_after: str | None = None
    """``Retry-After`` header value sent with ``status``."""
    retry_after_ms: int | None = None
    should_retry: bool | None = None
    """``x-should-retry`` header sent with ``status``."""
    reset_after: int | None = None
    """Drop the connection after this many events."""
    stall_after: int | None = None
    """Stop sending (without closing) after this many events."""
    malformed: Literal["json", "sse"] | None = None
    """Send an event whose JSON (or SSE framing) is broken, after the first event."""
    replay: Replay | None = None
    """Serve these bytes instead of a scripted reply."""
    socket_refuse: int | None = None
    """WebSocket: answer the upgrade with this HTTP status (and an error body) instead."""
    socket_close: bool | None = None
    """WebSocket: accept the upgrade, then close at once (1008, a policy rejection)."""
    socket_delay_ms: int | None = None
    """WebSocket: hold the handshake this long before answering it."""
    previous_not_found: bool | None = None
    """WebSocket: answer the turn with ``previous_response_not_found``."""

    @property
    def for_handshake(self) -> bool:
        """Whether this behaviour acts on a WebSocket handshake (taken by the next one)."""
        return (
            self.socket_refuse is not None
            or self.socket_close is not None
            or self.socket_delay_ms is not None
        )

    def over(self, base: MockBehavior) -> MockBehavior:
        """This behaviour's set knobs on top of ``base``'s."""
        merged = {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not None
        }
        return msgspec.structs.replace(base, **merged) if merged else base


_INT_KNOBS = {
    "ttft-ms": "ttft_ms",
    "delay-ms": "delay_ms",
    "output-tokens": "output_tokens",
    "tool-calls": "tool_calls",
    "status": "status",
    "retry-after-ms": "retry_after_ms",
    "reset-after": "reset_after",
    "stall-after": "stall_after",
    "socket-refuse": "socket_refuse",
    "socket-delay-ms": "socket_delay_ms",
}


def from_headers(headers: Mapping[str, str]) -> MockBehavior:
    """The knobs a request sets with ``x-mock-<knob>`` headers; unknown or bad values are 400s.

    Raises ``ValueError`` naming the header, so the mock can answer with a clear 400.
    """
    values: dict[str, object] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if not lowered.startswith(HEADER_PREFIX):
            continue
        knob = lowered[len(HEADER_PREFIX) :]
        if knob in _INT_KNOBS:
            try:
                values[_INT_KNOBS[knob]] = int(value)
            except ValueError:
                raise ValueError(f"{name}: expected an integer, got {value!r}") from None
        elif knob in ("reasoning", "should-retry", "socket-close", "previous-not-found"):
            if value.lower() not in ("true", "false"):
                raise ValueError(f"{name}: expected true or false, got {value!r}")
            values[knob.replace("-", "_")] = value.lower() == "true"
        elif knob == "retry-after":
            values["retry_after"] = value
        elif knob == "error-message":
            values["error_message"] = value
        elif knob == "malformed":
            if value not in ("json", "sse"):
                raise ValueError(f"{name}: expected json or sse, got {value!r}")
            values["malformed"] = value
        else:
            raise ValueError(f"{name}: unknown mock knob")
    return msgspec.convert(values, MockBehavior)


class Jitter(msgspec.Struct, frozen=True, kw_only=True):
    """How much the server's default ``ttft_ms`` and ``delay_ms`` vary from request to request.

    Each request the server answers draws one factor per delay, log-normal with median 1 and
    shape ``*_sigma`` (0: no spread), capped at ``JITTER_CAP`` either way; ``delay_ms``'s factor
    holds for every gap of that reply, as a real reply streams at one pace. The draws come
    from one generator per server seeded with ``seed`` (``None``: unseeded), so the n-th
    request answered always gets the n-th pair of draws.
    """

    ttft_sigma: float = 0.0
    """Log-normal shape for ``ttft_ms``: 0.25 puts p90 at ~1.38 and p99 at ~1.79 times it."""
    delay_sigma: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("ttft_sigma", "delay_sigma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of at least 0, got {value}")

    @property
    def active(self) -> bool:
        return bool(self.ttft_sigma or self.delay_sigma)

    def spread(self, base: MockBehavior, rng: random.Random) -> MockBehavior:
        """``base`` with its delays multiplied by this request's draws. An unset delay still
        takes its draw, so which draw the n-th request gets depends on the seed and the
        sigmas alone, never on the knobs."""
        ttft = _factor(rng, self.ttft_sigma)
        delay = _factor(rng, self.delay_sigma)
        return msgspec.structs.replace(
            base,
            ttft_ms=None if base.ttft_ms is None else round(base.ttft_ms * ttft),
            delay_ms=None if base.delay_ms is None else round(base.delay_ms * delay),
        )


def _factor(rng: random.Random, sigma: float) -> float:
    if not sigma:
        return 1.0
    return min(max(rng.lognormvariate(0.0, sigma), 1 / JITTER_CAP), JITTER_CAP)
