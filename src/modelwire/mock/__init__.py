"""The embedded mock provider: all three wire APIs on loopback, with every failure on demand.

``async with MockProvider() as mock:`` (or ``with``) starts a real HTTP server on
``127.0.0.1``; point a provider's ``base_url`` at ``mock.url("/v1")`` (OpenAI-style) or
``mock.base_url`` (Anthropic-style). Replies are scripted from the request — an echo of the
last user message, reasoning when asked for, tool calls when tools are offered — and
``MockBehavior`` knobs (per server, queued per request, or ``x-mock-*`` headers) add delays,
HTTP errors, resets, stalls and malformed bytes; ``Jitter`` spreads the server's default delays
per request (seeded log-normal draws) for realistic latency tails. ``modelwire mock`` runs the
same server (``--ttft-ms``, ``--delay-ms``, ``--output-tokens``, ``--ttft-jitter``,
``--delay-jitter``, ``--seed`` set its defaults).
"""

from ._behavior import Jitter, MockBehavior, Replay
from ._server import MockProvider

__all__ = ["Jitter", "MockBehavior", "MockProvider", "Replay"]
