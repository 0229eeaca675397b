"""Latency sketches: quantiles within their relative accuracy of the exact ones, merges that
lose nothing, and the exact count, extremes and mean beside them."""

from __future__ import annotations

import random

import pytest

from modelwire.bench._sketch import RELATIVE_ACCURACY, LatencySketch
from modelwire.bench._stats import percentile, stats_of


def samples(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(3.0, 1.2) for _ in range(count)]


@pytest.mark.parametrize("q", [0.01, 0.25, 0.5, 0.9, 0.99, 0.999])
def test_a_quantile_is_within_the_relative_accuracy_of_the_exact_one(q: float) -> None:
    values = samples(1, 50_000)
    sketch = LatencySketch(values)
    exact = percentile(sorted(values), q)
    # The sketch answers a bin's representative: within the accuracy of a sample at the
    # quantile's rank, which the linear interpolation of closest ranks stays between.
    assert sketch.quantile(q) == pytest.approx(exact, rel=RELATIVE_ACCURACY * 2)


def test_merging_sketches_is_sketching_the_union() -> None:
    parts = [samples(seed, 10_000) for seed in range(4)]
    merged = LatencySketch()
    for part in parts:
        merged.merge(LatencySketch(part))
    whole = LatencySketch(value for part in parts for value in part)
    for q in (0.5, 0.9, 0.99):
        assert merged.quantile(q) == pytest.approx(whole.quantile(q), rel=1e-12)
    assert merged.count == whole.count == 40_000


def test_count_extremes_and_mean_are_exact() -> None:
    values = [0.0, 1.5, 2.5, 100.0]
    stats = LatencySketch(values).stats()
    exact = stats_of(values)
    assert stats is not None
    assert exact is not None
    assert (stats.count, stats.min, stats.max, stats.mean) == (
        exact.count,
        exact.min,
        exact.max,
        exact.mean,
    )
    assert LatencySketch().stats() is None
    with pytest.raises(ValueError, match="no values"):
        LatencySketch().quantile(0.5)


def test_a_merge_of_an_empty_sketch_changes_nothing() -> None:
    sketch = LatencySketch([3.0, 4.0])
    sketch.merge(LatencySketch())
    assert sketch.count == 2
    assert sketch.quantile(0.0) == 3.0
    assert sketch.quantile(1.0) == 4.0
