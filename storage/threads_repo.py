"""Queries for the forum: threads, posts, read state, drafts and reports."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from bot.clock import Clock, as_utc
from storage.db import ids_in
from storage.models import Account, Delivery, Draft, Member, Person, Post, Report, Thread, ThreadState

CHUNK = 5000          # bound IN lists (SQLite's variable limit, PostgreSQL plan size)


def _upsert_for(session: Session):  # type: ignore[no-untyped-def]
    """INSERT … ON CONFLICT for the session's database (both spell it the same way)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


@dataclass(frozen=True)
class ThreadSummary:
    thread: Thread
    posts: int
    unread: int


class Threads:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock

    # threads -------------------------------------------------------------
    def create(self, group_id: int, title: str, creator_member_id: int) -> Thread:
        now = self.clock.now()
        thread = Thread(group_id=group_id, title=title, creator_member_id=creator_member_id, created_at=now,
                        last_activity_at=now, locked=False, pinned=False, closed=False)
        self.s.add(thread)
        self.s.flush()
        return thread

    def get(self, thread_id: int) -> Thread | None:
        return self.s.get(Thread, thread_id)

    def summaries(self, group_id: int, member_id: int,
                  closed_ids: list[int] = (),  # type: ignore[assignment]
                  limit: int | None = None, offset: int = 0) -> list[ThreadSummary]:
        """One page of a group's open threads (and the closed ones given), pinned first, then
        most recent activity, with post and unread counts computed for that page only.

        A post is unread when it is by someone else, newer than what the member last opened
        with ``read``, and no copy showing its content was delivered to them. That is counted
        from per-member state, not from delivery records (retention deletes those):
        - posts up to the member's ``unread_from`` (older than the member) were never sent to
          them, so each one newer than ``last_read_post_id`` is unread;
        - newer posts were fanned out to them, and ``thread_state.unseen`` counts those they got
          no full copy of (``note_unseen``). It can only overcount (a counted post deleted or
          hidden later), so it is capped by the number of such posts still published.
        """
        q = (select(Thread).where(Thread.group_id == group_id,
                                  Thread.closed.is_(False) | Thread.id.in_(list(closed_ids)))
             .order_by(Thread.pinned.desc(), Thread.last_activity_at.desc(), Thread.id.desc()))
        if limit is not None:
            q = q.limit(limit).offset(offset)
        threads = list(self.s.scalars(q))
        counts = self._counts(member_id, [t.id for t in threads]) if threads else {}
        return [ThreadSummary(t, *counts.get(t.id, (0, 0))) for t in threads]

    def _counts(self, member_id: int, thread_ids: list[int]) -> dict[int, tuple[int, int]]:
        """thread id -> (published posts, unread posts) for a few threads, each count a range
        read of ``ix_posts_thread_status`` (the index holds every column it needs)."""
        member = self.s.get(Member, member_id)
        oldest = member.unread_from if member is not None else 0
        state = aliased(ThreadState)
        last_read = func.coalesce(state.last_read_post_id, 0)
        unseen = func.coalesce(state.unseen, 0)

        def count(*cond):  # type: ignore[no-untyped-def]
            return (select(func.count()).select_from(Post)
                    .where(Post.thread_id == Thread.id, Post.status == "published", *cond).scalar_subquery())

        by_others = (Post.author_member_id != member_id, Post.id > last_read)
        never_sent = count(*by_others, Post.id <= oldest)
        sent = count(*by_others, Post.id > oldest)
        unread = never_sent + case((unseen > 0, case((sent < unseen, sent), else_=unseen)), else_=0)
        q = (select(Thread.id, count(), unread)
             .outerjoin(state, and_(state.thread_id == Thread.id, state.member_id == member_id))
             .where(Thread.id.in_(thread_ids)))
        return {t: (n or 0, int(u or 0)) for t, n, u in self.s.execute(q)}

    # posts ---------------------------------------------------------------
    def add_post(self, thread: Thread, author_member_id: int, body: str, reply_to: int | None,
                 source: tuple[int, str | None] | None, status: str = "published") -> Post:
        now = self.clock.now()
        post = Post(thread_id=thread.id, author_member_id=author_member_id, body=body, status=status,
                    reply_to_post_id=reply_to, created_at=now,
                    source_account_id=source[0] if source else None,
                    source_message_id=source[1] if source else None)
        self.s.add(post)
        if status == "published":
            thread.last_activity_at = now
        self.s.flush()
        return post

    def post(self, post_id: int) -> Post | None:
        return self.s.get(Post, post_id)

    def posts_by_ids(self, post_ids: set[int]) -> dict[int, Post]:
        """Posts by id, in one query (what a delivery batch renders)."""
        if not post_ids:
            return {}
        return {p.id: p for p in self.s.scalars(select(Post).where(ids_in(self.s, Post.id, sorted(post_ids))))}

    def by_ids(self, thread_ids: set[int]) -> dict[int, Thread]:
        if not thread_ids:
            return {}
        return {t.id: t for t in self.s.scalars(select(Thread).where(ids_in(self.s, Thread.id, sorted(thread_ids))))}

    def post_by_source(self, account_id: int, message_id: str) -> Post | None:
        return self.s.scalar(select(Post).where(Post.source_account_id == account_id,
                                                Post.source_message_id == message_id))

    def page(self, thread_id: int, before: int | None, limit: int) -> list[Post]:
        q = select(Post).where(Post.thread_id == thread_id, Post.status.in_(("published", "deleted")))
        if before is not None:
            q = q.where(Post.id < before)
        rows = list(self.s.scalars(q.order_by(Post.id.desc()).limit(limit)))
        rows.reverse()
        return rows

    def count_posts(self, thread_id: int) -> int:
        return self.s.scalar(select(func.count()).select_from(Post).where(
            Post.thread_id == thread_id, Post.status == "published")) or 0

    def latest_post_id(self, thread_id: int) -> int:
        return self.s.scalar(select(func.max(Post.id)).where(Post.thread_id == thread_id)) or 0

    def recent_posts_by(self, member_id: int, since: datetime) -> int:
        return self.s.scalar(select(func.count()).select_from(Post).where(
            Post.author_member_id == member_id, Post.created_at >= since)) or 0

    def recent_threads_by(self, member_id: int, since: datetime) -> int:
        return self.s.scalar(select(func.count()).select_from(Thread).where(
            Thread.creator_member_id == member_id, Thread.created_at >= since)) or 0

    def activity_since(self, group_id: int, member_id: int, since: datetime,
                       closed_ids: list[int] = ()) -> list[tuple[Thread, int]]:  # type: ignore[assignment]
        q = (select(Thread, func.count(Post.id)).join(Post, Post.thread_id == Thread.id)
             .where(Thread.group_id == group_id, Thread.closed.is_(False) | Thread.id.in_(list(closed_ids)),
                    Post.status == "published",
                    Post.created_at > since, Post.author_member_id != member_id)
             .group_by(Thread.id).order_by(Thread.last_activity_at.desc()))
        return [(t, n) for t, n in self.s.execute(q)]

    # per-member state ------------------------------------------------------
    def state(self, member_id: int, thread_id: int) -> ThreadState:
        row = self.s.get(ThreadState, (member_id, thread_id))
        if row is None:
            row = ThreadState(member_id=member_id, thread_id=thread_id, last_read_post_id=0)
            self.s.add(row)
            self.s.flush()
        return row

    def mark_read(self, member_id: int, thread_id: int, post_id: int) -> None:
        """Callers pass the newest post of the thread (the page shown, or one's own new post),
        so nothing newer is left to count as unseen."""
        row = self.state(member_id, thread_id)
        if post_id > row.last_read_post_id:
            row.last_read_post_id = post_id
            row.unseen = 0

    def note_unseen(self, post: Post, group_id: int, shown_to: set[int]) -> int:
        """A post was fanned out: count it as unseen for the group's members who got no copy
        showing it (``shown_to`` holds those who did).

        Why count the members left out rather than those served: most members get every post in
        full, so they need no row and no write per post; the few on digest, off, a break, a
        muted thread or discreet notifications get one upsert per post (in chunks), and a
        delivery needs no bookkeeping at all. Members newer than the post (``unread_from``) and
        the author are not counted. Returns how many members it was counted for."""
        members = set(self.s.scalars(select(Member.id).where(
            Member.group_id == group_id, Member.person_id.is_not(None), Member.id != post.author_member_id,
            Member.unread_from < post.id)))
        left_out = sorted(members - shown_to)
        upsert = _upsert_for(self.s)
        for start in range(0, len(left_out), CHUNK):
            chunk = left_out[start:start + CHUNK]
            rows = select(Member.id, literal(post.thread_id), literal(0), literal(1)).where(Member.id.in_(chunk))
            stmt = upsert(ThreadState).from_select(["member_id", "thread_id", "last_read_post_id", "unseen"], rows)
            self.s.execute(stmt.on_conflict_do_update(
                index_elements=["member_id", "thread_id"], set_={"unseen": ThreadState.unseen + 1},
                where=ThreadState.last_read_post_id < post.id))
        return len(left_out)

    def follow_map(self, thread_id: int) -> dict[int, bool | None]:
        rows = self.s.execute(select(ThreadState.member_id, ThreadState.follow).where(
            ThreadState.thread_id == thread_id))
        return {m: f for m, f in rows}

    def start_over(self, old_member_id: int, new_member_id: int) -> None:
        """Drop the old member's drafts (sending them under the new name would link the two)
        and per-thread state (following the threads one started or answered under the old
        name would hint at who the new name is). The new member starts with every thread of
        the group read up to now, the same for every thread, so the old name's own posts do
        not show as unread and nothing tells which threads the old name was in."""
        self.s.execute(delete(ThreadState).where(ThreadState.member_id == old_member_id))
        self.s.execute(delete(Draft).where(Draft.member_id == old_member_id))
        old = self.s.get(Member, old_member_id)
        latest = (select(Post.thread_id, func.max(Post.id)).join(Thread, Thread.id == Post.thread_id)
                  .where(Thread.group_id == old.group_id).group_by(Post.thread_id))
        for thread_id, last in self.s.execute(latest).all():
            self.s.add(ThreadState(member_id=new_member_id, thread_id=thread_id, last_read_post_id=last))
        self.s.flush()

    def forget_copies_to(self, member_id: int, account_ids: list[int]) -> None:
        """After ``name --fresh``: the person's own copies of the old name's posts (read back
        with ``read``) and records of direct answers (from before they stopped being kept)."""
        if not account_ids:
            return
        own = select(Post.id).where(Post.author_member_id == member_id)
        self.s.execute(delete(Delivery).where(Delivery.account_id.in_(account_ids),
                                              Delivery.post_id.in_(own) | Delivery.post_id.is_(None)))

    def forget_sources(self, member_id: int) -> None:
        """Unlink a member's posts from the platform messages (and so the account) they came from."""
        self.s.execute(update(Post).where(Post.author_member_id == member_id)
                       .values(source_account_id=None, source_message_id=None))

    def recipients(self, group_id: int, exclude_person_id: int | None) -> list[tuple[Member, Person, int]]:
        """(member, person, account id) for every account of every active member, in one query."""
        q = (select(Member, Person, Account.id).join(Person, Person.id == Member.person_id)
             .join(Account, Account.person_id == Person.id)
             .where(Member.group_id == group_id, Member.status == "active", Member.pseudonym.is_not(None),
                    Person.consent_at.is_not(None)))
        if exclude_person_id is not None:
            q = q.where(Member.person_id != exclude_person_id)
        return [(m, p, a) for m, p, a in self.s.execute(q.order_by(Member.id, Account.id))]

    def posters(self, thread_id: int) -> set[int]:
        return set(self.s.scalars(select(Post.author_member_id).where(Post.thread_id == thread_id).distinct()))

    # reports ---------------------------------------------------------------
    def add_report(self, post_id: int, reporter_member_id: int, reason: str | None) -> Report:
        report = Report(post_id=post_id, reporter_member_id=reporter_member_id, reason=reason,
                        created_at=self.clock.now(), status="open")
        self.s.add(report)
        self.s.flush()
        return report

    def digest_people(self) -> list[Person]:
        return list(self.s.scalars(select(Person).where(Person.notify == "digest",
                                                        Person.consent_at.is_not(None))))

    def paused_or_off(self, person: Person, now: datetime) -> bool:
        return person.notify == "off" or (person.paused_until is not None and as_utc(person.paused_until) > now)
