"""The anonymous forum: threads, new, read, more, reply, plain text, edit, delete, send, report."""
from __future__ import annotations

from datetime import timedelta

from bot.unicode_text import strip_invisible
from bot.router import Context, command, on_edit, on_reply, on_text, parse_command
from handlers.posting import (
    MAX_TITLE, act_as, delete_post, group_tag, thread_and_member, edit_post, own_post, parse_id, post_from_reply, prefetch_posts, publish, render_post,
    visible_thread,
)
from moderation import queue as mod_queue
from moderation.alerts import answer_kept_text
from handlers.reveals_service import on_start_over, visible_closed_ids
from storage.models import Member
from storage.repo import DIRECT

PAGE = 5


def split_id(text: str, prefix: str) -> tuple[int | None, str]:
    """Split ``<id> <rest>`` (``#3 text``, ``p12 text``; the rest may span lines)."""
    parts = text.strip().split(None, 1)
    if not parts:
        return None, ""
    return parse_id(parts[0], prefix), parts[1].strip() if len(parts) > 1 else ""



def _need_thread(ctx: Context, thread_id: int | None):  # type: ignore[no-untyped-def]
    """The thread, in any of the person's groups; acting on it switches to that group's
    pseudonym (so plain text afterwards goes to it, with its group)."""
    if thread_id is None:        # no readable number: show how to write it
        ctx.usage()
        return None
    found = thread_and_member(ctx, thread_id)
    if found is None:
        ctx.reply("thread.not_found", thread=thread_id)
        return None
    act_as(ctx, found[1])
    return found[0]


LIST_LIMIT = 30     # threads shown by /threads (the newest activity; pinned ones first)


@command("threads", needs_member=True, group="threads", read_only=True)
def threads(ctx: Context) -> None:
    # Someone in several groups sees the threads of each, marked with the group, in that
    # order, up to LIST_LIMIT in all: only the threads shown are counted (storage/threads_repo.py).
    members = [m for m in ctx.uow.members.of_person(ctx.person.id) if m.pseudonym] or [ctx.member]
    summaries = []
    for member in members:
        room = LIST_LIMIT - len(summaries)
        if room <= 0:
            break
        tag = group_tag(ctx.uow, ctx.person.id, member.group_id) if len(members) > 1 else ""
        page = ctx.uow.threads.summaries(member.group_id, member.id, visible_closed_ids(ctx.uow, member), limit=room)
        summaries += [(s, tag) for s in page]
    if not summaries:
        ctx.reply("thread.none")
        return
    lines = [{"t": "thread.line", "params": {
        "thread": s.thread.id, "title": s.thread.title, "group": tag,
        "posts": {"t": "thread.posts_count", "params": {"count": s.posts}},
        "unread": {"t": "thread.unread_count", "params": {"count": s.unread}},
        "pin": "📌 " if s.thread.pinned else "", "lock": " 🔒" if s.thread.locked else ""}}
        for s, tag in summaries]
    ctx.reply("thread.list", lines=lines)


CLOSED_WORD = "closed"


def is_closed_request(title: str) -> bool:
    """``new closed <title>``: the lower-case keyword alone, so that a title that merely
    starts with the word ("Closed doors and anxiety") is an ordinary open thread."""
    first, _, rest = title.partition(" ")
    return first == CLOSED_WORD and bool(rest.strip())


@command("new", needs_member=True, group="threads", needs_args=True)
def new(ctx: Context) -> None:
    title, _, body = ctx.args.strip().partition("\n")
    title = " ".join(strip_invisible(title).split())      # a title of zero-width characters is no title
    if is_closed_request(title):
        start_typed_thread(ctx, title, body)
        return
    if not title:
        ctx.reply("thread.new_usage")
        return
    if len(title) > MAX_TITLE:
        ctx.reply("thread.title_too_long", limit=MAX_TITLE, count=len(title))
        return
    start_thread(ctx, title, body)


def start_typed_thread(ctx: Context, typed: str, body: str, settled: frozenset[str] = frozenset()) -> None:
    """A thread as its title was typed after ``new``: "closed <title>" is a closed thread. A
    draft of a new thread (asked about, or held by the flood limit) keeps the title so typed,
    so that sending it later makes the same kind of thread."""
    if is_closed_request(typed) and "new_closed" in ctx.services:
        ctx.services["new_closed"](ctx, typed[len(CLOSED_WORD):].strip(), body, settled)
        return
    start_thread(ctx, typed, body, settled)


def start_thread(ctx: Context, title: str, body: str, settled: frozenset[str] = frozenset()) -> None:
    """Create a thread (rate-limited like posts: the text is kept as a draft when over the limit).
    ``settled``: safety checks the author already answered for this title and text."""
    member = ctx.member
    limit = ctx.config.safety.threads_per_hour
    if ctx.uow.threads.recent_threads_by(member.id, ctx.clock.now() - timedelta(hours=1)) >= limit:
        answer_kept_text(ctx, f"{title}\n{body}")
        draft = ctx.uow.drafts.keep(member.id, body.strip(), "thread_flood", title=title)
        ctx.reply("draft.thread_flood", limit=limit, draft=draft.id)
        return
    # The title is published too: crisis language in it is answered, and a detail that could
    # identify the author is asked about before the thread exists (handlers/safety.py).
    title_check = ctx.services.get("title_check")
    if title_check is not None and not title_check(ctx, title, body, settled):
        return
    thread = ctx.uow.threads.create(member.group_id, title, member.id)
    ctx.uow.threads.state(member.id, thread.id).follow = True
    member.current_thread_id = thread.id
    group = group_tag(ctx.uow, ctx.person.id, member.group_id)
    if body.strip():
        ctx.reply("thread.created", thread=thread.id, title=title, group=group)
        publish(ctx, thread, body, settled=settled)
    else:
        ctx.reply("thread.created_wait", thread=thread.id, title=title, group=group)


def show_page(ctx: Context, member: Member, thread_id: int, before: int | None) -> None:
    thread = ctx.uow.threads.get(thread_id)
    posts = ctx.uow.threads.page(thread_id, before, PAGE)
    total = ctx.uow.threads.count_posts(thread_id)
    state = ctx.uow.threads.state(member.id, thread_id)
    if not posts:
        ctx.reply("thread.no_more" if before else "thread.empty", thread=thread_id, title=thread.title)
        return
    state.page_before = posts[0].id
    earlier = len(ctx.uow.threads.page(thread_id, posts[0].id, 1)) > 0
    ctx.reply("thread.reading", thread=thread_id, title=thread.title,
              group=group_tag(ctx.uow, ctx.person.id, thread.group_id),
              total={"t": "thread.posts_count", "params": {"count": total}},
              more={"t": "thread.more_hint"} if earlier else "")
    if "thread_header" in ctx.services:
        ctx.services["thread_header"](ctx, thread)       # e.g. the café a reflection thread is for
    for post in posts:
        ctx.uow.outbox.add(ctx.account.id, {"mode": "read"}, lane=DIRECT, kind="post", post_id=post.id)
    ctx.uow.threads.mark_read(member.id, thread_id, ctx.uow.threads.latest_post_id(thread_id))


@command("read", needs_member=True, group="threads", needs_args=True)
def read(ctx: Context) -> None:
    thread = _need_thread(ctx, parse_id(ctx.args, "t"))
    if thread is None:
        return
    ctx.member.current_thread_id = thread.id
    show_page(ctx, ctx.member, thread.id, None)


@command("more", needs_member=True, group="threads")
def more(ctx: Context) -> None:
    member = ctx.member
    thread = visible_thread(ctx, member.current_thread_id)
    if thread is None:
        ctx.reply("thread.no_current")
        return
    before = ctx.uow.threads.state(member.id, thread.id).page_before
    show_page(ctx, member, thread.id, before)


@command("reply", needs_member=True, group="threads", needs_args=True)
def reply(ctx: Context) -> None:
    thread_id, body = split_id(ctx.args, "t")
    if thread_id is None:
        ctx.reply("thread.reply_usage")
        return
    thread = _need_thread(ctx, thread_id)
    if thread is not None:
        publish(ctx, thread, body)


@on_text
def plain_text(ctx: Context) -> None:
    member = ctx.member
    if member is None or not member.pseudonym:
        from handlers.onboarding import next_step
        next_step(ctx)
        return
    thread = visible_thread(ctx, member.current_thread_id)
    if thread is None:
        answer_kept_text(ctx, ctx.args)          # before the question: the answer comes first
        draft = ctx.uow.drafts.keep(member.id, ctx.args.strip(), "no_thread")
        ctx.reply("thread.which", draft=draft.id)
        threads(ctx)
        return
    publish(ctx, thread, ctx.args)


@on_reply
def platform_reply(ctx: Context) -> None:
    """A reply (the platform's feature) goes to the replied post's thread, in that post's
    group, under the pseudonym of that group. When that cannot be told, the text is kept
    as a draft and the person asked: a guess could publish it in the wrong group."""
    member = ctx.member
    post = post_from_reply(ctx) if member is not None else None
    if post is None and (member is None or len(ctx.uow.members.of_person(ctx.person.id)) < 2):
        plain_text(ctx)          # one group: a reply to an answer is plain text in it
        return
    found = thread_and_member(ctx, post.thread_id) if post is not None else None
    if found is None:
        answer_kept_text(ctx, ctx.args)
        draft = ctx.uow.drafts.keep(member.id, ctx.args.strip(), "unsure")
        ctx.reply("hard.reply_unsure", draft=draft.id)
        return
    act_as(ctx, found[1])
    publish(ctx, found[0], ctx.args, reply_to=post.id)


@on_edit
def platform_edit(ctx: Context) -> None:
    """The person edited a message they sent: if it became a post, edit the post."""
    post = None
    if ctx.event.platform_message_id and ctx.member is not None:
        post = ctx.uow.threads.post_by_source(ctx.account.id, ctx.event.platform_message_id)
    waiting = ctx.services.get("waiting_edit")     # a text still asked about (handlers/safety.py)
    if post is None and waiting is not None and ctx.member is not None and waiting(ctx):
        return
    if post is None or post.author_member_id != ctx.member.id or post.status == "deleted":
        ctx.reply("input.edit_ignored")
        return
    text = ctx.args
    parsed = parse_command(text)
    if parsed is not None:
        name, args = parsed
        if name == "reply":
            text = split_id(args, "t")[1]
        elif name == "new":
            text = args.partition("\n")[2]
    edit_post(ctx, post, text)


@command("edit", needs_member=True, group="threads")
def edit(ctx: Context) -> None:
    replied = post_from_reply(ctx)
    if replied is not None:
        post_id, body = replied.id, ctx.args
    else:
        post_id, body = split_id(ctx.args, "p")
    if post_id is None:
        ctx.reply("post.edit_usage")
        return
    post = own_post(ctx, post_id)
    if post is not None:
        edit_post(ctx, post, body)


@command("delete", needs_member=True, group="threads")
def delete(ctx: Context) -> None:
    replied = post_from_reply(ctx)
    post_id = replied.id if replied is not None else parse_id(ctx.args, "p")
    if post_id is None:
        ctx.reply("post.delete_usage")
        return
    post = own_post(ctx, post_id)
    if post is not None:
        delete_post(ctx, post)


@command("report", needs_member=True, group="threads")
def report(ctx: Context) -> None:
    replied = post_from_reply(ctx)
    if replied is not None:
        post_id, reason = replied.id, ctx.args.strip()
    else:
        post_id, reason = split_id(ctx.args, "p")
    if post_id is None:
        ctx.usage()
        return
    post = ctx.uow.threads.post(post_id)
    found = thread_and_member(ctx, post.thread_id) if post is not None else None
    if post is None or found is None:
        ctx.reply("post.not_found", post=post_id)
        return
    member = found[1]            # the reporter's membership in the post's group
    report = ctx.uow.threads.add_report(post.id, member.id, reason[:1000] or None)
    # Neither the audit row nor the queue item names the reporter.
    ctx.uow.audit.add("report_post", group_id=member.group_id, target=f"post:{post.id}")
    mod_queue.add_item(ctx.uow, member.group_id, "report", post_id=post.id, report_id=report.id,
                       body=reason[:1000] or None)
    ctx.reply("report.thanks", post=post.id)


def start_over(ctx: Context, old: Member) -> Member:
    """``name --fresh``: a new member row; the old one keeps its pseudonym and loses its owner."""
    uow = ctx.uow
    new_member = uow.members.add(ctx.person.id, old.group_id, old.role, old.community_id)
    uow.threads.start_over(old.id, new_member.id)
    uow.threads.forget_sources(old.id)
    uow.threads.forget_copies_to(old.id, [a.id for a in uow.accounts.for_person(ctx.person.id)])
    uow.outbox.purge_done(ctx.account.person_id)
    old.person_id = None
    old.status = "retired"
    old.current_thread_id = None
    ctx.person.current_member_id = new_member.id
    on_start_over(uow, old, new_member)
    return new_member


RENDERERS = {"post": render_post}
PREFETCHERS = {"post": prefetch_posts}
SERVICES = {"start_over": start_over}
