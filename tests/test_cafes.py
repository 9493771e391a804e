"""Cafés with the injected clock: DST-correct series, reminders once each at the right
instants (also across restarts and crashes), downtime, quiet hours, changes, privacy.
The tests that take ``db_url`` run on SQLite and on the throw-away PostgreSQL server."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest

from bot.cafes import service
from bot.cafes.schedule import next_slots, rule_to_rrule, to_utc
from bot.clock import FakeClock
from bot.transports.base import MemoryTransport
from storage.models_cafes import Cafe
from tests.harness import Harness

OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc
PEOPLE = (("ann", "Birch"), ("bob", "Willow"), ("cara", "Rowan"), ("dan", "Alder"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def setup(make_runtime, start: datetime, url: str | None = None, **kw):  # type: ignore[no-untyped-def]
    clock = FakeClock(start)
    rt = make_runtime(url=url, clock=clock, **kw)
    h = Harness(rt)
    await h.onboard("lillian", "Lillian")
    for user, name in PEOPLE:
        await h.onboard(user, name)
    await rt.start(scheduler=False, worker=False)
    return rt, h, clock


async def tick(rt, h, clock, when: datetime | None = None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    if when is not None:
        clock.set(when)
    with rt.db.uow() as uow:
        done = service.tick(uow, rt.config, clock.now())
    await rt.worker.drain()
    return done


def reminders(h: Harness, user: str, platform: str = "memory") -> list[str]:
    return [t for t in h.inbox(user, platform) if t.startswith("Reminder: café")]


def test_first_tuesday_keeps_18_local_across_both_dst_changes() -> None:
    rule = rule_to_rrule("first-tuesday")
    slots = next_slots(rule, "18:00", "Europe/Oslo", utc(2026, 2, 10), 10)
    assert [s.day for s in slots[:2]] == [3, 7] and all(s.weekday() == 1 for s in slots)
    for local in slots:
        instant = to_utc(local, "Europe/Oslo")
        assert instant.astimezone(OSLO).strftime("%H:%M") == "18:00"
    by_month = {s.month: to_utc(s, "Europe/Oslo").hour for s in slots}
    assert by_month[3] == 17 and by_month[4] == 16          # March change (29 March)
    assert by_month[10] == 16 and by_month[11] == 17        # October change (25 October)
    assert rule_to_rrule("last-friday") == "FREQ=MONTHLY;BYDAY=-1FR"
    assert rule_to_rrule("monthly-29") is None and rule_to_rrule("monthly-last") == "FREQ=MONTHLY;BYMONTHDAY=-1"
    assert rule_to_rrule("every-2-weeks-thursday") == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH"


async def test_series_rows_keep_18_local_through_the_command(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 2, 10, 12))
    rt.config.cafes.upcoming_per_series = 10
    try:
        await h.say("lillian", "/cafe repeat northtown first-tuesday 18:00 Library")
        assert "first one is c1: Tuesday 3 March 2026, 18:00" in h.last("lillian")
        with rt.db.uow() as uow:
            rows = uow.session.query(Cafe).order_by(Cafe.starts_at).all()
            assert len(rows) == 10
            assert {r.starts_at.replace(tzinfo=UTC).astimezone(OSLO).strftime("%a %H:%M") for r in rows} == {"Tue 18:00"}
    finally:
        await rt.stop()


async def _cafe_with_rsvps(rt, h, when_local: str) -> None:  # type: ignore[no-untyped-def]
    await h.say("lillian", "/cafe reminders 7d,1d,2h")
    await h.say("lillian", f"/cafe add northtown {when_local} Library")
    await h.say("ann", "/rsvp 1 yes")
    await h.say("bob", "/rsvp 1 maybe")
    await h.say("cara", "/rsvp 1 no")


async def test_7d_1d_2h_reminders_arrive_once_each_at_the_right_instants(make_runtime, db_url) -> None:
    # 31 March 18:00 in Oslo is 16:00 UTC (summer time); 7 days before it was still winter time.
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12), url=db_url)
    try:
        await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")
        await tick(rt, h, clock)
        assert "A café is planned: c1" in h.inbox("dan")[-1]
        instants = [utc(2026, 3, 24, 17), utc(2026, 3, 30, 16), utc(2026, 3, 31, 14)]   # 18:00, 18:00, 16:00 local
        for n, due in enumerate(instants, start=1):
            await tick(rt, h, clock, due - timedelta(minutes=1))
            assert len(reminders(h, "ann")) == n - 1, due
            await tick(rt, h, clock, due)
            await tick(rt, h, clock, due + timedelta(seconds=30))
            assert len(reminders(h, "ann")) == n, due
            assert len(reminders(h, "dan")) == n          # no answer yet: still reminded
        await tick(rt, h, clock, utc(2026, 3, 31, 17))
        assert len(reminders(h, "ann")) == 3
        assert reminders(h, "cara") == []                  # said no: not reminded
        day_before = [m for m in h.transport().sent["ann"] if m.text.startswith("Reminder") and m.buttons][0]
        assert "Fewer than 3 have said yes" in day_before.text
        assert "it's OK to say today isn't a good day" in day_before.text
        assert [b.command for b in day_before.buttons[0]] == ["/rsvp 1 yes", "/rsvp 1 maybe", "/rsvp 1 no"]
    finally:
        await rt.stop()


async def test_a_person_with_linked_accounts_gets_each_announcement_and_reminder_once(make_runtime) -> None:
    transports = {"memory": MemoryTransport("memory"), "other": MemoryTransport("other")}
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12), transports=transports)
    try:
        await h.say("ann", "/link")
        code = h.last("ann").split("link code is ")[1].split(".")[0]
        await h.say("ann", f"/link {code}", platform="other")       # last written from: "other"
        await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")           # ann answers yes on "memory"
        await h.say("ann", "/deliver here", platform="other")
        await tick(rt, h, clock)
        announced = [t for t in h.inbox("ann") + h.inbox("ann", "other") if "A café is planned" in t]
        assert len(announced) == 1 and announced[0] in h.inbox("ann", "other")
        await tick(rt, h, clock, utc(2026, 3, 24, 17))
        assert len(reminders(h, "ann", "other")) == 1 and reminders(h, "ann") == []
        await h.say("ann", "/deliver here")
        await tick(rt, h, clock, utc(2026, 3, 30, 16))
        assert len(reminders(h, "ann")) == 1 and len(reminders(h, "ann", "other")) == 1
    finally:
        await rt.stop()


@pytest.mark.parametrize("how", ["restart", "crash"])
async def test_restart_or_crash_between_queueing_and_sending_delivers_once(make_runtime, db_url, how) -> None:
    url = db_url
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12), url=url)
    await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")
    await tick(rt, h, clock)
    clock.set(utc(2026, 3, 30, 16))
    with rt.db.uow() as uow:
        assert service.remind(uow, rt.config, clock.now()) == 4     # lillian, ann, bob, dan
        if how == "crash":   # a worker claimed the rows and died inside the platform call
            assert uow.outbox.claim_due(100, skip_locked=False, owner="999")
    await rt.stop()
    rt2 = make_runtime(url=url, clock=FakeClock(clock.now() + timedelta(seconds=5)))
    h2 = Harness(rt2)
    await rt2.start(scheduler=False, worker=False)
    try:
        with rt2.db.uow() as uow:
            assert service.tick(uow, rt2.config, rt2.clock.now())["reminded"] == 0
        rt2.worker.recover()
        await rt2.worker.drain()
        for user in ("lillian", "ann", "bob", "dan"):
            assert len(reminders(h2, user)) == 1, user
    finally:
        await rt2.stop()


async def test_reminder_missed_in_downtime_is_sent_only_while_the_cafe_is_ahead(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")
        await h.say("lillian", "/cafe add northtown 2026-03-20 18:00 Park")
        await tick(rt, h, clock)
        # Down from before the 7-day reminder of c1 until 3 hours before it: one late reminder.
        await tick(rt, h, clock, utc(2026, 3, 31, 13))
        assert len(reminders(h, "ann")) == 1 and "c1" in reminders(h, "ann")[0]
        await tick(rt, h, clock, utc(2026, 3, 31, 14))       # the 2h reminder still comes on time
        assert len(reminders(h, "ann")) == 2
        # c2 (20 March) passed while the bot was down: nothing is sent after its start.
        assert not any("c2" in t for t in reminders(h, "dan"))
    finally:
        await rt.stop()


async def test_quiet_hours_delay_a_reminder_but_never_past_the_start(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 1, 5, 12))
    try:
        await h.say("ann", "/quiet 22:00-08:00")
        await h.say("lillian", "/cafe reminders 2h")
        await h.say("lillian", "/cafe add northtown 2026-01-10 08:30 Bakery")     # due 06:30, quiet until 08:00
        await h.say("lillian", "/cafe add northtown 2026-01-12 07:30 Bakery")     # due 05:30; quiet ends after start
        await tick(rt, h, clock)
        await tick(rt, h, clock, utc(2026, 1, 10, 5, 30))          # 06:30 local
        assert reminders(h, "ann") == [] and len(reminders(h, "bob")) == 1
        await tick(rt, h, clock, utc(2026, 1, 10, 7, 0))           # 08:00 local: quiet hours over
        assert len(reminders(h, "ann")) == 1
        # For c2 it goes out just before quiet hours begin the evening before (21:59 local).
        await tick(rt, h, clock, utc(2026, 1, 11, 20, 58))
        assert len(reminders(h, "ann")) == 1
        await tick(rt, h, clock, utc(2026, 1, 11, 20, 59))
        assert len(reminders(h, "ann")) == 2 and "c2" in reminders(h, "ann")[1]
        for hour in (4, 5, 6, 7):                                  # and never again
            await tick(rt, h, clock, utc(2026, 1, 12, hour, 0))
        assert len(reminders(h, "ann")) == 2
    finally:
        await rt.stop()


async def test_quiet_hours_skip_when_there_is_no_moment_before_the_start(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 1, 12, 4, 0))   # 05:00 local, inside quiet hours
    try:
        await h.say("ann", "/quiet 22:00-08:00")
        await h.say("lillian", "/cafe reminders 2h")
        await h.say("lillian", "/cafe add northtown 2026-01-12 07:30 Bakery")
        for minute in range(0, 150, 15):
            await tick(rt, h, clock, utc(2026, 1, 12, 4, 0) + timedelta(minutes=minute))
        assert reminders(h, "ann") == [] and len(reminders(h, "bob")) == 1
    finally:
        await rt.stop()


async def test_move_and_cancel_notify_yes_and_maybe_only_and_reminders_follow(make_runtime, db_url) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12), url=db_url)
    try:
        await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")
        await tick(rt, h, clock)
        h.clear()
        await h.say("lillian", "/cafe move 1 2026-04-01 19:00 The room was double-booked")
        assert "2 people who said yes or maybe were told" in h.last("lillian")
        for user in ("ann", "bob"):
            assert "has moved: it is now Wednesday 1 April 2026, 19:00" in h.last(user)
            assert "The room was double-booked" in h.last(user)
        assert h.inbox("cara") == [] and h.inbox("dan") == []
        await tick(rt, h, clock, utc(2026, 3, 24, 17))            # the old 7-day instant: nothing
        assert reminders(h, "ann") == []
        await tick(rt, h, clock, utc(2026, 3, 25, 17))            # 7 days before the new time
        await tick(rt, h, clock, utc(2026, 3, 31, 14))            # the old 2h instant: nothing more
        assert len(reminders(h, "ann")) == 1 and "19:00" in reminders(h, "ann")[0]
        await tick(rt, h, clock, utc(2026, 4, 1, 15))             # 2h before 19:00 local
        assert len(reminders(h, "ann")) == 2
        h.clear()
        await h.say("lillian", "/cafe cancel 1 I'm ill, sorry")
        for user in ("ann", "bob"):
            assert "is cancelled" in h.last(user) and "I'm ill, sorry" in h.last(user)
        assert h.inbox("cara") == [] and h.inbox("dan") == []
        await tick(rt, h, clock, utc(2026, 4, 1, 16, 30))
        assert reminders(h, "ann") == []
    finally:
        await rt.stop()


async def test_reminders_off_stops_them_even_when_already_queued(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")
        await h.say("dan", "/reminders off")
        assert "Café reminders are off" in h.last("dan")
        await tick(rt, h, clock)
        await tick(rt, h, clock, utc(2026, 3, 24, 17))
        assert reminders(h, "dan") == [] and not any("A café is planned" in t for t in h.inbox("dan"))
        clock.set(utc(2026, 3, 30, 16))
        with rt.db.uow() as uow:
            service.remind(uow, rt.config, clock.now())           # queued for ann...
        await h.say("ann", "/reminders off", drain=False)          # ...who turns them off first
        await rt.worker.drain()
        assert len(reminders(h, "ann")) == 1                       # only the 7-day one
        await h.say("dan", "/reminders on")
        await tick(rt, h, clock, utc(2026, 3, 31, 14))
        assert len(reminders(h, "dan")) == 1
    finally:
        await rt.stop()


async def test_discreet_reminder_is_neutral(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")
        await h.say("ann", "/discreet on")
        await tick(rt, h, clock)
        await tick(rt, h, clock, utc(2026, 3, 30, 16))
        assert h.last("ann") == "Something is planned for tomorrow. Send /cafes for details."
    finally:
        await rt.stop()


async def test_ics_parses_back_with_zone_rrule_sequence_and_status(make_runtime, db_url) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 2, 10, 12), url=db_url)
    try:
        await h.say("lillian", "/cafe repeat northtown first-tuesday 18:00 Library")
        await h.say("ann", "/ics series 1")
        doc = h.transport().sent["ann"][-1].document
        assert doc is not None and doc[0].endswith(".ics")
        cal = icalendar.Calendar.from_ical(doc[1])
        event = cal.walk("VEVENT")[0]
        assert event.get("dtstart").dt == datetime(2026, 3, 3, 18, 0, tzinfo=OSLO)
        assert str(event.get("dtstart").params["TZID"]) == "Europe/Oslo"
        assert event.get("rrule")["BYDAY"] == ["+1TU"] and event.get("rrule")["FREQ"] == ["MONTHLY"]
        assert str(event.get("summary")) == rt.config.bot.display_name
        assert "ATTENDEE" not in doc[1].decode() and "ORGANIZER" not in doc[1].decode()
        assert cal.walk("VTIMEZONE")
        await h.say("ann", "/ics 1")
        first = icalendar.Calendar.from_ical(h.transport().sent["ann"][-1].document[1]).walk("VEVENT")[0]
        await h.say("lillian", "/cafe move 1 2026-03-03 19:00")
        await h.say("ann", "/ics 1")
        moved = icalendar.Calendar.from_ical(h.transport().sent["ann"][-1].document[1]).walk("VEVENT")[0]
        assert moved["UID"] == first["UID"] and int(moved["SEQUENCE"]) == int(first["SEQUENCE"]) + 1
        assert moved.get("dtstart").dt.hour == 19
        await h.say("lillian", "/cafe cancel 1 Snow")
        await h.say("ann", "/ics 1")
        cancelled = icalendar.Calendar.from_ical(h.transport().sent["ann"][-1].document[1]).walk("VEVENT")[0]
        assert str(cancelled["STATUS"]) == "CANCELLED" and cancelled["UID"] == first["UID"]
    finally:
        await rt.stop()


async def test_nothing_a_participant_receives_reveals_anothers_answer(make_runtime, db_url) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12), url=db_url)
    h.clear()
    try:
        await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")
        await tick(rt, h, clock)
        for user, _ in PEOPLE:
            await h.say(user, "/cafes")
            await h.say(user, "/cafe attendees 1")
            assert "That is for the group's consultant" in h.last(user)
        for due in (utc(2026, 3, 24, 17), utc(2026, 3, 30, 16), utc(2026, 3, 31, 14)):
            await tick(rt, h, clock, due)
        await h.say("lillian", "/cafe cancel 1 Snow")
        for user, own in PEOPLE:
            others = [name for u, name in PEOPLE if u != user] + [u for u, _ in PEOPLE if u != user]
            for text in h.inbox(user):
                assert not any(re.search(rf"\b{o}\b", text) for o in others + ["Lillian", "lillian", "Northtown"]), \
                    (user, text)
                assert "have said yes" not in text or "Fewer than 3" in text
        await h.say("lillian", "/cafe attendees 1")
        listing = h.last("lillian")
        assert "Birch: yes" in listing and "Willow: maybe" in listing and "Rowan: not this time" in listing
    finally:
        await rt.stop()


async def test_mod_topic_and_cafe_topic_link_to_the_next_cafe(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await _cafe_with_rsvps(rt, h, "2026-03-31 18:00")
        await h.say("lillian", "/cafe add northtown 2026-04-30 18:00 Library")
        await h.say("lillian", "/mod topic What helps on a hard day?")
        with rt.db.uow() as uow:
            first, second = uow.cafes.get(1), uow.cafes.get(2)
            assert first.topic_thread_id is not None and second.topic_thread_id is None
            thread = first.topic_thread_id
        await h.say("lillian", "/cafe topic 1 Small steps")
        await tick(rt, h, clock)
        await tick(rt, h, clock, utc(2026, 3, 30, 16))
        assert "Topic: Small steps" in reminders(h, "ann")[-1]
        assert f"Reflection thread: /read {thread}" in reminders(h, "ann")[-1]
    finally:
        await rt.stop()
