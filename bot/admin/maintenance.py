"""Backups and data-key rotation for the operator's command line."""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Callable

from sqlalchemy import select

from bot.admin.operators import OperatorError
from bot.config import Config, ConfigError
from storage.crypto import MIN_SECRET, IdentityVault
from storage.keyring import KeyStore, MemberKey
from storage.models import Account
from storage.repo import Database

BATCH = 500


def cmd_backup(args: argparse.Namespace, config: Config, db: Database, out: Callable[[str], None]) -> int:
    target = Path(args.path)
    if target.exists():
        raise OperatorError(f"{target} exists already; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not db.is_postgres:
        source = db.engine.url.database
        if not source or source == ":memory:":
            raise OperatorError("storage.url: an in-memory database cannot be backed up")
        # SQLite's online backup API copies a consistent snapshot while the bot keeps running.
        with sqlite3.connect(source, timeout=5) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        out(f"backed up {source} to {target} ({target.stat().st_size} bytes)")
        out("keep the data key (bot.data_key_env) apart from the backup; the Matrix store_path "
            "holds the bot's device keys and needs its own backup")
        return 0
    if shutil.which("pg_dump") is None:
        raise OperatorError("PostgreSQL: pg_dump is not installed; run `pg_dump -Fc -f FILE <database url>`")
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    done = subprocess.run(["pg_dump", "-Fc", "-f", str(target), url], capture_output=True, text=True)
    if done.returncode != 0:
        raise OperatorError("pg_dump failed: " + (done.stderr.strip().splitlines() or ["no message"])[-1])
    out(f"backed up the PostgreSQL database to {target} (pg_dump custom format; restore with pg_restore)")
    return 0


def cmd_rotate(args: argparse.Namespace, config: Config, db: Database, out: Callable[[str], None]) -> int:
    """Re-encrypt every identity under the new key; safe to run again after an interruption.

    A row that already opens with the new key is skipped, so an interrupted rotation simply
    continues where it stopped. Only when every row opens with the new key does it say so:
    then the operator moves the new key into ``bot.data_key_env``.
    """
    new_secret = os.environ.get(args.new_key_env, "")
    if len(new_secret) < MIN_SECRET:
        raise OperatorError(f"--new-key-env: {args.new_key_env} must hold the new key "
                            f"(at least {MIN_SECRET} characters)")
    new = IdentityVault(new_secret)
    old = db.vault
    done = moved = 0
    last_id = 0
    while True:
        with db.uow() as uow:
            accounts = list(uow.session.scalars(select(Account).where(Account.id > last_id)
                                                .order_by(Account.id).limit(BATCH)))
            for account in accounts:
                last_id = account.id
                if _opens(new, account):
                    done += 1
                    continue
                try:
                    plain = old.open(account.platform, account.identity_enc, account.id)
                except ConfigError:
                    raise OperatorError(f"account {account.id} opens with neither key; "
                                        "is bot.data_key_env the current key?") from None
                account.identity_enc = new.seal(account.platform, plain, account.id)
                account.identity_hash = new.lookup_hash(account.platform, str(plain.get("user_id")))
                moved += 1
        if len(accounts) < BATCH:
            break
    # Cards written by older versions are sealed with the data key itself: move them under
    # their member's key first (with the old key), so the re-wrap below covers them too.
    while True:
        with db.uow() as uow:
            if not uow.reveals.reseal_cards(BATCH):
                break
    keys_moved, keys_done = _rotate_member_keys(db, new)
    out(f"{moved} re-encrypted, {done} already under the new key")
    out(f"member keys: {keys_moved} re-wrapped, {keys_done} already under the new key")
    out(f"now set {config.bot.data_key_env} to the new key and restart the bot")
    return 0


def _rotate_member_keys(db: Database, new: IdentityVault) -> tuple[int, int]:
    """Re-wrap every per-member key (the post texts themselves need no change)."""
    target = KeyStore(new.wrap_key)
    moved = done = 0
    with db.uow() as uow:
        session, separate = db.keys.session_for(uow.session)
        try:
            for row in session.scalars(select(MemberKey)):
                try:
                    target.unwrap(row.member_id, row.wrapped)
                    done += 1
                    continue
                except ConfigError:
                    pass        # not yet under the new key
                raw = db.keys.unwrap(row.member_id, row.wrapped)
                row.wrapped = target.wrap(row.member_id, raw)
                moved += 1
            if separate:
                session.commit()
        finally:
            if separate:
                session.close()
    return moved, done


def _opens(vault: IdentityVault, account: Account) -> bool:
    try:
        vault.open(account.platform, account.identity_enc, account.id)
    except ConfigError:
        return False
    return True
