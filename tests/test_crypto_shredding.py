"""Post text is sealed under per-member keys; forget destroys them, so old backups lose it too."""
from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from bot.clock import FakeClock
from bot.lifecycle import build_runtime
from bot.transports.base import MemoryTransport
from handlers.privacy import apply_retention
from storage.models import Post
from tests.conftest import DATA_KEY, test_config
from tests.harness import Harness

SECRETS = ["I lie awake most nights", "Thank you Willow, truly", "Same here, it helps to read"]


def _raw(path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal"):
        part = Path(str(path) + suffix)
        if part.exists():
            data += part.read_bytes()
    return data


def _config(tmp_path: Path, db: str):  # type: ignore[no-untyped-def]
    config = test_config(f"sqlite:///{tmp_path / db}")
    config.storage.keys_url = f"sqlite:///{tmp_path / 'keys.db'}"
    return config


async def test_no_clear_text_on_disk_and_forget_reaches_an_old_backup(tmp_path: Path) -> None:
    clock = FakeClock()
    rt = build_runtime(_config(tmp_path, "bot.db"), DATA_KEY, {"memory": MemoryTransport("memory")}, clock=clock)
    h = Harness(rt)
    await h.onboard("ann-id", "Birch")
    await h.onboard("bob-id", "Willow")
    await h.say("ann-id", f"/new Sleep\n{SECRETS[0]}")
    await h.say("ann-id", f"/reply 1 {SECRETS[1]}")
    await h.say("bob-id", f"/reply 1 {SECRETS[2]}")
    with rt.db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = _raw(tmp_path / "bot.db")
    for secret in SECRETS + ["ann-id", "bob-id"]:
        for encoding in ("utf-8", "utf-16-le"):
            assert secret.encode(encoding) not in raw, (secret, encoding)
    rt.db.engine.dispose()
    shutil.copy(tmp_path / "bot.db", tmp_path / "backup.db")      # the operator's backup

    rt = build_runtime(_config(tmp_path, "bot.db"), DATA_KEY, {"memory": MemoryTransport("memory")}, clock=clock)
    h = Harness(rt)
    await h.say("ann-id", "/forget")
    await h.say("ann-id", "/forget confirm")
    rt.db.engine.dispose()

    # The old copy of the main database, restored beside the key store as it is now.
    old = build_runtime(_config(tmp_path, "backup.db"), DATA_KEY, {"memory": MemoryTransport("memory")},
                        clock=clock)
    with old.db.uow() as uow:
        texts = {p.id: p.body for p in uow.session.scalars(select(Post))}
    old.db.engine.dispose()
    assert texts[3] == SECRETS[2]                      # Willow's reply is still readable
    assert texts[1] is None and texts[2] is None       # Birch's text cannot be opened any more


async def test_plain_rows_from_older_versions_are_sealed_by_the_retention_job(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await h.onboard("ann", "Birch")
    await h.say("ann", "/new Sleep\nfirst words")
    with rt.db.uow() as uow:
        uow.session.execute(Post.__table__.update().values(body="written before encryption", body_enc=None))
    with rt.db.uow() as uow:
        done = apply_retention(uow, rt.config, rt.clock.now())
    assert done["sealed"] == 1
    with rt.db.uow() as uow:
        post = uow.session.get(Post, 1)
        assert post.body_plain is None and post.body == "written before encryption"


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
