"""Tables of the person's-data feature: break-glass requests of operators."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class BreakglassRequest(Base):
    """An operator's request to see one member's platform identity.

    It names the member by internal id only. A second, different operator approves it
    within 24 hours; the identity is shown once, at approval, and never stored here.
    """
    __tablename__ = "breakglass_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(40))
    requested_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(40))
    approved_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="pending")   # pending|approved|expired
