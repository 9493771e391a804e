"""Tables of the hardening work (issue 8): join attempts, for rate-limiting code guessing."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class JoinAttempt(Base):
    """One ``join <code>`` by a person; rows older than the rate window are deleted."""

    __tablename__ = "join_attempts"
    __table_args__ = (Index("ix_join_attempts_person", "person_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    at: Mapped[datetime]
