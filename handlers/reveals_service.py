"""The reveals service: what other features ask about reveals and closed threads.

Other features call these functions, never the ledger directly:
- ``can_see_thread(uow, member, thread)`` and ``visible_closed_ids(uow, member)``: closed
  threads are visible to their creator and to invited members with a live mutual reveal
  with the creator (checked now, so a withdrawn reveal hides the thread at once).
- ``create_closed_thread(...)`` and ``record_pseudonym_reveal(...)``: used by the café
  buddy pairing ("a mutual reveal of pseudonyms only" and a two-person closed thread).
- ``reset_meet_lock(uow, member_id)``: for the consultant, after 20 wrong handshake codes.
- ``bot.labels.author_label``: every author label.
"""
from __future__ import annotations

from storage.models import Member, Thread
from storage.repo import BULK, UnitOfWork


def can_see_thread(uow: UnitOfWork, member: Member | None, thread: Thread | None) -> bool:
    if member is None or thread is None or thread.group_id != member.group_id:
        return False
    if not thread.closed or thread.creator_member_id == member.id:
        return True
    if thread.creator_member_id is None:
        return False
    return uow.reveals.invited(thread.id, member.id) and uow.reveals.mutual(member.id, thread.creator_member_id)


def visible_closed_ids(uow: UnitOfWork, member: Member) -> list[int]:
    """The closed threads of the member's group this member may see now."""
    return [t.id for t in uow.reveals.closed_candidates(member.id, member.group_id) if can_see_thread(uow, member, t)]


def closed_audience(uow: UnitOfWork, thread: Thread) -> set[int]:
    """Member ids that may see a closed thread now (its creator and invited mutual partners)."""
    if thread.creator_member_id is None:
        return set()
    partners = uow.reveals.mutual_partners(thread.creator_member_id)
    return {thread.creator_member_id} | (uow.reveals.invitees(thread.id) & partners)


def create_closed_thread(uow: UnitOfWork, group_id: int, title: str, creator_member_id: int,
                         invitee_member_ids: list[int] = ()) -> Thread:  # type: ignore[assignment]
    """A closed thread (the café pairing's "Before the café", or ``new closed``)."""
    thread = uow.threads.create(group_id, title, creator_member_id)
    thread.closed = True
    uow.threads.state(creator_member_id, thread.id).follow = True
    for member_id in invitee_member_ids:
        uow.reveals.invite(thread.id, member_id)
        uow.threads.state(member_id, thread.id).follow = True
    return thread


def invite_to_thread(uow: UnitOfWork, thread: Thread, member_id: int) -> bool:
    added = uow.reveals.invite(thread.id, member_id)
    if added:
        uow.threads.state(member_id, thread.id).follow = True
    return added


def record_pseudonym_reveal(uow: UnitOfWork, a: Member, b: Member, via: str = "pairing") -> None:
    """A mutual reveal of pseudonyms only: they know each other by pseudonym (enough for a
    shared closed thread), and no card or community is shown."""
    for x, y in ((a, b), (b, a)):
        if not uow.reveals.live(x.id, y.id, "pseudonym"):
            uow.reveals.add(x.group_id, x.id, y.id, "pseudonym", via)


def record_card_reveal(uow: UnitOfWork, revealer: Member, recipient: Member, via: str) -> None:
    if not uow.reveals.live(revealer.id, recipient.id, "card"):
        uow.reveals.add(revealer.group_id, revealer.id, recipient.id, "card", via)


def record_mutual_card_reveal(uow: UnitOfWork, a: Member, b: Member, via: str) -> None:
    record_card_reveal(uow, a, b, via)
    record_card_reveal(uow, b, a, via)


def edit_back(uow: UnitOfWork, author: Member, recipient_person_id: int | None) -> int:
    """Queue an edit of every delivered copy that shows the author's label, to one person
    (or everyone): it is rendered again with the reveals as they are now. Returns the count."""
    count = 0
    for delivery in uow.reveals.copies_showing(author.id, recipient_person_id):
        original = uow.outbox.get(delivery.outbox_id)
        payload = dict(original.payload) if original is not None and original.payload else {"mode": "fanout"}
        uow.outbox.add(delivery.account_id, payload, lane=BULK, kind="post", op="edit", post_id=delivery.post_id,
                       target_delivery_id=delivery.id)
        count += 1
    return count


def withdraw_from(uow: UnitOfWork, revealer: Member, recipient: Member) -> int:
    """``unreveal <pseudonym>``: withdraw card and pseudonym reveals; edit their copies back."""
    changed = uow.reveals.withdraw(revealer.id, recipient.id, ("card", "pseudonym"))
    if changed and recipient.person_id is not None:
        return edit_back(uow, revealer, recipient.person_id)
    return 0


def hide_community(uow: UnitOfWork, member: Member) -> int:
    changed = uow.reveals.withdraw(member.id, None, ("community",))
    return edit_back(uow, member, None) if changed else 0


def reset_meet_lock(uow: UnitOfWork, member_id: int) -> None:
    """For the consultant: let a member use ``meet`` again after too many wrong codes."""
    prefs = uow.reveals.prefs(member_id)
    prefs.meet_locked = False
    prefs.meet_fails_in_row = 0
    prefs.meet_window_fails = 0
    prefs.meet_window_start = None


def on_start_over(uow: UnitOfWork, old: Member, new: Member) -> None:
    """``name --fresh``: the card goes with the person; everything the old pseudonym revealed
    or was shown ends, and the copies showing its card are edited back, so nothing links the
    new pseudonym to the old one."""
    ended = uow.reveals.withdraw_all_of(old.id)
    uow.reveals.end_requests_of(old.id)
    uow.reveals.drop_invites_of(old.id)
    uow.reveals.move_card(old.id, new.id)
    uow.session.flush()
    for revealer, recipient, scope in ended:
        if revealer != old.id or scope == "pseudonym":
            continue
        target = uow.members.get(recipient) if recipient is not None else None
        person = target.person_id if target is not None else None
        if recipient is None or person is not None:
            edit_back(uow, old, person)
