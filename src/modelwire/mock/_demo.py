"""``modelwire mock --demo-home DIR``: a modelwire home whose providers all call this mock.

The README's examples name real providers (``openai``, ``anthropic``, ``example``) because that
is how they are used. A newcomer without keys should still be able to run them as written, so
the mock writes a home that points exactly those ids at itself: ``config.toml`` (the two
catalog/custom ids as config tables, the built-in ``openai`` by its ``base_url``) and an
``auth.json`` with a placeholder key, which the built-in ``openai`` needs before it sends
anything. ``MODELWIRE_HOME=DIR`` then runs every example against the mock, and nothing else
changes. Files that the mock did not write are never replaced: ``DIR`` could be a real home.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from ..errors import ModelwireError

__all__ = ["DEMO_KEY", "DEMO_MARKER", "write_demo_home"]

DEMO_MARKER = "# written by `modelwire mock --demo-home`"
DEMO_KEY = "mock-key"
"""The placeholder credential; the mock accepts any unless told to require one."""
_AUTH = {"OPENAI_API_KEY": DEMO_KEY}


def _config(base_url: str) -> str:
    return f"""{DEMO_MARKER} for the mock at {base_url}; safe to delete
# MODELWIRE_HOME=<this directory> sends the providers below to that mock.

[model_providers.openai]
base_url = "{base_url}/v1"

[model_providers.anthropic]
name = "Anthropic"
base_url = "{base_url}"
wire_api = "messages"
experimental_bearer_token = "{DEMO_KEY}"

[model_providers.example]
name = "Example"
base_url = "{base_url}/v1"
wire_api = "chat"
experimental_bearer_token = "{DEMO_KEY}"
"""


def _ours(path: Path) -> bool:
    """Whether ``path`` is absent or a file this module wrote (so it may be replaced)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if path.suffix == ".json":
        try:
            return bool(orjson.loads(data) == _AUTH)
        except orjson.JSONDecodeError:
            return False
    return data.startswith(DEMO_MARKER.encode())


def write_demo_home(home: Path, base_url: str) -> None:
    """Write ``home/config.toml`` and ``home/auth.json`` for the mock at ``base_url``.

    Raises ``ModelwireError`` (before writing anything) when either file exists and was not
    written here, or when the directory cannot be written."""
    config, auth = home / "config.toml", home / "auth.json"
    for path in (config, auth):
        if not _ours(path):
            raise ModelwireError(
                f"--demo-home {home}: {path.name} exists and was not written by the mock; "
                "pick an empty or new directory"
            )
    try:
        home.mkdir(parents=True, exist_ok=True)
        config.write_text(_config(base_url))
        auth.write_bytes(orjson.dumps(_AUTH) + b"\n")
        auth.chmod(0o600)
    except OSError as exc:
        raise ModelwireError(f"--demo-home {home}: {exc.strerror or exc}") from None
