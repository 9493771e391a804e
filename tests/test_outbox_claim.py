"""The outbox claim: one head per recipient, a cost of one batch (not the backlog), and a plan
that stays good on PostgreSQL when statistics were taken on a near-empty outbox (issue 15)."""
from __future__ import annotations

import json
import random

from sqlalchemy import func, select

from bot.transports.base import MemoryTransport
from storage.models import OutboxItem
from storage.repo import BULK, DIRECT
from tests.harness import Harness

UNFINISHED = ("pending", "sending", "held")


def _accounts(rt, count: int) -> list[int]:
    with rt.db.uow() as uow:
        return [uow.accounts.find_or_create(Harness.user(f"m{i}"), uow.people, "en").id for i in range(count)]


def _assert_heads(rt) -> None:
    """Each account and lane with unfinished rows has exactly one head: its oldest one."""
    with rt.db.uow() as uow:
        rows = uow.session.execute(select(OutboxItem.id, OutboxItem.account_id, OutboxItem.lane,
                                          OutboxItem.status, OutboxItem.head).order_by(OutboxItem.id)).all()
    seen: dict = {}
    for r in rows:
        if r.status in UNFINISHED and (r.account_id, r.lane) not in seen:
            seen[(r.account_id, r.lane)] = r.id
    heads = {r.id for r in rows if r.head}
    assert heads == set(seen.values())


async def test_order_per_recipient_survives_fan_outs_answers_and_cancellations(make_runtime, db_url) -> None:
    rt = make_runtime(url=db_url)
    mem: MemoryTransport = rt.transports["memory"]
    accounts = _accounts(rt, 6)
    rnd = random.Random(7)
    expected: dict[int, list[str]] = {a: [] for a in accounts}
    for step in range(12):
        with rt.db.uow() as uow:
            rows = [{"account_id": a, "payload": {"key": "command.unknown", "params": {"command": f"s{step}"}},
                     "lane": BULK} for a in accounts if rnd.random() < 0.7]
            uow.outbox.add_many(rows)
            for row in rows:
                expected[row["account_id"]].append(f"s{step}")
            lucky = rnd.choice(accounts)
            uow.outbox.add(lucky, {"key": "command.unknown", "params": {"command": f"d{step}"}}, lane=DIRECT)
            expected[lucky].append(f"d{step}")
        _assert_heads(rt)
        if step % 3 == 2:
            await rt.worker.process_lane(BULK)         # one batch, not everything
            _assert_heads(rt)
    await rt.worker.drain()
    _assert_heads(rt)
    for index, account in enumerate(accounts):
        got = [t.split("\"")[1] for t in mem.texts(f"m{index}")]
        bulk = [x for x in expected[account] if x.startswith("s")]
        assert [x for x in got if x.startswith("s")] == bulk        # fan-out order per recipient
        assert sorted(got) == sorted(expected[account])             # each exactly once


async def test_a_lost_head_is_restored_and_a_second_head_is_not_sent_out_of_order(make_runtime) -> None:
    rt = make_runtime()
    mem: MemoryTransport = rt.transports["memory"]
    (acc,) = _accounts(rt, 1)
    with rt.db.uow() as uow:
        for n in range(3):
            uow.outbox.add(acc, {"key": "command.unknown", "params": {"command": f"x{n}"}}, lane=BULK)
        first, second, third = uow.session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
        second.head = True          # what a race between two processes could leave behind
    await rt.worker.process_lane(BULK)
    # x0 first; x1 only behind it (in x0's run), never as a head of its own before it
    assert [t.split("\"")[1] for t in mem.texts("m0")] == ["x0", "x1", "x2"]
    with rt.db.uow() as uow:
        for row in uow.session.scalars(select(OutboxItem)):
            row.head = False        # ...or no head at all
    rt.worker.recover()
    await rt.worker.drain()
    assert [t.split("\"")[1] for t in mem.texts("m0")] == ["x0", "x1", "x2"]


async def test_the_sqlite_claim_walks_the_head_index(make_runtime) -> None:
    rt = make_runtime()
    with rt.db.uow() as uow:
        q = uow.outbox.claim_query(100, skip_locked=False, lane=BULK).compile(rt.db.engine)
        plan = " ".join(str(r[-1]) for r in uow.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(q), tuple(q.params[k] for k in q.positiontup)))
    assert "ix_outbox_heads" in plan and "TEMP B-TREE" not in plan and "CORRELATED" not in plan


def _walk(node: dict):  # type: ignore[no-untyped-def]
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


async def test_claim_on_a_fresh_postgres_with_stale_statistics_reads_one_batch(make_runtime, pg_url) -> None:
    rt = make_runtime(url=pg_url)
    accounts = _accounts(rt, 200)
    with rt.db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE outbox")             # statistics of an empty outbox
    with rt.db.uow() as uow:
        for n in range(50):                                 # then a backlog of 10,000 rows
            uow.outbox.add_many([{"account_id": a, "payload": {"mode": "fanout"}, "kind": "msg"}
                                 for a in accounts])
    with rt.db.uow() as uow:
        q = uow.outbox.claim_query(100, skip_locked=True, lane=BULK).compile(rt.db.engine)
        plan = uow.session.connection().exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + str(q), q.params).scalar()
        assert uow.session.scalar(select(func.count()).select_from(OutboxItem)) == 10_000
    if isinstance(plan, str):
        plan = json.loads(plan)
    nodes = list(_walk(plan[0]["Plan"]))
    assert not any("Join" in n["Node Type"] or n["Node Type"] == "Nested Loop" for n in nodes)
    touched = sum(n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0) for n in nodes
                  if n["Node Type"] in ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"))
    assert touched <= 300, nodes                            # one batch of heads, not the backlog
    claimed = None
    with rt.db.uow() as uow:
        claimed = uow.outbox.claim_due(100, skip_locked=True, lane=BULK, owner="t")
    assert len(claimed) == 100 and len({c.account_id for c in claimed}) == 100
