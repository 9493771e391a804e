"""Notification choices: follow, mute, notify, quiet, discreet, pause; and the daily digest."""
from __future__ import annotations

import re
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.router import Context, command
from bot.scheduler import runtime
from handlers.posting import local_time, parse_id, quiet_until, visible_thread
from handlers.reveals_service import visible_closed_ids
from storage.repo import BULK, UnitOfWork

MODES = ("all", "following", "digest", "off")
QUIET_RE = re.compile(r"^([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})$")


def _set_follow(ctx: Context, value: bool) -> None:
    if ctx.args.strip():
        thread_id = parse_id(ctx.args, "t")
        if thread_id is None:
            ctx.usage()
            return
    elif ctx.member.current_thread_id is None:
        ctx.usage()              # no number and no thread opened: say how to name one
        return
    else:
        thread_id = ctx.member.current_thread_id
    thread = visible_thread(ctx, thread_id)
    if thread is None:
        ctx.reply("thread.not_found", thread=thread_id)
        return
    ctx.uow.threads.state(ctx.member.id, thread.id).follow = value
    ctx.reply("settings.followed" if value else "settings.muted", thread=thread.id, title=thread.title)


@command("follow", needs_member=True, group="notifications")
def follow(ctx: Context) -> None:
    _set_follow(ctx, True)


@command("mute", needs_member=True, group="notifications")
def mute(ctx: Context) -> None:
    _set_follow(ctx, False)


@command("notify", group="notifications")
def notify(ctx: Context) -> None:
    mode = ctx.args.strip().casefold()
    if mode not in MODES:
        ctx.reply("settings.notify_usage")
        return
    ctx.person.notify = mode
    if mode == "digest" and ctx.person.last_digest_at is None:
        ctx.person.last_digest_at = ctx.clock.now()
    ctx.reply("settings.notify_set", mode={"t": f"notify.mode.{mode}"}, time=ctx.config.bot.digest_time)


@command("quiet", group="notifications")
def quiet(ctx: Context) -> None:
    arg = ctx.args.strip().casefold()
    if arg == "off":
        # What was held for the quiet hours goes out now, not at their planned end.
        wake = quiet_until(ctx.person, ctx.clock.now(), ctx.config.bot.timezone)
        if wake is not None:
            ctx.uow.outbox.release_held_until(ctx.uow.accounts.for_person(ctx.person.id), wake)
        ctx.person.quiet_start = ctx.person.quiet_end = None
        ctx.reply("settings.quiet_off")
        return
    match = QUIET_RE.match(arg)
    if match is None:
        ctx.reply("settings.quiet_usage")
        return
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
        ctx.reply("settings.quiet_usage")
        return
    ctx.person.quiet_start, ctx.person.quiet_end = h1 * 60 + m1, h2 * 60 + m2
    ctx.reply("settings.quiet_set", start=f"{h1:02d}:{m1:02d}", end=f"{h2:02d}:{m2:02d}",
              tz=ctx.config.bot.timezone)


@command("discreet", group="notifications")
def discreet(ctx: Context) -> None:
    arg = ctx.args.strip().casefold()
    if arg not in ("on", "off"):
        ctx.reply("settings.discreet_usage")
        return
    ctx.person.discreet = arg == "on"
    ctx.reply("settings.discreet_on" if arg == "on" else "settings.discreet_off")


@command("pause", group="notifications")
def pause(ctx: Context) -> None:
    arg = ctx.args.strip().casefold()
    if arg in ("off", "end", "stop"):       # "pause 0" is not a break of no days: usage
        ctx.person.paused_until = None
        ctx.reply("settings.pause_off")
        return
    if not (arg.isascii() and arg.isdigit()) or not 1 <= int(arg) <= 365:
        ctx.reply("settings.pause_usage")
        return
    ctx.person.paused_until = ctx.clock.now() + timedelta(days=int(arg))
    ctx.reply("settings.pause_set", until=local_time(ctx, ctx.person.paused_until))


def send_digests(uow: UnitOfWork, now, tz: str = "UTC") -> int:  # type: ignore[no-untyped-def]
    """One message per digest reader listing threads with new posts since their last digest."""
    sent = 0
    for person in uow.threads.digest_people():
        since = person.last_digest_at or person.consent_at
        if uow.threads.paused_or_off(person, now):
            continue
        lines = []
        members = uow.members.of_person(person.id)
        for member in members:
            closed = visible_closed_ids(uow, member)
            # A reader in several groups is told which group each thread is in.
            group = {"t": "hard.group_tag", "params": {"group": uow.groups.get(member.group_id).name}} \
                if len({m.group_id for m in members}) > 1 else ""
            for thread, count in uow.threads.activity_since(member.group_id, member.id, since, closed):
                lines.append({"t": "digest.line", "params": {"thread": thread.id, "title": thread.title,
                                                              "count": count, "group": group}})
        person.last_digest_at = now
        if not lines:
            continue
        wake = quiet_until(person, now, tz)
        # once per person, on the account they use (linked accounts share one person)
        account_id = uow.moderation.delivery_account(person.id)
        if account_id is not None:
            uow.outbox.add(account_id, {"key": "digest.summary", "params": {"lines": lines}}, lane=BULK,
                           not_before=wake)
        sent += 1
    return sent


async def digest_job(runtime_key: str) -> int:
    """Scheduled once a day at ``bot.digest_time`` in the deployment's time zone."""
    rt = runtime(runtime_key)
    count = await rt.dbt.job(send_digests, rt.clock.now(), rt.config.bot.timezone)
    rt.worker.wake()
    return count


def build_digest_job(scheduler: AsyncIOScheduler, key: str, uow: UnitOfWork) -> None:
    rt = runtime(key)
    hour, minute = (int(x) for x in rt.config.bot.digest_time.split(":"))
    scheduler.add_job(digest_job, "cron", hour=hour, minute=minute, args=[key], id="digest",
                      replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=3600)


JOB_BUILDERS = [build_digest_job]
