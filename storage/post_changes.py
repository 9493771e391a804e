"""An edit, delete or hide of a post reaches its copies through the outbox worker.

The handler marks the post (``posts.pending_change``) in its own transaction; the worker's
bulk lane turns each mark into one outbox row per recorded copy (Outbox.propagate, one
INSERT … SELECT) at the start of its next step. The statement over 10,000 copies took
60–100 ms of the 160–190 ms the edit handler spent (issue 15: ≤ 100 ms), and the person
waited for it. The mark is durable: a crash before the worker got to it leaves it set,
and the next start expands it, so no change is lost.

Several changes before the worker gets to them are one: the copies render the post as it
is when sent, and a delete outranks an edit (or a hide, which is an edit of the copies).
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Delivery, Post

BATCH = 20       # posts per worker step; each may have as many copies as there are members


def mark(session: Session, post: Post, op: str) -> int:
    """Queue ``op`` ("edit" or "delete") for every recorded copy of ``post``; returns how many
    copies it will reach (the number the author or consultant is told)."""
    post.pending_change = "delete" if "delete" in (op, post.pending_change) else op
    return session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.post_id == post.id, Delivery.deleted.is_(False))) or 0


def expand(uow, limit: int = BATCH) -> int:  # type: ignore[no-untyped-def]
    """Turn marked posts into edit/delete rows for their copies; returns how many rows."""
    session: Session = uow.session
    query = select(Post.id, Post.pending_change).where(Post.pending_change.is_not(None)) \
        .order_by(Post.id).limit(limit)
    if session.bind.dialect.name == "postgresql":
        # Two processes draining one outbox must not both expand a post: one takes it.
        query = query.with_for_update(skip_locked=True, of=Post)
    rows = session.execute(query).all()
    queued = 0
    for post_id, op in rows:
        if op == "delete":
            uow.outbox.cancel_for_post(post_id)
        queued += uow.outbox.propagate(post_id, op)
    if rows:
        session.execute(update(Post).where(Post.id.in_([r[0] for r in rows]))
                        .values(pending_change=None).execution_options(synchronize_session=False))
    return queued

