"""``auth.json``: reading it typed, rewriting it without losing anything, locking it.

The file is shared: with other modelwire processes and, when ``MODELWIRE_AUTH_HOME`` points at
Codex's home, with Codex itself. So three rules hold here. Keys this module does not know are
carried over on every rewrite (a newer writer's fields survive an older reader). A rewrite is
atomic — temp file in the same directory, fsync, ``os.replace``, fsync of the directory — so a
crash at any point leaves either the old file or the new one, never half of one, and never a
file readable by other users (0600). And writers that read-modify-write hold
``auth.json.lock`` (``filelock``), so two processes refreshing at once cannot both spend the
same single-use refresh token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import filelock
import msgspec
import orjson

from .._atomic import write_atomically
from .._redact import MASK
from ..config import auth_home
from ..errors import AuthError

__all__ = [
    "AUTH_FILE_NAME",
    "LOCK_FILE_NAME",
    "AuthFile",
    "AuthRecord",
    "StoredTokens",
    "auth_file_lock",
    "auth_file_path",
    "format_timestamp",
    "locked_auth_file",
    "read_auth",
    "tokens_document",
    "write_auth",
]

AUTH_FILE_NAME = "auth.json"
LOCK_FILE_NAME = "auth.json.lock"
FILE_MODE = 0o600
DIR_MODE = 0o700


class StoredTokens(msgspec.Struct, kw_only=True, frozen=True):
    """The ChatGPT sign-in's ``tokens`` object."""

    access_token: str
    refresh_token: str
    id_token: str | None = None
    account_id: str | None = None

    def __repr__(self) -> str:
        account = "set" if self.account_id else "unset"
        return f"StoredTokens(access_token={MASK!r}, refresh_token={MASK!r}, account_id={account})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("access_token", MASK), ("refresh_token", MASK)]


class AuthFile(msgspec.Struct, kw_only=True, frozen=True):
    """The keys of ``auth.json`` modelwire acts on (Codex's layout); others pass through."""

    openai_api_key: str | None = msgspec.field(default=None, name="OPENAI_API_KEY")
    tokens: StoredTokens | None = None
    last_refresh: datetime | None = None
    auth_mode: str | None = None
    """Codex's explicit choice (``apikey`` / ``chatgpt``) when a file holds both kinds."""

    def __repr__(self) -> str:
        key = MASK if self.openai_api_key else None
        return (
            f"AuthFile(OPENAI_API_KEY={key!r}, tokens={self.tokens!r}, "
            f"last_refresh={self.last_refresh!r}, auth_mode={self.auth_mode!r})"
        )

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [
            ("OPENAI_API_KEY", MASK if self.openai_api_key else None),
            ("tokens", self.tokens),
            ("last_refresh", self.last_refresh),
        ]


_decode_auth = msgspec.json.Decoder(AuthFile).decode
_decode_document = msgspec.json.Decoder(dict[str, Any]).decode


@dataclass(frozen=True, slots=True, repr=False)
class AuthRecord:
    """``auth.json`` as read: typed for use, and the whole document for a faithful rewrite."""

    path: Path
    auth: AuthFile
    document: dict[str, Any]

    def __repr__(self) -> str:
        return f"AuthRecord(path={str(self.path)!r}, auth={self.auth!r})"


def auth_file_path(env: Mapping[str, str]) -> Path:
    """``auth.json`` in the auth home (see ``config.auth_home``)."""
    return auth_home(env) / AUTH_FILE_NAME


def _unusable(path: Path, reason: str) -> AuthError:
    return AuthError(
        f"{path} is not a usable auth.json ({reason}); fix it, or replace it with "
        "`modelwire login --api-key`",
        credential=f"the OpenAI sign-in in {path}",
    )


def read_auth(path: Path) -> AuthRecord | None:
    """The file's contents, or ``None`` when it does not exist.

    Anything else that keeps it from being used — unreadable, empty, not JSON, a key of the
    wrong type — is an ``AuthError`` naming the file and the key path. msgspec's messages name
    types and locations, never values, so no secret from the file reaches the error.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unusable(path, f"cannot be read: {exc.strerror or type(exc).__name__}") from exc
    if not data.strip():
        raise _unusable(path, "the file is empty")
    try:
        auth = _decode_auth(data)
        document = _decode_document(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _unusable(path, str(exc).replace("`", "")) from None
    return AuthRecord(path, auth, document)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, the form Codex writes and reads."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def tokens_document(
    base: Mapping[str, Any] | None, tokens: StoredTokens, last_refresh: datetime
) -> dict[str, Any]:
    """``base`` with new tokens and ``last_refresh``; every other key, here and inside
    ``tokens``, is kept as it was."""
    document = dict(base or {})
    previous = document.get("tokens")
    merged = dict(previous) if isinstance(previous, dict) else {}
    # An absent optional (no account id) keeps what the file had rather than writing null:
    # Codex requires ``id_token`` to be a string.
    merged.update((k, v) for k, v in msgspec.structs.asdict(tokens).items() if v is not None)
    document["tokens"] = merged
    document["last_refresh"] = format_timestamp(last_refresh)
    return document


def write_auth(path: Path, document: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``document`` atomically, mode 0600.

    Raises ``OSError`` if the new file could not be put in place; the old file is then
    untouched and the temp file removed.
    """
    payload = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    write_atomically(path, payload, mode=FILE_MODE, durable=True, dir_mode=DIR_MODE)


def _lock(path: Path, timeout: float) -> filelock.BaseFileLock:
    # thread_local=False: the async path acquires in a worker thread and releases elsewhere.
    return filelock.FileLock(
        str(path.with_name(LOCK_FILE_NAME)), timeout=timeout, mode=FILE_MODE, thread_local=False
    )


def _lock_timeout(path: Path, timeout: float) -> AuthError:
    return AuthError(
        f"gave up after {timeout:g} s waiting for {path.with_name(LOCK_FILE_NAME)}: another "
        "process is updating the OpenAI sign-in; try again",
        credential=f"the OpenAI sign-in in {path}",
    )


@asynccontextmanager
async def auth_file_lock(path: Path, timeout: float) -> AsyncIterator[None]:
    """Hold ``auth.json.lock`` for a read-modify-write, waiting at most ``timeout`` seconds.

    The wait happens in a worker thread, so the event loop keeps running. A cancellation that
    lands while the thread is acquiring cannot interrupt it; if the thread got the lock, it is
    released here before the cancellation propagates.
    """
    lock = _lock(path, timeout)
    try:
        await anyio.to_thread.run_sync(lock.acquire)
    except filelock.Timeout:
        raise _lock_timeout(path, timeout) from None
    except BaseException:
        if lock.is_locked:
            lock.release()
        raise
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def locked_auth_file(path: Path, timeout: float) -> Iterator[None]:
    """``auth_file_lock`` for synchronous callers (the ``login`` command)."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    lock = _lock(path, timeout)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise _lock_timeout(path, timeout) from None
    try:
        yield
    finally:
        lock.release()
