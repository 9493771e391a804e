"""The consultant's gates as pipeline checks: a mute keeps the text as a draft, and a
newcomer's first posts (``moderation.premoderate_first_posts``) wait for approval.
Both come from ``moderation.sanctions.publish_gate``; edits of published posts pass."""
from __future__ import annotations

from moderation import queue as mod_queue
from moderation.checks import PUBLISH, Submission, Verdict, register
from moderation.sanctions import local_fmt, publish_gate


def _gate(sub: Submission) -> tuple[str, object]:
    member = sub.ctx.member
    if member is None or sub.is_edit:
        return "publish", None
    return publish_gate(sub.ctx.uow, sub.ctx.config, member)


@register("mute", order=20)
def mute_check(sub: Submission) -> Verdict:
    gate, until = _gate(sub)
    if gate != "mute":
        return PUBLISH

    def keep(ctx, post) -> None:  # type: ignore[no-untyped-def]
        ctx.uow.drafts.keep(ctx.member.id, sub.text, "mute", thread_id=sub.thread.id, reply_to=sub.reply_to)
        ctx.reply("mod.muted_draft", until=local_fmt(until, ctx.config.bot.timezone))  # type: ignore[arg-type]

    return Verdict("hold", "mute", stored=False, after=keep)


@register("premoderation", order=30)
def premoderation_check(sub: Submission) -> Verdict:
    gate, _ = _gate(sub)
    if gate != "hold":
        return PUBLISH

    def queue(ctx, post) -> None:  # type: ignore[no-untyped-def]
        if post is not None:
            mod_queue.add_item(ctx.uow, sub.thread.group_id, "held", post_id=post.id,
                               subject_member_id=ctx.member.id)

    return Verdict("hold", "premoderation", answer_key="mod.held_wait",
                   answer_params={"hours": sub.ctx.config.moderation.hours_text(sub.ctx.lang)}, after=queue)
