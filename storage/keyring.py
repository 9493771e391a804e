"""Per-member keys for crypto-shredding (PRODUCT.md §2 principle 7).

Post bodies (and other personal text that opts in) are encrypted under a random key of
their author's *member* row. That key is stored wrapped by a key derived from the data key,
in a table of its own, ``member_keys``, which may live in a separate database
(``storage.keys_url``) so that backups of the main database can be kept without it.
``forget`` destroys the person's member keys: every copy of their text — in the live
database, in a backup taken earlier — becomes unreadable once the key store has moved on.

``name --fresh`` keeps the old member's key (those posts stay readable under the old
pseudonym); nothing in the key table names a person.

A ``KeyRing`` belongs to one unit of work: keys are unwrapped at most once per transaction
(one outbox batch renders a post for many recipients with one unwrap) and forgotten with it.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, Integer, LargeBinary, delete, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bot.config import ConfigError

VERSION = b"\x01"


class KeyBase(DeclarativeBase):
    pass


class MemberKey(KeyBase):
    __tablename__ = "member_keys"
    member_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class KeyStore:
    """Where the wrapped keys live: the main database (default) or a database of their own."""

    def __init__(self, wrap_key: bytes, engine: Engine | None = None) -> None:
        self._wrap = AESGCM(wrap_key)
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False) if engine is not None else None
        if engine is not None:
            KeyBase.metadata.create_all(engine)

    def wrap(self, member_id: int, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._wrap.encrypt(nonce, key, b"member-key:%d" % member_id)

    def unwrap(self, member_id: int, blob: bytes) -> bytes:
        try:
            return self._wrap.decrypt(blob[:12], blob[12:], b"member-key:%d" % member_id)
        except InvalidTag:
            raise ConfigError("bot.data_key_env: the data key does not match the key store") from None

    def session_for(self, main: Session) -> tuple[Session, bool]:
        """The session to use, and whether it commits on its own (a separate key database)."""
        if self._sessions is None:
            return main, False
        return self._sessions(), True


class KeyRing:
    def __init__(self, store: KeyStore, main: Session) -> None:
        self.store = store
        self.main = main
        self._keys: dict[int, AESGCM | None] = {}
        self.unwraps = 0

    def _load(self, member_ids: list[int], create: bool) -> None:
        wanted = [m for m in member_ids if m not in self._keys]
        if not wanted:
            return
        session, separate = self.store.session_for(self.main)
        try:
            rows = session.scalars(select(MemberKey).where(MemberKey.member_id.in_(wanted)))
            for row in rows:
                self._keys[row.member_id] = AESGCM(self.store.unwrap(row.member_id, row.wrapped))
                self.unwraps += 1
            for member_id in wanted:
                if member_id in self._keys:
                    continue
                if not create:
                    self._keys[member_id] = None          # shredded: the text is gone
                    continue
                raw = AESGCM.generate_key(bit_length=256)
                session.add(MemberKey(member_id=member_id, wrapped=self.store.wrap(member_id, raw),
                                      created_at=datetime.now(timezone.utc)))
                self._keys[member_id] = AESGCM(raw)
            if separate:
                # A new key must exist before any text sealed with it is committed.
                session.commit()
        finally:
            if separate:
                session.close()

    def preload(self, member_ids: list[int]) -> None:
        """Unwrap the keys of many authors in one query (a batch of deliveries)."""
        self._load(list(set(member_ids)), create=False)

    def seal(self, member_id: int, text: str) -> bytes:
        self._load([member_id], create=True)
        aead = self._keys[member_id]
        assert aead is not None
        nonce = os.urandom(12)
        return VERSION + nonce + aead.encrypt(nonce, text.encode("utf-8"), b"text:%d" % member_id)

    def open(self, member_id: int, blob: bytes) -> str | None:
        """The text, or None when the member's key was destroyed (the person was forgotten)."""
        self._load([member_id], create=False)
        aead = self._keys.get(member_id)
        if aead is None:
            return None
        blob = bytes(blob)
        return aead.decrypt(blob[1:13], blob[13:], b"text:%d" % member_id).decode("utf-8")

    def destroy(self, member_ids: list[int]) -> None:
        if not member_ids:
            return
        session, separate = self.store.session_for(self.main)
        try:
            session.execute(delete(MemberKey).where(MemberKey.member_id.in_(member_ids)))
            if separate:
                session.commit()
        finally:
            if separate:
                session.close()
        for member_id in member_ids:
            self._keys[member_id] = None


def ring_of(session: Session | None) -> KeyRing | None:
    return session.info.get("keyring") if session is not None else None
