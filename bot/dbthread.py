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
inside the process, so SQLite never contends with itself (only with other processes), and
transactions run one after another in the order they were submitted (people's events and
direct answers before background work: the bulk lane and scheduled jobs): events of one
person, which the transports hand over one at a time, keep their order.

A thread alone is not enough: Python's cyclic garbage collector runs with the GIL held for a
whole collection, and a full one over the tens of thousands of ORM objects a big transaction
holds (a fan-out to 10,000 members) stopped the loop for 30-200 ms. So the collector is
paused while a transaction runs (its objects are freed by reference counting when its
session closes) and the objects alive at the start are frozen out of its view (``freeze``).

Waits are bounded and short (storage.db.lock_wait): a transaction here waits at most
LOCK_WAIT_MS for another process's lock, is then rolled back whole and run again after a
pause *on the loop*, so the database thread is free for other work meanwhile (an answer that
needs no write, bot.app, goes out while another process holds SQLite's write lock). Once
DEADLINE seconds have passed the error goes to the caller, which tells the person to try
again (bot.app) or keeps the work for its next round (bot.delivery).
"""
from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from storage.db import is_contention, lock_wait

if TYPE_CHECKING:
    from storage.repo import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
# A lock another process holds for up to ~3 s is waited out in short tries; a longer one
# gives up after about DEADLINE seconds.
LOCK_WAIT_MS = 100
DEADLINE = 3.5
PAUSES = (0.05, 0.1, 0.2, 0.3)
URGENT, BACKGROUND = 0, 1         # the order in which queued work is taken


class DbThread:
    """One thread, two kinds of work. Background work (the bulk lane's fan-out steps, the
    scheduler's jobs) waits while anything else is queued: a person's answer then waits at
    most for the one step in progress, not for the steps queued before it (issue 15: /help
    p99 during a drain on PostgreSQL). Within each kind, first come first served, so the
    events of one person keep their order."""

    def __init__(self, db: "Database") -> None:
        self.db = db
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        # The executor's one thread takes the best queued item for each submission, so a
        # later urgent item overtakes background work still waiting. The executor, not a thread
        # of our own, for its lifecycle: its thread ends when the DbThread is dropped (a
        # runtime is then freed with its engine and caches) and is joined before the
        # interpreter finalises (a daemon thread frozen at exit mid-log held the logging lock
        # that the last garbage collection's warnings then waited on forever).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="peerhaven-db")
        self.retries = 0           # transactions run again after losing to a lock (for tests, logs)

    def _put(self, rank: int, work: Callable[[], None]) -> None:
        self._queue.put((rank, next(self._order), work))
        self._executor.submit(_run_best, self._queue)

    async def run(self, fn: Callable[..., T], *args: Any, background: bool = False) -> T:
        """``fn(*args)`` in the database thread, once."""
        return await self.run_bounded(LOCK_WAIT_MS, False, fn, *args, background=background)

    async def run_bounded(self, wait_ms: int, read_only: bool, fn: Callable[..., T], *args: Any,
                          background: bool = False) -> T:
        """``fn(*args)`` in the database thread, once, its transactions waiting at most
        ``wait_ms`` for a lock (and refused any write with ``read_only``)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def work() -> None:
            try:
                outcome: tuple = (_in_thread(wait_ms, read_only, fn, *args), None)
            except BaseException as exc:      # handed to the awaiting caller, raised there
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:              # the loop closed meanwhile: nobody waits any more
                log.debug("database work finished after its event loop closed")
        self._put(BACKGROUND if background else URGENT, work)
        return await future

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` in the database thread, not waited for (a callback that must not
        block its caller on the loop); a failure is logged."""
        def guarded() -> None:
            try:
                _in_thread(LOCK_WAIT_MS, False, fn, *args)
            except Exception as exc:
                log.warning("background database work failed (%s)", exc.__class__.__name__)
        self._put(URGENT, guarded)

    async def retrying(self, fn: Callable[..., T], *args: Any, deadline: float = DEADLINE,
                       background: bool = False) -> T:
        """``fn(*args)`` in the database thread, run again while it loses to another
        transaction's lock, until ``deadline`` seconds have passed. ``fn`` must be one whole
        transaction (or several that are each safe to repeat): a failed try has been rolled
        back, so running it again is safe."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt = 0
        while True:
            try:
                return await self.run(fn, *args, background=background)
            except Exception as exc:
                pause = PAUSES[min(attempt, len(PAUSES) - 1)]
                if not is_contention(exc) or loop.time() - started + pause >= deadline:
                    raise
                self.retries += 1
                if attempt == 0:
                    log.info("database busy (%s); trying again", exc.__class__.__name__)
                attempt += 1
                await asyncio.sleep(pause)

    async def job(self, fn: Callable[..., T], *args: Any, deadline: float = DEADLINE) -> T:
        """A scheduled job's ``fn(uow, *args)``: one transaction in the database thread, with
        retries, as background work (a digest or a retention batch waits for people's answers)."""
        return await self.retrying(self._in_uow, fn, *args, deadline=deadline, background=True)

    def _in_uow(self, fn: Callable[..., T], *args: Any) -> T:
        with self.db.uow() as uow:
            return fn(uow, *args)

    def close(self) -> None:
        """Stop once the work already queued is done."""
        self._executor.shutdown(wait=True)


def _run_best(work_queue: queue.PriorityQueue) -> None:
    """One submission, one item: the most urgent one queued now."""
    _, _, work = work_queue.get_nowait()
    work()


def _settle(future: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _in_thread(wait_ms: int, read_only: bool, fn: Callable[..., T], *args: Any) -> T:
    enabled = gc.isenabled()
    gc.disable()
    try:
        with lock_wait(wait_ms, read_only=read_only):
            return fn(*args)
    finally:
        if enabled:
            gc.enable()


_frozen = False


def freeze_startup_objects(load: Callable[[], None] | None = None) -> None:
    """Once a process has started (modules, config, catalogues loaded), move what is alive
    into the collector's permanent generation, so a full collection later walks only what
    the running bot made since (tens of ms less per collection, on the loop too). ``load``
    first loads what would otherwise be loaded on first use (bot.lifecycle)."""
    global _frozen
    if _frozen:            # once: tests start many runtimes in one process
        return
    _frozen = True
    if load is not None:
        load()
    gc.collect()
    gc.freeze()
