"""Replacing a file so that readers see the old contents or the new, never half of either.

Config, catalogs, the sign-in state and the model cache are all rewritten in place while other
processes may read them, and a crash mid-write must not lose the old file: the bytes go to a
temp file in the same directory (same filesystem, so the rename is atomic), which then replaces
the target. ``durable`` adds the fsyncs that make the new contents survive a power loss.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(
    path: Path, data: bytes, *, mode: int, durable: bool, dir_mode: int = 0o777
) -> None:
    """Replace ``path`` with ``data`` (file mode ``mode``), creating missing parents with
    ``dir_mode``. On failure the temp file is removed and the old file is untouched."""
    path.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        Path(temp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise
    if durable:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; platforms that cannot open a directory skip it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
