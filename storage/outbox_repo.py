"""The outbox: the only SQL about queued messages (claims: storage/outbox_claims.py; the
record of delivered copies: storage/deliveries_repo.py).

First in line: each recipient (account and lane) has at most one *head* row, the oldest
unfinished one (pending, sending or held). The flag is maintained when rows are queued and
when a head finishes, so a claim reads only heads, through a small partial index in id
order: its cost is one batch, not the backlog, and it needs no join or anti-join the
PostgreSQL planner could get wrong on stale statistics.

A claim takes each head with the run of consecutive due rows behind it (up to ``RUN``), so a
direct answer of several messages (a page of ``read``) goes out in one claim/send/record
cycle; the rows behind the head stay non-heads while they are ``sending``, and the head
moves along as each finishes.

Two processes on PostgreSQL can race (one queues for an idle recipient while the other
finishes that recipient's head). ``claim_due`` therefore checks the few claimed rows
against earlier unfinished rows of their recipients (cost per claimed row, not per pending
row), and ``repair_heads`` restores a missing head; the worker runs it when it recovers.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import case, delete, event, exists, func, insert, literal, literal_column, select, update
from sqlalchemy.orm import Session, aliased

from bot.clock import Clock, as_utc
from storage.db import ids_in
from storage.models import Account, Delivery, OutboxItem, Post
from storage.outbox_claims import DIRECT, HEAD, Claimed, Claims  # noqa: F401 (importable from here)
from storage.outbox_runs import CHUNK, UNFINISHED, _chunks

BULK = 1
FINISHED = ("done", "failed", "cancelled")
RUN = 10              # rows of one recipient claimed together (sent one after another)


def copy_mode():  # type: ignore[no-untyped-def]
    """The payload to render an edit of a recorded copy with, once its original outbox row is
    gone (outbox retention is shorter than delivery retention): a copy that showed the post
    is edited as a copy that shows it (as `read` sends it), a notice stays a notice."""
    as_json = OutboxItem.payload.type
    return case((Delivery.full.is_(True), literal({"mode": "read"}, as_json)),
                else_=literal({"mode": "fanout"}, as_json))


def _forgetting(queued: dict):  # type: ignore[no-untyped-def, type-arg]
    """A session hook: any INSERT, UPDATE or DELETE of outbox rows (from any repository) may
    have finished, held or queued rows of these recipients, so what ``queued`` knows no longer
    holds. (A closure over the dict, not a bound method: no cycle keeps the session alive.)"""
    def forget(state) -> None:  # type: ignore[no-untyped-def]
        if queued and (state.is_update or state.is_delete or state.is_insert):
            table = getattr(state.statement, "table", None)
            if getattr(table, "name", None) == OutboxItem.__tablename__:
                queued.clear()
    return forget


class _Repo:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock


class Outbox(Claims, _Repo):
    def __init__(self, session: Session, clock: Clock) -> None:
        super().__init__(session, clock)
        # Rows this transaction queued with add(), per (account, lane), for as long as no other
        # statement has changed the outbox: the second answer to the same person needs no head
        # lookup (it is behind the first), and the handler's own answers can be claimed as they
        # are inserted (claim_queued). A /read of five posts made 6 lookups and 6 INSERTs, each
        # a round trip that costs several ms on PostgreSQL with the server on the same cores.
        self._queued: dict[tuple[int, int], list[OutboxItem]] = {}
        event.listen(session, "do_orm_execute", _forgetting(self._queued))

    # -- queueing ---------------------------------------------------------------------------
    def add(self, account_id: int, payload: dict, *, lane: int = DIRECT, kind: str = "msg",
            op: str = "send", post_id: int | None = None, target_delivery_id: int | None = None,
            not_before: datetime | None = None) -> OutboxItem:
        """Queue one message. Its row is written with the transaction's next statement (several
        answers queued one after another go in one INSERT), so its id is not known yet."""
        now = self.clock.now()
        key = (account_id, lane)
        earlier = self._queued.get(key)
        if earlier is None:
            self.s.flush()    # earlier rows of this transaction must be visible to the head check
            head = not self._busy({account_id}, lane)
        else:
            head = False      # behind what this transaction queued for them a moment ago
        item = OutboxItem(account_id=account_id, lane=lane, op=op, kind=kind, payload=payload, post_id=post_id,
                          target_delivery_id=target_delivery_id, status="pending", attempts=0,
                          not_before=not_before or now, created_at=now, head=head)
        self.s.add(item)
        self._queued.setdefault(key, []).append(item)
        return item

    def add_many(self, rows: list[dict]) -> None:
        """Queue many items in one statement (fan-out)."""
        if not rows:
            return
        now = self.clock.now()
        self.s.flush()
        busy: set[tuple[int, int]] = set()
        for lane in {row.get("lane", BULK) for row in rows}:
            busy |= {(a, lane) for a in self._busy({r["account_id"] for r in rows if r.get("lane", BULK) == lane},
                                                    lane)}
        for row in rows:
            row.setdefault("lane", BULK)
            row.setdefault("op", "send")
            row.setdefault("kind", "msg")
            row.setdefault("post_id", None)
            row.setdefault("target_delivery_id", None)
            row.setdefault("not_before", now)
            row["not_before"] = row["not_before"] or now
            key = (row["account_id"], row["lane"])
            row.update(status="pending", attempts=0, created_at=now, head=key not in busy)
            busy.add(key)
        self.s.execute(insert(OutboxItem), rows)

    def has_unfinished(self, account_id: int, lane: int) -> bool:
        """Something for this account is still on its way in this lane."""
        return bool(self._busy({account_id}, lane))

    def _busy(self, account_ids: set[int], lane: int) -> set[int]:
        """Accounts that already have a head (an unfinished row) in a lane."""
        found: set[int] = set()
        for chunk in _chunks(account_ids):
            found |= set(self.s.scalars(select(OutboxItem.account_id).where(
                HEAD, OutboxItem.lane == lane, ids_in(self.s, OutboxItem.account_id, chunk))))
        return found

    def propagate(self, post_id: int, op: str) -> int:
        """Queue an edit or a delete for every recorded copy of a post, in one INSERT … SELECT.
        A copy whose recipient has nothing else queued in the bulk lane becomes its head."""
        original = aliased(OutboxItem)
        earlier = aliased(OutboxItem, name="earlier")
        now = self.clock.now()
        self.s.flush()
        # The bare column, as in the partial index's predicate: with ``head IS 1`` SQLite read
        # every kept row of each recipient (ix_outbox_account) instead of its head.
        idle = ~exists().where(earlier.account_id == Delivery.account_id, earlier.lane == BULK,
                               literal_column("earlier.head"))
        source = (select(Delivery.account_id, literal(BULK), literal(op), literal("post"),
                         func.coalesce(original.payload, copy_mode()),
                         literal(post_id), Delivery.id, literal("pending"), literal(0), literal(now),
                         literal(now), idle)
                  .select_from(Delivery)
                  .outerjoin(original, original.id == Delivery.outbox_id)
                  .where(Delivery.post_id == post_id, Delivery.deleted.is_(False)))
        cols = ["account_id", "lane", "op", "kind", "payload", "post_id", "target_delivery_id", "status",
                "attempts", "not_before", "created_at", "head"]
        # preserve_rowcount: psycopg reports no count for an INSERT once its cursor is closed
        # (the author was told "-1 copies" on PostgreSQL).
        result = self.s.execute(insert(OutboxItem).from_select(cols, source)
                                .execution_options(preserve_rowcount=True))
        return result.rowcount or 0

    # -- first in line ----------------------------------------------------------------------
    def _advance(self, account_ids: Iterable[int]) -> None:
        """Make the oldest unfinished row of each of these accounts (per lane) its head."""
        for chunk in _chunks(set(account_ids)):
            firsts = select(func.min(OutboxItem.id)).where(
                OutboxItem.account_id.in_(chunk), OutboxItem.status.in_(UNFINISHED)).group_by(
                OutboxItem.account_id, OutboxItem.lane)
            self.s.execute(update(OutboxItem).where(OutboxItem.id.in_(firsts), OutboxItem.head.is_(False))
                           .values(head=True).execution_options(synchronize_session=False))

    def repair_heads(self) -> int:
        """Restore a head where a race between processes left none, and clear extra ones
        (a sweep over unfinished rows, run when the worker recovers, not per claim)."""
        firsts = select(func.min(OutboxItem.id)).where(OutboxItem.status.in_(UNFINISHED)).group_by(
            OutboxItem.account_id, OutboxItem.lane)
        cleared = self.s.execute(update(OutboxItem).where(OutboxItem.head.is_(True), OutboxItem.id.not_in(firsts))
                                 .values(head=False).execution_options(synchronize_session=False)).rowcount
        promoted = self.s.execute(update(OutboxItem).where(OutboxItem.head.is_(False), OutboxItem.id.in_(firsts))
                                  .values(head=True).execution_options(synchronize_session=False)).rowcount
        return (cleared or 0) + (promoted or 0)

    # -- outcomes ---------------------------------------------------------------------------
    def _finished(self, item_ids: list[int]) -> None:
        accounts = set()
        for chunk in _chunks(item_ids):
            accounts |= set(self.s.scalars(select(OutboxItem.account_id).where(ids_in(self.s, OutboxItem.id, chunk))))
        self._advance(accounts)

    def finish_many(self, item_ids: list[int]) -> None:
        accounts: set[int] = set()
        for chunk in _chunks(item_ids):
            # RETURNING the recipients whose head this may have been: no second statement
            accounts |= set(self.s.scalars(update(OutboxItem).where(ids_in(self.s, OutboxItem.id, chunk))
                                           .values(status="done", done_at=self.clock.now(), error=None, head=False)
                                           .returning(OutboxItem.account_id)
                                           .execution_options(synchronize_session=False)))
        self._advance(accounts)

    def get(self, item_id: int) -> OutboxItem | None:
        return self.s.get(OutboxItem, item_id)

    def finish(self, item_id: int, error: str | None = None) -> None:
        self.s.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(
            status="done" if error is None else "failed", done_at=self.clock.now(), error=error, head=False))
        self._finished([item_id])

    def requeue(self, item_ids: list[int]) -> None:
        """Rows put back in line (an operator's retry of failed rows)."""
        self._finished(item_ids)

    def retry_later(self, item_id: int, delay: float, error: str, count_attempt: bool = True) -> None:
        values: dict = {"status": "pending", "not_before": self.clock.now() + timedelta(seconds=delay),
                        "error": error}
        if not count_attempt:
            values["attempts"] = OutboxItem.attempts - 1
        self.s.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(**values))

    def put_back(self, item_ids: list[int]) -> None:
        """Claimed rows that were not tried (a row before them failed): back in line in their
        place, their attempt not counted."""
        for chunk in _chunks(item_ids):
            self.s.execute(update(OutboxItem).where(ids_in(self.s, OutboxItem.id, chunk), OutboxItem.status == "sending")
                           .values(status="pending", claimed_by=None, attempts=OutboxItem.attempts - 1)
                           .execution_options(synchronize_session=False))

    def release_claims(self, item_ids: list[int], delay: float, error: str) -> None:
        """Rows this worker claimed but could not finish go back in line (still heads)."""
        for chunk in _chunks(item_ids):
            self.s.execute(update(OutboxItem).where(OutboxItem.id.in_(chunk), OutboxItem.status == "sending")
                           .values(status="pending", error=error, claimed_by=None,
                                   not_before=self.clock.now() + timedelta(seconds=delay))
                           .execution_options(synchronize_session=False))

    def delay_account(self, account_id: int, until: datetime) -> None:
        """A platform rate limit for one chat: hold back everything queued for it."""
        self.s.execute(update(OutboxItem).where(OutboxItem.account_id == account_id,
                                                OutboxItem.status == "pending",
                                                OutboxItem.not_before < until).values(not_before=until))

    def hold_account(self, account_id: int) -> None:
        self.s.execute(update(OutboxItem).where(OutboxItem.account_id == account_id,
                                                OutboxItem.status.in_(("pending", "sending")))
                       .values(status="held"))

    def release_account(self, account_id: int) -> None:
        self.s.execute(update(OutboxItem).where(OutboxItem.account_id == account_id,
                                                OutboxItem.status == "held")
                       .values(status="pending"))      # quiet hours and delays still apply

    def release_held_until(self, accounts: list[Account], wake: datetime) -> int:
        """Quiet hours ended early: rows waiting for ``wake`` (the end the quiet hours would
        have had) are due now. Rows delayed past it (a platform's retry-after) keep waiting."""
        ids = [a.id for a in accounts]
        if not ids:
            return 0
        now = self.clock.now()
        result = self.s.execute(update(OutboxItem).where(
            OutboxItem.account_id.in_(ids), OutboxItem.status == "pending", OutboxItem.lane == BULK,
            OutboxItem.not_before > now, OutboxItem.not_before <= wake).values(not_before=now))
        return result.rowcount or 0

    def sending_owners(self) -> set[str | None]:
        return set(self.s.scalars(select(OutboxItem.claimed_by).where(OutboxItem.status == "sending").distinct()))

    def recover_in_flight(self, owners: set[str | None]) -> int:
        """Rows a vanished worker left 'sending' are sent again (at most one duplicate each)."""
        if not owners:
            return 0
        known = [o for o in owners if o is not None]
        cond = OutboxItem.claimed_by.in_(known)
        if None in owners:
            cond = cond | OutboxItem.claimed_by.is_(None)
        result = self.s.execute(update(OutboxItem).where(OutboxItem.status == "sending", cond)
                                .values(status="pending", claimed_by=None))
        return result.rowcount or 0

    def next_due_at(self, lane: int | None = None) -> datetime | None:
        """When the next row can be claimed (rows waiting behind another row do not count)."""
        q = select(func.min(OutboxItem.not_before)).where(OutboxItem.status == "pending", HEAD)
        if lane is not None:
            q = q.where(OutboxItem.lane == lane)
        return self.s.scalar(q)

    def blank_payloads(self, item_ids: list[int]) -> None:
        """Sent answers need no parameters any more; keeping them (post ids in confirmations)
        would keep a record linking a person to what they wrote."""
        if item_ids:
            self.s.execute(update(OutboxItem).where(ids_in(self.s, OutboxItem.id, item_ids)).values(payload={})
                           .execution_options(synchronize_session=False))

    def pending_count(self, due_only: bool = False) -> int:
        """Rows still to send, and posts whose edit or delete the worker has yet to queue for
        their copies (storage/post_changes.py: each counts once, its copies are not known yet)."""
        q = select(func.count()).select_from(OutboxItem).where(OutboxItem.status.in_(("pending", "sending")))
        if due_only:     # what could be claimed now (not rows waiting behind a held one)
            q = select(func.count()).select_from(OutboxItem).where(self._heads_due(self.clock.now()))
        changes = select(func.count()).select_from(Post).where(Post.pending_change.is_not(None))
        return (self.s.scalar(q) or 0) + (self.s.scalar(changes) or 0)

    def cancel_for_post(self, post_id: int) -> list[int]:
        """Cancel not-yet-sent copies of a post; returns the accounts affected."""
        accounts = list(self.s.scalars(select(OutboxItem.account_id).where(
            OutboxItem.post_id == post_id, OutboxItem.op == "send", OutboxItem.status.in_(("pending", "held")))))
        self.s.execute(update(OutboxItem).where(OutboxItem.post_id == post_id, OutboxItem.op == "send",
                                                OutboxItem.status.in_(("pending", "held")))
                       .values(status="cancelled", head=False).execution_options(synchronize_session=False))
        self._advance(accounts)
        return accounts

    # -- retention --------------------------------------------------------------------------
    def purge_done(self, person_id: int) -> None:
        """Delete finished direct answers to a person: their parameters (post ids in
        confirmations) would otherwise link the person to what they wrote."""
        accounts = select(Account.id).where(Account.person_id == person_id)
        self.s.execute(delete(OutboxItem).where(OutboxItem.account_id.in_(accounts),
                                                OutboxItem.status.in_(FINISHED)))

    def purge_older_than(self, cutoff: datetime, batch: int = CHUNK) -> int:
        """Finished rows older than ``cutoff``, in statements of at most ``batch`` rows (see
        ``purge_batch``). An edit of a copy whose original is gone uses ``copy_mode``."""
        total, after = 0, 0
        while after is not None:
            deleted, after = self.purge_batch(cutoff, batch, after)
            total += deleted
        return total

    def purge_batch(self, cutoff: datetime, batch: int = CHUNK, after: int = 0) -> tuple[int, int | None]:
        """One bounded step of the outbox retention: look at the next ``batch`` rows in id order
        after ``after`` and delete those finished before ``cutoff``. Returns (rows deleted,
        where to go on) — None once the rows reach the cutoff, as ids grow with time. A step
        is one short statement, so the caller can commit between steps and never hold the
        write lock long; rows still unfinished (held for someone away) are passed over."""
        window = self.s.execute(select(OutboxItem.id, OutboxItem.created_at).where(OutboxItem.id > after)
                                .order_by(OutboxItem.id).limit(batch)).all()
        if not window:
            return 0, None
        first, last = window[0].id, window[-1].id
        reached = len(window) < batch or as_utc(window[-1].created_at) >= cutoff
        result = self.s.execute(delete(OutboxItem).where(
            OutboxItem.id.between(first, last), OutboxItem.status.in_(FINISHED),
            OutboxItem.created_at < cutoff).execution_options(synchronize_session=False))
        return result.rowcount or 0, None if reached else last

    def count(self) -> int:
        return self.s.scalar(select(func.count()).select_from(OutboxItem)) or 0
