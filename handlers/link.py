"""One person, several platform accounts (link, unlink, deliver here), and the member's own
line to the consultant (tell consultant, appeal), which keeps working while muted."""
from __future__ import annotations

from sqlalchemy import select, update

from bot.router import Context, command
from moderation import queue
from storage.models import Account, Member, Person
from storage.models_moderation import DeliveryChoice, Sanction

MAX_MESSAGE = 2000
CONSULTANT_WORDS = ("consultant", "konsulent", "konsulenten", "the consultant")


@command("link", before_consent=True, group="privacy")
def link(ctx: Context) -> None:
    code = ctx.args.strip()
    if not code:
        if ctx.person.consent_at is None:
            ctx.reply("onboarding.need_agree")
            return
        row = ctx.uow.moderation.new_link_code(ctx.person.id)
        ctx.reply("link.code", code=row.code)
        return
    row = ctx.uow.moderation.take_link_code(code.split()[0])
    if row is None:
        ctx.reply("link.bad_code")
        return
    if row.person_id == ctx.person.id:
        ctx.reply("link.same")
        return
    target = ctx.uow.people.get(row.person_id)
    mine = ctx.uow.members.of_person(ctx.person.id)
    theirs = {m.group_id for m in ctx.uow.members.of_person(target.id)}
    if any(m.group_id in theirs for m in mine):
        ctx.reply("link.conflict")
        return
    _merge(ctx, ctx.person, target)
    ctx.reply("link.done")


def _merge(ctx: Context, source: Person, target: Person) -> None:
    """Everything of ``source`` (accounts, memberships, sanctions) now belongs to ``target``."""
    s = ctx.uow.session
    for model in (Account, Member, Sanction):
        s.execute(update(model).where(model.person_id == source.id).values(person_id=target.id)
                  .execution_options(synchronize_session="fetch"))
    choice = s.get(DeliveryChoice, source.id)
    if choice is not None:
        s.delete(choice)
    if target.current_member_id is None and source.current_member_id is not None:
        target.current_member_id = source.current_member_id
    s.flush()
    s.delete(source)
    ctx.person = target
    ctx.account.person_id = target.id


@command("unlink", group="privacy")
def unlink(ctx: Context) -> None:
    accounts = ctx.uow.accounts.for_person(ctx.person.id)
    if len(accounts) < 2:
        ctx.reply("link.nothing")
        return
    old = ctx.person
    fresh = ctx.uow.people.create(old.language)
    for field in ("consent_at", "notify", "quiet_start", "quiet_end", "discreet"):
        setattr(fresh, field, getattr(old, field))
    ctx.uow.moderation.copy_bans(old.id, fresh.id)     # separating accounts never lifts a ban
    ctx.account.person_id = fresh.id
    choice = ctx.uow.session.get(DeliveryChoice, old.id)
    if choice is not None and choice.account_id == ctx.account.id:
        ctx.uow.session.delete(choice)
    ctx.reply("link.unlinked")


@command("deliver", group="privacy")
def deliver(ctx: Context) -> None:
    arg = " ".join(ctx.args.split()).casefold()
    if arg in ("here", "her"):
        ctx.uow.moderation.choose_delivery(ctx.person.id, ctx.account.id)
        ctx.reply("link.deliver_here")
    elif arg in ("auto", "last"):
        ctx.uow.moderation.choose_delivery(ctx.person.id, None)
        ctx.reply("link.deliver_auto")
    else:
        ctx.reply("link.deliver_usage")


@command("tell", needs_member=True, group="start")
def tell(ctx: Context) -> None:
    text = ctx.args.strip()
    lowered = text.casefold()
    word = next((w for w in CONSULTANT_WORDS if lowered.startswith(w)), None)
    body = text[len(word):].strip() if word else ""
    if not body:
        ctx.reply("mod.tell_usage")
        return
    member = ctx.member
    queue.add_item(ctx.uow, member.group_id, "message", subject_member_id=member.id, body=body[:MAX_MESSAGE])
    ctx.reply("mod.tell_sent", hours=ctx.config.moderation.hours_text(ctx.lang))


@command("appeal", group="start")
def appeal(ctx: Context) -> None:
    body = ctx.args.strip()
    if not body:
        ctx.reply("mod.appeal_usage")
        return
    member = ctx.member
    if member is not None:
        group_id, subject = member.group_id, member.id
    else:      # removed or banned: the appeal goes to the group that acted
        last = ctx.uow.session.scalar(select(Sanction).where(Sanction.person_id == ctx.person.id)
                                      .order_by(Sanction.id.desc()).limit(1))
        if last is None:
            ctx.reply("mod.appeal_nothing")
            return
        group_id, subject = last.group_id, last.member_id
    queue.add_item(ctx.uow, group_id, "appeal", subject_member_id=subject, body=body[:MAX_MESSAGE])
    ctx.reply("mod.appeal_sent", hours=ctx.config.moderation.hours_text(ctx.lang))


def me_moderation(ctx: Context) -> list[dict]:
    """For `me`: the actions taken against me (any group), without who asked for them."""
    rows = ctx.uow.session.scalars(select(Sanction).where(Sanction.person_id == ctx.person.id)
                                   .order_by(Sanction.id))
    from handlers.posting import local_time
    return [{"t": "mod.me_line", "params": {"kind": {"t": f"mod.kind_sanction.{r.kind}"},
                                            "when": local_time(ctx, r.created_at), "reason": r.reason or "-"}}
            for r in rows]


SERVICES = {"me_moderation": me_moderation}
