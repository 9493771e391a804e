"""Queries of the consultant's work: queue, audit log, sanctions, consultants, linked accounts."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from bot.clock import Clock, as_utc
from storage.models import Account, AuditEntry, Member, Post, Thread
from storage.models_moderation import ConsultantPrefs, DeliveryChoice, LinkCode, QueueItem, Sanction

LINK_VALID = timedelta(minutes=10)


class ModerationRepo:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock

    # -- queue ----------------------------------------------------------------------------
    def add_item(self, group_id: int, kind: str, *, post_id: int | None = None, report_id: int | None = None,
                 subject_member_id: int | None = None, body: str | None = None) -> QueueItem:
        item = QueueItem(group_id=group_id, kind=kind, post_id=post_id, report_id=report_id,
                         subject_member_id=subject_member_id, body=body, created_at=self.clock.now(),
                         status="open")
        self.s.add(item)
        self.s.flush()
        return item

    def item(self, group_id: int, item_id: int) -> QueueItem | None:
        item = self.s.get(QueueItem, item_id)
        return item if item is not None and item.group_id == group_id else None

    def open_items(self, group_id: int, limit: int = 30) -> list[QueueItem]:
        return list(self.s.scalars(select(QueueItem).where(QueueItem.group_id == group_id,
                                                           QueueItem.status == "open")
                                   .order_by(QueueItem.id).limit(limit)))

    def open_count(self, group_id: int) -> int:
        return self.s.scalar(select(func.count()).select_from(QueueItem).where(
            QueueItem.group_id == group_id, QueueItem.status == "open")) or 0

    def open_for_post(self, post_id: int) -> list[QueueItem]:
        return list(self.s.scalars(select(QueueItem).where(QueueItem.post_id == post_id,
                                                           QueueItem.status == "open")))

    def close(self, item: QueueItem, member_id: int | None, note: str | None) -> None:
        item.status, item.closed_at, item.closed_by_member_id, item.note = "closed", self.clock.now(), member_id, note

    # -- audit ----------------------------------------------------------------------------
    def record(self, action: str, group_id: int | None, actor_member_id: int | None, target: str | None,
               reason: str | None) -> AuditEntry:
        entry = AuditEntry(at=self.clock.now(), group_id=group_id, actor_member_id=actor_member_id,
                           action=action, target=target, detail=reason)
        self.s.add(entry)
        self.s.flush()
        return entry

    def audit_entry(self, group_id: int, entry_id: int) -> AuditEntry | None:
        entry = self.s.get(AuditEntry, entry_id)
        return entry if entry is not None and entry.group_id == group_id else None

    def audit_log(self, group_id: int, actions: tuple[str, ...], limit: int) -> list[AuditEntry]:
        cond = [AuditEntry.action.startswith(a) for a in actions]
        from sqlalchemy import or_
        q = (select(AuditEntry).where(AuditEntry.group_id == group_id, or_(*cond))
             .order_by(AuditEntry.id.desc()).limit(limit))
        rows = list(self.s.scalars(q))
        rows.reverse()
        return rows

    def later_reasons(self, group_id: int, entry_ids: list[int]) -> dict[int, list[str]]:
        """Reasons added afterwards (``mod reason``): rows of their own, the log is append-only."""
        if not entry_ids:
            return {}
        targets = [f"audit:{i}" for i in entry_ids]
        out: dict[int, list[str]] = {}
        for row in self.s.scalars(select(AuditEntry).where(AuditEntry.group_id == group_id,
                                                           AuditEntry.action == "mod.reason",
                                                           AuditEntry.target.in_(targets))
                                  .order_by(AuditEntry.id)):
            out.setdefault(int(row.target.split(":", 1)[1]), []).append(row.detail or "")
        return out

    def audit_about_member(self, member_ids: list[int]) -> list[AuditEntry]:
        if not member_ids:
            return []
        targets = [f"member:{m}" for m in member_ids]
        return list(self.s.scalars(select(AuditEntry).where(AuditEntry.target.in_(targets),
                                                            AuditEntry.action.startswith("mod."))
                                   .order_by(AuditEntry.id)))

    # -- sanctions ------------------------------------------------------------------------
    def add_sanction(self, group_id: int, person_id: int | None, member_id: int | None, kind: str,
                     reason: str | None, actor_member_id: int | None, *, level: int = 0,
                     until: datetime | None = None) -> Sanction:
        row = Sanction(group_id=group_id, person_id=person_id, member_id=member_id, kind=kind, level=level,
                       reason=reason, created_at=self.clock.now(), until=until,
                       actor_member_id=actor_member_id)
        self.s.add(row)
        self.s.flush()
        return row

    def sanctions(self, group_id: int, person_id: int, kind: str | None = None) -> list[Sanction]:
        q = select(Sanction).where(Sanction.group_id == group_id, Sanction.person_id == person_id)
        if kind is not None:
            q = q.where(Sanction.kind == kind)
        return list(self.s.scalars(q.order_by(Sanction.id)))

    def active_mute(self, group_id: int, person_id: int) -> Sanction | None:
        now = self.clock.now()
        rows = [r for r in self.sanctions(group_id, person_id, "mute")
                if r.lifted_at is None and r.until is not None and as_utc(r.until) > now]
        return max(rows, key=lambda r: as_utc(r.until)) if rows else None

    def is_banned(self, group_id: int, person_id: int) -> bool:
        return self.s.scalar(select(exists().where(Sanction.group_id == group_id, Sanction.person_id == person_id,
                                                   Sanction.kind == "ban", Sanction.lifted_at.is_(None)))) or False

    def person_of_member(self, member: Member) -> int | None:
        """The person behind a member; after a fresh start only an earlier sanction knows it."""
        if member.person_id is not None:
            return member.person_id
        return self.s.scalar(select(Sanction.person_id).where(Sanction.member_id == member.id,
                                                              Sanction.person_id.is_not(None)).limit(1))

    def copy_bans(self, from_person: int, to_person: int) -> None:
        for row in self.s.scalars(select(Sanction).where(Sanction.person_id == from_person,
                                                         Sanction.kind == "ban", Sanction.lifted_at.is_(None))):
            self.s.add(Sanction(group_id=row.group_id, person_id=to_person, member_id=row.member_id, kind="ban",
                                level=0, reason=row.reason, created_at=row.created_at,
                                actor_member_id=row.actor_member_id))

    # -- consultants ----------------------------------------------------------------------
    def consultants(self, group_id: int) -> list[Member]:
        return list(self.s.scalars(select(Member).where(Member.group_id == group_id, Member.role == "consultant",
                                                        Member.status == "active", Member.person_id.is_not(None))
                                   .order_by(Member.id)))

    def prefs(self, member_id: int) -> ConsultantPrefs:
        row = self.s.get(ConsultantPrefs, member_id)
        if row is None:
            row = ConsultantPrefs(member_id=member_id, alerts="on", source="config")
            self.s.add(row)
            self.s.flush()
        return row

    def find_prefs(self, member_id: int) -> ConsultantPrefs | None:
        return self.s.get(ConsultantPrefs, member_id)

    # -- where a person receives things -----------------------------------------------------
    def delivery_accounts(self, person_ids: set[int]) -> dict[int, int]:
        """For each person: the account chosen with `deliver here`, else the one last written from."""
        if not person_ids:
            return {}
        chosen = {p: a for p, a in self.s.execute(select(DeliveryChoice.person_id, DeliveryChoice.account_id)
                                                  .where(DeliveryChoice.person_id.in_(person_ids)))}
        best: dict[int, tuple] = {}
        for acc in self.s.scalars(select(Account).where(Account.person_id.in_(person_ids))):
            key = (acc.id == chosen.get(acc.person_id), acc.reachable,
                   as_utc(acc.last_seen_at or acc.created_at), acc.id)
            if acc.person_id not in best or key > best[acc.person_id][0]:
                best[acc.person_id] = (key, acc.id)
        return {p: v[1] for p, v in best.items()}

    def delivery_account(self, person_id: int) -> int | None:
        return self.delivery_accounts({person_id}).get(person_id)

    def choose_delivery(self, person_id: int, account_id: int | None) -> None:
        row = self.s.get(DeliveryChoice, person_id)
        if account_id is None:
            if row is not None:
                self.s.delete(row)
        elif row is None:
            self.s.add(DeliveryChoice(person_id=person_id, account_id=account_id))
        else:
            row.account_id = account_id

    def new_link_code(self, person_id: int) -> LinkCode:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        now = self.clock.now()
        while True:
            code = "".join(secrets.choice(alphabet) for _ in range(6))
            if self.s.get(LinkCode, code) is None:
                break
        row = LinkCode(code=code, person_id=person_id, created_at=now, expires_at=now + LINK_VALID, used=False)
        self.s.add(row)
        self.s.flush()
        return row

    def take_link_code(self, code: str) -> LinkCode | None:
        row = self.s.get(LinkCode, code.strip().upper())
        if row is None or row.used or as_utc(row.expires_at) <= self.clock.now():
            return None
        row.used = True
        return row

    # -- the forum, seen by the consultant --------------------------------------------------
    def unanswered(self, group_id: int, older_than: datetime, limit: int = 20) -> list[Post]:
        """Published posts older than the cutoff that nobody but their author has answered
        (no later post by someone else in the thread), oldest first. Consultants' own posts
        need no answer."""
        later = aliased(Post)
        answered = exists().where(later.thread_id == Post.thread_id, later.id > Post.id,
                                  later.author_member_id != Post.author_member_id,
                                  later.status == "published")
        q = (select(Post).join(Thread, Thread.id == Post.thread_id).join(Member, Member.id == Post.author_member_id)
             .where(Thread.group_id == group_id, Thread.closed.is_(False), Post.status == "published",
                    Post.created_at <= older_than, Member.role != "consultant", ~answered)
             .order_by(Post.id).limit(limit))
        return list(self.s.scalars(q))

    def published_count_by(self, member_id: int) -> int:
        return self.s.scalar(select(func.count()).select_from(Post).where(
            Post.author_member_id == member_id, Post.status.in_(("published", "hidden", "deleted")))) or 0

    def stats(self, group_id: int, since: datetime) -> dict[str, object]:
        in_group = and_(Thread.id == Post.thread_id, Thread.group_id == group_id)
        posts = list(self.s.execute(select(Post.id, Post.thread_id, Post.author_member_id, Post.created_at)
                                    .join(Thread, in_group)
                                    .where(Post.status == "published", Post.created_at >= since)
                                    .order_by(Post.id)))
        threads = self.s.scalar(select(func.count()).select_from(Thread).where(
            Thread.group_id == group_id, Thread.created_at >= since)) or 0
        firsts: dict[int, tuple] = {}
        waits: list[float] = []
        for pid, tid, author, at in posts:
            first = firsts.get(tid)
            if first is None:
                firsts[tid] = (author, at, False)
            elif not first[2] and author != first[0]:
                waits.append((as_utc(at) - as_utc(first[1])).total_seconds() / 3600)
                firsts[tid] = (first[0], first[1], True)
        waits.sort()
        median = waits[len(waits) // 2] if len(waits) % 2 else (
            (waits[len(waits) // 2 - 1] + waits[len(waits) // 2]) / 2 if waits else None)
        return {"active": len({p[2] for p in posts}), "posts": len(posts), "threads": threads,
                "answered": len(waits), "median_hours": median}
