"""iCalendar files for cafés, built with the ``icalendar`` package.

Discreet by design: the SUMMARY is the bot's display name, there are no attendees or
organiser, and nothing says what kind of group meets. The UID of an occurrence never
changes (a series occurrence shares its series' UID and is told apart by RECURRENCE-ID); SEQUENCE goes up when it is moved; a cancelled one has STATUS:CANCELLED, so a
calendar that imported it earlier updates itself when the new file is opened.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event, vRecur

from bot.cafes.schedule import parse_hhmm, to_local
from storage.models_cafes import Cafe, CafeSeries

DURATION = timedelta(hours=2)
DOMAIN = "peerhaven"


def occurrence_uid(cafe: Cafe) -> str:
    return f"cafe-{cafe.id}@{DOMAIN}"


def series_uid_of(series_id: int) -> str:
    return f"cafe-series-{series_id}@{DOMAIN}"


def series_uid(series: CafeSeries) -> str:
    return series_uid_of(series.id)


def _calendar() -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Peerhaven//cafes//EN")
    cal.add("version", "2.0")
    return cal


def _event(uid: str, start: datetime, summary: str, place: str, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", start + DURATION)
    event.add("summary", summary)
    event.add("location", place)
    return event


def occurrence_ics(cafe: Cafe, summary: str, now: datetime) -> bytes:
    """One café. An occurrence of a series is written as an override of the series' event
    (its UID with RECURRENCE-ID = the slot it was made for), so a calendar that imports
    both this file and the series file keeps one entry for it, not two."""
    cal = _calendar()
    start = to_local(cafe.starts_at, cafe.timezone)
    if cafe.series_id is not None and cafe.slot:
        event = _event(series_uid_of(cafe.series_id), start, summary, cafe.place, now)
        event.add("recurrence-id", datetime.fromisoformat(cafe.slot).replace(tzinfo=ZoneInfo(cafe.timezone)))
    else:
        event = _event(occurrence_uid(cafe), start, summary, cafe.place, now)
    event.add("sequence", cafe.sequence)
    event.add("status", "CANCELLED" if cafe.status == "cancelled" else "CONFIRMED")
    cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def series_ics(series: CafeSeries, occurrences: list[Cafe], summary: str, now: datetime) -> bytes:
    """The whole series as one recurring event; cancelled occurrences are EXDATEs and moved
    ones are overrides (RECURRENCE-ID = the slot they were made for)."""
    zone = ZoneInfo(series.timezone)
    clock = parse_hhmm(series.local_time)
    assert clock is not None
    slots = sorted(c.slot for c in occurrences if c.slot)
    first_local = datetime.fromisoformat(slots[0]) if slots else None
    if first_local is None:
        first_local = datetime.combine(to_local(now, series.timezone).date(), clock)
        first_local = rrulestr(f"RRULE:{series.rrule}", dtstart=first_local).after(first_local, inc=True)
    cal = _calendar()
    main = _event(series_uid(series), first_local.replace(tzinfo=zone), summary, series.place, now)
    main.add("rrule", vRecur.from_ical(series.rrule))
    main.add("status", "CONFIRMED" if series.active else "CANCELLED")
    cal.add_component(main)
    for cafe in occurrences:
        if not cafe.slot:
            continue
        slot = datetime.fromisoformat(cafe.slot).replace(tzinfo=zone)
        if cafe.status == "cancelled":
            main.add("exdate", slot)
        elif cafe.sequence > 0 or cafe.place != series.place:
            override = _event(series_uid(series), to_local(cafe.starts_at, series.timezone), summary,
                              cafe.place, now)
            override.add("recurrence-id", slot)
            override.add("sequence", cafe.sequence)
            cal.add_component(override)
    cal.add_missing_timezones()
    return cal.to_ical()
