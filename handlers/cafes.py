"""Cafés for participants: cafes, rsvp, reminders, ics; the renderers of café messages;
the scheduler's café tick. Consultant commands are in ``handlers.cafes_admin``.

Privacy: a participant only ever sees counts (and "fewer than 3" below three), never who
answered; a café of another community is "not found" rather than "not yours", so its
existence tells nothing about anyone's community.
"""
from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from babel.dates import format_datetime

from bot.cafes import ics, service
from bot.cafes.schedule import DAY, to_local
from bot.clock import as_utc
from bot.events import Rendered
from bot.render import RenderContext
from bot.router import Context, command
from bot.scheduler import runtime
from handlers.posting import parse_id
from storage.models import Member
from storage.models_cafes import Cafe
from moderation.roles import is_consultant_of
from storage.repo import Claimed, UnitOfWork

log = logging.getLogger(__name__)
ANSWERS = ("yes", "maybe", "no")
FEW = 3


# -- shared helpers (also used by cafes_admin) -----------------------------------------
def is_consultant(uow: UnitOfWork, member: Member | None, group_id: int) -> bool:
    """The one authorisation check for café management: the same as for every ``mod``
    command (moderation.roles), so a banned or removed consultant cannot act either."""
    return is_consultant_of(uow, member, group_id)


def when_text(lang: str, cafe: Cafe) -> str:
    """The café's date and time in its own zone, in the reader's language."""
    local = to_local(as_utc(cafe.starts_at), cafe.timezone)
    return format_datetime(local, "EEEE d MMMM y, HH:mm", locale=lang)


def yes_count(rc_t, counts: dict[str, int]) -> str:  # type: ignore[no-untyped-def]
    yes = counts.get("yes", 0)
    return rc_t("cafe.yes_few") if yes < FEW else rc_t("cafe.yes_count", count=yes)


def rsvp_buttons(cafe_id: int) -> list[list[tuple[str, str]]]:
    return [[("cafe.button_yes", f"/rsvp {cafe_id} yes"), ("cafe.button_maybe", f"/rsvp {cafe_id} maybe"),
             ("cafe.button_no", f"/rsvp {cafe_id} no")]]


def can_see(uow: UnitOfWork, member: Member | None, cafe: Cafe | None) -> bool:
    if member is None or cafe is None or cafe.group_id != member.group_id:
        return False
    if is_consultant(uow, member, cafe.group_id):
        return True
    if member.community_id is None:
        return service.whole_group(uow, cafe.group_id)
    return member.community_id == cafe.community_id


def find_cafe(ctx: Context, text: str) -> Cafe | None:
    cafe_id = parse_id(text, "c") if text.strip() else None
    cafe = ctx.uow.cafes.get(cafe_id) if cafe_id is not None else None
    return cafe if can_see(ctx.uow, ctx.member, cafe) else None


def started(cafe: Cafe, now: datetime) -> bool:
    return as_utc(cafe.starts_at) <= now


# -- participants' commands --------------------------------------------------------------
@command("cafes", needs_member=True, group="cafes")
def cafes(ctx: Context) -> None:
    now = ctx.clock.now()
    member = ctx.member
    groups = [m.group_id for m in ctx.uow.members.of_person(ctx.person.id)
              if is_consultant(ctx.uow, m, m.group_id)]
    if groups:
        found = ctx.uow.cafes.upcoming(now, group_ids=groups)
    elif member.community_id is None and not service.whole_group(ctx.uow, member.group_id):
        ctx.reply("cafe.list_no_community")
        return
    else:
        communities = [member.community_id] if member.community_id else \
            [c.id for c in ctx.uow.groups.communities(member.group_id)]
        found = ctx.uow.cafes.upcoming(now, group_ids=[member.group_id], community_ids=communities)
    if not found:
        ctx.reply("cafe.list_empty")
        return
    lines = []
    for cafe in found:
        mine = None
        for m in ctx.uow.members.of_person(ctx.person.id):
            if m.group_id == cafe.group_id:
                row = ctx.uow.cafes.rsvp(cafe.id, m.id)
                mine = row.answer if row else None
        lines.append({"t": "cafe.list_line", "params": _line_params(ctx, cafe, mine, bool(groups))})
    ctx.reply("cafe.list", lines=lines)


def _line_params(ctx: Context, cafe: Cafe, mine: str | None, consultant: bool) -> dict:
    counts = ctx.uow.cafes.counts(cafe.id)
    if consultant:
        community = ctx.uow.groups.community_by_id(cafe.community_id)
        count = {"t": "cafe.counts_exact", "params": {"yes": counts.get("yes", 0),
                                                      "maybe": counts.get("maybe", 0),
                                                      "no": counts.get("no", 0)}}
        extra = {"t": "cafe.list_community", "params": {"community": community.name if community else "-"}}
    else:
        yes = counts.get("yes", 0)
        count = {"t": "cafe.yes_few"} if yes < FEW else {"t": "cafe.yes_count", "params": {"count": yes}}
        extra = ""
    return {"id": cafe.id, "when": when_text(ctx.lang, cafe), "place": cafe.place,
            "topic": {"t": "cafe.list_topic", "params": {"topic": cafe.topic}} if cafe.topic else "",
            "status": {"t": "cafe.status_cancelled", "params": {"reason": cafe.note or ""}}
            if cafe.status == "cancelled" else "",
            "mine": {"t": f"cafe.mine_{mine}"} if mine else {"t": "cafe.mine_none"},
            "yes_line": count, "community": extra}


@command("rsvp", needs_member=True, group="cafes")
def rsvp(ctx: Context) -> None:
    parts = ctx.args.split()
    if len(parts) != 2 or parts[1].casefold() not in ANSWERS:
        ctx.reply("cafe.rsvp_usage")
        return
    cafe = find_cafe(ctx, parts[0])
    if cafe is None:
        ctx.reply("cafe.not_found", cafe=parts[0][:12])
        return
    answer = parts[1].casefold()
    if started(cafe, ctx.clock.now()):
        ctx.reply("cafe.rsvp_started_no" if answer == "no" else "cafe.rsvp_started")
        return
    if cafe.status == "cancelled":
        ctx.reply("cafe.rsvp_cancelled", id=cafe.id)
        return
    ctx.uow.cafes.set_rsvp(cafe.id, ctx.member.id, answer)
    if answer == "no" and "cafe_not_coming" in ctx.services:
        ctx.services["cafe_not_coming"](ctx, cafe)       # a buddy pairing or ride ends with it
    ctx.reply(f"cafe.rsvp_{answer}", id=cafe.id, when=when_text(ctx.lang, cafe))


@command("reminders", group="cafes")
def reminders(ctx: Context) -> None:
    arg = ctx.args.strip().casefold()
    if arg not in ("on", "off"):
        on = ctx.uow.cafes.reminders_on(ctx.person.id)
        ctx.reply("cafe.reminders_usage", state={"t": "cafe.state_on" if on else "cafe.state_off"})
        return
    ctx.uow.cafes.set_reminders(ctx.person.id, arg == "on")
    ctx.reply("cafe.reminders_on" if arg == "on" else "cafe.reminders_off")


@command("ics", needs_member=True, group="cafes")
def ics_(ctx: Context) -> None:
    parts = ctx.args.split()
    whole = bool(parts) and parts[0].casefold() == "series"
    if whole:
        parts = parts[1:]
    if len(parts) != 1:
        ctx.reply("cafe.ics_usage")
        return
    cafe = find_cafe(ctx, parts[0])
    if cafe is None:
        ctx.reply("cafe.not_found", cafe=parts[0][:12])
        return
    if whole and cafe.series_id is None:
        ctx.reply("cafe.ics_not_series", cafe=cafe.id)
        return
    # The file is built at delivery, so it carries the café as it is then.
    ctx.uow.outbox.add(ctx.account.id, {"cafe": cafe.id, "series": whole}, kind="cafe_ics")


# -- renderers -----------------------------------------------------------------------------
def _live(rc: RenderContext, cafe_id: int) -> Cafe | None:
    cafe = rc.uow.cafes.get(cafe_id)
    if cafe is None or cafe.status != "scheduled" or started(cafe, rc.uow.clock.now()):
        return None
    return cafe


def _said_no(rc: RenderContext, cafe: Cafe) -> bool:
    member = rc.uow.members.in_group(rc.person.id, cafe.group_id)
    row = rc.uow.cafes.rsvp(cafe.id, member.id) if member else None
    return row is not None and row.answer == "no"


def _topic_lines(rc: RenderContext, cafe: Cafe) -> list[str]:
    lines = []
    if cafe.topic:
        lines.append(rc.t("cafe.topic_line", topic=cafe.topic))
    if cafe.topic_thread_id:
        lines.append(rc.t("cafe.topic_thread", thread=cafe.topic_thread_id))
    return lines


def render_announce(rc: RenderContext, item: Claimed) -> Rendered | None:
    cafe = _live(rc, item.payload.get("cafe", 0))
    if cafe is None or not rc.uow.cafes.reminders_on(rc.person.id):
        return None
    if rc.person.discreet:
        return Rendered(text=rc.t("cafe.announce_discreet"))
    text = "\n".join([rc.t("cafe.announce", id=cafe.id, when=when_text(rc.lang, cafe), place=cafe.place),
                      *_topic_lines(rc, cafe), rc.t("cafe.announce_rsvp", id=cafe.id)])
    return Rendered(text=text, buttons=rc.buttons(_button_rows(cafe.id)))


def _button_rows(cafe_id: int) -> list[list[dict]]:
    return [[{"key": k, "command": c} for k, c in row] for row in rsvp_buttons(cafe_id)]


def render_reminder(rc: RenderContext, item: Claimed) -> Rendered | None:
    """Checked again at delivery: a moved, cancelled or started café, reminders turned off
    or a late "no" mean this reminder is not sent any more."""
    cafe = _live(rc, item.payload.get("cafe", 0))
    if cafe is None or as_utc(cafe.starts_at).isoformat() != item.payload.get("starts"):
        return None
    if not rc.uow.cafes.reminders_on(rc.person.id) or _said_no(rc, cafe):
        return None
    offset = int(item.payload.get("offset", 0))
    day_before = offset == DAY
    if rc.person.discreet:
        key = "cafe.reminder_discreet_tomorrow" if day_before else "cafe.reminder_discreet"
        return Rendered(text=rc.t(key))
    lines = [rc.t("cafe.reminder", id=cafe.id, when=when_text(rc.lang, cafe), place=cafe.place),
             *_topic_lines(rc, cafe)]
    if not day_before:
        return Rendered(text="\n".join(lines))
    lines += [yes_count(rc.t, rc.uow.cafes.counts(cafe.id)), rc.t("cafe.reminder_warm", id=cafe.id)]
    return Rendered(text="\n".join(lines), buttons=rc.buttons(_button_rows(cafe.id)))


def render_change(rc: RenderContext, item: Claimed) -> Rendered | None:
    cafe = rc.uow.cafes.get(item.payload.get("cafe", 0))
    if cafe is None:
        return None
    reason = item.payload.get("reason") or ""
    reason_line = rc.t("cafe.change_reason", reason=reason) if reason else ""
    key = "cafe.moved_notice" if item.payload.get("what") == "moved" else "cafe.cancelled_notice"
    text = rc.t(key, id=cafe.id, when=when_text(rc.lang, cafe), place=cafe.place)
    return Rendered(text="\n".join(t for t in (text, reason_line) if t), urgent=True)


def render_ics(rc: RenderContext, item: Claimed) -> Rendered | None:
    cafe = rc.uow.cafes.get(item.payload.get("cafe", 0))
    if cafe is None:
        return None
    summary = rc.config.bot.display_name
    now = rc.uow.clock.now()
    if item.payload.get("series") and cafe.series_id is not None:
        series = rc.uow.cafes.series(cafe.series_id)
        content = ics.series_ics(series, rc.uow.cafes.of_series(series.id), summary, now)
        name = f"cafe-series-{series.id}.ics"
    else:
        content = ics.occurrence_ics(cafe, summary, now)
        name = f"cafe-{cafe.id}.ics"
    return Rendered(text=rc.t("cafe.ics_file", id=cafe.id), document=(name, content), urgent=True)


# -- the scheduler's tick -------------------------------------------------------------------
async def cafe_tick_job(runtime_key: str) -> dict[str, int]:
    rt = runtime(runtime_key)
    done = await rt.dbt.job(service.tick, rt.config, rt.clock.now())   # off the loop
    if done["announced"] or done["reminded"]:
        rt.worker.wake()
    return done


def build_cafe_tick(scheduler: AsyncIOScheduler, key: str, uow: UnitOfWork) -> None:
    """One short interval job for all cafés (not a cron job per café): it reads what is due
    from the database, so DST changes and restarts need no special handling."""
    seconds = runtime(key).config.cafes.tick_seconds
    scheduler.add_job(cafe_tick_job, "interval", seconds=seconds, args=[key], id="cafe-tick",
                      replace_existing=True, coalesce=True, max_instances=1)


RENDERERS = {service.ANNOUNCE: render_announce, service.REMIND: render_reminder,
             service.CHANGE: render_change, "cafe_ics": render_ics}
JOB_BUILDERS = [build_cafe_tick]
