"""Ratio gates: time two callables in one run, interleaved, and compare their medians.

Absolute times mean nothing across shared, noisy machines; a ratio measured in the same
process, with the two sides interleaved so drift hits both, does. ``MODELWIRE_BENCH_FAST=1``
(set by ``.ci/run``) trades precision for a run of seconds.
"""

from __future__ import annotations

import gc
import os
import statistics
import timeit
from collections.abc import Callable

FAST = os.environ.get("MODELWIRE_BENCH_FAST", "") not in ("", "0")


def per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn``, over ``number`` calls with the collector paused."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return timeit.timeit(fn, number=number) / number
    finally:
        if was_enabled:
            gc.enable()


def ratio(
    numerator: Callable[[], object],
    denominator: Callable[[], object],
    *,
    number: int,
    repeats: int | None = None,
) -> tuple[float, float, float]:
    """(median numerator, median denominator, their ratio), sides interleaved per repeat."""
    repeats = repeats if repeats is not None else (7 if FAST else 25)
    tops: list[float] = []
    bottoms: list[float] = []
    for _ in range(repeats):
        tops.append(per_call(numerator, number))
        bottoms.append(per_call(denominator, number))
    top, bottom = statistics.median(tops), statistics.median(bottoms)
    return top, bottom, top / bottom
