"""Tables of the safety feature: a text waiting for its author's answer to the disclosure question.

The text itself is a draft of kind ``disclosure`` (so it is listed in ``drafts``, expires with
drafts and survives restarts); this row only says what the draft is waiting for: which
published post an edit would change, whether the author chose to write a correction next,
whether the crisis answer already went out for it (so it is not sent twice), and which
platform message it came in (editing that message on the platform answers the question).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class DisclosurePending(Base):
    __tablename__ = "disclosure_pending"
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), primary_key=True,
                                          autoincrement=False)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    edit_post_id: Mapped[int | None] = mapped_column(Integer)     # the published post an edit changes
    awaiting_fix: Mapped[bool] = mapped_column(Boolean, default=False)
    crisis_answered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # The platform message the text came in (an edit of that message is the correction).
    source_account_id: Mapped[int | None] = mapped_column(Integer)
    source_message_id: Mapped[str | None] = mapped_column(String(255))
