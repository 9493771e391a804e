"""Safety: opening one post (the consultant's alert button) and the author's answers to the
disclosure question. The checks themselves live in ``moderation/``."""
from __future__ import annotations

import logging

from bot.clock import as_utc
from bot.router import Context, command, parse_command
from bot.unicode_text import strip_invisible
from handlers.drafts import draft_cutoff
from handlers.posting import MAX_TITLE, edit_post, parse_id, publish, visible_thread
from moderation.disclosure import (ANSWERED, MAX_QUOTED, answer_buttons, edit_target, findings, settled_for,
                                   source_of)
from moderation.alerts import crisis_answer, raise_alert
from moderation.crisis import combined_tier, extra_words
from storage.models import Draft
from storage.models_safety import DisclosurePending
from storage.repo import DIRECT
from storage.safety_repo import pending

log = logging.getLogger(__name__)


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


# --- the author's answers to the disclosure question ---------------------------------------------
# The question (moderation/disclosure.py) offers three buttons; each is also a typed command:
# /anyway d3 (send as written), /fix d3 [corrected text] (without the text: the next message is
# the correction), /cancel d3 (nothing is shared, nothing is kept). Without a draft number they
# act on the newest waiting text.

def _member_ids(ctx: Context) -> list[int]:
    return [m.id for m in ctx.uow.members.of_person(ctx.person.id)]


def _waiting(ctx: Context) -> tuple[DisclosurePending, Draft] | None:
    cutoff = draft_cutoff(ctx)
    rows = [(p, d) for p, d in pending(ctx.uow).of_members(_member_ids(ctx))
            if as_utc(d.created_at) > as_utc(cutoff)]
    token = ctx.args.strip().split()[0] if ctx.args.strip() else ""
    if token and parse_id(token, "d") is not None:
        wanted = parse_id(token, "d")
        rows = [(p, d) for p, d in rows if d.id == wanted]
    if not rows:
        ctx.reply("safety.nothing_waiting")
        return None
    return rows[-1]


def _rest(ctx: Context) -> str:
    """The text after the draft number: ``/fix d3 new text`` -> ``new text``."""
    parts = ctx.args.strip().split(None, 1)
    if parts and parse_id(parts[0], "d") is not None:
        return parts[1] if len(parts) > 1 else ""
    return ctx.args.strip()


def _resolve(ctx: Context, row: DisclosurePending, draft: Draft, body: str, settled: frozenset[str]) -> None:
    """Publish ``body`` in the waiting text's place (a new post, or the edit of its post)."""
    member = ctx.uow.members.get(draft.member_id)
    if member is None or member.status != "active" or member.person_id != ctx.person.id:
        ctx.reply("safety.nothing_waiting")
        return
    ctx.person.current_member_id = member.id        # the draft's group and pseudonym
    ctx.command = ctx.command or "fix"              # publish must not take this as a correction
    if row.edit_post_id is not None:
        post = edit_target(ctx, row.edit_post_id)
        if post is None or post.author_member_id != member.id:
            pending(ctx.uow).forget(draft.id)
            draft.kind = "kept"
            ctx.reply("safety.post_gone", post=row.edit_post_id, draft=draft.id)
            return
        pending(ctx.uow).forget(draft.id)
        ctx.uow.drafts.drop(draft)
        edit_post(ctx, post, body, settled=settled)
        return
    if draft.thread_id is None and draft.title:          # a new thread asked about: title and first post
        _resolve_new(ctx, draft, body, settled)
        return
    thread = visible_thread(ctx, draft.thread_id)
    if thread is None:
        pending(ctx.uow).forget(draft.id)
        draft.kind = "kept"
        ctx.reply("draft.which_thread", draft=draft.id)
        return
    reply_to = draft.reply_to_post_id
    pending(ctx.uow).forget(draft.id)
    ctx.uow.drafts.drop(draft)       # publish keeps a new draft if it is held back again
    publish(ctx, thread, body, reply_to=reply_to, settled=settled)


def _resolve_new(ctx: Context, draft: Draft, body: str, settled: frozenset[str]) -> None:
    """"send anyway" keeps title and post; a correction is typed as /new is: the title on the
    first line, the post below it."""
    from handlers.threads import CLOSED_WORD, is_closed_request, start_typed_thread   # threads imports posting
    title = draft.title or ""
    closed = is_closed_request(title)                  # "new closed …": the correction stays closed
    if "disclosure" not in settled:
        first, _, body = body.strip().partition("\n")
        title = " ".join(strip_invisible(first).split())
        bare = title[len(CLOSED_WORD):].strip() if is_closed_request(title) else title
        if not bare or len(bare) > MAX_TITLE:
            ctx.reply("thread.title_too_long" if bare else "thread.new_usage", limit=MAX_TITLE, count=len(bare))
            return                                     # still waiting: the next text is the correction
        title = f"{CLOSED_WORD} {bare}" if closed else title
    pending(ctx.uow).forget(draft.id)
    ctx.uow.drafts.drop(draft)
    start_typed_thread(ctx, title, body, settled=settled)


@command("anyway", group="threads")
def send_anyway(ctx: Context) -> None:
    found = _waiting(ctx)
    if found is not None:
        row, draft = found
        _resolve(ctx, row, draft, draft.body, settled_for(row.crisis_answered))


@command("fix", group="threads")
def fix(ctx: Context) -> None:
    found = _waiting(ctx)
    if found is None:
        return
    row, draft = found
    text = _rest(ctx)
    if text.strip():
        _resolve(ctx, row, draft, text, settled_for(row.crisis_answered) - {"disclosure"})
        return
    pending(ctx.uow).await_fix(_member_ids(ctx), draft.id)
    if draft.thread_id is None and draft.title:
        ctx.reply("safety.fix_prompt_title", draft=draft.id, title=draft.title, text=draft.body)
    else:
        ctx.reply("safety.fix_prompt", draft=draft.id, text=draft.body)


@command("cancel", group="threads")
def cancel(ctx: Context) -> None:
    found = _waiting(ctx)
    if found is None:
        return
    row, draft = found
    pending(ctx.uow).forget(draft.id)
    ctx.uow.drafts.drop(draft)
    if row.edit_post_id is not None:
        ctx.reply("safety.cancelled_edit", post=row.edit_post_id)
    else:
        ctx.reply("safety.cancelled")


# The choices typed as plain words (either language), as someone reading the question might
# answer it: "cancel", "send anyway", "avbryt". Only while a question waits; they are never
# published as a post in that moment (a lone "cancel" in a thread would be a mistake anyway).
_CHOICE_WORDS = {
    "anyway": ("send anyway", "send it anyway", "anyway", "send likevel", "send det likevel", "send den likevel",
               "likevel"),
    "fix": ("edit", "edit it", "fix", "rediger", "endre", "skriv om"),
    "cancel": ("cancel", "don't send", "dont send", "do not send", "avbryt", "ikke send", "slett"),
}
_CHOICES = {word: choice for choice, words in _CHOICE_WORDS.items() for word in words}


def _typed_choice(body: str) -> str | None:
    words = " ".join(body.casefold().replace("’", "'").strip(" .!?\n\t").split())
    return _CHOICES.get(words)


def take_correction(ctx: Context, body: str) -> bool:
    """Plain text while the disclosure question waits: a choice typed as a word ("cancel"),
    or, right after "edit" was chosen, the corrected text (publish asks first)."""
    choice = _typed_choice(body)
    cutoff = as_utc(draft_cutoff(ctx))
    live = [d for _, d in pending(ctx.uow).of_members(_member_ids(ctx)) if as_utc(d.created_at) > cutoff]
    if choice is not None and live:
        ctx.command, ctx.args = choice, ""
        {"anyway": send_anyway, "fix": fix, "cancel": cancel}[choice](ctx)
        return True
    found = pending(ctx.uow).awaiting_fix(_member_ids(ctx))
    if found is None:
        return False
    row, draft = found
    if as_utc(draft.created_at) <= as_utc(draft_cutoff(ctx)):
        return False
    _resolve(ctx, row, draft, body, settled_for(row.crisis_answered) - {"disclosure"})
    return True


def title_check(ctx: Context, title: str, body: str, settled: frozenset[str] = frozenset(),
                closed: bool = False) -> bool:
    """Before a thread is created: a title is published too. Crisis language in it gets the same
    private answer and alert as in a post (once: a first post that says it as well is answered by
    its own check), and a detail that could identify someone in the title (or its first post) is
    asked about first, as in a post: title and post wait together as one draft. False: not now."""
    words = extra_words(ctx)
    title_crisis = combined_tier(title, words) == 2
    body_crisis = bool(body.strip()) and combined_tier(body, words) == 2
    member = ctx.member
    skip = "disclosure" in settled or (member.role == "consultant" and ctx.config.safety.disclosure_skip_consultants)
    found = [] if skip else findings(ctx, title) + findings(ctx, body)
    answered = ANSWERED in settled
    if not answered and (title_crisis or body_crisis) and (found or not body_crisis):
        # asked first: the post's own check does not run yet, so the answer goes out now
        key, params = crisis_answer(ctx, held=False, kept=bool(found))
        ctx.reply(key, **params)
        raise_alert(ctx, None, "crisis", f"{title}\n{body}".strip())
        answered = True
    if not found:
        return True
    log.info("check fired: disclosure ask (title)")
    from handlers.threads import CLOSED_WORD
    typed = f"{CLOSED_WORD} {title}" if closed else title       # as typed: sending it makes the same thread
    draft = ctx.uow.drafts.keep(member.id, body.strip(), "disclosure", title=typed)
    pending(ctx.uow).add(draft, None, answered, source_of(ctx))
    quoted = tuple(dict.fromkeys(f.text for f in found))[:MAX_QUOTED]
    lines = [{"t": "safety.quote_line", "params": {"text": part}} for part in quoted]
    ctx.reply("safety.disclosure_ask", lines=lines, draft=draft.id, post=0, buttons=answer_buttons(draft.id))
    return False


def waiting_edit(ctx: Context) -> bool:
    """The author edited, on the platform, the message whose text is being asked about: the
    edited text is the correction (checked again: published if clean, else asked again)."""
    message_id = ctx.event.platform_message_id
    found = pending(ctx.uow).by_source(ctx.account.id, message_id) if message_id else None
    if found is None or as_utc(found[1].created_at) <= as_utc(draft_cutoff(ctx)):
        return False
    row, draft = found
    text = ctx.args
    parsed = parse_command(text)
    if parsed is not None:                  # the message was "/reply 3 …", "/new title\n…", "/edit p5 …"
        name, args = parsed
        if name in ("reply", "edit"):
            text = args.strip().split(None, 1)[1] if len(args.strip().split(None, 1)) > 1 else ""
        elif name == "new" and draft.thread_id is None and draft.title:
            text = args
        elif name == "new":
            text = args.partition("\n")[2]
    ctx.command = "fix"
    _resolve(ctx, row, draft, text, settled_for(row.crisis_answered) - {"disclosure"})
    return True


SERVICES = {"disclosure_correction": take_correction, "title_check": title_check, "waiting_edit": waiting_edit}
