"""The transport port, its errors and an in-memory fake used by tests and benchmarks."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

from bot.events import IncomingEvent, Rendered

Dispatch = Callable[[IncomingEvent], Awaitable[None]]


class SendError(Exception):
    """Base of the errors a transport reports to the outbox worker."""


class RetryAfter(SendError):
    """The platform asked us to wait before writing to this chat again."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:.1f}s")
        self.seconds = seconds


class Unreachable(SendError):
    """The person blocked the bot or left the chat: keep their deliveries, stop sending."""


class MessageGone(SendError):
    """The message to edit or delete no longer exists on the platform."""


class TransientError(SendError):
    """Network trouble or a server error: try again later."""


class PermanentError(SendError):
    """The platform refused this message for good (it will not improve with retries)."""


class Transport(Protocol):
    name: str

    async def start(self, dispatch: Dispatch) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, address: str, message: Rendered) -> str:
        """Send and return the platform's message id."""

    async def edit(self, address: str, message_id: str, message: Rendered) -> None: ...

    async def delete(self, address: str, message_id: str) -> None: ...


@dataclass
class SentMessage:
    message_id: str
    address: str
    text: str
    buttons: tuple = ()
    document: tuple[str, bytes] | None = None
    edits: list[str] = field(default_factory=list)
    deleted: bool = False


class MemoryTransport:
    """A complete transport kept in memory: what errbot's test backend is for errbot.

    Tests play participants with :meth:`user_says`; everything the bot sent is kept per
    address with its message id, so edits and deletes can be checked on every copy.
    """

    def __init__(self, name: str = "memory", id_prefix: str = "") -> None:
        self.name = name
        # Several processes sending to one database each need their own message ids, as
        # a platform would give them (one counter per process would repeat them).
        self.id_prefix = id_prefix
        self.sent: dict[str, list[SentMessage]] = {}
        self._by_id: dict[str, SentMessage] = {}
        self._dispatch: Dispatch | None = None
        self._next_id = 0
        self.failures: dict[str, list[Exception]] = {}
        self.unreachable: set[str] = set()
        self.sends = 0

    async def start(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch

    async def stop(self) -> None:
        self._dispatch = None

    def fail_next(self, address: str, error: Exception) -> None:
        self.failures.setdefault(address, []).append(error)

    def _maybe_fail(self, address: str) -> None:
        if address in self.unreachable:
            raise Unreachable(address)
        queue = self.failures.get(address)
        if queue:
            raise queue.pop(0)

    async def send(self, address: str, message: Rendered) -> str:
        self._maybe_fail(address)
        self._next_id += 1
        self.sends += 1
        msg = SentMessage(f"{self.id_prefix}{self._next_id}", address, message.text, message.buttons,
                          message.document)
        self.sent.setdefault(address, []).append(msg)
        self._by_id[msg.message_id] = msg
        return msg.message_id

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        self._maybe_fail(address)
        msg = self._by_id.get(message_id)
        if msg is None or msg.deleted or msg.address != address:
            raise MessageGone(message_id)
        msg.edits.append(msg.text)
        msg.text = message.text

    async def delete(self, address: str, message_id: str) -> None:
        self._maybe_fail(address)
        msg = self._by_id.get(message_id)
        if msg is None or msg.deleted or msg.address != address:
            raise MessageGone(message_id)
        msg.deleted = True

    async def deliver(self, event: IncomingEvent) -> None:
        if self._dispatch is None:
            raise RuntimeError("transport not started")
        await self._dispatch(event)

    def texts(self, address: str, include_deleted: bool = False) -> list[str]:
        return [m.text for m in self.sent.get(address, []) if include_deleted or not m.deleted]

    def all_messages(self) -> list[SentMessage]:
        return [m for msgs in self.sent.values() for m in msgs]


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)
