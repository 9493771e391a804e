"""Repositories: the only place with queries. Handlers call these, never SQL."""
from __future__ import annotations

import contextlib
import secrets
from datetime import datetime
from typing import Iterator

from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.events import PlatformUser
from bot.unicode_text import same_looking_key
from storage.crypto import IdentityVault
from storage.db import ids_in
from storage.keyring import KeyRing, KeyStore
from storage.drafts_repo import Drafts
from storage.fanout_repo import FanOut
from storage.hardening_repo import JoinAttempts
from storage.threads_repo import Threads
from storage.cafes_repo import Cafes
from storage.moderation_repo import ModerationRepo
from storage.reveals_repo import Reveals
from storage.models import (
    Account, AppState, AuditEntry, Community, Group, InviteCode, Member, Person,
)
# The outbox and deliveries live in their own module; these names stay importable from here.
from storage.deliveries_repo import Deliveries  # noqa: F401
from storage.outbox_repo import BULK, DIRECT, RUN, Claimed, Outbox  # noqa: F401

PSEUDONYM_KEY_MAX = 128


def pseudonym_key(name: str) -> str:
    """Names that look alike (any script, case, invisible characters) share one key, so the
    unique constraint on (group, key) keeps look-alike pseudonyms apart (UTS #39 skeleton)."""
    return same_looking_key(name, PSEUDONYM_KEY_MAX)


class _Repo:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock


class People(_Repo):
    def get(self, person_id: int) -> Person | None:
        return self.s.get(Person, person_id)

    def due_for_reminder(self, cutoff: datetime) -> list[Person]:
        """Consenting people not reminded (nor joined) since ``cutoff``."""
        return list(self.s.scalars(select(Person).where(
            Person.consent_at.is_not(None), Person.consent_at < cutoff,
            (Person.last_reminder_at.is_(None)) | (Person.last_reminder_at < cutoff))))

    def create(self, language: str | None) -> Person:
        person = Person(created_at=self.clock.now(), language=language, notify="all", discreet=False)
        self.s.add(person)
        self.s.flush()
        return person


class Accounts(_Repo):
    def __init__(self, session: Session, clock: Clock, vault: IdentityVault) -> None:
        super().__init__(session, clock)
        self.vault = vault
        self._person: Person | None = None

    def find(self, platform: str, user_id: str) -> Account | None:
        h = self.vault.lookup_hash(platform, user_id)
        return self.s.scalar(select(Account).where(Account.platform == platform, Account.identity_hash == h))

    def get(self, account_id: int) -> Account | None:
        return self.s.get(Account, account_id)

    def check_key(self) -> None:
        """Raise ConfigError if stored identities cannot be opened with the current key."""
        account = self.s.scalar(select(Account).limit(1))
        if account is not None:
            self.identity(account)

    def bind_legacy(self, batch: int = 500) -> int:
        """Re-seal identities written before they were bound to their account id. Returns how
        many were re-sealed; afterwards an unbound identity is refused (see IdentityVault.open)."""
        done, last = 0, 0
        while True:
            rows = list(self.s.scalars(select(Account).where(Account.id > last).order_by(Account.id).limit(batch)))
            for account in rows:
                last = account.id
                if not self.vault.is_bound(account.identity_enc):
                    account.identity_enc = self.vault.seal(account.platform, self.identity(account), account.id)
                    done += 1
            self.s.flush()
            if len(rows) < batch:
                return done

    def identity(self, account: Account) -> dict[str, str | None]:
        return self.vault.open(account.platform, account.identity_enc, account.id)

    def _sealed(self, user: PlatformUser, account_id: int) -> bytes:
        return self.vault.seal(user.platform, {
            "user_id": user.user_id, "address": user.address,
            "username": user.username, "display_name": user.display_name,
        }, account_id)

    def find_or_create(self, user: PlatformUser, people: People, default_language: str) -> Account:
        account = self.find(user.platform, user.user_id)
        now = self.clock.now()
        if account is not None and self._erased(account):
            account = None        # they used `forget`: whoever writes now is someone new
        if account is None:
            lang = user.language if user.language in ("en", "nb") else None
            person = people.create(lang or default_language)
            account = Account(person_id=person.id, platform=user.platform,
                              identity_hash=self.vault.lookup_hash(user.platform, user.user_id),
                              identity_enc=b"", reachable=True, created_at=now, last_seen_at=now)
            self.s.add(account)
            self.s.flush()             # the new id is the associated data of the sealed identity
            account.identity_enc = self._sealed(user, account.id)
            self.s.flush()
            return account
        known = self.identity(account)
        if (known.get("address"), known.get("username"), known.get("display_name")) != (
                user.address, user.username, user.display_name):
            account.identity_enc = self._sealed(user, account.id)
        account.last_seen_at = now
        return account

    def _erased(self, account: Account) -> bool:
        person = self.s.get(Person, account.person_id)
        # Held for the transaction: the session keeps rows only weakly, and the handler's
        # people.get(account.person_id) right after would otherwise load it again.
        self._person = person
        if person is None or person.pending_action != "erased":
            return False
        from storage import personal_data
        personal_data.erase(self.s, person.id, keep_accounts=False)
        self.s.flush()
        self.s.expunge(account)
        return True

    def load(self, account_ids: list[int], known: Account | None = None) -> dict[int, tuple[Account, Person]]:
        """Accounts with their people, in one query; none when the only one is ``known`` (the
        account a handler is answering, already in this transaction with its person)."""
        if known is not None and set(account_ids) == {known.id} and inspect(known).persistent:
            person = self.s.get(Person, known.person_id)      # the transaction's own, if loaded
            if person is not None:
                return {known.id: (known, person)}
        rows = self.s.execute(select(Account, Person).join(Person, Person.id == Account.person_id)
                              .where(ids_in(self.s, Account.id, set(account_ids))))
        return {a.id: (a, p) for a, p in rows}

    def for_person(self, person_id: int) -> list[Account]:
        return list(self.s.scalars(select(Account).where(Account.person_id == person_id).order_by(Account.id)))

    def set_reachable(self, account: Account, reachable: bool) -> None:
        account.reachable = reachable


class Groups(_Repo):
    def by_slug(self, slug: str) -> Group | None:
        return self.s.scalar(select(Group).where(Group.slug == slug))

    def get(self, group_id: int) -> Group | None:
        return self.s.get(Group, group_id)

    def all(self) -> list[Group]:
        return list(self.s.scalars(select(Group).order_by(Group.id)))

    def upsert(self, slug: str, name: str) -> Group:
        group = self.by_slug(slug)
        if group is None:
            group = Group(slug=slug, name=name)
            self.s.add(group)
            self.s.flush()
        group.name = name
        return group

    def communities(self, group_id: int) -> list[Community]:
        return list(self.s.scalars(select(Community).where(Community.group_id == group_id).order_by(Community.id)))

    def community(self, group_id: int, slug: str) -> Community | None:
        return self.s.scalar(select(Community).where(Community.group_id == group_id, Community.slug == slug))

    def community_by_id(self, community_id: int) -> Community | None:
        return self.s.get(Community, community_id)

    def upsert_community(self, group_id: int, slug: str, name: str) -> Community:
        com = self.community(group_id, slug)
        if com is None:
            com = Community(group_id=group_id, slug=slug, name=name)
            self.s.add(com)
            self.s.flush()
        com.name = name
        return com

    def invite(self, code: str) -> InviteCode | None:
        return self.s.scalar(select(InviteCode).where(InviteCode.code == code.strip().upper(),
                                                      InviteCode.revoked_at.is_(None)))

    def ensure_invite(self, group_id: int, code: str, community_id: int | None = None) -> InviteCode:
        invite = self.s.scalar(select(InviteCode).where(InviteCode.code == code.upper()))
        if invite is None:
            invite = InviteCode(code=code.upper(), group_id=group_id, community_id=community_id,
                                from_config=True, created_at=self.clock.now(), uses=0)
            self.s.add(invite)
            self.s.flush()
        elif invite.from_config and invite.revoked_at is not None and invite.group_id == group_id:
            invite.revoked_at = None            # put back into the config
        return invite

    def config_invites_not_in(self, group_id: int, codes: list[str]) -> list[InviteCode]:
        """Live codes that came from the config but are no longer listed in it."""
        listed = {c.upper() for c in codes}
        rows = self.s.scalars(select(InviteCode).where(InviteCode.group_id == group_id,
                                                       InviteCode.from_config.is_(True),
                                                       InviteCode.revoked_at.is_(None)))
        return [r for r in rows if r.code not in listed]

    def new_invite(self, group_id: int, community_id: int | None) -> InviteCode:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no look-alike characters
        while True:
            code = "".join(secrets.choice(alphabet) for _ in range(8))
            if self.invite(code) is None:
                break
        invite = InviteCode(code=code, group_id=group_id, community_id=community_id,
                            from_config=False, created_at=self.clock.now(), uses=0)
        self.s.add(invite)
        self.s.flush()
        return invite


class Members(_Repo):
    def get(self, member_id: int) -> Member | None:
        return self.s.get(Member, member_id)

    def by_ids(self, member_ids: set[int]) -> dict[int, Member]:
        """Members by id, in one query (the authors of a delivery batch's posts)."""
        if not member_ids:
            return {}
        return {m.id: m for m in self.s.scalars(select(Member).where(ids_in(self.s, Member.id, sorted(member_ids))))}

    def of_person(self, person_id: int, active_only: bool = True) -> list[Member]:
        q = select(Member).where(Member.person_id == person_id)
        if active_only:
            q = q.where(Member.status == "active")
        return list(self.s.scalars(q.order_by(Member.id)))

    def of_people(self, person_ids: set[int]) -> list[Member]:
        """Active memberships of many people, in one query (a delivery batch's recipients)."""
        found: list[Member] = []
        ids = sorted(person_ids)
        for start in range(0, len(ids), 5000):
            found += self.s.scalars(select(Member).where(ids_in(self.s, Member.person_id, ids[start:start + 5000]),
                                                         Member.status == "active"))
        return found

    def in_group(self, person_id: int, group_id: int) -> Member | None:
        return self.s.scalar(select(Member).where(Member.person_id == person_id, Member.group_id == group_id,
                                                  Member.status == "active"))

    def by_pseudonym(self, group_id: int, name: str) -> Member | None:
        return self.s.scalar(select(Member).where(Member.group_id == group_id,
                                                  Member.pseudonym_key == pseudonym_key(name)))

    def add(self, person_id: int, group_id: int, role: str, community_id: int | None) -> Member:
        member = Member(person_id=person_id, group_id=group_id, role=role, status="active",
                        community_id=community_id, joined_at=self.clock.now())
        self.s.add(member)
        self.s.flush()
        return member

    def set_pseudonym(self, member: Member, name: str) -> None:
        member.pseudonym = name
        member.pseudonym_key = pseudonym_key(name)

    def active(self, group_id: int) -> list[Member]:
        return list(self.s.scalars(select(Member).where(Member.group_id == group_id, Member.status == "active",
                                                        Member.pseudonym.is_not(None)).order_by(Member.id)))



class Audit(_Repo):
    def add(self, action: str, *, group_id: int | None = None, actor_member_id: int | None = None,
            target: str | None = None, detail: str | None = None) -> None:
        self.s.add(AuditEntry(at=self.clock.now(), group_id=group_id, actor_member_id=actor_member_id,
                              action=action, target=target, detail=detail))



class State(_Repo):
    def get(self, key: str) -> str | None:
        row = self.s.get(AppState, key)
        return row.value if row else None

    def set(self, key: str, value: str) -> None:
        row = self.s.get(AppState, key)
        if row is None:
            self.s.add(AppState(key=key, value=value))
        else:
            row.value = value


class UnitOfWork:
    """One transaction and the repositories bound to it."""

    def __init__(self, session: Session, clock: Clock, vault: IdentityVault,
                 keys: KeyStore | None = None) -> None:
        self.session = session
        self.clock = clock
        self.keyring = KeyRing(keys or KeyStore(vault.wrap_key), session)
        session.info["keyring"] = self.keyring
        self.people = People(session, clock)
        self.accounts = Accounts(session, clock, vault)
        self.groups = Groups(session, clock)
        self.members = Members(session, clock)
        self.outbox = Outbox(session, clock)
        self.deliveries = Deliveries(session, clock)
        self.audit = Audit(session, clock)
        self.state = State(session, clock)
        self.threads = Threads(session, clock)
        self.fanout = FanOut(session, clock)
        self.cafes = Cafes(session, clock)
        self.moderation = ModerationRepo(session, clock)
        self.drafts = Drafts(session, clock)
        self.reveals = Reveals(session, clock, vault)
        self.join_attempts = JoinAttempts(session, clock)


class Database:
    def __init__(self, engine: Engine, vault: IdentityVault, clock: Clock,
                 keys_engine: Engine | None = None) -> None:
        self.engine = engine
        self.vault = vault
        self.clock = clock
        self.keys = KeyStore(vault.wrap_key, keys_engine)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.is_postgres = engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def uow(self) -> Iterator[UnitOfWork]:
        session = self._sessions()
        try:
            yield UnitOfWork(session, self.clock, self.vault, self.keys)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
