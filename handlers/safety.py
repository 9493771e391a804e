"""Safety: opening one post (the consultant's alert button) and the author's answers to the
disclosure question. The checks themselves live in ``moderation/``."""
from __future__ import annotations

from bot.router import Context, command
from handlers.posting import parse_id, visible_thread
from storage.repo import DIRECT


@command("open", needs_member=True, group="threads", needs_args=True)
def open_post(ctx: Context) -> None:
    """Show one post. Consultants also see posts held for them (a crisis hold)."""
    post_id = parse_id(ctx.args, "p")
    post = ctx.uow.threads.post(post_id) if post_id else None
    member = ctx.member
    thread = visible_thread(ctx, post.thread_id) if post is not None else None
    allowed = post is not None and thread is not None and (
        post.status in ("published", "deleted") or member.role == "consultant"
        or post.author_member_id == member.id)
    if not allowed:
        ctx.reply("post.not_found", post=post_id or ctx.args.strip()[:12])
        return
    if post.status == "held":
        ctx.reply("safety.open_held", post=post.id)
    ctx.uow.outbox.add(ctx.account.id, {"mode": "open"}, lane=DIRECT, kind="post", post_id=post.id)
