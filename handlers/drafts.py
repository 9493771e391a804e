"""Drafts: texts kept back instead of published, and what the person does with them.

Every kind of kept-back text is a draft (storage/drafts_repo.py KINDS). Other features keep
one with ``keep_draft(ctx, member, body, kind, ...)``; the person lists them with ``drafts``,
publishes one with ``send <draft> [thread]`` and throws them away with ``discard``.
Drafts expire after ``privacy.draft_expiry_days`` (a scheduled job deletes the rows; listing
already hides expired ones, so expiry does not depend on when the job runs).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.router import Context, command
from bot.scheduler import runtime
from handlers.posting import MAX_POST, group_tag, parse_id, publish, visible_thread
from storage.models import Draft, Member
from storage.repo import UnitOfWork

PREVIEW = 60
CHUNK = 3500          # a long draft is shown in parts that fit one platform message


def draft_cutoff(ctx: Context) -> datetime:
    """Drafts created at or before this moment have expired."""
    return ctx.clock.now() - timedelta(days=ctx.config.privacy.draft_expiry_days)


def keep_draft(ctx: Context, member: Member, body: str, kind: str, *, thread_id: int | None = None,
               reply_to: int | None = None, title: str | None = None) -> Draft:
    """Keep ``body`` as a draft of ``member`` (no answer is sent: the caller says why)."""
    return ctx.uow.drafts.keep(member.id, body, kind, thread_id=thread_id, reply_to=reply_to, title=title)


def _my_member_ids(ctx: Context) -> list[int]:
    return [m.id for m in ctx.uow.members.of_person(ctx.person.id)]


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW else flat[:PREVIEW - 1].rstrip() + "…"


def _where(ctx: Context, draft: Draft) -> dict:
    if draft.thread_id is not None:
        thread = ctx.uow.threads.get(draft.thread_id)
        if thread is not None:
            return {"t": "draft.where_thread", "params": {"thread": thread.id, "title": thread.title}}
    if draft.title:
        return {"t": "draft.where_new", "params": {"title": draft.title}}
    return {"t": "draft.where_none"}


def _find(ctx: Context, token: str) -> Draft | None:
    draft_id = parse_id(token, "d")
    draft = ctx.uow.drafts.owned(_my_member_ids(ctx), draft_id, draft_cutoff(ctx)) if draft_id else None
    if draft is None:
        ctx.reply("draft.not_found", draft=token[:12] or "?")
    return draft


@command("drafts", group="threads", read_only=True)
def drafts(ctx: Context) -> None:
    if ctx.args.strip():
        draft = _find(ctx, ctx.args.strip().split()[0])
        if draft is not None:
            parts = [draft.body[i:i + CHUNK] for i in range(0, len(draft.body), CHUNK)] or [""]
            ctx.reply("draft.full", draft=draft.id, where=_where(ctx, draft), text=parts[0])
            for part in parts[1:]:
                ctx.reply("draft.part", text=part)
        return
    found = ctx.uow.drafts.of_members(_my_member_ids(ctx), draft_cutoff(ctx))
    if not found:
        ctx.reply("draft.none")
        return
    lines = []
    for draft in found:
        member = ctx.uow.members.get(draft.member_id)
        lines.append({"t": "draft.line", "params": {
            "draft": draft.id, "where": _where(ctx, draft), "preview": _preview(draft.body) or "–",
            "kind": {"t": f"draft.kind.{draft.kind}"},
            "group": group_tag(ctx.uow, ctx.person.id, member.group_id)}})
    ctx.reply("draft.list", count=len(found), lines=lines, days=ctx.config.privacy.draft_expiry_days)


@command("send", needs_member=True, group="threads")
def send(ctx: Context) -> None:
    tokens = ctx.args.split()
    thread_token = None
    if tokens and not tokens[0].startswith("#"):
        draft = _find(ctx, tokens[0])
        if draft is None:
            return
        thread_token = tokens[1] if len(tokens) > 1 else None
    else:
        thread_token = tokens[0] if tokens else None
        found = ctx.uow.drafts.of_members(_my_member_ids(ctx), draft_cutoff(ctx))
        if not found:
            ctx.reply("draft.none")
            return
        if len(found) > 1:
            ctx.reply("draft.choose", count=len(found))
            drafts(ctx)
            return
        draft = found[0]
    send_draft(ctx, draft, parse_id(thread_token, "t") if thread_token else None)


def send_draft(ctx: Context, draft: Draft, thread_id: int | None) -> None:
    """Publish a draft under the member it belongs to, in its own (or the given) thread."""
    member = ctx.uow.members.get(draft.member_id)
    if member is None or member.status != "active" or member.person_id != ctx.person.id:
        ctx.reply("draft.not_found", draft=draft.id)
        return
    ctx.person.current_member_id = member.id      # the draft's group and pseudonym
    if len(draft.body) > MAX_POST:
        ctx.reply("draft.still_too_long", draft=draft.id, length=len(draft.body), limit=MAX_POST)
        return
    if thread_id is None and draft.thread_id is None and draft.title:
        from handlers.threads import start_typed_thread     # the thread a flood limit held back
        body, title = draft.body, draft.title
        ctx.uow.drafts.drop(draft)
        start_typed_thread(ctx, title, body)
        return
    thread_id = thread_id if thread_id is not None else draft.thread_id
    if thread_id is None:
        ctx.reply("draft.which_thread", draft=draft.id)
        return
    thread = visible_thread(ctx, thread_id)
    if thread is None:
        ctx.reply("thread.not_found", thread=thread_id)
        return
    body, reply_to = draft.body, draft.reply_to_post_id
    ctx.uow.drafts.drop(draft)          # publish keeps a new draft if it is held back again
    publish(ctx, thread, body, reply_to=reply_to)


@command("discard", group="threads", needs_args=True)
def discard(ctx: Context) -> None:
    arg = ctx.args.strip().casefold()
    if not arg:
        ctx.usage()
        return
    if arg == "all":
        count = ctx.uow.drafts.drop_all(_my_member_ids(ctx))
        ctx.reply("draft.discarded_all", count=count)
        return
    draft = _find(ctx, arg.split()[0])
    if draft is not None:
        ctx.uow.drafts.drop(draft)
        ctx.reply("draft.discarded", draft=draft.id)


def purge_expired_drafts(uow: UnitOfWork, now: datetime, days: int) -> int:
    return uow.drafts.purge_created_before(now - timedelta(days=days))


async def purge_drafts_job(runtime_key: str) -> int:
    rt = runtime(runtime_key)
    return await rt.dbt.job(purge_expired_drafts, rt.clock.now(), rt.config.privacy.draft_expiry_days)


def build_drafts_job(scheduler: AsyncIOScheduler, key: str, uow: UnitOfWork) -> None:
    scheduler.add_job(purge_drafts_job, "interval", minutes=30, args=[key], id="expire-drafts",
                      replace_existing=True, coalesce=True, max_instances=1)


JOB_BUILDERS = [build_drafts_job]
