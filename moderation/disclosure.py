"""The disclosure guard: before a text is published, look for details that could identify the
author or someone else (moderation/disclosure_detect.py) and ask the author first.

The check returns ``ask``: nothing is stored as a post. Its follow-up keeps the text as a
draft of kind ``disclosure`` (listed in ``drafts``, it survives restarts) and asks the author
privately, quoting the parts found, with three answers: send anyway, edit, cancel
(handlers/safety.py). Edits of published posts are asked about too, for the details the
edit adds, before the edit reaches any copy.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from moderation.checks import PUBLISH, Submission, Verdict, register
from moderation.disclosure_detect import Finding, Identity, detect
from storage.safety_repo import pending

if TYPE_CHECKING:
    from bot.router import Context
    from storage.models import Draft, Post

MAX_QUOTED = 5
ANSWERED = "crisis:answered"     # a ``skip`` marker: the crisis answer already went out for this text


def identity_of(ctx: "Context") -> Identity:
    """The author's platform names: from this event, and (sealed in the accounts table) of
    their other linked accounts. Used for this check only; nothing here is stored."""
    usernames = [ctx.user.username] if ctx.user.username else []
    displays = [ctx.user.display_name] if ctx.user.display_name else []
    for account in ctx.uow.accounts.for_person(ctx.person.id):
        if account.id == ctx.account.id:
            continue
        known = ctx.uow.accounts.identity(account)
        if known.get("username"):
            usernames.append(str(known["username"]))
        if known.get("display_name"):
            displays.append(str(known["display_name"]))
    return Identity(tuple(usernames), tuple(displays))


def findings(ctx: "Context", text: str) -> list[Finding]:
    member = ctx.member
    found = detect(text, local=ctx.config.safety.local_place_names, identity=identity_of(ctx),
                   pseudonym=(member.pseudonym or "") if member is not None else "")
    if member is None:
        return found
    # "@Willow thanks": a pseudonym of the group is how people here already know each other.
    return [f for f in found if not (f.kind in ("handle", "name") and
                                     ctx.uow.members.by_pseudonym(member.group_id, f.text.lstrip("@")) is not None)]


def _key(part: str) -> str:
    return re.sub(r"\W+", "", part.casefold())


@register("disclosure", order=15)
def disclosure_check(sub: Submission) -> Verdict:
    ctx = sub.ctx
    member = ctx.member
    if member is not None and member.role == "consultant" and ctx.config.safety.disclosure_skip_consultants:
        return PUBLISH
    found = findings(ctx, sub.text)
    if found and sub.edit_of is not None and sub.edit_of.body:
        before = {_key(f.text) for f in findings(ctx, sub.edit_of.body)}
        found = [f for f in found if _key(f.text) not in before]       # only what the edit adds
    if not found:
        return PUBLISH
    quoted = tuple(dict.fromkeys(f.text for f in found))[:MAX_QUOTED]
    kinds = ",".join(sorted({f.kind for f in found}))
    return Verdict("ask", "disclosure", quoted=quoted, detail=kinds,
                   after=lambda c, post: ask_author(c, sub, quoted))


def answer_buttons(draft_id: int) -> list[list[tuple[str, str]]]:
    return [[("safety.btn_anyway", f"/anyway d{draft_id}"), ("safety.btn_fix", f"/fix d{draft_id}"),
             ("safety.btn_cancel", f"/cancel d{draft_id}")]]


def ask_author(ctx: "Context", sub: Submission, quoted: tuple[str, ...]) -> "Draft":
    """Keep the text as a waiting draft and ask the author what to do with it."""
    from moderation.crisis import combined_tier, extra_words
    member = ctx.member
    assert member is not None
    edit = sub.edit_of
    if edit is not None:        # an earlier edit of this post still asked about: this one replaces it
        pending(ctx.uow).drop_for_post(edit.id)
    draft = ctx.uow.drafts.keep(member.id, sub.text, "disclosure", thread_id=sub.thread.id,
                                reply_to=edit.reply_to_post_id if edit is not None else sub.reply_to)
    answered = ANSWERED in sub.skip or combined_tier(sub.text, extra_words(ctx)) == 2
    pending(ctx.uow).add(draft, edit.id if edit is not None else None, answered, source_of(ctx))
    lines = [{"t": "safety.quote_line", "params": {"text": part}} for part in quoted]
    ctx.reply("safety.disclosure_ask_edit" if edit is not None else "safety.disclosure_ask",
              lines=lines, draft=draft.id, post=edit.id if edit is not None else 0,
              buttons=answer_buttons(draft.id))
    return draft


def source_of(ctx: "Context") -> tuple[int, str] | None:
    """The platform message the text came in, so that editing it there answers the question."""
    message_id = ctx.event.platform_message_id
    return (ctx.account.id, message_id) if message_id else None


def settled_for(crisis_answered: bool) -> frozenset[str]:
    """What a "send anyway" skips: the disclosure question, and the crisis answer if it went out."""
    return frozenset({"disclosure", ANSWERED} if crisis_answered else {"disclosure"})


def edit_target(ctx: "Context", post_id: int | None) -> "Post | None":
    if post_id is None:
        return None
    post = ctx.uow.threads.post(post_id)
    return post if post is not None and post.status != "deleted" else None
