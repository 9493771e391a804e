"""Keyed hashing and authenticated encryption of platform identities.

One operator secret yields two independent keys (HKDF with different labels), so the
lookup hash cannot be used to decrypt and the encryption key cannot be used to forge
lookups.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.config import ConfigError

log = logging.getLogger(__name__)
MIN_SECRET = 32
# Prefix of an identity sealed with its account id as associated data. Older blobs start with
# their random nonce; they are re-sealed at start (Accounts.bind_legacy), then refused.
BOUND = b"PHa2"


class DataKeyMismatch(ConfigError):
    """The stored identities were sealed with another data key."""


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"peerhaven-v1", info=label).derive(secret)


class IdentityVault:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ConfigError(f"bot.data_key_env: the data key must be at least {MIN_SECRET} characters long")
        raw = secret.encode()
        self._hash_key = _derive(raw, b"identity-hash")
        self._aead = AESGCM(_derive(raw, b"identity-encrypt"))
        # Wraps the per-member keys of the key store (storage/keyring.py).
        self.wrap_key = _derive(raw, b"member-key-wrap")
        self.accept_unbound = True

    def lookup_hash(self, platform: str, user_id: str) -> str:
        return hmac.new(self._hash_key, f"{platform}\x00{user_id}".encode(), hashlib.sha256).hexdigest()

    def seal(self, platform: str, data: dict[str, str | None], account_id: int | None = None) -> bytes:
        """Encrypt ``data``. An account's identity is always sealed with its ``account_id`` bound
        as associated data: the blob then opens only on its own row, so a blob copied onto
        another account (a database-level swap that would re-point that account's messages) is
        refused instead of silently trusted."""
        nonce = os.urandom(12)
        plain = json.dumps(data, separators=(",", ":")).encode()
        if account_id is None:
            return nonce + self._aead.encrypt(nonce, plain, platform.encode())
        return BOUND + nonce + self._aead.encrypt(nonce, plain, _bound_ad(platform, account_id))

    @staticmethod
    def is_bound(blob: bytes) -> bool:
        return bytes(blob[:len(BOUND)]) == BOUND

    def open(self, platform: str, blob: bytes, account_id: int | None = None) -> dict[str, str | None]:
        """Decrypt a blob sealed by ``seal`` with the same ``platform`` and ``account_id``.

        While ``accept_unbound`` is set (until start-up has re-sealed the old rows), an
        account's blob written before the binding still opens."""
        blob = bytes(blob)
        try:
            if account_id is not None and self.is_bound(blob):
                body = blob[len(BOUND):]
                plain = self._aead.decrypt(body[:12], body[12:], _bound_ad(platform, account_id))
            elif account_id is not None and not self.accept_unbound:
                raise InvalidTag()
            else:
                plain = self._aead.decrypt(blob[:12], blob[12:], platform.encode())
        except InvalidTag:
            raise DataKeyMismatch("bot.data_key_env: the data key does not match the key the database "
                                  "was written with, or a stored identity was moved to another row") from None
        return json.loads(plain)


def _bound_ad(platform: str, account_id: int) -> bytes:
    return f"{platform}\x00account:{account_id}".encode()


def load_data_key(env_name: str, key_file: str | None, allow_file: bool) -> str:
    """The data key from the environment or, in console mode only, a local key file."""
    value = os.environ.get(env_name, "")
    if value:
        if len(value) < MIN_SECRET:
            raise ConfigError(f"bot.data_key_env: {env_name} must hold at least {MIN_SECRET} characters")
        return value
    if not allow_file or not key_file:
        raise ConfigError(f"bot.data_key_env: environment variable {env_name} is not set "
                          f"(any secret of at least {MIN_SECRET} characters)")
    path = Path(key_file)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    # run.py tells the person at the terminal in a sentence; the log only notes it.
    log.info("created a local data key file because %s is not set", env_name)
    return value


def derive_key(secret: str, label: str) -> bytes:
    """A 32-byte key for one purpose (e.g. a transport's state file), independent of the others."""
    return _derive(secret.encode(), label.encode())
