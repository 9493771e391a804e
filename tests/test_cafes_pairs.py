"""Café buddies and rides, as the participants and the consultant notice them, on SQLite
and PostgreSQL: pairing opens a two-person thread showing pseudonyms only; nobody learns
who asked for a ride (or a buddy) unless paired; endings tell only that it ended."""
from __future__ import annotations

import re

import icalendar

from tests.harness import Harness
from tests.test_cafes import PEOPLE, setup, tick, utc

CAFE = "2026-03-31 18:00"


async def _cafe(h: Harness, coming=("ann", "bob", "cara", "dan")) -> None:  # type: ignore[no-untyped-def]
    await h.say("lillian", f"/cafe add northtown {CAFE} Library")
    for user in coming:
        await h.say(user, "/rsvp 1 yes")


def thread_of(text: str) -> int:
    found = re.search(r"/read (\d+)", text)
    assert found, text
    return int(found.group(1))


def names_in(text: str, user: str) -> list[str]:
    """Pseudonyms and console names of the others (and the community, the consultant's
    console name) that appear in a text."""
    others = [n for u, n in PEOPLE if u != user] + [u for u, _ in PEOPLE if u != user] + ["Northtown", "lillian"]
    return [o for o in others if re.search(rf"\b{o}\b", text)]


async def test_buddies_are_paired_first_come_with_a_pseudonym_only_thread(make_runtime, db_url) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12), url=db_url)
    try:
        await h.say("ann", "/card name Anne Smith")
        await h.say("bob", "/card name Robert")
        await _cafe(h)
        h.clear()
        await h.say("ann", "/buddy 1")
        assert "When someone else coming to c1 asks too" in h.last("ann")
        assert all(h.inbox(u) == [] for u in ("bob", "cara", "dan", "lillian"))   # asking tells nobody
        await h.say("bob", "/buddy 1")
        await h.say("cara", "/buddy 1")                 # third: waits (first come, first paired)
        ann, bob = h.last("ann"), h.last("bob")
        assert "You have a café buddy for c1" in ann and "Willow" in ann and names_in(ann, "ann") == ["Willow"]
        assert "Birch" in bob and names_in(bob, "bob") == ["Birch"]
        assert "Anne" not in bob and "Robert" not in ann           # pseudonyms only, no cards
        assert "When someone else" in h.last("cara") and names_in(h.last("cara"), "cara") == []
        thread = thread_of(ann)
        assert thread == thread_of(bob)
        await h.say("ann", f"/reply {thread} Hi! I'll wear a green scarf.")
        assert any("green scarf" in t and "Birch" in t and "Anne" not in t for t in h.inbox("bob"))
        await h.say("bob", f"/read {thread}")
        assert not any("Anne" in t for t in h.inbox("bob"))
        for outsider in ("cara", "dan"):                           # the thread is theirs alone
            await h.say(outsider, f"/read {thread}")
            assert "green scarf" not in h.last(outsider)
            assert not any("green scarf" in t for t in h.inbox(outsider))
        await h.say("ann", "/buddy 1")
        assert f"/read {thread}" in h.last("ann")
        await h.say("lillian", "/cafe attendees 1")
        listing = h.last("lillian")
        assert "Birch and Willow are buddies" in listing and "Rowan would like a buddy" in listing
    finally:
        await rt.stop()


async def test_ending_a_pairing_says_only_that_it_ended_and_pairs_the_other_again(make_runtime, db_url) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12), url=db_url)
    try:
        await _cafe(h)
        for user in ("ann", "bob"):
            await h.say(user, "/buddy 1")
        thread = thread_of(h.last("ann"))
        h.clear()
        await h.say("ann", "/rsvp 1 no")                 # not coming: the pairing ends with it
        notice = h.last("bob")
        assert "Your buddy pairing for c1 has ended" in notice
        assert "no" not in notice.split() and "Birch" not in notice and "RSVP" not in notice.upper()
        await h.say("bob", f"/read {thread}")
        await h.say("ann", f"/reply {thread} still here?")
        assert not any("still here?" in t for t in h.inbox("bob"))   # the thread is over for them
        await h.say("cara", "/buddy 1")                  # bob is still waiting: paired with cara
        assert "Willow" in h.last("cara") and "Rowan" in h.last("bob")
        await h.say("cara", "/buddy 1 off")
        assert "has ended" in h.last("cara") and "Your buddy pairing for c1 has ended" in h.last("bob")
        await h.say("dan", "/buddy 1")                   # bob waits again: paired with dan
        assert "Willow" in h.last("dan")
        await h.say("bob", "/buddy 1 off")
        assert "has ended" in h.last("dan")
        await h.say("dan", "/buddy 1 off")
        assert "no longer waiting" in h.last("dan")
        await h.say("dan", "/buddy 1 off")
        assert "You haven't asked for a buddy" in h.last("dan")
    finally:
        await rt.stop()


async def test_buddy_needs_a_coming_rsvp_and_an_open_cafe(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await h.say("lillian", f"/cafe add northtown {CAFE} Library")
        await h.say("ann", "/buddy")
        assert "/buddy <cafe> [off]" in h.last("ann")                       # usage, not an error
        await h.say("ann", "/buddy 1")
        assert "Say you're coming first" in h.last("ann")
        await h.say("ann", "/buddy 99")
        assert "I can't find café 99" in h.last("ann")
        await h.say("ann", "/rsvp 1 yes")
        await h.say("lillian", "/cafe cancel 1 Snow")
        await h.say("ann", "/buddy 1")
        assert "was cancelled" in h.last("ann") and "{" not in h.last("ann")
        await h.say("ann", "/ride")
        assert "/ride <cafe> need|offer [seats]" in h.last("ann")
    finally:
        await rt.stop()


async def test_consultant_chooses_buddies_when_configured(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    rt.config.cafes.buddy_pairing = "consultant"
    try:
        await _cafe(h)
        for user in ("ann", "bob", "cara"):
            await h.say(user, "/buddy 1")
            assert "When someone else" in h.last(user)
        await h.say("lillian", "/cafe buddy 1 Birch Rowan")
        assert "Paired Birch and Rowan" in h.last("lillian")
        assert "Rowan" in h.last("ann") and "Birch" in h.last("cara")
        assert "You have a café buddy" not in h.last("bob")
        await h.say("bob", "/cafe buddy 1 Willow Alder")
        assert "That is for the group's consultant" in h.last("bob")
        await h.say("lillian", "/cafe buddy 1 Willow Alder")
        assert "Both need to have asked" in h.last("lillian")
    finally:
        await rt.stop()


async def test_rides_go_to_the_consultant_only_and_seats_are_respected(make_runtime, db_url) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12), url=db_url)
    try:
        await _cafe(h)
        h.clear()
        await h.say("ann", "/ride 1 offer 2")
        assert "Only the consultant sees this" in h.last("ann") and "2 seats" in h.last("ann")
        await h.say("bob", "/ride 1 need")
        await h.say("cara", "/ride 1 need 2")
        await h.say("dan", "/ride 1 need 9")
        assert "from 1 to 4" in h.last("dan")
        for user in ("ann", "bob", "cara", "dan"):           # nobody hears of anyone else's request
            assert all(names_in(t, user) == [] for t in h.inbox(user)), (user, h.inbox(user))
        await h.say("lillian", "/cafe attendees 1")
        listing = h.last("lillian")
        assert "Birch offers a ride (2 seats)" in listing and "Willow needs a ride (1 seat)" in listing
        assert "Rowan needs a ride (2 seats)" in listing
        await h.say("lillian", "/cafe ride 1 Willow Birch")
        assert "Introduced Willow and Birch" in h.last("lillian") and "1 seat is still free" in h.last("lillian")
        assert "Good news: Birch can give you a ride to c1" in h.last("bob")
        assert "introduced you to Willow" in h.last("ann")
        assert names_in(h.last("ann"), "ann") == ["Willow"] and names_in(h.last("bob"), "bob") == ["Birch"]
        await h.say("lillian", "/cafe ride 1 Rowan Birch")       # 2 needed, 1 left
        assert "only 1 free seat left" in h.last("lillian")
        await h.say("lillian", "/cafe ride 1 Willow Birch")
        assert "already been introduced" in h.last("lillian")
        await h.say("lillian", "/cafe ride 1 Birch Willow")
        assert "The first needs to have asked for a ride" in h.last("lillian")
        assert all(names_in(t, "cara") == [] for t in h.inbox("cara"))
        assert all(names_in(t, "dan") == [] for t in h.inbox("dan"))
        thread = thread_of(h.last("bob"))
        await h.say("bob", f"/reply {thread} Thank you! Pick me up at the station?")
        assert any("station" in t and "Willow" in t for t in h.inbox("ann"))
        assert not any("station" in t for u in ("cara", "dan") for t in h.inbox(u))
        await h.say("lillian", "/cafe attendees 1")
        assert "Willow needs a ride (1 seat) – introduced to Birch" in h.last("lillian")
        await h.say("ann", "/ride 1 off")                        # the driver withdraws
        assert "can't happen after all" in h.last("bob") and "still with the consultant" in h.last("bob")
        assert "A ride you arranged for c1 has changed" in h.last("lillian")
        assert "Birch" not in h.last("bob")
        await h.say("lillian", "/cafe attendees 1")
        assert "Willow needs a ride (1 seat)" in h.last("lillian") and "introduced" not in h.last("lillian")
        assert "Birch offers" not in h.last("lillian")
    finally:
        await rt.stop()


async def test_attendees_show_cards_revealed_to_the_consultant_only(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await h.say("ann", "/card name Anne")
        await h.say("bob", "/card name Robert")
        await _cafe(h, coming=("ann", "bob"))
        await h.say("ann", "/reveal to Lillian oneway")
        await h.say("lillian", "/cafe attendees 1")
        listing = h.last("lillian")
        assert re.search(r"Birch.*Anne.*: yes", listing), listing
        assert "Robert" not in listing and "Willow: yes" in listing
    finally:
        await rt.stop()


async def test_the_topic_thread_shows_its_cafe(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await h.say("lillian", f"/cafe add northtown {CAFE} Library")
        await h.say("lillian", "/mod topic What helps on a hard day?")
        with rt.db.uow() as uow:
            thread = uow.cafes.get(1).topic_thread_id
        await h.say("ann", f"/read {thread}")
        assert any("This thread goes with café c1: Tuesday 31 March 2026, 18:00, Library" in t
                   for t in h.inbox("ann"))
    finally:
        await rt.stop()


async def test_occurrence_and_series_files_share_one_uid(make_runtime, db_url) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 2, 10, 12), url=db_url)
    try:
        await h.say("lillian", "/cafe repeat northtown first-tuesday 18:00 Library")
        await h.say("lillian", "/cafe move 2 2026-04-07 19:00")
        await h.say("ann", "/ics series 1")
        series = icalendar.Calendar.from_ical(h.transport().sent["ann"][-1].document[1])
        keys = set()
        for event in series.walk("VEVENT"):
            rid = event.get("recurrence-id")
            keys.add((str(event["UID"]), rid.dt if rid else None))
        main = [e for e in series.walk("VEVENT") if e.get("recurrence-id") is None][0]
        for cafe in (1, 2):
            await h.say("ann", f"/ics {cafe}")
            event = icalendar.Calendar.from_ical(h.transport().sent["ann"][-1].document[1]).walk("VEVENT")[0]
            assert str(event["UID"]) == str(main["UID"])
            assert event.get("recurrence-id") is not None
        moved = event
        assert (str(moved["UID"]), moved.get("recurrence-id").dt) in keys       # the same override
        assert moved.get("dtstart").dt.hour == 19 and int(moved["SEQUENCE"]) == 1
        await h.say("lillian", "/cafe add northtown 2026-03-20 18:00 Park")
        await h.say("ann", "/ics 4")
        one_off = icalendar.Calendar.from_ical(h.transport().sent["ann"][-1].document[1]).walk("VEVENT")[0]
        assert one_off.get("recurrence-id") is None and str(one_off["UID"]) != str(main["UID"])
    finally:
        await rt.stop()


async def test_a_forgotten_buddy_leaves_the_others_wish_waiting(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await _cafe(h)
        for user in ("ann", "bob"):
            await h.say(user, "/buddy 1")
        await h.say("bob", "/forget")
        await h.say("bob", "/forget confirm")
        await h.say("lillian", "/cafe attendees 1")
        assert "Birch would like a buddy" in h.last("lillian") and "buddies" not in h.last("lillian")
        await h.say("cara", "/buddy 1")
        assert "Birch" in h.last("cara") and "Rowan" in h.last("ann")
    finally:
        await rt.stop()


async def test_ending_one_pairing_keeps_the_other_thread_of_the_same_two(make_runtime) -> None:
    rt, h, clock = await setup(make_runtime, utc(2026, 3, 1, 12))
    try:
        await _cafe(h, coming=("ann", "bob"))
        await h.say("ann", "/buddy 1")
        await h.say("bob", "/buddy 1")
        buddy_thread = thread_of(h.last("bob"))
        await h.say("ann", "/ride 1 offer")
        await h.say("bob", "/ride 1 need")
        await h.say("lillian", "/cafe ride 1 Willow Birch")
        ride_thread = thread_of(h.last("bob"))
        assert ride_thread != buddy_thread
        await h.say("bob", "/buddy 1 off")
        await h.say("ann", f"/reply {ride_thread} Outside the station at 17:40")
        assert any("17:40" in t for t in h.inbox("bob"))           # the ride thread still works
        await h.say("ann", "/ride 1 off")
        h.clear()
        await h.say("ann", f"/reply {ride_thread} one more thing")
        assert not any("one more thing" in t for t in h.inbox("bob"))
    finally:
        await rt.stop()
