"""The operator's command line: break-glass with two operators, outbox, invites, backup, key rotation."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.admin import cli
from bot.clock import FakeClock
from bot.config import load_config
from bot.lifecycle import build_runtime
from bot.transports.base import MemoryTransport
from storage.models import AuditEntry, OutboxItem
from storage.models_reveals import IdentityCard
from tests.conftest import DATA_KEY
from tests.harness import Harness

CONFIG = """
[bot]
data_key_file = "{tmp}/key"
[storage]
url = "sqlite:///{tmp}/bot.db"
[[operators]]
name = "ops-anna"
secret_env = "OP_ANNA"
[[operators]]
name = "ops-bjorn"
secret_env = "OP_BJORN"
[[groups]]
slug = "reconnect"
name = "ReConnect"
invite_codes = ["WELCOME"]
"""


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PEERHAVEN_DATA_KEY", DATA_KEY)
    monkeypatch.setenv("OP_ANNA", "anna-secret-0123456789")
    monkeypatch.setenv("OP_BJORN", "bjorn-secret-0123456789")
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(tmp=tmp_path))
    clock = FakeClock()
    rt = build_runtime(load_config(path), DATA_KEY, {"memory": MemoryTransport("memory")}, clock=clock)
    yield Harness(rt), str(path), clock
    rt.db.engine.dispose()


def run(path: str, clock: FakeClock, *argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = cli.main(["--config", path, *argv], clock=clock, out=lines.append)
    return code, lines


async def test_breakglass_needs_two_different_operators_and_tells_the_person(setup, capsys) -> None:
    h, path, clock = setup
    await h.onboard("ann-platform-id", "Birch")
    code, lines = run(path, clock, "breakglass", "request", "reconnect", "Birch",
                      "--reason", "safeguarding concern raised by the consultant", "--operator", "ops-anna")
    assert code == 0 and "request 1 recorded" in lines[0]
    assert "ann-platform-id" not in "\n".join(lines)
    code, lines = run(path, clock, "breakglass", "approve", "1", "--operator", "ops-anna")
    assert code == 2 and lines == []
    assert "different operator" in capsys.readouterr().err
    code, lines = run(path, clock, "breakglass", "approve", "1", "--operator", "ops-bjorn")
    assert code == 0 and "ann-platform-id" in "\n".join(lines)
    code, lines = run(path, clock, "breakglass", "approve", "1", "--operator", "ops-bjorn")
    assert code == 2 and lines == []                  # shown once
    with h.rt.db.uow() as uow:
        actions = [a.action for a in uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        details = " ".join(a.detail or "" for a in uow.session.scalars(select(AuditEntry)))
    assert actions.count("breakglass.request") == 1 and actions.count("breakglass.approve") == 1
    assert "ann-platform-id" not in details
    await h.rt.worker.drain()
    assert "looked up which account is behind your name" in h.last("ann-platform-id")


async def test_an_expired_request_cannot_be_approved(setup, capsys) -> None:
    h, path, clock = setup
    await h.onboard("ann", "Birch")
    assert run(path, clock, "breakglass", "request", "reconnect", "Birch", "--reason",
               "a written reason of some length", "--operator", "ops-anna")[0] == 0
    clock.advance(hours=25)
    code, lines = run(path, clock, "breakglass", "approve", "1", "--operator", "ops-bjorn")
    assert code == 2 and lines == [] and "expired" in capsys.readouterr().err
    with h.rt.db.uow() as uow:
        assert "breakglass.expired" in [a.action for a in uow.session.scalars(select(AuditEntry))]


async def test_an_operator_needs_their_own_secret(setup, monkeypatch, capsys) -> None:
    h, path, clock = setup
    await h.onboard("ann", "Birch")
    monkeypatch.delenv("OP_ANNA")
    code, _ = run(path, clock, "breakglass", "request", "reconnect", "Birch", "--reason",
                  "a written reason of some length", "--operator", "ops-anna")
    assert code == 2 and "OP_ANNA" in capsys.readouterr().err
    monkeypatch.setenv("OP_ANNA", "another-secret-0123456789")
    assert run(path, clock, "breakglass", "request", "reconnect", "Birch", "--reason",
               "a written reason of some length", "--operator", "ops-bjorn")[0] == 0
    code, _ = run(path, clock, "breakglass", "request", "reconnect", "Birch", "--reason",
                  "a written reason of some length", "--operator", "nobody")
    assert code == 2 and "not listed" in capsys.readouterr().err


async def test_status_failed_rows_and_retry(setup) -> None:
    h, path, clock = setup
    await h.onboard("ann", "Birch")
    with h.rt.db.uow() as uow:
        item = uow.session.scalars(select(OutboxItem).order_by(OutboxItem.id)).first()
        item.status, item.error = "failed", "gone"
        failed_id = item.id
    code, lines = run(path, clock, "status")
    assert code == 0 and "failed rows: 1" in "\n".join(lines)
    code, lines = run(path, clock, "outbox", "failed")
    assert f"{failed_id}: memory" in "\n".join(lines)
    assert run(path, clock, "outbox", "retry", "99999")[0] == 2
    code, lines = run(path, clock, "outbox", "retry", "all")
    assert code == 0 and lines == ["1 put back in the queue"]
    assert "failed rows: 0" in "\n".join(run(path, clock, "status")[1])


async def test_invites_created_and_revoked(setup) -> None:
    h, path, clock = setup
    code, lines = run(path, clock, "invite", "create", "reconnect")
    new_code = lines[0].split()[0]
    assert lines[0] == f"{new_code} (no limit on uses, valid until revoked)"
    await h.say("ann", "/start")
    await h.say("ann", "/agree")
    await h.say("ann", f"/join {new_code}")
    assert "pseudonym" in h.last("ann")
    assert run(path, clock, "invite", "revoke", new_code)[0] == 0
    await h.say("bob", "/start")
    await h.say("bob", "/agree")
    await h.say("bob", f"/join {new_code}")
    assert "pseudonym" not in h.last("bob")


async def _try_join(h: Harness, who: str, code: str) -> bool:
    for line in ("/start", "/agree", f"/join {code}"):
        await h.say(who, line)
    return "pseudonym" in h.last(who)


async def test_invites_with_a_use_limit_and_an_expiry_like_mod_invite(setup, capsys) -> None:
    h, path, clock = setup
    code, lines = run(path, clock, "invite", "create", "reconnect", "--uses", "1", "--days", "2")
    once = lines[0].split()[0]
    assert code == 0 and "(1 uses, valid until " in lines[0]
    assert await _try_join(h, "ann", once)
    assert not await _try_join(h, "bob", once)              # used up
    code, lines = run(path, clock, "invite", "create", "reconnect", "--days", "1")
    short = lines[0].split()[0]
    clock.advance(days=2)
    assert not await _try_join(h, "cy", short)             # expired
    with pytest.raises(SystemExit) as bad:
        run(path, clock, "invite", "create", "reconnect", "--uses", "0")
    assert bad.value.code == 2 and "whole number from 1 to 10000" in capsys.readouterr().err


def console_bot(path: str, clock: FakeClock) -> Harness:
    """The bot as the operator starts it again, with console accounts (the CLI names those)."""
    return Harness(build_runtime(load_config(path), DATA_KEY, {"console": MemoryTransport("console")}, clock=clock))


async def test_an_operator_grant_and_revoke_last_across_restarts(setup, tmp_path: Path) -> None:
    _, path, clock = setup
    h = console_bot(path, clock)
    await h.onboard("ann", "Birch", "console")
    await h.onboard("lil", "Heron", "console")
    await h.say("ann", "/mod queue", "console")
    assert "for the group's consultant" in h.last("ann", "console")
    code, lines = run(path, clock, "consultant", "grant", "reconnect", "console:ann")
    assert code == 0 and "is now consultant" in lines[0]
    # The config names lil (not ann); the audit log is trimmed by retention meanwhile.
    Path(path).write_text(Path(path).read_text().replace('invite_codes = ["WELCOME"]',
                                                         'invite_codes = ["WELCOME"]\nconsultants = ["console:lil"]'))
    with h.rt.db.uow() as uow:
        uow.session.execute(AuditEntry.__table__.delete())
    h.rt.db.engine.dispose()
    h = console_bot(path, clock)
    await h.say("ann", "/mod queue", "console")
    assert "for the group's consultant" not in h.last("ann", "console")     # still a consultant after the restart
    await h.say("lil", "/mod queue", "console")
    assert "for the group's consultant" not in h.last("lil", "console")     # the config's consultant too
    assert run(path, clock, "consultant", "revoke", "reconnect", "console:ann")[0] == 0
    assert run(path, clock, "consultant", "revoke", "reconnect", "console:lil")[0] == 0
    with h.rt.db.uow() as uow:
        actions = [a.action for a in uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions[-2:] == ["role.revoke", "role.revoke"]
    h.rt.db.engine.dispose()
    h = console_bot(path, clock)
    for who in ("ann", "lil"):             # a revoke lasts too, even while the config names lil
        await h.say(who, "/mod queue", "console")
        assert "for the group's consultant" in h.last(who, "console"), who
    assert run(path, clock, "consultant", "grant", "reconnect", "console:lil")[0] == 0
    await h.say("lil", "/mod queue", "console")
    assert "for the group's consultant" not in h.last("lil", "console")
    h.rt.db.engine.dispose()


async def test_export_stats_hides_small_counts(setup) -> None:
    h, path, clock = setup
    await h.onboard("ann", "Birch")
    code, lines = run(path, clock, "export-stats")
    assert code == 0 and '"members": "fewer than 3"' in "\n".join(lines)


async def test_backup_is_a_readable_copy(setup, tmp_path: Path) -> None:
    h, path, clock = setup
    await h.onboard("ann", "Birch")
    target = tmp_path / "backup" / "copy.db"
    assert run(path, clock, "backup", str(target))[0] == 0
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM members").fetchone()[0] == 1
    assert run(path, clock, "backup", str(target))[0] == 2           # never overwrites


async def test_rotate_key_is_resumable_and_the_bot_knows_people_after(setup, monkeypatch, tmp_path) -> None:
    h, path, clock = setup
    await h.onboard("ann", "Birch")
    await h.onboard("bob", "Willow")
    await h.say("ann", "/new Sleep\nwords sealed under the old key")
    await h.say("bob", "/card name Bjarne")
    with h.rt.db.uow() as uow:             # a card as older versions sealed it: with the data key
        card = uow.session.get(IdentityCard, 2)
        card.card_enc, card.sealed_by = uow.accounts.vault.seal("identity-card", {"name": "Bjarne"}), None
    new_key = "a-brand-new-data-key-9876543210-zyxwvu"
    monkeypatch.setenv("PEERHAVEN_NEW_DATA_KEY", new_key)
    code, lines = run(path, clock, "rotate-key")
    assert code == 0 and lines[0] == "2 re-encrypted, 0 already under the new key"
    assert lines[1] == "member keys: 2 re-wrapped, 0 already under the new key"
    code, lines = run(path, clock, "rotate-key")        # again: nothing left to do
    assert lines[0] == "0 re-encrypted, 2 already under the new key"
    h.rt.db.engine.dispose()
    monkeypatch.setenv("PEERHAVEN_DATA_KEY", new_key)
    rt = build_runtime(load_config(path), new_key, {"memory": MemoryTransport("memory")}, clock=clock)
    h2 = Harness(rt)
    await h2.say("ann", "/me")
    assert "Birch" in h2.last("ann")
    h2.clear()
    await h2.say("bob", "/read 1")
    assert "words sealed under the old key" in "\n".join(h2.inbox("bob"))
    await h2.say("bob", "/card")
    assert "Bjarne" in h2.last("bob")                   # the older card opens under the new key
    rt.db.engine.dispose()
