"""The mock provider in its own process, for benches that measure client CPU.

``MockServer`` runs ``python -m modelwire mock --port 0`` in a child process, so the bench
process holds only clients and its CPU time is theirs alone.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from types import TracebackType
from typing import Self

__all__ = ["MockServer"]

_STOP_TIMEOUT_S = 30.0


class MockServer:
    """``modelwire mock --port 0`` in a child process; ``with`` it, then use ``url``."""

    def __init__(self) -> None:
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        command = [sys.executable, "-m", "modelwire", "mock", "--port", "0"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self._process = process
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("listening on http://"):
            self._stop()
            raise RuntimeError(f"the mock did not start: {line!r}")
        self.url = line.removeprefix("listening on ")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
