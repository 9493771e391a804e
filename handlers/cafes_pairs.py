"""Café buddies and rides: ``buddy <cafe> [off]``, ``ride <cafe> need|offer [seats] | off``,
the consultant's ``cafe buddy`` / ``cafe ride`` / ``cafe attendees``, and the line a
reflection thread shows about its café. The pairing logic is in ``bot.cafes.pairs``.

Privacy: asking tells nobody; only the consultant sees who asked (``cafe attendees``,
rendered at delivery through the label function); a pairing shows each only the other's
label; nothing a participant receives says who RSVP'd what.
"""
from __future__ import annotations

from bot.cafes import pairs
from bot.clock import as_utc
from bot.events import Rendered
from bot.labels import author_label
from bot.render import RenderContext
from bot.router import Context, command
from handlers.cafes import find_cafe, is_consultant, started, when_text
from storage.models import Member, Thread
from storage.models_cafes import Cafe
from storage.repo import DIRECT, Claimed

SEATS = {"need": 4, "offer": 8}      # a need is for 1–4 people, an offer has 1–8 seats
ATTENDEES = "cafe_attendees"


def titler(ctx: Context) -> pairs.Titler:
    """Thread titles are stored once: in the language of the member who opens the thread."""
    i18n = ctx.services["i18n"]

    def title(member: Member, key: str, cafe_id: int) -> str:
        person = ctx.uow.people.get(member.person_id) if member.person_id is not None else None
        lang = (person.language if person is not None else None) or ctx.config.bot.default_language
        return i18n.t(lang, key, id=cafe_id)
    return title


def _auto(ctx: Context) -> bool:
    return ctx.config.cafes.buddy_pairing == "auto"


def _open_cafe(ctx: Context, token: str) -> Cafe | None:
    """The café, if one may still ask for a buddy or ride for it; otherwise a kind answer."""
    cafe = find_cafe(ctx, token)
    if cafe is None:
        ctx.reply("cafe.not_found", cafe=token[:12])
        return None
    if started(cafe, ctx.clock.now()):
        ctx.reply("cafe.pair_started", id=cafe.id)
        return None
    if cafe.status == "cancelled":
        ctx.reply("cafe.rsvp_cancelled", id=cafe.id)
        return None
    if not pairs.coming(ctx.uow, cafe, ctx.member):
        ctx.reply("cafe.pair_rsvp_first", id=cafe.id)
        return None
    return cafe


@command("buddy", needs_member=True, group="cafes", needs_args=True)
def buddy(ctx: Context) -> None:
    parts = ctx.args.split()
    if len(parts) > 2 or (len(parts) == 2 and parts[1].casefold() != "off"):
        ctx.usage()
        return
    if len(parts) == 2:
        cafe = find_cafe(ctx, parts[0])
        if cafe is None:
            ctx.reply("cafe.not_found", cafe=parts[0][:12])
            return
        outcome = pairs.end_buddy(ctx.uow, cafe, ctx.member, titler(ctx), auto=_auto(ctx))
        ctx.reply(f"cafe.buddy_off_{outcome}", id=cafe.id)
        return
    cafe = _open_cafe(ctx, parts[0])
    if cafe is None:
        return
    row = ctx.uow.cafes.buddy(cafe.id, ctx.member.id)
    if row is not None:
        if row.buddy_member_id is not None:
            ctx.reply("cafe.buddy_already_paired", id=cafe.id, thread=row.thread_id)
        else:
            ctx.reply("cafe.buddy_waiting", id=cafe.id)
        return
    row = ctx.uow.cafes.add_buddy(cafe.id, ctx.member.id)
    if _auto(ctx) and pairs.auto_pair(ctx.uow, cafe, row, titler(ctx)):
        return                                  # the pairing notice answers
    ctx.reply("cafe.buddy_waiting", id=cafe.id)


@command("ride", needs_member=True, group="cafes", needs_args=True)
def ride(ctx: Context) -> None:
    parts = ctx.args.split()
    kind = parts[1].casefold() if len(parts) >= 2 else ""
    if kind not in ("need", "offer", "off") or len(parts) > 3 or (kind == "off" and len(parts) == 3):
        ctx.usage()
        return
    seats = parts[2] if len(parts) == 3 else "1"
    if kind != "off" and not (seats.isascii() and seats.isdigit() and 1 <= int(seats) <= SEATS[kind]):
        ctx.reply("cafe.ride_seats", count=SEATS[kind])
        return
    if kind == "off":
        cafe = find_cafe(ctx, parts[0])
        if cafe is None:
            ctx.reply("cafe.not_found", cafe=parts[0][:12])
            return
        ctx.reply(f"cafe.ride_off_{pairs.end_ride(ctx.uow, cafe, ctx.member)}", id=cafe.id)
        return
    cafe = _open_cafe(ctx, parts[0])
    if cafe is None:
        return
    row = ctx.uow.cafes.ride(cafe.id, ctx.member.id)
    if row is not None and pairs.introduced(ctx.uow, row):
        ctx.reply("cafe.ride_introduced_already", id=cafe.id)
        return
    ctx.uow.cafes.set_ride(cafe.id, ctx.member.id, kind, int(seats))
    ctx.reply(f"cafe.ride_saved_{kind}", id=cafe.id, count=int(seats))


# -- the consultant's side -------------------------------------------------------------------
def _two_names(ctx: Context, group_id: int, text: str) -> tuple[Member, Member] | None:
    """``<a> <b>`` where pseudonyms may contain spaces: the one split that names two members."""
    words = text.split()
    for cut in range(1, len(words)):
        a = ctx.uow.members.by_pseudonym(group_id, " ".join(words[:cut]))
        b = ctx.uow.members.by_pseudonym(group_id, " ".join(words[cut:]))
        if a is not None and b is not None:
            return a, b
    return None


def _managed_with_names(ctx: Context, rest: str, usage: str) -> tuple[Cafe, Member, Member] | None:
    target, _, names = rest.partition(" ")
    if not target or len(names.split()) < 2:
        ctx.reply(usage)
        return None
    cafe = find_cafe(ctx, target)
    if cafe is None or not is_consultant(ctx.uow, ctx.member, cafe.group_id):
        ctx.reply("cafe.not_found", cafe=target[:12])
        return None
    found = _two_names(ctx, cafe.group_id, names)
    if found is None:
        ctx.reply("cafe.pair_names_unknown")
        return None
    if cafe.status != "scheduled" or started(cafe, ctx.clock.now()):
        ctx.reply("cafe.cannot_move", id=cafe.id)
        return None
    return cafe, found[0], found[1]


def cafe_ride(ctx: Context, rest: str) -> None:
    """``cafe ride <cafe> <need> <offer>``."""
    found = _managed_with_names(ctx, rest, "cafe.ride_admin_usage")
    if found is None:
        return
    cafe, needer, offerer = found
    need, offer = ctx.uow.cafes.ride(cafe.id, needer.id), ctx.uow.cafes.ride(cafe.id, offerer.id)
    if need is None or offer is None:
        ctx.reply("cafe.ride_admin_kinds")
        return
    outcome = pairs.match_ride(ctx.uow, cafe, need, offer, titler(ctx))
    if outcome == "seats":
        ctx.reply("cafe.ride_admin_seats", count=pairs.free_seats(ctx.uow, offer))
    elif outcome == "matched":
        ctx.uow.audit.add("cafe_ride", group_id=cafe.group_id, actor_member_id=ctx.member.id, target=f"c{cafe.id}")
        ctx.reply("cafe.ride_admin_done", id=cafe.id, need=needer.pseudonym, offer=offerer.pseudonym,
                  count=pairs.free_seats(ctx.uow, offer))
    else:
        ctx.reply(f"cafe.ride_admin_{outcome}")


def cafe_buddy(ctx: Context, rest: str) -> None:
    """``cafe buddy <cafe> <a> <b>``: the consultant pairs two waiting buddy wishes."""
    found = _managed_with_names(ctx, rest, "cafe.buddy_admin_usage")
    if found is None:
        return
    cafe, a, b = found
    first, second = ctx.uow.cafes.buddy(cafe.id, a.id), ctx.uow.cafes.buddy(cafe.id, b.id)
    if first is None or second is None or first.buddy_member_id or second.buddy_member_id or a.id == b.id:
        ctx.reply("cafe.buddy_admin_not_waiting")
        return
    pairs.pair_buddies(ctx.uow, cafe, first, second, titler(ctx))
    ctx.uow.audit.add("cafe_buddy", group_id=cafe.group_id, actor_member_id=ctx.member.id, target=f"c{cafe.id}")
    ctx.reply("cafe.buddy_admin_done", id=cafe.id, a=a.pseudonym, b=b.pseudonym)


def cafe_attendees(ctx: Context, rest: str) -> None:
    """``cafe attendees <cafe>``: built at delivery, with each name through the label function
    (so a card shows where that person revealed it to the consultant, and only while live)."""
    if not rest:
        ctx.reply("cafe.attendees_usage")
        return
    cafe = find_cafe(ctx, rest)
    if cafe is None or not is_consultant(ctx.uow, ctx.member, cafe.group_id):
        ctx.reply("cafe.not_found", cafe=rest.split()[0][:12])
        return
    ctx.uow.outbox.add(ctx.account.id, {"cafe": cafe.id}, kind=ATTENDEES, lane=DIRECT)


def render_attendees(rc: RenderContext, item: Claimed) -> Rendered | None:
    cafe = rc.uow.cafes.get(item.payload.get("cafe", 0))
    viewer = rc.uow.members.in_group(rc.person.id, cafe.group_id) if cafe is not None else None
    if cafe is None or not is_consultant(rc.uow, viewer, cafe.group_id):
        return None                      # no longer their consultant: nothing to show

    def name(member_id: int | None) -> str | None:
        member = rc.get(Member, member_id)
        return author_label(rc, member) if member is not None and member.pseudonym else None

    lines = []
    for member_id, answer in sorted(rc.uow.cafes.answers(cafe.id).items()):
        if (who := name(member_id)) is not None:
            lines.append(rc.t("cafe.attendee_line", name=who, answer=rc.t(f"cafe.answer_{answer}")))
    rides = rc.uow.cafes.rides(cafe.id)
    by_id = {r.id: r for r in rides}
    for r in rides:
        if (who := name(r.member_id)) is None:
            continue
        line = rc.t(f"cafe.attendee_ride_{r.kind}", name=who, count=r.seats)
        driver = by_id.get(r.offer_id) if r.offer_id is not None else None
        if driver is not None and (other := name(driver.member_id)) is not None:
            line += rc.t("cafe.attendee_ride_with", name=other)
        lines.append(line)
    for wish in rc.uow.cafes.buddies(cafe.id):
        if (who := name(wish.member_id)) is None:
            continue
        if wish.buddy_member_id is None:
            lines.append(rc.t("cafe.attendee_buddy", name=who))
        elif wish.member_id < wish.buddy_member_id and (other := name(wish.buddy_member_id)) is not None:
            lines.append(rc.t("cafe.attendee_buddies", name=who, other=other))
    if not lines:
        return Rendered(text=rc.t("cafe.attendees_none", id=cafe.id))
    return Rendered(text=rc.t("cafe.attendees", id=cafe.id, lines="\n".join(lines)))


def render_pair(rc: RenderContext, item: Claimed) -> Rendered | None:
    payload = item.payload
    cafe = rc.uow.cafes.get(payload.get("cafe", 0))
    if cafe is None or "key" not in payload:
        return None
    about = rc.get(Member, payload.get("about"))
    who = author_label(rc, about) if about is not None else ""
    return Rendered(text=rc.t(payload["key"], id=cafe.id, who=who, thread=payload.get("thread") or "",
                              when=when_text(rc.lang, cafe)))


# -- services other features call --------------------------------------------------------------
def not_coming(ctx: Context, cafe: Cafe) -> None:
    """Called by ``rsvp <cafe> no``: a buddy wish or pairing and a ride end with it."""
    pairs.not_coming(ctx.uow, cafe, ctx.member, titler(ctx), auto=_auto(ctx))


def thread_cafe_lines(ctx: Context, thread: Thread) -> None:
    """``read`` of a reflection thread: which coming café (of the reader's own community)
    it belongs to."""
    now = ctx.clock.now()
    for cafe in ctx.uow.cafes.for_thread(thread.id, now):
        if find_cafe(ctx, str(cafe.id)) is not None and cafe.status == "scheduled" and as_utc(cafe.starts_at) > now:
            ctx.reply("cafe.thread_for_cafe", id=cafe.id, when=when_text(ctx.lang, cafe), place=cafe.place)


RENDERERS = {pairs.NOTICE: render_pair, ATTENDEES: render_attendees}
SERVICES = {"cafe_not_coming": not_coming, "thread_header": thread_cafe_lines}
