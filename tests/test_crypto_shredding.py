"""What people typed is sealed under per-member keys; forget destroys them, so old backups lose it too.

The raw-copy test runs on SQLite (the file and its WAL) and on PostgreSQL (a plain-text
``pg_dump``): after a session with posts, drafts, cards, reveals, RSVPs, a report and a
message to the consultant, no copy holds any of that text or any platform id; after
``forget``, the copy taken before it, restored beside the key store as it is now, cannot
show the forgotten person's text.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from bot.clock import FakeClock
from bot.lifecycle import build_runtime
from bot.transports.base import MemoryTransport
from handlers.privacy import apply_retention
from storage.models import Draft, Group, Member, Post, Report, Thread
from storage.models_moderation import QueueItem
from storage.models_reveals import IdentityCard
from tests.conftest import DATA_KEY, fresh_pg_url, test_config
from tests.harness import Harness
from tests.pg import PostgresCluster, _bin

ANN_POSTS = ["I lie awake most nights", "Thank you Willow, truly"]
BOB_POST = "Same here, it helps to read"
BOB_FIRST = "Evenings drag on for me lately"
ANN_OTHER = {"draft": "Nobody answered me yet, orphan words",
             "card name": "Annelise", "card contact": "annelise.k@example.org",
             "report": "this reply worried me a little", "message": "Could we talk on Friday please"}
BOB_CARD = "Bjarnulf"
ANN_TITLE, BOB_TITLE = "Sleepless in the small hours", "Evenings that drag"
IDS = ["ann-id", "bob-id", "lil-id"]


class Backend:
    """The main database and the key store, on SQLite files or in the PostgreSQL cluster."""

    def __init__(self, tmp_path: Path, cluster: PostgresCluster | None) -> None:
        self.tmp, self.cluster = tmp_path, cluster
        if cluster is None:
            self.url = f"sqlite:///{tmp_path / 'bot.db'}"
            self.keys_url = f"sqlite:///{tmp_path / 'keys.db'}"
        else:
            self.url, self.keys_url = fresh_pg_url(cluster), fresh_pg_url(cluster)

    def config(self, url: str | None = None):  # type: ignore[no-untyped-def]
        config = test_config(url or self.url, consultants=["memory:lil-id"])
        config.storage.keys_url = self.keys_url
        return config

    def raw(self) -> bytes:
        """Everything an operator's copy of the main database holds."""
        if self.cluster is None:
            data = b""
            for suffix in ("", "-wal"):
                part = self.tmp / f"bot.db{suffix}"
                if part.exists():
                    data += part.read_bytes()
            return data
        return self._dump().read_bytes()

    def _dump(self) -> Path:
        target = self.tmp / "dump.sql"
        pg_url = self.url.replace("postgresql+psycopg://", "postgresql://")
        subprocess.run([_bin("pg_dump"), "--format=plain", "--no-owner", "-f", str(target), pg_url],
                       check=True, capture_output=True, timeout=120)
        return target

    def backup(self) -> None:
        if self.cluster is None:
            shutil.copy(self.tmp / "bot.db", self.tmp / "backup.db")
        else:
            shutil.copy(self._dump(), self.tmp / "backup.sql")

    def restore(self) -> str:
        """The backup, restored as a database of its own; its url."""
        if self.cluster is None:
            return f"sqlite:///{self.tmp / 'backup.db'}"
        url = fresh_pg_url(self.cluster)
        subprocess.run([_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", "-f", str(self.tmp / "backup.sql"),
                        url.replace("postgresql+psycopg://", "postgresql://")],
                       check=True, capture_output=True, timeout=120)
        return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgres" else None
    return Backend(tmp_path, cluster)


def _runtime(backend: Backend, clock: FakeClock, url: str | None = None):  # type: ignore[no-untyped-def]
    return build_runtime(backend.config(url), DATA_KEY, {"memory": MemoryTransport("memory")}, clock=clock)


async def _session(h: Harness) -> None:
    await h.onboard("lil-id", "Heron")
    await h.onboard("ann-id", "Birch")
    await h.onboard("bob-id", "Willow")
    await h.say("bob-id", f"/new {BOB_TITLE}\n{BOB_FIRST}")
    await h.say("ann-id", ANN_OTHER["draft"])                 # no thread chosen: kept as a draft
    assert "kept as draft d1" in "\n".join(h.inbox("ann-id")[-2:])
    await h.say("ann-id", f"/card name {ANN_OTHER['card name']}")
    await h.say("ann-id", f"/card contact {ANN_OTHER['card contact']}")
    await h.say("bob-id", f"/card name {BOB_CARD}")
    await h.say("ann-id", "/reveal to Willow")
    request = h.last("bob-id").split("/accept ")[1].split()[0]
    await h.say("bob-id", f"/accept {request}")
    assert ANN_OTHER["card name"] in h.last("bob-id")        # the reveal worked
    await h.say("ann-id", f"/new {ANN_TITLE}\n{ANN_POSTS[0]}")
    await h.say("bob-id", f"/reply 2 {BOB_POST}")
    await h.say("ann-id", f"/reply 2 {ANN_POSTS[1]}")
    await h.say("ann-id", f"/report 3 {ANN_OTHER['report']}")
    await h.say("ann-id", f"/tell consultant {ANN_OTHER['message']}")
    await h.say("lil-id", "/cafe add northtown 2030-03-05 18:00 Library")
    await h.say("ann-id", "/rsvp 1 yes")
    await h.say("bob-id", "/rsvp 1 maybe")
    assert "down as coming to c1" in h.last("ann-id")


def _clear_texts() -> list[str]:
    return ANN_POSTS + [ANN_TITLE, BOB_TITLE, BOB_POST, BOB_FIRST, BOB_CARD] + list(ANN_OTHER.values()) + IDS


async def test_no_clear_text_in_a_raw_copy_and_forget_reaches_an_old_backup(backend: Backend) -> None:
    clock = FakeClock()
    rt = _runtime(backend, clock)
    await _session(Harness(rt))
    if backend.cluster is None:
        with rt.db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = backend.raw()
    assert len(raw) > 10_000                     # a real copy, not an empty file
    for secret in _clear_texts():
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            assert secret.encode(encoding) not in raw, (secret, encoding)
    rt.db.engine.dispose()
    backend.backup()                             # the operator's backup, before the erasure

    rt = _runtime(backend, clock)
    h = Harness(rt)
    await h.say("ann-id", "/forget")
    await h.say("ann-id", "/forget confirm")
    assert "Everything about you is erased" in h.last("ann-id")
    rt.db.engine.dispose()

    # The old copy of the main database, restored beside the key store as it is now.
    old = _runtime(backend, clock, backend.restore())
    with old.db.uow() as uow:
        s = uow.session
        birch = s.scalar(select(Member).where(Member.pseudonym == "Birch"))
        willow = s.scalar(select(Member).where(Member.pseudonym == "Willow"))
        assert birch is not None and willow is not None          # the backup still has the rows…
        texts = {p.author_member_id: [] for p in s.scalars(select(Post))}
        for post in s.scalars(select(Post)):
            texts[post.author_member_id].append(post.body)
        assert texts[willow.id] == [BOB_FIRST, BOB_POST]                   # …others' text still opens…
        assert texts[birch.id] == [None, None]                   # …hers does not
        assert [d.body for d in s.scalars(select(Draft))] == [None]
        assert [t.title for t in s.scalars(select(Thread).order_by(Thread.id))] == [BOB_TITLE, "[removed]"]
        assert uow.reveals.card(birch.id) == {"name": None, "contact": None}
        assert uow.reveals.card(willow.id)["name"] == BOB_CARD
        assert [r.reason for r in s.scalars(select(Report))] == [None]
        assert [q.body for q in s.scalars(select(QueueItem)) if q.kind in ("message", "report")] == [None, None]
    old.db.engine.dispose()


async def test_plain_rows_from_older_versions_are_sealed_by_the_retention_job(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await h.onboard("ann", "Birch")
    await h.say("ann", "/card name Annelise")
    await h.say("ann", "/new Sleep\nfirst words")
    await h.say("ann", "/tell consultant hello there")
    with rt.db.uow() as uow:
        uow.drafts.keep(1, "to be overwritten", "kept")
    with rt.db.uow() as uow:
        s = uow.session
        s.execute(Post.__table__.update().values(body="written before encryption", body_enc=None))
        s.execute(Thread.__table__.update().values(title="an old title", title_enc=None))
        s.execute(Draft.__table__.update().values(body="an old draft", body_enc=None))
        s.execute(QueueItem.__table__.update().values(body="an old message", body_enc=None))
        card = s.get(IdentityCard, 1)
        card.card_enc, card.sealed_by = uow.accounts.vault.seal("identity-card", {"name": "Old", "contact": None}), None
    with rt.db.uow() as uow:
        done = apply_retention(uow, rt.config, rt.clock.now())
    assert done["sealed"] == 5
    with rt.db.uow() as uow:
        s = uow.session
        post, draft, item = s.get(Post, 1), s.scalar(select(Draft)), s.scalar(select(QueueItem))
        assert post.body_plain is None and post.body == "written before encryption"
        assert s.get(Thread, 1).title_plain is None and s.get(Thread, 1).title == "an old title"
        assert draft.body_plain is None and draft.body == "an old draft"
        assert item.body_plain is None and item.body == "an old message"
        assert s.get(IdentityCard, 1).sealed_by == "member" and uow.reveals.card(1)["name"] == "Old"
    h.clear()
    await h.say("ann", "/drafts")
    assert "an old draft" in h.last("ann")                   # what the person sees is unchanged


async def test_one_unwrap_per_author_per_batch(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    for i in range(5):
        await h.onboard(f"u{i}", f"Tree{i}")
    await h.say("u0", "/new Sleep\nhello all")
    with rt.db.uow() as uow:
        for post in uow.session.scalars(select(Post)):
            for _ in range(10):
                assert post.body == "hello all"
        assert uow.keyring.unwraps == 1


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=8, max_size=60)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=texts, title=texts, message=texts)
def test_sealed_text_never_reaches_a_column_in_clear_and_round_trips(make_runtime, body: str, title: str,
                                                                     message: str) -> None:
    """Property: whatever a person types into a sealed field, no column of the row holds it
    (only the sealed blob), it reads back exactly, and once the key is destroyed it is None."""
    rt = make_runtime()
    typed = (body, title, message)
    with rt.db.uow() as uow:
        s = uow.session
        group = s.scalar(select(Group).limit(1))
        member = Member(group_id=group.id, joined_at=rt.clock.now())
        s.add(member)
        s.flush()
        draft = uow.drafts.keep(member.id, body, "kept", title=title)
        item = uow.moderation.add_item(group.id, "message", subject_member_id=member.id, body=message)
        s.flush()
        ids = (member.id, draft.id, item.id)
        for table, key in ((Draft.__table__, draft.id), (QueueItem.__table__, item.id)):
            row = s.execute(select(table).where(table.c.id == key)).mappings().one()
            for value in row.values():
                if isinstance(value, str):
                    assert not any(text in value for text in typed), (table.name, value)
                elif isinstance(value, (bytes, memoryview)):
                    assert not any(text.encode("utf-8") in bytes(value) for text in typed), table.name
    member_id, draft_id, item_id = ids
    with rt.db.uow() as uow:
        d, q = uow.session.get(Draft, draft_id), uow.session.get(QueueItem, item_id)
        assert (d.body, d.title, q.body) == typed
        uow.keyring.destroy([member_id])
    with rt.db.uow() as uow:
        d, q = uow.session.get(Draft, draft_id), uow.session.get(QueueItem, item_id)
        assert (d.body, d.title, q.body) == (None, None, None)
