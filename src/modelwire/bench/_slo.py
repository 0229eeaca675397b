"""Service-level objectives and goodput: how much of the throughput a caller could use.

Throughput counts every successful request; goodput counts only those that met every
objective, because a reply whose first token came after the user gave up served nobody. A
request meets the SLO when it succeeded and, for each objective given:

* its TTFT is at most ``ttft_ms``;
* the mean of its inter-token gaps is at most ``itl_ms`` (the first token is not a gap, so a
  slow start does not count twice);
* its E2E is at most ``e2e_ms``.

In an open loop each latency counts from the request's *scheduled* send time (the caller's
view: a request that waited for a slot, or behind a late generator, waited for the caller too);
in a closed loop, from its actual start. ``percentile`` says which percentile of each latency
must be within its objective for the target to *attain* the SLO as a whole (``p=0.99``).

Spec: ``ttft=500ms,itl=50ms,e2e=10s,p=0.99`` — any subset of the three objectives, each in
``ms`` or ``s`` (a bare number is milliseconds), and an optional ``p`` in (0, 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from ._stats import percentile

if TYPE_CHECKING:
    from ._schema import RequestRecord

__all__ = ["Slo", "attained", "meets", "parse_slo"]

_PART = re.compile(r"^\s*(ttft|itl|e2e|p)\s*=\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*$")


class Slo(msgspec.Struct, frozen=True, kw_only=True):
    """Objectives in milliseconds (``None``: not an objective) and the attainment percentile."""

    ttft_ms: float | None = None
    itl_ms: float | None = None
    e2e_ms: float | None = None
    percentile: float = 0.99

    def __post_init__(self) -> None:
        if self.ttft_ms is None and self.itl_ms is None and self.e2e_ms is None:
            raise ValueError("an SLO needs at least one of ttft, itl, e2e")
        for name in ("ttft_ms", "itl_ms", "e2e_ms"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of milliseconds")
        if not 0 < self.percentile < 1:
            raise ValueError(f"p must be between 0 and 1, got {self.percentile}")

    def describe(self) -> str:
        parts = [
            f"{name}≤{value:g}ms"
            for name, value in (("ttft", self.ttft_ms), ("itl", self.itl_ms), ("e2e", self.e2e_ms))
            if value is not None
        ]
        return ", ".join(parts) + f" at p{self.percentile * 100:g}"


def parse_slo(text: str) -> Slo:
    """An SLO from its spec (see the module docstring); ``ValueError`` names what is wrong."""
    values: dict[str, float] = {}
    seen: set[str] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        found = _PART.match(part)
        if found is None:
            raise ValueError(
                f"{part.strip()!r} is not NAME=VALUE with NAME ttft, itl, e2e or p "
                "(e.g. ttft=500ms,itl=50ms,e2e=10s,p=0.99)"
            )
        name, number, unit = found.groups()
        if name in seen:
            raise ValueError(f"{name} is given twice")
        seen.add(name)
        value = float(number)
        if name == "p":
            if unit is not None:
                raise ValueError("p is a fraction, without a unit (p=0.99)")
            values["percentile"] = value
        else:
            values[f"{name}_ms"] = value * 1000 if unit == "s" else value
    return Slo(**values)


def meets(record: RequestRecord, slo: Slo) -> bool:
    """Whether one request met every objective (see the module docstring)."""
    if record.error is not None:
        return False
    late = record.lag_ms or 0.0
    if slo.ttft_ms is not None and (record.ttft_ms is None or record.ttft_ms + late > slo.ttft_ms):
        return False
    gaps = record.itl_ms
    if slo.itl_ms is not None and gaps and sum(gaps) / len(gaps) > slo.itl_ms:
        return False
    return slo.e2e_ms is None or record.e2e_ms + late <= slo.e2e_ms


def attained(records: Sequence[RequestRecord], slo: Slo) -> bool | None:
    """Whether the target as a whole met the SLO: over its successful requests, the
    ``slo.percentile`` of each latency with an objective is within it (``None`` when no
    request succeeded)."""
    ok = [record for record in records if record.error is None]
    if not ok:
        return None
    checks: list[tuple[float, list[float]]] = []
    if slo.ttft_ms is not None:
        late = [(r.ttft_ms + (r.lag_ms or 0.0)) for r in ok if r.ttft_ms is not None]
        if len(late) < len(ok):
            return False
        checks.append((slo.ttft_ms, late))
    if slo.itl_ms is not None:
        means = [sum(r.itl_ms) / len(r.itl_ms) for r in ok if r.itl_ms]
        if means:
            checks.append((slo.itl_ms, means))
    if slo.e2e_ms is not None:
        checks.append((slo.e2e_ms, [r.e2e_ms + (r.lag_ms or 0.0) for r in ok]))
    return all(percentile(sorted(values), slo.percentile) <= limit for limit, values in checks)
