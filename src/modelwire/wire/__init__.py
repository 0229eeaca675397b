"""The wire layer: SSE framing now; the three codecs and the common event model build on it."""

from .sse import DEFAULT_MAX_LINE_BYTES, SSEDecoder, SSEEvent, aiter_sse, iter_sse

__all__ = ["DEFAULT_MAX_LINE_BYTES", "SSEDecoder", "SSEEvent", "aiter_sse", "iter_sse"]
