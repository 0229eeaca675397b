"""Reading generator sources (a path or a URL) and writing catalog files.

Catalog files are written in one canonical form (msgspec's encoding, two-space indent,
trailing newline) so regenerating from the same sources reproduces them byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import msgspec

from .._atomic import write_atomically
from ..errors import CatalogError

__all__ = ["decode_overrides", "dump_catalog", "is_url", "read_source", "write_catalog"]

_T = TypeVar("_T")

FETCH_TIMEOUT_S = 30.0
USER_AGENT = "modelwire-catalog-generator"


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_source(
    source: str | Path, *, what: str, headers: Mapping[str, str] | None = None
) -> bytes:
    """The bytes of a local file or an HTTP(S) URL; any failure is a ``CatalogError``.

    ``what`` names the source in messages ("models.dev catalog"), so a failing run says
    which of its inputs failed and where it was looked for.
    """
    text = str(source)
    if not is_url(text):
        try:
            return Path(text).read_bytes()
        except OSError as exc:
            raise CatalogError(f"cannot read the {what} at {text}: {exc.strerror}") from exc
    import httpx

    try:
        response = httpx.get(
            text,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=FETCH_TIMEOUT_S,
            follow_redirects=True,
        )
    except httpx.HTTPError as exc:
        raise CatalogError(f"cannot fetch the {what} from {text}: {exc}") from exc
    if response.status_code != 200:
        raise CatalogError(f"cannot fetch the {what} from {text}: HTTP {response.status_code}")
    return response.content


def decode_overrides(path: Path, kind: type[_T]) -> _T:
    """Decode a generator's overrides file; a malformed one names the file and JSON path."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except OSError as exc:
        raise CatalogError(f"cannot read overrides {path}: {exc.strerror}") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"overrides {path} are invalid: {exc}") from exc


def dump_catalog(catalog: msgspec.Struct) -> bytes:
    """The canonical bytes of a catalog file."""
    return msgspec.json.format(msgspec.json.encode(catalog), indent=2) + b"\n"


def write_catalog(path: Path, catalog: msgspec.Struct) -> int:
    """Write ``catalog`` to ``path`` atomically; returns the number of bytes written."""
    data = dump_catalog(catalog)
    write_atomically(path, data, mode=0o644, durable=False)
    return len(data)
