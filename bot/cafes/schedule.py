"""Recurrence rules, local wall-clock times and reminder instants.

Rules are stored as RRULE text (python-dateutil) over *naive local* date-times; each
occurrence is then placed in the community's zone with zoneinfo, so an 18:00 café stays at
18:00 local time across daylight-saving changes (its UTC instant moves instead).
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

WEEKDAYS = {
    "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR",
    "saturday": "SA", "sunday": "SU",
    "mandag": "MO", "tirsdag": "TU", "onsdag": "WE", "torsdag": "TH", "fredag": "FR",
    "lørdag": "SA", "søndag": "SU",
}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1,
            "første": 1, "andre": 2, "tredje": 3, "fjerde": 4, "siste": -1}
HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
OFFSET = re.compile(r"^(\d{1,3})\s*([dhm])$")
DAY = 24 * 60
MAX_OFFSET = 30 * DAY


def rule_to_rrule(rule: str) -> str | None:
    """``first-tuesday``, ``monthly-15``, ``monthly-last``, ``weekly-monday``,
    ``every-2-weeks-friday`` -> RRULE text, or None when the rule is not understood."""
    rule = rule.strip().casefold()
    m = re.fullmatch(r"monthly-(\d{1,2}|last)", rule)
    if m:
        if m.group(1) == "last":
            return "FREQ=MONTHLY;BYMONTHDAY=-1"
        day = int(m.group(1))
        return f"FREQ=MONTHLY;BYMONTHDAY={day}" if 1 <= day <= 28 else None
    m = re.fullmatch(r"weekly-(\w+)", rule)
    if m and m.group(1) in WEEKDAYS:
        return f"FREQ=WEEKLY;BYDAY={WEEKDAYS[m.group(1)]}"
    m = re.fullmatch(r"every-2-weeks-(\w+)", rule)
    if m and m.group(1) in WEEKDAYS:
        return f"FREQ=WEEKLY;INTERVAL=2;BYDAY={WEEKDAYS[m.group(1)]}"
    m = re.fullmatch(r"(\w+)-(\w+)", rule)
    if m and m.group(1) in ORDINALS and m.group(2) in WEEKDAYS:
        return f"FREQ=MONTHLY;BYDAY={ORDINALS[m.group(1)]:+d}{WEEKDAYS[m.group(2)]}"
    return None


def parse_hhmm(text: str) -> time | None:
    m = HHMM.match(text.strip())
    return time(int(m.group(1)), int(m.group(2))) if m else None


def parse_local(text: str, today: date | None = None) -> datetime | None:
    """``YYYY-MM-DD HH:MM`` (or ``HH:MM`` on ``today``) -> a naive local date-time."""
    parts = text.split()
    try:
        if len(parts) == 2:
            day = date.fromisoformat(parts[0])
        elif len(parts) == 1 and today is not None:
            day = today
        else:
            return None
    except ValueError:
        return None
    clock = parse_hhmm(parts[-1])
    return datetime.combine(day, clock) if clock else None


def to_utc(local: datetime, tz: str) -> datetime:
    """A naive wall-clock time in ``tz`` -> the UTC instant. In the spring gap the later
    offset applies (02:30 that does not exist becomes 03:30), which zoneinfo does itself."""
    aware = local.replace(tzinfo=ZoneInfo(tz))
    return aware.astimezone(timezone.utc)


def to_local(instant: datetime, tz: str) -> datetime:
    return instant.astimezone(ZoneInfo(tz))


def slot_key(local: datetime) -> str:
    return local.strftime("%Y-%m-%dT%H:%M")


def next_slots(rrule_text: str, local_time: str, tz: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` naive local start times of a series strictly after ``after`` (UTC)."""
    clock = parse_hhmm(local_time)
    assert clock is not None
    start_local = to_local(after, tz).replace(tzinfo=None)
    dtstart = datetime.combine(start_local.date() - timedelta(days=1), clock)
    rule = rrulestr(f"RRULE:{rrule_text}", dtstart=dtstart)
    found: list[datetime] = []
    for local in rule.xafter(dtstart, count=count + 3):
        if to_utc(local, tz) > after:
            found.append(local)
        if len(found) == count:
            break
    return found


def parse_offsets(text: str) -> list[int] | None:
    """``7d,1d,2h`` or ``30m`` -> minutes before the start, largest first; None if invalid."""
    found: set[int] = set()
    for part in re.split(r"[,\s]+", text.strip().casefold()):
        if not part:
            continue
        m = OFFSET.match(part)
        if m is None:
            return None
        minutes = int(m.group(1)) * {"d": DAY, "h": 60, "m": 1}[m.group(2)]
        if not 0 < minutes <= MAX_OFFSET:
            return None
        found.add(minutes)
    return sorted(found, reverse=True) if found else None


def format_offsets(offsets: list[int]) -> str:
    def one(minutes: int) -> str:
        if minutes % DAY == 0:
            return f"{minutes // DAY}d"
        if minutes % 60 == 0:
            return f"{minutes // 60}h"
        return f"{minutes}m"
    return ",".join(one(m) for m in offsets)


def reminder_due(starts_at: datetime, tz: str, offset_minutes: int) -> datetime:
    """When a reminder is due. Whole days keep the café's local time of day (the 7-day
    reminder of an 18:00 café comes at 18:00 even across a DST change); hours and minutes
    are exact durations."""
    if offset_minutes % DAY == 0:
        local = to_local(starts_at, tz).replace(tzinfo=None)
        return to_utc(local - timedelta(days=offset_minutes // DAY), tz)
    return starts_at - timedelta(minutes=offset_minutes)


def _quiet_bounds(local: datetime, start: int, end: int) -> tuple[datetime, datetime] | None:
    """The quiet period containing ``local`` (naive local), as naive local start and end."""
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    day = local.date()
    if start < end or minute >= start:
        begin = datetime.combine(day, time(start // 60, start % 60))
    else:
        begin = datetime.combine(day - timedelta(days=1), time(start // 60, start % 60))
    finish = datetime.combine(begin.date(), time(end // 60, end % 60))
    if finish <= begin:
        finish += timedelta(days=1)
    return begin, finish


def send_time(due: datetime, starts_at: datetime, quiet: tuple[int, int] | None, tz: str) -> datetime | None:
    """When a reminder due at ``due`` may go out for someone with quiet hours ``quiet``
    (minutes after local midnight, in ``tz``): at once if not quiet; at the end of quiet
    hours if that is still before the start; otherwise just before quiet hours began.
    None means it cannot be sent (a reminder is never sent after the café started)."""
    if due >= starts_at:
        return None
    if quiet is None or quiet[0] == quiet[1]:
        return due
    bounds = _quiet_bounds(to_local(due, tz).replace(tzinfo=None), *quiet)
    if bounds is None:
        return due
    begin, finish = (to_utc(b, tz) for b in bounds)
    if finish < starts_at:
        return finish
    return begin - timedelta(minutes=1)


def quiet_now_until(now: datetime, quiet: tuple[int, int] | None, tz: str) -> datetime | None:
    """If ``now`` is inside quiet hours, when they end (UTC); else None."""
    if quiet is None or quiet[0] == quiet[1]:
        return None
    bounds = _quiet_bounds(to_local(now, tz).replace(tzinfo=None), *quiet)
    return to_utc(bounds[1], tz) if bounds else None
