"""Fanning a post out to its group in a few set-based statements (issue 15).

Who gets what, decided in SQL rather than over loaded ORM objects (loading 10,000 members
and people and queueing them row by row held the database thread, and through the GIL the
event loop, for about a second at 10,000 members):

- a *copy* for each active, named, consenting member of the group other than the author's
  person, on one account per person (the one chosen with `deliver here`, else the reachable
  one written from last), unless their notifications are off or digest-only, they are on a
  break, they muted the thread, they follow only their threads and this is not one (not
  followed, not started, never posted in), or the thread is closed and they are not in its
  audience; a discreet person's copy is rendered as a notice at delivery;
- *unseen* bookkeeping (``thread_state.unseen``, see storage/threads_repo.py) for every
  member of the group who got no copy showing the post (no copy, or a discreet one), other
  than the author and members newer than the post (``members.unread_from``).

The outbox's first-in-line invariant (storage/outbox_repo.py) is kept by the INSERT itself:
a row is its recipient's head when the recipient has no head in the bulk lane yet. Each
person gets at most one row, so rows of one statement never compete for a head.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import and_, case, exists, func, insert, literal, literal_column, or_, select
from sqlalchemy.orm import Session, aliased

from bot.clock import Clock
from storage.models import Account, Member, OutboxItem, Person, Post, Thread, ThreadState
from storage.models_moderation import DeliveryChoice
from storage.outbox_repo import BULK
from storage.threads_repo import _upsert_for

# When a delivery to someone inside quiet hours (start, end in minutes after local midnight)
# may go out, or None when they are outside them now (handlers.posting.quiet_wake).
Wake = Callable[[int, int], "datetime | None"]
COLUMNS = ["account_id", "lane", "op", "kind", "payload", "post_id", "status", "attempts", "not_before",
           "created_at", "head"]


class FanOut:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock

    def queue_post(self, post: Post, thread: Thread, exclude_person_id: int | None,
                   audience: set[int] | None, now: datetime, wake: Wake) -> int:
        """Queue ``post`` for everyone who should get it now and count it as unseen for the
        members who get no copy showing it. ``audience``: for a closed thread, the member ids
        who may see it. Returns the rows queued."""
        self.s.flush()        # the post, its thread's state and earlier rows must be visible
        chosen = self._recipients(thread, exclude_person_id, audience, now)
        queued = self._queue(chosen, post, now, wake)
        self._note_unseen(chosen, post, thread.group_id)
        return queued

    def _recipients(self, thread: Thread, exclude_person_id: int | None, audience: set[int] | None,
                    now: datetime):  # type: ignore[no-untyped-def]
        """One row per recipient: member id, account id, discreet, quiet hours."""
        state = aliased(ThreadState)
        follow = state.follow
        # The account a person's copies go to, ranked among all their accounts.
        rank = func.row_number().over(
            partition_by=Person.id,
            order_by=(case((Account.id == DeliveryChoice.account_id, 1), else_=0).desc(),
                      Account.reachable.desc(), func.coalesce(Account.last_seen_at, Account.created_at).desc(),
                      Account.id.desc()))
        own_thread = [state.follow.is_(True),
                      exists().where(Post.thread_id == thread.id, Post.author_member_id == Member.id)]
        if thread.creator_member_id is not None:
            own_thread.append(Member.id == thread.creator_member_id)
        q = (select(Member.id.label("member_id"), Account.id.label("account_id"),
                    Person.discreet.label("discreet"), Person.quiet_start.label("quiet_start"),
                    Person.quiet_end.label("quiet_end"), rank.label("n"))
             .join(Person, Person.id == Member.person_id)
             .join(Account, Account.person_id == Person.id)
             .outerjoin(DeliveryChoice, DeliveryChoice.person_id == Person.id)
             .outerjoin(state, and_(state.member_id == Member.id, state.thread_id == thread.id))
             .where(Member.group_id == thread.group_id, Member.status == "active", Member.pseudonym.is_not(None),
                    Person.consent_at.is_not(None), Person.notify.not_in(("off", "digest")),
                    or_(Person.paused_until.is_(None), Person.paused_until <= now),
                    or_(follow.is_(None), follow.is_(True)),
                    or_(Person.notify != "following", *own_thread)))
        if exclude_person_id is not None:
            q = q.where(Member.person_id != exclude_person_id)
        if audience is not None:
            q = q.where(Member.id.in_(sorted(audience)))
        return q.subquery("chosen")

    def _queue(self, chosen, post: Post, now: datetime, wake: Wake) -> int:  # type: ignore[no-untyped-def]
        earlier = aliased(OutboxItem, name="earlier")
        # Spelled as in the partial index's predicate, so that SQLite uses it (outbox_repo.HEAD).
        idle = ~exists().where(earlier.account_id == chosen.c.account_id, earlier.lane == BULK,
                               literal_column("earlier.head"))
        payload = literal({"mode": "fanout"}, OutboxItem.payload.type)
        source = (select(chosen.c.account_id, literal(BULK), literal("send"), literal("post"), payload,
                         literal(post.id), literal("pending"), literal(0), self._not_before(chosen, now, wake),
                         literal(now), idle)
                  .where(chosen.c.n == 1)
                  .order_by(chosen.c.member_id))      # ids in member order, as the claim walks them
        # preserve_rowcount: psycopg reports no count for an INSERT once its cursor is closed.
        result = self.s.execute(insert(OutboxItem).from_select(COLUMNS, source)
                                .execution_options(preserve_rowcount=True))
        return result.rowcount or 0

    def _not_before(self, chosen, now: datetime, wake: Wake):  # type: ignore[no-untyped-def]
        """``now``, or the end of the recipient's quiet hours when they are inside them: the
        few distinct (start, end) pairs of the group are worked out here, one CASE branch each."""
        pairs = self.s.execute(select(chosen.c.quiet_start, chosen.c.quiet_end).where(
            chosen.c.n == 1, chosen.c.quiet_start.is_not(None), chosen.c.quiet_end.is_not(None),
            chosen.c.quiet_start != chosen.c.quiet_end).distinct()).all()
        when = OutboxItem.not_before.type
        branches = []
        for start, end in pairs:
            until = wake(start, end)
            if until is not None:
                branches.append((and_(chosen.c.quiet_start == start, chosen.c.quiet_end == end),
                                 literal(until, when)))
        return case(*branches, else_=literal(now, when)) if branches else literal(now, when)

    def _note_unseen(self, chosen, post: Post, group_id: int) -> None:  # type: ignore[no-untyped-def]
        """Count the post as unseen for the members who got no copy showing it, in one upsert
        (most members get every post in full and need no write)."""
        shown = select(chosen.c.member_id).where(chosen.c.n == 1, chosen.c.discreet.is_(False))
        left_out = select(Member.id, literal(post.thread_id), literal(0), literal(1)).where(
            Member.group_id == group_id, Member.person_id.is_not(None), Member.id != post.author_member_id,
            Member.unread_from < post.id, Member.id.not_in(shown))
        stmt = _upsert_for(self.s)(ThreadState).from_select(
            ["member_id", "thread_id", "last_read_post_id", "unseen"], left_out)
        self.s.execute(stmt.on_conflict_do_update(
            index_elements=["member_id", "thread_id"], set_={"unseen": ThreadState.unseen + 1},
            where=ThreadState.last_read_post_id < post.id))
