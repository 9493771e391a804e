"""Queries of the reveals feature: cards, the private ledger, requests, handshakes, invites.

Nothing here logs: the rows themselves say who revealed what to whom.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.clock import Clock, as_utc
from storage import personal_data
from storage.crypto import IdentityVault
from storage.db import ids_in
from storage.keyring import KeyRing, ring_of
from storage.models import Account, Delivery, Member, Post, Thread
from storage.models_reveals import IdentityCard, MeetCode, Reveal, RevealPrefs, RevealRequest, ThreadInvite

CARD_AAD = "identity-card"     # the vault binds each sealed blob to what it is (older cards)
MEMBER_KEY = "member"
LINKING = ("card", "pseudonym")   # scopes that make a pair "mutually revealed"


class Reveals:
    def __init__(self, session: Session, clock: Clock, vault: IdentityVault) -> None:
        self.s = session
        self.clock = clock
        self.vault = vault

    # cards ------------------------------------------------------------------
    def card(self, member_id: int) -> dict[str, str | None]:
        row = self.s.get(IdentityCard, member_id)
        data = _open_card_row(self.s, self.vault, row) if row is not None else None
        data = data or {}
        return {"name": data.get("name"), "contact": data.get("contact")}

    def set_card(self, member_id: int, name: str | None, contact: str | None) -> None:
        row = self.s.get(IdentityCard, member_id)
        if name is None and contact is None:
            if row is not None:
                self.s.delete(row)
            return
        blob = _ring(self.s).seal(member_id, json.dumps({"name": name, "contact": contact}))
        if row is None:
            self.s.add(IdentityCard(member_id=member_id, card_enc=blob, sealed_by=MEMBER_KEY,
                                    updated_at=self.clock.now()))
        else:
            row.card_enc, row.sealed_by, row.updated_at = blob, MEMBER_KEY, self.clock.now()

    def reseal_cards(self, limit: int = 500) -> int:
        """Cards written before member keys (sealed with the data key) move to the member's key."""
        rows = list(self.s.scalars(select(IdentityCard).where(IdentityCard.sealed_by.is_(None)).limit(limit)))
        for row in rows:
            data = self.vault.open(CARD_AAD, bytes(row.card_enc))
            row.card_enc = _ring(self.s).seal(row.member_id, json.dumps(data))
            row.sealed_by = MEMBER_KEY
        return len(rows)

    def move_card(self, old_member_id: int, new_member_id: int) -> None:
        card = self.card(old_member_id)
        self.set_card(old_member_id, None, None)
        self.s.flush()
        self.set_card(new_member_id, card["name"], card["contact"])

    # the ledger -------------------------------------------------------------
    def add(self, group_id: int, revealer: int, recipient: int | None, scope: str, via: str) -> Reveal:
        row = Reveal(group_id=group_id, revealer_member_id=revealer, recipient_member_id=recipient,
                     scope=scope, via=via, created_at=self.clock.now())
        self.s.add(row)
        self.s.flush()
        return row

    def live(self, revealer: int, recipient: int | None, scope: str | None = None) -> list[Reveal]:
        q = select(Reveal).where(Reveal.revealer_member_id == revealer, Reveal.withdrawn_at.is_(None))
        q = q.where(Reveal.recipient_member_id.is_(None) if recipient is None
                    else Reveal.recipient_member_id == recipient)
        if scope is not None:
            q = q.where(Reveal.scope == scope)
        return list(self.s.scalars(q.order_by(Reveal.id)))

    def live_by(self, revealer: int) -> list[Reveal]:
        return list(self.s.scalars(select(Reveal).where(Reveal.revealer_member_id == revealer,
                                                        Reveal.withdrawn_at.is_(None)).order_by(Reveal.id)))

    def card_recipients(self, revealer: int) -> set[int]:
        """Who sees this member's card now (one query per author and batch)."""
        return set(self.s.scalars(select(Reveal.recipient_member_id).where(
            Reveal.revealer_member_id == revealer, Reveal.scope == "card", Reveal.withdrawn_at.is_(None),
            Reveal.recipient_member_id.is_not(None))))

    def card_recipients_of(self, revealers: set[int]) -> dict[int, set[int]]:
        """card_recipients for several authors at once (a page of ``read``: one query, not one
        per author)."""
        found: dict[int, set[int]] = {r: set() for r in revealers}
        if revealers:
            for revealer, recipient in self.s.execute(select(Reveal.revealer_member_id, Reveal.recipient_member_id)
                                                      .where(ids_in(self.s, Reveal.revealer_member_id, sorted(revealers)),
                                                             Reveal.scope == "card", Reveal.withdrawn_at.is_(None),
                                                             Reveal.recipient_member_id.is_not(None))):
                found[revealer].add(recipient)
        return found

    def community_shown(self, member_id: int) -> bool:
        return bool(self.live(member_id, None, "community"))

    def withdraw(self, revealer: int, recipient: int | None, scopes: tuple[str, ...]) -> int:
        cond = Reveal.recipient_member_id.is_(None) if recipient is None else Reveal.recipient_member_id == recipient
        result = self.s.execute(update(Reveal).where(Reveal.revealer_member_id == revealer, cond,
                                                     Reveal.scope.in_(scopes), Reveal.withdrawn_at.is_(None))
                                .values(withdrawn_at=self.clock.now()))
        return result.rowcount or 0

    def withdraw_all_of(self, member_id: int) -> list[tuple[int, int | None, str]]:
        """Withdraw every live reveal by or to a member; returns (revealer, recipient, scope)."""
        rows = list(self.s.scalars(select(Reveal).where(
            or_(Reveal.revealer_member_id == member_id, Reveal.recipient_member_id == member_id),
            Reveal.withdrawn_at.is_(None))))
        now = self.clock.now()
        for row in rows:
            row.withdrawn_at = now
        return [(r.revealer_member_id, r.recipient_member_id, r.scope) for r in rows]

    def mutual(self, a: int, b: int) -> bool:
        """Both revealed to each other (card or pseudonym only), and neither withdrew."""
        if a == b:
            return True
        there = self.s.scalar(select(Reveal.id).where(Reveal.revealer_member_id == a, Reveal.recipient_member_id == b,
                                                      Reveal.scope.in_(LINKING), Reveal.withdrawn_at.is_(None)).limit(1))
        back = self.s.scalar(select(Reveal.id).where(Reveal.revealer_member_id == b, Reveal.recipient_member_id == a,
                                                     Reveal.scope.in_(LINKING), Reveal.withdrawn_at.is_(None)).limit(1))
        return there is not None and back is not None

    def mutual_partners(self, member_id: int) -> set[int]:
        out = set(self.s.scalars(select(Reveal.recipient_member_id).where(
            Reveal.revealer_member_id == member_id, Reveal.scope.in_(LINKING), Reveal.withdrawn_at.is_(None))))
        back = set(self.s.scalars(select(Reveal.revealer_member_id).where(
            Reveal.recipient_member_id == member_id, Reveal.scope.in_(LINKING), Reveal.withdrawn_at.is_(None))))
        return out & back

    # requests ---------------------------------------------------------------
    def add_request(self, group_id: int, requester: int, target: int, expires_at: datetime) -> RevealRequest:
        row = RevealRequest(group_id=group_id, requester_member_id=requester, target_member_id=target,
                            created_at=self.clock.now(), expires_at=expires_at)
        self.s.add(row)
        self.s.flush()
        return row

    def request(self, request_id: int) -> RevealRequest | None:
        return self.s.get(RevealRequest, request_id)

    def requests_by(self, requester: int) -> list[RevealRequest]:
        return list(self.s.scalars(select(RevealRequest).where(RevealRequest.requester_member_id == requester)
                                   .order_by(RevealRequest.id)))

    def open_requests_to(self, target: int) -> list[RevealRequest]:
        now = self.clock.now()
        rows = self.s.scalars(select(RevealRequest).where(RevealRequest.target_member_id == target,
                                                          RevealRequest.outcome.is_(None)).order_by(RevealRequest.id))
        return [r for r in rows if as_utc(r.expires_at) > now]

    def end_requests_of(self, member_id: int) -> None:
        """A member started over: their requests end; requests to them are quietly refused
        (the requester goes on seeing "waiting" until they expire, as with any other)."""
        self.s.execute(update(RevealRequest).where(RevealRequest.requester_member_id == member_id,
                                                   RevealRequest.outcome.is_(None))
                       .values(outcome="cancelled", answered_at=self.clock.now(),
                               expires_at=self.clock.now()))
        self.s.execute(update(RevealRequest).where(RevealRequest.target_member_id == member_id,
                                                   RevealRequest.outcome.is_(None))
                       .values(outcome="refused", answered_at=self.clock.now()))

    # preferences and the handshake -------------------------------------------
    def prefs(self, member_id: int) -> RevealPrefs:
        row = self.s.get(RevealPrefs, member_id)
        if row is None:
            row = RevealPrefs(member_id=member_id, requests_off=False, meet_fails_in_row=0, meet_window_fails=0,
                              meet_locked=False)
            self.s.add(row)
            self.s.flush()
        return row

    def code_hash(self, group_id: int, code: str) -> str:
        """Keyed with the data key: a copy of the database does not give the codes away."""
        return self.vault.lookup_hash("meet-code", f"{group_id}:{code}")

    def add_meet(self, group_id: int, member_id: int, code_hash: str, expires_at: datetime) -> MeetCode:
        self.s.execute(update(MeetCode).where(MeetCode.member_id == member_id, MeetCode.status == "open")
                       .values(status="ended"))       # one open code per member
        row = MeetCode(group_id=group_id, member_id=member_id, code_hash=code_hash, created_at=self.clock.now(),
                       expires_at=expires_at, status="open", owner_confirmed=False, partner_confirmed=False)
        self.s.add(row)
        self.s.flush()
        return row

    def open_meet(self, group_id: int, code_hash: str) -> MeetCode | None:
        row = self.s.scalar(select(MeetCode).where(MeetCode.group_id == group_id, MeetCode.code_hash == code_hash,
                                                   MeetCode.status == "open").order_by(MeetCode.id.desc()).limit(1))
        if row is None or as_utc(row.expires_at) <= self.clock.now():
            return None
        return row

    def checking_meet(self, member_id: int) -> MeetCode | None:
        return self.s.scalar(select(MeetCode).where(
            MeetCode.status == "checking",
            or_(MeetCode.member_id == member_id, MeetCode.partner_member_id == member_id))
            .order_by(MeetCode.id.desc()).limit(1))

    # closed threads ---------------------------------------------------------
    def invite(self, thread_id: int, member_id: int) -> bool:
        if self.s.get(ThreadInvite, (thread_id, member_id)) is not None:
            return False
        self.s.add(ThreadInvite(thread_id=thread_id, member_id=member_id, invited_at=self.clock.now()))
        self.s.flush()
        return True

    def invited(self, thread_id: int, member_id: int) -> bool:
        return self.s.get(ThreadInvite, (thread_id, member_id)) is not None

    def invitees(self, thread_id: int) -> set[int]:
        return set(self.s.scalars(select(ThreadInvite.member_id).where(ThreadInvite.thread_id == thread_id)))

    def closed_candidates(self, member_id: int, group_id: int) -> list[Thread]:
        """Closed threads of the group the member created or was invited to."""
        invited = select(ThreadInvite.thread_id).where(ThreadInvite.member_id == member_id)
        return list(self.s.scalars(select(Thread).where(
            Thread.group_id == group_id, Thread.closed.is_(True),
            or_(Thread.creator_member_id == member_id, Thread.id.in_(invited)))))

    def drop_invites_of(self, member_id: int) -> None:
        self.s.execute(delete(ThreadInvite).where(ThreadInvite.member_id == member_id))

    # copies to edit back ----------------------------------------------------
    def copies_showing(self, author_member_id: int, recipient_person_id: int | None) -> list[Delivery]:
        """Delivered copies of the author's posts, or of posts replying to them (their label
        shows in the reply line), to one person (or to everyone when None)."""
        target = aliased(Post)
        q = (select(Delivery).join(Post, Post.id == Delivery.post_id)
             .outerjoin(target, target.id == Post.reply_to_post_id)
             .where(Delivery.deleted.is_(False),
                    or_(Post.author_member_id == author_member_id,
                        and_(target.id.is_not(None), target.author_member_id == author_member_id))))
        if recipient_person_id is not None:
            q = q.where(Delivery.account_id.in_(select(Account.id).where(Account.person_id == recipient_person_id)))
        return list(self.s.scalars(q.order_by(Delivery.id)))

    def group_members(self, group_id: int) -> list[Member]:
        return list(self.s.scalars(select(Member).where(Member.group_id == group_id, Member.status == "active")))


# -- the person's own export (mydata) and erasure (forget) -------------------------------------

def _ring(session: Session) -> KeyRing:
    ring = ring_of(session)
    if ring is None:
        raise RuntimeError("identity cards are read and written inside a unit of work")
    return ring


def _open_card_row(session: Session, vault: IdentityVault, row: IdentityCard) -> dict | None:
    """The card's fields; None once the member's key is destroyed (they were forgotten)."""
    if row.sealed_by != MEMBER_KEY:
        return vault.open(CARD_AAD, bytes(row.card_enc))
    text = _ring(session).open(row.member_id, bytes(row.card_enc))
    return json.loads(text) if text is not None else None


def _export_cards(session: Session, refs, vault: IdentityVault) -> list[dict]:  # type: ignore[no-untyped-def]
    if not refs.member_ids:
        return []
    rows = session.scalars(select(IdentityCard).where(IdentityCard.member_id.in_(refs.member_ids)))
    return [{"member_id": r.member_id, "card": _open_card_row(session, vault, r),
             "updated_at": r.updated_at.isoformat()} for r in rows]


def _export_requests(session: Session, refs, vault: IdentityVault) -> list[dict]:  # type: ignore[no-untyped-def]
    """A requester's export must not tell a decline from no answer: their rows show only
    what they were told (accepted, waiting or expired); rows to them show their own answer."""
    if not refs.member_ids:
        return []
    out: list[dict] = []
    rows = session.scalars(select(RevealRequest).where(or_(RevealRequest.requester_member_id.in_(refs.member_ids),
                                                           RevealRequest.target_member_id.in_(refs.member_ids))))
    for r in rows:
        mine = r.requester_member_id in refs.member_ids
        if mine:
            status = "accepted" if r.outcome == "accepted" else "waiting until it expires"
        else:
            status = r.outcome or "open"
        out.append({"id": r.id, "asked_by_you": mine, "status": status, "created_at": r.created_at.isoformat(),
                    "expires_at": r.expires_at.isoformat()})
    return out


def _export_reveals(session: Session, refs, vault: IdentityVault) -> list[dict]:  # type: ignore[no-untyped-def]
    """What the person revealed and to whom, and what others revealed to them: the other side
    by pseudonym only (what the person already saw), never by internal id."""
    if not refs.member_ids:
        return []
    rows = session.scalars(select(Reveal).where(or_(Reveal.revealer_member_id.in_(refs.member_ids),
                                                    Reveal.recipient_member_id.in_(refs.member_ids)))
                           .order_by(Reveal.id))
    out: list[dict] = []
    for r in rows:
        mine = r.revealer_member_id in refs.member_ids
        other_id = r.recipient_member_id if mine else r.revealer_member_id
        other = session.get(Member, other_id) if other_id is not None else None
        item = {"id": r.id, "by_you": mine, "scope": r.scope, "via": r.via, "created_at": r.created_at.isoformat(),
                "withdrawn_at": r.withdrawn_at.isoformat() if r.withdrawn_at else None}
        if mine and other_id is None:
            item["to_whole_group"] = True
        else:
            # None when they have left (started over or were forgotten): nothing names them now.
            item["to_pseudonym" if mine else "from_pseudonym"] = other.pseudonym if other is not None else None
        out.append(item)
    return out


personal_data.register("identity_cards", personal_data.Policy(export=_export_cards))
personal_data.register("reveals", personal_data.Policy(export=_export_reveals))
personal_data.register("reveal_requests", personal_data.Policy(export=_export_requests))
