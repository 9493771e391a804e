"""The consultant's café commands: ``cafe add|repeat|topic|move|cancel|stop|reminders|
attendees|ride|buddy`` (the last three in ``handlers.cafes_pairs``). Every one goes through ``handlers.cafes.is_consultant``."""
from __future__ import annotations

from bot.cafes import service
from bot.cafes.schedule import (
    format_offsets, next_slots, parse_hhmm, parse_local, parse_offsets, rule_to_rrule, slot_key, to_local,
    to_utc,
)
from bot.clock import as_utc
from bot.router import Context, command
from handlers import cafes_pairs
from handlers.cafes import find_cafe, is_consultant, started, when_text
from handlers.posting import parse_id
from moderation import roles
from storage.models import Community

MAX_PLACE = 200
MAX_TOPIC = 500


def _community(ctx: Context, slug: str) -> Community | None:
    member = ctx.member
    return ctx.uow.groups.community(member.group_id, slug.strip().casefold()) if member else None


def _authorised(ctx: Context) -> bool:
    """Every ``cafe …`` command goes through the one consultant check (moderation.roles)."""
    return roles.require_consultant(ctx) is not None


@command("cafe", needs_member=True, group="consultant")
def cafe(ctx: Context) -> None:
    sub, _, rest = ctx.args.strip().partition(" ")
    handler = SUBCOMMANDS.get(sub.casefold())
    if handler is None:
        ctx.reply("cafe.admin_usage")
        return
    if not _authorised(ctx):
        return
    handler(ctx, rest.strip())


def _add(ctx: Context, rest: str) -> None:
    parts = rest.split(maxsplit=3)
    if len(parts) < 4:
        ctx.reply("cafe.add_usage")
        return
    community = _community(ctx, parts[0])
    if community is None:
        ctx.reply("cafe.unknown_community", community=parts[0][:32])
        return
    local = parse_local(f"{parts[1]} {parts[2]}")
    place = parts[3].strip()[:MAX_PLACE]
    if local is None:
        ctx.reply("cafe.add_usage")
        return
    tz = service.community_tz(ctx.config, ctx.uow, community)
    starts = to_utc(local, tz)
    if starts <= ctx.clock.now():
        ctx.reply("cafe.in_the_past")
        return
    made = ctx.uow.cafes.add_cafe(group_id=community.group_id, community_id=community.id, starts_at=starts,
                                  tz=tz, place=place)
    ctx.uow.audit.add("cafe_add", group_id=community.group_id, actor_member_id=ctx.member.id, target=f"c{made.id}")
    ctx.reply("cafe.added", id=made.id, when=when_text(ctx.lang, made), place=place, community=community.name)


def _repeat(ctx: Context, rest: str) -> None:
    parts = rest.split(maxsplit=3)
    if len(parts) < 4:
        ctx.reply("cafe.repeat_usage")
        return
    community = _community(ctx, parts[0])
    if community is None:
        ctx.reply("cafe.unknown_community", community=parts[0][:32])
        return
    rrule, clock = rule_to_rrule(parts[1]), parse_hhmm(parts[2])
    if rrule is None or clock is None:
        ctx.reply("cafe.repeat_usage")
        return
    tz = service.community_tz(ctx.config, ctx.uow, community)
    series = ctx.uow.cafes.add_series(group_id=community.group_id, community_id=community.id,
                                      rule=parts[1].casefold(), rrule=rrule, local_time=clock.strftime("%H:%M"),
                                      tz=tz, place=parts[3].strip()[:MAX_PLACE])
    service.materialise(ctx.uow, ctx.config, ctx.clock.now())
    first = next_slots(rrule, series.local_time, tz, ctx.clock.now(), 1)
    ctx.uow.audit.add("cafe_repeat", group_id=community.group_id, actor_member_id=ctx.member.id,
                      target=f"s{series.id}")
    upcoming = [c for c in ctx.uow.cafes.of_series(series.id) if c.slot == slot_key(first[0])] if first else []
    ctx.reply("cafe.repeat_added", series=series.id, rule=series.rule, time=series.local_time,
              place=series.place, community=community.name,
              first=when_text(ctx.lang, upcoming[0]) if upcoming else "-", id=upcoming[0].id if upcoming else "-")


def _managed(ctx: Context, text: str):  # type: ignore[no-untyped-def]
    found = find_cafe(ctx, text)
    if found is None or not is_consultant(ctx.uow, ctx.member, found.group_id):
        ctx.reply("cafe.not_found", cafe=text.split()[0][:12] if text.split() else "")
        return None
    return found


def _topic(ctx: Context, rest: str) -> None:
    target, _, text = rest.partition(" ")
    if not target or not text.strip():
        ctx.reply("cafe.topic_usage")
        return
    found = _managed(ctx, target)
    if found is None:
        return
    text = text.strip()
    thread_id = parse_id(text, "t") if text.startswith("#") else None
    if thread_id is not None and ctx.uow.threads.get(thread_id) is not None \
            and ctx.uow.threads.get(thread_id).group_id == found.group_id:
        found.topic_thread_id = thread_id
    else:
        found.topic = text[:MAX_TOPIC]
    ctx.reply("cafe.topic_set", id=found.id)


def _move(ctx: Context, rest: str) -> None:
    parts = rest.split()
    if len(parts) < 2:
        ctx.reply("cafe.move_usage")
        return
    found = _managed(ctx, parts[0])
    if found is None:
        return
    local_now = to_local(as_utc(found.starts_at), found.timezone).date()
    two = parse_local(" ".join(parts[1:3])) if len(parts) >= 3 else None
    local = two or parse_local(parts[1], today=local_now)
    if local is None:
        ctx.reply("cafe.move_usage")
        return
    reason = " ".join(parts[3:] if two else parts[2:])[:MAX_TOPIC]
    starts = to_utc(local, found.timezone)
    now = ctx.clock.now()
    if starts <= now or found.status != "scheduled" or started(found, now):
        ctx.reply("cafe.cannot_move", id=found.id)
        return
    found.starts_at, found.sequence, found.note = starts, found.sequence + 1, reason or None
    found.reminders_from = now          # reminders follow the new time; none due before now
    told = service.notify_change(ctx.uow, found, "moved", reason)
    ctx.uow.audit.add("cafe_move", group_id=found.group_id, actor_member_id=ctx.member.id, target=f"c{found.id}")
    ctx.reply("cafe.moved", id=found.id, when=when_text(ctx.lang, found), count=told)


def _cancel(ctx: Context, rest: str) -> None:
    target, _, reason = rest.partition(" ")
    if not target or not reason.strip():
        ctx.reply("cafe.cancel_usage")
        return
    found = _managed(ctx, target)
    if found is None:
        return
    if found.status != "scheduled" or started(found, ctx.clock.now()):
        ctx.reply("cafe.cannot_move", id=found.id)
        return
    found.status, found.sequence, found.note = "cancelled", found.sequence + 1, reason.strip()[:MAX_TOPIC]
    told = service.notify_change(ctx.uow, found, "cancelled", found.note)
    ctx.uow.audit.add("cafe_cancel", group_id=found.group_id, actor_member_id=ctx.member.id, target=f"c{found.id}")
    ctx.reply("cafe.cancelled", id=found.id, count=told)


def _stop(ctx: Context, rest: str) -> None:
    series_id = parse_id(rest, "s") if rest else None
    series = ctx.uow.cafes.series(series_id) if series_id is not None else None
    if series is None or not is_consultant(ctx.uow, ctx.member, series.group_id):
        ctx.reply("cafe.stop_usage")
        return
    series.active = False
    now = ctx.clock.now()
    told = 0
    for occurrence in ctx.uow.cafes.of_series(series.id):
        if occurrence.status == "scheduled" and not started(occurrence, now):
            occurrence.status, occurrence.sequence = "cancelled", occurrence.sequence + 1
            told += service.notify_change(ctx.uow, occurrence, "cancelled", None)
    ctx.uow.audit.add("cafe_stop", group_id=series.group_id, actor_member_id=ctx.member.id, target=f"s{series.id}")
    ctx.reply("cafe.stopped", series=series.id, count=told)


def _reminders(ctx: Context, rest: str) -> None:
    offsets = parse_offsets(rest) if rest else None
    if offsets is None:
        current, _ = service.group_offsets(ctx.uow, ctx.config, ctx.member.group_id)
        ctx.reply("cafe.offsets_usage", current=format_offsets(current) or "-")
        return
    ctx.uow.cafes.set_offsets(ctx.member.group_id, format_offsets(offsets))
    ctx.reply("cafe.offsets_set", offsets=format_offsets(offsets))


SUBCOMMANDS = {"add": _add, "repeat": _repeat, "topic": _topic, "move": _move, "cancel": _cancel,
               "stop": _stop, "reminders": _reminders, "attendees": cafes_pairs.cafe_attendees,
               "ride": cafes_pairs.cafe_ride, "buddy": cafes_pairs.cafe_buddy}
