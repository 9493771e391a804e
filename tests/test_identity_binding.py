"""Issue 8, item 11: a stored identity is bound to its account row (AEAD associated data).

A blob copied onto another account row would otherwise re-point that account's messages to
someone else's chat; bound, it is refused and the message waits instead of going astray."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.transports.base import MemoryTransport
from storage.crypto import DataKeyMismatch, IdentityVault
from storage.models import Account, OutboxItem
from tests.conftest import DATA_KEY
from tests.harness import Harness
from tests.test_threads import group_of_three, posts_in


def test_a_bound_identity_opens_only_on_its_own_row() -> None:
    vault = IdentityVault(DATA_KEY)
    blob = vault.seal("telegram", {"user_id": "42", "address": "42"}, account_id=7)
    assert vault.open("telegram", blob, 7)["address"] == "42"
    with pytest.raises(DataKeyMismatch):
        vault.open("telegram", blob, 8)
    with pytest.raises(DataKeyMismatch):
        vault.open("matrix", blob, 7)


async def test_a_copied_identity_does_not_redirect_messages(make_runtime) -> None:
    rt = make_runtime(transports={"memory": MemoryTransport("memory"), "other": MemoryTransport("other")})
    h = Harness(rt)
    await group_of_three(h)                      # ann (Birch) and lillian on memory, bob on other
    with rt.db.uow() as uow:
        ann = uow.accounts.find("memory", "ann")
        lil = uow.accounts.find("memory", "lillian")
        assert ann is not None and lil is not None
        ann_id, lil_id, stolen = ann.id, lil.id, ann.identity_enc
    rt.worker.forget_address(lil_id)
    with rt.db.uow() as uow:                     # someone with database access swaps the blobs
        uow.session.execute(update(Account).where(Account.id == lil_id).values(identity_enc=stolen))
    before = len(h.inbox("ann"))
    await h.say("bob", "/new Late\nanyone awake?", platform="other")
    mine = posts_in(h.inbox("ann")[before:])
    assert mine == ["#1 Late · p1 · Willow\nanyone awake?"]      # one copy: the consultant's did not come to Ann
    with rt.db.uow() as uow:                     # her copy is kept, not lost and not misdelivered
        waiting = uow.session.scalars(select(OutboxItem).where(OutboxItem.account_id == lil_id)).all()
        assert any(item.status == "pending" for item in waiting)
        assert uow.accounts.identity(uow.accounts.get(ann_id))["address"] == "ann"


async def test_identities_from_before_the_binding_are_resealed_at_start(make_runtime, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    first = make_runtime(url=url)
    h = Harness(first)
    await h.onboard("ann", "Birch")
    vault = IdentityVault(DATA_KEY)
    with first.db.uow() as uow:                  # as written by a version without the binding
        account = uow.accounts.find("memory", "ann")
        assert account is not None
        legacy = vault.seal("memory", uow.accounts.identity(account))
        account.identity_enc = legacy
    first.db.engine.dispose()
    second = make_runtime(url=url)               # start-up re-seals it, bound to its row
    with second.db.uow() as uow:
        account = uow.accounts.find("memory", "ann")
        assert account is not None and IdentityVault.is_bound(account.identity_enc)
        assert uow.accounts.identity(account)["address"] == "ann"
        account.identity_enc = legacy            # an old blob put back afterwards is refused
        with pytest.raises(DataKeyMismatch):
            uow.accounts.identity(account)
        uow.session.rollback()
