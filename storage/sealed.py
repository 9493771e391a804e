"""Text a person typed, sealed at rest under their member's key (crypto-shredding).

A model declares the text as a :class:`SealedText` over two columns: the sealed blob and a
plain column that only holds rows written before encryption (or by bulk tools) until the
background job (:func:`seal_plain_rows`) seals them. Code reads and writes the attribute as
plain text; the unit of work's key ring (storage/keyring.py) seals on write and opens on
read, so forgetting the member (destroying their key) makes every copy unreadable, old
backups included.

Who owns the text is a function of the row (a post's author, a draft's member, a report's
reporter). A row whose owner is unknown when it is written keeps the text plain — that is
the bot's own text (a queue note), never a person's — and a sealed row whose owner has been
unlinked (the person was forgotten) reads as None: the text is gone.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from storage.keyring import KeyRing, ring_of

_NOTHING = object()
Owner = Callable[[Any], "int | None"]


class SealedText:
    def __init__(self, plain: str, enc: str, owner: Owner, gone: str | None = None) -> None:
        """``gone``: what reads back once the text cannot be opened (None by default; a
        thread title needs some text to show, so threads give "[removed]")."""
        self.plain, self.enc, self.owner, self.gone = plain, enc, owner, gone
        self.name = ""

    def __set_name__(self, cls: type, name: str) -> None:
        self.name = name
        self._pending = f"_pending_{name}"
        self._opened = f"_opened_{name}"
        # A class lists its sealed texts so the flush hook and the sealing job find them.
        cls.__sealed_texts__ = (*cls.__dict__.get("__sealed_texts__", ()), self)  # type: ignore[attr-defined]

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        if obj is None:
            return self
        pending = obj.__dict__.get(self._pending, _NOTHING)
        if pending is not _NOTHING:
            return pending
        blob = getattr(obj, self.enc)
        if blob is None:
            return getattr(obj, self.plain)
        cached = obj.__dict__.get(self._opened)
        if cached is not None and cached[0] is blob:
            return cached[1]
        ring = ring_of(object_session(obj))
        if ring is None:
            raise RuntimeError(f"{type(obj).__name__}.{self.name} read outside a unit of work")
        member_id = self.owner(obj)
        text = None if member_id is None else ring.open(member_id, blob)
        if text is None:
            text = self.gone
        obj.__dict__[self._opened] = (blob, text)
        return text

    def __set__(self, obj: Any, value: str | None) -> None:
        obj.__dict__.pop(self._opened, None)
        obj.__dict__.pop(self._pending, None)
        if value is None:
            setattr(obj, self.plain, None)
            setattr(obj, self.enc, None)
            return
        session = object_session(obj)
        ring = ring_of(session)
        if session is None or ring is None:
            obj.__dict__[self._pending] = value      # sealed at flush (below)
            return
        self._store(obj, ring, value)

    def _store(self, obj: Any, ring: KeyRing | None, value: str) -> None:
        member_id = self.owner(obj)
        if ring is None or member_id is None:
            setattr(obj, self.plain, value)
            setattr(obj, self.enc, None)
        else:
            setattr(obj, self.plain, None)
            setattr(obj, self.enc, ring.seal(member_id, value))

    def seal_pending(self, obj: Any, ring: KeyRing | None) -> None:
        pending = obj.__dict__.pop(self._pending, _NOTHING)
        if pending is not _NOTHING:
            self._store(obj, ring, pending)

    def seal_plain(self, obj: Any, ring: KeyRing) -> bool:
        """Seal a row still in plain form; False when it has no owner to seal it for."""
        text = getattr(obj, self.plain)
        if text is None or self.owner(obj) is None:
            return False
        self._store(obj, ring, text)
        return True


def sealed_texts(obj_or_cls: Any) -> tuple[SealedText, ...]:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return getattr(cls, "__sealed_texts__", ())


@event.listens_for(Session, "before_flush")
def _seal_pending(session: Session, _context, _instances) -> None:  # type: ignore[no-untyped-def]
    """Text given to a new object before it had a session is sealed when it is flushed."""
    ring = ring_of(session)
    for obj in list(session.new) + list(session.dirty):
        for text in sealed_texts(obj):
            text.seal_pending(obj, ring)


def seal_plain_rows(session: Session, models: list[type], limit: int = 500) -> int:
    """Seal rows whose text is still plain (older versions, bulk tools); the retention job
    calls this until none are left. Rows without an owner (the bot's own notes) stay."""
    ring = ring_of(session)
    if ring is None:
        return 0
    done = 0
    for model in models:
        for text in sealed_texts(model):
            column = getattr(model, text.plain)
            for obj in session.scalars(select(model).where(column.is_not(None)).limit(limit)):
                done += text.seal_plain(obj, ring)
    return done
