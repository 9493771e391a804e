"""Texts waiting for the author's answer to the disclosure question (storage/models_safety.py).

Built on demand from a unit of work (``pending(uow)``) rather than held by it. A row whose
draft is gone (discarded, sent with ``send``, expired) is no longer waiting: lookups join on
the draft and forget such rows.
"""
from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from storage.models import Draft
from storage.models_safety import DisclosurePending


class PendingRepo:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock

    def add(self, draft: Draft, edit_post_id: int | None, crisis_answered: bool,
            source: tuple[int, str] | None = None) -> DisclosurePending:
        row = DisclosurePending(draft_id=draft.id, member_id=draft.member_id, edit_post_id=edit_post_id,
                                crisis_answered=crisis_answered, awaiting_fix=False, created_at=self.clock.now(),
                                source_account_id=source[0] if source else None,
                                source_message_id=source[1] if source else None)
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, draft_id: int) -> DisclosurePending | None:
        return self.s.get(DisclosurePending, draft_id)

    def of_members(self, member_ids: list[int]) -> list[tuple[DisclosurePending, Draft]]:
        """Waiting texts of these members with their drafts, oldest first."""
        if not member_ids:
            return []
        rows = self.s.execute(select(DisclosurePending, Draft).join(Draft, Draft.id == DisclosurePending.draft_id)
                              .where(DisclosurePending.member_id.in_(member_ids))
                              .order_by(DisclosurePending.draft_id))
        return [(p, d) for p, d in rows]

    def by_source(self, account_id: int, message_id: str) -> tuple[DisclosurePending, Draft] | None:
        """The waiting text that came in this platform message, if it still waits."""
        row = self.s.execute(select(DisclosurePending, Draft).join(Draft, Draft.id == DisclosurePending.draft_id)
                             .where(DisclosurePending.source_account_id == account_id,
                                    DisclosurePending.source_message_id == message_id)
                             .order_by(DisclosurePending.draft_id.desc())).first()
        return (row[0], row[1]) if row is not None else None

    def await_fix(self, member_ids: list[int], draft_id: int) -> None:
        """Only one text at a time waits for a correction: the one the author chose last."""
        self.s.execute(update(DisclosurePending).where(DisclosurePending.member_id.in_(member_ids))
                       .values(awaiting_fix=False))
        self.s.execute(update(DisclosurePending).where(DisclosurePending.draft_id == draft_id)
                       .values(awaiting_fix=True))

    def awaiting_fix(self, member_ids: list[int]) -> tuple[DisclosurePending, Draft] | None:
        found = [(p, d) for p, d in self.of_members(member_ids) if p.awaiting_fix]
        return found[-1] if found else None

    def drop_for_post(self, post_id: int) -> int:
        """Forget the edits of this published post still waiting, with their drafts: a newer
        text of the post replaces them (one waiting question per post, about its newest text)."""
        ids = list(self.s.scalars(select(DisclosurePending.draft_id).where(DisclosurePending.edit_post_id == post_id)))
        if ids:
            self.s.execute(delete(DisclosurePending).where(DisclosurePending.draft_id.in_(ids)))
            self.s.execute(delete(Draft).where(Draft.id.in_(ids)))
        return len(ids)

    def forget(self, draft_id: int) -> None:
        self.s.execute(delete(DisclosurePending).where(DisclosurePending.draft_id == draft_id))


def pending(uow) -> PendingRepo:  # type: ignore[no-untyped-def]
    return PendingRepo(uow.session, uow.clock)
