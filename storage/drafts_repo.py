"""Drafts: text a member wrote that was kept back instead of published.

The small API other features build on (``uow.drafts``):

- ``keep(member_id, body, kind, thread_id=None, reply_to=None, title=None) -> Draft``
- ``of_members(member_ids, now_cutoff)`` / ``owned(member_ids, draft_id, cutoff)`` / ``newest``
- ``drop(draft)``, ``drop_all(member_ids) -> int``, ``drop_of_member(member_id) -> int``
- ``purge_created_before(cutoff) -> int`` (the expiry job)

A draft always belongs to one member (one group and pseudonym); sending it publishes under
that member. ``kind`` says why it was kept: see ``KINDS``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.clock import Clock, as_utc
from storage.models import Draft

# flood: posting too fast; no_thread: no current thread; too_long: over the post limit;
# thread_flood: too many new threads; mute: kept while muted; disclosure: waiting for the
# author's answer to the disclosure question; unsure: the bot could not tell the group.
KINDS = ("flood", "no_thread", "too_long", "thread_flood", "mute", "disclosure", "unsure", "kept")


class Drafts:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock

    def keep(self, member_id: int, body: str, kind: str, thread_id: int | None = None,
             reply_to: int | None = None, title: str | None = None) -> Draft:
        if kind not in KINDS:
            raise ValueError(f"unknown draft kind {kind!r}")
        draft = Draft(member_id=member_id, body=body, kind=kind, thread_id=thread_id,
                      reply_to_post_id=reply_to, title=title, created_at=self.clock.now())
        self.s.add(draft)
        self.s.flush()
        return draft

    def of_members(self, member_ids: list[int], cutoff: datetime | None = None) -> list[Draft]:
        """Unexpired drafts of these members, oldest first (``cutoff``: created after it)."""
        if not member_ids:
            return []
        q = select(Draft).where(Draft.member_id.in_(member_ids))
        if cutoff is not None:
            q = q.where(Draft.created_at > cutoff)
        return list(self.s.scalars(q.order_by(Draft.id)))

    def owned(self, member_ids: list[int], draft_id: int, cutoff: datetime | None = None) -> Draft | None:
        draft = self.s.get(Draft, draft_id)
        if draft is None or draft.member_id not in member_ids:
            return None
        if cutoff is not None and as_utc(draft.created_at) <= as_utc(cutoff):
            return None
        return draft

    def newest(self, member_ids: list[int], cutoff: datetime | None = None) -> Draft | None:
        drafts = self.of_members(member_ids, cutoff)
        return drafts[-1] if drafts else None

    def drop(self, draft: Draft) -> None:
        self.s.delete(draft)
        self.s.flush()

    def drop_all(self, member_ids: list[int]) -> int:
        if not member_ids:
            return 0
        result = self.s.execute(delete(Draft).where(Draft.member_id.in_(member_ids)))
        return result.rowcount or 0

    def drop_of_member(self, member_id: int) -> int:
        return self.drop_all([member_id])

    def purge_created_before(self, cutoff: datetime) -> int:
        result = self.s.execute(delete(Draft).where(Draft.created_at <= cutoff))
        return result.rowcount or 0

