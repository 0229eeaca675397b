"""A multi-turn exchange held as one object: history, and the socket that carries it.

Agent runtimes go back and forth with one model dozens of times. Over a Responses WebSocket
each turn after the first sends only what is new (the user's message, the tool results) and
the previous response's id, on the socket that holds that response; everywhere else — HTTP,
Chat Completions, Messages, a provider without sockets, a socket that was lost — the same
turn is sent with the whole history. Code written against ``Conversation`` runs unchanged on
every provider, and the chain is rebuilt without the caller noticing when the server forgets
a response (``previous_response_not_found``) or a socket reaches its 60-minute limit.

A turn's input and its reply join the history only when the reply completes; a turn that
failed, was closed early or cancelled leaves the history as it was, so it can be sent again.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import msgspec

from ._websocket import WebSocket
from ._ws_transport import SocketHome, Turn
from .errors import ConnectionFailedError
from .transport import EndReason, EventStream
from .wire import Event, Message, Request, Response, ResponseAccumulator
from .wire.request import Part, TextPart, assistant

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Conversation", "ConversationTurn"]


class _Home(SocketHome):
    """A conversation's own socket, and which socket holds its latest response."""

    __slots__ = ("chain", "current", "previous_id", "socket")

    def __init__(self) -> None:
        self.socket: WebSocket | None = None
        self.chain: WebSocket | None = None
        self.previous_id: str | None = None
        self.current: weakref.ref[EventStream[Any]] | None = None

    @property
    def busy(self) -> bool:
        """A turn is in flight (one dropped unclosed stops counting once it is collected)."""
        stream = self.current() if self.current is not None else None
        return stream is not None and stream.end_reason is None

    def take(self) -> WebSocket | None:
        socket, self.socket = self.socket, None
        return socket

    def give(self, socket: WebSocket) -> None:
        self.socket = socket

    def chained(self, socket: WebSocket) -> bool:
        return self.previous_id is not None and socket is self.chain

    def unchain(self) -> None:
        self.chain = None
        self.previous_id = None


class Conversation:
    """Turns with one provider and model; see the module's docstring. From
    ``Client.conversation``; ``async with`` it (or ``aclose()``) to close its socket.

    One turn at a time: ``stream`` (events, like ``Client.stream``) or ``send`` (the whole
    ``Response``). Each takes the turn's new input: strings (user text), parts, or
    ``Message`` objects (tool results, say), plus per-turn ``Request`` fields.
    """

    def __init__(
        self,
        client: Client,
        provider: str,
        *,
        model: str,
        instructions: str | None = None,
        transport: str = "auto",
        **defaults: Any,
    ) -> None:
        self.client = client
        self.provider = provider
        self.model = model
        self.instructions = instructions
        self.transport = transport
        self.defaults = defaults
        self.history: list[Message] = []
        """Every completed turn's input and reply, oldest first."""
        self.turns = 0
        """Completed turns."""
        self.last: Response | None = None
        """The latest completed turn's reply."""
        self._home = _Home()

    def __repr__(self) -> str:
        return (
            f"Conversation({self.provider}, {self.model}, {self.turns} turn(s), "
            f"{'socket' if self._home.socket is not None else 'no socket'})"
        )

    @property
    def previous_response_id(self) -> str | None:
        """The id the next turn chains from, when it goes on the socket that holds it."""
        return self._home.previous_id

    def stream(self, *content: str | Part | Message, **fields: Any) -> ConversationTurn:
        """One turn, as events (``async for``; close it if you stop early)."""
        new = _messages(content)
        if not new:
            raise ValueError("a turn needs new input: text, parts or messages")
        return self._turn(new, {**self.defaults, **fields}, self.transport)

    async def prewarm(self, **fields: Any) -> Response | None:
        """Send the context so far (instructions, tools, history) with ``generate: false``, so
        the server holds it before the first real turn, which then chains from it and sends
        only its own input. Only over a socket: elsewhere (HTTP, a provider without sockets,
        a fallback) nothing is sent and the result is ``None``."""
        client = self.client
        provider = client.provider(self.provider)
        if self.transport == "http" or not client.uses_socket(provider, self.transport):
            return None
        options = {**self.defaults, **fields}
        options["extra_body"] = {**options.get("extra_body", {}), "generate": False}
        # A pre-warm means nothing over HTTP: it never falls back there.
        warm = self._turn((), options, "websocket", prewarm=True)
        try:
            async with warm:
                async for _ in warm:
                    pass
        except ConnectionFailedError:
            return None
        return warm.response

    def _turn(
        self,
        new: tuple[Message, ...],
        options: dict[str, Any],
        transport: str,
        *,
        prewarm: bool = False,
    ) -> ConversationTurn:
        """A turn of ``new`` input over the history, chained where its socket allows."""
        home = self._home
        if home.busy:
            raise RuntimeError("a conversation carries one turn at a time; finish the last one")
        request = Request(
            model=self.model,
            messages=(*self.history, *new),
            instructions=self.instructions,
            **options,
        )
        client = self.client
        inner = client._streamed(
            self.provider,
            request,
            {},
            raw=False,
            transport=transport,
            deadline_s=client.deadline_s,
            first_event_timeout_s=client.first_event_timeout_s,
            turn=Turn(request, new, home.previous_id),
            home=home,
        )
        home.current = weakref.ref(inner)
        return ConversationTurn(self, inner, new, prewarm=prewarm)

    async def send(self, *content: str | Part | Message, **fields: Any) -> Response:
        """One turn, whole: its ``Response`` (``ok`` false for a reply that failed)."""
        async with self.stream(*content, **fields) as turn:
            async for _ in turn:
                pass
        return turn.response

    def _ended(self, turn: ConversationTurn) -> None:
        home = self._home
        home.current = None
        response = turn.response
        if turn.end_reason is not EndReason.COMPLETED or not response.ok:
            return
        socket = home.socket
        if turn.call.transport == "websocket" and socket is not None and response.id:
            home.chain, home.previous_id = socket, response.id
        else:
            home.unchain()
        if turn.prewarm:
            return
        self.history.extend(turn.new)
        self.history.append(
            assistant(
                *((response.text,) if response.text else ()),
                tool_calls=response.tool_calls,
                reasoning=response.reasoning_blocks,
            )
        )
        self.turns += 1
        self.last = response

    async def aclose(self) -> None:
        """Close the conversation's socket (its history stays readable)."""
        socket, self._home.socket = self._home.socket, None
        self._home.unchain()
        if socket is not None:
            await self.client.sockets.close(socket)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class ConversationTurn:
    """One turn's events: an ``EventStream`` that, once it ends, updates its conversation."""

    __slots__ = ("_conversation", "_done", "_inner", "new", "prewarm", "response")

    def __init__(
        self,
        conversation: Conversation,
        inner: EventStream[Any],
        new: tuple[Message, ...],
        *,
        prewarm: bool = False,
    ) -> None:
        self._conversation = conversation
        self._inner = inner
        self.new = new
        self.prewarm = prewarm
        self._done = False
        self.response = Response()
        inner.call.collector = inner.call.collector or ResponseAccumulator()

    def __repr__(self) -> str:
        return f"ConversationTurn({self._inner!r})"

    @property
    def call(self) -> Any:
        return self._inner.call

    @property
    def end_reason(self) -> EndReason | None:
        return self._inner.end_reason

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        try:
            event: Event = await self._inner.__anext__()
        except BaseException:
            self._finish()
            raise
        return event

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._finish()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _finish(self) -> None:
        if self._done or self._inner.end_reason is None:
            return
        self._done = True
        collected = self._inner.call.response
        if collected is not None:
            self.response = collected
        self._conversation._ended(self)


def _messages(content: Sequence[str | Part | Message]) -> tuple[Message, ...]:
    """The turn's new messages: consecutive strings and parts make one user message."""
    out: list[Message] = []
    parts: list[Part] = []
    for item in content:
        if isinstance(item, Message):
            if parts:
                out.append(Message(role="user", content=tuple(parts)))
                parts = []
            out.append(item)
        elif isinstance(item, str):
            parts.append(TextPart(item))
        elif isinstance(item, msgspec.Struct):
            parts.append(item)
        else:
            raise TypeError(f"a turn's input is text, parts or messages, not {item!r}")
    if parts:
        out.append(Message(role="user", content=tuple(parts)))
    return tuple(out)
