"""Issue 15: the database thread's priority lane. A person's message or command runs before
queued bulk work (fan-out batches, jobs); within one priority, work runs in the order it was
submitted; still one piece of work at a time."""
from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from bot.dbthread import DbThread, Priority
from bot.events import IncomingEvent, Kind
from storage.repo import BULK, DIRECT
from tests.harness import Harness


class Gate:
    """Holds the database thread busy until opened, so that work queues up behind it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def hold(self) -> str:
        self.entered.set()
        assert self.opened.wait(10), "the gate was never opened"
        return "gate"

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10)


async def held(dbt: DbThread) -> tuple[Gate, asyncio.Future]:
    gate = Gate()
    running = asyncio.ensure_future(dbt.run(gate.hold))
    await gate.wait_entered()
    return gate, running


async def until_queued(dbt: DbThread, count: int) -> None:
    """Let the tasks just created reach the database thread's queue."""
    for _ in range(100):
        if len(dbt._queue) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"only {len(dbt._queue)} of {count} queued")


async def test_interactive_work_runs_before_bulk_work_queued_earlier() -> None:
    dbt = DbThread(db=None)  # type: ignore[arg-type]
    order: list[str] = []
    gate, running = await held(dbt)
    bulk = [asyncio.ensure_future(dbt.run(order.append, f"bulk{n}")) for n in range(3)]
    await until_queued(dbt, 3)
    person = asyncio.ensure_future(dbt.run(order.append, "person", priority=Priority.INTERACTIVE))
    await until_queued(dbt, 4)
    gate.opened.set()
    await asyncio.gather(running, person, *bulk)
    # Before: one FIFO queue, so the person's transaction waited for all three bulk batches.
    assert order == ["person", "bulk0", "bulk1", "bulk2"]
    dbt.close()


async def test_order_within_each_priority_is_the_order_of_submission() -> None:
    dbt = DbThread(db=None)  # type: ignore[arg-type]
    order: list[str] = []
    gate, running = await held(dbt)
    tasks = []
    for n in range(4):
        tasks.append(asyncio.ensure_future(dbt.run(order.append, f"bulk{n}")))
        await until_queued(dbt, len(tasks))
        tasks.append(asyncio.ensure_future(dbt.run(order.append, f"person{n}", priority=Priority.INTERACTIVE)))
        await until_queued(dbt, len(tasks))
    gate.opened.set()
    await asyncio.gather(running, *tasks)
    assert order == [f"person{n}" for n in range(4)] + [f"bulk{n}" for n in range(4)]
    dbt.close()


async def test_work_runs_one_at_a_time_in_one_thread_and_errors_reach_the_caller(caplog) -> None:
    dbt = DbThread(db=None)  # type: ignore[arg-type]
    active, most, threads = [0], [0], set()

    def step(n: int) -> int:
        active[0] += 1
        most[0] = max(most[0], active[0])
        threads.add(threading.get_ident())
        threading.Event().wait(0.002)
        active[0] -= 1
        return n * 2

    results = await asyncio.gather(*(dbt.run(step, n, priority=Priority(n % 2)) for n in range(20)))
    assert sorted(results) == [n * 2 for n in range(20)]
    assert most[0] == 1 and len(threads) == 1 and threading.get_ident() not in threads

    def broken() -> None:
        raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        await dbt.run(broken, priority=Priority.INTERACTIVE)
    with caplog.at_level(logging.WARNING, logger="bot.dbthread"):
        dbt.submit(broken)
        await dbt.run(lambda: None)          # after the submitted work, in order
    assert "background database work failed (ValueError)" in caplog.text
    dbt.close()


async def test_work_whose_caller_stopped_waiting_is_not_run() -> None:
    dbt = DbThread(db=None)  # type: ignore[arg-type]
    order: list[str] = []
    gate, running = await held(dbt)
    dropped = asyncio.ensure_future(dbt.run(order.append, "dropped"))
    kept = asyncio.ensure_future(dbt.run(order.append, "kept"))
    await until_queued(dbt, 2)
    dropped.cancel()
    await asyncio.sleep(0)
    gate.opened.set()
    await asyncio.gather(running, kept)
    assert order == ["kept"]
    dbt.close()


async def test_a_persons_message_and_the_direct_lane_go_before_queued_bulk_work(make_runtime) -> None:
    """Wired as meant: the app's handler transaction and the worker's direct lane (the
    answers) are interactive; the fan-out lane and jobs are bulk."""
    h = Harness(make_runtime())
    await h.onboard("ann", "Birch")
    h.clear()
    dbt, worker, app = h.rt.dbt, h.rt.worker, h.rt.app
    order: list[str] = []
    real_prepare, real_handle = worker._prepare, app._handle

    def prepare(lane: int):  # type: ignore[no-untyped-def]
        order.append("direct lane" if lane == DIRECT else "bulk lane")
        return real_prepare(lane)

    def handle(event: IncomingEvent) -> None:
        order.append("handler")
        real_handle(event)
    worker._prepare = prepare          # type: ignore[method-assign]
    app._handle = handle               # type: ignore[method-assign]

    gate, running = await held(dbt)
    job = asyncio.ensure_future(dbt.transaction(lambda uow: order.append("job")))
    fan_out = asyncio.ensure_future(worker.process_lane(BULK))
    await until_queued(dbt, 2)
    asked = asyncio.ensure_future(app.handle(IncomingEvent(user=Harness.user("ann"), kind=Kind.TEXT, text="/help")))
    await until_queued(dbt, 3)
    gate.opened.set()
    await asyncio.gather(running, job, asked)
    assert order[0] == "handler", order

    await fan_out
    del order[:]
    real_flush = worker._flush_unrecorded

    def flush() -> bool:             # the direct lane's first step in the database thread
        order.append("direct lane begins")
        return real_flush()
    worker._flush_unrecorded = flush   # type: ignore[method-assign]
    gate, running = await held(dbt)
    job = asyncio.ensure_future(dbt.transaction(lambda uow: order.append("job")))
    await until_queued(dbt, 1)
    answer = asyncio.ensure_future(worker.process_lane(DIRECT))
    await until_queued(dbt, 2)
    gate.opened.set()
    await asyncio.gather(running, job, answer)
    assert order[:2] == ["direct lane begins", "job"] and "direct lane" in order, order
    assert "emergency" in h.last("ann").lower()
