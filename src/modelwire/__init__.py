"""modelwire: one async provider layer for hosted and local LLM providers.

Everything importable from here is public and listed in ``__all__``; every other module is
an implementation detail that may change between releases.
"""

from ._version import __version__
from .config import Config, load_config
from .errors import (
    AuthCommandError,
    AuthError,
    CatalogError,
    ConfigError,
    MissingCredentialError,
    ModelwireError,
    ProviderError,
    RateLimitError,
    StreamDecodeError,
    StreamError,
    StreamIdleTimeout,
    UnknownProviderError,
)
from .harness import select_harness
from .providers import AuthKind, ProviderAuthInfo, ProviderAwsInfo, ProviderInfo, WireApi
from .registry import CatalogListing, Provider, ProviderRegistry, ProviderSource

__all__ = [
    "AuthCommandError",
    "AuthError",
    "AuthKind",
    "CatalogError",
    "CatalogListing",
    "Config",
    "ConfigError",
    "MissingCredentialError",
    "ModelwireError",
    "Provider",
    "ProviderAuthInfo",
    "ProviderAwsInfo",
    "ProviderError",
    "ProviderInfo",
    "ProviderRegistry",
    "ProviderSource",
    "RateLimitError",
    "StreamDecodeError",
    "StreamError",
    "StreamIdleTimeout",
    "UnknownProviderError",
    "WireApi",
    "__version__",
    "load_config",
    "select_harness",
]
