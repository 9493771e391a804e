"""Identity cards, mutual reveals, the café handshake, closed threads, and the one label function."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.clock import FakeClock
from handlers.notifications import send_digests
from handlers.reveals_service import (
    can_see_thread, create_closed_thread, record_pseudonym_reveal, reset_meet_lock,
)
from storage.models import Member
from storage.models_reveals import IdentityCard
from tests.harness import Harness


def posts_in(texts: list[str]) -> list[str]:
    return [t for t in texts if t.startswith("#") and " · p" in t.split("\n")[0]]


def request_id(text: str) -> str:
    return re.search(r"request r(\d+)", text).group(1)


async def three(h: Harness) -> None:
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow")
    await h.onboard("cy", "Moss")
    await h.say("ann", "/card name Anna")
    await h.say("ann", "/card contact anna@example.org")
    await h.say("bob", "/card name Bjarne")
    await h.say("cy", "/card name Cyrus")
    h.clear()


async def mutual(h: Harness, a: str, b: str, b_pseudonym: str) -> None:
    await h.say(a, f"/reveal to {b_pseudonym}")
    await h.say(b, f"/accept {request_id(h.last(b))}")


async def test_mutual_reveal_shows_first_names_only_to_the_pair(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await three(h)
    await h.say("ann", "/reveal to Willow")
    assert "Birch would like to exchange cards" in h.last("bob")
    assert "Anna" not in h.last("bob")             # nothing before both agreed
    await h.say("bob", f"/accept {request_id(h.last('bob'))}")
    assert "You and Willow (Bjarne)" in h.last("ann") and "Birch (Anna)" in h.last("bob")
    assert "contact: anna@example.org" in h.last("bob")
    h.clear()
    await h.say("ann", "/new Evenings\nHow are you?")
    await h.say("bob", "/reply 1 Fine, thanks")
    assert posts_in(h.inbox("bob")) == ["#1 Evenings · p1 · Birch (Anna)\nHow are you?"]
    assert posts_in(h.inbox("ann")) == ["#1 Evenings · p2 · Willow (Bjarne)\nFine, thanks"]
    assert posts_in(h.inbox("cy")) == ["#1 Evenings · p1 · Birch\nHow are you?", "#1 Evenings · p2 · Willow\nFine, thanks"]
    # the card is sealed at rest
    with rt.db.uow() as uow:
        blobs = list(uow.session.scalars(select(IdentityCard.card_enc)))
    assert blobs and all(b"Anna" not in bytes(b) and b"Bjarne" not in bytes(b) for b in blobs)


async def test_decline_looks_exactly_like_no_answer(make_runtime) -> None:
    views = []
    for answer in ("decline", None):
        clock = FakeClock()
        rt = make_runtime(clock=clock, url=f"sqlite:///{rt_path(views)}")
        h = Harness(rt)
        await three(h)
        await h.say("cy", "/reveal to Willow")
        if answer:
            await h.say("bob", f"/decline {request_id(h.last('bob'))}")
            assert "Nobody is told" in h.last("bob")
        await h.say("cy", "/reveal")
        await h.say("cy", "/me")
        clock.advance(days=15)
        await h.say("cy", "/reveal")
        await h.say("cy", "/reveal to Willow")
        views.append(h.inbox("cy"))
    assert views[0] == views[1]
    assert any("Your request to Willow: waiting." in m for m in views[0])
    assert "asked Willow recently" in views[0][-1]


_paths = iter(range(1000))


def rt_path(_: object) -> str:
    import tempfile
    return f"{tempfile.mkdtemp()}/bot{next(_paths)}.db"


async def test_limits_pending_cooldown_and_reveals_off(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    h = Harness(rt)
    await three(h)
    for name, p in (("dee", "Fern"), ("eve", "Oak"), ("fay", "Elm")):
        await h.onboard(name, p)
    await h.say("bob", "/reveals off")
    await h.say("ann", "/reveal to Willow")
    assert h.inbox("bob")[-1].startswith("Requests are off")      # nothing about Birch reached bob
    for p in ("Fern", "Oak"):
        await h.say("ann", f"/reveal to {p}")
    await h.say("ann", "/reveal to Elm")
    assert "3 requests waiting" in h.last("ann")
    clock.advance(days=15)
    await h.say("ann", "/reveal to Elm")
    assert "I have asked Elm" in h.last("ann")
    await h.say("ann", "/reveal to Willow")
    assert "asked Willow recently" in h.last("ann")
    clock.advance(days=31)
    await h.say("ann", "/reveal to Willow")
    assert "I have asked Willow" in h.last("ann")


async def test_oneway_and_community(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await three(h)
    await h.say("ann", "/reveal to Moss oneway")
    assert "Birch (Anna) has chosen to show you their card" in h.last("cy")
    await h.say("bob", "/reveal community")
    await h.say("bob", "/new Hi\nhello")
    assert posts_in(h.inbox("ann"))[-1] == "#1 Hi · p1 · Willow · Northtown\nhello"
    await h.say("cy", "/reply 1 hi back")
    assert posts_in(h.inbox("bob"))[-1] == "#1 Hi · p2 · Moss\nhi back"
    await h.say("ann", "/reply 1 me too")
    assert posts_in(h.inbox("cy"))[-1] == "#1 Hi · p3 · Birch (Anna)\nme too"
    assert posts_in(h.inbox("bob"))[-1] == "#1 Hi · p3 · Birch\nme too"
    await h.say("bob", "/hide community")
    copy = next(m for m in h.transport().sent["ann"] if "p1 ·" in m.text)
    assert copy.text.startswith("#1 Hi · p1 · Willow\n") and "Northtown" in copy.edits[0]
    await h.say("ann", "/me")
    assert "Moss can link Birch to your card." in h.last("ann")


async def test_unreveal_edits_copies_back_and_says_what_cannot_be_undone(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await three(h)
    await mutual(h, "ann", "bob", "Willow")
    await h.say("ann", "/new T\nfirst")
    await h.say("bob", "/reply 1 answer")
    await h.say("ann", "/unreveal Willow")
    assert "cannot be taken back" in h.last("ann")
    copy = next(m for m in h.transport().sent["bob"] if "p1 ·" in m.text)
    assert copy.text == "#1 T · p1 · Birch\nfirst" and "Birch (Anna)" in copy.edits[0]
    # Willow's own reveal to Birch is untouched: Birch still sees Bjarne
    await h.say("bob", "/reply 1 still me")
    assert posts_in(h.inbox("ann"))[-1] == "#1 T · p3 · Willow (Bjarne)\nstill me"


async def test_meet_handshake_and_wrong_guesses(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    h = Harness(rt)
    await three(h)
    await h.say("ann", "/meet")
    code = re.search(r"Your café code: (\w+)", h.last("ann")).group(1)
    for guess in ("AAAAA", "CCCCC", "DDDDD", "EEEEE", "FFFFF"):
        await h.say("cy", f"/meet {guess}")
        assert "does not match" in h.last("cy")
    await h.say("cy", f"/meet {code}")            # even the right code: five wrong ones this hour
    assert "try again in an hour" in h.last("cy")
    await h.say("bob", f"/meet {code.lower()}")
    phrase_b = re.search(r"Check phrase: (\w+ \w+)", h.last("bob")).group(1)
    phrase_a = re.search(r"Check phrase: (\w+ \w+)", h.last("ann")).group(1)
    assert phrase_a == phrase_b and "link with Birch" in h.last("bob") and "link with Willow" in h.last("ann")
    await h.say("bob", "/meet confirm")
    assert "Waiting for the other" in h.last("bob")
    await h.say("ann", "/meet confirm")
    assert "You and Willow (Bjarne)" in h.last("ann") and "You and Birch (Anna)" in h.last("bob")
    await h.say("cy", f"/meet {code}")            # single use
    clock.advance(hours=1, minutes=1)
    await h.say("cy", f"/meet {code}")
    assert "does not match" in h.last("cy")
    # 20 wrong in a row lock meet until the consultant resets it
    for _ in range(4):
        clock.advance(hours=1, minutes=1)
        for _ in range(5):
            await h.say("cy", "/meet AAAAA")
    assert "paused for you" in h.last("cy")
    clock.advance(hours=2)
    await h.say("cy", "/meet")
    assert "paused for you" in h.last("cy")
    with rt.db.uow() as uow:
        moss = uow.members.by_pseudonym(1, "Moss")
        reset_meet_lock(uow, moss.id)
    await h.say("cy", "/meet")
    assert "Your café code" in h.last("cy")


async def test_meet_needs_both_confirmations_in_two_minutes(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    h = Harness(rt)
    await three(h)
    await h.say("ann", "/meet")
    code = re.search(r"Your café code: (\w+)", h.last("ann")).group(1)
    await h.say("cy", f"/meet {code}")
    await h.say("ann", "/meet confirm")
    clock.advance(minutes=3)
    await h.say("cy", "/meet confirm")
    assert "nothing was linked" in h.last("cy")
    await h.say("ann", "/new After\nx")
    assert posts_in(h.inbox("cy"))[-1] == "#1 After · p1 · Birch\nx"


async def test_closed_thread_is_invisible_without_invite_and_mutual_reveal(make_runtime) -> None:
    clock = FakeClock()
    rt = make_runtime(clock=clock)
    h = Harness(rt)
    await three(h)
    await h.onboard("lillian", "Lillian")            # the consultant
    await mutual(h, "ann", "bob", "Willow")
    await h.say("ann", "/new closed Just us\nhello friend")
    assert "Closed thread #1 Just us is ready" in h.inbox("ann")[-2]
    await h.say("ann", "/invite 1 Moss")
    assert "need a mutual reveal first" in h.last("ann")
    await h.say("ann", "/invite 1 Willow")
    assert "invited you to the closed thread #1" in h.last("bob")
    await h.say("bob", "/read 1")
    assert any("p1 · Birch (Anna)\nhello friend" in m for m in h.inbox("bob"))
    await h.say("bob", "/reply 1 hi")
    for who in ("cy", "lillian"):
        await h.say(who, "/threads")
        assert "Just us" not in h.last(who)
        await h.say(who, "/read 1")
        assert h.last(who) == "There is no thread 1 in your group. Send /threads to see them."
        await h.say(who, "/reply 1 sneaky")
        assert all("hello friend" not in m and "Just us" not in m for m in h.inbox(who))
    await h.say("bob", "/threads")
    assert "Just us" in h.last("bob")
    await h.say("ann", "/reply 1 more")
    assert posts_in(h.inbox("bob"))[-1] == "#1 Just us · p3 · Birch (Anna)\nmore"
    for who in ("bob", "cy"):
        await h.say(who, "/notify digest")
    clock.advance(hours=1)
    await h.say("ann", "/reply 1 for the digest")
    with rt.db.uow() as uow:
        send_digests(uow, clock.now())
    await rt.worker.drain()
    assert "Just us" in h.last("bob")
    assert all("Just us" not in m for m in h.inbox("cy"))
    # Willow withdraws: the thread disappears for Willow, and Birch's card goes from Willow's copies
    await h.say("ann", "/unreveal Willow")
    await h.say("bob", "/threads")
    assert "Just us" not in h.last("bob")
    with rt.db.uow() as uow:
        willow = uow.members.by_pseudonym(1, "Willow")
        assert not can_see_thread(uow, willow, uow.threads.get(1))


async def test_service_api_for_cafe_pairings(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await three(h)
    with rt.db.uow() as uow:
        birch, moss = (uow.members.by_pseudonym(1, n) for n in ("Birch", "Moss"))
        willow = uow.members.by_pseudonym(1, "Willow")
        record_pseudonym_reveal(uow, birch, moss)
        thread = create_closed_thread(uow, 1, "Before the café", birch.id, [moss.id])
        assert can_see_thread(uow, moss, thread) and not can_see_thread(uow, willow, thread)
    await h.say("ann", "/reply 1 see you there")
    assert posts_in(h.inbox("cy")) == ["#1 Before the café · p1 · Birch\nsee you there"]   # no card
    assert posts_in(h.inbox("bob")) == []


async def test_name_fresh_ends_old_reveals(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await three(h)
    await mutual(h, "ann", "bob", "Willow")
    await h.say("ann", "/new T\nold post")
    await h.say("ann", "/name --fresh Rowan")
    copy = next(m for m in h.transport().sent["bob"] if "p1 ·" in m.text)
    assert copy.text == "#1 T · p1 · Birch\nold post"
    await h.say("ann", "/reply 1 new me")
    assert posts_in(h.inbox("bob"))[-1] == "#1 T · p2 · Rowan\nnew me"
    await h.say("ann", "/card")
    assert "First name: Anna" in h.last("ann")


async def test_mydata_shows_the_card_and_never_a_decline(make_runtime) -> None:
    import json
    rt = make_runtime()
    h = Harness(rt)
    await three(h)
    await h.say("cy", "/reveal to Willow")
    await h.say("bob", f"/decline {request_id(h.last('bob'))}")
    with rt.db.uow() as uow:
        from storage import personal_data
        cy = uow.accounts.find("memory", "cy")
        ann = uow.accounts.find("memory", "ann")
        mine = json.dumps(personal_data.export(uow.session, uow.accounts.vault, cy.person_id))
        card = json.dumps(personal_data.export(uow.session, uow.accounts.vault, ann.person_id), ensure_ascii=False)
    assert "declined" not in mine and '"status": "waiting until it expires"' in mine, mine
    assert "anna@example.org" in card
