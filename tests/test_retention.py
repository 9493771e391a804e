"""Retention of delivery records and outbox rows (issue 15 item 5, issue 8 item 6), and unread
counts from per-member state that do not depend on those records (issue 15 item 3)."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, update

from bot.clock import FakeClock
from bot.scheduler import register_runtime
from bot.transports.base import MemoryTransport
from handlers.privacy import retention_job
from storage.models import Delivery, OutboxItem
from tests.harness import Harness
from tests.test_console import run_console
from tests.test_threads import group_of_three


def world(make_runtime, url: str | None = None) -> tuple:
    clock = FakeClock()
    rt = make_runtime(url=url, clock=clock,
                      transports={"memory": MemoryTransport("memory"), "other": MemoryTransport("other")})
    register_runtime(rt.key, rt)         # the job looks the bot up by key, as the scheduler does
    return rt, Harness(rt), clock


def rows(rt, model) -> int:  # type: ignore[no-untyped-def]
    with rt.db.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


async def test_unread_counts_do_not_change_when_delivery_records_are_purged(make_runtime, db_url) -> None:
    rt, h, clock = world(make_runtime, db_url)
    await group_of_three(h)
    await h.say("bob", "/notify digest", platform="other")
    await h.say("ann", "/new Evenings\nhow do you spend them?")
    await h.say("ann", "/reply 1 I walk a lot")
    await h.say("lillian", "/threads")
    assert "#1 Evenings — 2 posts, 0 unread" in h.last("lillian")     # both came to her in full
    await h.say("bob", "/threads", platform="other")
    assert "#1 Evenings — 2 posts, 2 unread" in h.last("bob", "other")  # digest: no full copy
    clock.advance(days=31)
    done = await retention_job(rt.key)
    assert done["deliveries"] > 0 and rows(rt, Delivery) == 0
    await h.say("lillian", "/threads")
    assert "#1 Evenings — 2 posts, 0 unread" in h.last("lillian")     # still read
    await h.say("bob", "/threads", platform="other")
    assert "#1 Evenings — 2 posts, 2 unread" in h.last("bob", "other")  # unread until he reads
    await h.say("ann", "/reply 1 on second thought, no")
    await h.say("ann", "/delete p3")                  # a post he never saw, deleted: not unread
    await h.say("bob", "/threads", platform="other")
    assert "#1 Evenings — 2 posts, 2 unread" in h.last("bob", "other")
    await h.say("bob", "/read 1", platform="other")
    await h.say("bob", "/threads", platform="other")
    assert "#1 Evenings — 2 posts, 0 unread" in h.last("bob", "other")


async def test_the_retention_job_keeps_recent_records_and_deletes_old_ones_in_batches(make_runtime) -> None:
    rt, h, clock = world(make_runtime)
    await group_of_three(h)
    await h.say("ann", "/new Old\nfrom long ago")
    old_deliveries, old_outbox = rows(rt, Delivery), rows(rt, OutboxItem)
    clock.advance(days=20)
    await h.say("ann", "/reply 1 three weeks later")
    clock.advance(days=11)                           # the first post's copies are 31 days old
    copy = next(m for m in h.transport("other").sent["bob"] if "three weeks later" in m.text)
    import handlers.privacy as privacy
    privacy.PURGE_BATCH, saved = 1, privacy.PURGE_BATCH     # one row per statement
    try:
        done = await retention_job(rt.key)
    finally:
        privacy.PURGE_BATCH = saved
    assert done["deliveries"] == old_deliveries == 2          # bob's and lillian's copies of p1
    assert rows(rt, Delivery) == 2                             # p2's copies, 11 days old, stay
    # Finished outbox rows older than 7 days go, also those of p2's copies (11 days old) ...
    assert done["outbox"] >= old_outbox > 0
    with rt.db.uow() as uow:
        assert not uow.session.scalars(select(OutboxItem).where(OutboxItem.post_id == 2)).all()
    await h.say("ann", "/edit p2 three weeks later, edited")    # ... whose copies still change
    assert copy.text.endswith("three weeks later, edited\n(edited)")
    await h.say("ann", "/edit p1 from long ago, edited")       # old ones cannot: she is told so
    assert "older copies in people's chats keep the old text" in h.last("ann")
    assert "30 days" in h.last("ann")
    await h.say("lillian", "/mod hide p1 off topic")             # and so is the consultant
    assert h.last("lillian") == ("Copies of p1 sent more than 30 days ago are not changed: the bot keeps "
                                 "no record of where they went after that time.")


def test_retention_runs_in_console_mode(tmp_path: Path) -> None:
    script = ("annaxq: /start\nannaxq: /agree\nannaxq: /join WELCOME\nannaxq: /name Birch\n"
              "borisxq: /start\nborisxq: /agree\nborisxq: /join WELCOME\nborisxq: /name Willow\n"
              "annaxq: /new Winter\n  first post\n")
    first = run_console(tmp_path, script)
    assert first.returncode == 0, first.stderr
    db = sqlite3.connect(tmp_path / "ph.db")
    long_ago = (datetime.now(timezone.utc) - timedelta(days=40)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with db:
        assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1      # Willow's copy
        db.execute("UPDATE deliveries SET sent_at = ?", (long_ago,))
        db.execute("UPDATE outbox SET created_at = ? WHERE status = 'done'", (long_ago,))
    second = run_console(tmp_path, "annaxq: /reply 1 a new post\n")
    assert second.returncode == 0, second.stderr
    with db:
        assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1      # only the new copy
        (oldest,) = db.execute("SELECT min(created_at) FROM outbox").fetchone()
    assert oldest is None or oldest > long_ago
    db.close()


async def test_a_member_who_joins_later_finds_the_older_posts_unread(make_runtime) -> None:
    rt, h, clock = world(make_runtime)
    await h.onboard("ann", "Birch")
    await h.say("ann", "/new Before you came\none")
    await h.say("ann", "/reply 1 two")
    await h.onboard("bob", "Willow", platform="other")
    await h.say("ann", "/reply 1 three")                     # bob gets this one in full
    await h.say("bob", "/threads", platform="other")
    assert "#1 Before you came — 3 posts, 2 unread" in h.last("bob", "other")
    with rt.db.uow() as uow:                                   # and the records do not matter
        uow.session.execute(update(Delivery).values(full=False))
    await h.say("bob", "/threads", platform="other")
    assert "#1 Before you came — 3 posts, 2 unread" in h.last("bob", "other")


async def test_the_migration_keeps_the_unread_counts_of_an_existing_database(make_runtime, db_url) -> None:
    """0080 derives the per-member state from the delivery records of a database written
    before it: downgraded to 0030 and upgraded again, every /threads answer is the same."""
    from alembic import command
    from sqlalchemy import create_engine

    from storage.db import alembic_config, make_engine
    rt, h, clock = world(make_runtime, db_url)
    await group_of_three(h)
    await h.say("bob", "/notify digest", platform="other")
    await h.say("ann", "/new One\nfirst")
    await h.say("lillian", "/reply 1 an answer")
    await h.say("bob", "/notify all", platform="other")
    await h.say("ann", "/new Two\nsecond")
    await h.say("lillian", "/discreet on")
    await h.say("bob", "/reply 2 bob here", platform="other")
    await h.say("bob", "/mute 1", platform="other")
    await h.say("ann", "/reply 1 more")
    await h.onboard("cara", "Hazel")
    await h.say("ann", "/reply 2 welcome")

    async def listings() -> dict[str, str]:
        out = {}
        for who, platform in (("ann", "memory"), ("bob", "other"), ("lillian", "memory"), ("cara", "memory")):
            await h.say(who, "/threads", platform=platform)
            out[who] = h.last(who, platform)
        return out

    before = await listings()
    assert "#1 One — 3 posts, 3 unread" in before["bob"]            # digest, then muted
    assert "#2 Two — 3 posts, 2 unread" in before["lillian"]        # discreet notices only
    assert "#2 Two — 3 posts, 2 unread" in before["cara"]           # two from before she joined
    rt.db.engine.dispose()
    # Without the app's foreign-key pragma: SQLite rebuilds tables to drop columns.
    engine = create_engine(db_url) if db_url.startswith("sqlite") else make_engine(db_url)
    command.downgrade(alembic_config(engine), "0030")
    command.upgrade(alembic_config(engine), "head")
    engine.dispose()
    assert await listings() == before


class VmSteps:
    """SQLite VM instructions executed (in thousands): work that does not depend on timing."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        from sqlalchemy import event
        self.k = 0

        @event.listens_for(engine, "connect")
        def _count(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.set_progress_handler(self._tick, 1000)

        engine.dispose()

    def _tick(self) -> int:
        self.k += 1
        return 0


async def test_threads_shows_one_page_and_counts_only_that_page(make_runtime) -> None:
    from sqlalchemy import insert

    from storage.models import Post
    rt, h, clock = world(make_runtime)
    rt.config.safety.threads_per_hour = 100
    rt.config.safety.posts_per_minute = 100
    await group_of_three(h)
    await h.say("bob", "/notify off", platform="other")          # nothing reaches him: all unread
    for i in range(1, 36):
        await h.say("ann", f"/new Topic {i}\npost of {i}", drain=False)
        clock.advance(seconds=1)
    await rt.worker.drain()
    await h.say("lillian", "/mod pin 2")
    await h.say("ann", "/reply 20 again in 20")
    await h.say("bob", "/read 34", platform="other")
    await h.say("bob", "/threads", platform="other")
    listing = h.last("bob", "other")
    lines = listing.split("\n")[1:]
    order = [2, 20] + [t for t in range(35, 0, -1) if t not in (2, 20)][:28]
    assert [line.split()[0 if not line.startswith("📌") else 1] for line in lines] == [f"#{t}" for t in order]
    assert lines[0] == "📌 #2 Topic 2 — 1 post, 1 unread"
    assert lines[1] == "#20 Topic 20 — 2 posts, 2 unread"
    assert "#34 Topic 34 — 1 post, 0 unread" in lines and "#35 Topic 35 — 1 post, 1 unread" in lines
    # Thousands more posts in a thread that is not on the page (written in bulk, so its
    # activity time stays old): /threads answers the same and does not read them.
    steps = VmSteps(rt.db.engine)
    with rt.db.uow() as uow:
        author = uow.members.by_pseudonym(1, "Birch").id
    start = steps.k
    await h.say("bob", "/threads", platform="other")
    before = steps.k - start
    with rt.db.uow() as uow:
        uow.session.execute(insert(Post), [{"thread_id": 1, "author_member_id": author, "status": "published",
                                            "body_plain": f"bulk {n}", "created_at": clock.now()}
                                           for n in range(5000)])
    start = steps.k
    await h.say("bob", "/threads", platform="other")
    after = steps.k - start
    assert h.last("bob", "other") == listing
    assert after <= before * 1.2 + 2, (before, after)
