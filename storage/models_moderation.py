"""Tables of the consultant's work: the queue, sanctions, consultant settings, linked accounts.

Every row names people by internal ids only (members, people, accounts); none holds a
platform identity. Queue items may hold text a member wrote to the consultant (an appeal,
a `tell consultant` message): that text is for the consultant, like a post is for the group.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, object_session

from storage.models import Base, Report
from storage.sealed import SealedText


class QueueItem(Base):
    """Something waiting for a consultant: a report, a held post, a crisis alert, an appeal…"""

    __tablename__ = "mod_queue"
    __table_args__ = (Index("ix_mod_queue_open", "group_id", "status", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))        # report|held|crisis|appeal|message|note
    post_id: Mapped[int | None] = mapped_column(Integer)
    report_id: Mapped[int | None] = mapped_column(Integer)
    subject_member_id: Mapped[int | None] = mapped_column(Integer)   # whom it is about / from
    # Appeal or message text, crisis text not yet posted, a report's reason: sealed under the
    # key of the member who wrote it (storage/sealed.py); the bot's own notes stay plain.
    body_plain: Mapped[str | None] = mapped_column("body", Text)
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="open")  # open|closed
    closed_at: Mapped[datetime | None]
    closed_by_member_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)        # the consultant's own working note
    body = SealedText("body_plain", "body_enc", lambda item: _writer(item))


def _writer(item: QueueItem) -> int | None:
    """Whose words a queue item holds: its subject's, or for a report the reporter's (the
    report row names them already; the queue item itself never does)."""
    if item.kind == "report":
        session = object_session(item)
        report = session.get(Report, item.report_id) if session is not None and item.report_id else None
        return report.reporter_member_id if report is not None else None
    return item.subject_member_id


class Sanction(Base):
    """A warning, mute, removal or ban. It belongs to the person (every linked account) and
    to the member it was given under, so a fresh start under a new pseudonym keeps it."""

    __tablename__ = "sanctions"
    __table_args__ = (Index("ix_sanctions_person", "person_id", "group_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))          # warn|mute|remove|ban
    level: Mapped[int] = mapped_column(Integer, default=0)  # warnings: the escalation level reached
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    until: Mapped[datetime | None]
    lifted_at: Mapped[datetime | None]
    actor_member_id: Mapped[int | None] = mapped_column(Integer)


class ConsultantPrefs(Base):
    """A consultant's alert choice and where their role came from (config or operator)."""

    __tablename__ = "consultant_prefs"
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    alerts: Mapped[str] = mapped_column(String(8), default="on")       # on|off|digest
    source: Mapped[str] = mapped_column(String(12), default="config")  # config|operator
    last_summary_at: Mapped[datetime | None]


class LinkCode(Base):
    """A short-lived code joining a second platform account to a person (`link`)."""

    __tablename__ = "link_codes"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class DeliveryChoice(Base):
    """The account a person chose with `deliver here` (else: the one they last wrote from)."""

    __tablename__ = "delivery_choice"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
