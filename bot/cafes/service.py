"""Café work that the elected scheduler does on each short tick, and the helpers it shares
with the chat commands: materialising series, announcing, reminding, notifying changes.

Each step reads its state from the database and writes its outcome in the same
transaction as the outbox rows it queues, so a restart at any point neither loses nor
repeats a reminder (``cafe_reminders_sent`` is keyed by occurrence, offset and person).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.cafes.schedule import (
    DAY, parse_offsets, quiet_now_until, reminder_due, send_time, slot_key, next_slots, to_utc,
)
from bot.clock import as_utc
from bot.config import Config
from storage.models import Community, Person
from storage.models_cafes import Cafe
from storage.repo import BULK, DIRECT, UnitOfWork

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ANNOUNCE = "cafe_announce"
REMIND = "cafe_reminder"


def community_tz(config: Config, uow: UnitOfWork, community: Community) -> str:
    """The community's zone from the config (``timezone`` per community), else bot.timezone."""
    group = uow.groups.get(community.group_id)
    for gcfg in config.groups:
        if group is not None and gcfg.slug == group.slug:
            for ccfg in gcfg.communities:
                if ccfg.slug == community.slug and ccfg.timezone:
                    return ccfg.timezone
    return config.bot.timezone


def group_offsets(uow: UnitOfWork, config: Config, group_id: int) -> tuple[list[int], datetime]:
    """The group's reminder offsets (minutes, largest first) and since when they apply."""
    text, changed = uow.cafes.offsets(group_id)
    offsets = parse_offsets(text or config.cafes.default_reminders) or []
    return offsets, as_utc(changed) if changed else EPOCH


def whole_group(uow: UnitOfWork, group_id: int) -> bool:
    """Members without a community hear of every café only when the group has one community."""
    return len(uow.groups.communities(group_id)) == 1


def quiet_of(person: Person) -> tuple[int, int] | None:
    if person.quiet_start is None or person.quiet_end is None:
        return None
    return person.quiet_start, person.quiet_end


def queue_to_person(uow: UnitOfWork, person_id: int, payload: dict, *, kind: str, lane: int,
                    not_before: datetime | None = None) -> None:
    # One copy, on the account the person receives posts on (`deliver here`, else the one
    # they last wrote from), as posts and notices do: a person with linked accounts is one
    # person, and a reminder on every platform at once reads as pressure.
    account_id = uow.moderation.delivery_account(person_id)
    if account_id is not None:
        uow.outbox.add(account_id, payload, kind=kind, lane=lane, not_before=not_before)


def materialise(uow: UnitOfWork, config: Config, now: datetime) -> int:
    """Keep the next few occurrences of every active series as rows."""
    made = 0
    keep = config.cafes.upcoming_per_series
    for series in uow.cafes.active_series():
        if uow.cafes.future_count(series.id, now) >= keep:
            continue
        existing = uow.cafes.slots(series.id)
        for local in next_slots(series.rrule, series.local_time, series.timezone, now, keep):
            key = slot_key(local)
            if key in existing:
                continue
            uow.cafes.add_cafe(group_id=series.group_id, community_id=series.community_id,
                               starts_at=to_utc(local, series.timezone), tz=series.timezone,
                               place=series.place, series_id=series.id, slot=key)
            made += 1
    return made


def _audience(uow: UnitOfWork, cafe: Cafe, now: datetime) -> list[Person]:
    """Who hears about a café: its community's members who have not turned reminders off,
    are not on a break and did not say no. One entry per person."""
    members = uow.cafes.community_members(cafe.group_id, cafe.community_id, whole_group(uow, cafe.group_id))
    answers = uow.cafes.answers(cafe.id)
    off = uow.cafes.reminders_off_people([p.id for _, p in members])
    seen: set[int] = set()
    people = []
    for member, person in members:
        if person.id in seen or person.id in off or answers.get(member.id) == "no":
            continue
        if uow.threads.paused_or_off(person, now):
            continue
        seen.add(person.id)
        people.append(person)
    return people


def announce(uow: UnitOfWork, config: Config, now: datetime) -> int:
    """Announce new one-off cafés, and each series' next occurrence once it is the upcoming one."""
    sent = 0
    for cafe in uow.cafes.unannounced(now):
        if cafe.series_id is not None:
            upcoming = [c for c in uow.cafes.of_series(cafe.series_id)
                        if c.status == "scheduled" and as_utc(c.starts_at) > now]
            if min(upcoming, key=lambda c: c.starts_at).id != cafe.id:
                continue
        cafe.announced_at = now
        for person in _audience(uow, cafe, now):
            wake = quiet_now_until(now, quiet_of(person), config.bot.timezone)
            if wake is not None and wake >= as_utc(cafe.starts_at):
                continue
            queue_to_person(uow, person.id, {"cafe": cafe.id}, kind=ANNOUNCE, lane=BULK, not_before=wake)
            sent += 1
    return sent


def remind(uow: UnitOfWork, config: Config, now: datetime) -> int:
    """Queue every reminder that is due now, once per (occurrence, offset, person)."""
    queued = 0
    horizon = now + timedelta(days=31)
    for cafe in uow.cafes.within(now, horizon):
        offsets, changed = group_offsets(uow, config, cafe.group_id)
        if not offsets:
            continue
        start = as_utc(cafe.starts_at)
        floor = max(as_utc(cafe.reminders_from), changed)
        sent = uow.cafes.sent_keys(cafe.id)
        for person in _audience(uow, cafe, now):
            queued += _remind_person(uow, config, cafe, person, offsets, start, floor, sent, now)
    return queued


def _remind_person(uow: UnitOfWork, config: Config, cafe: Cafe, person: Person, offsets: list[int],
                   start: datetime, floor: datetime, sent: set[tuple[int, int]], now: datetime) -> int:
    quiet = quiet_of(person)
    tz = config.bot.timezone            # quiet hours are kept in the deployment's zone
    due_now: list[int] = []
    for offset in offsets:
        if (offset, person.id) in sent:
            continue
        due = reminder_due(start, cafe.timezone, offset)
        if due < floor:
            continue                     # the café was created or moved after this one was due
        when = send_time(due, start, quiet, tz)
        if when is None:
            uow.cafes.mark_sent(cafe.id, offset, person.id, "skipped")
            continue
        if when <= now:
            due_now.append(offset)
    if not due_now:
        return 0
    # After downtime several may be due at once: only the one closest to the start is sent.
    chosen = min(due_now)
    for offset in due_now:
        if offset != chosen:
            uow.cafes.mark_sent(cafe.id, offset, person.id, "skipped")
    wake = quiet_now_until(now, quiet, tz)
    if wake is not None and wake >= start:
        uow.cafes.mark_sent(cafe.id, chosen, person.id, "skipped")
        return 0
    uow.cafes.mark_sent(cafe.id, chosen, person.id, "queued")
    payload = {"cafe": cafe.id, "offset": chosen, "starts": start.isoformat()}
    queue_to_person(uow, person.id, payload, kind=REMIND, lane=BULK, not_before=wake)
    return 1


def tick(uow: UnitOfWork, config: Config, now: datetime) -> dict[str, int]:
    made = materialise(uow, config, now)
    uow.session.flush()
    return {"made": made, "announced": announce(uow, config, now), "reminded": remind(uow, config, now)}


CHANGE = "cafe_change"


def notify_change(uow: UnitOfWork, cafe: Cafe, what: str, reason: str | None) -> int:
    """Tell those who said yes or maybe, at once (direct lane), rendered per recipient at
    delivery (their language and time format). Returns people told."""
    told = 0
    for member_id, answer in uow.cafes.answers(cafe.id).items():
        if answer not in ("yes", "maybe"):
            continue
        member = uow.members.get(member_id)
        if member is None or member.person_id is None or member.status != "active":
            continue
        queue_to_person(uow, member.person_id, {"cafe": cafe.id, "what": what, "reason": reason or ""},
                        kind=CHANGE, lane=DIRECT)
        told += 1
    return told


def is_day_before(offset_minutes: int) -> bool:
    return offset_minutes == DAY


def link_topic(uow: UnitOfWork, group_id: int, thread_id: int, now: datetime) -> list[int]:
    """Link a reflection thread (``mod topic``) to the next café of each community of the
    group; the cafés' reminders and announcements then point to it. Returns the café ids."""
    linked = []
    for community in uow.groups.communities(group_id):
        cafe = uow.cafes.next_of_community(community.id, now)
        if cafe is not None:
            cafe.topic_thread_id = thread_id
            linked.append(cafe.id)
    return linked
