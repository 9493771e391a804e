"""The run behind a head: the consecutive due rows of a recipient that a claim takes with its
head (issue 15 item 4), so that a direct answer of several messages goes out in one
claim/send/record cycle. Part of the outbox repository (storage/outbox_repo.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import Integer, bindparam, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from bot.clock import as_utc
from storage.db import ids_in
from storage.models import OutboxItem

UNFINISHED = ("pending", "sending", "held")


CHUNK = 5000          # bound IN lists (SQLite's variable limit, PostgreSQL plan size)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    """The outbox repository's id lists in bounded pieces (storage/outbox_*.py)."""
    items = list(ids)
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def runs_query(session: Session, heads: dict[tuple[int, int], int], run: int):  # type: ignore[no-untyped-def]
    """The first ``run - 1`` unfinished non-head rows behind each head (``heads``: account
    and lane to the head's id), in id order; also for tests that check its plan.

    PostgreSQL gets one small index lookup per head (a LATERAL join on the heads, passed as
    three arrays so that the statement is the same for every batch): an IN list over all
    the accounts would be planned as a sequential scan of the whole outbox when the
    statistics are stale (the default selectivity of an IN list). SQLite walks
    ix_outbox_account for the accounts either way."""
    cols = (OutboxItem.id, OutboxItem.account_id, OutboxItem.lane, OutboxItem.op, OutboxItem.kind,
            OutboxItem.payload, OutboxItem.post_id, OutboxItem.target_delivery_id, OutboxItem.attempts,
            OutboxItem.status, OutboxItem.not_before)
    if session.get_bind().dialect.name == "postgresql":
        ordered = sorted(heads.items())
        arrays = {"accounts": [a for (a, _), _ in ordered], "lanes": [lane for (_, lane), _ in ordered],
                  "heads": [head for _, head in ordered]}
        h = func.unnest(*(bindparam(name, value, type_=ARRAY(Integer)) for name, value in arrays.items())
                        ).table_valued("account_id", "lane", "head_id").render_derived(name="h")
        behind = (select(*cols).where(OutboxItem.account_id == h.c.account_id, OutboxItem.lane == h.c.lane,
                                      OutboxItem.status.in_(UNFINISHED), OutboxItem.head.is_(False),
                                      OutboxItem.id > h.c.head_id)
                  .order_by(OutboxItem.id).limit(run - 1).lateral("behind"))
        return select(behind).select_from(h).join(behind, true()).order_by(
            behind.c.account_id, behind.c.lane, behind.c.id)
    rank = func.row_number().over(partition_by=(OutboxItem.account_id, OutboxItem.lane),
                                  order_by=OutboxItem.id).label("n")
    ranked = (select(*cols, rank)
              .where(OutboxItem.account_id.in_(sorted({a for a, _ in heads})),
                     OutboxItem.lane.in_(sorted({lane for _, lane in heads})),
                     OutboxItem.status.in_(UNFINISHED), OutboxItem.head.is_(False))
              .subquery())
    return select(ranked).where(ranked.c.n < run).order_by(ranked.c.account_id, ranked.c.lane, ranked.c.id)


def rows_behind(session: Session, now: datetime, heads: list, run: int,  # type: ignore[type-arg]
                skip_locked: bool) -> list:
    """The rows right behind claimed heads that are due now: per head, the first ``run - 1``
    unfinished rows of its recipient and lane, up to the first that is not due (held, or
    waiting for a time). One statement for the batch; its cost is the claimed recipients'
    unfinished rows, not the backlog."""
    if run <= 1 or not heads:
        return []
    first = {(h.account_id, h.lane): h.id for h in heads}
    candidates = session.execute(runs_query(session, first, run)).all()
    taken: list = []
    stopped: set[tuple[int, int]] = set()
    for row in candidates:
        key = (row.account_id, row.lane)
        if key not in first or key in stopped:
            continue
        # Only consecutive rows: one not due now (or, after a race, an unfinished row
        # before the head) ends the run; what follows it waits for it.
        if row.id < first[key] or row.status != "pending" or as_utc(row.not_before) > as_utc(now):
            stopped.add(key)
            continue
        taken.append(row)
    if taken and skip_locked:
        # Another process may hold one of them (a head a race left behind): the run ends
        # before it rather than skipping it.
        mine = set()
        for chunk in _chunks([r.id for r in taken]):
            mine |= set(session.scalars(select(OutboxItem.id).where(
                ids_in(session, OutboxItem.id, chunk), OutboxItem.status == "pending")
                .with_for_update(skip_locked=True, of=OutboxItem)))
        kept, stopped = [], set()
        for row in taken:
            key = (row.account_id, row.lane)
            if key in stopped or row.id not in mine:
                stopped.add(key)
                continue
            kept.append(row)
        taken = kept
    return taken
