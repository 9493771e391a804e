"""Regression tests for issue 8 (hardening): each test names the item it guards."""
from __future__ import annotations


import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.transports.base import MemoryTransport
from handlers.drafts import purge_expired_drafts
from storage.models import Draft
from tests.harness import Harness
from tests.test_threads import group_of_three, post_up_to_the_flood_limit, posts_in


@pytest.fixture
def world(make_runtime):
    def build(clock: FakeClock | None = None, config=None):
        rt = make_runtime(transports={"memory": MemoryTransport("memory"), "other": MemoryTransport("other")},
                          clock=clock or FakeClock(), config=config)
        return rt, Harness(rt)
    return build


# item 3 ---------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["/threads\t", "/help\u00a0", "/read\t1", "/", "//", "!", "/ threads",
                                   "!!", "/\u00a0threads", "  /threads\u2003"])
async def test_3_mistyped_commands_are_never_published(world, typed) -> None:
    rt, h = world()
    await group_of_three(h)
    await h.say("ann", "/new Open\nfirst")
    await h.say("ann", typed)
    assert posts_in(h.inbox("bob", "other")) == ["#1 Open · p1 · Birch\nfirst"]
    answer = h.last("ann")
    assert "Posted as" not in answer
    with rt.db.uow() as uow:
        assert uow.threads.count_posts(1) == 1


async def test_3_any_unicode_space_separates_command_and_arguments(world) -> None:
    rt, h = world()
    await group_of_three(h)
    await h.say("ann", "/new Open\nfirst")
    await h.say("bob", "/read\t1", platform="other")
    assert "Open" in h.inbox("bob", "other")[-2]
    await h.say("bob", "/help\u00a0", platform="other")
    assert "/threads" in h.last("bob", "other")


# item 7 ---------------------------------------------------------------------
async def test_7_drafts_list_send_any_and_discard(world) -> None:
    clock = FakeClock()
    rt, h = world(clock)
    await group_of_three(h)
    await h.say("ann", "/new Busy")
    await h.say("bob", "first orphan", platform="other")          # no thread: d1
    await h.say("bob", "second orphan", platform="other")         # d2
    await h.say("bob", "/drafts", platform="other")
    listing = h.last("bob", "other")
    assert "2 drafts" in listing and "d1" in listing and "first orphan" in listing and "d2" in listing
    await h.say("bob", "/send", platform="other")                 # two drafts: which one?
    assert "Which one" in h.inbox("bob", "other")[-2]
    await h.say("bob", "/send 1 #1", platform="other")            # the older one, not only the newest
    assert posts_in(h.inbox("ann"))[-1] == "#1 Busy · p1 · Willow\nfirst orphan"
    await h.say("bob", "/discard 2", platform="other")
    assert "d2 is thrown away" in h.last("bob", "other")
    await h.say("bob", "/drafts", platform="other")
    assert "no unsent draft" in h.last("bob", "other")
    await h.say("bob", "again", platform="other")                 # bob's current thread is now #1
    await h.say("ann", "orphan of ann")                           # ann's too: it is posted
    await h.say("bob", "/discard all", platform="other")
    assert "no unsent draft" not in h.last("bob", "other")
    await h.say("bob", "/discard", platform="other")
    assert "/discard <draft>" in h.last("bob", "other")
    await h.say("bob", "/discard 99", platform="other")
    assert "no draft 99" in h.last("bob", "other")


async def test_7_someone_elses_draft_cannot_be_sent_or_discarded(world) -> None:
    rt, h = world()
    await group_of_three(h)
    await h.say("bob", "secret draft", platform="other")          # d1, bob's
    await h.say("ann", "/send 1")
    assert "no draft 1" in h.last("ann")
    await h.say("ann", "/discard 1")
    assert "no draft 1" in h.last("ann")
    await h.say("ann", "/drafts 1")
    assert "secret" not in "\n".join(h.inbox("ann"))


async def test_7_too_long_first_post_of_a_new_thread_is_kept(world) -> None:
    rt, h = world()
    await group_of_three(h)
    long_text = "word " * 1000
    await h.say("ann", "/new Long story\n" + long_text)
    assert "kept as draft d1" in h.last("ann")
    await h.say("ann", "/drafts 1")
    shown = "".join(t.split(":\n", 1)[-1] for t in h.inbox("ann")[-2:])
    assert shown.replace("\n", "") .startswith(long_text.strip()[:3000].replace("\n", ""))
    await h.say("ann", "/send 1")
    assert "limit is 4000" in h.last("ann")
    with rt.db.uow() as uow:
        assert len(uow.session.scalars(select(Draft)).all()) == 1     # still kept, not lost


async def test_7_drafts_expire_after_the_configured_time(world) -> None:
    from tests.conftest import test_config
    config = test_config("sqlite:///:memory:")
    config.privacy.draft_expiry_days = 2
    clock = FakeClock()
    rt, h = world(clock, config)
    await group_of_three(h)
    await post_up_to_the_flood_limit(h)
    await h.say("ann", "too fast")
    assert "kept as draft" in h.last("ann")
    clock.advance(days=1)
    await h.say("ann", "/drafts")
    assert "too fast" in h.last("ann")
    clock.advance(days=1, seconds=1)
    await h.say("ann", "/drafts")
    assert "no unsent draft" in h.last("ann")
    with rt.db.uow() as uow:
        assert purge_expired_drafts(uow, clock.now(), 2) == 1
    with rt.db.uow() as uow:
        assert uow.session.scalars(select(Draft)).all() == []


async def test_7_new_thread_over_the_hourly_limit_is_kept_as_a_draft(world) -> None:
    """Item 11 (thread creation is rate-limited like posts), kept as a draft (item 7)."""
    clock = FakeClock()
    rt, h = world(clock)
    await group_of_three(h)
    for i in range(5):
        await h.say("ann", f"/new Topic {i}")
    await h.say("ann", "/new Topic 5\nbody five")
    assert "kept as draft d1" in h.last("ann")
    with rt.db.uow() as uow:
        assert uow.threads.get(6) is None
    clock.advance(hours=1, seconds=1)
    await h.say("ann", "/send 1")
    assert posts_in(h.inbox("bob", "other"))[-1] == "#6 Topic 5 · p1 · Birch\nbody five"
