"""The registry that maps a wire API name to its codec module, imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import msgspec

from ._stream import StreamCodec
from .request import Request

__all__ = ["Codec", "codec_for"]

WIRE_APIS = ("responses", "chat", "messages")


class Codec(msgspec.Struct, frozen=True):
    """What one wire API provides: body encoding, the stream decoder, native body decoding."""

    wire_api: str
    encode_body: Callable[[Request], dict[str, Any]]
    stream_decoder: type[StreamCodec]
    decode_native_body: Callable[[bytes], object]


_loaded: dict[str, Codec] = {}


def codec_for(wire_api: str) -> Codec:
    """The codec for ``wire_api`` (a ``WireApi`` or its string value)."""
    key = str(wire_api)
    codec = _loaded.get(key)
    if codec is None:
        if key not in WIRE_APIS:
            raise ValueError(f"unknown wire API {key!r}; expected one of {', '.join(WIRE_APIS)}")
        module = importlib.import_module(f"{__package__}.{key}")
        codec = _loaded[key] = module.CODEC
    return codec
