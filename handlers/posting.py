"""Publishing a post and fanning it out; edits and deletes reaching every copy; post rendering.

A post is stored once. The fan-out queues one outbox row per recipient account, holding
only the post id: the text each recipient sees is rendered when it is delivered.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import as_utc
from bot.events import Rendered
from bot.labels import author_label, groups_of, prefetch_authors, viewer_member_id
from bot.render import RenderContext
from bot.unicode_text import has_visible_text
from bot.router import Context
from moderation.alerts import answer_kept_text
from moderation.checks import Submission, screen
from moderation.disclosure import ANSWERED
from storage import post_changes
from storage.models import Group, Member, Person, Post, Thread
from storage.repo import Claimed, UnitOfWork
from storage.safety_repo import pending
from handlers.reveals_service import can_see_thread, closed_audience

MAX_POST = 4000
MAX_TITLE = 120


def parse_id(text: str, prefix: str) -> int | None:
    """Accept ``12``, ``#12`` (threads) and ``p12`` (posts)."""
    token = text.strip().split()[0] if text.strip() else ""
    token = token.lstrip("#")
    if token[:1].lower() == prefix and token[1:].isdigit():
        token = token[1:]
    if not (token.isascii() and token.isdigit()) or len(token) > 10:
        return None
    value = int(token)
    return value if value < 2**31 else None      # PostgreSQL integer range


def quiet_until(person: Person, now: datetime, tz: str) -> datetime | None:
    """When a delivery to this person may go out, if they are inside their quiet hours now."""
    if person.quiet_start is None or person.quiet_end is None:
        return None
    return quiet_wake(person.quiet_start, person.quiet_end, now, tz)


def quiet_wake(start: int, end: int, now: datetime, tz: str) -> datetime | None:
    """The end of quiet hours from ``start`` to ``end`` (minutes after local midnight), if
    ``now`` is inside them."""
    if start == end:
        return None
    local = now.astimezone(ZoneInfo(tz))
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    end_day = local.date() if minute < end else local.date() + timedelta(days=1)
    wake = datetime.combine(end_day, time(end // 60, end % 60), tzinfo=ZoneInfo(tz))
    return wake.astimezone(now.tzinfo)


def visible_thread(ctx: Context, thread_id: int | None) -> Thread | None:
    member = ctx.member
    if thread_id is None or member is None:
        return None
    thread = ctx.uow.threads.get(thread_id)
    return thread if can_see_thread(ctx.uow, member, thread) else None


def thread_and_member(ctx: Context, thread_id: int | None) -> tuple[Thread, Member] | None:
    """The thread, if the person may see it in any of their groups, and their membership there.

    A person in several groups has one pseudonym in each; a thread belongs to one group, so
    acting on it (reading, replying) is done under that group's pseudonym (the same rules
    as ``visible_thread``, applied as that member)."""
    thread = ctx.uow.threads.get(thread_id) if thread_id is not None else None
    if thread is None:
        return None
    current = ctx.member
    member = current if current is not None and current.group_id == thread.group_id else \
        ctx.uow.members.in_group(ctx.person.id, thread.group_id)
    if member is None or not member.pseudonym:
        return None
    saved = ctx.person.current_member_id
    ctx.person.current_member_id = member.id
    try:
        visible = visible_thread(ctx, thread.id)
    finally:
        ctx.person.current_member_id = saved
    return (visible, member) if visible is not None else None


def act_as(ctx: Context, member: Member) -> None:
    """From now on the person writes in ``member``'s group (plain text goes to its thread)."""
    ctx.person.current_member_id = member.id


def body_problem(body: str) -> str | None:
    if not has_visible_text(body):          # only spaces and zero-width characters
        return "post.empty"
    if len(body) > MAX_POST:
        return "post.too_long"
    return None


def group_tag(uow: UnitOfWork, person_id: int | None, group_id: int) -> dict | str:
    """" (ReConnect)" after a thread for someone in several groups; nothing for everyone else."""
    if person_id is None or len(uow.members.of_person(person_id)) < 2:
        return ""
    group = uow.groups.get(group_id)
    return {"t": "hard.group_tag", "params": {"group": group.name}} if group is not None else ""


def publish(ctx: Context, thread: Thread, body: str, reply_to: int | None = None,
            settled: frozenset[str] = frozenset()) -> Post | None:
    """Validate, run the safety checks, apply flood control, store and fan out.

    Returns the post, or None if held back. ``settled``: check kinds already answered for this
    text (the author chose "send anyway"), which are not asked again. Text held back for any
    reason but being empty is kept as a draft: nothing typed is lost."""
    member = ctx.member
    assert member is not None
    body = body.strip()
    correction = ctx.services.get("disclosure_correction")    # the author chose "edit" (handlers/safety.py)
    if not ctx.command and correction is not None and correction(ctx, body):
        return None
    problem = body_problem(body)
    if problem == "post.too_long":
        answer_kept_text(ctx, body)
        draft = ctx.uow.drafts.keep(member.id, body, "too_long", thread_id=thread.id, reply_to=reply_to)
        ctx.reply("draft.kept_too_long", limit=MAX_POST, length=len(body), draft=draft.id)
        return None
    if problem:
        ctx.reply(problem, limit=MAX_POST, count=len(body))
        return None
    if thread.locked and member.role != "consultant":
        ctx.reply("thread.locked", thread=thread.id)
        return None
    # Over the flood limit the text is kept, not screened: it is screened when it is sent.
    # Crisis language in it is answered now all the same (the answer says it was kept).
    limit = ctx.config.safety.posts_per_minute
    if ctx.uow.threads.recent_posts_by(member.id, ctx.clock.now() - timedelta(minutes=1)) >= limit:
        if ANSWERED not in settled:
            answer_kept_text(ctx, body)
        draft = ctx.uow.drafts.keep(member.id, body, "flood", thread_id=thread.id, reply_to=reply_to)
        ctx.reply("flood.slow_down", count=limit, draft=draft.id)
        return None
    screening = screen(Submission(ctx, body, thread, reply_to, skip=settled))
    if screening.stops:          # asked first, or kept as a draft (a mute): nothing is stored
        screening.settle(ctx, None)
        return None
    source = (ctx.account.id, ctx.event.platform_message_id) if ctx.event.platform_message_id else None
    status = "held" if screening.held else "published"
    post = ctx.uow.threads.add_post(thread, member.id, body, reply_to, source, status=status)
    ctx.uow.threads.mark_read(member.id, thread.id, post.id)
    member.current_thread_id = thread.id
    if status == "published":
        fan_out(ctx.uow, ctx, post, thread, exclude_person_id=ctx.person.id)
        ctx.reply("post.published", post=post.id, thread=thread.id, title=thread.title,
                  group=group_tag(ctx.uow, ctx.person.id, thread.group_id))
    screening.settle(ctx, post)
    return post if status == "published" else None


def fan_out(uow: UnitOfWork, ctx: Context, post: Post, thread: Thread, exclude_person_id: int | None) -> int:
    """Queue the post for every member who should be notified now (set-based, in the storage
    layer: storage/fanout_repo.py says who gets a copy). Returns rows queued."""
    now = ctx.clock.now()
    audience = closed_audience(uow, thread) if thread.closed else None
    tz = ctx.config.bot.timezone
    return uow.fanout.queue_post(post, thread, exclude_person_id, audience, now,
                                 lambda start, end: quiet_wake(start, end, now, tz))


def propagate(uow: UnitOfWork, post: Post, op: str) -> int:
    """Send an edit or a delete to every delivered copy of a post (unsent copies are cancelled
    on delete); the worker queues it for the copies right after (storage/post_changes.py)."""
    return post_changes.mark(uow.session, post, op)


def _group_for(rc: RenderContext, group_id: int) -> str:
    """" (ReConnect)" in a relayed post's header, for a recipient in several groups."""
    if len(_groups_of(rc)) < 2:
        return ""
    group = rc.get(Group, group_id)
    return rc.t("hard.group_tag", group=group.name) if group is not None else ""


def _groups_of(rc: RenderContext) -> set[int]:
    return groups_of(rc.uow, rc.cache, rc.person.id)


def _load_missing(cache: dict, model: type, ids, load) -> dict:  # type: ignore[no-untyped-def]
    """Rows of ``model`` by id that the batch's cache does not hold yet, loaded in one query
    (``load``: ids to rows) and kept there for RenderContext.get."""
    found = load({i for i in ids if i is not None and (model, i) not in cache})
    for key, row in found.items():
        cache[(model, key)] = row
    return found


def prefetch_posts(uow: UnitOfWork, items: list[Claimed], cache: dict) -> None:
    """Load what render_post looks up, for a whole batch at once: the posts (with the posts
    they answer), their threads, their authors and who sees each author's card. A page of
    ``read`` was 25 lookups, one row each; now it is five queries."""
    posts = _load_missing(cache, Post, (i.post_id for i in items), uow.threads.posts_by_ids)
    posts |= _load_missing(cache, Post, {p.reply_to_post_id for p in posts.values()}, uow.threads.posts_by_ids)
    _load_missing(cache, Thread, {p.thread_id for p in posts.values()}, uow.threads.by_ids)
    authors = _load_missing(cache, Member, {p.author_member_id for p in posts.values()}, uow.members.by_ids)
    prefetch_authors(uow, list(authors.values()), cache)


def render_post(rc: RenderContext, item: Claimed) -> Rendered | None:
    post = rc.get(Post, item.post_id)
    if post is None:
        return None
    mode = item.payload.get("mode", "fanout")
    if post.status in ("held", "hidden") and item.op == "send" and mode != "open":   # open: checked by /open
        return None
    thread = rc.get(Thread, post.thread_id)
    if thread.closed and item.op == "send" and not _may_see(rc, thread):
        return None       # queued before the reader lost access (a withdrawn reveal)
    if rc.person.discreet and mode == "fanout":
        several = len(_groups_of(rc)) > 1
        return Rendered(text=rc.t("hard.discreet_several" if several else "post.discreet", thread=thread.id))
    author = rc.get(Member, post.author_member_id)
    if post.status == "hidden":
        body = rc.t("post.hidden")
    elif post.body is None or post.status == "deleted":
        body = rc.t("post.removed")
    else:
        body = post.body
    lines = [rc.t("post.header", thread=thread.id, title=thread.title, post=post.id,
                  author=author_label(rc, author), group=_group_for(rc, thread.group_id))]
    if post.reply_to_post_id:
        target = rc.get(Post, post.reply_to_post_id)
        if target is not None:
            lines.append(rc.t("post.in_reply_to", post=target.id,
                              author=author_label(rc, rc.get(Member, target.author_member_id))))
    lines.append(body)
    if post.edited_at is not None and post.body is not None:
        lines.append(rc.t("post.edited"))
    return Rendered(text="\n".join(lines), shows_post=post.status == "published")


def _may_see(rc: RenderContext, thread: Thread) -> bool:
    viewer_id = viewer_member_id(rc.uow, rc.cache, rc.person.id, thread.group_id)
    return viewer_id is not None and can_see_thread(rc.uow, rc.get(Member, viewer_id), thread)


def own_post(ctx: Context, post_id: int | None) -> Post | None:
    """The member's own, not deleted post with this id, answering the member if it is not."""
    if post_id is None:          # no readable number: show how to write it
        ctx.usage()
        return None
    post = ctx.uow.threads.post(post_id)
    found = thread_and_member(ctx, post.thread_id) if post is not None else None
    if post is None or found is None:
        ctx.reply("post.not_found", post=post_id)
        return None
    member = found[1]            # the pseudonym of the post's group
    if post.author_member_id != member.id:
        ctx.reply("post.not_yours", post=post.id)
        return None
    if post.status == "deleted":
        ctx.reply("post.already_deleted", post=post.id)
        return None
    return post


def edit_post(ctx: Context, post: Post, body: str, settled: frozenset[str] = frozenset()) -> None:
    """Change a post's text on every copy, after the same checks as a new post."""
    body = body.strip()
    problem = body_problem(body)
    if problem:
        ctx.reply(problem, limit=MAX_POST, count=len(body))
        return
    if body == post.body:
        ctx.reply("post.unchanged", post=post.id)
        return
    thread = ctx.uow.threads.get(post.thread_id)
    screening = screen(Submission(ctx, body, thread, post.reply_to_post_id, edit_of=post, skip=settled))
    if screening.blocking is not None:       # asked first, or held: the copies keep the old text
        screening.settle(ctx, None)
        return
    post.body = body
    post.edited_at = ctx.clock.now()
    # An earlier edit still asked about is older than this text: "send anyway" on it must not
    # bring it back over the newer one.
    pending(ctx.uow).drop_for_post(post.id)
    copies = propagate(ctx.uow, post, "edit")
    _changed_reply(ctx, post, "post.edited_done", copies)
    screening.settle(ctx, post)


def delete_post(ctx: Context, post: Post) -> None:
    post.body = None
    post.status = "deleted"
    post.source_message_id = None
    copies = propagate(ctx.uow, post, "delete")
    _changed_reply(ctx, post, "post.deleted_done", copies)


def copies_out_of_reach(ctx: Context, post: Post) -> int | None:
    """The delivery retention in days, if the post is older: its first copies have no record
    left, so an edit, delete or hide does not reach them (and the answer should say so)."""
    days = ctx.config.privacy.delivery_retention_days
    return days if as_utc(post.created_at) < ctx.clock.now() - timedelta(days=days) else None


def _changed_reply(ctx: Context, post: Post, key: str, copies: int) -> None:
    days = copies_out_of_reach(ctx, post)
    if days is not None:
        ctx.reply(key + "_old", post=post.id, copies=copies, count=days)
    else:
        ctx.reply(key, post=post.id, copies=copies)


def post_from_reply(ctx: Context) -> Post | None:
    """The post behind the relayed message the person replied to, if any."""
    if not ctx.event.reply_to_message_id:
        return None
    delivery = ctx.uow.deliveries.by_message(ctx.account.id, ctx.event.reply_to_message_id)
    if delivery is None or delivery.post_id is None:
        return None
    return ctx.uow.threads.post(delivery.post_id)


def local_time(ctx: Context, when: datetime) -> str:
    return as_utc(when).astimezone(ZoneInfo(ctx.config.bot.timezone)).strftime("%Y-%m-%d %H:%M")

