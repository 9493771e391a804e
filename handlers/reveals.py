"""Identity and reveals: card, reveal, hide, reveals, accept, decline, unreveal, invite,
closed threads (``new closed``) and the privacy dashboard's list of live reveals.

Two rules shape every answer here: a member's reveal shows only their own card or
community (never who else they know), and the requester of a mutual reveal learns
nothing from a decline: their view stays "waiting" until the request expires.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.clock import as_utc
from bot.events import Rendered
from bot.labels import author_label
from bot.render import RenderContext
from bot.router import Context, command, message
from handlers.posting import MAX_TITLE, parse_id, publish, visible_thread
from handlers.reveals_service import (
    create_closed_thread, hide_community, invite_to_thread, record_card_reveal, record_mutual_card_reveal,
    withdraw_from,
)
from storage.models import Member
from storage.models_reveals import RevealRequest
from storage.repo import DIRECT, Claimed, UnitOfWork

CARD_NAME_MAX, CARD_CONTACT_MAX = 40, 120


# -- messages that show another member: rendered per recipient, at delivery ------------------

def notify(uow: UnitOfWork, member: Member, key: str, *, about: Member | None = None,
           buttons: list[list[tuple[str, str]]] | None = None, **params: Any) -> None:
    """A message to every account of a member. ``about`` is shown through the label function,
    and its card only if a reveal to this recipient is live when the message is delivered."""
    if member.person_id is None:
        return
    payload = message(key, buttons=buttons, **params)
    if about is not None:
        payload["about"] = about.id
    for account in uow.accounts.for_person(member.person_id):
        uow.outbox.add(account.id, payload, lane=DIRECT, kind="reveal")


def render_reveal(rc: RenderContext, item: Claimed) -> Rendered | None:
    payload = item.payload
    if "key" not in payload:
        return None
    params = rc.resolve(payload.get("params", {}))
    about = rc.get(Member, payload.get("about"))
    if about is not None:
        params["who"] = author_label(rc, about)
        viewer = rc.uow.members.in_group(rc.person.id, about.group_id)
        card = rc.uow.reveals.card(about.id) if viewer is not None and viewer.id in \
            rc.uow.reveals.card_recipients(about.id) else {}
        params["first"] = card.get("name") or "-"
        params["contact"] = card.get("contact") or "-"
    return Rendered(text=rc.t(payload["key"], **params), buttons=rc.buttons(payload.get("buttons")))


def own_card_params(ctx: Context) -> dict[str, str]:
    card = ctx.uow.reveals.card(ctx.member.id)
    return {"first": card["name"] or "-", "contact": card["contact"] or "-"}


# -- the card --------------------------------------------------------------------------------

@command("card", needs_member=True, group="reveals")
def card(ctx: Context) -> None:
    sub, _, rest = ctx.args.strip().partition(" ")
    sub, rest = sub.casefold(), " ".join(rest.split())
    reveals = ctx.uow.reveals
    current = reveals.card(ctx.member.id)
    if sub == "":
        key = "reveal.card_empty" if not (current["name"] or current["contact"]) else "reveal.card_show"
        ctx.reply(key, **own_card_params(ctx))
    elif sub == "clear":
        reveals.set_card(ctx.member.id, None, None)
        ctx.reply("reveal.card_cleared")
    elif sub in ("name", "contact"):
        limit = CARD_NAME_MAX if sub == "name" else CARD_CONTACT_MAX
        if not rest:
            ctx.reply(f"reveal.card_{sub}_usage")
            return
        if len(rest) > limit:
            ctx.reply("reveal.card_too_long", count=limit)
            return
        current[sub] = rest
        reveals.set_card(ctx.member.id, current["name"], current["contact"])
        ctx.reply("reveal.card_saved", **own_card_params(ctx))
    else:
        ctx.reply("reveal.card_usage")


# -- reveal, hide, reveals on/off -------------------------------------------------------------

def request_status(ctx: Context, req: RevealRequest) -> str:
    """What the requester may know: accepted, waiting or expired (a decline looks like waiting)."""
    if req.outcome == "accepted":
        return "accepted"
    return "waiting" if as_utc(req.expires_at) > ctx.clock.now() and req.outcome != "cancelled" else "expired"


def _request_end(req: RevealRequest) -> Any:
    return as_utc(req.answered_at) if req.outcome == "accepted" and req.answered_at else as_utc(req.expires_at)


@command("reveal", needs_member=True, group="reveals")
def reveal(ctx: Context) -> None:
    args = ctx.args.strip()
    low = args.casefold()
    if not args:
        overview(ctx)
    elif low == "community":
        reveal_community(ctx)
    elif low == "to" or low.startswith("to "):
        words = args[2:].split()
        oneway = bool(words) and words[-1].casefold() == "oneway"
        name = " ".join(words[:-1] if oneway else words)
        if not name:
            ctx.reply("reveal.to_usage")
            return
        reveal_to(ctx, name, oneway)
    else:
        ctx.reply("reveal.usage")


def overview(ctx: Context) -> None:
    lines = live_lines(ctx, ctx.member)
    ctx.reply("reveal.overview", lines=lines or [{"t": "me.no_reveals"}])


def live_lines(ctx: Context, member: Member) -> list[dict]:
    """Each live reveal of this member, and their own waiting requests, as dashboard lines."""
    lines: list[dict] = []
    uow = ctx.uow
    for row in uow.reveals.live_by(member.id):
        other = uow.members.get(row.recipient_member_id) if row.recipient_member_id else None
        if row.scope == "community":
            community = uow.groups.community_by_id(member.community_id) if member.community_id else None
            lines.append({"t": "reveal.line_community", "params": {
                "pseudonym": member.pseudonym, "community": community.name if community else "-"}})
        elif other is not None and other.status == "active":
            lines.append({"t": f"reveal.line_{row.scope}", "params": {
                "pseudonym": member.pseudonym, "other": other.pseudonym}})
    for req in uow.reveals.requests_by(member.id):
        status = request_status(ctx, req)
        target = uow.members.get(req.target_member_id)
        if status == "waiting" and target is not None:
            lines.append({"t": "reveal.line_waiting", "params": {"other": target.pseudonym}})
    return lines


def reveal_community(ctx: Context) -> None:
    member = ctx.member
    community = ctx.uow.groups.community_by_id(member.community_id) if member.community_id else None
    if community is None:
        ctx.reply("reveal.no_community")
        return
    if ctx.uow.reveals.community_shown(member.id):
        ctx.reply("reveal.community_already", community=community.name)
        return
    ctx.uow.reveals.add(member.group_id, member.id, None, "community", "group")
    ctx.reply("reveal.community_done", pseudonym=member.pseudonym, community=community.name)


@command("hide", needs_member=True, group="reveals")
def hide(ctx: Context) -> None:
    if ctx.args.strip().casefold() != "community":
        ctx.reply("reveal.hide_usage")
        return
    if not ctx.uow.reveals.community_shown(ctx.member.id):
        ctx.reply("reveal.community_not_shown")
        return
    copies = hide_community(ctx.uow, ctx.member)
    ctx.reply("reveal.community_hidden", count=copies)


@command("reveals", needs_member=True, group="reveals")
def reveals_switch(ctx: Context) -> None:
    arg = ctx.args.strip().casefold()
    if arg not in ("on", "off"):
        ctx.reply("reveal.switch_usage")
        return
    ctx.uow.reveals.prefs(ctx.member.id).requests_off = arg == "off"
    ctx.reply("reveal.switch_off" if arg == "off" else "reveal.switch_on")


def _other(ctx: Context, name: str) -> Member | None:
    other = ctx.uow.members.by_pseudonym(ctx.member.group_id, name)
    if other is None or other.status != "active" or other.person_id is None:
        ctx.reply("reveal.no_such", name=name[:40])
        return None
    if other.id == ctx.member.id:
        ctx.reply("reveal.not_yourself")
        return None
    return other


def reveal_to(ctx: Context, name: str, oneway: bool) -> None:
    member, uow, cfg = ctx.member, ctx.uow, ctx.config.reveals
    other = _other(ctx, name)
    if other is None:
        return
    if not uow.reveals.card(member.id)["name"]:
        ctx.reply("reveal.need_card")
        return
    if oneway:
        if uow.reveals.live(member.id, other.id, "card"):
            ctx.reply("reveal.already_shown", other=other.pseudonym)
            return
        record_card_reveal(uow, member, other, "oneway")
        notify(uow, other, "reveal.oneway_received", about=member)
        ctx.reply("reveal.oneway_done", other=other.pseudonym, **own_card_params(ctx))
        return
    if uow.reveals.live(member.id, other.id, "card") and uow.reveals.live(other.id, member.id, "card"):
        ctx.reply("reveal.already_mutual", other=other.pseudonym)
        return
    now = ctx.clock.now()
    mine = uow.reveals.requests_by(member.id)
    if any(r.target_member_id == other.id and request_status(ctx, r) == "waiting" for r in mine):
        ctx.reply("reveal.already_waiting", other=other.pseudonym)
        return
    if sum(1 for r in mine if request_status(ctx, r) == "waiting") >= cfg.max_pending:
        ctx.reply("reveal.too_many", count=cfg.max_pending)
        return
    cooldown = timedelta(days=cfg.cooldown_days)
    if any(r.target_member_id == other.id and _request_end(r) + cooldown > now for r in mine):
        ctx.reply("reveal.cooldown", other=other.pseudonym, count=cfg.cooldown_days)
        return
    req = uow.reveals.add_request(member.group_id, member.id, other.id, now + timedelta(days=cfg.request_days))
    if uow.reveals.prefs(other.id).requests_off:
        req.outcome, req.answered_at = "refused", now      # silently: the requester sees "waiting"
    else:
        notify(uow, other, "reveal.request_received", about=member, request=req.id,
               buttons=[[("reveal.button_accept", f"/accept {req.id}"),
                         ("reveal.button_decline", f"/decline {req.id}")]])
    ctx.reply("reveal.request_sent", other=other.pseudonym, count=cfg.request_days)


def _open_request(ctx: Context, usage: str) -> RevealRequest | None:
    request_id = parse_id(ctx.args, "r") if ctx.args.strip() else None
    if request_id is None:
        ctx.reply(usage)
        return None
    req = ctx.uow.reveals.request(request_id)
    if (req is None or req.target_member_id != ctx.member.id or req.outcome is not None
            or as_utc(req.expires_at) <= ctx.clock.now()):
        ctx.reply("reveal.request_not_found", request=request_id)
        return None
    return req


@command("accept", needs_member=True, group="reveals")
def accept(ctx: Context) -> None:
    req = _open_request(ctx, "reveal.accept_usage")
    if req is None:
        return
    if not ctx.uow.reveals.card(ctx.member.id)["name"]:
        ctx.reply("reveal.accept_need_card", request=req.id)
        return
    requester = ctx.uow.members.get(req.requester_member_id)
    if requester is None or requester.status != "active":
        ctx.reply("reveal.request_not_found", request=req.id)
        return
    req.outcome, req.answered_at = "accepted", ctx.clock.now()
    record_mutual_card_reveal(ctx.uow, requester, ctx.member, "mutual")
    notify(ctx.uow, requester, "reveal.exchanged", about=ctx.member)
    notify(ctx.uow, ctx.member, "reveal.exchanged", about=requester)


@command("decline", needs_member=True, group="reveals")
def decline(ctx: Context) -> None:
    req = _open_request(ctx, "reveal.decline_usage")
    if req is None:
        return
    req.outcome, req.answered_at = "declined", ctx.clock.now()
    ctx.reply("reveal.declined", request=req.id)


@command("unreveal", needs_member=True, group="reveals")
def unreveal(ctx: Context) -> None:
    name = " ".join(ctx.args.split())
    if not name:
        ctx.reply("reveal.unreveal_usage")
        return
    if name.casefold() == "community":
        if not ctx.uow.reveals.community_shown(ctx.member.id):
            ctx.reply("reveal.community_not_shown")
            return
        ctx.reply("reveal.community_hidden", count=hide_community(ctx.uow, ctx.member))
        return
    other = _other(ctx, name)
    if other is None:
        return
    if not ctx.uow.reveals.live(ctx.member.id, other.id):
        ctx.reply("reveal.nothing_to_withdraw", other=other.pseudonym)
        return
    copies = withdraw_from(ctx.uow, ctx.member, other)
    ctx.reply("reveal.withdrawn", other=other.pseudonym, count=copies)


# -- closed threads -------------------------------------------------------------------------

def new_closed(ctx: Context, title: str, body: str, settled: frozenset[str] = frozenset()) -> None:
    title = " ".join(title.split())
    if not title:
        ctx.reply("reveal.closed_usage")
        return
    if len(title) > MAX_TITLE:
        ctx.reply("thread.title_too_long", limit=MAX_TITLE, length=len(title))
        return
    # The title reaches everyone invited, as an open thread's reaches the group: crisis language
    # in it is answered and a detail asked about first (handlers/safety.py), as for ``new``.
    title_check = ctx.services.get("title_check")
    if title_check is not None and not title_check(ctx, title, body, settled, closed=True):
        return
    member = ctx.member
    thread = create_closed_thread(ctx.uow, member.group_id, title, member.id)
    member.current_thread_id = thread.id
    ctx.reply("reveal.closed_created", thread=thread.id, title=title)
    if body.strip():
        publish(ctx, thread, body, settled=settled)


@command("invite", needs_member=True, group="reveals")
def invite(ctx: Context) -> None:
    parts = ctx.args.strip().split(None, 1)
    if len(parts) < 2:
        ctx.reply("reveal.invite_usage")
        return
    thread = visible_thread(ctx, parse_id(parts[0], "t"))
    if thread is None or not thread.closed or thread.creator_member_id != ctx.member.id:
        ctx.reply("reveal.invite_not_yours", thread=parts[0][:12])
        return
    other = _other(ctx, " ".join(parts[1].split()))
    if other is None:
        return
    if not ctx.uow.reveals.mutual(ctx.member.id, other.id):
        ctx.reply("reveal.invite_need_mutual", other=other.pseudonym)
        return
    if invite_to_thread(ctx.uow, thread, other.id):
        notify(ctx.uow, other, "reveal.invited", about=ctx.member, thread=thread.id, title=thread.title)
    ctx.reply("reveal.invite_done", other=other.pseudonym, thread=thread.id, title=thread.title)


def me_sections(ctx: Context) -> list[dict]:
    lines: list[dict] = []
    for member in ctx.uow.members.of_person(ctx.person.id):
        lines.extend(live_lines(ctx, member))
    return lines


RENDERERS = {"reveal": render_reveal}
SERVICES = {"new_closed": new_closed, "me_sections": me_sections}
