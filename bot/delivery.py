"""The outbox worker: delivers queued messages, once each, in order per recipient.

Work goes in batches: one transaction claims due rows (status ``sending``: per recipient and
lane its first row and the run of due rows right behind it) and renders each for its
recipient; the recipients' runs are sent concurrently, each run's messages one after another
(a failure ends the run; the rows after it go back in line in their place); outcomes are
recorded whenever the loop gets to them, so a run of quick sends (a page of ``read``) is one
record, and slow sends are recorded one by one as they come. A crash before the record
leaves rows ``sending``; the next start sends them again, so at most the messages in flight
at a crash can arrive twice, and nothing is lost.

Direct answers (lane 0) and bulk fan-out (lane 1) have their own loops, so an answer to
a person never waits behind a fan-out batch.

The database steps (claim and render, record, recover) run in the runtime's database thread
(bot.dbthread); only the sends run on the event loop. What an outcome means for the outbox
and the delivery records is bot.delivery_record.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.clock import Clock, as_utc
from bot.dbthread import DbThread
from bot.delivery_record import backoff, record_outcomes
from bot.delivery_runs import Job, Outcome, send_one, send_runs
from bot.render import Renderer
from bot.transports.base import Transport
from storage.db import OwnerLock, is_contention
from storage import post_changes
from storage.models import Account
from storage.repo import BULK, DIRECT, RUN, Claimed, Database, UnitOfWork

log = logging.getLogger(__name__)
HELD = object()
RECOVERY_INTERVAL = 60.0


class OutcomesUnrecorded(Exception):
    """Outcomes of an earlier batch could not be recorded yet (the database is away)."""


class OutboxWorker:
    def __init__(self, db: Database, transports: dict[str, Transport], renderer: Renderer, clock: Clock,
                 *, concurrency: int = 16, batch: int = 100, dbt: DbThread | None = None) -> None:
        self.db = db
        self.dbt = dbt or DbThread(db)
        self.transports = transports
        self.renderer = renderer
        self.clock = clock
        self.concurrency = concurrency
        self.batch = batch
        # A post's copies are claimed 300 recipients a step: each step has a fixed cost
        # (claim, render set-up, record: ~13 ms on SQLite) that 100 a step paid three times as
        # often (bench.scale, 10,000 members: 2,041 -> 3,135 deliveries/s, measured side by side).
        # The direct lane keeps small steps, so an answer never waits behind a big one.
        self.bulk_batch = 3 * batch
        self._wake = {DIRECT: asyncio.Event(), BULK: asyncio.Event()}
        self._stopping = False
        self._addresses: dict[int, tuple[str, str]] = {}
        self.sent = 0
        self.failed = 0
        # Who claimed a row. With PostgreSQL several processes share the outbox; each holds an
        # advisory lock on its id while alive, so the rows of a vanished one can be recovered.
        self.owner = str(secrets.randbelow(2**31 - 1) + 1)
        self._owner_lock = OwnerLock(db.engine, int(self.owner))
        self._last_recovery = 0.0
        self._unrecorded: list[Outcome] = []
        self._inflight: set[asyncio.Task] = set()     # handlers' answers being sent (start_prepared)

    def wake(self) -> None:
        """Call on the event loop (asyncio events are not thread-safe)."""
        for event in self._wake.values():
            event.set()

    def recover(self) -> int:
        """Send again what a stopped worker (an earlier run, or another process that died) left
        half-sent. With SQLite there is one process, so every other owner is gone."""
        self._owner_lock.acquire()
        with self.db.uow() as uow:
            owners = uow.outbox.sending_owners() - {self.owner}
            dead = {o for o in owners if o is None or self._owner_lock.is_gone(int(o))}
            count = uow.outbox.recover_in_flight(dead)
            uow.outbox.repair_heads()      # a race between processes may have left a recipient headless
        if count:
            log.info("outbox: %d deliveries were in flight when a worker stopped; sending them again", count)
        return count

    def release(self) -> None:
        self._owner_lock.release()

    # -- one batch -------------------------------------------------------------
    async def process_lane(self, lane: int) -> int:
        """Claim, render, send and record one batch of a lane. Returns how many were claimed."""
        # The bulk lane's steps are background work: a person's answer goes first (bot.dbthread).
        background = lane == BULK
        if not await self.dbt.run(self._flush_unrecorded, background=background):
            raise OutcomesUnrecorded()   # claiming more now would only pile up unrecorded work
        runs, done_early = await self.dbt.retrying(self._prepare, lane, background=background)
        if not runs:
            return done_early
        await send_runs(runs, self._send, self._record, self.concurrency)
        return sum(len(run) for run in runs) + done_early

    async def _record(self, outcomes: list[Outcome]) -> None:
        background = all(o.job.item.lane == BULK for o in outcomes)
        try:
            await self.dbt.retrying(self._apply_safely, outcomes, background=background)
        except Exception as exc:     # still losing to another process's lock: the next round
            log.warning("outbox: %d outcomes wait for a busy database (%s)", len(outcomes),
                        exc.__class__.__name__)
            # kept from the database thread, which alone changes the list (no lost update)
            await self.dbt.run(self._keep_unrecorded, outcomes)

    def _apply_safely(self, outcomes: list[Outcome]) -> None:
        """A failure to record one outcome must not leave the others 'sending' forever.

        When even the retry bookkeeping fails (the database is away), the outcomes stay in
        memory and their rows stay 'sending' under this worker's name, so nothing queued
        behind them overtakes them; the next round records them first. A copy the platform
        confirmed is then recorded, never sent again."""
        try:
            self._apply(outcomes)
            return
        except Exception as exc:
            if is_contention(exc):
                raise        # nothing was recorded: the caller runs the whole batch again
            if len(outcomes) == 1:
                self._record_failed(outcomes[0], exc)
                return
        for n, outcome in enumerate(outcomes):
            try:
                self._apply_safely([outcome])
            except Exception:        # a lock part-way through: the rest waits for the next round
                self._keep_unrecorded(outcomes[n:])
                return

    def _record_failed(self, outcome: Outcome, exc: Exception) -> None:
        log.exception("outbox item %d: outcome could not be recorded", outcome.job.item.id)
        if outcome.status == "sent" and isinstance(exc, IntegrityError):
            # The database works but refuses this record (a message id it already knows):
            # the copy was sent, so the row is finished rather than sent again or kept waiting.
            try:
                with self.db.uow() as uow:
                    uow.outbox.finish(outcome.job.item.id, "record-conflict")
                return
            except Exception as again:
                log.error("outbox item %d: could not be finished: %s", outcome.job.item.id,
                          again.__class__.__name__)
        if outcome.status != "sent":      # not sent: it may simply be sent again later
            try:
                with self.db.uow() as uow:
                    uow.outbox.retry_later(outcome.job.item.id, 60.0, "record-failed")
                return
            except Exception as exc:
                log.error("outbox item %d: retry could not be recorded either: %s", outcome.job.item.id,
                          exc.__class__.__name__)
        self._keep_unrecorded([outcome])

    def _keep_unrecorded(self, outcomes: list[Outcome]) -> None:
        """Called in the database thread (never on the loop): the next round records them first."""
        self._unrecorded.extend(outcomes)

    def _flush_unrecorded(self) -> bool:
        """Record what an earlier round could not. False while the database still refuses."""
        if not self._unrecorded:
            return True
        pending, self._unrecorded = self._unrecorded, []
        try:
            self._apply(pending)
        except Exception as exc:
            self._unrecorded = pending + self._unrecorded
            log.warning("outbox: %d outcomes still wait to be recorded (%s)", len(self._unrecorded),
                        exc.__class__.__name__)
            return False
        log.info("outbox: recorded %d outcomes that had waited for the database", len(pending))
        return True

    def _prepare(self, lane: int) -> tuple[list[list[Job]], int]:
        """Claim and render; the jobs come in runs, one per recipient, in the order to send."""
        with self.db.uow() as uow:
            if lane == BULK:
                post_changes.expand(uow)     # edits and deletes marked since the last step
            return self.prepare_in(uow, lane)

    def prepare_in(self, uow: UnitOfWork, lane: int, account: Account | None = None) -> tuple[list[list[Job]], int]:
        """Claim and render in ``uow``'s transaction (for one account only, with ``account``:
        the answers a handler just queued for the person it is answering, bot.app)."""
        runs: dict[int, list[Job]] = {}
        finished: list[int] = []
        ended: set[int] = set()
        limit = self.bulk_batch if lane == BULK else self.batch
        account_id = account.id if account is not None else None
        claimed = None
        if account_id is not None and lane == DIRECT:
            claimed = uow.outbox.claim_queued(account_id, self.owner, RUN)
        if claimed is None:
            claimed = uow.outbox.claim_due(limit, skip_locked=self.db.is_postgres, lane=lane,
                                           owner=self.owner, run=RUN, account_id=account_id)
        if not claimed:
            return [], 0
        owners = uow.accounts.load([c.account_id for c in claimed], account)
        targets = uow.deliveries.targets([c.target_delivery_id for c in claimed
                                          if c.op in ("edit", "delete") and c.target_delivery_id])
        cache: dict = {}
        self.renderer.prefetch(uow, [person for _, person in owners.values()], cache, claimed)
        behind: list[int] = []
        for item in claimed:                       # id order: each run in its own order
            if item.account_id in ended:
                behind.append(item.id)
                continue
            try:
                job = self._job(uow, item, owners.get(item.account_id), cache, targets)
            except Exception:   # a rendering bug must not block the others; retried later
                log.exception("outbox item %d could not be prepared", item.id)
                uow.outbox.retry_later(item.id, backoff(item.attempts), "prepare-failed")
                ended.add(item.account_id)          # the rest of the run waits for it
                continue
            if job is None:
                finished.append(item.id)
            elif job is HELD:
                ended.add(item.account_id)          # the whole account is held
            else:
                runs.setdefault(item.account_id, []).append(job)
        uow.outbox.put_back(behind)
        uow.outbox.finish_many(finished)
        return list(runs.values()), len(finished) + len(behind)

    def start_prepared(self, runs: list[list[Job]]) -> None:
        """Send runs claimed elsewhere (a handler's own answers) and record them as usual, in a
        task of their own: the person's next event is not held up by a slow platform call (a
        crash meanwhile leaves the rows claimed, and the next start sends them)."""
        if runs:
            task = asyncio.ensure_future(self._send_prepared(runs))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _send_prepared(self, runs: list[list[Job]]) -> None:
        try:
            await send_runs(runs, self._send, self._record, self.concurrency)
        except Exception as exc:      # the rows stay claimed: the next start sends them
            log.error("a handler's answers could not be sent (%s)", exc.__class__.__name__)
        # A copy the platform asked to hold back (Telegram's pacing of a chat: the second
        # answer of a pair is told to wait 30 ms) is now the worker's, with its due time in
        # the outbox. The lanes sleep up to 5 s when idle, so they must look again now.
        self.wake()

    async def settle_inflight(self) -> None:
        """Wait for the handlers' answers on their way (drain, a clean stop)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight))

    def _job(self, uow: UnitOfWork, item: Claimed, owner: tuple | None, cache: dict,
             targets: dict[int, tuple[str, bool]]) -> Job | object | None:
        """The prepared send, None when there is nothing to send any more, or HELD.
        ``targets``: the copies the batch's edits and deletes change, looked up at once (one
        statement per copy, thousands in a step, starved the event loop of the GIL: each
        releases and takes it back before a waiting thread gets its turn)."""
        if owner is None:
            return None
        account, person = owner
        if not account.reachable:
            uow.outbox.hold_account(account.id)      # kept until the person is back
            return HELD
        platform, address = self._address(uow, account)
        target = None
        if item.op in ("edit", "delete"):
            found = targets.get(item.target_delivery_id or 0)
            if found is None or found[1]:        # gone, or already deleted
                return None
            target = found[0]
        rendered = None
        if item.op in ("send", "edit"):
            rendered = self.renderer.render(uow, item, account, person, cache)
            if rendered is None:
                return None
        return Job(item, platform, address, rendered, target, self.clock.now())

    def _address(self, uow: UnitOfWork, account) -> tuple[str, str]:  # type: ignore[no-untyped-def]
        cached = self._addresses.get(account.id)
        if cached is None:
            cached = (account.platform, str(uow.accounts.identity(account)["address"]))
            self._addresses[account.id] = cached
        return cached

    def forget_address(self, account_id: int) -> None:
        self._addresses.pop(account_id, None)

    async def _send(self, job: Job) -> Outcome:
        return await send_one(self.transports, job)

    def _apply(self, outcomes: list[Outcome]) -> None:
        sent, failed = record_outcomes(self.db, self.clock, outcomes)
        self.sent += sent
        self.failed += failed

    # -- loops -------------------------------------------------------------------
    async def _lane_until_empty(self, lane: int) -> int:
        total = 0
        while True:
            n = await self.process_lane(lane)
            total += n
            if n == 0:
                return total

    async def process_due(self) -> int:
        """Deliver everything that is due now (including what becomes due meanwhile)."""
        counts = await asyncio.gather(self._lane_until_empty(DIRECT), self._lane_until_empty(BULK))
        return sum(counts)

    async def drain(self, max_rounds: int = 1000) -> None:
        """Deliver until nothing is due now (console end of input, tests). While the database
        refuses, wait with a growing pause instead of spinning."""
        pause = 0.05
        for _ in range(max_rounds):
            try:
                await self.settle_inflight()
                await self.process_due()
                if not self._unrecorded and await self.dbt.run(self._nothing_due):
                    return
                pause = 0.05     # only rate-limited rows remain; let their delay pass
            except (OutcomesUnrecorded, DBAPIError) as exc:      # the database is away: wait, do not spin
                log.warning("outbox: drain round failed (%s); waiting %.1f s", exc.__class__.__name__, pause)
                pause = min(pause * 2, 2.0)
            await asyncio.sleep(pause)

    def _nothing_due(self) -> bool:
        with self.db.uow() as uow:
            return uow.outbox.pending_count(due_only=True) == 0

    def _next_due(self, lane: int) -> datetime | None:
        with self.db.uow() as uow:
            return uow.outbox.next_due_at(lane)

    async def _lane_forever(self, lane: int) -> None:
        while not self._stopping:
            wait = 5.0
            try:
                if await self.process_lane(lane):
                    continue
                if self.db.is_postgres and time.monotonic() - self._last_recovery > RECOVERY_INTERVAL:
                    self._last_recovery = time.monotonic()
                    # another process may have died mid-send: a sweep of the outbox, so background work
                    await self.dbt.retrying(self.recover, background=True)
                next_due = await self.dbt.run(self._next_due, lane, background=lane == BULK)
                if next_due is not None:
                    wait = max(0.0, min(wait, (as_utc(next_due) - self.clock.now()).total_seconds()))
            except Exception:
                log.exception("outbox round failed; retrying shortly")
                wait = 1.0
            self._wake[lane].clear()
            try:
                await asyncio.wait_for(self._wake[lane].wait(), timeout=wait)
            except TimeoutError:
                pass

    async def run(self) -> None:
        await asyncio.gather(self._lane_forever(DIRECT), self._lane_forever(BULK))

    def stop(self) -> None:
        self._stopping = True
        self.wake()
