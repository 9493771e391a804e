"""The forum: posting, replies, edits and deletes on every copy, limits, names, notifications."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.events import Kind
from bot.transports.base import MemoryTransport
from handlers.notifications import send_digests
from storage.models import Member, Report, ThreadState
from tests.harness import Harness


@pytest.fixture
def two_platforms(make_runtime):
    def build(clock: FakeClock | None = None):
        rt = make_runtime(transports={"memory": MemoryTransport("memory"), "other": MemoryTransport("other")},
                          clock=clock or FakeClock())
        return rt, Harness(rt)
    return build


async def group_of_three(h: Harness) -> None:
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow", platform="other")
    await h.onboard("lillian", "Lillian")      # the consultant from the config
    h.clear()


async def post_up_to_the_flood_limit(h: Harness) -> None:
    """Ann opens a thread and posts as often as one minute allows (6, the default)."""
    await h.say("ann", "/new Busy")
    for i in range(6):
        await h.say("ann", f"post {i}")


def posts_in(texts: list[str]) -> list[str]:
    return [t for t in texts if t.startswith("#") and " · p" in t.split("\n")[0]]


async def test_posts_reach_everyone_once_under_pseudonyms(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Winter evenings\nHow do you cope?")
    await h.say("bob", "/reply 1 Candles help me.", platform="other")
    await h.say("lillian", "/reply 1 Thank you both.")
    assert posts_in(h.inbox("bob", "other")) == ["#1 Winter evenings · p1 · Birch\nHow do you cope?",
                                                "#1 Winter evenings · p3 · Lillian · consultant\nThank you both."]
    assert posts_in(h.inbox("lillian")) == ["#1 Winter evenings · p1 · Birch\nHow do you cope?",
                                           "#1 Winter evenings · p2 · Willow\nCandles help me."]
    assert len(posts_in(h.inbox("ann"))) == 2
    assert "Posted as p1" in h.inbox("ann")[-3] or any("Posted as p1" in t for t in h.inbox("ann"))


async def test_platform_reply_goes_to_the_replied_posts_thread(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new First\nOne")
    await h.say("ann", "/new Second\nTwo")          # ann's current thread is now #2
    first_copy = next(m for m in h.transport("other").sent["bob"] if "p1" in m.text)
    await h.say("bob", "me too", platform="other", reply_to=first_copy.message_id)
    latest = h.inbox("ann")[-1] if h.inbox("ann")[-1].startswith("#") else posts_in(h.inbox("ann"))[-1]
    assert latest == "#1 First · p3 · Willow\n↪ replying to p1 (Birch)\nme too"


async def test_edit_and_delete_reach_every_delivered_copy(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Topic\nOriginal text")
    await h.say("ann", "/edit p1 Better text")
    for name, platform in (("bob", "other"), ("lillian", "memory")):
        (copy,) = [m for m in h.transport(platform).sent[name] if "p1" in m.text]
        assert "Better text" in copy.text and "Original text" in copy.edits[0]
    await h.say("ann", "/delete p1")
    for name, platform in (("bob", "other"), ("lillian", "memory")):
        (copy,) = [m for m in h.transport(platform).sent[name] if "p1" in m.text]
        assert copy.deleted
    with rt.db.uow() as uow:
        post = uow.threads.post(1)
        assert post.body is None and post.status == "deleted"
    await h.say("bob", "/read 1", platform="other")
    assert "[removed]" in h.inbox("bob", "other")[-1]


async def test_editing_ones_platform_message_edits_the_post(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Topic")
    await h.say("ann", "first words", message_id="tg-55")
    await h.say("ann", "corrected words", kind=Kind.EDIT, message_id="tg-55")
    (copy,) = [m for m in h.transport("other").sent["bob"] if "p1" in m.text]
    assert copy.text.endswith("corrected words\n(edited)")


async def test_edit_and_delete_as_replies_and_only_own_posts(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Topic\nmine")
    bob_copy = next(m for m in h.transport("other").sent["bob"] if "p1" in m.text)
    await h.say("bob", "/edit hijack", platform="other", reply_to=bob_copy.message_id)
    assert "only change your own posts" in h.inbox("bob", "other")[-1]
    await h.say("bob", "/delete p1", platform="other")
    assert "only change your own posts" in h.inbox("bob", "other")[-1]
    await h.say("bob", "/delete p99", platform="other")
    assert "no post 99" in h.inbox("bob", "other")[-1]


async def test_limits_get_clear_answers_and_lose_nothing(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new " + "x" * 121)
    assert "limit is 120" in h.last("ann")
    await h.say("ann", "/new Fine title")
    await h.say("ann", "y" * 4001)
    assert "length 4001, limit 4000" in h.last("ann")
    await h.say("ann", "/reply 77 hello")
    assert "no thread 77" in h.last("ann")
    await h.say("ann", "/reply 1    ")
    assert "/reply <thread> <text>" in h.last("ann") or "empty" in h.last("ann")
    await h.say("bob", "orphan text", platform="other")     # bob has no current thread
    assert "kept as draft d2" in "\n".join(h.inbox("bob", "other")[-2:])
    await h.say("bob", "/send 2 1", platform="other")
    assert posts_in(h.inbox("ann"))[-1] == "#1 Fine title · p1 · Willow\norphan text"


async def test_threads_in_another_group_are_invisible(make_runtime) -> None:
    from bot.config import GroupConfig
    from tests.conftest import test_config
    config = test_config("sqlite:///:memory:")
    other = GroupConfig(slug="elsewhere", name="Elsewhere", invite_codes=["OTHER"])
    config.groups.append(other)
    rt = make_runtime(config=config, url=None)
    h = Harness(rt)
    await h.onboard("ann", "Birch")
    await h.say("ann", "/new Private to group one\nhello")
    for line in ("/start", "/agree", "/join OTHER", "/name Quill"):
        await h.say("zoe", line)
    await h.say("zoe", "/read 1")
    assert "no thread 1" in h.last("zoe")
    await h.say("zoe", "/reply 1 sneaking in")
    assert "no thread 1" in h.last("zoe")
    assert all("sneaking" not in t for t in h.inbox("ann"))


async def test_flood_control_keeps_the_post_as_a_draft(two_platforms) -> None:
    clock = FakeClock()
    rt, h = two_platforms(clock)
    await group_of_three(h)
    await post_up_to_the_flood_limit(h)
    await h.say("ann", "post 6")
    assert "post 6" not in "\n".join(h.inbox("bob", "other"))
    assert "kept as draft d1" in h.last("ann")
    clock.advance(seconds=61)
    await h.say("ann", "/send")
    assert posts_in(h.inbox("bob", "other"))[-1].endswith("post 6")


async def test_rename_shows_new_name_and_fresh_start_is_unlinked(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Names\nfrom the old me", message_id="m1")
    await h.say("ann", "/name Rowan")
    await h.say("bob", "/read 1", platform="other")
    assert posts_in(h.inbox("bob", "other"))[-1].startswith("#1 Names · p1 · Rowan")
    await h.say("ann", "/name --fresh Aspen")
    assert "starting over as Aspen" in h.last("ann")
    with rt.db.uow() as uow:     # nothing carries over that ties the new name to the old one's threads
        new = uow.session.scalar(select(Member).where(Member.pseudonym == "Aspen"))
        states = uow.session.scalars(select(ThreadState).where(ThreadState.member_id == new.id)).all()
        # Every thread of the group is marked read alike, none followed: nothing singles out
        # the threads the old name wrote in.
        assert [(s.thread_id, s.follow) for s in states] == [(1, None)]
    await h.say("ann", "/reply 1 from the new me")
    await h.say("bob", "/read 1", platform="other")
    shown = posts_in(h.inbox("bob", "other"))[-2:]
    assert shown[0].startswith("#1 Names · p1 · Rowan") and shown[1].startswith("#1 Names · p2 · Aspen")
    with rt.db.uow() as uow:
        old = uow.session.scalar(select(Member).where(Member.pseudonym == "Rowan"))
        assert old.person_id is None and old.status == "retired"
        first = uow.threads.post(1)
        assert first.source_account_id is None and first.source_message_id is None

    await h.say("ann", "/delete p1")          # the old post is no longer hers to change
    assert "only change your own posts" in h.last("ann")


async def test_consultant_posts_under_role_name_even_with_real_name(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("lillian", "/new Welcome\nHello everyone")
    assert posts_in(h.inbox("ann"))[-1].startswith("#1 Welcome · p1 · Lillian · consultant")


async def test_quiet_hours_delay_and_never_drop(two_platforms) -> None:
    # 2026-01-05 22:30 in Oslo is 21:30 UTC
    clock = FakeClock(datetime(2026, 1, 5, 21, 30, tzinfo=timezone.utc))
    rt, h = two_platforms(clock)
    await group_of_three(h)
    await h.say("bob", "/quiet 22:00-07:00", platform="other")
    await h.say("ann", "/new Night\nCan't sleep")
    assert posts_in(h.inbox("bob", "other")) == []
    assert len(posts_in(h.inbox("lillian"))) == 1
    clock.set(datetime(2026, 1, 6, 5, 59, tzinfo=timezone.utc))     # 06:59 in Oslo
    await rt.worker.drain()
    assert posts_in(h.inbox("bob", "other")) == []
    clock.set(datetime(2026, 1, 6, 6, 0, tzinfo=timezone.utc))      # 07:00 in Oslo
    await rt.worker.drain()
    assert posts_in(h.inbox("bob", "other")) == ["#1 Night · p1 · Birch\nCan't sleep"]


async def test_digest_instead_of_each_post(two_platforms) -> None:
    clock = FakeClock()
    rt, h = two_platforms(clock)
    await group_of_three(h)
    await h.say("bob", "/notify digest", platform="other")
    clock.advance(minutes=1)
    await h.say("ann", "/new A\none")
    await h.say("ann", "/reply 1 two")
    await h.say("lillian", "/new B\nthree")
    assert posts_in(h.inbox("bob", "other")) == []
    clock.advance(hours=6)
    with rt.db.uow() as uow:
        assert send_digests(uow, clock.now()) == 1
    await rt.worker.drain()
    digest = h.inbox("bob", "other")[-1]
    assert digest.startswith("Today in your group") and "#1 A: 2 new" in digest and "#2 B: 1 new" in digest
    with rt.db.uow() as uow:          # nothing new: no second digest
        assert send_digests(uow, clock.advance(hours=24)) == 0


async def test_discreet_notifications_and_read_on_request(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("bob", "/discreet on", platform="other")
    await h.say("ann", "/new Private matter\nsomething personal")
    assert h.inbox("bob", "other")[-1] == "New activity in your group. Send /read 1 to see it."
    await h.say("bob", "/read 1", platform="other")
    assert h.inbox("bob", "other")[-1].endswith("something personal")


async def test_pause_mute_and_unread_counts(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Loud\nfirst")
    await h.say("bob", "/mute 1", platform="other")
    await h.say("ann", "/reply 1 second")
    await h.say("lillian", "/pause 7")
    await h.say("ann", "/reply 1 third")
    assert posts_in(h.inbox("bob", "other")) == ["#1 Loud · p1 · Birch\nfirst"]
    assert len(posts_in(h.inbox("lillian"))) == 2
    await h.say("bob", "/threads", platform="other")
    assert "#1 Loud — 3 posts, 2 unread" in h.inbox("bob", "other")[-1]
    await h.say("bob", "/read 1", platform="other")
    await h.say("bob", "/threads", platform="other")
    assert "3 posts, 0 unread" in h.inbox("bob", "other")[-1]
    await h.say("lillian", "/pause off")
    await h.say("ann", "/reply 1 fourth")
    assert posts_in(h.inbox("lillian"))[-1].endswith("fourth")


async def test_following_mode_only_brings_threads_one_takes_part_in(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("bob", "/notify following", platform="other")
    await h.say("ann", "/new Not mine\nx")
    await h.say("bob", "/new Mine\ny", platform="other")
    await h.say("ann", "/reply 2 answer to bob")
    assert [p.split("\n")[0] for p in posts_in(h.inbox("bob", "other"))] == ["#2 Mine · p3 · Birch"]
    await h.say("bob", "/follow 1", platform="other")
    await h.say("ann", "/reply 1 now followed")
    assert posts_in(h.inbox("bob", "other"))[-1].endswith("now followed")


async def test_report_reaches_the_store_and_the_author_learns_nothing(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Topic\ntext")
    before = list(h.inbox("ann"))
    await h.say("bob", "/report p1 feels unsafe", platform="other")
    assert "The consultant has been told about p1" in h.inbox("bob", "other")[-1]
    assert h.inbox("ann") == before
    with rt.db.uow() as uow:
        (report,) = uow.session.scalars(select(Report))
        assert report.post_id == 1 and report.reason == "feels unsafe"


async def test_more_pages_back(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Long")
    for i in range(12):
        await h.say("ann" if i % 2 else "lillian", f"/reply 1 n{i}", drain=False)
    await rt.worker.drain()
    h.clear()
    await h.say("bob", "/read 1", platform="other")
    assert [p.split("\n")[-1] for p in posts_in(h.inbox("bob", "other"))] == [f"n{i}" for i in range(7, 12)]
    await h.say("bob", "/more", platform="other")
    await h.say("bob", "/more", platform="other")
    await h.say("bob", "/more", platform="other")
    bodies = [p.split("\n")[-1] for p in posts_in(h.inbox("bob", "other")) if "·" in p]
    assert bodies[-2:] == ["n0", "n1"]
    assert "no earlier posts" in h.inbox("bob", "other")[-1]


async def test_forum_round_trip_on_each_database(make_runtime, db_url: str) -> None:
    """The same conversation on SQLite and on PostgreSQL: fan-out, reply, edit, delete, unread."""
    rt = make_runtime(url=db_url, transports={"memory": MemoryTransport("memory"),
                                              "other": MemoryTransport("other")})
    h = Harness(rt)
    await group_of_three(h)
    await h.say("ann", "/new Both databases\nfirst")
    copy = next(m for m in h.transport("other").sent["bob"] if "p1" in m.text)
    await h.say("bob", "answer", platform="other", reply_to=copy.message_id)
    await h.say("ann", "/edit p1 first, edited")
    await h.say("bob", "/delete p2", platform="other")
    assert copy.text.endswith("first, edited\n(edited)")
    assert all(m.deleted for m in h.transport("memory").sent["ann"] if " · p2 · " in m.text)
    await h.say("lillian", "/discreet on")
    await h.say("ann", "/reply 1 third")
    await h.say("lillian", "/threads")
    assert "#1 Both databases — 2 posts, 1 unread" in h.last("lillian")


async def test_a_message_delivered_twice_by_the_platform_is_posted_once(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Once")
    await h.say("ann", "only once please", message_id="tg-77")
    await h.say("ann", "only once please", message_id="tg-77")      # replayed after a crash
    assert [p.split("\n")[-1] for p in posts_in(h.inbox("bob", "other"))] == ["only once please"]


async def test_review_regressions_in_argument_handling(two_platforms) -> None:
    rt, h = two_platforms()
    await group_of_three(h)
    await h.say("ann", "/new Edge cases\nstart")
    for line in ("/read ²", "/reply ² x", "/edit p² x", "/delete 99999999999", "/pause ²", "/follow #²"):
        await h.say("ann", line)
        assert "something went wrong" not in h.last("ann"), line
    await h.say("ann", "/reply 1\nfirst line", message_id="tg-9")
    await h.say("ann", "/reply 1\nfirst line edited", kind=Kind.EDIT, message_id="tg-9")
    assert posts_in(h.inbox("bob", "other"))[-1].endswith("\nfirst line edited\n(edited)")
    await h.say("ann", "/name ßßßßßßßßßßßßßßßßßßßß")      # 20 characters; its look-alike key is longer
    assert "pseudonym is now" in h.last("ann")
    await h.say("ann", "/name —fresh Oakwood")
    assert "starting over as Oakwood" in h.last("ann")


async def test_a_draft_held_back_twice_is_published_once(two_platforms) -> None:
    clock = FakeClock()
    rt, h = two_platforms(clock)
    await group_of_three(h)
    await post_up_to_the_flood_limit(h)
    await h.say("ann", "DRAFTED")
    await h.say("ann", "/send")                     # still too fast: kept again
    clock.advance(minutes=2)
    await h.say("ann", "/send")
    await h.say("ann", "/send")
    assert [p for p in posts_in(h.inbox("bob", "other")) if p.endswith("DRAFTED")] == [
        posts_in(h.inbox("bob", "other"))[-1]]
    assert "no unsent draft" in h.last("ann")


async def test_an_edit_is_queued_for_the_copies_by_the_worker_and_survives_a_restart(make_runtime, tmp_path) -> None:
    from storage.models import OutboxItem, Post
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    transports = {"memory": MemoryTransport("memory"), "other": MemoryTransport("other")}
    h = Harness(make_runtime(url, transports=transports))
    await group_of_three(h)
    await h.say("ann", "/new Topic\nOriginal text")
    await h.say("ann", "/edit p1 Better text", drain=False)
    # The handler only marks the post (one row, not one per copy); the worker queues the rest.
    with h.rt.db.uow() as uow:
        assert uow.session.get(Post, 1).pending_change == "edit"
        assert not uow.session.scalars(select(OutboxItem).where(OutboxItem.op == "edit")).all()
    await h.rt.worker.drain()   # the answer goes out; the edit is queued and sent in the same drain
    assert "Everyone who received it" in h.last("ann")
    await h.say("ann", "/delete p1", drain=False)
    h.rt.dbt.close()               # stopped before the worker got to it: a new process takes over
    h2 = Harness(make_runtime(url, transports=transports))
    await h2.rt.worker.drain()
    for name, platform in (("bob", "other"), ("lillian", "memory")):
        (copy,) = [m for m in transports[platform].sent[name] if "p1" in m.text]
        assert "Better text" in copy.text and copy.deleted
    with h2.rt.db.uow() as uow:
        assert uow.session.get(Post, 1).pending_change is None
