"""The outbox worker: retries, rate limits, unreachable people, lanes, recorded message ids."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from datetime import timedelta

from bot.clock import FakeClock
from bot.transports.base import MemoryTransport, RetryAfter, TransientError, Unreachable, PermanentError
from storage.models import Delivery, OutboxItem
from storage.repo import BULK, DIRECT
from tests.harness import Harness


def _queue(rt, names: list[str], key: str = "command.hint", lane: int = DIRECT) -> list[int]:
    ids = []
    with rt.db.uow() as uow:
        for name in names:
            acc = uow.accounts.find_or_create(Harness.user(name), uow.people, "en")
            ids.append(acc.id)
            uow.outbox.add(acc.id, {"key": key, "params": {}}, lane=lane)
    return ids


async def test_transient_errors_are_retried_with_backoff(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    mem: MemoryTransport = rt.transports["memory"]
    _queue(rt, ["ann"])
    mem.fail_next("ann", TransientError("502"))
    mem.fail_next("ann", TransientError("timeout"))
    await rt.worker.process_due()
    assert mem.texts("ann") == []
    clock.advance(seconds=1)
    await rt.worker.process_due()        # back-off is 2 s after the first failure
    assert mem.texts("ann") == []
    clock.advance(seconds=2)
    await rt.worker.process_due()        # second failure: now 4 s
    clock.advance(seconds=4)
    await rt.worker.process_due()
    assert mem.texts("ann") == ["Send /help to see what you can do."]


async def test_retry_after_delays_only_that_chat(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    mem: MemoryTransport = rt.transports["memory"]
    _queue(rt, ["ann", "bob"])
    _queue(rt, ["ann", "bob"], key="input.empty")
    mem.fail_next("ann", RetryAfter(30))
    await rt.worker.process_due()
    assert len(mem.texts("bob")) == 2 and mem.texts("ann") == []
    clock.advance(seconds=31)
    await rt.worker.process_due()
    # order kept for ann after the wait
    assert mem.texts("ann") == ["Send /help to see what you can do.",
                                "That message was empty. Send /help to see what you can do."]


async def test_unreachable_person_keeps_deliveries_until_back(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    mem: MemoryTransport = rt.transports["memory"]
    mem.unreachable.add("ann")
    await h.say("ann", "/start")
    assert mem.texts("ann") == []
    with rt.db.uow() as uow:
        held = uow.session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "held"))
    assert held >= 2
    mem.unreachable.discard("ann")
    await h.say("ann", "/help")           # writing again means they are back
    texts = mem.texts("ann")
    assert texts[0].startswith("Welcome to") and "What you can do" in texts[-1]


async def test_direct_answers_overtake_bulk_fan_out(make_runtime) -> None:
    rt = make_runtime(concurrency=1)
    mem: MemoryTransport = rt.transports["memory"]
    _queue(rt, [f"u{i}" for i in range(30)], lane=BULK)
    _queue(rt, ["asker"], key="input.empty", lane=DIRECT)
    await rt.worker.process_due()
    order = [m.address for m in sorted(mem.all_messages(), key=lambda m: int(m.message_id))]
    assert order[0] == "asker"


async def test_direct_answers_leave_no_delivery_record(make_runtime) -> None:
    """Only copies of posts are recorded (issue 8, item 6); post copies: tests/test_threads.py."""
    rt = make_runtime()
    mem: MemoryTransport = rt.transports["memory"]
    _queue(rt, ["ann", "bob", "cid"])
    await rt.worker.drain()
    with rt.db.uow() as uow:
        ids = set(uow.session.scalars(select(Delivery.platform_message_id)))
    assert len(mem.all_messages()) == 3 and ids == set()


async def test_permanent_refusal_is_not_retried_forever(make_runtime) -> None:
    rt = make_runtime()
    mem: MemoryTransport = rt.transports["memory"]
    _queue(rt, ["ann"])
    mem.fail_next("ann", PermanentError("bad request"))
    await rt.worker.drain()
    with rt.db.uow() as uow:
        row = uow.session.scalar(select(OutboxItem))
    assert row.status == "failed" and row.error.startswith("refused")


async def test_unreachable_error_marks_account(make_runtime) -> None:
    rt = make_runtime()
    mem: MemoryTransport = rt.transports["memory"]
    (acc,) = _queue(rt, ["ann"])
    mem.fail_next("ann", Unreachable("blocked"))
    await rt.worker.drain()
    with rt.db.uow() as uow:
        assert uow.accounts.get(acc).reachable is False


class GatedTransport(MemoryTransport):
    """Holds sends to one address until the test opens the gate."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.hold: str | None = None
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def send(self, address, message):  # type: ignore[no-untyped-def]
        if address == self.hold:
            self.waiting.set()
            await self.gate.wait()
        return await super().send(address, message)


async def test_a_copy_in_flight_during_a_delete_is_removed_too(make_runtime) -> None:
    gated = GatedTransport("memory")
    rt = make_runtime(transports={"memory": gated})
    h = Harness(rt)
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow")
    await h.say("ann", "/new Topic", drain=True)
    gated.hold = "bob"
    await h.say("ann", "please delete me", drain=False)
    sending = asyncio.create_task(rt.worker.process_due())
    await asyncio.wait_for(gated.waiting.wait(), 5)      # bob's copy is on its way
    await h.say("ann", "/delete p1", drain=False)         # the delete finds no recorded copy yet
    gated.gate.set()
    await sending
    await rt.worker.drain()
    (copy,) = [m for m in gated.sent["bob"] if "please delete me" in (m.edits or [m.text])[0]]
    assert copy.deleted


async def test_rows_behind_a_held_row_do_not_count_as_due(make_runtime) -> None:
    rt = make_runtime()
    mem: MemoryTransport = rt.transports["memory"]
    (acc,) = _queue(rt, ["ann"], lane=BULK)
    mem.unreachable.add("ann")
    await rt.worker.drain()
    _queue(rt, ["ann"], lane=BULK)                        # e.g. a new post for someone who blocked us
    with rt.db.uow() as uow:
        assert uow.outbox.next_due_at(BULK) is None       # nothing to wake up for: no busy loop
        assert uow.outbox.pending_count(due_only=True) == 0


async def test_only_rows_of_a_vanished_worker_are_recovered(make_runtime, db_url: str) -> None:
    first, second = make_runtime(url=db_url), make_runtime(url=db_url)
    _queue(first, ["ann", "bob"])
    first.worker.recover()                                # takes its owner lock
    with first.db.uow() as uow:
        claimed = uow.outbox.claim_due(10, skip_locked=first.db.is_postgres, owner=first.worker.owner)
    assert len(claimed) == 2
    if first.db.is_postgres:
        assert second.worker.recover() == 0               # the first worker is alive: hands off
    first.worker.release()                                # ...and now it is gone
    assert second.worker.recover() == 2
    second.worker.release()


async def test_a_long_outage_never_loses_the_message(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    mem: MemoryTransport = rt.transports["memory"]
    _queue(rt, ["ann"])
    for _ in range(30):                                   # far beyond a few hours of back-off
        mem.fail_next("ann", TransientError("network down"))
    for _ in range(31):
        await rt.worker.process_due()
        clock.advance(seconds=901)
    assert mem.texts("ann") == ["Send /help to see what you can do."]


async def test_sent_answers_keep_no_parameters(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow")
    await h.say("ann", "/new Mine\nsecret words", drain=False)
    await h.say("ann", "/name --fresh Oakwood")
    with rt.db.uow() as uow:
        acc = uow.accounts.find("memory", "ann")
        payloads = list(uow.session.scalars(select(OutboxItem.payload).where(OutboxItem.account_id == acc.id,
                                                                            OutboxItem.kind == "msg")))
    assert payloads and all(p == {} for p in payloads)    # no "Posted as p1" left to link her


async def test_writing_again_keeps_quiet_hours_of_held_messages(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    mem: MemoryTransport = rt.transports["memory"]
    (acc,) = _queue(rt, ["ann"])
    later = clock.now() + timedelta(hours=8)
    with rt.db.uow() as uow:
        uow.outbox.add(acc, {"key": "input.empty", "params": {}}, lane=BULK, not_before=later)
        uow.outbox.hold_account(acc)
        uow.outbox.release_account(acc)
    await rt.worker.drain()
    assert mem.texts("ann") == ["Send /help to see what you can do."]
    clock.set(later)
    await rt.worker.drain()
    assert len(mem.texts("ann")) == 2


async def test_a_worker_recovers_its_rows_after_the_database_refused_to_record(make_runtime, monkeypatch) -> None:
    """Issue 8 item 4: recording the outcome AND the retry bookkeeping fail (a database
    outage mid-batch). The running worker must record the confirmed sends afterwards (not send
    them again), deliver what was queued behind them, and drain() must not spin."""
    from bot.delivery import OutboxWorker
    from storage.outbox_repo import Outbox

    rt = make_runtime()
    mem: MemoryTransport = rt.transports["memory"]
    _queue(rt, ["ann", "bob"])
    _queue(rt, ["ann", "bob"], key="input.empty")           # queued behind the first ones
    real_apply, real_retry = OutboxWorker._apply, Outbox.retry_later
    outage = {"on": True}

    def failing_apply(self, outcomes):  # type: ignore[no-untyped-def]
        if outage["on"]:
            raise OSError("database is away")
        return real_apply(self, outcomes)

    def failing_retry(self, *a, **kw):  # type: ignore[no-untyped-def]
        if outage["on"]:
            raise OSError("database is away")
        return real_retry(self, *a, **kw)

    monkeypatch.setattr(OutboxWorker, "_apply", failing_apply)
    monkeypatch.setattr(Outbox, "retry_later", failing_retry)
    await rt.worker.process_lane(DIRECT)
    assert [len(mem.texts(n)) for n in ("ann", "bob")] == [2, 2]   # each one's two in one run
    outage["on"] = False                                    # the database is back; no restart
    loop = asyncio.get_running_loop()
    started = loop.time()
    await rt.worker.drain()
    assert loop.time() - started < 2
    assert mem.texts("ann") == ["Send /help to see what you can do.",
                                "That message was empty. Send /help to see what you can do."]
    assert mem.texts("bob") == mem.texts("ann")             # each once, in order
    with rt.db.uow() as uow:
        statuses = uow.session.scalars(select(OutboxItem.status)).all()
        assert statuses == ["done"] * 4
        # direct answers leave no delivery record once sent (issue 8 item 6)
        assert uow.session.scalar(select(func.count()).select_from(Delivery)) == 0


async def test_drain_does_not_spin_while_the_database_refuses(make_runtime, monkeypatch) -> None:
    from bot.delivery import OutboxWorker
    from storage.outbox_repo import Outbox

    rt = make_runtime()
    _queue(rt, ["ann"])
    calls = {"n": 0}

    def failing(self, *a, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        raise OSError("database is away")

    monkeypatch.setattr(OutboxWorker, "_apply", failing)
    monkeypatch.setattr(Outbox, "retry_later", failing)
    await rt.worker.drain(max_rounds=8)
    assert calls["n"] < 20                                  # a few attempts with growing pauses, no busy loop
    monkeypatch.undo()
    await rt.worker.drain()
    assert rt.transports["memory"].texts("ann") == ["Send /help to see what you can do."]


async def test_a_handler_sends_its_own_answers_without_waiting_for_the_worker(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    h = Harness(rt)
    mem: MemoryTransport = rt.transports["memory"]
    await h.say("ann", "/help", drain=False)        # no worker round at all
    await rt.worker.settle_inflight()
    assert mem.texts("ann")[-1].startswith("What you can do")
    with rt.db.uow() as uow:
        assert set(uow.session.scalars(select(OutboxItem.status))) == {"done"}
    # An answer still on its way keeps its place: a later one waits behind it.
    _queue(rt, ["ann"])
    mem.fail_next("ann", RetryAfter(30))
    await rt.worker.process_due()                  # the queued hint is told to wait 30 s
    await h.say("ann", "/help", drain=False)
    await rt.worker.settle_inflight()
    assert mem.texts("ann")[-1].startswith("What you can do") and len(mem.texts("ann")) == 1
    clock.advance(seconds=31)
    await rt.worker.drain()
    assert mem.texts("ann")[1:] == ["Send /help to see what you can do.", mem.texts("ann")[0]]


async def test_an_answer_the_platform_holds_back_follows_without_waiting_for_the_idle_worker(make_runtime) -> None:
    # Telegram paces each chat: a handler's second answer is often told to wait a few ms.
    # That copy goes back to the outbox; it must follow at once, not at the idle worker's
    # next look 5 s later (every two-message answer was 5 s late).
    class Remote(MemoryTransport):             # a platform call takes a while, as on a network
        async def send(self, address, message):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.3)
            return await super().send(address, message)

    mem = Remote("memory")
    rt = make_runtime(transports={"memory": mem})
    h = Harness(rt)
    worker = asyncio.ensure_future(rt.worker.run())
    try:
        await asyncio.sleep(0.2)                      # the lanes are idle and asleep
        mem.fail_next("ann", RetryAfter(0))
        await h.say("ann", "/help", drain=False)
        for _ in range(40):                            # up to 2 s
            if mem.texts("ann"):
                break
            await asyncio.sleep(0.05)
        assert mem.texts("ann") and mem.texts("ann")[-1].startswith("What you can do")
    finally:
        rt.worker.stop()
        await worker
