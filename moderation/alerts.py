"""What a crisis verdict does: the author's private answer and the consultants' alert.

``queue_item`` is the one place that files an item for the consultant: the consultant's
queue (``mod queue``), whose new items reach every consultant at once with buttons.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moderation import queue as mod_queue

if TYPE_CHECKING:
    from bot.router import Context
    from storage.models import Post


def crisis_answer(ctx: "Context", held: bool, kept: bool = False) -> tuple[str, dict[str, Any]]:
    """The warm private answer: the contacts and when the consultant is around, and what
    happens to the text (shared as usual, held for the consultant, or kept unpublished)."""
    params = {"contacts": ctx.config.safety.emergency_contacts,
              "hours": ctx.config.moderation.hours_text(ctx.lang)}
    key = "safety.crisis_answer_kept" if kept else "safety.crisis_answer_held" if held else "safety.crisis_answer"
    return key, params


def raise_alert(ctx: "Context", post: "Post | None", kind: str, text: str) -> None:
    """``kind`` "crisis": a queue item every consultant is alerted to now; "note": a quiet
    queue note. Without a stored post (the author is still being asked about a detail) the
    item carries the text, since the consultant must be able to read it now."""
    member = ctx.member
    assert member is not None
    mod_queue.add_item(ctx.uow, member.group_id, "crisis" if kind == "crisis" else "note",
                       post_id=post.id if post is not None else None, subject_member_id=member.id,
                       body=None if post is not None else text, alert=kind == "crisis")


def queue_held(ctx: "Context", post: "Post | None") -> None:
    """A crisis post held after its alert already went out: a quiet queue item to release it."""
    member = ctx.member
    if post is not None and member is not None:
        mod_queue.add_item(ctx.uow, member.group_id, "held", post_id=post.id, subject_member_id=member.id,
                           alert=False)


def answer_kept_text(ctx: "Context", text: str) -> bool:
    """Text kept as a draft instead of published (no thread chosen, too long, over a flood
    limit) is not screened until it is sent, which may be never. Someone writing that they
    are in danger must not wait for that: crisis language in it gets the private answer and
    the consultants the alert (carrying the text) now. True if it did. A later send of the
    draft is screened again, so the published post gets its own alert with a link."""
    from moderation.crisis import combined_tier, extra_words    # crisis imports this module
    if not text.strip() or ctx.member is None or combined_tier(text, extra_words(ctx)) < 2:
        return False
    key, params = crisis_answer(ctx, held=False, kept=True)
    ctx.reply(key, **params)
    raise_alert(ctx, None, "crisis", text)
    return True
