"""A Matrix participant for tests: a matrix-nio ``AsyncClient`` with E2E.

``MatrixUser.create(server, localpart, displayname, store_dir)`` registers the
user on a :class:`tests.fakes.synapse_server.SynapseServer`, logs in with a
password through nio (a fresh device with Olm keys, stored in ``store_dir``),
uploads its keys, runs an initial sync and starts a background sync loop.

The loop records every room event it receives, before and after decryption:

* ``user.raw_events`` - the events exactly as the server sent them (an
  encrypted message is still ``m.room.encrypted`` here), each with ``room_id``;
* ``user.messages(room_id)`` - the current view of the room's messages as
  :class:`Message` objects: decrypted, the latest ``m.replace`` edit from the
  original sender applied, redacted ones left out (or marked, with
  ``include_redacted=True``), edit events themselves not listed.

Trust policy: this participant shares its room keys with unverified devices
(``ignore_unverified_devices=True``), like a user who never verifies.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
import struct
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from nio import (
    KeysUploadResponse,
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomPreset,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)
from nio.exceptions import EncryptionError

if TYPE_CHECKING:
    from tests.fakes.synapse_server import SynapseServer

__all__ = ["MatrixUser", "Message", "RecordedEvent", "MEGOLM", "tiny_png"]

log = logging.getLogger(__name__)

MEGOLM = "m.megolm.v1.aes-sha2"
_UNSET: Any = object()


def tiny_png() -> bytes:
    """A valid 1x1 RGB PNG, built in code (no files shipped)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x80\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@dataclass
class RecordedEvent:
    """One timeline event as this user received it."""

    room_id: str
    event_id: str
    sender: str
    raw: dict[str, Any]  # as sent by the server (m.room.encrypted if encrypted)
    type: str  # effective type (decrypted type, or m.room.encrypted if undecryptable)
    content: dict[str, Any]  # effective (decrypted) content
    origin_server_ts: int
    order: int  # arrival order
    encrypted: bool
    decrypted: bool  # False only for an encrypted event we could not decrypt (yet)
    state_key: str | None = None

    @property
    def relates_to(self) -> dict[str, Any]:
        rel = self.content.get("m.relates_to")
        if not isinstance(rel, dict):
            rel = self.raw.get("content", {}).get("m.relates_to")
        return rel if isinstance(rel, dict) else {}

    @property
    def redacted_by_server(self) -> bool:
        return "redacted_because" in (self.raw.get("unsigned") or {})


@dataclass
class Message:
    """A message in a room as a person would see it now."""

    room_id: str
    event_id: str
    sender: str
    type: str
    msgtype: str | None
    body: str | None
    formatted_body: str | None
    content: dict[str, Any]  # current content (m.new_content of the latest edit)
    original_content: dict[str, Any]
    origin_server_ts: int
    encrypted: bool  # sent as m.room.encrypted
    undecryptable: bool = False  # could not (yet) be decrypted
    edited: bool = False
    edit_event_ids: list[str] = field(default_factory=list)
    redacted: bool = False
    in_reply_to: str | None = None
    relates_to: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # short, for assertion messages
        flags = "".join(
            f
            for f, on in (
                (" enc", self.encrypted),
                (" UNDECRYPTABLE", self.undecryptable),
                (" edited", self.edited),
                (" redacted", self.redacted),
            )
            if on
        )
        reply = f" reply_to={self.in_reply_to}" if self.in_reply_to else ""
        return f"<Message {self.event_id} {self.sender} {self.msgtype}{flags}{reply} {self.body!r}>"


class _RecordingClient(AsyncClient):
    """AsyncClient that hands every sync response to its owner, raw and decrypted."""

    owner: "MatrixUser | None" = None

    async def receive_response(self, response: Any) -> None:
        if not isinstance(response, SyncResponse) or self.owner is None:
            await super().receive_response(response)
            return
        duplicate = self.next_batch == response.next_batch
        raw = {
            room_id: [dict(getattr(ev, "source", None) or {}) for ev in info.timeline.events]
            for room_id, info in response.rooms.join.items()
        }
        await super().receive_response(response)
        if not duplicate:
            self.owner._on_sync(response, raw)


class MatrixUser:
    """A test participant. Build with :meth:`create`; finish with :meth:`close`."""

    def __init__(
        self,
        server: "SynapseServer",
        client: _RecordingClient,
        password: str,
        *,
        accept_invites: bool = False,
        sync_timeout_ms: int = 10_000,
    ) -> None:
        self.server = server
        self.client = client
        client.owner = self
        self.password = password
        self.accept_invites = accept_invites
        self.sync_timeout_ms = sync_timeout_ms
        self.raw_events: list[dict[str, Any]] = []
        self.to_device_events: list[Any] = []
        self.invites: list[str] = []  # room ids we were invited to, in order
        self.sync_errors: list[BaseException | Any] = []
        self._events: dict[str, dict[str, RecordedEvent]] = {}  # room -> id -> ev
        self._members: dict[str, dict[str, str]] = {}  # room -> user -> membership
        self._pending: dict[str, tuple[MegolmEvent, float, bool]] = {}  # undecrypted
        self._order = 0
        self._changed = asyncio.Event()
        self._joining: set[str] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._closed = False

    # ---------------------------------------------------------------- creation
    @classmethod
    async def create(
        cls,
        server: "SynapseServer",
        localpart: str,
        displayname: str | None = None,
        store_dir: Path | str | None = None,
        *,
        password: str | None = None,
        accept_invites: bool = False,
        admin: bool = False,
        register: bool = True,
        device_name: str | None = None,
        start_sync: bool = True,
    ) -> "MatrixUser":
        """Register ``localpart`` (unless ``register=False``), log in, upload
        keys, initial sync, start the background sync loop."""
        password = password or f"pw-{localpart}-secret"
        if register:
            user_id, _, _ = await server.aregister_user(
                localpart, password, admin=admin, displayname=displayname, inhibit_login=True
            )
        else:
            user_id = server.user_id(localpart)
        if store_dir is None:
            store_dir = server.workdir / "nio-stores" / localpart
        store_dir = Path(store_dir)
        store_dir.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(
            encryption_enabled=True,
            store_sync_tokens=True,
            max_timeouts=3,
            request_timeout=30,
        )
        client = _RecordingClient(server.base_url, user_id, store_path=str(store_dir), config=config)
        user = cls(server, client, password, accept_invites=accept_invites)
        try:
            resp = await client.login(password, device_name=device_name or f"test {localpart}")
            if not isinstance(resp, LoginResponse):
                raise RuntimeError(f"login of {user_id} failed: {resp}")
            user._http = aiohttp.ClientSession()
            if client.should_upload_keys:
                up = await client.keys_upload()
                if not isinstance(up, KeysUploadResponse):
                    raise RuntimeError(f"keys_upload for {user_id} failed: {up}")
            first = await client.sync(timeout=0, full_state=True)
            if not isinstance(first, SyncResponse):
                raise RuntimeError(f"initial sync of {user_id} failed: {first}")
            await user._crypto_housekeeping()
            if displayname is not None and not register:
                await client.set_displayname(displayname)
            if start_sync:
                user.start_sync()
        except BaseException:
            await user.close()
            raise
        return user

    @property
    def user_id(self) -> str:
        return self.client.user_id

    @property
    def device_id(self) -> str:
        return self.client.device_id

    @property
    def access_token(self) -> str:
        return self.client.access_token

    def __repr__(self) -> str:
        return f"<MatrixUser {self.user_id} device={self.device_id}>"

    # --------------------------------------------------------------- sync loop
    def start_sync(self) -> None:
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self._sync_loop(), name=f"sync {self.user_id}")

    async def _sync_loop(self) -> None:
        while not self._closed:
            try:
                resp = await self.client.sync(timeout=self.sync_timeout_ms)
                if not isinstance(resp, SyncResponse):
                    self.sync_errors.append(resp)
                    await asyncio.sleep(0.2)
                    continue
                await self._crypto_housekeeping()
                await self._accept_pending_invites()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep syncing; tests look at sync_errors
                log.warning("%s: sync loop error: %r", self.user_id, exc)
                self.sync_errors.append(exc)
                await asyncio.sleep(0.2)

    async def _crypto_housekeeping(self) -> None:
        """What nio's sync_forever does between syncs, plus decryption retries."""
        c = self.client
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())
        if c.outgoing_to_device_messages:
            await c.send_to_device_messages()
        await self._retry_pending_decryption()

    async def sync_once(self, timeout_ms: int = 0) -> None:
        """One extra sync (normally not needed: the loop runs in the background)."""
        resp = await self.client.sync(timeout=timeout_ms)
        if not isinstance(resp, SyncResponse):
            raise RuntimeError(f"sync failed: {resp}")
        await self._crypto_housekeeping()

    def _notify(self) -> None:
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    # ------------------------------------------------------- event bookkeeping
    def _on_sync(self, response: SyncResponse, raw: dict[str, list[dict[str, Any]]]) -> None:
        for ev in response.to_device_events:
            self.to_device_events.append(ev)
        for room_id, info in response.rooms.invite.items():
            if room_id not in self.invites:
                self.invites.append(room_id)
            for ev in info.invite_state:
                self._track_member(room_id, getattr(ev, "source", None) or {})
        for room_id, info in response.rooms.join.items():
            for ev in info.state:
                self._track_member(room_id, getattr(ev, "source", None) or {})
            raws = raw.get(room_id, [])
            for index, ev in enumerate(info.timeline.events):
                raw_ev = raws[index] if index < len(raws) else dict(getattr(ev, "source", {}) or {})
                self._record(room_id, raw_ev, ev)
        for room_id, info in response.rooms.leave.items():
            for ev in list(info.state) + list(info.timeline.events):
                self._track_member(room_id, getattr(ev, "source", None) or {})
        self._notify()

    def _track_member(self, room_id: str, source: dict[str, Any]) -> None:
        if source.get("type") != "m.room.member" or "state_key" not in source:
            return
        membership = (source.get("content") or {}).get("membership")
        if membership:
            self._members.setdefault(room_id, {})[source["state_key"]] = membership

    def _record(self, room_id: str, raw: dict[str, Any], ev: Any) -> None:
        event_id = raw.get("event_id") or getattr(ev, "event_id", None)
        if not event_id:
            return
        room = self._events.setdefault(room_id, {})
        if event_id in room:
            return  # already seen (e.g. a re-delivered event)
        self.raw_events.append({**raw, "room_id": room_id})
        self._track_member(room_id, raw)
        encrypted = raw.get("type") == "m.room.encrypted"
        if encrypted and isinstance(ev, MegolmEvent):
            effective = raw
            decrypted = False
            self._pending[event_id] = (ev, time.monotonic(), False)
        else:
            effective = getattr(ev, "source", None) or raw
            decrypted = True
        self._order += 1
        room[event_id] = RecordedEvent(
            room_id=room_id,
            event_id=event_id,
            sender=raw.get("sender", ""),
            raw=raw,
            type=effective.get("type", raw.get("type", "")),
            content=dict(effective.get("content") or {}),
            origin_server_ts=int(raw.get("origin_server_ts") or 0),
            order=self._order,
            encrypted=encrypted,
            decrypted=decrypted,
            state_key=raw.get("state_key"),
        )

    async def retry_decryption(self) -> int:
        """Try again to decrypt events we could not decrypt; returns how many
        are still undecryptable. Runs after every sync and while waiting."""
        await self._retry_pending_decryption()
        return len(self._pending)

    async def _retry_pending_decryption(self) -> None:
        if not self._pending or self.client.olm is None:
            return
        changed = False
        for event_id, (mev, since, requested) in list(self._pending.items()):
            try:
                dec = self.client.decrypt_event(mev)
            except EncryptionError:
                dec = None
            source = getattr(dec, "source", None) if dec is not None else None
            if source and source.get("type") != "m.room.encrypted":
                rec = self._events.get(mev.room_id, {}).get(event_id)
                if rec is not None:
                    rec.type = source.get("type", rec.type)
                    rec.content = dict(source.get("content") or {})
                    rec.decrypted = True
                del self._pending[event_id]
                changed = True
            elif not requested and time.monotonic() - since > 3.0:
                # Last resort: ask the sender's devices for the key.
                self._pending[event_id] = (mev, since, True)
                try:
                    await self.client.request_room_key(mev)
                except Exception as exc:  # pragma: no cover - best effort
                    log.info("%s: room key request failed: %r", self.user_id, exc)
        if changed:
            self._notify()

    async def _accept_pending_invites(self) -> None:
        if not self.accept_invites:
            return
        for room_id in list(self.client.invited_rooms):
            if room_id in self._joining or self.membership(room_id, self.user_id) == "join":
                continue
            self._joining.add(room_id)
            resp = await self.client.join(room_id)
            if not isinstance(resp, JoinResponse):
                log.warning("%s: auto-join of %s failed: %s", self.user_id, room_id, resp)
                self._joining.discard(room_id)

    # ------------------------------------------------------------------- views
    def events(self, room_id: str) -> list[RecordedEvent]:
        """All recorded timeline events of the room, in arrival order."""
        return sorted(self._events.get(room_id, {}).values(), key=lambda e: e.order)

    def event(self, room_id: str, event_id: str) -> RecordedEvent | None:
        return self._events.get(room_id, {}).get(event_id)

    def raw_event(self, event_id: str) -> dict[str, Any] | None:
        for raw in self.raw_events:
            if raw.get("event_id") == event_id:
                return raw
        return None

    def membership(self, room_id: str, user_id: str) -> str | None:
        return self._members.get(room_id, {}).get(user_id)

    def members(self, room_id: str, membership: str = "join") -> list[str]:
        return sorted(u for u, m in self._members.get(room_id, {}).items() if m == membership)

    def known_devices(self, user_id: str) -> set[str]:
        """Device ids of ``user_id`` whose E2E keys this client has fetched."""
        if self.client.olm is None:
            return set()
        return {d.id for d in self.client.olm.device_store.active_user_devices(user_id)}

    def is_encrypted(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return bool(room and room.encrypted)

    def messages(
        self,
        room_id: str,
        *,
        include_redacted: bool = False,
        include_undecryptable: bool = True,
        types: tuple[str, ...] = ("m.room.message", "m.sticker"),
    ) -> list[Message]:
        """The room's messages as seen now (see module docstring)."""
        events = self.events(room_id)
        redacted: set[str] = set()
        for ev in events:
            if ev.type == "m.room.redaction" or ev.raw.get("type") == "m.room.redaction":
                target = ev.raw.get("redacts") or (ev.raw.get("content") or {}).get("redacts")
                if target:
                    redacted.add(target)
            if ev.redacted_by_server:
                redacted.add(ev.event_id)
        edits: dict[str, list[RecordedEvent]] = {}
        for ev in events:
            rel = ev.relates_to
            if rel.get("rel_type") == "m.replace" and ev.event_id not in redacted:
                edits.setdefault(rel.get("event_id", ""), []).append(ev)

        out: list[Message] = []
        for ev in events:
            undecryptable = ev.encrypted and not ev.decrypted
            if undecryptable:
                if not include_undecryptable:
                    continue
            elif ev.type not in types:
                continue
            if ev.relates_to.get("rel_type") == "m.replace":
                continue  # an edit, folded into its original below
            is_redacted = ev.event_id in redacted
            if is_redacted and not include_redacted:
                continue
            content = ev.content
            applied = [
                e
                for e in edits.get(ev.event_id, [])
                if e.sender == ev.sender and isinstance(e.content.get("m.new_content"), dict)
            ]
            applied.sort(key=lambda e: (e.origin_server_ts, e.order))
            if applied:
                content = applied[-1].content["m.new_content"]
            if is_redacted:
                content = {}
            rel = ev.relates_to
            reply = rel.get("m.in_reply_to") if isinstance(rel.get("m.in_reply_to"), dict) else {}
            out.append(
                Message(
                    room_id=room_id,
                    event_id=ev.event_id,
                    sender=ev.sender,
                    type=ev.type,
                    msgtype=content.get("msgtype"),
                    body=content.get("body"),
                    formatted_body=content.get("formatted_body"),
                    content=dict(content),
                    original_content=dict(ev.content),
                    origin_server_ts=ev.origin_server_ts,
                    encrypted=ev.encrypted,
                    undecryptable=undecryptable,
                    edited=bool(applied),
                    edit_event_ids=[e.event_id for e in applied],
                    redacted=is_redacted,
                    in_reply_to=reply.get("event_id"),
                    relates_to=dict(rel),
                )
            )
        return out

    def message(self, room_id: str, event_id: str) -> Message | None:
        for msg in self.messages(room_id, include_redacted=True):
            if msg.event_id == event_id:
                return msg
        return None

    # ------------------------------------------------------------------ waits
    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 20.0,
        description: str | None = None,
    ) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked after every sync
        and at least every 0.5 s); returns its value. ``predicate`` may be
        async. Raises ``TimeoutError`` naming what was awaited."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = description or getattr(predicate, "__name__", repr(predicate))
                raise TimeoutError(
                    f"{self.user_id}: timed out after {timeout}s waiting for {what}; "
                    f"sync errors: {self.sync_errors[-3:]!r}"
                )
            if self._sync_task is not None and self._sync_task.done() and not self._closed:
                exc = self._sync_task.exception()
                raise RuntimeError(f"{self.user_id}: sync loop died: {exc!r}") from exc
            try:
                await asyncio.wait_for(changed.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                # Keys may have arrived outside a sync (e.g. imported).
                await self.retry_decryption()

    async def wait_for_message(
        self,
        room_id: str,
        predicate: Callable[[Message], bool] | None = None,
        *,
        sender: str | None = None,
        body: str | None = None,
        body_contains: str | None = None,
        timeout: float = 20.0,
    ) -> Message:
        """Wait for a message in the current view matching all given filters;
        returns the first such message."""

        def match(msg: Message) -> bool:
            if sender is not None and msg.sender != sender:
                return False
            if body is not None and msg.body != body:
                return False
            if body_contains is not None and body_contains not in (msg.body or ""):
                return False
            return predicate(msg) if predicate is not None else True

        def find() -> Message | None:
            for msg in self.messages(room_id):
                if match(msg):
                    return msg
            return None

        try:
            return await self.wait_for(find, timeout)
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}\n  filters: sender={sender} body={body!r} contains={body_contains!r}"
                f"\n  messages now: {self.messages(room_id, include_redacted=True)}"
            ) from None

    async def wait_for_membership(
        self, room_id: str, user_id: str, membership: str = "join", timeout: float = 20.0
    ) -> None:
        await self.wait_for(
            lambda: self.membership(room_id, user_id) == membership,
            timeout,
            f"{user_id} membership {membership} in {room_id}",
        )

    async def wait_for_device(self, user_id: str, device_id: str, timeout: float = 20.0) -> None:
        """Wait until we have fetched ``device_id``'s keys, so the next message
        we send to a shared encrypted room is readable by that device."""
        await self.wait_for(
            lambda: device_id in self.known_devices(user_id),
            timeout,
            f"keys of {user_id}/{device_id}",
        )

    async def wait_for_invite(self, timeout: float = 20.0) -> str:
        """Wait until we have been invited somewhere; returns the latest room id."""
        return await self.wait_for(lambda: self.invites[-1] if self.invites else None, timeout, "an invite")

    # ---------------------------------------------------------------- actions
    async def open_encrypted_dm(
        self, other_user_id: str, timeout: float = 30.0, *, name: str | None = None
    ) -> str:
        """Create an encrypted direct room the way Element does and wait until
        ``other_user_id`` has joined. Returns the room id."""
        resp = await self.client.room_create(
            is_direct=True,
            invite=[other_user_id],
            preset=RoomPreset.trusted_private_chat,
            name=name,
            initial_state=[
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
            ],
        )
        if not isinstance(resp, RoomCreateResponse):
            raise RuntimeError(f"{self.user_id}: room_create failed: {resp}")
        room_id = resp.room_id
        await self._mark_direct(other_user_id, room_id)
        await self.wait_for_membership(room_id, other_user_id, "join", timeout)
        await self.wait_for(lambda: self.is_encrypted(room_id), timeout, f"{room_id} known encrypted")
        return room_id

    async def create_room(
        self,
        invite: list[str] | tuple[str, ...] = (),
        *,
        encrypted: bool = False,
        name: str | None = None,
        is_direct: bool = False,
        preset: RoomPreset = RoomPreset.private_chat,
    ) -> str:
        """A plain (optionally encrypted) room; does not wait for joins."""
        initial_state = (
            [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}]
            if encrypted
            else []
        )
        resp = await self.client.room_create(
            name=name, invite=list(invite), is_direct=is_direct, preset=preset, initial_state=initial_state
        )
        if not isinstance(resp, RoomCreateResponse):
            raise RuntimeError(f"{self.user_id}: room_create failed: {resp}")
        await self.wait_for(lambda: resp.room_id in self.client.rooms, 20, f"{resp.room_id} synced")
        return resp.room_id

    async def _mark_direct(self, other_user_id: str, room_id: str) -> None:
        """Record the DM in our own m.direct account data, as Element does."""
        path = f"/_matrix/client/v3/user/{urllib.parse.quote(self.user_id)}/account_data/m.direct"
        try:
            current = await self.http("GET", path)
        except RuntimeError:
            current = {}
        rooms = list(current.get(other_user_id, []))
        if room_id not in rooms:
            rooms.append(room_id)
        current[other_user_id] = rooms
        await self.http("PUT", path, current)

    async def join(self, room_id: str, timeout: float = 20.0) -> None:
        resp = await self.client.join(room_id)
        if not isinstance(resp, JoinResponse):
            raise RuntimeError(f"{self.user_id}: join {room_id} failed: {resp}")
        await self.wait_for_membership(room_id, self.user_id, "join", timeout)

    async def invite(self, room_id: str, other_user_id: str) -> None:
        resp = await self.client.room_invite(room_id, other_user_id)
        if not isinstance(resp, RoomInviteResponse):
            raise RuntimeError(f"{self.user_id}: invite {other_user_id} failed: {resp}")

    async def leave(self, room_id: str) -> None:
        await self.client.room_leave(room_id)

    async def _ensure_room_ready(self, room_id: str) -> None:
        if room_id not in self.client.rooms:
            await self.wait_for(lambda: room_id in self.client.rooms, 20, f"{room_id} synced")
        room = self.client.rooms[room_id]
        if not room.encrypted or self.client.olm is None:
            return
        # Fetch pending device-key changes before sharing the room key. nio
        # drops the outbound Megolm session of a room when a member's device
        # list changed, so the next send shares a new key with every current
        # device (including a bot device that logged in late).
        if self.client.should_query_keys:
            await self.client.keys_query()

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        """Send any room event (encrypted by nio if the room is encrypted)."""
        await self._ensure_room_ready(room_id)
        resp = await self.client.room_send(
            room_id, event_type, content, ignore_unverified_devices=True
        )
        if not isinstance(resp, RoomSendResponse):
            raise RuntimeError(f"{self.user_id}: send to {room_id} failed: {resp}")
        return resp.event_id

    async def send_text(
        self,
        room_id: str,
        text: str,
        reply_to_event_id: str | None = None,
        *,
        html: str | None = None,
        msgtype: str = "m.text",
    ) -> str:
        """Send a text message (optionally a reply, optionally with HTML)."""
        content: dict[str, Any] = {"msgtype": msgtype, "body": text}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        if reply_to_event_id:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to_event_id}}
        return await self.send_event(room_id, "m.room.message", content)

    async def edit(
        self, room_id: str, event_id: str, new_text: str, *, msgtype: str = "m.text"
    ) -> str:
        """Edit one of our messages (``m.replace`` with ``m.new_content``)."""
        content = {
            "msgtype": msgtype,
            "body": f"* {new_text}",
            "m.new_content": {"msgtype": msgtype, "body": new_text},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return await self.send_event(room_id, "m.room.message", content)

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> str:
        resp = await self.client.room_redact(room_id, event_id, reason=reason)
        if not isinstance(resp, RoomRedactResponse):
            raise RuntimeError(f"{self.user_id}: redact {event_id} failed: {resp}")
        return resp.event_id

    async def send_image(
        self, room_id: str, data: bytes | None = None, filename: str = "tiny.png", *, upload: bool = True
    ) -> str:
        """Send an ``m.image``: uploads a tiny PNG (encrypted attachment in an
        encrypted room, as Element does). ``upload=False`` sends only the
        event, pointing at a made-up mxc URI."""
        data = tiny_png() if data is None else data
        await self._ensure_room_ready(room_id)
        encrypted = self.is_encrypted(room_id)
        content: dict[str, Any] = {
            "msgtype": "m.image",
            "body": filename,
            "info": {"mimetype": "image/png", "size": len(data), "w": 1, "h": 1},
        }
        if not upload:
            content["url"] = f"mxc://{self.server.server_name}/notuploaded"
        else:
            resp, keys = await self.client.upload(
                io.BytesIO(data),
                content_type="image/png",
                filename=filename,
                encrypt=encrypted,
                filesize=len(data),
            )
            if not isinstance(resp, UploadResponse):
                raise RuntimeError(f"{self.user_id}: upload failed: {resp}")
            if encrypted and keys:
                content["file"] = {"url": resp.content_uri, **keys}
            else:
                content["url"] = resp.content_uri
        return await self.send_event(room_id, "m.room.message", content)

    async def set_displayname(self, displayname: str) -> None:
        await self.client.set_displayname(displayname)

    # --------------------------------------------------------------- raw http
    async def http(
        self, method: str, path: str, body: Any = None, *, token: str | None = _UNSET
    ) -> Any:
        """Raw JSON request to the homeserver as this user."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers = {}
        tok = self.access_token if token is _UNSET else token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        async with self._http.request(
            method, self.server.base_url + path, json=body, headers=headers
        ) as resp:
            data = await resp.json(content_type=None) if resp.content_length != 0 else {}
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path} -> {resp.status}: {data}")
            return data or {}

    async def fetch_raw_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """The event as the server stores it (undecrypted), fetched now."""
        q = urllib.parse.quote
        return await self.http(
            "GET", f"/_matrix/client/v3/rooms/{q(room_id)}/event/{q(event_id)}"
        )

    # ------------------------------------------------------------------ close
    async def close(self) -> None:
        """Stop the sync loop and close HTTP sessions (keeps the store)."""
        self._closed = True
        task, self._sync_task = self._sync_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self.client.close()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> "MatrixUser":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

