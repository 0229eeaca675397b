"""Mergeable latency distributions: what workers send back instead of every sample.

A worker process of a large run cannot ship a list of every latency to its parent (10⁶
requests, five latencies each, is tens of MB, and the parent's sort is the slow part). Each
distribution is a DDSketch instead (``ddsketch``, DataDog's maintained implementation): its
bins are logarithmic, so every quantile it answers is within ``RELATIVE_ACCURACY`` of the exact
one, whatever the distribution and however many sketches were merged, in a few KB. Minimum,
maximum, count and mean are kept exactly beside it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ddsketch import DDSketch

from ._stats import QUANTILE_GRID, Stats

__all__ = ["RELATIVE_ACCURACY", "LatencySketch"]

RELATIVE_ACCURACY = 0.005
"""Every quantile within 0.5 % of the exact value (the issue asks for 1 %)."""


class LatencySketch:
    """Latencies (ms, at least 0) added one by one or merged from other sketches."""

    __slots__ = ("_max", "_min", "_sketch", "_total", "count")

    def __init__(self, values: Iterable[float] = ()) -> None:
        self._sketch = DDSketch(relative_accuracy=RELATIVE_ACCURACY)
        self._min = math.inf
        self._max = -math.inf
        self._total = 0.0
        self.count = 0
        for value in values:
            self.add(value)

    def add(self, value: float) -> None:
        value = max(0.0, value)
        self._sketch.add(value)
        self.count += 1
        self._total += value
        if value < self._min:
            self._min = value
        if value > self._max:
            self._max = value

    def merge(self, other: LatencySketch) -> None:
        if not other.count:
            return
        self._sketch.merge(other._sketch)
        self.count += other.count
        self._total += other._total
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def quantile(self, q: float) -> float:
        if not self.count:
            raise ValueError("no values")
        if q <= 0:
            return self._min
        if q >= 1:
            return self._max
        found = self._sketch.get_quantile_value(q)
        if found is None:  # only for an empty sketch, which ``count`` rules out
            raise ValueError("no values")
        # The sketch's bins straddle the extremes; the exact ones bound it.
        return min(max(float(found), self._min), self._max)

    def stats(self, *, digits: int = 3) -> Stats | None:
        """The same summary ``stats_of`` gives for exact samples (quantiles within
        ``RELATIVE_ACCURACY``; count, min, max and mean exact)."""
        if not self.count:
            return None
        return Stats(
            count=self.count,
            min=round(self._min, digits),
            p50=round(self.quantile(0.50), digits),
            p90=round(self.quantile(0.90), digits),
            p99=round(self.quantile(0.99), digits),
            max=round(self._max, digits),
            mean=round(self._total / self.count, digits),
        )

    def quantiles(self, *, digits: int = 3) -> list[float]:
        """The distribution at every quantile of ``QUANTILE_GRID`` (``quantiles_of``'s
        figures, within ``RELATIVE_ACCURACY``); empty for no values."""
        if not self.count:
            return []
        return [round(self.quantile(q), digits) for q in QUANTILE_GRID]
