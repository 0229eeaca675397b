"""The common event model every codec emits, and the aggregate a whole stream folds into.

Each event is a frozen, tagged msgspec struct, so ``msgspec.json.encode(event)`` is exactly the
spec's JSON object (``{"type": "text_delta", "text": …}``) and a ``match`` statement can
destructure it. The structs hold no references to other containers worth tracking, so they opt
out of the garbage collector: thousands of streams allocate millions of them.

The ordering invariants (one terminal event, last; usage at most once, right before the
terminal event; tool indexes by first appearance) are enforced where events are produced, in
``_stream.StreamCodec``, so that no codec can forget one. How refusals and a failure after the
provider's final report look is documented there too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

import msgspec

if TYPE_CHECKING:
    from ..pricing import Cost

__all__ = [
    "RETRYABLE_CODES",
    "Completed",
    "ErrorEvent",
    "ErrorInfo",
    "Event",
    "FinishReason",
    "ReasoningDelta",
    "ReasoningEnd",
    "Response",
    "ResponseAccumulator",
    "Start",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "Usage",
    "is_retryable",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "pause", "other"]


class Start(msgspec.Struct, tag="start", tag_field="type", frozen=True, gc=False):
    """The provider accepted the request: its response id and the model that answers."""

    id: str | None
    model: str | None


class TextDelta(msgspec.Struct, tag="text_delta", tag_field="type", frozen=True, gc=False):
    """A non-empty piece of the answer text."""

    text: str


class ReasoningDelta(
    msgspec.Struct, tag="reasoning_delta", tag_field="type", frozen=True, gc=False
):
    """A non-empty piece of reasoning (summary or thinking) text."""

    text: str


class ReasoningEnd(msgspec.Struct, tag="reasoning_end", tag_field="type", frozen=True, gc=False):
    """A reasoning block closed. ``signature`` is what must be sent back to continue it."""

    id: str | None
    signature: str | None
    redacted: bool


class ToolCallStart(msgspec.Struct, tag="tool_call_start", tag_field="type", frozen=True, gc=False):
    """A tool call appeared; ``index`` counts calls in order of first appearance."""

    index: int
    id: str | None
    name: str


class ToolCallDelta(msgspec.Struct, tag="tool_call_delta", tag_field="type", frozen=True, gc=False):
    """A non-empty piece of a tool call's JSON arguments, exactly as the provider sent it."""

    index: int
    arguments: str


class ToolCallEnd(msgspec.Struct, tag="tool_call_end", tag_field="type", frozen=True, gc=False):
    """A tool call is complete; ``arguments`` is the exact concatenation of its deltas."""

    index: int
    id: str | None
    name: str
    arguments: str


class Usage(msgspec.Struct, tag="usage", tag_field="type", frozen=True, gc=False):
    """Token counts, normalized: ``input_tokens`` always includes cached prompt tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def cost(self) -> Cost | None:
        """What these tokens cost, when the client knew the model's price: a priced usage
        (``pricing.PricedUsage``, which the client puts in the stream in this one's place)
        carries it; a codec's own usage never does, so its JSON stays the spec's."""
        return None


class Completed(msgspec.Struct, tag="completed", tag_field="type", frozen=True, gc=False):
    """The stream ended normally; the terminal event."""

    finish_reason: FinishReason | None
    raw_finish_reason: str | None


class ErrorEvent(
    msgspec.Struct, tag="error", tag_field="type", frozen=True, gc=False, omit_defaults=True
):
    """The stream failed (provider error, truncation, bad bytes); the terminal event.

    ``finish_reason``/``raw_finish_reason`` are set only when the provider had already said how
    the reply ended before the stream failed (messages: a ``message_delta`` and then a cut
    before ``message_stop``); they are left out of the JSON otherwise, so the event keeps the
    spec's key set.
    """

    code: str
    message: str | None
    retryable: bool
    finish_reason: FinishReason | None = None
    raw_finish_reason: str | None = None


Event = (
    Start
    | TextDelta
    | ReasoningDelta
    | ReasoningEnd
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | Usage
    | Completed
    | ErrorEvent
)
"""Any common event. ``Completed`` and ``ErrorEvent`` are terminal."""

RETRYABLE_CODES: Final = frozenset(
    {
        "server_error",
        "api_error",
        "overloaded_error",
        "rate_limit_error",
        "rate_limit_exceeded",
        "timeout_error",
        "server_is_overloaded",
        "slow_down",
        "stream_truncated",
        "idle_timeout",
    }
)


def is_retryable(code: str) -> bool:
    """Whether a failure with this code is worth retrying (spec §6), numeric HTTP codes included."""
    if code in RETRYABLE_CODES:
        return True
    if code.isdigit():
        status = int(code)
        return status in (408, 429) or status >= 500
    return False


# --- the aggregate ----------------------------------------------------------------------------


class ToolCall(msgspec.Struct, frozen=True, gc=False):
    """A finished tool call in a ``Response``: what ``tool_call_end`` carried."""

    index: int
    id: str | None
    name: str
    arguments: str


class ErrorInfo(msgspec.Struct, frozen=True, gc=False):
    """Why a ``Response`` failed."""

    code: str
    message: str | None
    retryable: bool


class ReasoningBlock(msgspec.Struct, frozen=True, gc=False):
    """One reasoning block, kept whole so it can be sent back on the next turn."""

    text: str
    id: str | None = None
    signature: str | None = None
    redacted: bool = False


class Response(msgspec.Struct, frozen=True):
    """A whole stream (or non-streamed body) folded together.

    A refusal is in ``text``, with ``finish_reason`` ``content_filter`` (see ``_stream``). A
    failed reply has ``error``; its ``usage`` and ``finish_reason`` are set too when the
    provider had reported them before the stream failed.
    """

    id: str | None = None
    model: str | None = None
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    raw_finish_reason: str | None = None
    error: ErrorInfo | None = None
    reasoning_blocks: tuple[ReasoningBlock, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def cost(self) -> Cost | None:
        """The reply's cost (``usage.cost``): ``None`` when the price or the usage is unknown."""
        return None if self.usage is None else self.usage.cost

    def summary(self) -> dict[str, object]:
        """The vectors' ``final`` object: plain JSON-ready values, no ``type`` keys."""
        return {
            "id": self.id,
            "model": self.model,
            "text": self.text,
            "reasoning": self.reasoning,
            "tool_calls": [msgspec.structs.asdict(call) for call in self.tool_calls],
            "usage": _without_type(self.usage),
            "finish_reason": self.finish_reason,
            "raw_finish_reason": self.raw_finish_reason,
            "error": None if self.error is None else msgspec.structs.asdict(self.error),
        }


def _without_type(usage: Usage | None) -> dict[str, object] | None:
    """The spec's usage keys only (a priced usage's cost is not one of them)."""
    if usage is None:
        return None
    return {name: getattr(usage, name) for name in Usage.__struct_fields__}


class ResponseAccumulator:
    """Folds common events into a ``Response``; feed it every event of one stream in order."""

    __slots__ = (
        "_blocks",
        "_error",
        "_finish",
        "_id",
        "_model",
        "_raw_finish",
        "_reasoning",
        "_reasoning_start",
        "_text",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        self._id: str | None = None
        self._model: str | None = None
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._reasoning_start = 0
        self._blocks: list[ReasoningBlock] = []
        self._tools: list[ToolCall] = []
        self._usage: Usage | None = None
        self._finish: FinishReason | None = None
        self._raw_finish: str | None = None
        self._error: ErrorInfo | None = None

    def add(self, event: Event) -> None:
        match event:
            case TextDelta(text=text):
                self._text.append(text)
            case ReasoningDelta(text=text):
                self._reasoning.append(text)
            case ToolCallEnd(index=index, id=call_id, name=name, arguments=arguments):
                self._tools.append(ToolCall(index, call_id, name, arguments))
            case ReasoningEnd(id=block_id, signature=signature, redacted=redacted):
                text = "".join(self._reasoning[self._reasoning_start :])
                self._reasoning_start = len(self._reasoning)
                self._blocks.append(ReasoningBlock(text, block_id, signature, redacted))
            case Start(id=response_id, model=model):
                self._id, self._model = response_id, model
            case Usage():
                self._usage = event
            case Completed(finish_reason=finish, raw_finish_reason=raw):
                self._finish, self._raw_finish = finish, raw
            case ErrorEvent(code=code, message=message, retryable=retryable):
                self._error = ErrorInfo(code, message, retryable)
                if event.raw_finish_reason is not None or event.finish_reason is not None:
                    self._finish, self._raw_finish = event.finish_reason, event.raw_finish_reason
            case _:
                pass

    def result(self) -> Response:
        return Response(
            id=self._id,
            model=self._model,
            text="".join(self._text),
            reasoning="".join(self._reasoning),
            tool_calls=tuple(self._tools),
            usage=self._usage,
            finish_reason=self._finish,
            raw_finish_reason=self._raw_finish,
            error=self._error,
            reasoning_blocks=tuple(self._blocks),
        )
