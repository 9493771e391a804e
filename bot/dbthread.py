"""The one thread that does the bot's database work, off the asyncio event loop (issue 15).

Handler transactions, the outbox worker's claim and record steps and the scheduler's jobs
are synchronous SQLAlchemy. Run on the loop, a reply fanned out to 10,000 members held the
loop for half a second and a lock held by another process froze it for as long as the busy
timeout: Telegram polling, Matrix sync, sends and every other person waited. Here they run
in one dedicated thread; the loop keeps polling and sending while it works.

Why a thread and not SQLAlchemy's asyncio engine (asyncpg/aiosqlite): the whole storage
layer (repositories, the key ring, personal data, Alembic migrations) is synchronous, and
the asyncio engine would need every repository rewritten with awaits and no lazy loads;
aiosqlite runs a thread per connection anyway. One thread also means one writer at a time
inside the process, so SQLite never contends with itself (only with other processes).

Two priorities (``Priority``): *interactive* work (the transaction of a person's message or
command, and the outbox's direct lane that sends the answers) runs before *bulk* work (the
fan-out lane's batches, scheduler jobs, retention). Run in plain submission order, a /help
waited behind the fan-out batch and the jobs queued before it (p99 ~200 ms during a drain at
10,000 members); now it waits at most for the one step already running. Within a priority
the order is the order of submission: events of one person, which the transports hand over
one at a time, keep their order. Bulk work waits only while interactive work is queued,
which people's typing bounds. An interactive transaction still waits for the bulk step
already running (a fan-out batch of 100: 30-60 ms at 10,000 members).

A thread alone is not enough: Python's cyclic garbage collector runs with the GIL held for a
whole collection, and a full one over the tens of thousands of ORM objects a big transaction
holds (a fan-out to 10,000 members) stopped the loop for 30-200 ms. So the collector is
paused while a transaction runs (its objects are freed by reference counting when its
session closes) and the objects alive at the start are frozen out of its view (``freeze``).

Waits are bounded (storage.db): a transaction that loses to another process's lock is
rolled back whole and run again after a short pause *on the loop*, so the database thread
is free for other work meanwhile; after ATTEMPTS the error goes to the caller, which tells
the person to try again (bot.app) or keeps the work for its next round (bot.delivery).
"""
from __future__ import annotations

import asyncio
import functools
import gc
import heapq
import itertools
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from storage.db import is_contention

if TYPE_CHECKING:
    from storage.repo import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
# Three tries with the busy timeout of about a second each: a lock another process holds
# for up to ~3 s is waited out; a longer one gives up after ~3.5 s.
ATTEMPTS = 3
PAUSES = (0.1, 0.4)


class Priority(IntEnum):
    """Which work goes first when several wait for the database thread (lower first)."""
    INTERACTIVE = 0      # a person's message or command, and the direct answers to them
    BULK = 1             # fan-out batches, scheduler jobs, retention, status lines


@dataclass(order=True)
class _Work:
    priority: int
    seq: int                                   # submission order: FIFO within one priority
    call: Callable[[], Any] = field(compare=False)
    future: Future = field(compare=False)


class DbThread:
    def __init__(self, db: "Database") -> None:
        self.db = db
        # The executor's single worker is the database thread (and its shutdown and exit
        # handling); which work it runs next is taken from ``_queue`` at the moment it is
        # free, so an interactive transaction submitted behind queued bulk work runs next.
        # Each submission adds one item and one executor task, so every task takes one item.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="peerhaven-db")
        self._queue: list[_Work] = []
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self.retries = 0           # transactions run again after losing to a lock (for tests, logs)

    async def run(self, fn: Callable[..., T], *args: Any, priority: Priority = Priority.BULK) -> T:
        """``fn(*args)`` in the database thread, once."""
        return await asyncio.wrap_future(self._enqueue(priority, functools.partial(fn, *args)))

    def submit(self, fn: Callable[..., Any], *args: Any, priority: Priority = Priority.BULK) -> None:
        """``fn(*args)`` in the database thread, not waited for (a callback that must not
        block its caller on the loop); a failure is logged."""
        def guarded() -> None:
            try:
                fn(*args)
            except Exception as exc:
                log.warning("background database work failed (%s)", exc.__class__.__name__)
        self._enqueue(priority, guarded)

    def _enqueue(self, priority: Priority, call: Callable[[], Any]) -> Future:
        future: Future = Future()
        with self._lock:
            heapq.heappush(self._queue, _Work(int(priority), next(self._seq), call, future))
        self._executor.submit(self._run_next)
        return future

    def _run_next(self) -> None:
        """In the database thread: the most urgent waiting work, oldest first."""
        with self._lock:
            work = heapq.heappop(self._queue)
        if not work.future.set_running_or_notify_cancel():
            return           # its caller stopped waiting (cancelled) before it began
        try:
            result = _collector_paused(work.call)
        except BaseException as exc:     # handed to the caller, who raises it on the loop
            work.future.set_exception(exc)
        else:
            work.future.set_result(result)

    async def retrying(self, fn: Callable[..., T], *args: Any, attempts: int = ATTEMPTS,
                       priority: Priority = Priority.BULK) -> T:
        """``fn(*args)`` in the database thread, run again while it loses to another
        transaction's lock. ``fn`` must be one whole transaction (or several that are each
        safe to repeat): a failed try has been rolled back, so running it again is safe."""
        for attempt in range(attempts):
            try:
                return await self.run(fn, *args, priority=priority)
            except Exception as exc:
                if not is_contention(exc) or attempt == attempts - 1:
                    raise
                self.retries += 1
                log.info("database busy (%s); trying again", exc.__class__.__name__)
                await asyncio.sleep(PAUSES[min(attempt, len(PAUSES) - 1)])
        raise AssertionError("unreachable")

    async def transaction(self, fn: Callable[..., T], *args: Any, attempts: int = ATTEMPTS,
                          priority: Priority = Priority.BULK) -> T:
        """``fn(uow, *args)`` in one transaction in the database thread, with retries."""
        return await self.retrying(self._in_uow, fn, *args, attempts=attempts, priority=priority)

    def _in_uow(self, fn: Callable[..., T], *args: Any) -> T:
        with self.db.uow() as uow:
            return fn(uow, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _collector_paused(fn: Callable[[], T]) -> T:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return fn()
    finally:
        if enabled:
            gc.enable()


_frozen = False


def freeze_startup_objects() -> None:
    """Once a process has started (modules, config, catalogues loaded), move what is alive
    into the collector's permanent generation, so a full collection later walks only what
    the running bot made since (tens of ms less per collection, on the loop too)."""
    global _frozen
    if _frozen:            # once: tests start many runtimes in one process
        return
    _frozen = True
    gc.collect()
    gc.freeze()
