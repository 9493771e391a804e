"""Telegram's flood limits, kept on our side so that one busy chat never stalls the others.

Two mechanisms, both in memory (one process; see docs/telegram.md for several processes):

* :class:`GlobalWindow` - the bot as a whole: at most 30 new messages in any one second as the
  server counts them (a sliding window, the strictest reading of Telegram's limit; a token
  bucket, used before, allowed a burst on top of the rate, which a strict server answers with
  429). Callers *wait* for a slot: with the outbox running at most 32 deliveries at once the
  wait is short (about one second at worst). Waiters are served in order, except that chats
  which wrote to the bot a moment ago ("interactive" chats) go first, so a direct answer never
  queues behind a large fan-out.
* :class:`ChatGate` - the next time each chat may get a new message (one per second). A chat
  that is not ready is *not* waited for: :meth:`ChatGate.claim` raises ``RetryAfter`` at once,
  so the outbox worker reschedules that one recipient and moves on to the others.

python-telegram-bot's ``AIORateLimiter`` is deliberately not used: it makes every caller wait
(also for another chat's ``retry_after``), which stalls everyone behind one busy chat.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from typing import Callable

from bot.transports.base import RetryAfter, TransientError

Clock = Callable[[], float]
_PRUNE_AT = 20_000          # entries kept per map before expired ones are dropped


class GlobalWindow:
    """At most ``limit`` new messages in any ``window`` seconds, counted the way the server
    counts them, with a fair, priority-aware queue of waiters.

    A send holds its slot from the moment it leaves until ``window`` seconds after its answer
    came back. The server accepted it somewhere in between, so however the network or a busy
    machine delays requests, no ``window`` of the server's clock ever holds more than
    ``limit`` of them (a sliding-window server is the strictest reading of "30 per second").
    Throughput stays at ``limit / (window + latency)``: about 29.5/s at 15 ms latency.
    """

    def __init__(self, limit: float, window: float = 1.0, clock: Clock = time.monotonic) -> None:
        if limit <= 0 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = max(1, int(limit))
        self.window = window
        self.clock = clock
        self._in_flight = 0
        self._done: deque[float] = deque()          # answer times still inside the window
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def _free(self) -> int:
        horizon = self.clock() - self.window
        while self._done and self._done[0] <= horizon:
            self._done.popleft()
        return self.limit - self._in_flight - len(self._done)

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, fut in self._waiters if not fut.done())

    async def acquire(self, priority: bool = False) -> None:
        """Take a slot, waiting for one if none is free (priority waiters are served first).
        Every acquire must be followed by one :meth:`release` when the request has ended."""
        if not self._waiters and self._free() > 0:
            self._in_flight += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (0 if priority else 1, next(self._seq), fut))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._serve(), name="telegram-global-window")
        await fut

    def release(self) -> None:
        """The request has ended (answered or failed): its slot frees ``window`` seconds later."""
        self._in_flight = max(0, self._in_flight - 1)
        self._done.append(self.clock())
        self._changed.set()

    async def _serve(self) -> None:
        while self._waiters:
            if self._waiters[0][2].done():          # a cancelled waiter
                heapq.heappop(self._waiters)
                continue
            if self._free() > 0:
                self._in_flight += 1
                heapq.heappop(self._waiters)[2].set_result(None)
                continue
            self._changed.clear()
            wait = self._done[0] + self.window - self.clock() if self._done else None
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=max(wait, 0.001) if wait is not None else None)
            except asyncio.TimeoutError:
                pass

    def close(self) -> None:
        """Stopping: whoever still waits gets a TransientError (the outbox tries again later)."""
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(TransientError("transport stopping"))
        self._waiters.clear()


class ChatGate:
    """Per-chat pacing of new messages: at most one per ``interval`` seconds, one at a time.

    The interval is counted from the moment the previous send *returned*, not from when it
    left: the server accepted it somewhere in between, so the gap it sees is never shorter.
    """

    def __init__(self, interval: float, clock: Clock = time.monotonic, interactive_for: float = 60.0) -> None:
        self.interval = max(0.0, interval)
        self.clock = clock
        self.interactive_for = interactive_for
        self._ready: dict[int, float] = {}
        self._busy: set[int] = set()
        self._seen: dict[int, float] = {}
        self._penalties: dict[int, float] = {}

    def claim(self, chat_id: int) -> None:
        """Reserve the chat for one new message, or raise ``RetryAfter`` with the time left."""
        now = self.clock()
        if chat_id in self._busy:
            raise RetryAfter(max(self.interval, 0.05))
        ready = self._ready.get(chat_id, 0.0)
        if ready > now:
            raise RetryAfter(ready - now)
        self._busy.add(chat_id)

    def release(self, chat_id: int, penalty: float = 0.0) -> None:
        """The send finished (or failed): the next one may follow after the interval."""
        self._busy.discard(chat_id)
        self._set_ready(chat_id, self.clock() + max(self.interval, penalty))

    def penalise(self, chat_id: int, seconds: float) -> None:
        """The server asked us to wait (429 retry_after) before writing to this chat again."""
        until = self.clock() + seconds
        self._set_ready(chat_id, max(self._ready.get(chat_id, 0.0), until))
        self._penalties[chat_id] = max(self._penalties.get(chat_id, 0.0), until)
        if len(self._penalties) > _PRUNE_AT:
            now = self.clock()
            self._penalties = {c: t for c, t in self._penalties.items() if t > now}

    def penalty_left(self, chat_id: int) -> float:
        """Seconds until a server's retry_after for this chat has passed (0 if none)."""
        until = self._penalties.get(chat_id)
        return 0.0 if until is None else max(0.0, until - self.clock())

    def wait_time(self, chat_id: int) -> float:
        return max(0.0, self._ready.get(chat_id, 0.0) - self.clock())

    def _set_ready(self, chat_id: int, when: float) -> None:
        self._ready[chat_id] = when
        if len(self._ready) > _PRUNE_AT:
            now = self.clock()
            self._ready = {c: t for c, t in self._ready.items() if t > now or c in self._busy}

    def note_incoming(self, chat_id: int) -> None:
        """The person just wrote to the bot: answers to them get priority for a while."""
        self._seen[chat_id] = self.clock()
        if len(self._seen) > _PRUNE_AT:
            horizon = self.clock() - self.interactive_for
            self._seen = {c: t for c, t in self._seen.items() if t > horizon}

    def interactive(self, chat_id: int) -> bool:
        seen = self._seen.get(chat_id)
        return seen is not None and self.clock() - seen < self.interactive_for
