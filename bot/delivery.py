"""The outbox worker: delivers queued messages, once each, in order per recipient.

Rows are claimed (status ``sending``) and committed before the network call, and the
platform's message id is recorded in a second transaction after it. A crash between
the two leaves the row ``sending``; the next start sends it again, so at most the one
message in flight at a crash can arrive twice, and nothing is lost.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.clock import Clock, as_utc
from bot.render import Renderer
from bot.transports.base import (
    MessageGone, PermanentError, RetryAfter, SendError, Transport, TransientError, Unreachable,
)
from storage.repo import Claimed, Database

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 20
MAX_BACKOFF = 900.0


def backoff(attempts: int) -> float:
    return min(2.0 ** attempts, MAX_BACKOFF)


class OutboxWorker:
    def __init__(self, db: Database, transports: dict[str, Transport], renderer: Renderer, clock: Clock,
                 *, concurrency: int = 32, batch: int = 200) -> None:
        self.db = db
        self.transports = transports
        self.renderer = renderer
        self.clock = clock
        self.concurrency = concurrency
        self.batch = batch
        self._wake = asyncio.Event()
        self._stopping = False
        self._addresses: dict[int, tuple[str, str]] = {}
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        self._wake.set()

    def forget_address(self, account_id: int) -> None:
        self._addresses.pop(account_id, None)

    def recover(self) -> int:
        with self.db.uow() as uow:
            count = uow.outbox.recover_in_flight()
        if count:
            log.info("outbox: %d deliveries were in flight at the last stop and will be sent again", count)
        return count

    async def process_due(self) -> int:
        """Deliver everything that is due now (including what becomes due meanwhile)."""
        done = 0
        running: set[asyncio.Task] = set()
        while True:
            free = self.concurrency - len(running)
            claimed: list[Claimed] = []
            if free > 0:
                with self.db.uow() as uow:
                    claimed = uow.outbox.claim_due(min(free, self.batch), skip_locked=self.db.is_postgres)
            for item in claimed:
                running.add(asyncio.create_task(self._deliver(item)))
            if not running:
                return done
            finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                done += 1
                if task.exception() is not None:   # _deliver handles its own errors; this is a bug
                    log.error("outbox task crashed", exc_info=task.exception())

    async def drain(self, max_rounds: int = 1000) -> None:
        """Deliver until nothing is due now (used at console end of input and in tests)."""
        for _ in range(max_rounds):
            await self.process_due()
            with self.db.uow() as uow:
                if uow.outbox.pending_count(due_only=True) == 0:
                    return
            await asyncio.sleep(0.05)   # only rate-limited rows remain; let their delay pass

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.process_due()
                with self.db.uow() as uow:
                    next_due = uow.outbox.next_due_at()
            except Exception:
                log.exception("outbox round failed; retrying shortly")
                next_due = None
                await asyncio.sleep(1.0)
            wait = 5.0
            if next_due is not None:
                wait = max(0.0, min(wait, (as_utc(next_due) - self.clock.now()).total_seconds()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _address(self, uow, account) -> tuple[str, str]:  # type: ignore[no-untyped-def]
        cached = self._addresses.get(account.id)
        if cached is None:
            cached = (account.platform, str(uow.accounts.identity(account)["address"]))
            self._addresses[account.id] = cached
        return cached

    async def _deliver(self, item: Claimed) -> None:
        try:
            await self._deliver_inner(item)
        except Exception as exc:   # a bug in rendering or a transport: keep the row, retry later
            log.exception("outbox item %d failed unexpectedly", item.id)
            self._retry(item, exc.__class__.__name__)

    async def _deliver_inner(self, item: Claimed) -> None:
        with self.db.uow() as uow:
            account = uow.accounts.get(item.account_id)
            person = uow.people.get(account.person_id) if account else None
            if account is None or person is None:
                uow.outbox.finish(item.id, "no-account")
                return
            platform, address = self._address(uow, account)
            transport = self.transports.get(platform)
            if transport is None:
                uow.outbox.retry_later(item.id, 60, "transport-offline", count_attempt=False)
                return
            target = None
            if item.op in ("edit", "delete"):
                delivery = uow.deliveries.get(item.target_delivery_id or 0)
                if delivery is None or delivery.deleted:
                    uow.outbox.finish(item.id)
                    return
                target = delivery.platform_message_id
            rendered = None
            if item.op in ("send", "edit"):
                rendered = self.renderer.render(uow, item, account, person)
                if rendered is None:
                    uow.outbox.finish(item.id, "nothing-to-send")
                    return
        try:
            if item.op == "send":
                message_id = await transport.send(address, rendered)
            elif item.op == "edit":
                await transport.edit(address, target, rendered)
            else:
                await transport.delete(address, target)
        except RetryAfter as exc:
            with self.db.uow() as uow:
                uow.outbox.retry_later(item.id, exc.seconds, "rate-limited", count_attempt=False)
                uow.outbox.delay_account(item.account_id, self.clock.now() + timedelta(seconds=exc.seconds))
            return
        except Unreachable:
            with self.db.uow() as uow:
                account = uow.accounts.get(item.account_id)
                if account is not None:
                    uow.accounts.set_reachable(account, False)
                uow.outbox.hold_account(item.account_id)
            log.info("outbox: account %d is unreachable; its deliveries are kept", item.account_id)
            return
        except MessageGone:
            with self.db.uow() as uow:
                if target is not None and item.target_delivery_id:
                    uow.deliveries.mark_deleted(item.target_delivery_id)
                uow.outbox.finish(item.id, "gone")
            return
        except PermanentError as exc:
            with self.db.uow() as uow:
                uow.outbox.finish(item.id, f"refused:{str(exc)[:50]}")
            self.failed += 1
            log.warning("outbox item %d refused by %s", item.id, platform)
            return
        except (TransientError, SendError, OSError, asyncio.TimeoutError) as exc:
            self._retry(item, exc.__class__.__name__)
            return
        with self.db.uow() as uow:
            if item.op == "send":
                uow.deliveries.record(item.account_id, item.id, item.post_id, message_id)
            elif item.op == "delete" and item.target_delivery_id:
                uow.deliveries.mark_deleted(item.target_delivery_id)
            uow.outbox.finish(item.id)
        self.sent += 1

    def _retry(self, item: Claimed, reason: str) -> None:
        with self.db.uow() as uow:
            if item.attempts >= MAX_ATTEMPTS:
                uow.outbox.finish(item.id, f"gave-up:{reason}"[:64])
                self.failed += 1
                log.warning("outbox item %d given up after %d attempts (%s)", item.id, item.attempts, reason)
            else:
                uow.outbox.retry_later(item.id, backoff(item.attempts), reason[:64])
