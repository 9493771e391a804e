"""Sanctions that follow the person across every platform account: warn, mute, remove, ban.

Warnings escalate gently (``moderation.warn_mute_hours``; by default a notice, then 1 hour,
24 hours and 7 days of mute, and from the 4th a note in the queue asking the consultant to
consider removal). One level fades after ``warn_decay_days`` without a new warning. The
member is always told what happened and why, never who reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.clock import as_utc
from bot.router import message
from moderation import audit, queue
from storage.models import Member
from storage.repo import DIRECT

if TYPE_CHECKING:
    from bot.config import Config
    from storage.repo import UnitOfWork


@dataclass(frozen=True)
class WarnResult:
    level: int
    mute_until: datetime | None
    queued: bool
    entry: int


def tell_person(uow: "UnitOfWork", person_id: int | None, key: str, **params: object) -> None:
    """A private notice to the person, on the account they use."""
    if person_id is None:
        return
    account_id = uow.moderation.delivery_account(person_id)
    if account_id is not None:
        uow.outbox.add(account_id, message(key, **params), lane=DIRECT)


def current_level(uow: "UnitOfWork", config: "Config", group_id: int, person_id: int, now: datetime) -> int:
    """The warning level now: the last warning's level, less one per decay period since."""
    warns = [w for w in uow.moderation.sanctions(group_id, person_id, "warn") if w.lifted_at is None]
    if not warns:
        return 0
    last = warns[-1]
    periods = int((now - as_utc(last.created_at)) / timedelta(days=config.moderation.warn_decay_days))
    return max(0, last.level - periods)


def warn(uow: "UnitOfWork", config: "Config", actor: Member, target: Member, reason: str,
         local: str) -> WarnResult:
    now = uow.clock.now()
    person_id = uow.moderation.person_of_member(target)
    level = current_level(uow, config, target.group_id, person_id, now) + 1 if person_id else 1
    uow.moderation.add_sanction(target.group_id, person_id, target.id, "warn", reason, actor.id, level=level)
    steps = config.moderation.warn_mute_hours
    hours = steps[min(level, len(steps)) - 1]
    entry = audit.record(uow, "mod.warn", group_id=target.group_id, actor_member_id=actor.id,
                         target=audit.member(target.id), reason=f"level {level}: {reason}")
    until = now + timedelta(hours=hours) if hours else None
    if until is not None:
        uow.moderation.add_sanction(target.group_id, person_id, target.id, "mute",
                                    f"warning {level}: {reason}", actor.id, until=until)
        tell_person(uow, person_id, "mod.notice.warn_mute", reason=reason, level=level,
                    until=local_fmt(until, local))
    else:
        tell_person(uow, person_id, "mod.notice.warn", reason=reason)
    queued = level >= config.moderation.warn_queue_level
    if queued:
        queue.add_item(uow, target.group_id, "note", subject_member_id=target.id,
                       body=f"warning {level}: consider /mod remove {target.pseudonym}")
    return WarnResult(level, until, queued, entry)


def mute(uow: "UnitOfWork", actor: Member, target: Member, hours: float, reason: str, local: str) -> datetime:
    until = uow.clock.now() + timedelta(hours=hours)
    person_id = uow.moderation.person_of_member(target)
    uow.moderation.add_sanction(target.group_id, person_id, target.id, "mute", reason, actor.id, until=until)
    audit.record(uow, "mod.mute", group_id=target.group_id, actor_member_id=actor.id,
                 target=audit.member(target.id), reason=f"until {local_fmt(until, local)}: {reason}")
    tell_person(uow, person_id, "mod.notice.mute", reason=reason, until=local_fmt(until, local))
    return until


def unmute(uow: "UnitOfWork", actor: Member, target: Member) -> bool:
    person_id = uow.moderation.person_of_member(target)
    if person_id is None:
        return False
    lifted = False
    while (active := uow.moderation.active_mute(target.group_id, person_id)) is not None:
        active.lifted_at = uow.clock.now()
        lifted = True
    audit.record(uow, "mod.unmute", group_id=target.group_id, actor_member_id=actor.id,
                 target=audit.member(target.id))
    if lifted:
        tell_person(uow, person_id, "mod.notice.unmute")
    return lifted


def end_membership(uow: "UnitOfWork", actor: Member, target: Member, kind: str, reason: str) -> None:
    """``remove`` (can rejoin with a new invite) or ``ban`` (cannot, from any account)."""
    person_id = uow.moderation.person_of_member(target)
    group = uow.groups.get(target.group_id)
    if person_id is not None:
        for member in uow.members.of_person(person_id):
            if member.group_id == target.group_id:
                _leave(uow, member, person_id, kind)
    if target.status == "active":
        _leave(uow, target, person_id, kind)
    uow.moderation.add_sanction(target.group_id, person_id, target.id, kind, reason, actor.id)
    audit.record(uow, f"mod.{kind}", group_id=target.group_id, actor_member_id=actor.id,
                 target=audit.member(target.id), reason=reason)
    tell_person(uow, person_id, f"mod.notice.{kind}", reason=reason, group=group.name if group else "")


def _leave(uow: "UnitOfWork", member: Member, person_id: int | None, kind: str) -> None:
    member.status = "banned" if kind == "ban" else "removed"
    member.current_thread_id = None
    person = uow.people.get(person_id) if person_id else None
    if person is not None and person.current_member_id == member.id:
        person.current_member_id = None


def publish_gate(uow: "UnitOfWork", config: "Config", member: Member) -> tuple[str, datetime | None]:
    """Before a post is stored: ("publish", None), ("mute", until) or ("hold", None)."""
    if member.role == "consultant" or member.person_id is None:
        return "publish", None
    muted = uow.moderation.active_mute(member.group_id, member.person_id)
    if muted is not None:
        return "mute", as_utc(muted.until)
    first = config.moderation.premoderate_first_posts
    if first and uow.moderation.published_count_by(member.id) < first:
        return "hold", None
    return "publish", None


def join_refusal(uow: "UnitOfWork", person_id: int, invite, now: datetime) -> str | None:  # type: ignore[no-untyped-def]
    """The catalogue key refusing a (re)join with this invite, or None. A ban holds for every
    account of the person and after a fresh start; used-up or expired codes are refused."""
    if uow.moderation.is_banned(invite.group_id, person_id):
        return "mod.join_banned"
    if uow.members.in_group(person_id, invite.group_id) is not None:
        return None                 # already a member: the code only switches groups
    if invite.expires_at is not None and as_utc(invite.expires_at) <= now:
        return "mod.invite_expired"
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return "mod.invite_expired"
    return None


def local_fmt(when: datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo
    return as_utc(when).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
