"""Café buddies and rides: pairing two members in a closed two-person thread.

A pairing (buddy, or a ride need introduced to an offer) is a mutual reveal of pseudonyms
only (``via="pairing"``), never of cards or communities, and opens a closed thread that
only the two can see. Ending it withdraws that pseudonym reveal (unless another live
café pairing joins the same two) and locks the thread, so the other no longer sees it.

What each side learns, and when:
- asking (``buddy``/``ride``) tells nobody anything; the consultant sees it in
  ``cafe attendees``;
- a pairing tells each only the other's label (as ``bot.labels`` shows it to them);
- an ending tells the other only that the pairing ended (never why: an RSVP "no" and
  ``off`` give the same notice, so nothing says who RSVP'd what).
"""
from __future__ import annotations

from typing import Callable

from handlers.reveals_service import create_closed_thread, record_pseudonym_reveal
from storage.models import Member
from storage.models_cafes import Cafe, CafeBuddy, CafeRide
from storage.repo import DIRECT, UnitOfWork

VIA = "pairing"
NOTICE = "cafe_pair"
COMING = ("yes", "maybe")
# Builds a thread title for a member (in their language): (member, key, cafe id) -> title.
Titler = Callable[[Member, str, int], str]


def coming(uow: UnitOfWork, cafe: Cafe, member: Member) -> bool:
    row = uow.cafes.rsvp(cafe.id, member.id)
    return row is not None and row.answer in COMING


def _active(uow: UnitOfWork, member_id: int | None) -> Member | None:
    member = uow.members.get(member_id) if member_id is not None else None
    if member is None or member.status != "active" or member.person_id is None:
        return None
    return member


def notify(uow: UnitOfWork, member: Member, key: str, cafe: Cafe, *, about: Member | None = None,
           thread: int | None = None) -> None:
    """A pairing notice, rendered at delivery (the label of ``about`` as this recipient sees it)."""
    if member.person_id is None:
        return
    payload = {"key": key, "cafe": cafe.id, "about": about.id if about else None, "thread": thread}
    for account in uow.accounts.for_person(member.person_id):
        uow.outbox.add(account.id, payload, kind=NOTICE, lane=DIRECT)


def _open(uow: UnitOfWork, cafe: Cafe, first: Member, second: Member, title: str) -> int:
    thread = create_closed_thread(uow, cafe.group_id, title, first.id, [second.id])
    record_pseudonym_reveal(uow, first, second, via=VIA)
    uow.session.flush()
    return thread.id


def _close(uow: UnitOfWork, a: int, b: int, thread_id: int | None) -> None:
    """Lock the pair's thread; withdraw the pairing's pseudonym reveal unless another live
    café pairing still joins the two (their other thread must stay visible)."""
    thread = uow.threads.get(thread_id) if thread_id is not None else None
    if thread is not None:
        thread.locked = True
    uow.session.flush()
    if uow.cafes.pair_threads(a, b) - {thread_id}:
        return
    for x, y in ((a, b), (b, a)):
        for row in uow.reveals.live(x, y, "pseudonym"):
            if row.via == VIA:
                row.withdrawn_at = uow.clock.now()


# -- buddies ---------------------------------------------------------------------------------
def pair_buddies(uow: UnitOfWork, cafe: Cafe, first: CafeBuddy, second: CafeBuddy, titler: Titler) -> bool:
    a, b = _active(uow, first.member_id), _active(uow, second.member_id)
    if a is None or b is None or a.id == b.id:
        return False
    thread_id = _open(uow, cafe, a, b, titler(a, "cafe.buddy_thread_title", cafe.id))
    first.buddy_member_id, first.thread_id = b.id, thread_id
    second.buddy_member_id, second.thread_id = a.id, thread_id
    notify(uow, a, "cafe.buddy_paired", cafe, about=b, thread=thread_id)
    notify(uow, b, "cafe.buddy_paired", cafe, about=a, thread=thread_id)
    return True


def auto_pair(uow: UnitOfWork, cafe: Cafe, row: CafeBuddy, titler: Titler) -> bool:
    """First come, first paired: the oldest other wish whose member is still coming."""
    for other in uow.cafes.waiting_buddies(cafe.id):
        if other.id == row.id:
            continue
        member = _active(uow, other.member_id)
        if member is None or not coming(uow, cafe, member):
            continue
        return pair_buddies(uow, cafe, other, row, titler)
    return False


def end_buddy(uow: UnitOfWork, cafe: Cafe, member: Member, titler: Titler, *, auto: bool) -> str:
    """``buddy <cafe> off`` (or an RSVP "no"): withdraw a wish, or end a pairing. The other
    is told and waits again (and is paired anew if someone else is waiting)."""
    row = uow.cafes.buddy(cafe.id, member.id)
    if row is None:
        return "none"
    partner_id, thread_id = row.buddy_member_id, row.thread_id
    uow.cafes.drop(row)
    if partner_id is None:
        return "withdrawn"
    other_row = uow.cafes.buddy(cafe.id, partner_id)
    if other_row is not None:
        other_row.buddy_member_id, other_row.thread_id = None, None
    _close(uow, member.id, partner_id, thread_id)
    partner = _active(uow, partner_id)
    if partner is not None and other_row is not None:
        notify(uow, partner, "cafe.buddy_ended", cafe)
        if auto:
            auto_pair(uow, cafe, other_row, titler)
    return "ended"


# -- rides -----------------------------------------------------------------------------------
def introduced(uow: UnitOfWork, row: CafeRide) -> bool:
    """A need with a live offer, or an offer with passengers. (A need whose driver was
    forgotten points at a deleted row: it is simply waiting again.)"""
    if row.kind == "offer":
        return bool(uow.cafes.passengers(row.id))
    if row.offer_id is not None and uow.cafes.ride_by_id(row.offer_id) is None:
        row.offer_id, row.thread_id, row.matched = None, None, False
    return row.offer_id is not None


def free_seats(uow: UnitOfWork, offer: CafeRide) -> int:
    return offer.seats - sum(p.seats for p in uow.cafes.passengers(offer.id))


def match_ride(uow: UnitOfWork, cafe: Cafe, need: CafeRide, offer: CafeRide, titler: Titler) -> str:
    """The consultant's ``cafe ride``: introduce a need to an offer with enough free seats."""
    if need.kind != "need" or offer.kind != "offer":
        return "kinds"
    if introduced(uow, need):
        return "already"
    if free_seats(uow, offer) < need.seats:
        return "seats"
    driver, passenger = _active(uow, offer.member_id), _active(uow, need.member_id)
    if driver is None or passenger is None:
        return "kinds"
    thread_id = _open(uow, cafe, driver, passenger, titler(driver, "cafe.ride_thread_title", cafe.id))
    need.offer_id, need.thread_id, need.matched = offer.id, thread_id, True
    uow.session.flush()
    offer.matched = free_seats(uow, offer) == 0
    notify(uow, driver, "cafe.ride_paired_offer", cafe, about=passenger, thread=thread_id)
    notify(uow, passenger, "cafe.ride_paired_need", cafe, about=driver, thread=thread_id)
    return "matched"


def _unmatch(uow: UnitOfWork, cafe: Cafe, need: CafeRide, offer: CafeRide, tell: Member | None) -> None:
    thread_id = need.thread_id
    need.offer_id, need.thread_id, need.matched = None, None, False
    uow.session.flush()
    offer.matched = free_seats(uow, offer) == 0
    _close(uow, need.member_id, offer.member_id, thread_id)
    if tell is not None:
        key = "cafe.ride_ended_need" if tell.id == need.member_id else "cafe.ride_ended_offer"
        notify(uow, tell, key, cafe)
    # The consultant arranged it: they hear that it changed (no names; the list shows them).
    for consultant in uow.moderation.consultants(cafe.group_id):
        if consultant.id not in (need.member_id, offer.member_id):
            notify(uow, consultant, "cafe.ride_changed", cafe)


def end_ride(uow: UnitOfWork, cafe: Cafe, member: Member) -> str:
    """``ride <cafe> off`` (or an RSVP "no"): a passenger's ride request stays with the
    consultant when their driver withdraws; a withdrawn need frees its seats."""
    row = uow.cafes.ride(cafe.id, member.id)
    if row is None:
        return "none"
    if row.kind == "need" and row.offer_id is not None:
        offer = uow.cafes.ride_by_id(row.offer_id)
        if offer is not None:
            _unmatch(uow, cafe, row, offer, _active(uow, offer.member_id))
    elif row.kind == "offer":
        for need in uow.cafes.passengers(row.id):
            _unmatch(uow, cafe, need, row, _active(uow, need.member_id))
    uow.cafes.drop(row)
    return "withdrawn"


def not_coming(uow: UnitOfWork, cafe: Cafe, member: Member, titler: Titler, *, auto: bool) -> None:
    """An RSVP "no": a buddy wish or pairing and a ride request or offer end with it."""
    end_buddy(uow, cafe, member, titler, auto=auto)
    end_ride(uow, cafe, member)
