"""What the Matrix transport keeps on disk under ``store_path``, between runs.

* ``session.json`` - user id, device id and access token of the one device the bot uses
  for its whole life (the password is used once, at the very first start);
* nio's crypto store (``<user>_<device>.db``) - Olm account, Olm/Megolm sessions, trust;
* ``sync.json`` - the sync token of the last batch whose events were all dispatched, the
  encrypted events still waiting for their keys, which DM room belongs to whom and the
  decryption counters. It names participants (Matrix user ids), so it is sealed with a key
  derived from the deployment's data key (AES-GCM); a plain file of an older version is
  read once and sealed at the next write;
* ``handled.log`` - the ids of recently dispatched events (bounded), so a batch fetched
  again after a crash is not handled twice.

Every write is atomic (temporary file, fsync, rename) or an fsynced append, so a crash at
any point leaves either the old or the new state, never a torn file.
"""
from __future__ import annotations

import base64
import json
import logging
import os
from collections import deque
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

HANDLED_KEEP = 5000          # ids remembered; a re-fetched batch is never older than this
PENDING_KEEP = 500           # undecryptable events kept for a later retry


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass     # some file systems cannot fsync a directory; the file itself was synced
    finally:
        os.close(fd)


def write_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("matrix: %s is unreadable (%s); starting without it", path.name, exc.__class__.__name__)
        return None


SEAL_AD = b"peerhaven matrix sync.json v1"
COUNTERS = ("waiting", "recovered", "given_up", "asked_to_resend")


class MatrixState:
    def __init__(self, path: str | os.PathLike[str], key: bytes | None = None) -> None:
        self.path = Path(path)
        self._aead = AESGCM(key) if key is not None else None
        self.next_batch: str | None = None
        # {"event": raw, "room_id", "since", "requested", "told"}
        self.pending: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {name: 0 for name in COUNTERS if name != "waiting"}
        self.fallback_published = False
        self.dm_of_user: dict[str, str] = {}          # user id -> their latest DM room
        self.user_of_room: dict[str, str] = {}        # DM room -> its participant (also rooms left)
        self._handled: deque[str] = deque()
        self._handled_set: set[str] = set()
        self._handled_lines = 0

    # ------------------------------------------------------------------ files
    @property
    def session_file(self) -> Path:
        return self.path / "session.json"

    @property
    def sync_file(self) -> Path:
        return self.path / "sync.json"

    @property
    def handled_file(self) -> Path:
        return self.path / "handled.log"

    def prepare(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(self.path, 0o700)       # keys and the access token live here
        except OSError:
            log.warning("matrix: could not restrict the permissions of the store directory")

    # ---------------------------------------------------------------- session
    def load_session(self) -> dict[str, str] | None:
        data = read_json(self.session_file)
        if not isinstance(data, dict) or not all(data.get(k) for k in ("user_id", "device_id", "access_token")):
            return None
        return data

    def save_session(self, user_id: str, device_id: str, access_token: str, homeserver: str) -> None:
        write_atomic(self.session_file, {"user_id": user_id, "device_id": device_id,
                                         "access_token": access_token, "homeserver": homeserver})

    # ------------------------------------------------------------- sync state
    def _open(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            return {}
        if "sealed" not in data:
            return data                     # an older, plain file: sealed at the next save
        if self._aead is None:
            raise RuntimeError("matrix: sync.json is sealed but no data key was given")
        blob = base64.b64decode(data["sealed"])
        try:
            plain = self._aead.decrypt(blob[:12], blob[12:], SEAL_AD)
        except InvalidTag:
            raise RuntimeError("matrix: sync.json was sealed with another data key") from None
        return json.loads(plain)

    def _seal(self, data: dict[str, Any]) -> dict[str, Any]:
        if self._aead is None:
            raise RuntimeError("matrix: no data key to seal sync.json with")
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, json.dumps(data, separators=(",", ":")).encode(), SEAL_AD)
        return {"sealed": base64.b64encode(blob).decode("ascii")}

    def load(self) -> None:
        data = self._open(read_json(self.sync_file))
        counters = data.get("counters") or {}
        for name in self.counters:
            self.counters[name] = int(counters.get(name, 0))
        self.fallback_published = bool(data.get("fallback_published"))
        self.next_batch = data.get("next_batch") or None
        self.pending = [p for p in data.get("pending", []) if isinstance(p, dict) and "event" in p]
        self.dm_of_user = dict(data.get("dm_of_user", {}))
        self.user_of_room = dict(data.get("user_of_room", {}))
        self._handled.clear()
        self._handled_set.clear()
        lines: list[str] = []
        try:
            with open(self.handled_file, encoding="utf-8") as handle:
                lines = [line.strip() for line in handle if line.strip()]
        except FileNotFoundError:
            pass
        for event_id in lines[-HANDLED_KEEP:]:
            self._remember(event_id)
        self._handled_lines = len(lines)

    def save(self) -> None:
        write_atomic(self.sync_file, self._seal({
            "next_batch": self.next_batch, "pending": self.pending, "dm_of_user": self.dm_of_user,
            "user_of_room": self.user_of_room, "counters": self.counters,
            "fallback_published": self.fallback_published}))

    def decryption_counts(self) -> dict[str, int]:
        """Undecryptable events: waiting now, recovered, given up, and how often we asked to resend."""
        return {"waiting": len(self.pending), **self.counters}

    # ----------------------------------------------------------- handled ids
    def _remember(self, event_id: str) -> None:
        if event_id in self._handled_set:
            return
        self._handled.append(event_id)
        self._handled_set.add(event_id)
        while len(self._handled) > HANDLED_KEEP:
            self._handled_set.discard(self._handled.popleft())

    def seen(self, event_id: str) -> bool:
        return event_id in self._handled_set

    def mark(self, event_id: str) -> None:
        """Record a dispatched event; durable before this returns."""
        self._remember(event_id)
        fd = os.open(self.handled_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (event_id + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._handled_lines += 1
        if self._handled_lines > 2 * HANDLED_KEEP:
            self._compact()

    def _compact(self) -> None:
        tmp = self.handled_file.with_name("handled.log.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(e + "\n" for e in self._handled))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.handled_file)
        _fsync_dir(self.path)
        self._handled_lines = len(self._handled)

    # ------------------------------------------------------------ DM mapping
    def remember_dm(self, user_id: str, room_id: str) -> None:
        self.dm_of_user[user_id] = room_id
        self.user_of_room[room_id] = user_id

    def forget_dm(self, room_id: str) -> None:
        user_id = self.user_of_room.get(room_id)
        if user_id is not None and self.dm_of_user.get(user_id) == room_id:
            del self.dm_of_user[user_id]
