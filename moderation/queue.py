"""The consultant's queue: reports, held posts, crisis alerts, appeals, messages and notes.

Other features add items with :func:`add_item` (the safety checks add ``crisis`` items, for
example). A new item reaches every consultant of the group in their direct chat at once,
unless they chose ``mod alerts off`` or ``digest``. Items and alerts are rendered when they
are delivered, so an alert never carries post text through the outbox.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.clock import as_utc
from bot.events import Rendered
from storage.models import Member, Post
from storage.models_moderation import QueueItem
from storage.repo import DIRECT

if TYPE_CHECKING:
    from storage.repo import Claimed, UnitOfWork

KINDS = ("report", "held", "crisis", "appeal", "message", "note")
PREVIEW = 60
ALERT_KIND = "mod_alert"


def add_item(uow: "UnitOfWork", group_id: int, kind: str, *, post_id: int | None = None,
             report_id: int | None = None, subject_member_id: int | None = None,
             body: str | None = None, alert: bool = True) -> QueueItem:
    """Queue something for the group's consultants and alert them."""
    if kind not in KINDS:
        raise ValueError(f"unknown queue item kind {kind!r}")
    item = uow.moderation.add_item(group_id, kind, post_id=post_id, report_id=report_id,
                                   subject_member_id=subject_member_id, body=body)
    if alert:
        alert_consultants(uow, item)
    return item


def alert_consultants(uow: "UnitOfWork", item: QueueItem) -> int:
    """One alert per consultant (on the account they use), in the direct lane."""
    sent = 0
    for consultant in uow.moderation.consultants(item.group_id):
        prefs = uow.moderation.find_prefs(consultant.id)
        if prefs is not None and prefs.alerts != "on":
            continue
        account_id = uow.moderation.delivery_account(consultant.person_id)
        if account_id is None:
            continue
        uow.outbox.add(account_id, {"item": item.id}, lane=DIRECT, kind=ALERT_KIND)
        sent += 1
    return sent


def age(created: datetime, now: datetime) -> dict[str, Any]:
    """A catalogue reference for how long ago (minutes, hours or days)."""
    minutes = max(0, int((now - as_utc(created)).total_seconds() // 60))
    if minutes < 1:
        return {"t": "mod.age.now", "params": {}}
    if minutes < 60:
        return {"t": "mod.age.minutes", "params": {"count": minutes}}
    if minutes < 48 * 60:
        return {"t": "mod.age.hours", "params": {"count": minutes // 60}}
    return {"t": "mod.age.days", "params": {"count": minutes // (24 * 60)}}


def one_line(text: str | None, limit: int = PREVIEW) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def post_preview(post: Post | None) -> str:
    if post is None or post.body is None or post.status == "deleted":
        return "[removed]"
    return one_line(post.body)


def item_params(get, item: QueueItem, now: datetime) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What a queue line shows: id, kind, age and a one-line preview (never a reporter)."""
    post = get(Post, item.post_id) if item.post_id else None
    author = get(Member, post.author_member_id) if post is not None else None
    subject = get(Member, item.subject_member_id) if item.subject_member_id else None
    if post is not None:
        preview = {"t": "mod.preview.post", "params": {
            "post": post.id, "author": (author.pseudonym if author else None) or "-",
            "text": post_preview(post), "reason": one_line(item.body, 80) if item.kind == "report" else ""}}
    else:
        preview = {"t": "mod.preview.text", "params": {
            "who": (subject.pseudonym if subject else None) or "-", "text": one_line(item.body, 120)}}
    return {"item": item.id, "kind": {"t": f"mod.kind.{item.kind}"}, "age": age(item.created_at, now),
            "preview": preview}


def item_buttons(item: QueueItem) -> list[tuple[str, str]]:
    """Buttons for one item, each with the typed command it stands for."""
    row: list[tuple[str, str]] = []
    if item.kind == "held" and item.post_id:
        row += [("mod.button.approve", f"/mod approve p{item.post_id}"),
                ("mod.button.reject", f"/mod reject p{item.post_id}")]
    elif item.kind in ("report", "crisis") and item.post_id:
        if item.kind == "crisis":        # the safety alert: read the whole post first
            row.append(("safety.btn_open", f"/open p{item.post_id}"))
        row += [("mod.button.hide", f"/mod hide p{item.post_id}"),
                ("mod.button.ack", f"/mod ack p{item.post_id}")]
    row.append(("mod.button.dismiss", f"/mod dismiss {item.id}"))
    return row


def render_alert(rc, claimed: "Claimed") -> Rendered | None:  # type: ignore[no-untyped-def]
    """A new-item alert for one consultant, rendered at delivery."""
    item = rc.get(QueueItem, claimed.payload.get("item"))
    if item is None or item.status != "open":
        return None
    params = rc.resolve(item_params(rc.get, item, rc.uow.clock.now()))
    buttons = [[{"key": k, "command": c} for k, c in item_buttons(item)]]
    return Rendered(text=rc.t("mod.alert", **params), buttons=rc.buttons(buttons))
