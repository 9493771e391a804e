"""The scheduler runs in the bot's loop; its jobs are plain functions rebuilt at every start."""
from __future__ import annotations



from bot.clock import FakeClock
from bot.scheduler import anonymity_reminders_job
from handlers.notifications import digest_job
from handlers.privacy import retention_job
from tests.harness import Harness


async def test_jobs_are_built_at_start_from_plain_ids(make_runtime) -> None:
    rt = make_runtime()
    await rt.start(scheduler=True, worker=False)
    try:
        jobs = {job.id: job for job in rt.scheduler.get_jobs()}
        assert {"anonymity-reminders", "digest", "privacy-retention"} <= set(jobs)
        for job in jobs.values():
            assert all(isinstance(arg, (str, int)) for arg in job.args)   # nothing to pickle
        assert str(jobs["digest"].trigger).startswith("cron[hour='18', minute='0'")
    finally:
        await rt.stop()


async def test_anonymity_reminder_every_n_days(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    rt.config.bot.anonymity_reminder_days = 30
    h = Harness(rt)
    await h.onboard("ann", "Birch")
    await rt.start(scheduler=False, worker=False)
    try:
        assert await anonymity_reminders_job(rt.key) == 0          # just joined
        clock.advance(days=31)
        assert await anonymity_reminders_job(rt.key) == 1
        assert await anonymity_reminders_job(rt.key) == 0          # not twice
        await rt.worker.drain()
        assert h.last("ann").startswith("A friendly reminder: to stay anonymous")
        assert "mental health" not in h.last("ann").lower()  # discreet on a lock screen
    finally:
        await rt.stop()


async def test_digest_job_and_outbox_purge_through_the_runtime_key(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    h = Harness(rt)
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow")
    await h.say("bob", "/notify digest")
    clock.advance(minutes=5)
    await h.say("ann", "/new Evening\nhello")
    await rt.start(scheduler=False, worker=False)
    try:
        clock.advance(hours=3)
        assert await digest_job(rt.key) == 1
        await rt.worker.drain()
        assert "#1 Evening: 1 new" in h.last("bob")
        clock.advance(days=8)
        assert (await retention_job(rt.key))["outbox"] > 0
        with rt.db.uow() as uow:
            assert uow.outbox.pending_count() == 0
    finally:
        await rt.stop()


async def test_only_one_process_runs_the_scheduler_on_postgres(make_runtime, db_url: str) -> None:
    first, second = make_runtime(url=db_url), make_runtime(url=db_url)
    await first.start(scheduler=True, worker=False)
    await second.start(scheduler=True, worker=False)
    try:
        if db_url.startswith("postgresql"):
            assert first.scheduler is not None and second.scheduler is None
        else:
            assert first.scheduler is not None
    finally:
        await first.stop()
        await second.stop()


async def test_reminders_wait_for_quiet_hours_and_skip_a_break(make_runtime) -> None:
    from datetime import datetime, timezone
    clock = FakeClock(datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc))
    rt = make_runtime(clock=clock)
    rt.config.bot.anonymity_reminder_days = 30
    h = Harness(rt)
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow")
    await h.say("ann", "/pause 60")
    await h.say("bob", "/quiet 22:00-07:00")
    clock.set(datetime(2026, 2, 10, 22, 30, tzinfo=timezone.utc))    # 23:30 in Oslo
    await rt.start(scheduler=False, worker=False)
    try:
        assert await anonymity_reminders_job(rt.key) == 1           # bob only: ann is on a break
        await rt.worker.drain()
        assert not h.last("bob").startswith("A friendly reminder")
        clock.set(datetime(2026, 2, 11, 6, 0, tzinfo=timezone.utc))  # 07:00 in Oslo
        await rt.worker.drain()
        assert h.last("bob").startswith("A friendly reminder")
        assert not any(t.startswith("A friendly reminder") for t in h.inbox("ann"))
    finally:
        await rt.stop()
