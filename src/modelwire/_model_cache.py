"""The model picker's cache: each provider's last good endpoint answer, with its age.

What is kept is the endpoint's raw listing (ids and display names), not the merged list, so a
newer bundled catalog still applies to a cached answer. Only endpoint answers are kept: a
catalog-seeded list costs nothing to rebuild, and caching one would hide a key that was set a
minute later. An entry also remembers the base URL it came from, so pointing a provider
somewhere else never serves the old endpoint's models.

In memory by default. With a ``path`` the entries also live in a JSON file, so that one
``modelwire models`` run can reuse another's answer and ``--refresh`` means something. The
file is only a cache: an unreadable or corrupt one counts as empty, and a failed write loses
nothing but time, so neither is ever an error.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio.to_thread
import msgspec

from ._atomic import write_atomically
from .wire.listing import ListedModel

__all__ = ["DEFAULT_TTL_S", "CachedListing", "ModelCache"]

DEFAULT_TTL_S = 300.0
"""Five minutes: long enough that a picker opened repeatedly in one session asks once, short
enough that a model a provider just launched shows up without anyone asking for a refresh."""

_FILE_VERSION = 1


class CachedListing(msgspec.Struct, frozen=True, kw_only=True):
    """One provider's endpoint answer and when it came (``clock`` seconds)."""

    base_url: str
    fetched_at: float
    models: tuple[ListedModel, ...]


class _CacheFile(msgspec.Struct, kw_only=True):
    version: int = _FILE_VERSION
    entries: dict[str, CachedListing] = msgspec.field(default_factory=dict)


class ModelCache:
    """Per-provider endpoint answers with a time to live.

    ``clock`` is wall-clock seconds (``time.time`` by default) because a file-backed entry must
    keep its age across processes; tests pass a fake one.
    """

    def __init__(
        self,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
        path: Path | None = None,
    ) -> None:
        if ttl_s < 0:
            raise ValueError(f"ttl_s must be at least 0, got {ttl_s}")
        self.ttl_s = ttl_s
        self.clock = clock
        self.path = path
        self._entries: dict[str, CachedListing] = {}
        self._loaded = path is None

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return f"ModelCache(ttl_s={self.ttl_s:g}{where})"

    def is_fresh(self, entry: CachedListing) -> bool:
        """Whether ``entry`` is younger than the TTL (an entry from the future is not)."""
        return 0 <= self.clock() - entry.fetched_at < self.ttl_s

    def age_s(self, entry: CachedListing) -> float:
        return max(0.0, self.clock() - entry.fetched_at)

    async def lookup(self, provider_id: str, base_url: str) -> CachedListing | None:
        """The last good answer from ``provider_id`` at ``base_url``, however old."""
        if not self._loaded:
            assert self.path is not None
            self._entries.update(await anyio.to_thread.run_sync(_read, self.path))
            self._loaded = True
        entry = self._entries.get(provider_id)
        return entry if entry is not None and entry.base_url == base_url else None

    async def store(
        self, provider_id: str, base_url: str, models: Sequence[ListedModel]
    ) -> CachedListing:
        """Remember a fresh answer (and write it through to the file, if there is one)."""
        entry = CachedListing(base_url=base_url, fetched_at=self.clock(), models=tuple(models))
        self._entries[provider_id] = entry
        if self.path is not None:
            await anyio.to_thread.run_sync(_write_entry, self.path, provider_id, entry)
        return entry

    def forget(self, provider_id: str | None = None) -> None:
        """Drop one provider's entry from memory (or every entry); the file is left as is."""
        if provider_id is None:
            self._entries.clear()
        else:
            self._entries.pop(provider_id, None)


def _read(path: Path) -> dict[str, CachedListing]:
    try:
        data = msgspec.json.decode(path.read_bytes(), type=_CacheFile)
    except (OSError, msgspec.DecodeError, UnicodeDecodeError):
        return {}
    return data.entries if data.version == _FILE_VERSION else {}


def _write_entry(path: Path, provider_id: str, entry: CachedListing) -> None:
    """Merge one entry into the file, re-reading it first so that another process's entries
    for other providers survive; atomic (temp file, then ``os.replace``)."""
    entries = _read(path)
    entries[provider_id] = entry
    body = msgspec.json.encode(_CacheFile(entries=entries))
    with contextlib.suppress(OSError):
        write_atomically(path, body, mode=0o600, durable=False)
