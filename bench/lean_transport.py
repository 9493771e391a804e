"""The in-memory platform for bench.scale, keeping only what the benchmark reads.

MemoryTransport keeps every message sent as a dataclass with a list (for tests that check
each copy); after a full-size bench.scale run that is about 200,000 messages and half a
million objects the cyclic garbage collector walks in every full collection, on the event
loop's thread: measured 0.4-1.3 s per collection, which the benchmark reported as the bot's
loop stalls. A real platform keeps nothing in the bot's process, so this one keeps each
message as strings in flat lists: a list of strings costs the collector next to nothing,
and growing it is one reallocation. (A list of tuples per address, as before, cost a visit
per message in every full collection on the loop: 5 ms growing to 30 ms over one run; and a
dictionary of 200,000 message ids stalled the loop 30-45 ms each time it grew. Both were
reported as the bot's stalls.)
"""
from __future__ import annotations

from bot.events import Rendered
from bot.transports.base import MemoryTransport, MessageGone


class LeanTransport(MemoryTransport):
    def __init__(self, name: str = "memory", id_prefix: str = "") -> None:
        super().__init__(name, id_prefix)
        self._first = self._next_id + 1          # message ids are id_prefix + a running number
        self._to: list[str] = []                 # the address of each message, in send order
        self._texts: list[str] = []              # its text
        self._counts: dict[str, int] = {}        # address -> messages sent to it
        self._deleted: set[str] = set()

    async def send(self, address: str, message: Rendered) -> str:
        self._maybe_fail(address)
        self._next_id += 1
        self.sends += 1
        self._to.append(address)
        self._texts.append(message.text)
        self._counts[address] = self._counts.get(address, 0) + 1
        return f"{self.id_prefix}{self._next_id}"

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        self._check(address, message_id)

    async def delete(self, address: str, message_id: str) -> None:
        self._check(address, message_id)
        self._deleted.add(message_id)

    def _check(self, address: str, message_id: str) -> None:
        self._maybe_fail(address)
        number = message_id[len(self.id_prefix):]
        index = int(number) - self._first if message_id.startswith(self.id_prefix) and number.isdigit() else -1
        if not 0 <= index < len(self._to) or self._to[index] != address or message_id in self._deleted:
            raise MessageGone(message_id)

    def count_to(self, address: str) -> int:
        return self._counts.get(address, 0)

    def pairs(self) -> list[list[str]]:
        """(address, text) of every message sent."""
        return [[address, text] for address, text in zip(self._to, self._texts)]
