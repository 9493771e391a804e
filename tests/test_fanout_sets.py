"""The set-based fan-out (storage/fanout_repo.py) decides exactly what the per-member Python
loop it replaced decided, on a membership that has every case: who gets a copy and on which
account, when it may go out (quiet hours), whether it is first in line, and which members
count the post as unseen. The old loop is kept here, as the reference."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.clock import FakeClock, as_utc
from bot.events import PlatformUser
from handlers.posting import fan_out, quiet_until
from handlers.reveals_service import closed_audience
from storage.models import Account, Member, OutboxItem, ThreadState
from storage.models_moderation import DeliveryChoice
from storage.repo import BULK, UnitOfWork
from storage.seed import seed_members

MEMBERS = 40


def old_fan_out(uow: UnitOfWork, ctx, post, thread, exclude_person_id):  # type: ignore[no-untyped-def]
    """The loop of handlers/posting.py before the set-based statements: (rows, shown_to)."""
    now = ctx.clock.now()
    follows = uow.threads.follow_map(thread.id)
    posters = uow.threads.posters(thread.id)
    audience = closed_audience(uow, thread) if thread.closed else None
    rows, shown_to = [], set()
    recipients = uow.threads.recipients(thread.group_id, exclude_person_id)
    seen: dict[int, int] = {}
    for _, person, _ in recipients:
        seen[person.id] = seen.get(person.id, 0) + 1
    chosen = uow.moderation.delivery_accounts({p for p, n in seen.items() if n > 1})
    for member, person, account_id in recipients:
        if chosen.get(person.id, account_id) != account_id or (audience is not None and member.id not in audience):
            continue
        if person.notify in ("off", "digest") or uow.threads.paused_or_off(person, now):
            continue
        follow = follows.get(member.id)
        if follow is False:
            continue
        if person.notify == "following" and not (follow or thread.creator_member_id == member.id
                                                 or member.id in posters):
            continue
        rows.append((member.id, account_id, quiet_until(person, now, ctx.config.bot.timezone) or now))
        if not person.discreet:
            shown_to.add(member.id)
    return rows, shown_to


def expected_unseen(uow: UnitOfWork, post, group_id: int, shown_to: set[int]) -> dict[int, int]:
    states = {s.member_id: s for s in uow.session.scalars(select(ThreadState).where(
        ThreadState.thread_id == post.thread_id))}
    out = {m: s.unseen for m, s in states.items()}
    for m in uow.session.scalars(select(Member).where(Member.group_id == group_id)):
        if m.person_id is None or m.id == post.author_member_id or m.unread_from >= post.id or m.id in shown_to:
            continue
        state = states.get(m.id)
        if state is None:
            out[m.id] = 1
        elif state.last_read_post_id < post.id:
            out[m.id] = state.unseen + 1
    return out


def mixed_membership(uow: UnitOfWork, clock: FakeClock, tz: str):  # type: ignore[no-untyped-def]
    """Members 0..39 with every setting the fan-out looks at; returns (members, threads)."""
    group = uow.groups.by_slug("reconnect")
    members = list(uow.session.scalars(select(Member).where(Member.group_id == group.id).order_by(Member.id)))
    people = [uow.people.get(m.person_id) for m in members]
    author = members[0]
    thread = uow.threads.create(group.id, "open thread", members[1].id)
    closed = uow.threads.create(group.id, "closed thread", members[2].id)
    closed.closed = True
    local = clock.now().astimezone(ZoneInfo(tz))
    minute = local.hour * 60 + local.minute
    inside, outside = ((minute - 60) % 1440, (minute + 60) % 1440), ((minute + 60) % 1440, (minute + 120) % 1440)
    for i in (3, 4):
        people[i].notify = "off" if i == 3 else "digest"
    people[5].paused_until = clock.now() + timedelta(days=1)
    people[6].paused_until = clock.now() - timedelta(days=1)          # a break that is over
    for i in (7, 8, 9):
        people[i].quiet_start, people[i].quiet_end = inside
    people[10].quiet_start, people[10].quiet_end = outside
    people[11].quiet_start, people[11].quiet_end = (600, 600)          # empty quiet hours
    for i in (12, 13):
        people[i].discreet = True
    people[13].quiet_start, people[13].quiet_end = inside
    uow.threads.state(members[14].id, thread.id).follow = False       # muted the thread
    for i in (15, 16, 17, 18, 19):
        people[i].notify = "following"
    uow.threads.state(members[16].id, thread.id).follow = True
    uow.threads.add_post(thread, members[17].id, "an earlier answer", None, None)
    uow.threads.add_post(thread, members[18].id, "a held answer", None, None, status="held")
    people[1].notify = "following"                                     # the thread's creator
    members[20].status = "suspended"
    members[21].pseudonym = None
    people[22].consent_at = None
    members[23].person_id = None                                       # started over
    people[24].notify = "digest"
    uow.threads.mark_read(members[24].id, thread.id, 10**6)           # read past the new post
    people[25].discreet = True
    uow.threads.state(members[25].id, thread.id).unseen = 2
    for i, choice in ((26, "new"), (27, "old"), (28, None), (29, None)):
        person = people[i]
        first = uow.session.scalar(select(Account).where(Account.person_id == person.id))
        other = uow.accounts.find_or_create(PlatformUser("memory", f"second{i}", f"second{i}"), uow.people, "en")
        other.person_id = person.id
        other.last_seen_at = clock.now() - timedelta(hours=1)          # written from less recently
        uow.session.flush()
        if choice is not None:
            uow.session.add(DeliveryChoice(person_id=person.id, account_id=other.id if choice == "new" else first.id))
        if i == 29:
            first.reachable = False                                    # the bot is blocked there
    for i in (30, 31):                                                  # already something queued
        account = uow.session.scalar(select(Account.id).where(Account.person_id == people[i].id))
        uow.outbox.add(account, {"mode": "fanout"}, lane=BULK, kind="post")
    # The closed thread: its creator, an invited mutual partner, an invited non-partner.
    for a, b in ((2, 32), (32, 2), (2, 33)):
        uow.reveals.add(group.id, members[a].id, members[b].id, "card", "test")
    for i in (32, 33):
        uow.reveals.invite(closed.id, members[i].id)
    uow.session.flush()
    return members, author, thread, closed


def outbox_rows(uow: UnitOfWork, post_id: int) -> list[tuple[int, object, bool]]:
    return [(r.account_id, as_utc(r.not_before), r.head) for r in uow.session.scalars(
        select(OutboxItem).where(OutboxItem.post_id == post_id, OutboxItem.op == "send").order_by(OutboxItem.id))]


def test_set_based_fan_out_matches_the_old_loop(make_runtime, db_url: str) -> None:
    clock = FakeClock()
    rt = make_runtime(url=db_url, clock=clock)
    tz = rt.config.bot.timezone
    seed_members(rt.db, "reconnect", [PlatformUser("memory", f"u{i}", f"u{i}") for i in range(MEMBERS)])
    ctx = SimpleNamespace(clock=clock, config=rt.config)
    with rt.db.uow() as uow:
        members, author, thread, closed = mixed_membership(uow, clock, tz)
        late = uow.members.add(uow.people.create("en").id, author.group_id, "participant", None)
        for target in (thread, closed):
            post = uow.threads.add_post(target, author.id, f"to {target.title}", None, None)
            late.unread_from = post.id                     # joined after this post: not counted
            uow.session.flush()
            rows, shown_to = old_fan_out(uow, ctx, post, target, author.person_id)
            busy = {a for a in uow.session.scalars(select(OutboxItem.account_id).where(
                OutboxItem.lane == BULK, OutboxItem.head.is_(True)))}
            unseen = expected_unseen(uow, post, author.group_id, shown_to)
            queued = fan_out(uow, ctx, post, target, exclude_person_id=author.person_id)
            assert queued == len(rows)
            assert outbox_rows(uow, post.id) == [(a, as_utc(nb), a not in busy) for _, a, nb in rows]
            uow.session.expire_all()
            states = {s.member_id: s.unseen for s in uow.session.scalars(select(ThreadState).where(
                ThreadState.thread_id == target.id))}
            assert states == unseen
            if target is thread:
                # Every case above did something: a copy for some, none for others, a notice,
                # a delayed copy, unseen counts, a second account chosen.
                index = {m.id: i for i, m in enumerate(members)}
                got = {index[m] for m, _, _ in rows}
                assert {1, 16, 17, 18} <= got and not {0, 3, 4, 5, 14, 15, 19, 20, 21, 22, 23} & got
                assert unseen[members[25].id] == 3 and unseen[members[24].id] == 0
                assert any(nb != clock.now() for _, _, nb in rows) and len(rows) > 20
            else:
                assert {m for m, _, _ in rows} == {members[2].id, members[32].id}    # creator, partner


def test_edit_propagation_counts_the_copies_it_queues(make_runtime, db_url: str) -> None:
    """The author is told how many copies an edit reaches (psycopg gave -1 for the INSERT …
    SELECT unless its count was kept)."""
    rt = make_runtime(url=db_url)
    seed_members(rt.db, "reconnect", [PlatformUser("memory", f"u{i}", f"u{i}") for i in range(4)])
    with rt.db.uow() as uow:
        members = list(uow.session.scalars(select(Member).order_by(Member.id)))
        thread = uow.threads.create(members[0].group_id, "t", members[0].id)
        post = uow.threads.add_post(thread, members[0].id, "text", None, None)
        accounts = list(uow.session.scalars(select(Account.id).order_by(Account.id)))[1:]
        uow.deliveries.record_many([{"account_id": a, "outbox_id": 1000 + a, "post_id": post.id,
                                     "platform_message_id": f"m{a}", "full": True} for a in accounts])
        assert uow.outbox.propagate(post.id, "edit") == len(accounts) == 3


def test_fan_out_and_propagation_find_heads_through_the_partial_index(make_runtime, tmp_path) -> None:
    """The first-in-line check of both INSERT … SELECTs reads a recipient's head, not every
    row kept for them (``head IS 1`` made SQLite walk ix_outbox_account)."""
    from sqlalchemy import event

    rt = make_runtime(url=f"sqlite:///{tmp_path / 'plan.db'}")
    seed_members(rt.db, "reconnect", [PlatformUser("memory", f"u{i}", f"u{i}") for i in range(3)])
    statements: list[tuple[str, tuple]] = []

    @event.listens_for(rt.db.engine, "before_cursor_execute")
    def keep(conn, cursor, statement, parameters, context, many):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO outbox") and "SELECT" in statement:
            statements.append((statement, parameters))

    ctx = SimpleNamespace(clock=rt.clock, config=rt.config)
    with rt.db.uow() as uow:
        members = list(uow.session.scalars(select(Member).order_by(Member.id)))
        thread = uow.threads.create(members[0].group_id, "t", members[0].id)
        post = uow.threads.add_post(thread, members[0].id, "text", None, None)
        fan_out(uow, ctx, post, thread, exclude_person_id=members[0].person_id)
        uow.outbox.propagate(post.id, "edit")
        assert len(statements) == 2
        for statement, parameters in statements:
            plan = " | ".join(row[-1] for row in uow.session.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters))
            assert "ix_outbox_head_account" in plan, plan
