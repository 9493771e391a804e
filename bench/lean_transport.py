"""The in-memory platform for bench.scale, keeping only what the benchmark reads.

MemoryTransport keeps every message sent as a dataclass with a list (for tests that check
each copy); after a full-size bench.scale run that is about 200,000 messages and half a
million objects the cyclic garbage collector walks in every full collection, on the event
loop's thread: measured 0.4-1.3 s per collection, which the benchmark reported as the bot's
loop stalls. A real platform keeps nothing in the bot's process, so this one keeps each
message as a tuple of strings (untracked by the collector) and the same counts.
"""
from __future__ import annotations

from bot.events import Rendered
from bot.transports.base import MemoryTransport, MessageGone


class LeanTransport(MemoryTransport):
    def __init__(self, name: str = "memory", id_prefix: str = "") -> None:
        super().__init__(name, id_prefix)
        self.lean: dict[str, list[tuple[str, str]]] = {}      # address -> (message id, text)
        self._addresses: dict[str, str] = {}                  # message id -> address
        self._deleted: set[str] = set()

    async def send(self, address: str, message: Rendered) -> str:
        self._maybe_fail(address)
        self._next_id += 1
        self.sends += 1
        message_id = f"{self.id_prefix}{self._next_id}"
        self.lean.setdefault(address, []).append((message_id, message.text))
        self._addresses[message_id] = address
        return message_id

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        self._check(address, message_id)

    async def delete(self, address: str, message_id: str) -> None:
        self._check(address, message_id)
        self._deleted.add(message_id)

    def _check(self, address: str, message_id: str) -> None:
        self._maybe_fail(address)
        if self._addresses.get(message_id) != address or message_id in self._deleted:
            raise MessageGone(message_id)

    def count_to(self, address: str) -> int:
        return len(self.lean.get(address, ()))

    def pairs(self) -> list[list[str]]:
        """(address, text) of every message sent."""
        return [[address, text] for address, msgs in self.lean.items() for _, text in msgs]
