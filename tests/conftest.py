"""Fixtures shared across the suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_capture import Otel

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared() -> Path:
    """The project's ``../shared`` folder (source data, seed, spec), or a skip when absent.

    A fresh clone stands alone; CI and the developers' machines have ``../shared`` beside it.
    """
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED} is absent: regeneration and seed checks need ../shared/data")
    return SHARED


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Async tests run on both event loops modelwire supports."""
    return str(request.param)


@pytest.fixture
def otel() -> Iterator[Otel]:
    """An in-memory OpenTelemetry SDK to hand to ``Client(tracer_provider=…, meter_provider=…)``."""
    otel = Otel()
    yield otel
    otel.shutdown()
