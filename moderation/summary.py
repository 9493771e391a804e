"""The consultant's daily summary at ``bot.digest_time``: unanswered posts and open queue
items, sent only when there is something to look at."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.router import message
from bot.scheduler import runtime
from storage.repo import BULK

if TYPE_CHECKING:
    from bot.config import Config
    from storage.repo import UnitOfWork


def send_summaries(uow: "UnitOfWork", config: "Config", now: datetime) -> int:
    sent = 0
    cutoff = now - timedelta(hours=config.bot.unanswered_hours)
    for group in uow.groups.all():
        consultants = uow.moderation.consultants(group.id)
        if not consultants:
            continue
        unanswered = len(uow.moderation.unanswered(group.id, cutoff, limit=1000))
        waiting = uow.moderation.open_count(group.id)
        if not unanswered and not waiting:
            continue
        for consultant in consultants:
            prefs = uow.moderation.prefs(consultant.id)
            if prefs.alerts == "off" and not unanswered:
                continue
            account_id = uow.moderation.delivery_account(consultant.person_id)
            if account_id is None:
                continue
            prefs.last_summary_at = now
            uow.outbox.add(account_id, message(
                "mod.summary", group=group.name,
                unanswered_line={"t": "mod.summary.unanswered",
                                 "params": {"count": unanswered, "hours": config.bot.unanswered_hours}},
                waiting_line={"t": "mod.summary.waiting", "params": {"count": waiting}}),
                           lane=BULK)
            sent += 1
    return sent


async def summary_job(runtime_key: str) -> int:
    rt = runtime(runtime_key)
    count = await rt.dbt.job(send_summaries, rt.config, rt.clock.now())
    rt.worker.wake()
    return count


def build_summary_job(scheduler: AsyncIOScheduler, key: str, uow: "UnitOfWork") -> None:
    rt = runtime(key)
    hour, minute = (int(x) for x in rt.config.bot.digest_time.split(":"))
    scheduler.add_job(summary_job, "cron", hour=hour, minute=minute, args=[key], id="mod-summary",
                      replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=3600)
