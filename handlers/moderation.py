"""The consultant's commands (``mod …``): the queue, unanswered posts, acknowledgements,
the audit log, statistics, alerts, invites, announcements and topics.

Every sub-command goes through ``moderation.roles.require_consultant`` before its
arguments are even read, so a refusal looks the same whatever the target.
"""
from __future__ import annotations

from datetime import timedelta

from bot.cafes.service import link_topic
from bot.router import Context, command
from handlers import mod_actions  # noqa: F401  (registers hide, warn, ban … in SUBS)
from handlers.mod_common import SUBS, post_in_group, reason_of, split_first, sub, usage
from handlers.posting import fan_out, local_time, publish, quiet_until
from storage.repo import BULK
from moderation import audit, queue
from moderation.queue import item_buttons, item_params
from moderation.roles import require_consultant
from moderation.summary import build_summary_job
from storage.models import Member

QUEUE_BUTTONS = 5
FEWER = {"t": "mod.stats.fewer"}


@command("mod", group="consultant")
def mod(ctx: Context) -> None:
    member = require_consultant(ctx)
    if member is None:
        return
    name, rest = split_first(ctx.args)
    name = name.casefold()
    if not name:
        ctx.reply("mod.usage")
        return
    entry = SUBS.get(name)
    if entry is None:
        ctx.reply("mod.unknown_sub", sub=name[:24])
        return
    entry[0](ctx, member, rest)


@sub("queue", "mod.usage")
def show_queue(ctx: Context, member: Member, rest: str) -> None:
    items = ctx.uow.moderation.open_items(member.group_id)
    if not items:
        ctx.reply("mod.queue_empty")
        return
    now = ctx.clock.now()
    get = lambda model, key: ctx.uow.session.get(model, key)  # noqa: E731
    lines = [{"t": "mod.queue_line", "params": item_params(get, i, now)} for i in items]
    buttons = [item_buttons(i) for i in items[:QUEUE_BUTTONS]]
    ctx.reply("mod.queue", lines=lines, count=len(items), buttons=buttons)


@sub("dismiss", "mod.dismiss_usage")
def dismiss(ctx: Context, member: Member, rest: str) -> None:
    token, note = split_first(rest)
    token = token.lstrip("q#")
    if not token:
        usage(ctx, "dismiss")
        return
    item = ctx.uow.moderation.item(member.group_id, int(token)) if token.isdigit() and len(token) < 10 else None
    if item is None or item.status != "open":
        ctx.reply("mod.no_target")
        return
    ctx.uow.moderation.close(item, member.id, reason_of(note) or None)
    entry = audit.record(ctx.uow, "mod.dismiss", group_id=member.group_id, actor_member_id=member.id,
                         target=f"queue:{item.id}", reason=note)
    ctx.reply("mod.dismissed", item=item.id, entry=entry)


@sub("unanswered", "mod.unanswered_usage")
def unanswered(ctx: Context, member: Member, rest: str) -> None:
    hours = ctx.config.bot.unanswered_hours
    if rest.strip():
        if not (rest.strip().isascii() and rest.strip().isdigit()) or not 1 <= int(rest.strip()) <= 24 * 30:
            usage(ctx, "unanswered")
            return
        hours = int(rest.strip())
    now = ctx.clock.now()
    posts = ctx.uow.moderation.unanswered(member.group_id, now - timedelta(hours=hours))
    if not posts:
        ctx.reply("mod.unanswered_none", count=hours)
        return
    lines = []
    for post in posts:
        author = ctx.uow.members.get(post.author_member_id)
        lines.append({"t": "mod.unanswered_line", "params": {
            "post": post.id, "thread": post.thread_id, "age": queue.age(post.created_at, now),
            "author": author.pseudonym or "-", "text": queue.post_preview(post)}})
    ctx.reply("mod.unanswered", lines=lines, hours=hours, count=len(posts))


@sub("ack", "mod.ack_usage")
def ack(ctx: Context, member: Member, rest: str) -> None:
    token, text = split_first(rest)
    if not token or not text:
        usage(ctx, "ack")
        return
    post = post_in_group(ctx, member, token)
    if post is None:
        return
    thread = ctx.uow.threads.get(post.thread_id)
    reply = publish(ctx, thread, text, reply_to=post.id)
    if reply is not None:
        audit.record(ctx.uow, "mod.ack", group_id=member.group_id, actor_member_id=member.id,
                     target=audit.post(post.id))


@sub("alerts", "mod.alerts_usage")
def alerts(ctx: Context, member: Member, rest: str) -> None:
    choice = rest.strip().casefold()
    if choice not in ("on", "off", "digest"):
        usage(ctx, "alerts")
        return
    ctx.uow.moderation.prefs(member.id).alerts = choice
    ctx.reply(f"mod.alerts_{choice}", time=ctx.config.bot.digest_time)


def _target_text(ctx: Context, target: str | None) -> str:
    kind, _, ident = (target or "").partition(":")
    if kind == "member" and ident.isdigit():
        found = ctx.uow.members.get(int(ident))
        return (found.pseudonym if found else None) or f"m{ident}"
    return {"post": f"p{ident}", "thread": f"#{ident}", "queue": f"q{ident}", "audit": f"log {ident}",
            "invite": f"invite {ident}"}.get(kind, target or "-")


@sub("log", "mod.log_usage")
def log_(ctx: Context, member: Member, rest: str) -> None:
    arg = rest.strip()
    if arg and not (arg.isascii() and arg.isdigit() and 1 <= int(arg) <= 200):
        usage(ctx, "log")
        return
    entries = [e for e in ctx.uow.moderation.audit_log(member.group_id, audit.LOGGED, int(arg) if arg else 20)
               if e.action != "mod.reason"]       # shown with the entry they explain
    if not entries:
        ctx.reply("mod.log_empty")
        return
    later = ctx.uow.moderation.later_reasons(member.group_id, [e.id for e in entries])
    i18n = ctx.services["i18n"]
    lines = []
    for e in entries:
        actor = ctx.uow.members.get(e.actor_member_id) if e.actor_member_id else None
        reasons = [r for r in [e.detail, *later.get(e.id, [])] if r]
        lines.append({"t": "mod.log_line", "params": {
            "entry": e.id, "when": local_time(ctx, e.at),
            "action": {"t": e.action} if i18n.has(e.action) else e.action,
            "target": _target_text(ctx, e.target),
            "actor": (actor.pseudonym if actor else None) or {"t": "mod.log_system"},
            "reason": " / ".join(reasons) or "-"}})
    ctx.reply("mod.log", lines=lines)


@sub("reason", "mod.reason_usage")
def reason(ctx: Context, member: Member, rest: str) -> None:
    token, text = split_first(rest)
    token = token.lstrip("#")
    if not token or not text:
        usage(ctx, "reason")
        return
    entry = ctx.uow.moderation.audit_entry(member.group_id, int(token)) if token.isdigit() and len(token) < 10 \
        else None
    if entry is None:
        ctx.reply("mod.no_target")
        return
    audit.add_reason(ctx.uow, member.group_id, entry.id, member.id, text)
    ctx.reply("mod.reason_added", entry=entry.id)


def _count(value: int) -> object:
    """Small counts could point at a person: below 3 they show as "fewer than 3"."""
    return FEWER if value < 3 else value


@sub("stats", "mod.stats_usage")
def stats(ctx: Context, member: Member, rest: str) -> None:
    arg = rest.strip()
    if arg and not (arg.isascii() and arg.isdigit() and 1 <= int(arg) <= 365):
        usage(ctx, "stats")
        return
    days = int(arg) if arg else 30
    now = ctx.clock.now()
    found = ctx.uow.moderation.stats(member.group_id, now - timedelta(days=days))
    open_posts = len(ctx.uow.moderation.unanswered(member.group_id, now - timedelta(
        hours=ctx.config.bot.unanswered_hours), limit=1000))
    median = found["median_hours"]
    ctx.reply("mod.stats", period={"t": "mod.stats.period", "params": {"count": days}}, active=_count(found["active"]), posts=_count(found["posts"]),
              threads=_count(found["threads"]), unanswered=_count(open_posts),
              median=FEWER if found["answered"] < 3 or median is None else f"{median:.1f}")


@sub("invite", "mod.invite_usage")
def invite(ctx: Context, member: Member, rest: str) -> None:
    community_id, numbers = None, []
    for token in rest.split():
        if token.isascii() and token.isdigit() and len(numbers) < 2 and 0 < int(token) <= 10000:
            numbers.append(int(token))
            continue
        community = ctx.uow.groups.community(member.group_id, token.casefold())
        if community is None or community_id is not None:
            usage(ctx, "invite")
            return
        community_id = community.id
    code = ctx.uow.groups.new_invite(member.group_id, community_id)
    code.max_uses = numbers[0] if numbers else None
    days = numbers[1] if len(numbers) > 1 else None
    code.expires_at = ctx.clock.now() + timedelta(days=days) if days else None
    audit.record(ctx.uow, "mod.invite", group_id=member.group_id, actor_member_id=member.id,
                 target=f"invite:{code.id}")
    ctx.reply("mod.invite_made", code=code.code,
              uses={"t": "mod.invite_uses", "params": {"count": code.max_uses}} if code.max_uses
              else {"t": "mod.invite_unlimited"},
              until=local_time(ctx, code.expires_at) if code.expires_at else "-")


def _new_thread_post(ctx: Context, member: Member, text: str, pinned: bool):  # type: ignore[no-untyped-def]
    title, _, body = text.strip().partition("\n")
    title = " ".join(title.split())[:80]
    body = body.strip() or text.strip()
    thread = ctx.uow.threads.create(member.group_id, title, member.id)
    thread.pinned = pinned
    ctx.uow.threads.state(member.id, thread.id).follow = True
    post = ctx.uow.threads.add_post(thread, member.id, body, None, None)
    ctx.uow.threads.mark_read(member.id, thread.id, post.id)
    member.current_thread_id = thread.id
    return thread, post


@sub("topic", "mod.topic_usage")
def topic(ctx: Context, member: Member, rest: str) -> None:
    if not rest.strip():
        usage(ctx, "topic")
        return
    thread, post = _new_thread_post(ctx, member, rest, pinned=True)
    fan_out(ctx.uow, ctx, post, thread, exclude_person_id=ctx.person.id)
    link_topic(ctx.uow, member.group_id, thread.id, ctx.clock.now())     # the next café links it
    audit.record(ctx.uow, "mod.topic", group_id=member.group_id, actor_member_id=member.id,
                 target=audit.thread(thread.id))
    ctx.reply("mod.topic_made", thread=thread.id, title=thread.title)


@sub("announce", "mod.announce_usage")
def announce(ctx: Context, member: Member, rest: str) -> None:
    """To everyone in the group (not only followers), as a post: discreet readers get the
    neutral ping, quiet hours and breaks are respected."""
    if not rest.strip():
        usage(ctx, "announce")
        return
    thread, post = _new_thread_post(ctx, member, rest, pinned=False)
    now = ctx.clock.now()
    people: dict[int, object] = {}
    for m, person, _account in ctx.uow.threads.recipients(member.group_id, ctx.person.id):
        if person.notify != "off" and not ctx.uow.threads.paused_or_off(person, now):
            people[person.id] = person
    chosen = ctx.uow.moderation.delivery_accounts(set(people))
    ctx.uow.outbox.add_many([{"account_id": chosen[pid], "payload": {"mode": "fanout"}, "lane": BULK,
                              "kind": "post", "post_id": post.id,
                              "not_before": quiet_until(person, now, ctx.config.bot.timezone)}
                             for pid, person in people.items() if pid in chosen])
    audit.record(ctx.uow, "mod.announce", group_id=member.group_id, actor_member_id=member.id,
                 target=audit.thread(thread.id))
    ctx.reply("mod.announced", thread=thread.id, count=len(chosen))


RENDERERS = {queue.ALERT_KIND: queue.render_alert}
JOB_BUILDERS = [build_summary_job]
