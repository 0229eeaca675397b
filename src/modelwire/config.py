"""``$MODELWIRE_HOME/config.toml`` → a typed, validated ``Config``.

Reading never writes: a config that fails to load is left exactly as it was. Every error
names the file, the dotted key path it sits at and what to do, because a user staring at a
traceback about ``$.auth.timeout_ms`` cannot find that in their TOML.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from .builtins import BEDROCK_IDS, BUILT_IN_IDS, OVERRIDABLE_KEYS, REMOVED_IDS
from .errors import ConfigError
from .pricing import Price
from .providers import ProviderInfo, WireApi
from .providers import _key as _toml_key

__all__ = [
    "AUTH_HOME_ENV",
    "CONFIG_FILE_NAME",
    "HOME_ENV",
    "BuiltInOverride",
    "Config",
    "auth_home",
    "config_path",
    "custom_provider_problems",
    "load_config",
    "modelwire_home",
]

HOME_ENV = "MODELWIRE_HOME"
AUTH_HOME_ENV = "MODELWIRE_AUTH_HOME"
CONFIG_FILE_NAME = "config.toml"
_DEFAULT_HOME = "~/.modelwire"
_AWS_OVERRIDABLE = ("profile", "region")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
# A key path step that needs no quoting: a bare TOML key, maybe with array indexes (``args[1]``).
_PLAIN_STEP = re.compile(r"[A-Za-z0-9_-]+(?:\[\d+\])*")


class BuiltInOverride(msgspec.Struct, frozen=True):
    """A ``[model_providers.<built-in id>]`` table: the keys it set and their decoded values."""

    keys: frozenset[str]
    values: ProviderInfo


class Config(msgspec.Struct, frozen=True):
    """The user's configuration after validation.

    ``model_providers`` holds custom providers (ids that are not built in); tables naming a
    built-in id are partial overrides and live in ``built_in_overrides``.
    """

    file: Path | None = None
    model_provider: str | None = None
    model: str | None = None
    harness: str | None = None
    model_providers: dict[str, ProviderInfo] = msgspec.field(default_factory=dict)
    built_in_overrides: dict[str, BuiltInOverride] = msgspec.field(default_factory=dict)
    model_provider_keys: dict[str, frozenset[str]] = msgspec.field(default_factory=dict)
    """The keys each custom table set, as written: a table whose id is a catalog provider's
    replaces that entry whole, and the registry warns about what the table left out."""
    prices: dict[str, dict[str, Price]] = msgspec.field(default_factory=dict)
    """``[model_providers.<id>.prices.<model>]``: the user's prices, by provider id and model,
    which win over both catalogs' (``pricing``). A table holding only ``prices`` prices a
    provider defined elsewhere (built in or from the catalog) without redefining it."""


class _RawConfig(msgspec.Struct, forbid_unknown_fields=True):
    model_provider: str | None = None
    model: str | None = None
    harness: str | None = None
    model_providers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


def modelwire_home(env: Mapping[str, str]) -> Path:
    """``$MODELWIRE_HOME`` when set and non-blank, else ``~/.modelwire``."""
    raw = env.get(HOME_ENV, "").strip()
    return Path(raw or _DEFAULT_HOME).expanduser()


def auth_home(env: Mapping[str, str]) -> Path:
    """Where the OpenAI sign-in state (``auth.json``) lives: ``$MODELWIRE_AUTH_HOME`` when set
    and non-blank, else the modelwire home.

    A separate variable, rather than reading ``$CODEX_HOME`` on its own, because sharing a
    sign-in with Codex means both tools rotate one refresh token: that is a choice to make
    explicitly (``MODELWIRE_AUTH_HOME=~/.codex``), not a side effect of an exported variable.
    """
    raw = env.get(AUTH_HOME_ENV, "").strip()
    return Path(raw).expanduser() if raw else modelwire_home(env)


def config_path(env: Mapping[str, str]) -> Path:
    """Where ``config.toml`` lives for this environment."""
    return modelwire_home(env) / CONFIG_FILE_NAME


def load_config(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``path`` (default: ``config_path(env)``); a missing file is empty config.

    Raises ``ConfigError`` for anything else that keeps the file from being used as written.
    """
    if path is None:
        path = config_path(os.environ if env is None else env)
    if not path.exists():
        return Config(file=path)
    data = parse_toml(path)
    return validate_config(data, file=path)


def read_text(path: Path) -> str:
    """The file's text, or a ``ConfigError`` that says why it cannot be read as UTF-8 TOML."""
    if path.is_dir():
        raise ConfigError("is a directory, not a TOML file", file=path, hint="remove or rename it")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", file=path) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"line {line}, column {column}: not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            file=path,
            hint="TOML files must be UTF-8; re-save it as UTF-8",
        ) from exc


def parse_toml(path: Path) -> dict[str, Any]:
    """Parse ``path`` as TOML, turning syntax errors into ``line L, column C: …`` messages."""
    text = read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        if position is not None:
            message = (
                f"line {position[1]}, column {position[2]}: "
                f"TOML syntax error: {message[: position.start()]}"
            )
        else:
            message = f"TOML syntax error: {message}"
        raise ConfigError(message, file=path) from exc


def validate_config(data: Mapping[str, Any], *, file: Path | None = None) -> Config:
    """Validate an already-parsed TOML document into a ``Config``."""
    try:
        raw = msgspec.convert(data, _RawConfig, strict=True)
    except msgspec.ValidationError as exc:
        raise _translate(exc, data, prefix="", file=file) from exc

    for key in ("model_provider", "model", "harness"):
        value = getattr(raw, key)
        if value is not None and not value.strip():
            raise ConfigError("must not be blank", file=file, key_path=key, hint="remove the key")
    if raw.model_provider is not None and raw.model_provider in REMOVED_IDS:
        raise ConfigError(REMOVED_IDS[raw.model_provider], file=file, key_path="model_provider")

    custom: dict[str, ProviderInfo] = {}
    custom_keys: dict[str, frozenset[str]] = {}
    overrides: dict[str, BuiltInOverride] = {}
    prices: dict[str, dict[str, Price]] = {}
    for provider_id, table in raw.model_providers.items():
        prefix = f"model_providers.{_toml_key(provider_id)}"
        if provider_id in REMOVED_IDS:
            raise ConfigError(REMOVED_IDS[provider_id], file=file, key_path=prefix)
        if not isinstance(table, dict):
            raise ConfigError("must be a table", file=file, key_path=prefix)
        if "prices" in table:
            table = dict(table)
            prices[provider_id] = _prices(table.pop("prices"), prefix=f"{prefix}.prices", file=file)
            if not table:  # prices only: for a provider defined elsewhere
                continue
        if provider_id in BUILT_IN_IDS:
            _check_override_keys(provider_id, table, prefix=prefix, file=file)
        info = _decode_provider(table, prefix=prefix, file=file)
        if provider_id in BUILT_IN_IDS:
            if info.auth is not None and not info.auth.command.strip():
                raise ConfigError("must not be blank", file=file, key_path=f"{prefix}.auth.command")
            values = _anchor_auth_cwd(info, file)
            overrides[provider_id] = BuiltInOverride(keys=frozenset(table), values=values)
            continue
        if not info.name:
            info = msgspec.structs.replace(info, name=provider_id)
        info = _anchor_auth_cwd(info, file)
        problems = custom_provider_problems(info)
        if problems:
            raise ConfigError("; ".join(problems), file=file, key_path=prefix)
        custom[provider_id] = info
        custom_keys[provider_id] = frozenset(table)

    return Config(
        file=file,
        model_provider=raw.model_provider,
        model=raw.model,
        harness=raw.harness,
        model_providers=custom,
        built_in_overrides=overrides,
        model_provider_keys=custom_keys,
        prices=prices,
    )


def _prices(value: object, *, prefix: str, file: Path | None) -> dict[str, Price]:
    """A provider's ``prices`` table: one sub-table per model, USD per million tokens."""
    if not isinstance(value, dict):
        raise ConfigError(
            "must be a table of models", file=file, key_path=prefix, hint=_PRICES_HINT
        )
    found: dict[str, Price] = {}
    for model, table in value.items():
        path = f"{prefix}.{_toml_key(model)}"
        if not model.strip():
            raise ConfigError("a model id must not be blank", file=file, key_path=path)
        if not isinstance(table, dict):
            raise ConfigError("must be a table", file=file, key_path=path, hint=_PRICES_HINT)
        try:
            found[model] = Price.from_config(table, model=model)
        except ValueError as exc:
            raise ConfigError(str(exc), file=file, key_path=path, hint=_PRICES_HINT) from None
    return found


_PRICES_HINT = (
    'e.g. [model_providers.openai.prices."gpt-5"] with input = 1.25, output = 10 '
    "(USD per million tokens; also cache_read, cache_write, reasoning, and the *_above_200k "
    "tiers)"
)


def custom_provider_problems(info: ProviderInfo) -> list[str]:
    """What keeps ``info`` from being a provider of the user's own (a config table or a
    ``register`` call): the definition's own conflicts, and ``aws``, which only the Bedrock
    built-ins take — their endpoints, signing service and model lists are known; a custom
    one's are not."""
    problems = info.conflicts()
    if info.aws is not None:
        problems.insert(0, f"aws is only supported for {' and '.join(BEDROCK_IDS)}")
    return problems


def _decode_provider(table: dict[str, Any], *, prefix: str, file: Path | None) -> ProviderInfo:
    """The table as a ``ProviderInfo``. msgspec checks the types; ``ProviderInfo``'s own check
    (the one code-built definitions meet too) judges the values and names the key relative to
    the table, which is anchored here to the file and the table's path."""
    try:
        return msgspec.convert(table, ProviderInfo, strict=True)
    except msgspec.ValidationError as exc:
        raise _translate(exc, table, prefix=prefix, file=file) from exc
    except ConfigError as exc:
        key_path = f"{prefix}.{exc.key_path}" if exc.key_path else prefix
        raise ConfigError(exc.message, file=file, key_path=key_path, hint=exc.hint) from None


def _anchor_auth_cwd(info: ProviderInfo, file: Path | None) -> ProviderInfo:
    """A relative ``auth.cwd`` means relative to the config file, not to wherever the
    process happens to start; pin it down while the file's location is known."""
    auth = info.auth
    if auth is None or auth.cwd is None or file is None or Path(auth.cwd).is_absolute():
        return info
    cwd = str((file.parent / auth.cwd).resolve())
    return msgspec.structs.replace(info, auth=msgspec.structs.replace(auth, cwd=cwd))


def _check_override_keys(
    provider_id: str, table: Mapping[str, Any], *, prefix: str, file: Path | None
) -> None:
    allowed = OVERRIDABLE_KEYS[provider_id]
    rejected = sorted(_toml_key(k) for k in table if k not in allowed)
    aws = table.get("aws")
    if isinstance(aws, dict) and "aws" in allowed:
        rejected += sorted(f"aws.{_toml_key(k)}" for k in aws if k not in _AWS_OVERRIDABLE)
    if rejected:
        can = [k for k in allowed if k != "aws"]
        if "aws" in allowed:
            can += [f"aws.{k}" for k in _AWS_OVERRIDABLE]
        raise ConfigError(
            f"{provider_id} is a built-in provider; {', '.join(rejected)} cannot be changed",
            file=file,
            key_path=prefix,
            hint=f"it accepts only {', '.join(can)}; "
            "define a provider under another id for anything else",
        )


def _translate(
    exc: msgspec.ValidationError, raw: Mapping[str, Any], *, prefix: str, file: Path | None
) -> ConfigError:
    """Turn msgspec's ``… - at `$.a.b``` message into a key path and a sentence."""
    message = str(exc)
    location = ""
    if " - at `$" in message:
        message, _, tail = message.partition(" - at `$")
        location = tail.rstrip("`")
    got = re.search(r"got `(\w+)`", message)
    steps = _resolve_map_keys(
        [s for s in location.replace("[...]", f".{_MAP_VALUE}").split(".") if s],
        raw,
        got[1] if got is not None else None,
    )

    unknown = re.match(r"Object contains unknown field `(.+)`$", message, re.DOTALL)
    if unknown is not None:
        steps.append(unknown[1])
        message = "unknown key"
        hint = "check the spelling; `modelwire providers show ID` lists the accepted keys"
    elif message.startswith("Invalid enum value") and steps and steps[-1] == "wire_api":
        message = f"{message.removeprefix('Invalid enum value ')} is not a wire API"
        hint = f"use one of {', '.join(repr(w.value) for w in WireApi)}"
    elif message.startswith("Object missing required field"):
        field = message.rsplit("`", 2)[1]
        steps.append(field)
        message = "is required"
        hint = None
    else:
        # TOML has no null: "expected `str | null`" only confuses.
        message = (message[0].lower() + message[1:]).replace(" | null", "")
        hint = None
    # Keys come from the user's file: quote any that is not bare, so a path stays one line.
    quoted = [s if _PLAIN_STEP.fullmatch(s) else _toml_key(s) for s in steps]
    key_path = ".".join(p for p in (prefix, *quoted) if p)
    message = message.replace("`", "").replace("\r", "\\r").replace("\n", "\\n")
    return ConfigError(message, file=file, key_path=key_path or None, hint=hint)


# Stands for msgspec's anonymous ``[...]`` map-value step while a location is tokenised.
_MAP_VALUE = "\x00"

_MSGSPEC_TYPE_NAMES = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    list: "array",
    dict: "object",
}


def _resolve_map_keys(steps: list[str], raw: Mapping[str, Any], got: str | None) -> list[str]:
    """Replace msgspec's anonymous ``[...]`` map steps with the offending key's name.

    msgspec reports a bad map value as ``http_headers[...]``; the first value whose type is
    the one msgspec says it got is the one it stopped at (it validates in order).
    """
    resolved: list[str] = []
    node: Any = raw
    for step in steps:
        if step != _MAP_VALUE:
            node = node.get(step) if isinstance(node, Mapping) else None
            resolved.append(step)
        elif isinstance(node, Mapping) and node:
            bad = next(
                (k for k, v in node.items() if _MSGSPEC_TYPE_NAMES.get(type(v)) == got),
                next(iter(node)),
            )
            resolved.append(str(bad))
            node = node[bad]
    return resolved
