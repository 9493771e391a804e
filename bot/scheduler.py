"""APScheduler wiring. Jobs are module-level functions that take plain ids and look the
running bot up by key, so no framework object is ever pickled, and the job set is rebuilt
from database rows at every start."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from storage.repo import BULK

# Retention of outbox rows and delivery records (`[privacy]` outbox_retention_days,
# delivery_retention_days) is part of the privacy-retention job (handlers/privacy.py).

if TYPE_CHECKING:
    from bot.lifecycle import Runtime
    from storage.repo import UnitOfWork

log = logging.getLogger(__name__)
_RUNTIMES: dict[str, "Runtime"] = {}

# Feature modules add functions that (re)create their jobs from the database.
JobBuilder = Callable[[AsyncIOScheduler, str, "UnitOfWork"], None]


def register_runtime(key: str, runtime: "Runtime") -> None:
    _RUNTIMES[key] = runtime


def unregister_runtime(key: str) -> None:
    _RUNTIMES.pop(key, None)


def runtime(key: str) -> "Runtime":
    return _RUNTIMES[key]


async def anonymity_reminders_job(runtime_key: str) -> int:
    """Remind everyone, now and then, how to stay anonymous (PRODUCT §5). Returns the count."""
    rt = runtime(runtime_key)
    days = rt.config.bot.anonymity_reminder_days
    if days <= 0:
        return 0
    from handlers.posting import quiet_until

    now = rt.clock.now()

    def remind(uow: "UnitOfWork") -> int:
        sent = 0
        for person in uow.people.due_for_reminder(now - timedelta(days=days)):
            if uow.threads.paused_or_off(person, now):
                continue                 # a break means no messages; they are reminded later
            person.last_reminder_at = now
            wake = quiet_until(person, now, rt.config.bot.timezone)
            # once per person, on the account they use (linked accounts share one person)
            account_id = uow.moderation.delivery_account(person.id)
            if account_id is not None:
                uow.outbox.add(account_id, {"key": "reminder.anonymity", "params": {}}, lane=BULK,
                               not_before=wake)
            sent += 1
        return sent

    sent = await rt.dbt.job(remind)      # jobs run their database work off the loop too
    rt.worker.wake()
    return sent


def build_scheduler(rt: "Runtime", key: str, builders: list[JobBuilder]) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=rt.config.bot.timezone)
    scheduler.add_job(anonymity_reminders_job, "interval", hours=6, args=[key],
                      id="anonymity-reminders", replace_existing=True, coalesce=True, max_instances=1)
    with rt.db.uow() as uow:
        for build in builders:
            build(scheduler, key, uow)
    return scheduler
