"""Issue 15, item 2: the event loop keeps running while a big handler works or the database
waits, waits are bounded, and a wait that gives up tells the person, losing nothing."""
from __future__ import annotations

import asyncio
import gc
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

from bot.events import PlatformUser
from storage.models import Post
from storage.seed import seed_members
from tests.harness import Harness

HOLD = ("import sqlite3, sys, time\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"           # the write lock, as another process would hold it
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "conn.rollback()\n")


class Heartbeat:
    """A 10 ms timer on the loop; ``worst`` is the longest time it could not run beyond its
    period (how long the loop was held), up to the end of the ``with`` block."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.beats = 0

    def _gap(self) -> None:
        now = asyncio.get_running_loop().time()
        self.worst = max(self.worst, now - self._last - 0.01)
        self._last = now

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self._gap()
            self.beats += 1

    def __enter__(self) -> "Heartbeat":
        self._last = asyncio.get_running_loop().time()
        self._task = asyncio.ensure_future(self.run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._gap()             # a loop held until now never let the timer run at all
        self._task.cancel()


@contextmanager
def started_heap() -> Iterator[None]:
    """The heap as a started bot has it: Runtime.start freezes what is alive once it has
    loaded (bot.dbthread.freeze_startup_objects), so a full collection walks only what the
    bot made since. The harness does not start the runtime, and this pytest process holds the
    objects of every earlier test: unfrozen, one full collection of them (hundreds of ms
    holding the GIL) would be measured here as a loop stall the bot never has."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def hold_write_lock(path: Path, seconds: float) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLD, str(path), str(seconds),
                                                stdout=asyncio.subprocess.PIPE)
    assert (await proc.stdout.readline()).strip() == b"held"
    return proc


async def onboarded(make_runtime, tmp_path: Path) -> tuple[Harness, Path]:
    path = tmp_path / "bot.db"
    h = Harness(make_runtime(f"sqlite:///{path}"))
    await h.onboard("ann", "Birch")
    await h.say("ann", "/new Evenings\nHow do you all wind down?")
    h.clear()
    return h, path


async def test_help_waits_out_another_process_write_lock_while_the_loop_keeps_running(
        make_runtime, tmp_path: Path) -> None:
    h, path = await onboarded(make_runtime, tmp_path)
    proc = await hold_write_lock(path, 3.0)
    with started_heap(), Heartbeat() as beat:
        started = time.monotonic()
        await h.say("ann", "/help")
        elapsed = time.monotonic() - started
    await proc.wait()
    # The old 30 s busy timeout held the whole loop for the 3 s the lock was held.
    assert beat.worst < 0.25, f"the event loop stalled {beat.worst * 1000:.0f} ms"
    assert beat.beats > 100
    answer = h.last("ann")
    # Either answered once the lock was gone (the usual case) or told to send it again,
    # with what she wrote quoted back: never silence.
    assert "emergency" in answer.lower() or ("send it again" in answer and "/help" in answer)
    assert elapsed < 6.0


async def test_a_lock_held_too_long_gets_a_try_again_answer_quoting_the_text(make_runtime, tmp_path: Path) -> None:
    h, path = await onboarded(make_runtime, tmp_path)
    proc = await hold_write_lock(path, 6.0)
    with started_heap(), Heartbeat() as beat:
        started = time.monotonic()
        await h.say("ann", "Long walks help me. And tea.", drain=False)
        gave_up = time.monotonic() - started
    # The handler tried a few times (about a second each) and gave up well before the lock
    # went away. Usually the database cannot take the answer either, so it goes straight out;
    # on a slow machine the lock may be gone by then and the answer waits in the outbox.
    assert gave_up < 5.5
    assert beat.worst < 0.25, f"the event loop stalled {beat.worst * 1000:.0f} ms"
    await proc.wait()
    await h.rt.worker.drain()
    answer = h.last("ann")
    assert "send it again in a moment" in answer and answer.endswith("Long walks help me. And tea.")
    assert h.rt.app.busy == 1 and h.rt.app.errors == 0
    with h.rt.db.uow() as uow:      # nothing half-saved: the post was not made
        bodies = [p.body_plain for p in uow.session.scalars(select(Post))]
    assert all("Long walks" not in (b or "") for b in bodies)
    await h.say("ann", "Long walks help me. And tea.")      # sent again, it is posted as usual
    assert any("Long walks" in p for p in h.inbox("ann")) or "Posted" in h.last("ann")


async def test_a_big_fan_out_does_not_stall_the_loop(make_runtime, tmp_path: Path) -> None:
    h = Harness(make_runtime(f"sqlite:///{tmp_path / 'bot.db'}"))
    await h.onboard("ann", "Birch")
    await h.say("ann", "/new Evenings\nHow do you all wind down?")
    seed_members(h.rt.db, "reconnect", [PlatformUser("memory", f"m{i}", f"m{i}") for i in range(2000)])
    with started_heap(), Heartbeat() as beat:
        await h.say("ann", "/reply 1 A warm bath, most nights.", drain=False)
        beat._gap()
        handler = beat.worst
        await h.rt.worker.drain()
    assert h.transport().sends >= 2000
    # Before: the handler's 2,000 Member/Person loads and inserts ran on the loop (~0.1-0.2 s
    # here, 0.42 s at 10,000). bench.scale reports the precise figure; this bound is loose.
    assert handler < 0.08, f"the handler stalled the loop {handler * 1000:.0f} ms"
    assert beat.worst < 0.1, f"the drain stalled the loop {beat.worst * 1000:.0f} ms"


@pytest.mark.postgres
async def test_postgres_waits_are_bounded_and_a_held_row_gets_a_try_again_answer(make_runtime, pg_url: str) -> None:
    import psycopg

    h = Harness(make_runtime(pg_url))
    with h.rt.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "1s"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "30s"
    await h.onboard("ann", "Birch")
    await h.say("ann", "/new Evenings\nHow do you all wind down?")
    h.clear()
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    # Another process's transaction holds the members' rows (as a moderation action might):
    # a post by one of them must wait for it.
    with psycopg.connect(dsn) as other:
        other.execute("SELECT id FROM members FOR UPDATE")
        with started_heap(), Heartbeat() as beat:
            started = time.monotonic()
            await h.say("ann", "Tea, and an early night.")
            gave_up = time.monotonic() - started
        other.rollback()
    assert 0.9 < gave_up < 6.0           # about a second per try, a few tries, then an answer
    assert beat.worst < 0.25
    answer = h.last("ann")
    assert "send it again in a moment" in answer and answer.endswith("Tea, and an early night.")
    with h.rt.db.uow() as uow:
        assert all("early night" not in (p.body_plain or "") for p in uow.session.scalars(select(Post)))
    await h.say("ann", "Tea, and an early night.")
    assert "send it again" not in h.last("ann")


async def test_the_worker_waits_out_a_held_lock_and_delivers_each_copy_once(make_runtime, tmp_path: Path) -> None:
    h, path = await onboarded(make_runtime, tmp_path)
    seed_members(h.rt.db, "reconnect", [PlatformUser("memory", f"m{i}", f"m{i}") for i in range(30)])
    await h.say("ann", "/reply 1 Reading before bed.", drain=False)     # queued for 30 people
    proc = await hold_write_lock(path, 2.5)
    with started_heap(), Heartbeat() as beat:
        await h.rt.worker.drain()
    await proc.wait()
    assert beat.worst < 0.25, f"the event loop stalled {beat.worst * 1000:.0f} ms"
    for i in range(30):
        copies = [t for t in h.inbox(f"m{i}") if "Reading before bed." in t]
        assert len(copies) == 1, (i, copies)
