"""The person owns their data: ``mydata`` (everything stored, as a JSON file) and ``forget``.

``mydata`` stores nothing in the outbox: the file is built when it is delivered, for the
recipient only. ``forget`` needs a second ``forget confirm`` within ten minutes; it erases
at once everything but the account row the goodbye must reach, and a short job removes
that last row after the goodbye went out (or at the person's next message, when the bot
greets them as someone new).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import as_utc
from bot.events import Rendered
from bot.render import RenderContext
from bot.router import Context, command
from bot.scheduler import runtime
from storage import personal_data, sealed
from storage.models import Post
from storage.repo import BULK, Claimed, UnitOfWork

if TYPE_CHECKING:
    from bot.dbthread import DbThread

log = logging.getLogger(__name__)
CONFIRM_WINDOW = timedelta(minutes=10)
PENDING = "forget:"
ERASED = "erased"
PURGE_BATCH = 5000        # rows per retention statement
# The first retention run comes right after the start: a console session (often a short
# script) or a restarted bot does not wait a whole interval for it.
RETENTION_FIRST_RUN = timedelta(0)


@command("mydata", group="privacy")
def mydata(ctx: Context) -> None:
    ctx.reply("privacy.mydata_coming")
    ctx.uow.outbox.add(ctx.account.id, {}, kind="mydata")


def render_mydata(rc: RenderContext, item: Claimed) -> Rendered | None:
    person = rc.person
    if person.pending_action == ERASED:
        return None
    data = personal_data.export(rc.uow.session, rc.uow.accounts.vault, person.id)
    retention = rc.config.privacy
    document = {
        "about": rc.t("privacy.mydata_about"),
        "kept": {"posts_days": retention.post_retention_days or None,
                 "audit_days": retention.audit_retention_days,
                 "drafts_days": retention.draft_expiry_days,
                 "copy_records_days": retention.delivery_retention_days,
                 "sent_messages_days": retention.outbox_retention_days,
                 "explained": [
                     rc.t("privacy.kept_posts", count=retention.post_retention_days)
                     if retention.post_retention_days else rc.t("privacy.kept_posts_forever"),
                     rc.t("privacy.kept_drafts", count=retention.draft_expiry_days),
                     rc.t("privacy.kept_audit", count=retention.audit_retention_days),
                     rc.t("privacy.kept_copies", count=retention.delivery_retention_days),
                     rc.t("privacy.kept_outbox", count=retention.outbox_retention_days),
                     rc.t("privacy.kept_keys")]},
        "generated_at": rc.uow.clock.now().isoformat(),
        "tables": data,
    }
    content = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    return Rendered(text=rc.t("privacy.mydata_file"), document=("peerhaven-mydata.json", content),
                    urgent=True)


@command("forget", group="privacy")
def forget(ctx: Context) -> None:
    now = ctx.clock.now()
    if ctx.args.strip().casefold() != "confirm":
        ctx.person.pending_action = PENDING + now.isoformat()
        ctx.reply("privacy.forget_ask", count=ctx.config.privacy.delivery_retention_days)
        return
    pending = ctx.person.pending_action or ""
    asked = _asked_at(pending)
    if asked is None or now - asked > CONFIRM_WINDOW:
        ctx.person.pending_action = None
        ctx.reply("privacy.forget_not_pending")
        return
    erase_person(ctx.uow, ctx.person.id, ctx.services["i18n"].t(ctx.config.bot.default_language, "post.removed"))
    ctx.person.pending_action = ERASED
    ctx.person.current_member_id = None
    ctx.reply("privacy.forget_done")
    log.info("a person was erased")


def _asked_at(pending: str) -> datetime | None:
    if not pending.startswith(PENDING):
        return None
    try:
        return as_utc(datetime.fromisoformat(pending.removeprefix(PENDING)))
    except ValueError:
        return None


def erase_person(uow: UnitOfWork, person_id: int, removed_title: str) -> int:
    """Erase everything about the person except the account rows, and edit every delivered
    copy that shows what they wrote or who they were: their posts (now "[removed]"), replies
    to them (the reply line named them, with their card for those they had revealed it to)
    and the posts in threads they started (the header showed their title; the thread stays
    for the others' posts, titled ``removed_title`` in the group's language). Returns how
    many posts were removed."""
    refs = personal_data.refs_of(uow.session, person_id)
    removed, threads = personal_data.blank_authored(uow.session, refs, removed_title)
    for delivery in personal_data.copies_naming(uow.session, refs, threads):
        original = uow.outbox.get(delivery.outbox_id)
        # Without its original (outbox retention), a copy that showed the post is edited as one.
        fallback = {"mode": "read" if delivery.full else "fanout"}
        payload = dict(original.payload) if original is not None and original.payload else fallback
        # Rendered when it is sent, after the erasure: as "[removed]", without their name.
        uow.outbox.add(delivery.account_id, payload, lane=BULK, kind="post", op="edit",
                       post_id=delivery.post_id, target_delivery_id=delivery.id)
    personal_data.erase(uow.session, person_id, keep_accounts=True)
    # Crypto-shredding: without the keys, no copy of their text anywhere can be read again.
    uow.keyring.destroy(refs.member_ids)
    return removed


def finish_erasures(uow: UnitOfWork) -> int:
    """Remove the last rows of erased people whose goodbye has gone out."""
    from storage.models import OutboxItem, Person

    done = 0
    for person in uow.session.query(Person).filter(Person.pending_action == ERASED).all():
        waiting = uow.session.query(OutboxItem).join(
            personal_data.Account, personal_data.Account.id == OutboxItem.account_id).filter(
            personal_data.Account.person_id == person.id,
            OutboxItem.status.in_(("pending", "sending"))).count()
        if waiting:
            continue
        personal_data.erase(uow.session, person.id, keep_accounts=False)
        done += 1
    return done


def seal_plain_text(uow: UnitOfWork) -> int:
    """Seal what people typed that is still stored in plain form (rows of older versions or
    bulk tools) under their member keys, and move cards from the data key to member keys."""
    from storage.models import Draft, Report, Thread
    from storage.models_moderation import QueueItem

    return (sealed.seal_plain_rows(uow.session, [Post, Thread, Draft, Report, QueueItem])
            + uow.reveals.reseal_cards())


def apply_retention(uow: UnitOfWork, config, now: datetime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The `[privacy]` limits: old post text and old audit rows are deleted; text still in
    plain form (older versions, bulk tools) is sealed under its author's key. Delivery records
    and outbox rows are purged by ``purge_copies``, one bounded step per transaction."""
    done = {"posts": 0, "audit": 0, "sealed": seal_plain_text(uow)}
    if config.privacy.post_retention_days:
        done["posts"] = personal_data.expire_posts(
            uow.session, now - timedelta(days=config.privacy.post_retention_days))
    done["audit"] = personal_data.expire_audit(uow.session, now - timedelta(days=config.privacy.audit_retention_days))
    return done


async def purge_copies(dbt: "DbThread", config, now: datetime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Delivery records older than ``delivery_retention_days`` (after that, edits and deletes no
    longer reach old copies; unread counts do not depend on them), then finished outbox rows
    older than ``outbox_retention_days``. Each step deletes at most PURGE_BATCH rows in its own
    transaction, in the database thread (off the event loop), so a big purge never holds the
    write lock (or the loop) for long."""
    cutoff = now - timedelta(days=config.privacy.delivery_retention_days)
    done = {"deliveries": 0, "outbox": 0}
    more = True
    while more:
        deleted, more = await dbt.job(lambda uow: uow.deliveries.purge_batch(cutoff, PURGE_BATCH))
        done["deliveries"] += deleted
    outbox_cutoff = now - timedelta(days=config.privacy.outbox_retention_days)
    after: int | None = 0
    while after is not None:
        deleted, after = await dbt.job(
            lambda uow, start: uow.outbox.purge_batch(outbox_cutoff, PURGE_BATCH, start), after)
        done["outbox"] += deleted
    return done


async def finish_erasures_job(runtime_key: str) -> int:
    rt = runtime(runtime_key)
    return await rt.dbt.job(finish_erasures)       # in the database thread, off the loop


async def retention_job(runtime_key: str) -> dict[str, int]:
    """Run by the elected scheduler in every mode (console too): at the start, then every
    10 minutes."""
    rt = runtime(runtime_key)
    now = rt.clock.now()
    done = await rt.dbt.job(apply_retention, rt.config, now)
    done.update(await purge_copies(rt.dbt, rt.config, now))
    if any(done.values()):
        log.info("retention applied", extra={"counts": done})
    return done


def build_erasure_job(scheduler: AsyncIOScheduler, key: str, uow: UnitOfWork) -> None:
    scheduler.add_job(finish_erasures_job, "interval", minutes=1, args=[key], id="finish-erasures",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(retention_job, "interval", minutes=10, args=[key], id="privacy-retention",
                      replace_existing=True, coalesce=True, max_instances=1,
                      next_run_time=datetime.now(timezone.utc) + RETENTION_FIRST_RUN)


RENDERERS = {"mydata": render_mydata}
JOB_BUILDERS = [build_erasure_job]
