"""Tables of the reveals feature: identity cards, the private reveal ledger, reveal requests,
the café handshake and closed-thread invitations.

The ledger is private by design: it is not the audit log, the consultant has no view of
it, and nothing logs its rows (a log line "A revealed to B" is exactly the leak to avoid).
Card fields are sealed under the member's key, like their posts (storage/keyring.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class IdentityCard(Base):
    """What a reveal shows: a first name and a contact line, sealed at rest."""

    __tablename__ = "identity_cards"
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True,
                                           autoincrement=False)
    card_enc: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]
    # "member": sealed under the member's key (storage/keyring.py), so forgetting the member
    # shreds every copy; None: an older row sealed with the data key, re-sealed by the
    # retention job (storage/reveals_repo.py reseal_cards).
    sealed_by: Mapped[str | None] = mapped_column(String(8))


class Reveal(Base):
    """One member showed something (card, community, or only that they know each other by
    pseudonym) to one member, or to the whole group (``recipient_member_id`` is None)."""

    __tablename__ = "reveals"
    __table_args__ = (Index("ix_reveals_revealer", "revealer_member_id", "withdrawn_at"),
                      Index("ix_reveals_recipient", "recipient_member_id", "withdrawn_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(Integer)
    revealer_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    recipient_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(12))         # card | community | pseudonym
    via: Mapped[str] = mapped_column(String(12))           # mutual | oneway | meet | pairing | group
    created_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]


class RevealRequest(Base):
    """A request for a mutual reveal. ``outcome`` is private to the target: the requester
    sees "waiting" until ``expires_at`` and then "expired", whether it was declined,
    refused (``reveals off``) or simply not answered."""

    __tablename__ = "reveal_requests"
    __table_args__ = (Index("ix_reveal_requests_requester", "requester_member_id"),
                      Index("ix_reveal_requests_target", "target_member_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(Integer)
    requester_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    target_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(12))   # accepted | declined | refused | cancelled


class RevealPrefs(Base):
    """Per member: whether requests are allowed, and the wrong-code counters of ``meet``."""

    __tablename__ = "reveal_prefs"
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True,
                                           autoincrement=False)
    requests_off: Mapped[bool] = mapped_column(Boolean, default=False)
    meet_fails_in_row: Mapped[int] = mapped_column(Integer, default=0)
    meet_window_start: Mapped[datetime | None]
    meet_window_fails: Mapped[int] = mapped_column(Integer, default=0)
    meet_locked: Mapped[bool] = mapped_column(Boolean, default=False)


class MeetCode(Base):
    """A café handshake. Only a hash of the code is stored; the code itself lives in one
    answer to its owner (whose parameters are blanked once sent)."""

    __tablename__ = "meet_codes"
    __table_args__ = (Index("ix_meet_codes_lookup", "group_id", "code_hash"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="open")   # open | checking | done | ended
    partner_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    phrase: Mapped[str | None] = mapped_column(String(64))
    confirm_by: Mapped[datetime | None]
    owner_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    partner_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)


class ThreadInvite(Base):
    """A member invited to a closed thread. Seeing it also needs a live mutual reveal with
    the thread's creator (checked when it is shown, not when invited)."""

    __tablename__ = "thread_invites"
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    invited_at: Mapped[datetime]
