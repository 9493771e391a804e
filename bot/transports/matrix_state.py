"""What the Matrix transport keeps on disk under ``store_path``, between runs.

* ``session.json`` - user id, device id and access token of the one device the bot uses
  for its whole life (the password is used once, at the very first start);
* nio's crypto store (``<user>_<device>.db``) - Olm account, Olm/Megolm sessions, trust;
* ``sync.json`` - the sync token of the last batch whose events were all dispatched, the
  encrypted events still waiting for their keys, and which DM room belongs to whom;
* ``handled.log`` - the ids of recently dispatched events (bounded), so a batch fetched
  again after a crash is not handled twice.

Every write is atomic (temporary file, fsync, rename) or an fsynced append, so a crash at
any point leaves either the old or the new state, never a torn file.
"""
from __future__ import annotations

import json
import logging
import os
from collections import deque
from pathlib import Path
from typing import Any

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


class MatrixState:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.next_batch: str | None = None
        self.pending: list[dict[str, Any]] = []       # {"event": raw, "room_id", "since", "requested"}
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
    def load(self) -> None:
        data = read_json(self.sync_file) or {}
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
        write_atomic(self.sync_file, {"next_batch": self.next_batch, "pending": self.pending,
                                      "dm_of_user": self.dm_of_user, "user_of_room": self.user_of_room})

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
