"""Open-loop schedules: the arrival statistics each shape promises, ramps that end where they
should, traces replayed on their own offsets, and the same send times for the same seed."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import pytest

from modelwire.bench._schedule import LoadShape, Slot, build_schedule, offered_rate, read_trace
from modelwire.bench._schema import BenchError

N = 20_000


def gaps(slots: list[Slot]) -> list[float]:
    return [b.offset_s - a.offset_s for a, b in itertools.pairwise(slots)]


def cv(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


@pytest.mark.parametrize(
    ("arrival", "burstiness", "expected_cv"),
    [("constant", 1.0, 0.0), ("poisson", 1.0, 1.0), ("gamma", 0.25, 2.0), ("gamma", 4.0, 0.5)],
)
def test_each_arrival_shape_has_its_mean_rate_and_its_spread(
    arrival: str, burstiness: float, expected_cv: float
) -> None:
    shape = LoadShape(rate=50.0, arrival=arrival, burstiness=burstiness, seed=7)  # type: ignore[arg-type]
    slots = build_schedule(shape, count=N)
    assert len(slots) == N
    assert slots[0].offset_s == 0.0
    between = gaps(slots)
    # With 20,000 gaps the sample mean's relative error is about CV/sqrt(N): 1.4 % at CV 2.
    assert statistics.fmean(between) == pytest.approx(
        1 / 50.0, rel=5 * max(expected_cv, 0.01) / math.sqrt(N)
    )
    assert cv(between) == pytest.approx(expected_cv, abs=0.05)


def test_the_same_seed_gives_the_same_send_times_and_another_seed_others() -> None:
    shape = LoadShape(rate=10.0, arrival="gamma", burstiness=0.5, seed=42)
    first = build_schedule(shape, count=100)
    assert build_schedule(shape, count=100) == first
    other = build_schedule(
        LoadShape(rate=10.0, arrival="gamma", burstiness=0.5, seed=43), count=100
    )
    assert other != first


def test_a_duration_bounds_the_schedule_to_the_requests_that_fall_within_it() -> None:
    slots = build_schedule(LoadShape(rate=20.0, arrival="constant"), duration_s=2.0)
    assert len(slots) == 40
    assert slots[-1].offset_s < 2.0


def cumulative(ramp: str, start: float, end: float, span: float, t: float) -> float:
    """Λ(t): the requests a ramp has offered by ``t``."""
    if ramp == "linear":
        return start * t + (end - start) / span * t * t / 2
    q = end / start
    return start * span / math.log(q) * (q ** (t / span) - 1)


@pytest.mark.parametrize("ramp", ["linear", "exponential"])
@pytest.mark.parametrize(("start", "end"), [(10.0, 100.0), (100.0, 10.0)])
def test_a_ramp_offers_what_its_rate_curve_integrates_to(
    ramp: str, start: float, end: float
) -> None:
    shape = LoadShape(rate=start, ramp_to=end, ramp=ramp, arrival="constant")  # type: ignore[arg-type]
    slots = build_schedule(shape, duration_s=20.0)
    offsets = [slot.offset_s for slot in slots]

    def offered(a: float, b: float) -> float:
        return cumulative(ramp, start, end, 20.0, b) - cumulative(ramp, start, end, 20.0, a)

    # Constant arrivals put the k-th request where Λ reaches k: a window holds what Λ
    # grows by over it, give or take the one request cut at each edge.
    for a, b in ((0.0, 1.0), (9.5, 10.5), (19.0, 20.0)):
        assert sum(1 for o in offsets if a <= o < b) == pytest.approx(offered(a, b), abs=1.0)
    assert len(slots) == pytest.approx(offered(0.0, 20.0), abs=1.0)


def test_a_ramp_needs_a_duration_and_a_schedule_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="duration"):
        build_schedule(LoadShape(rate=1.0, ramp_to=2.0), count=10)
    with pytest.raises(ValueError, match="count or a duration"):
        build_schedule(LoadShape(rate=1.0))


@pytest.mark.parametrize(
    "fields",
    [{"rate": 0}, {"rate": math.inf}, {"rate": 1, "burstiness": 0}, {"rate": 1, "ramp_to": -1}],
)
def test_impossible_shapes_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LoadShape(**fields)  # type: ignore[arg-type]


def test_a_trace_is_replayed_on_its_own_offsets_in_order(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        '{"offset_s": 0.5, "prompt": "second"}\n'
        "\n"
        '{"offset_s": 0.0, "prompt_tokens": 30, "max_tokens": 5, "note": "ignored"}\n'
        '{"offset_s": 2.25}\n'
    )
    slots = read_trace(trace)
    assert [slot.offset_s for slot in slots] == [0.0, 0.5, 2.25]
    assert slots[0] == Slot(offset_s=0.0, prompt_tokens=30, max_tokens=5)
    assert slots[1].prompt == "second"
    assert read_trace(trace, limit=2) == slots[:2]
    assert offered_rate(slots) == pytest.approx(2 / 2.25)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "not a trace line"),
        ('{"prompt": "x"}', "not a trace line"),
        ('{"offset_s": -1}', "at least 0"),
        ('{"offset_s": 0, "prompt": "a", "prompt_tokens": 3}', "not both"),
        ('{"offset_s": 0, "max_tokens": 0}', "max_tokens must be at least 1"),
    ],
)
def test_a_bad_trace_line_is_named(tmp_path: Path, line: str, why: str) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"offset_s": 0}\n' + line + "\n")
    with pytest.raises(BenchError, match=f"trace.jsonl:2: .*{why}"):
        read_trace(trace)


def test_an_empty_or_missing_trace_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(BenchError, match="no requests"):
        read_trace(tmp_path / "empty.jsonl")
    with pytest.raises(BenchError, match="cannot read"):
        read_trace(tmp_path / "absent.jsonl")
