"""Queries behind the operator's command line (``peerhaven admin …``).

Everything here works with internal ids; the only place a platform identity is opened is
``identities_of_member``, which the break-glass approval alone calls.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock, as_utc
from storage.crypto import IdentityVault
from storage.outbox_repo import Outbox
from storage.models import Account, AppState, Group, InviteCode, Member, OutboxItem, Post, Thread
from storage.models_privacy import BreakglassRequest

BREAKGLASS_VALID = timedelta(hours=24)


@dataclass(frozen=True)
class LaneDepth:
    lane: int
    platform: str
    status: str
    count: int
    oldest: datetime | None


class AdminRepo:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock

    # -- status ---------------------------------------------------------------------------
    def queue_depths(self) -> list[LaneDepth]:
        rows = self.s.execute(
            select(OutboxItem.lane, Account.platform, OutboxItem.status, func.count(),
                   func.min(OutboxItem.created_at))
            .join(Account, Account.id == OutboxItem.account_id)
            .where(OutboxItem.status.in_(("pending", "sending", "held", "failed")))
            .group_by(OutboxItem.lane, Account.platform, OutboxItem.status)
            .order_by(OutboxItem.lane, Account.platform, OutboxItem.status))
        return [LaneDepth(lane, platform, status, count, as_utc(oldest) if oldest else None)
                for lane, platform, status, count, oldest in rows]

    def state_items(self, prefix: str) -> dict[str, str]:
        rows = self.s.scalars(select(AppState).where(AppState.key.startswith(prefix)))
        return {row.key: row.value for row in rows}

    # -- outbox ---------------------------------------------------------------------------
    def failed_rows(self, limit: int = 200) -> list[tuple[OutboxItem, str]]:
        rows = self.s.execute(select(OutboxItem, Account.platform)
                              .join(Account, Account.id == OutboxItem.account_id)
                              .where(OutboxItem.status == "failed")
                              .order_by(OutboxItem.id).limit(limit))
        return [(item, platform) for item, platform in rows]

    def retry_failed(self, item_id: int | None) -> int:
        """Put failed rows back in line (all of them when ``item_id`` is None)."""
        cond = [OutboxItem.status == "failed"]
        if item_id is not None:
            cond.append(OutboxItem.id == item_id)
        ids = list(self.s.scalars(select(OutboxItem.id).where(*cond)))
        result = self.s.execute(update(OutboxItem).where(*cond).values(
            status="pending", attempts=0, error=None, done_at=None, not_before=self.clock.now(),
            claimed_by=None))
        Outbox(self.s, self.clock).requeue(ids)      # back in line: the oldest becomes first again
        return result.rowcount or 0

    # -- groups, members, invites ---------------------------------------------------------
    def group(self, slug: str) -> Group | None:
        return self.s.scalar(select(Group).where(Group.slug == slug))

    def member_by_pseudonym(self, group_id: int, pseudonym: str) -> Member | None:
        wanted = pseudonym.casefold()
        for member in self.s.scalars(select(Member).where(Member.group_id == group_id,
                                                          Member.status == "active")):
            if member.pseudonym and member.pseudonym.casefold() == wanted:
                return member
        return None

    def member_of_account(self, group_id: int, account: Account) -> Member | None:
        return self.s.scalar(select(Member).where(Member.group_id == group_id,
                                                  Member.person_id == account.person_id,
                                                  Member.status == "active"))

    def invite(self, code: str) -> InviteCode | None:
        return self.s.scalar(select(InviteCode).where(func.upper(InviteCode.code) == code.upper()))

    # -- statistics -----------------------------------------------------------------------
    def group_counts(self, group_id: int, since: datetime) -> dict[str, int]:
        members = self.s.scalar(select(func.count()).select_from(Member).where(
            Member.group_id == group_id, Member.status == "active")) or 0
        posts = self.s.scalar(select(func.count()).select_from(Post).join(Thread, Thread.id == Post.thread_id)
                              .where(Thread.group_id == group_id, Post.created_at >= since,
                                     Post.status == "published")) or 0
        threads = self.s.scalar(select(func.count()).select_from(Thread).where(
            Thread.group_id == group_id, Thread.created_at >= since)) or 0
        authors = self.s.scalar(select(func.count(func.distinct(Post.author_member_id)))
                                .select_from(Post).join(Thread, Thread.id == Post.thread_id)
                                .where(Thread.group_id == group_id, Post.created_at >= since)) or 0
        return {"members": members, "active_authors": authors, "posts": posts, "threads": threads}

    # -- break-glass ----------------------------------------------------------------------
    def add_breakglass(self, group_id: int, member_id: int, reason: str, operator: str) -> BreakglassRequest:
        row = BreakglassRequest(group_id=group_id, member_id=member_id, reason=reason,
                                requested_by=operator, requested_at=self.clock.now(), status="pending")
        self.s.add(row)
        self.s.flush()
        return row

    def breakglass(self, request_id: int) -> BreakglassRequest | None:
        return self.s.get(BreakglassRequest, request_id)

    def is_expired(self, row: BreakglassRequest) -> bool:
        return self.clock.now() - as_utc(row.requested_at) > BREAKGLASS_VALID

    def identities_of_member(self, member: Member, vault: IdentityVault) -> list[tuple[str, dict]]:
        if member.person_id is None:
            return []
        accounts = self.s.scalars(select(Account).where(Account.person_id == member.person_id)
                                  .order_by(Account.id))
        return [(a.platform, vault.open(a.platform, a.identity_enc, a.id)) for a in accounts]
