"""Order statistics for the benchmark: one percentile method, stated, so runs compare.

Tools disagree on what "p99 of 20 samples" is (nearest rank, the five interpolating methods
of Hyndman & Fan…), and a comparison across runs or tools is only fair with the same one. The
benchmark uses linear interpolation between closest ranks (Hyndman & Fan type 7, the default of
NumPy, R and spreadsheet ``PERCENTILE.INC``): for sorted values ``x[0..n-1]`` the ``q``-th
quantile sits at rank ``h = (n - 1) * q`` and is ``x[⌊h⌋] + (h - ⌊h⌋) * (x[⌊h⌋+1] - x[⌊h⌋])``.
It never reports a value outside the observed range, and with one sample every percentile is
that sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

__all__ = ["PERCENTILE_METHOD", "QUANTILE_GRID", "Stats", "percentile", "quantiles_of", "stats_of"]

PERCENTILE_METHOD = "linear"
"""Recorded in every result file (``settings.percentile_method``) so a reader knows."""

QUANTILE_GRID = (0.0, *(step / 100 for step in range(1, 100)), 0.999, 1.0)
"""Where a result samples each distribution for its ECDF: the minimum, every percent, p99.9
and the maximum (102 points: a curve at any plotted size, in a few KB per target)."""


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """The distribution of one latency over the successful requests of a target (ms)."""

    count: int
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    mean: float


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 ≤ q ≤ 1) of already *sorted* values, by linear interpolation."""
    if not ordered:
        raise ValueError("no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within [0, 1], got {q}")
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def stats_of(values: Sequence[float], *, digits: int = 3) -> Stats | None:
    """Summary statistics, rounded to ``digits`` decimals (µs for ms values); ``None`` when
    there is nothing to summarize, so an all-failed target shows "no data" instead of zeros."""
    if not values:
        return None
    ordered = sorted(values)
    return Stats(
        count=len(ordered),
        min=round(ordered[0], digits),
        p50=round(percentile(ordered, 0.50), digits),
        p90=round(percentile(ordered, 0.90), digits),
        p99=round(percentile(ordered, 0.99), digits),
        max=round(ordered[-1], digits),
        mean=round(math.fsum(ordered) / len(ordered), digits),
    )


def quantiles_of(ordered: Sequence[float], *, digits: int = 3) -> list[float]:
    """The already *sorted* values at every quantile of ``QUANTILE_GRID``; empty for none."""
    if not ordered:
        return []
    return [round(percentile(ordered, q), digits) for q in QUANTILE_GRID]
