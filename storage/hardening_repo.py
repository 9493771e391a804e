"""Join attempts per person: a sliding window against guessing invite codes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from storage.models_hardening import JoinAttempt


class JoinAttempts:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock

    def count_since(self, person_id: int, since: datetime) -> int:
        # Old rows of this person go first: the table only ever holds the current window.
        self.s.execute(delete(JoinAttempt).where(JoinAttempt.person_id == person_id, JoinAttempt.at < since))
        return self.s.scalar(select(func.count()).select_from(JoinAttempt).where(
            JoinAttempt.person_id == person_id)) or 0

    def add(self, person_id: int) -> None:
        self.s.add(JoinAttempt(person_id=person_id, at=self.clock.now()))
