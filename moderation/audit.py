"""The audit log: append-only rows of moderation actions and role changes.

A row says when, who acted (a member id, or an operator in the reason), what, and on whom
(an internal id: ``member:12``, ``post:5``, ``thread:3``, ``queue:7``). It never holds a
platform identity or post text. A reason given later (``mod reason``) is a row of its own.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.repo import UnitOfWork

MAX_REASON = 500
# What `mod log` lists: moderation actions, role changes and reports (reporters are never recorded).
LOGGED = ("mod.", "role.", "report")


def member(member_id: int) -> str:
    return f"member:{member_id}"


def post(post_id: int) -> str:
    return f"post:{post_id}"


def thread(thread_id: int) -> str:
    return f"thread:{thread_id}"


def record(uow: "UnitOfWork", action: str, *, group_id: int | None, actor_member_id: int | None = None,
           target: str | None = None, reason: str | None = None) -> int:
    """Append one row; returns its id (shown to the consultant, for ``mod reason``)."""
    reason = " ".join(reason.split())[:MAX_REASON] if reason else None
    return uow.moderation.record(action, group_id, actor_member_id, target, reason or None).id


def add_reason(uow: "UnitOfWork", group_id: int, entry_id: int, actor_member_id: int, text: str) -> int:
    return record(uow, "mod.reason", group_id=group_id, actor_member_id=actor_member_id,
                  target=f"audit:{entry_id}", reason=text)
