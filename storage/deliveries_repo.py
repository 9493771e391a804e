"""The record of delivered copies: which account got which post, under which platform
message id (edits, deletes and replies find the copies through it), kept only as long as
privacy.delivery_retention_days allows. The outbox that sends them is storage/outbox_repo.py."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, update

from bot.clock import as_utc
from storage.db import ids_in
from storage.models import Delivery
from storage.outbox_repo import CHUNK, _chunks, _Repo


class Deliveries(_Repo):
    def record(self, account_id: int, outbox_id: int, post_id: int | None, message_id: str,
               full: bool = False) -> Delivery:
        d = Delivery(account_id=account_id, outbox_id=outbox_id, post_id=post_id,
                     platform_message_id=message_id, sent_at=self.clock.now(), deleted=False, full=full)
        self.s.add(d)
        self.s.flush()
        return d

    def record_many(self, rows: list[dict]) -> None:
        """rows: account_id, outbox_id, post_id, platform_message_id, full."""
        if rows:
            now = self.clock.now()
            for row in rows:
                row.update(sent_at=now, deleted=False)
            self.s.execute(insert(Delivery), rows)

    def by_message(self, account_id: int, message_id: str) -> Delivery | None:
        return self.s.scalar(select(Delivery).where(Delivery.account_id == account_id,
                                                    Delivery.platform_message_id == message_id))

    def of_post(self, post_id: int) -> list[Delivery]:
        return list(self.s.scalars(select(Delivery).where(Delivery.post_id == post_id,
                                                          Delivery.deleted.is_(False)).order_by(Delivery.id)))

    def targets(self, delivery_ids: list[int]) -> dict[int, tuple[str, bool]]:
        """Platform message id and deleted flag of each copy, in one statement (an edit or
        delete reaches thousands of copies in one step)."""
        found: dict[int, tuple[str, bool]] = {}
        for chunk in _chunks(delivery_ids):
            rows = self.s.execute(select(Delivery.id, Delivery.platform_message_id, Delivery.deleted)
                                  .where(ids_in(self.s, Delivery.id, chunk)))
            found.update((row.id, (row.platform_message_id, row.deleted)) for row in rows)
        return found

    def mark_deleted_many(self, delivery_ids: list[int]) -> None:
        for chunk in _chunks(delivery_ids):
            self.s.execute(update(Delivery).where(ids_in(self.s, Delivery.id, chunk))
                           .values(deleted=True).execution_options(synchronize_session=False))

    def purge_older_than(self, cutoff: datetime, batch: int = CHUNK) -> int:
        """Copies sent before ``cutoff`` can no longer be edited, deleted or replied to through
        the bot; the record of who received what goes with them (in bounded statements)."""
        total = 0
        while True:
            deleted, more = self.purge_batch(cutoff, batch)
            total += deleted
            if not more:
                return total

    def purge_batch(self, cutoff: datetime, batch: int = CHUNK) -> tuple[int, bool]:
        """Delete up to ``batch`` of the oldest delivery records sent before ``cutoff``: the
        oldest rows in id order (ids grow with time), so the statement reads only what it
        deletes and never scans the recent records. Returns (rows deleted, whether more may
        be due)."""
        window = self.s.execute(select(Delivery.id, Delivery.sent_at).order_by(Delivery.id).limit(batch)).all()
        old = [row.id for row in window if as_utc(row.sent_at) < cutoff]
        if not old:
            return 0, False
        result = self.s.execute(delete(Delivery).where(Delivery.id.between(old[0], old[-1]),
                                                       Delivery.sent_at < cutoff)
                                .execution_options(synchronize_session=False))
        return result.rowcount or 0, len(old) == len(window) == batch

    def count(self) -> int:
        return self.s.scalar(select(func.count()).select_from(Delivery)) or 0
