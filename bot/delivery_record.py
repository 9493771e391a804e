"""Recording the outcomes of a batch of sends (bot.delivery): copies sent become delivery
records (edits, deletes and replies find them), refusals and outages become retries with a
growing pause, and a copy that was on its way while its post changed is sent the change."""
from __future__ import annotations

import logging
from datetime import timedelta

from bot.clock import Clock, as_utc
from bot.delivery_runs import Outcome
from storage.models import Post
from storage.repo import BULK, Database, UnitOfWork

log = logging.getLogger("bot.delivery")
LONG_OUTAGE_ATTEMPTS = 20
MAX_BACKOFF = 900


def backoff(attempts: int) -> float:
    return min(2.0 ** attempts, MAX_BACKOFF)


def record_outcomes(db: Database, clock: Clock, outcomes: list[Outcome]) -> tuple[int, int]:
    """Record what the platform said of each send in one transaction; (sent, refused)."""
    deliveries: list[dict] = []
    done: list[int] = []
    deleted: list[int] = []          # copies now gone (one statement for all)
    sent = failed = 0        # counted once committed: a transaction may be run again
    with db.uow() as uow:
        # First: rows not tried are back in line, so that a delay or hold of their
        # recipient below applies to them too.
        uow.outbox.put_back([o.job.item.id for o in outcomes if o.status == "back"])
        for out in outcomes:
            item = out.job.item
            if out.status == "back":
                continue
            if out.status == "sent":
                done.append(item.id)
                # Only copies of posts are recorded (edits, deletes and replies need them).
                # A direct answer needs no record once sent: kept, the "Posted as pN"
                # confirmation's row would sit beside that post's fan-out and link the
                # post to its author's account (issue 8, item 6).
                if item.op == "send" and item.post_id is not None:
                    deliveries.append({"account_id": item.account_id, "outbox_id": item.id,
                                       "post_id": item.post_id, "platform_message_id": out.message_id,
                                       "full": bool(out.job.rendered and out.job.rendered.shows_post)})
                elif item.op == "delete" and item.target_delivery_id:
                    deleted.append(item.target_delivery_id)
                sent += 1
            elif out.status == "rate":
                uow.outbox.retry_later(item.id, out.delay, out.error, count_attempt=False)
                uow.outbox.delay_account(item.account_id, clock.now() + timedelta(seconds=out.delay))
            elif out.status == "unreachable":
                account = uow.accounts.get(item.account_id)
                if account is not None:
                    uow.accounts.set_reachable(account, False)
                uow.outbox.hold_account(item.account_id)
                log.info("outbox: account %d is unreachable; its deliveries are kept", item.account_id)
            elif out.status == "gone":
                if item.target_delivery_id:
                    deleted.append(item.target_delivery_id)
                uow.outbox.finish(item.id, "gone")
            elif out.status == "refused":
                uow.outbox.finish(item.id, out.error[:64])
                failed += 1
                log.warning("outbox item %d refused by %s", item.id, out.job.platform)
            else:
                # Never given up: an outage of any length must not lose a message.
                if item.attempts == LONG_OUTAGE_ATTEMPTS:
                    log.warning("outbox item %d still failing after %d attempts (%s); retrying every "
                                "%d minutes", item.id, item.attempts, out.error, MAX_BACKOFF // 60)
                uow.outbox.retry_later(item.id, backoff(item.attempts), out.error[:64])
        uow.deliveries.record_many(deliveries)
        uow.deliveries.mark_deleted_many(deleted)
        uow.outbox.finish_many(done)
        uow.outbox.blank_payloads([o.job.item.id for o in outcomes
                                   if o.status == "sent" and o.job.item.kind in ("msg", "reveal")])
        copies = [out for out in outcomes if out.status == "sent" and out.job.item.op == "send"
                  and out.job.item.post_id]
        # one query for the posts of all the copies (a page of `read` is five posts)
        posts = uow.threads.posts_by_ids({out.job.item.post_id for out in copies})
        for out in copies:
            _catch_up(uow, out, posts)
    return sent, failed


def _catch_up(uow: UnitOfWork, out: Outcome, posts: dict[int, Post]) -> None:
    """A copy that was on its way while its post was edited or deleted missed that change
    (the change only reaches copies already recorded): send it the change now."""
    post = posts.get(out.job.item.post_id)
    if post is None:
        return
    showed_content = out.job.rendered is not None and out.job.rendered.shows_post
    deleted = showed_content and post.status in ("deleted", "hidden")
    edited = post.edited_at is not None and as_utc(post.edited_at) > out.job.prepared_at
    if not (deleted or edited):
        return
    delivery = uow.deliveries.by_message(out.job.item.account_id, out.message_id)
    if delivery is not None:
        uow.outbox.add(delivery.account_id, dict(out.job.item.payload), lane=BULK, kind="post",
                       op="delete" if post.status == "deleted" else "edit", post_id=post.id,
                       target_delivery_id=delivery.id)
