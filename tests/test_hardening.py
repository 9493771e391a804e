"""Regression tests for issue 8 (hardening): each test names the item it guards."""
from __future__ import annotations


import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.transports.base import MemoryTransport
from handlers.drafts import purge_expired_drafts
from storage.models import Draft, Post
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
    assert "still too long" in h.last("ann") and "4000" in h.last("ann")
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


# item 1 ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Lillian · сonsultant", "ᏟONSULTANT", "Ｃｏｎｓｕｌｔａｎｔ", "ConsuItant",
                                  "c\u200bo\u200bn\u200bsultant", "Lillian · konsuIent", "rnoderator", "Kοnsulent"])
async def test_1_the_consultant_label_cannot_be_imitated(world, name) -> None:
    rt, h = world()
    await group_of_three(h)
    await h.say("ann", f"/name {name}")
    assert "role words" in h.last("ann")


@pytest.mark.parametrize("name", ["Bir\u200dch", "Вirch", "ＢＩＲＣＨ", "B\u200bi\u200cr\ufe0fch", "BIrch",
                                  "Birch\u2060", "Bіrch"])
async def test_1_look_alike_pseudonyms_are_taken(world, name) -> None:
    rt, h = world()
    await group_of_three(h)                                   # ann is Birch
    await h.say("bob", f"/name {name}", platform="other")
    assert "already uses that pseudonym" in h.last("bob", "other")


async def test_1_invisible_characters_are_never_part_of_a_name_title_or_empty_post(world) -> None:
    rt, h = world()
    await group_of_three(h)
    await h.say("bob", "/name Wil\u200dlow\u200d2", platform="other")
    with rt.db.uow() as uow:
        assert uow.members.get(2).pseudonym == "Willow2"
    await h.say("ann", "/new \u200b\u200d\ufe0f")
    assert "/new <title>" in h.last("ann")
    await h.say("ann", "/new Real title\n\u200d\u200b \ufe0f")
    await h.say("ann", "\u200d\u2060\u200b")
    await h.say("ann", "\u200d/threads")                       # still a command, not a post
    assert posts_in(h.inbox("bob", "other")) == []
    await h.say("ann", "👨\u200d👩\u200d👧 family")               # emoji sequences keep their joiners
    assert posts_in(h.inbox("bob", "other")) == ["#1 Real title · p1 · Birch\n👨\u200d👩\u200d👧 family"]


# item 6 ---------------------------------------------------------------------
def _rows_linking(rt, account_ids: set[int], person_id: int, post_ids: set[int], member_id: int) -> list:
    """Every row of every table that names the person (or one of their accounts) together
    with one of the old posts or the old member: such a row links the old name to them."""
    from sqlalchemy import inspect, text
    found = []
    with rt.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            cols = [c["name"] for c in inspect(conn).get_columns(table)]
            for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                names_person = any(row[c] in account_ids for c in cols if c.endswith("account_id")) or \
                    any(row[c] == person_id for c in cols if c.endswith("person_id")) or \
                    (table == "accounts" and row["id"] in account_ids) or (table == "people" and row["id"] == person_id)
                names_old = any(row[c] in post_ids for c in cols if c.endswith("post_id")) or \
                    any(row[c] == member_id for c in cols if c.endswith("member_id")) or \
                    (table == "posts" and row["id"] in post_ids) or (table == "members" and row["id"] == member_id)
                payload = str(row.get("payload") or "")
                names_old = names_old or any(f'"post": {p}' in payload or f'"post":{p}' in payload for p in post_ids)
                if names_person and names_old:
                    found.append((table, dict(row)))
    return found


async def test_6_after_a_fresh_start_no_row_links_the_old_posts_to_the_person(world) -> None:
    from bot.scheduler import register_runtime
    from handlers.privacy import retention_job
    from storage.models import Delivery, OutboxItem
    clock = FakeClock()
    rt, h = world(clock)
    await group_of_three(h)
    await h.say("ann", "/new Old name thread\nwritten as Birch", message_id="a1")
    await h.say("ann", "/reply 1 second as Birch", message_id="a2")
    await h.say("bob", "/reply 1 bob answers", platform="other")
    await h.say("ann", "/read 1")                              # her own posts delivered back to her
    await h.say("ann", "/new Another")
    await h.say("ann", "kept back?")                           # goes to #2
    await h.say("ann", "/drafts")
    await h.say("ann", "/name --fresh Aspen")
    with rt.db.uow() as uow:
        person_id = uow.accounts.find("memory", "ann").person_id
        account_ids = {a.id for a in uow.accounts.for_person(person_id)}
        old = uow.members.by_pseudonym(1, "Birch")
        old_posts = {p.id for p in uow.session.scalars(select(Post).where(Post.author_member_id == old.id))}
    assert old_posts == {1, 2, 4}
    assert _rows_linking(rt, account_ids, person_id, old_posts, old.id) == []
    await h.say("ann", "/threads")                             # her old posts are not unread for Aspen
    assert "#1 Old name thread — 3 posts, 0 unread" in h.last("ann")
    # The copies of her old posts went to everyone but her, so the records of who received
    # them still point at her by omission; retention deletes them (and nothing counts on them).
    clock.advance(days=31)
    register_runtime(rt.key, rt)
    await retention_job(rt.key)
    with rt.db.uow() as uow:
        assert uow.session.scalars(select(Delivery).where(Delivery.post_id.in_(old_posts))).all() == []
        assert uow.session.scalars(select(OutboxItem).where(OutboxItem.post_id.in_(old_posts))).all() == []
    assert _rows_linking(rt, account_ids, person_id, old_posts, old.id) == []
    await h.say("ann", "/threads")
    assert "#1 Old name thread — 3 posts, 0 unread" in h.last("ann")


async def test_6_direct_answers_leave_no_delivery_record(world) -> None:
    from storage.models import Delivery
    rt, h = world()
    await group_of_three(h)
    await h.say("ann", "/new T\nfirst")
    with rt.db.uow() as uow:
        ann = {a.id for a in uow.accounts.for_person(uow.accounts.find("memory", "ann").person_id)}
        rows = uow.session.scalars(select(Delivery).where(Delivery.account_id.in_(ann))).all()
    assert rows == []                                          # "Posted as p1" and the rest: none kept


async def test_6_fresh_start_drops_the_old_members_drafts(world) -> None:
    rt, h = world()
    await group_of_three(h)
    await h.say("ann", "orphan under the old name")
    await h.say("ann", "/name --fresh Aspen")
    await h.say("ann", "/drafts")
    assert "no unsent draft" in h.last("ann")
    with rt.db.uow() as uow:
        assert uow.session.scalars(select(Draft)).all() == []


# item 10 --------------------------------------------------------------------
async def test_10_sqlite_overwrites_deleted_rows(world) -> None:
    from sqlalchemy import text
    rt, h = world()
    with rt.db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1


# item 11 --------------------------------------------------------------------
async def test_11_a_title_starting_with_closed_is_an_open_thread(world) -> None:
    rt, h = world()
    await group_of_three(h)
    await h.say("ann", "/new Closed doors and anxiety\nhow do you cope?")
    assert posts_in(h.inbox("bob", "other")) == ["#1 Closed doors and anxiety · p1 · Birch\nhow do you cope?"]
    await h.say("ann", "/new closed Just us")
    assert "Closed thread #2" in h.last("ann")


async def test_11_pause_zero_is_refused_with_the_usage(world) -> None:
    rt, h = world()
    await group_of_three(h)
    await h.say("bob", "/pause 3", platform="other")
    await h.say("bob", "/pause 0", platform="other")
    assert "/pause <days>" in h.last("bob", "other")
    with rt.db.uow() as uow:
        assert uow.people.get(uow.accounts.find("other", "bob").person_id).paused_until is not None


async def test_11_quiet_off_releases_what_quiet_hours_held(world) -> None:
    from datetime import datetime, timezone
    clock = FakeClock(datetime(2026, 1, 5, 21, 30, tzinfo=timezone.utc))   # 22:30 in Oslo
    rt, h = world(clock)
    await group_of_three(h)
    await h.say("bob", "/quiet 22:00-07:00", platform="other")
    await h.say("ann", "/new Night\nCan't sleep")
    assert posts_in(h.inbox("bob", "other")) == []
    await h.say("bob", "/quiet off", platform="other")
    assert posts_in(h.inbox("bob", "other")) == ["#1 Night · p1 · Birch\nCan't sleep"]


# item 5 ---------------------------------------------------------------------
async def test_5_config_changes_take_effect_at_the_next_start(make_runtime, tmp_path) -> None:
    from tests.conftest import test_config
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    first = make_runtime(url=url, config=test_config(url, invite_codes=["WELCOME", "SPRING"]))
    h = Harness(first)
    await h.onboard("lillian", "Lillian")                     # a consultant, from the config
    await h.onboard("ann", "Birch")
    first.db.engine.dispose()
    # Next start: Lillian is no longer named, Ann is; SPRING is taken out of the config.
    second = make_runtime(url=url, config=test_config(url, invite_codes=["WELCOME"],
                                                      consultants=["memory:ann"]))
    with second.db.uow() as uow:
        roles = {m.pseudonym: m.role for m in uow.members.active(1)}
    assert roles == {"Lillian": "participant", "Birch": "consultant"}
    h2 = Harness(second)
    for line in ("/start", "/agree", "/join SPRING"):
        await h2.say("zoe", line)
    assert "not valid" in h2.last("zoe")
    await h2.say("zoe", "/join WELCOME")
    assert "ReConnect" in h2.last("zoe") or "joined" in "\n".join(h2.inbox("zoe")[-3:])
    with second.db.uow() as uow:
        actions = [a for a, in uow.session.execute(text_("SELECT action FROM audit_log")).all()]
    assert "invite.sync_revoke" in actions


def text_(sql: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    return text(sql)


def test_5_a_telegram_consultant_must_be_a_number() -> None:
    from bot.config import ConfigError, parse_config
    base = '[[groups]]\nslug = "g"\nname = "G"\nconsultants = [%s]\n'
    parse_config(base % '"telegram:123456789"')
    with pytest.raises(ConfigError, match="numeric user id"):
        parse_config(base % '"telegram:@lillian"')


async def test_5_join_attempts_are_rate_limited_per_person(world) -> None:
    clock = FakeClock()
    rt, h = world(clock)
    await h.say("eve", "/start")
    await h.say("eve", "/agree")
    for i in range(10):
        await h.say("eve", f"/join GUESS{i}")
    assert "not valid" in h.last("eve")
    await h.say("eve", "/join WELCOME")                         # even the right code waits now
    assert "tries at joining" in h.last("eve")
    with rt.db.uow() as uow:
        assert uow.members.of_person(uow.accounts.find("memory", "eve").person_id) == []
    clock.advance(hours=1, seconds=1)
    await h.say("eve", "/join WELCOME")
    assert "tries at joining" not in h.last("eve")
    with rt.db.uow() as uow:
        assert len(uow.members.of_person(uow.accounts.find("memory", "eve").person_id)) == 1


# item 2 ---------------------------------------------------------------------
@pytest.fixture
def two_groups(make_runtime):
    from bot.config import GroupConfig
    from tests.conftest import test_config

    def build():
        config = test_config("sqlite:///:memory:")
        config.groups.append(GroupConfig(slug="elsewhere", name="Elsewhere", invite_codes=["OTHER"]))
        rt = make_runtime(config=config, url=None,
                          transports={"memory": MemoryTransport("memory"), "other": MemoryTransport("other")})
        return rt, Harness(rt)
    return build


async def _ann_in_two_groups(h: Harness) -> None:
    """Ann is Birch in ReConnect and Maple in Elsewhere; Bob is only in ReConnect, Zoe only
    in Elsewhere. Thread 1 is ReConnect's, thread 2 Elsewhere's."""
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow", platform="other")
    for line in ("/start", "/agree", "/join OTHER", "/name Quill"):
        await h.say("zoe", line)
    await h.say("ann", "/join OTHER")
    await h.say("ann", "/name Maple")
    await h.say("bob", "/new Group one\nhello from one", platform="other")
    await h.say("zoe", "/new Group two\nhello from two")


async def test_2_a_reply_goes_to_the_replied_posts_group_under_that_pseudonym(two_groups) -> None:
    rt, h = two_groups()
    await _ann_in_two_groups(h)
    one = next(m for m in h.transport("memory").sent["ann"] if "hello from one" in m.text)
    assert "(ReConnect)" in one.text.split("\n")[0]             # she is in two groups: it says which
    await h.say("ann", "answer to one", reply_to=one.message_id)
    assert "(" not in posts_in(h.inbox("bob", "other"))[0].split("\n")[0]   # bob is in one: nothing added
    shown = posts_in(h.inbox("bob", "other"))[-1]
    assert shown.startswith("#1 Group one · p3 · Birch") and shown.endswith("answer to one")
    assert "answer to one" not in "\n".join(h.inbox("zoe"))
    assert "(ReConnect)" in h.last("ann")                       # "Posted as p3 in #1 Group one (ReConnect)"
    # Plain text now goes to the thread she last wrote in, with its group: ReConnect's #1.
    await h.say("ann", "more for one")
    assert posts_in(h.inbox("bob", "other"))[-1].endswith("more for one")
    assert "more for one" not in "\n".join(h.inbox("zoe"))
    # Opening Elsewhere's thread switches to Maple there.
    await h.say("ann", "/read 2")
    await h.say("ann", "for two")
    assert posts_in(h.inbox("zoe"))[-1] == "#2 Group two · p5 · Maple\nfor two"
    assert "for two" not in "\n".join(h.inbox("bob", "other"))


async def test_2_a_reply_that_cannot_be_placed_is_kept_and_asked(two_groups) -> None:
    rt, h = two_groups()
    await _ann_in_two_groups(h)
    await h.say("ann", "which group is this?", reply_to="no-such-message")
    assert "kept as draft d" in h.last("ann")
    assert "which group" not in "\n".join(h.inbox("bob", "other") + h.inbox("zoe"))
    with rt.db.uow() as uow:
        assert [d.kind for d in uow.session.scalars(select(Draft))] == ["unsure"]


async def test_2_after_joining_another_group_plain_text_is_kept_not_misplaced(two_groups) -> None:
    rt, h = two_groups()
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow", platform="other")
    await h.say("ann", "/new Mine\nfirst")
    await h.say("ann", "/join OTHER")
    await h.say("ann", "/name Maple")
    await h.say("ann", "meant for Mine")                     # the current group is Elsewhere now
    assert "kept as draft" in "\n".join(h.inbox("ann")[-2:])
    assert "meant for Mine" not in "\n".join(h.inbox("bob", "other"))
    await h.say("ann", "/threads")
    assert "(ReConnect)" in h.last("ann")


async def test_2_discreet_and_digest_notices_say_which_group_without_naming_it_on_a_lock_screen(
        two_groups) -> None:
    from handlers.notifications import send_digests
    rt, h = two_groups()
    await _ann_in_two_groups(h)
    await h.say("ann", "/discreet on")
    await h.say("bob", "quiet news for group one", platform="other")
    notice = h.last("ann")
    assert notice.startswith("New activity in one of your groups") and "/read 1" in notice
    assert "ReConnect" not in notice and "quiet news" not in notice
    await h.say("ann", "/discreet off")
    await h.say("ann", "/notify digest")
    await h.say("zoe", "/notify digest")
    rt.clock.advance(minutes=1)
    await h.say("zoe", "news for group two")
    await h.say("bob", "more news for group one", platform="other")
    await h.say("ann", "/reply 2 from Maple")
    with rt.db.uow() as uow:
        send_digests(uow, rt.clock.advance(hours=6))
    await rt.worker.drain()
    digest = h.last("ann")
    assert "#2 Group two (Elsewhere): 1 new post" in digest and "#1 Group one (ReConnect): 1 new post" in digest
    zoes = h.last("zoe")                                                # in one group: no tag
    assert "#2 Group two: 1 new post" in zoes and "(Elsewhere)" not in zoes
