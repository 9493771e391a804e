"""Tables of the café feature: series (rules), occurrences, RSVPs, reminder bookkeeping.

Times are stored in UTC together with the community's time zone; a series keeps its rule as
RRULE text and its local start time, so occurrences are computed in wall-clock time and
stay at 18:00 across daylight-saving changes. No column names the consultant who created a
café: forgetting a consultant must not delete the community's cafés.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class CafeSeries(Base):
    __tablename__ = "cafe_series"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(40))          # as the consultant typed it
    rrule: Mapped[str] = mapped_column(String(200))        # RRULE text (python-dateutil)
    local_time: Mapped[str] = mapped_column(String(5))     # HH:MM in ``timezone``
    timezone: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Cafe(Base):
    """One occurrence: RSVPs, topics, moves and cancellations belong to it."""

    __tablename__ = "cafes"
    __table_args__ = (UniqueConstraint("series_id", "slot"),
                      Index("ix_cafes_start", "status", "starts_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    series_id: Mapped[int | None] = mapped_column(ForeignKey("cafe_series.id", ondelete="SET NULL"))
    slot: Mapped[str | None] = mapped_column(String(16))    # the series' local date-time it was made for
    starts_at: Mapped[datetime]                             # UTC
    timezone: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str | None] = mapped_column(Text)
    topic_thread_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")   # scheduled | cancelled
    sequence: Mapped[int] = mapped_column(Integer, default=0)               # iCalendar SEQUENCE
    note: Mapped[str | None] = mapped_column(Text)          # the reason of a cancel or move
    announced_at: Mapped[datetime | None]
    # Reminders due before this instant are not sent (the café was created or moved after them).
    reminders_from: Mapped[datetime]
    created_at: Mapped[datetime]


class CafeRsvp(Base):
    __tablename__ = "cafe_rsvps"
    __table_args__ = (UniqueConstraint("cafe_id", "member_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cafe_id: Mapped[int] = mapped_column(ForeignKey("cafes.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    answer: Mapped[str] = mapped_column(String(8))          # yes | maybe | no
    answered_at: Mapped[datetime]


class CafeReminderSent(Base):
    """One row per (occurrence, offset, recipient): written with the outbox row, so each
    reminder is queued once, whatever restarts happen."""

    __tablename__ = "cafe_reminders_sent"
    __table_args__ = (UniqueConstraint("cafe_id", "offset_minutes", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cafe_id: Mapped[int] = mapped_column(ForeignKey("cafes.id", ondelete="CASCADE"))
    offset_minutes: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(12))        # queued | skipped
    at: Mapped[datetime]


class CafePrefs(Base):
    __tablename__ = "cafe_prefs"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)


class CafeSettings(Base):
    """Per group: the reminder offsets the consultant chose."""

    __tablename__ = "cafe_settings"
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    offsets: Mapped[str] = mapped_column(String(100))       # e.g. "7d,1d,2h"
    changed_at: Mapped[datetime]


class CafeRide(Base):
    """A ride need or offer: seen by the consultant only."""

    __tablename__ = "cafe_rides"
    __table_args__ = (UniqueConstraint("cafe_id", "member_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cafe_id: Mapped[int] = mapped_column(ForeignKey("cafes.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))            # need | offer
    seats: Mapped[int] = mapped_column(Integer, default=1)
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime]
    # A need introduced to an offer by the consultant (``cafe ride``): the offer's row and
    # the two-person thread. An offer serves needs until their seats add up to its own.
    offer_id: Mapped[int | None] = mapped_column(Integer)
    thread_id: Mapped[int | None] = mapped_column(Integer)


class CafeBuddy(Base):
    """A wish to meet another attendee before the café, and the pairing once made."""

    __tablename__ = "cafe_buddies"
    __table_args__ = (UniqueConstraint("cafe_id", "member_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cafe_id: Mapped[int] = mapped_column(ForeignKey("cafes.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    buddy_member_id: Mapped[int | None] = mapped_column(Integer)
    thread_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime]
