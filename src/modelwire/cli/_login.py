"""``modelwire login`` and ``logout``: the OpenAI sign-in state in ``auth.json``.

``login --api-key`` reads the key from stdin when stdin is not a terminal
(``modelwire login --api-key < key.txt``, or piped from a secret manager) and otherwise asks for
it with echo off. It never takes the key as an argument: anything on a command line stays in
shell history and is visible to every user through the process list. The file is written
atomically with mode 0600, and nothing printed ever contains the key.

ChatGPT sign-in is not done here: ``codex login`` produces it, and ``MODELWIRE_AUTH_HOME``
pointed at Codex's home makes modelwire use (and refresh) the same ``auth.json``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TextIO

from ..auth._auth_store import (
    AuthRecord,
    auth_file_path,
    format_timestamp,
    locked_auth_file,
    read_auth,
    write_auth,
)
from ..auth._jwt import jwt_expiry
from ..auth._openai import API_KEY_ENV, LOCK_TIMEOUT_S, signed_in_mode
from ..errors import AuthError, ModelwireError

__all__ = ["run_login_api_key", "run_login_status", "run_logout"]

_PROMPT = "OpenAI API key (input hidden): "


def _read_key(stdin: TextIO | None, prompt: Callable[[str], str]) -> str:
    piped = stdin is not None and not stdin.isatty()
    key = (stdin.read() if piped and stdin is not None else prompt(_PROMPT)).strip()
    if not key:
        raise ModelwireError(
            "no API key given: pipe it on stdin (`modelwire login --api-key < key.txt`) "
            "or type it at the prompt"
        )
    # A header value cannot carry these, and two keys pasted on two lines are a mistake.
    if any(c.isspace() or not c.isprintable() for c in key):
        raise ModelwireError(
            "the API key must be a single line without spaces or control characters"
        )
    return key


def run_login_api_key(
    env: Mapping[str, str],
    out: TextIO,
    *,
    stdin: TextIO | None,
    prompt: Callable[[str], str],
) -> int:
    """Store an API key as the OpenAI sign-in, replacing whatever sign-in was there."""
    key = _read_key(stdin, prompt)
    path = auth_file_path(env)
    replaced = ""
    try:
        with locked_auth_file(path, LOCK_TIMEOUT_S):
            try:
                previous = read_auth(path)
            except AuthError:
                replaced = " (replacing an unreadable auth.json)"
            else:
                if previous is not None and previous.auth.tokens is not None:
                    replaced = " (replacing the ChatGPT sign-in)"
            write_auth(path, {API_KEY_ENV: key, "tokens": None, "last_refresh": None})
    except OSError as exc:
        raise ModelwireError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
    out.write(f"saved the API key to {path}, readable only by you{replaced}\n")
    return 0


def _describe(record: AuthRecord) -> str | None:
    auth = record.auth
    mode = signed_in_mode(record)
    if mode == "apikey":
        return "an API key"
    tokens = auth.tokens
    if mode != "chatgpt" or tokens is None:
        return None
    details = []
    if auth.last_refresh is not None:
        details.append(f"last refreshed {format_timestamp(auth.last_refresh)}")
    expiry = jwt_expiry(tokens.access_token)
    if expiry is not None:
        details.append(
            f"access token expires {format_timestamp(datetime.fromtimestamp(expiry, UTC))}"
        )
    return "a ChatGPT sign-in" + (f" ({'; '.join(details)})" if details else "")


def run_login_status(env: Mapping[str, str], out: TextIO) -> int:
    """Say what requests to OpenAI will authenticate with; 1 when there is nothing."""
    path = auth_file_path(env)
    record = read_auth(path)
    described = None if record is None else _describe(record)
    if described is not None:
        out.write(f"signed in with {described}, stored in {path}\n")
        return 0
    where = f"{path} holds no key or sign-in" if record is not None else f"no {path}"
    if env.get(API_KEY_ENV, "").strip():
        out.write(f"{where}; requests use {API_KEY_ENV} from the environment\n")
        return 0
    out.write(f"not signed in: {where} and {API_KEY_ENV} is unset\n")
    out.write("run `modelwire login --api-key` to store a key\n")
    return 1


def run_logout(env: Mapping[str, str], out: TextIO) -> int:
    """Remove ``auth.json`` (the stored key or sign-in, whichever it holds)."""
    path = auth_file_path(env)
    if not path.exists():
        out.write(f"not signed in: there is no {path}\n")
        return 0
    try:
        with locked_auth_file(path, LOCK_TIMEOUT_S), contextlib.suppress(FileNotFoundError):
            path.unlink()
    except OSError as exc:
        raise ModelwireError(
            f"cannot remove {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    out.write(f"removed {path}\n")
    return 0
