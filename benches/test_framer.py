"""Framing a huge event that trickles in: linear in its size, whatever the read size.

Data: one chat chunk whose content is just under the default 8 MiB event cap, as a single
``data:`` line, cut into 1 KiB reads (8,192 reads). Compared in one run, sides interleaved
(``_ratio.ratio``, medians):

- ``modelwire.wire.decode`` (the payload framer, the typed decode of the 8 MiB JSON and the
  common events) against ``SSEDecoder`` alone framing the same reads (issue 12: the payload
  framer was quadratic here, 2.3 s against 10.8 ms); gate at most 3x.
- linearity: the payload framer's cost per byte on the 8 MiB line against its cost per byte on
  a 1 MiB line in the same reads; a framer that recopies its buffer per read would be ~8x, a
  linear one ~1x plus cache effects (an 8 MiB buffer leaves the CPU's caches, a 1 MiB one
  mostly does not: ~1.45x measured, fast and full mode alike); gate at most 2.0x, which still
  catches any per-read recopying.
"""

from __future__ import annotations

from collections.abc import Callable

from modelwire.wire import Completed, PayloadFramer, SSEDecoder, TextDelta, decode

from _ratio import FAST, ratio

READ = 1024
DECODE_GATE = 3.0
LINEAR_GATE = 2.0
HEAD = b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"'
TAIL = b'"},"finish_reason":null}]}\n\n'
END = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def _line(size: int) -> bytes:
    """A chat chunk of ``size`` bytes (one ``data:`` line and its blank line), then the end."""
    return HEAD + b"x" * (size - len(HEAD) - len(TAIL)) + TAIL + END


def _reads(body: bytes) -> list[bytes]:
    return [body[i : i + READ] for i in range(0, len(body), READ)]


def _framing(
    cls: type[SSEDecoder] | type[PayloadFramer], chunks: list[bytes]
) -> Callable[[], object]:
    def run() -> None:
        framer = cls()
        for chunk in chunks:
            framer.feed(chunk)

    return run


def test_an_eight_mebibyte_line_in_kilobyte_reads_decodes_within_three_times_the_sse_decoder() -> (
    None
):
    size = 8 * 1024 * 1024 - 64
    chunks = _reads(_line(size))
    events = list(decode("chat", chunks))
    assert isinstance(events[-1], Completed), events[-1]
    text = sum(len(e.text) for e in events if isinstance(e, TextDelta))
    assert text == size - len(HEAD) - len(TAIL)

    def ours() -> None:
        for _ in decode("chat", chunks):
            pass

    mine, framing, cost = ratio(
        ours, _framing(SSEDecoder, chunks), number=1, repeats=5 if FAST else 15
    )
    print(
        f"\n8 MiB line in {len(chunks):,} reads of {READ} B: wire.decode {mine * 1e3:.1f} ms, "
        f"SSEDecoder {framing * 1e3:.1f} ms (x{cost:.2f}; gate {DECODE_GATE})"
    )
    assert cost <= DECODE_GATE


def test_the_payload_framer_costs_the_same_per_byte_on_a_line_eight_times_longer() -> None:
    small, large = _reads(_line(1024 * 1024)), _reads(_line(8 * 1024 * 1024 - 64))
    big, little, cost = ratio(
        _framing(PayloadFramer, large),
        _framing(PayloadFramer, small),
        number=1,
        repeats=5 if FAST else 15,
    )
    per_byte = cost * len(small) / len(large)
    print(
        f"\npayload framer, {READ} B reads: 8 MiB line {big * 1e3:.1f} ms, 1 MiB line "
        f"{little * 1e3:.1f} ms; per byte x{per_byte:.2f} (gate {LINEAR_GATE})"
    )
    assert per_byte <= LINEAR_GATE
