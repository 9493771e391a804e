"""Repository contract, run on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from bot.clock import FakeClock
from bot.events import PlatformUser
from storage.crypto import IdentityVault
from storage.db import make_engine, migrate
from storage.repo import BULK, DIRECT, Database
from tests.conftest import DATA_KEY


@pytest.fixture
def db(db_url: str) -> Database:
    engine = make_engine(db_url)
    migrate(engine)
    database = Database(engine, IdentityVault(DATA_KEY), FakeClock())
    yield database
    engine.dispose()


def user(name: str, platform: str = "telegram") -> PlatformUser:
    return PlatformUser(platform=platform, user_id=name, address=f"chat-{name}", username=name)


def test_migrations_reach_head_and_are_idempotent(db: Database) -> None:
    migrate(db.engine)   # a second start must not fail
    tables = set(inspect(db.engine).get_table_names())
    assert {"people", "accounts", "members", "outbox", "deliveries", "alembic_version"} <= tables
    with db.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    from alembic.script import ScriptDirectory
    from storage.db import alembic_config
    assert version == ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()


def test_accounts_are_found_by_keyed_hash_and_decrypt(db: Database) -> None:
    with db.uow() as uow:
        a = uow.accounts.find_or_create(user("4242"), uow.people, "en")
        again = uow.accounts.find_or_create(user("4242"), uow.people, "en")
        other_platform = uow.accounts.find_or_create(user("4242", "matrix"), uow.people, "en")
        assert a.id == again.id and a.id != other_platform.id
        assert uow.accounts.identity(a)["address"] == "chat-4242"
        assert b"4242" not in a.identity_enc and "4242" not in a.identity_hash


def test_identity_update_is_stored_encrypted(db: Database) -> None:
    with db.uow() as uow:
        a = uow.accounts.find_or_create(user("7"), uow.people, "en")
        renamed = PlatformUser(platform="telegram", user_id="7", address="chat-7", username="new_handle")
        uow.accounts.find_or_create(renamed, uow.people, "en")
        assert uow.accounts.identity(a)["username"] == "new_handle"


def test_pseudonym_unique_per_group_case_insensitive(db: Database) -> None:
    with db.uow() as uow:
        g = uow.groups.upsert("g", "G")
        p1 = uow.people.create("en")
        p2 = uow.people.create("en")
        m1 = uow.members.add(p1.id, g.id, "participant", None)
        uow.members.set_pseudonym(m1, "Birch")
        assert uow.members.by_pseudonym(g.id, "  BIRCH ").id == m1.id
    with pytest.raises(IntegrityError):
        with db.uow() as uow:
            m2 = uow.members.add(p2.id, g.id, "participant", None)
            uow.members.set_pseudonym(m2, "birch")


def _two_accounts(db: Database) -> tuple[int, int]:
    with db.uow() as uow:
        a = uow.accounts.find_or_create(user("a"), uow.people, "en").id
        b = uow.accounts.find_or_create(user("b"), uow.people, "en").id
    return a, b


def test_claim_keeps_per_recipient_order_and_direct_lane_first(db: Database) -> None:
    a, b = _two_accounts(db)
    with db.uow() as uow:
        first_a = uow.outbox.add(a, {"n": 1}, lane=BULK)
        uow.outbox.add(a, {"n": 2}, lane=BULK)
        first_b = uow.outbox.add(b, {"n": 3}, lane=BULK)
        direct_b = uow.outbox.add(b, {"n": 4}, lane=DIRECT)
    with db.uow() as uow:
        claimed = uow.outbox.claim_due(10, skip_locked=db.is_postgres)
    # one per recipient and lane; the direct answer comes first
    assert [c.payload["n"] for c in claimed] == [4, 1, 3]
    with db.uow() as uow:
        assert uow.outbox.claim_due(10, skip_locked=db.is_postgres) == []   # the rest wait their turn
        uow.outbox.finish(claimed[1].id)
    with db.uow() as uow:
        assert [c.payload["n"] for c in uow.outbox.claim_due(10, skip_locked=db.is_postgres)] == [2]
    assert first_a.id < first_b.id < direct_b.id


def test_rate_limit_delays_only_that_recipient(db: Database) -> None:
    a, b = _two_accounts(db)
    with db.uow() as uow:
        uow.outbox.add(a, {"n": 1})
        uow.outbox.add(b, {"n": 2})
        uow.outbox.delay_account(a, db.clock.now() + timedelta(seconds=5))
    with db.uow() as uow:
        assert [c.payload["n"] for c in uow.outbox.claim_due(10, skip_locked=db.is_postgres)] == [2]
    db.clock.advance(seconds=6)
    with db.uow() as uow:
        assert [c.payload["n"] for c in uow.outbox.claim_due(10, skip_locked=db.is_postgres)] == [1]


def test_in_flight_rows_are_recovered_after_a_crash(db: Database) -> None:
    a, _ = _two_accounts(db)
    with db.uow() as uow:
        uow.outbox.add(a, {"n": 1})
    with db.uow() as uow:
        assert len(uow.outbox.claim_due(10, skip_locked=db.is_postgres)) == 1
    with db.uow() as uow:
        assert uow.outbox.sending_owners() == {None}
        assert uow.outbox.recover_in_flight({"someone-else"}) == 0
        assert uow.outbox.recover_in_flight({None}) == 1
        assert len(uow.outbox.claim_due(10, skip_locked=db.is_postgres)) == 1


def test_held_rows_wait_for_the_person_to_come_back(db: Database) -> None:
    a, _ = _two_accounts(db)
    with db.uow() as uow:
        uow.outbox.add(a, {"n": 1})
        uow.outbox.hold_account(a)
    with db.uow() as uow:
        assert uow.outbox.claim_due(10, skip_locked=db.is_postgres) == []
        uow.outbox.release_account(a)
    with db.uow() as uow:
        assert len(uow.outbox.claim_due(10, skip_locked=db.is_postgres)) == 1


def test_deliveries_are_found_by_platform_message_id(db: Database) -> None:
    a, b = _two_accounts(db)
    with db.uow() as uow:
        item = uow.outbox.add(a, {"n": 1}, post_id=9)
        uow.session.flush()
        uow.deliveries.record(a, item.id, 9, "m-100")
    with db.uow() as uow:
        found = uow.deliveries.by_message(a, "m-100")
        assert found is not None and found.post_id == 9
        assert uow.deliveries.by_message(b, "m-100") is None
        assert [d.account_id for d in uow.deliveries.of_post(9)] == [a]


def test_invite_codes_are_case_insensitive_and_revocable(db: Database) -> None:
    with db.uow() as uow:
        g = uow.groups.upsert("g", "G")
        uow.groups.ensure_invite(g.id, "Welcome")
        made = uow.groups.new_invite(g.id, None).code
    with db.uow() as uow:
        assert uow.groups.invite("welcome") is not None
        assert uow.groups.invite(made.lower()) is not None
        assert uow.groups.invite("nope") is None


def test_concurrent_claims_never_share_a_row(db: Database) -> None:
    """Two workers (as two processes would) claim disjoint rows."""
    accounts = []
    with db.uow() as uow:
        for i in range(20):
            acc = uow.accounts.find_or_create(user(f"u{i}"), uow.people, "en")
            accounts.append(acc.id)
            uow.outbox.add(acc.id, {"n": i})
    with db.uow() as one:
        first = one.outbox.claim_due(10, skip_locked=db.is_postgres)
        if db.is_postgres:
            with db.uow() as two:    # runs while the first transaction still holds its locks
                second = two.outbox.claim_due(10, skip_locked=True)
            assert not {c.id for c in first} & {c.id for c in second}
            assert len(second) == 10
    assert len(first) == 10
