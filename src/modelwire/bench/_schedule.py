"""When each request of an open-loop run is sent: the data path's first step.

A closed loop (C workers, each sending when its last request ended) lets a slow provider slow
the generator, so queueing never shows in the latencies ("coordinated omission"). An open loop
fixes every send time in advance, from the offered rate alone, and a request is measured from
its *scheduled* time as well as from when it actually went out, so a provider (or a generator)
that falls behind shows as latency and as lag instead of hiding.

Inter-arrival gaps, for a rate ``r``:

* ``constant``: exactly ``1/r``;
* ``poisson``: exponential with mean ``1/r`` (coefficient of variation 1);
* ``gamma``: gamma with shape ``burstiness`` and mean ``1/r`` (CV ``1/sqrt(burstiness)``:
  below 1 burstier than Poisson, above 1 smoother; 1 is Poisson).

A ramp moves the rate from ``rate`` to ``ramp_to`` over the run's duration, linearly or
exponentially: the gaps are drawn for a unit rate and mapped through the inverse of the
cumulative rate (time rescaling), so the arrival shape holds at every point of the ramp. A
trace (JSONL: ``{"offset_s", "prompt" | "prompt_tokens", "max_tokens"}``) is replayed on its own
offsets. Every schedule is seeded (``random.Random(seed)``): the same settings give the same
send times, to the nanosecond, on any machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import msgspec

from ._schema import BenchError, Schedule, Settings, schedule_digest

__all__ = [
    "ARRIVALS",
    "RAMPS",
    "LoadShape",
    "Slot",
    "build_schedule",
    "offered_rate",
    "read_trace",
    "schedule_of",
]

ARRIVALS = ("constant", "poisson", "gamma")
RAMPS = ("linear", "exponential")
Arrival = Literal["constant", "poisson", "gamma"]
RampShape = Literal["linear", "exponential"]


class Slot(msgspec.Struct, frozen=True, kw_only=True):
    """One scheduled request: its send offset from the run's start, and what a trace line
    asks of it (``None``: the run's own prompt and limits)."""

    offset_s: float
    prompt: str | None = None
    prompt_tokens: int | None = None
    max_tokens: int | None = None


class LoadShape(msgspec.Struct, frozen=True, kw_only=True):
    """An open loop's offered load."""

    rate: float
    """Requests per second offered (at the start, when ramping)."""
    arrival: Arrival = "poisson"
    burstiness: float = 1.0
    """The gamma shape (``gamma`` arrivals only)."""
    ramp_to: float | None = None
    """The rate at the end of the run (needs a duration)."""
    ramp: RampShape = "linear"
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be a finite number above 0, got {self.rate}")
        if self.arrival not in ARRIVALS:
            raise ValueError(f"arrival must be one of {', '.join(ARRIVALS)}, got {self.arrival!r}")
        if not (math.isfinite(self.burstiness) and self.burstiness > 0):
            raise ValueError(f"burstiness must be a finite number above 0, got {self.burstiness}")
        if self.ramp_to is not None and not (math.isfinite(self.ramp_to) and self.ramp_to > 0):
            raise ValueError(f"ramp_to must be a finite number above 0, got {self.ramp_to}")
        if self.ramp not in RAMPS:
            raise ValueError(f"ramp must be one of {', '.join(RAMPS)}, got {self.ramp!r}")


def _unit_gap(shape: LoadShape, rng: random.Random) -> float:
    """One inter-arrival gap at rate 1."""
    if shape.arrival == "constant":
        return 1.0
    if shape.arrival == "poisson":
        return rng.expovariate(1.0)
    return rng.gammavariate(shape.burstiness, 1.0 / shape.burstiness)


def _time_at(shape: LoadShape, work: float, duration_s: float | None) -> float:
    """The time at which the cumulative rate reaches ``work`` (the inverse of Λ(t))."""
    start, end = shape.rate, shape.ramp_to
    if end is None or end == start or duration_s is None:
        return work / start
    if shape.ramp == "linear":
        # Λ(t) = r0 t + (r1 - r0) t² / 2T: the positive root of the quadratic.
        slope = (end - start) / duration_s
        disc = start * start + 2 * slope * work
        # A falling rate whose cumulative never reaches ``work`` within the ramp.
        return math.inf if disc < 0 else (2 * work) / (start + math.sqrt(disc))
    # Λ(t) = r0 T (q^(t/T) - 1) / ln q, with q = r1 / r0.
    log_q = math.log(end / start)
    inner = 1 + work * log_q / (start * duration_s)
    return math.inf if inner <= 0 else duration_s * math.log(inner) / log_q


def build_schedule(
    shape: LoadShape, *, count: int | None = None, duration_s: float | None = None
) -> list[Slot]:
    """The send offsets of ``count`` requests, or of every request that falls within
    ``duration_s`` (a ramp needs the duration: it spans it). Raises ``ValueError`` when
    neither bound is given, or for a ramp without a duration."""
    if count is None and duration_s is None:
        raise ValueError("an open-loop schedule needs a request count or a duration")
    if shape.ramp_to is not None and duration_s is None:
        raise ValueError("a ramp spans the run's duration: give a duration")
    rng = random.Random(shape.seed)
    slots: list[Slot] = []
    work = 0.0
    first = True
    while count is None or len(slots) < count:
        # The first request goes at once; every later one after its gap.
        if not first:
            work += _unit_gap(shape, rng)
        first = False
        offset = _time_at(shape, work, duration_s)
        if duration_s is not None and offset >= duration_s:
            break
        slots.append(Slot(offset_s=offset))
    return slots


class _TraceLine(msgspec.Struct, forbid_unknown_fields=False):
    offset_s: float
    prompt: str | None = None
    prompt_tokens: int | None = None
    max_tokens: int | None = None


_decode_line = msgspec.json.Decoder(_TraceLine).decode


def read_trace(path: Path, *, limit: int | None = None) -> list[Slot]:
    """A trace file's requests in send order (``limit``: the first that many). Each line is a
    JSON object with ``offset_s`` (seconds from the start, at least 0) and optionally
    ``prompt`` or ``prompt_tokens`` and ``max_tokens``; blank lines are skipped. Raises
    ``BenchError`` naming the line for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read the trace {path}: {exc}") from None
    slots: list[Slot] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = _decode_line(line)
        except msgspec.DecodeError as exc:
            raise BenchError(f"{path}:{number}: not a trace line ({exc})") from None
        problem = _trace_problem(entry)
        if problem is not None:
            raise BenchError(f"{path}:{number}: {problem}")
        slots.append(
            Slot(
                offset_s=entry.offset_s,
                prompt=entry.prompt,
                prompt_tokens=entry.prompt_tokens,
                max_tokens=entry.max_tokens,
            )
        )
    slots.sort(key=lambda slot: slot.offset_s)
    if not slots:
        raise BenchError(f"the trace {path} has no requests")
    return slots if limit is None else slots[:limit]


def _trace_problem(entry: _TraceLine) -> str | None:
    if not (math.isfinite(entry.offset_s) and entry.offset_s >= 0):
        return f"offset_s must be a finite number of seconds, at least 0, got {entry.offset_s}"
    if entry.prompt is not None and entry.prompt_tokens is not None:
        return "give prompt or prompt_tokens, not both"
    for name in ("prompt_tokens", "max_tokens"):
        value = getattr(entry, name)
        if value is not None and value < 1:
            return f"{name} must be at least 1, got {value}"
    return None


def offered_rate(slots: Sequence[Slot]) -> float | None:
    """Requests per second the schedule offers over its span (``None`` for one request)."""
    if len(slots) < 2:
        return None
    span = slots[-1].offset_s - slots[0].offset_s
    return None if span <= 0 else (len(slots) - 1) / span


def schedule_of(settings: Settings, slots: Sequence[Slot] | None) -> Schedule:
    """What a target's timed phase ran: an open loop's ``slots``, or the closed loop the
    settings describe (``slots`` ``None``)."""
    if slots is None:
        return Schedule(loop="closed", requests=settings.requests)
    rate = offered_rate(slots)
    return Schedule(
        loop="open",
        requests=len(slots),
        span_s=round(slots[-1].offset_s, 9) if slots else None,
        offered_rate=None if rate is None else round(rate, 3),
        digest=schedule_digest(
            [(s.offset_s, s.prompt, s.prompt_tokens, s.max_tokens) for s in slots]
        ),
    )
