"""Claiming outbox rows: each recipient's head (its first unfinished row) with the run of due
rows behind it (storage/outbox_runs.py), and a handler's own answers as they are inserted.
Part of the outbox repository (storage/outbox_repo.py: first in line, outcomes, retention)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import and_, exists, select, text, update
from sqlalchemy.orm import Session, aliased

from bot.clock import Clock, as_utc
from storage.db import ids_in
from storage.models import OutboxItem
from storage.outbox_runs import UNFINISHED, _chunks, rows_behind, runs_query

DIRECT = 0
# Spelled as in the partial indexes' predicate, so that SQLite sees that they apply.
HEAD = text("outbox.head")


@dataclass(frozen=True)
class Claimed:
    id: int
    account_id: int
    lane: int
    op: str
    kind: str
    payload: dict
    post_id: int | None
    target_delivery_id: int | None
    attempts: int

    @classmethod
    def of(cls, row, attempts: int) -> "Claimed":  # type: ignore[no-untyped-def]
        """From an outbox row (or a row of the claim query) claimed for its ``attempts``-th try."""
        return cls(row.id, row.account_id, row.lane, row.op, row.kind, dict(row.payload or {}), row.post_id,
                   row.target_delivery_id, attempts)


class Claims:
    s: Session
    clock: Clock
    _queued: dict[tuple[int, int], list[OutboxItem]]

    def _advance(self, account_ids: Iterable[int]) -> None:
        raise NotImplementedError       # storage/outbox_repo.py Outbox

    def claim_queued(self, account_id: int, owner: str | None, run: int) -> list[Claimed] | None:
        """Claim the answers this transaction queued for ``account_id`` on the direct lane as
        they are inserted (one INSERT, no claim query), when the first of them is the head: the
        person had nothing else on its way, so these are first in line and nobody else can see
        them before the commit. None when that is not known (something else changed the outbox
        meanwhile, or earlier rows are still on their way): then the claim query decides.

        The claim is what claim_due would make of them: up to ``run`` consecutive due rows,
        ``sending`` under ``owner``, attempt 1."""
        rows = self._queued.get((account_id, DIRECT))
        if not rows or not rows[0].head:
            return None
        now = self.clock.now()
        claimed = []
        for item in rows[:run]:
            if item.status != "pending" or as_utc(item.not_before) > now:
                break                   # a later answer held back on purpose waits for the worker
            item.status, item.attempts, item.claimed_by = "sending", 1, owner
            claimed.append(item)
        self.s.flush()
        return [Claimed.of(r, r.attempts) for r in claimed]

    def _heads_due(self, now: datetime):  # type: ignore[no-untyped-def]
        return and_(HEAD, OutboxItem.status == "pending", OutboxItem.not_before <= now)

    def claim_query(self, limit: int, skip_locked: bool, lane: int | None = None,  # type: ignore[no-untyped-def]
                    account_id: int | None = None):
        """The claim's SELECT (also for tests that check its plan)."""
        q = (select(OutboxItem.id, OutboxItem.account_id, OutboxItem.lane, OutboxItem.op, OutboxItem.kind,
                    OutboxItem.payload, OutboxItem.post_id, OutboxItem.target_delivery_id, OutboxItem.attempts)
             .where(self._heads_due(self.clock.now())))
        q = q.where(OutboxItem.lane == lane).order_by(OutboxItem.id) if lane is not None else \
            q.order_by(OutboxItem.lane, OutboxItem.id)
        if account_id is not None:
            q = q.where(OutboxItem.account_id == account_id)
        q = q.limit(limit)
        if skip_locked:
            q = q.with_for_update(skip_locked=True, of=OutboxItem)
        return q

    def claim_due(self, limit: int, skip_locked: bool, lane: int | None = None,
                  owner: str | None = None, run: int = 1, account_id: int | None = None) -> list[Claimed]:
        """Claim due heads (the oldest unfinished row per account and lane; of one account only
        with ``account_id``), oldest first, each followed by up to ``run - 1`` consecutive due
        rows of its recipient (id order)."""
        rows = self.s.execute(self.claim_query(limit, skip_locked, lane, account_id)).all()
        rows = self._really_first(rows)
        if not rows:
            return []
        behind = rows_behind(self.s, self.clock.now(), rows, run, skip_locked)
        if behind:                     # the claim's order: lane, then id (each run in its order)
            rows = sorted(rows + behind, key=lambda r: (r.lane, r.id))
        for chunk in _chunks(r.id for r in rows):
            self.s.execute(update(OutboxItem).where(ids_in(self.s, OutboxItem.id, chunk))
                           .values(status="sending", attempts=OutboxItem.attempts + 1, claimed_by=owner)
                           .execution_options(synchronize_session=False))
        return [Claimed.of(r, r.attempts + 1) for r in rows]

    def runs_query(self, heads: dict[tuple[int, int], int], run: int):  # type: ignore[no-untyped-def]
        return runs_query(self.s, heads, run)

    def _really_first(self, rows: list) -> list:  # type: ignore[type-arg]
        """Drop claimed heads that a race left behind an earlier unfinished row (the check costs
        a lookup per claimed row); the earlier row becomes the head instead."""
        if not rows:
            return rows
        earlier = aliased(OutboxItem)
        ids = [r.id for r in rows]
        behind = set(self.s.scalars(select(OutboxItem.id).where(ids_in(self.s, OutboxItem.id, ids), exists().where(
            earlier.account_id == OutboxItem.account_id, earlier.lane == OutboxItem.lane,
            earlier.status.in_(UNFINISHED), earlier.id < OutboxItem.id))))
        if not behind:
            return rows
        self.s.execute(update(OutboxItem).where(OutboxItem.id.in_(behind)).values(head=False)
                       .execution_options(synchronize_session=False))
        self._advance({r.account_id for r in rows if r.id in behind})
        return [r for r in rows if r.id not in behind]
