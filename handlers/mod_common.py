"""Shared pieces of the consultant's commands: the sub-command registry and target lookups.

Targets are looked up in the acting consultant's own group only; anything else answers
"mod.no_target", the same text whether the target exists elsewhere or not at all.
"""
from __future__ import annotations

import re
from typing import Callable

from bot.router import Context
from handlers.posting import parse_id
from storage.models import Member, Post, Thread

Sub = Callable[[Context, Member, str], None]
SUBS: dict[str, tuple[Sub, str]] = {}
DURATION_RE = re.compile(r"^(\d{1,4})\s*(m|min|h|t|d|w|u)?$", re.IGNORECASE)
MAX_REASON = 500


def sub(name: str, usage: str) -> Callable[[Sub], Sub]:
    """Register ``mod <name>``; ``usage`` is the catalogue key answering a missing argument."""

    def tag(func: Sub) -> Sub:
        SUBS[name] = (func, usage)
        return func

    return tag


def usage(ctx: Context, name: str) -> None:
    ctx.reply(SUBS[name][1])


def post_in_group(ctx: Context, member: Member, token: str) -> Post | None:
    post_id = parse_id(token, "p") if token.strip() else None
    post = ctx.uow.threads.post(post_id) if post_id else None
    thread = ctx.uow.threads.get(post.thread_id) if post is not None else None
    if thread is None or thread.group_id != member.group_id:
        ctx.reply("mod.no_target")
        return None
    return post


def thread_in_group(ctx: Context, member: Member, token: str) -> Thread | None:
    thread_id = parse_id(token, "t") if token.strip() else None
    thread = ctx.uow.threads.get(thread_id) if thread_id else None
    if thread is None or thread.group_id != member.group_id:
        ctx.reply("mod.no_target")
        return None
    return thread


def member_and_rest(ctx: Context, group_id: int, text: str) -> tuple[Member | None, str]:
    """A pseudonym (which may contain spaces: the longest match wins) and the rest."""
    words = text.split()
    for k in range(min(len(words), 6), 0, -1):
        found = ctx.uow.members.by_pseudonym(group_id, " ".join(words[:k]))
        if found is not None:
            return found, " ".join(words[k:])
    return None, text


def split_first(text: str) -> tuple[str, str]:
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def duration_hours(token: str) -> float | None:
    """``30m``, ``2h``, ``3d``, ``1w`` (a bare number is hours), at most a year."""
    match = DURATION_RE.match(token.strip())
    if match is None:
        return None
    value, unit = int(match.group(1)), (match.group(2) or "h").casefold()
    hours = {"m": value / 60, "min": value / 60, "h": value, "t": value, "d": value * 24,
             "w": value * 168, "u": value * 168}[unit]
    return hours if 0 < hours <= 24 * 366 else None


def reason_of(text: str) -> str:
    return " ".join(text.split())[:MAX_REASON]
