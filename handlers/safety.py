"""Safety: opening one post (the consultant's alert button) and the author's answers to the
disclosure question. The checks themselves live in ``moderation/``."""
from __future__ import annotations

from bot.clock import as_utc
from bot.router import Context, command
from handlers.drafts import draft_cutoff
from handlers.posting import edit_post, parse_id, publish, visible_thread
from moderation.disclosure import edit_target, settled_for
from moderation.alerts import crisis_answer, raise_alert
from moderation.crisis import assess, extra_words
from storage.models import Draft, Thread
from storage.models_safety import DisclosurePending
from storage.repo import DIRECT
from storage.safety_repo import pending


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


def title_check(ctx: Context, thread: Thread, body: str) -> None:
    """A thread title is published too: crisis language in it gets the same private answer and
    alert as in a post (once: a first post that says it as well is answered by its own check)."""
    words = extra_words(ctx)
    if assess(thread.title, words) < 2 or assess(body, words) == 2:
        return
    key, params = crisis_answer(ctx, held=False)
    ctx.reply(key, **params)
    raise_alert(ctx, None, "crisis", thread.title)


SERVICES = {"disclosure_correction": take_correction, "title_check": title_check}
