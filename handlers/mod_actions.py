"""The consultant acting on posts, threads and members: hide, lock, pin, approve, warn, ban …

Each action is an audit row (with its reason) and the member concerned is told privately
what happened and why, never who reported.
"""
from __future__ import annotations

from bot.router import Context
from handlers.mod_common import (
    duration_hours, member_and_rest, post_in_group, reason_of, split_first, sub, thread_in_group, usage,
)
from handlers.posting import copies_out_of_reach, fan_out, propagate
from moderation import audit, sanctions
from moderation.sanctions import tell_person
from storage.models import Member, Post


def _close_items(ctx: Context, member: Member, post: Post) -> None:
    """An action on a post settles the reports and holds waiting on it."""
    for item in ctx.uow.moderation.open_for_post(post.id):
        ctx.uow.moderation.close(item, member.id, None)


def _author(ctx: Context, post: Post) -> Member | None:
    return ctx.uow.members.get(post.author_member_id)


@sub("hide", "mod.hide_usage")
def hide(ctx: Context, member: Member, rest: str) -> None:
    token, why = split_first(rest)
    if not token or not why:
        usage(ctx, "hide")
        return
    post = post_in_group(ctx, member, token)
    if post is None:
        return
    if post.status != "published":
        ctx.reply("mod.not_published", post=post.id)
        return
    text = post.body or ""
    post.status = "hidden"
    copies = propagate(ctx.uow, post, "edit")
    _close_items(ctx, member, post)
    entry = audit.record(ctx.uow, "mod.hide", group_id=member.group_id, actor_member_id=member.id,
                         target=audit.post(post.id), reason=why)
    author = _author(ctx, post)
    tell_person(ctx.uow, author.person_id if author else None, "mod.notice.hidden", post=post.id,
                reason=reason_of(why), text=text)
    ctx.reply("mod.hidden", post=post.id, copies=copies, entry=entry)
    _old_copies_note(ctx, post)


def _old_copies_note(ctx: Context, post: Post) -> None:
    days = copies_out_of_reach(ctx, post)
    if days is not None:
        ctx.reply("mod.old_copies", post=post.id, count=days)


@sub("unhide", "mod.unhide_usage")
def unhide(ctx: Context, member: Member, rest: str) -> None:
    if not rest.strip():
        usage(ctx, "unhide")
        return
    post = post_in_group(ctx, member, rest)
    if post is None:
        return
    if post.status != "hidden":
        ctx.reply("mod.not_hidden", post=post.id)
        return
    post.status = "published"
    copies = propagate(ctx.uow, post, "edit")
    entry = audit.record(ctx.uow, "mod.unhide", group_id=member.group_id, actor_member_id=member.id,
                         target=audit.post(post.id))
    author = _author(ctx, post)
    tell_person(ctx.uow, author.person_id if author else None, "mod.notice.unhidden", post=post.id)
    ctx.reply("mod.unhidden", post=post.id, copies=copies, entry=entry)
    _old_copies_note(ctx, post)


def _thread_flag(ctx: Context, member: Member, rest: str, name: str, flag: str, value: bool) -> None:
    if not rest.strip():
        usage(ctx, name)
        return
    thread = thread_in_group(ctx, member, rest)
    if thread is None:
        return
    setattr(thread, flag, value)
    entry = audit.record(ctx.uow, f"mod.{name}", group_id=member.group_id, actor_member_id=member.id,
                         target=audit.thread(thread.id), reason=split_first(rest)[1] or None)
    ctx.reply(f"mod.{name}_done", thread=thread.id, title=thread.title, entry=entry)


@sub("lock", "mod.lock_usage")
def lock(ctx: Context, member: Member, rest: str) -> None:
    _thread_flag(ctx, member, rest, "lock", "locked", True)


@sub("unlock", "mod.unlock_usage")
def unlock(ctx: Context, member: Member, rest: str) -> None:
    _thread_flag(ctx, member, rest, "unlock", "locked", False)


@sub("pin", "mod.pin_usage")
def pin(ctx: Context, member: Member, rest: str) -> None:
    _thread_flag(ctx, member, rest, "pin", "pinned", True)


@sub("unpin", "mod.unpin_usage")
def unpin(ctx: Context, member: Member, rest: str) -> None:
    _thread_flag(ctx, member, rest, "unpin", "pinned", False)


@sub("approve", "mod.approve_usage")
def approve(ctx: Context, member: Member, rest: str) -> None:
    if not rest.strip():
        usage(ctx, "approve")
        return
    post = post_in_group(ctx, member, rest)
    if post is None:
        return
    if post.status != "held":
        ctx.reply("mod.not_held", post=post.id)
        return
    thread = ctx.uow.threads.get(post.thread_id)
    post.status = "published"
    thread.last_activity_at = ctx.clock.now()
    author = _author(ctx, post)
    fan_out(ctx.uow, ctx, post, thread, exclude_person_id=author.person_id if author else None)
    _close_items(ctx, member, post)
    entry = audit.record(ctx.uow, "mod.approve", group_id=member.group_id, actor_member_id=member.id,
                         target=audit.post(post.id))
    tell_person(ctx.uow, author.person_id if author else None, "mod.notice.approved", post=post.id,
                thread=thread.id, title=thread.title)
    ctx.reply("mod.approved", post=post.id, entry=entry)


@sub("reject", "mod.reject_usage")
def reject(ctx: Context, member: Member, rest: str) -> None:
    token, why = split_first(rest)
    if not token or not why:
        usage(ctx, "reject")
        return
    post = post_in_group(ctx, member, token)
    if post is None:
        return
    if post.status != "held":
        ctx.reply("mod.not_held", post=post.id)
        return
    text = post.body or ""
    post.body = None          # never published: the author gets the text back in the notice
    post.status = "rejected"
    _close_items(ctx, member, post)
    entry = audit.record(ctx.uow, "mod.reject", group_id=member.group_id, actor_member_id=member.id,
                         target=audit.post(post.id), reason=why)
    author = _author(ctx, post)
    tell_person(ctx.uow, author.person_id if author else None, "mod.notice.rejected", post=post.id,
                reason=reason_of(why), text=text)
    ctx.reply("mod.rejected", post=post.id, entry=entry)


def _target_member(ctx: Context, member: Member, rest: str, name: str, need_reason: bool = True
                   ) -> tuple[Member | None, str]:
    if not rest.strip():
        usage(ctx, name)
        return None, ""
    target, tail = member_and_rest(ctx, member.group_id, rest)
    if target is None:
        ctx.reply("mod.no_target")
        return None, ""
    if need_reason and not tail.strip():
        usage(ctx, name)
        return None, ""
    if target.id == member.id or target.role == "consultant":
        ctx.reply("mod.not_on_consultant")
        return None, ""
    return target, tail


@sub("warn", "mod.warn_usage")
def warn(ctx: Context, member: Member, rest: str) -> None:
    target, why = _target_member(ctx, member, rest, "warn")
    if target is None:
        return
    result = sanctions.warn(ctx.uow, ctx.config, member, target, reason_of(why), ctx.config.bot.timezone)
    ctx.reply("mod.warned", name=target.pseudonym, level=result.level, entry=result.entry,
              mute={"t": "mod.warned_mute", "params": {"until": sanctions.local_fmt(
                  result.mute_until, ctx.config.bot.timezone)}} if result.mute_until else "",
              queued={"t": "mod.warned_queued"} if result.queued else "")


@sub("mute", "mod.mute_usage")
def mute(ctx: Context, member: Member, rest: str) -> None:
    target, tail = _target_member(ctx, member, rest, "mute")
    if target is None:
        return
    token, why = split_first(tail)
    hours = duration_hours(token)
    if hours is None or not why:
        usage(ctx, "mute")
        return
    until = sanctions.mute(ctx.uow, member, target, hours, reason_of(why), ctx.config.bot.timezone)
    ctx.reply("mod.muted", name=target.pseudonym, until=sanctions.local_fmt(until, ctx.config.bot.timezone))


@sub("unmute", "mod.unmute_usage")
def unmute(ctx: Context, member: Member, rest: str) -> None:
    target, _ = _target_member(ctx, member, rest, "unmute", need_reason=False)
    if target is None:
        return
    lifted = sanctions.unmute(ctx.uow, member, target)
    ctx.reply("mod.unmuted" if lifted else "mod.not_muted", name=target.pseudonym)


@sub("remove", "mod.remove_usage")
def remove(ctx: Context, member: Member, rest: str) -> None:
    target, why = _target_member(ctx, member, rest, "remove")
    if target is None:
        return
    sanctions.end_membership(ctx.uow, member, target, "remove", reason_of(why))
    ctx.reply("mod.removed", name=target.pseudonym)


@sub("ban", "mod.ban_usage")
def ban(ctx: Context, member: Member, rest: str) -> None:
    target, why = _target_member(ctx, member, rest, "ban")
    if target is None:
        return
    sanctions.end_membership(ctx.uow, member, target, "ban", reason_of(why))
    ctx.reply("mod.banned", name=target.pseudonym)
