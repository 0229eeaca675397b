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
    ConnectionFailedError,
    DeadlineExceeded,
    MissingCredentialError,
    ModelwireError,
    ProviderError,
    RateLimitError,
    ResponseTimeout,
    StreamDecodeError,
    StreamError,
    StreamIdleTimeout,
    TransportCause,
    UnknownProviderError,
    UnusableResponseError,
)
from .harness import select_harness
from .pricing import Cost, Price, PriceBook, PricedUsage
from .providers import AuthKind, ProviderAuthInfo, ProviderAwsInfo, ProviderInfo, WireApi
from .registry import CatalogListing, Provider, ProviderRegistry, ProviderSource
from .wire import (
    Completed,
    ErrorEvent,
    ErrorInfo,
    Event,
    EventTooLargeError,
    FinishReason,
    ImagePart,
    Message,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningEnd,
    Request,
    RequestError,
    Response,
    Start,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResultPart,
    Usage,
    assistant,
    image,
    tool_result,
    user,
)

__all__ = [
    "AuthCommandError",
    "AuthError",
    "AuthKind",
    "CatalogError",
    "CatalogListing",
    "Client",
    "Completed",
    "Config",
    "ConfigError",
    "ConnectionFailedError",
    "Conversation",
    "ConversationTurn",
    "Cost",
    "DeadlineExceeded",
    "ErrorEvent",
    "ErrorInfo",
    "Event",
    "EventTooLargeError",
    "FinishReason",
    "ImagePart",
    "Message",
    "MissingCredentialError",
    "Model",
    "ModelList",
    "ModelwireError",
    "Price",
    "PriceBook",
    "PricedUsage",
    "Provider",
    "ProviderAuthInfo",
    "ProviderAwsInfo",
    "ProviderError",
    "ProviderInfo",
    "ProviderRegistry",
    "ProviderSource",
    "RateLimitError",
    "ReasoningBlock",
    "ReasoningDelta",
    "ReasoningEnd",
    "Request",
    "RequestError",
    "Response",
    "ResponseTimeout",
    "Start",
    "StreamDecodeError",
    "StreamError",
    "StreamIdleTimeout",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "ToolResultPart",
    "TransportCause",
    "UnknownProviderError",
    "UnusableResponseError",
    "Usage",
    "WireApi",
    "__version__",
    "assistant",
    "image",
    "load_config",
    "select_harness",
    "tool_result",
    "user",
]


_LAZY = {
    "Client": "client",
    "Conversation": "conversation",
    "ConversationTurn": "conversation",
    "Model": "models",
    "ModelList": "models",
}
"""Public names whose modules pull in the HTTP stack or the async machinery: imported on first
use, so that ``import modelwire`` stays cheap for code that only reads the registry or decodes
bytes."""


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelwire' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
