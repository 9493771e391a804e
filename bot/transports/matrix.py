"""The Matrix transport (matrix-nio with end-to-end encryption).

Participants talk to the bot in 1:1 direct rooms, usually encrypted. The room id is the
participant's address. The bot:

* logs in once (password or access token) and then keeps one device for its whole life:
  session, crypto store and sync token live under ``store_path`` (see ``matrix_state``);
* never replays history: the timeline of the very first sync after the first login is
  ignored; afterwards the sync token is saved only once every event of its batch was
  dispatched, and recently handled event ids are kept on disk, so after a crash or a stop
  every message is handled exactly once (a gappy timeline is filled in from ``/messages``);
* shares room keys with the participants' unverified devices (anonymous participants have
  no verification ceremony) and keeps undecryptable events to retry when keys arrive;
* accepts invites (optionally only from ``allowed_homeservers``) and leaves, with a short
  explanation, any room that has more than the participant and the bot in it, because a
  shared room would show its members to each other; it never sends other text there.

Handlers never see any of this: events become neutral ``IncomingEvent``s.
"""
from __future__ import annotations

import asyncio
import io
import logging
import mimetypes
import os
import time
from typing import Any

from aiohttp import ClientError
from nio import (
    AsyncClient, AsyncClientConfig, Event, JoinedMembersResponse, KeysUploadResponse, LoginResponse,
    MegolmEvent,
    MessageDirection, RedactedEvent, RoomGetEventResponse, RoomMessagesResponse, RoomRedactResponse,
    RoomSendResponse, SyncResponse, UploadResponse, WhoamiResponse,
)
from nio.exceptions import EncryptionError, LocalProtocolError

from bot.events import IncomingEvent, Kind, PlatformUser, Rendered
from bot.i18n import I18n
from bot.transports.base import (
    Dispatch, MessageGone, PermanentError, SendError, TransientError, Unreachable,
)
from bot.transports.matrix_format import edit_content, error_for, parse_incoming, text_content
from bot.transports.matrix_state import PENDING_KEEP, MatrixState

log = logging.getLogger(__name__)

NETWORK_ERRORS = (ClientError, asyncio.TimeoutError, TimeoutError, OSError)
PENDING_MAX_AGE = 7 * 24 * 3600      # seconds an undecryptable event is retried
KEY_REQUEST_AFTER = 5.0              # seconds before asking the sender's devices for a key
BACKFILL_PAGES = 20
SYNC_FILTER = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "timeline": {"limit": 50},
    },
}


def _quiet_nio() -> None:
    """nio logs user, device and room ids at INFO and WARNING: keep it quiet unless debugging."""
    if logging.getLogger("nio").getEffectiveLevel() <= logging.DEBUG:
        return
    for name in ("nio.client", "nio.crypto", "nio.rooms", "nio.responses", "nio.events", "nio.store",
                 "nio.http", "nio.api"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _membership(ev: Any) -> tuple[str | None, str | None]:
    """(state_key, membership) of a member event (nio drops ``content`` from invite state)."""
    src = getattr(ev, "source", None) or {}
    if src.get("type") != "m.room.member":
        return None, None
    membership = getattr(ev, "membership", None) or (src.get("content") or {}).get("membership")
    return src.get("state_key"), membership


def _server_of(user_id: str) -> str:
    return user_id.partition(":")[2].lower()


class MatrixTransport:
    name = "matrix"

    def __init__(self, homeserver: str, user_id: str, store_path: str, *, password: str | None = None,
                 access_token: str | None = None, allowed_homeservers: list[str] | tuple[str, ...] = (),
                 language: str = "en", display_name: str | None = None,
                 device_name: str = "Peerhaven", sync_timeout_ms: int = 30_000) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.password = password
        self.access_token = access_token
        self.allowed_homeservers = {h.lower() for h in allowed_homeservers}
        self.language = language
        self.display_name = display_name
        self.device_name = device_name
        self.sync_timeout_ms = sync_timeout_ms
        self.state = MatrixState(store_path)
        self.i18n = I18n()
        self.client: AsyncClient | None = None
        self._dispatch: Dispatch | None = None
        self._task: asyncio.Task | None = None
        self._poll: asyncio.Future | None = None
        self._stopping = False
        self._ready = asyncio.Event()
        self._key_lock = asyncio.Lock()
        self._leaving: set[str] = set()       # rooms we leave on purpose
        self._joining: set[str] = set()
        self.dispatched = 0
        self.backfilled = 0                   # events fetched to fill gappy timelines
        _quiet_nio()

    @classmethod
    def from_config(cls, section: Any, env: dict[str, str] | None = None, **kw: Any) -> "MatrixTransport":
        """Build from ``config.matrix``; secrets come from the environment variables it names."""
        env = os.environ if env is None else env
        return cls(section.homeserver, section.user_id, section.store_path,
                   password=section.password or env.get(section.password_env) or None,
                   access_token=env.get(section.access_token_env) or None,
                   allowed_homeservers=list(section.allowed_homeservers), **kw)

    @property
    def device_id(self) -> str | None:
        return self.client.device_id if self.client is not None else None

    # ------------------------------------------------------------- lifecycle
    async def start(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        self._stopping = False
        self._ready = asyncio.Event()
        self.state.prepare()
        self.state.load()
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False,
                                   max_limit_exceeded=0, max_timeouts=2, request_timeout=30)
        self.client = AsyncClient(self.homeserver, self.user_id, store_path=str(self.state.path), config=config)
        try:
            await self._login()
            if self.client.should_upload_keys:
                resp = await self.client.keys_upload()
                if not isinstance(resp, KeysUploadResponse):
                    raise RuntimeError("matrix: uploading the device keys failed")
            try:
                await self._sync_once(timeout_ms=0)
            except (SendError, *NETWORK_ERRORS) as exc:
                log.warning("matrix: first sync failed (%s); the sync loop keeps trying", exc.__class__.__name__)
        except BaseException:
            await self.client.close()
            raise
        self._task = asyncio.create_task(self._run(), name="matrix-sync")
        log.info("matrix: started (%d DM rooms known)", len(self.state.dm_of_user))

    async def stop(self) -> None:
        self._stopping = True
        self._ready.clear()
        if self._poll is not None and not self._poll.done():
            self._poll.cancel()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=30)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            except Exception:
                log.exception("matrix: sync loop ended with an error")
            self._task = None
        if self.client is not None:
            await self.client.close()
        self._dispatch = None

    async def _login(self) -> None:
        client = self.client
        assert client is not None
        session = self.state.load_session()
        if session is not None and session.get("user_id") == self.user_id:
            client.restore_login(session["user_id"], session["device_id"], session["access_token"])
            try:
                who = await client.whoami()
            except NETWORK_ERRORS:
                return                                   # offline now: the token is checked by the next sync
            if isinstance(who, WhoamiResponse):
                return
            if getattr(who, "status_code", None) not in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
                return
            if not self.password:
                raise RuntimeError("matrix: the stored access token was refused and no password is set")
            log.warning("matrix: the stored access token was refused; logging in again with the same device")
            await self._password_login(session["device_id"])
            return
        if self.password:
            await self._password_login(None)
        elif self.access_token:
            client.access_token = self.access_token
            client.user_id = self.user_id
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse) or not who.device_id:
                raise RuntimeError("matrix: the access token was refused or has no device")
            client.restore_login(who.user_id, who.device_id, self.access_token)
            self.state.save_session(who.user_id, who.device_id, self.access_token, self.homeserver)
        else:
            raise RuntimeError("matrix: no stored session and neither a password nor an access token")
        if self.display_name:
            await client.set_displayname(self.display_name)

    async def _password_login(self, device_id: str | None) -> None:
        client = self.client
        assert client is not None and self.password
        if device_id:
            client.device_id = device_id
        resp = await client.login(self.password, device_name=self.device_name)
        if not isinstance(resp, LoginResponse):
            raise RuntimeError(f"matrix: login failed ({getattr(resp, 'status_code', None)})")
        self.state.save_session(resp.user_id, resp.device_id, resp.access_token, self.homeserver)
        log.info("matrix: logged in with a new session")

    # ------------------------------------------------------------------- sync
    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self._sync_once(timeout_ms=self.sync_timeout_ms)
                failures = 0
            except asyncio.CancelledError:
                if self._stopping:
                    break
                raise
            except (SendError, *NETWORK_ERRORS) as exc:
                failures += 1
                delay = min(2.0 ** failures, 60.0)
                log.warning("matrix: sync failed (%s); retrying in %.0fs", exc.__class__.__name__, delay)
                await self._sleep(delay)
            except Exception:
                failures += 1
                log.exception("matrix: sync round failed")
                await self._sleep(min(2.0 ** failures, 60.0))

    async def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(min(0.2, seconds))

    async def _sync_once(self, timeout_ms: int) -> None:
        client = self.client
        assert client is not None
        since = self.state.next_batch
        first_ever = since is None
        full_state = not self._ready.is_set()          # nio keeps no room state between runs
        self._poll = asyncio.ensure_future(client.sync(
            timeout=timeout_ms, since=since, full_state=full_state, sync_filter=SYNC_FILTER))
        try:
            resp = await self._poll
        finally:
            self._poll = None
        if not isinstance(resp, SyncResponse):
            raise error_for(resp)
        # From here on the batch is handled to the end, even if stop() is called meanwhile.
        await self._handle_sync(resp, since, initial=first_ever)
        await self._housekeeping()
        await self._retry_pending()
        self.state.next_batch = resp.next_batch
        self.state.save()
        self._ready.set()

    async def _housekeeping(self) -> None:
        """What nio's sync_forever does between syncs: keys and to-device messages."""
        client = self.client
        assert client is not None
        try:
            if client.should_upload_keys:
                await client.keys_upload()
            await self._query_keys()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            if client.outgoing_to_device_messages:
                await client.send_to_device_messages()
        except (LocalProtocolError, *NETWORK_ERRORS) as exc:
            log.warning("matrix: key housekeeping failed (%s)", exc.__class__.__name__)

    async def _query_keys(self) -> None:
        client = self.client
        assert client is not None
        async with self._key_lock:
            if client.should_query_keys:
                try:
                    await client.keys_query()
                except LocalProtocolError:
                    pass

    async def _handle_sync(self, resp: SyncResponse, since: str | None, *, initial: bool) -> None:
        for room_id, info in resp.rooms.invite.items():
            await self._on_invite(room_id, info)
        for room_id, info in resp.rooms.join.items():
            try:
                await self._on_joined_room(room_id, info, since, initial)
            except (Unreachable, MessageGone, PermanentError) as exc:
                # Trouble with this one room only (the bot was just removed, say). Transient
                # errors propagate instead: the batch is fetched again, nothing is skipped.
                log.warning("matrix: a room could not be handled (%s)", exc.__class__.__name__)
        for room_id, info in resp.rooms.leave.items():
            await self._on_left_room(room_id, info, initial)

    # --------------------------------------------------------------- rooms
    def _others(self, room_id: str) -> list[str]:
        room = self.client.rooms.get(room_id) if self.client else None
        if room is None:
            return []
        return [u for u in room.users if u != self.user_id]

    async def _on_invite(self, room_id: str, info: Any) -> None:
        if room_id in self._joining:
            return
        inviter = None
        for ev in info.invite_state:
            if _membership(ev) == (self.user_id, "invite"):
                inviter = getattr(ev, "sender", None)
        client = self.client
        assert client is not None
        if inviter is None or (self.allowed_homeservers and _server_of(inviter) not in self.allowed_homeservers):
            log.info("matrix: declined an invite (inviter's homeserver is not allowed)")
            self._joining.add(room_id)
            try:
                await client.room_leave(room_id)
            except NETWORK_ERRORS:
                self._joining.discard(room_id)
            return
        self._joining.add(room_id)
        try:
            resp = await client.join(room_id)
        except NETWORK_ERRORS:
            resp = None
        if resp is None or hasattr(resp, "status_code"):
            self._joining.discard(room_id)            # try again at the next sync
            log.warning("matrix: joining an invited room failed (%s)", getattr(resp, "status_code", "network"))
        else:
            log.info("matrix: accepted an invite")

    async def _on_joined_room(self, room_id: str, info: Any, since: str | None, initial: bool) -> None:
        self._joining.discard(room_id)
        if room_id in self._leaving:
            return
        others = self._others(room_id)
        if len(others) >= 2:
            await self._leave_shared(room_id)
            return
        if initial:
            if len(others) == 1:
                self.state.remember_dm(others[0], room_id)
            elif not others:
                await self._leave(room_id)
            return
        events = list(info.timeline.events)
        if info.timeline.limited and since and info.timeline.prev_batch:
            events = await self._backfill(room_id, info.timeline.prev_batch, since) + events
        events = self._after_own_invite(events)
        unique: dict[str, Any] = {}
        for ev in events:
            unique.setdefault(getattr(ev, "event_id", None) or str(id(ev)), ev)
        for ev in unique.values():
            await self._on_event(room_id, ev)
        if not self._others(room_id) and room_id not in self._leaving:
            await self._leave(room_id)                  # the participant is gone; the room is dead

    def _after_own_invite(self, events: list[Any]) -> list[Any]:
        """Drop history from before the bot was invited (it was not written to the bot)."""
        cut = 0
        for index, ev in enumerate(events):
            if _membership(ev) == (self.user_id, "invite"):
                cut = index + 1
        return events[cut:]

    async def _backfill(self, room_id: str, prev_batch: str, since: str) -> list[Any]:
        """Events between the last sync and a gappy timeline, oldest first."""
        client = self.client
        assert client is not None
        found: list[Any] = []
        start = prev_batch
        for _ in range(BACKFILL_PAGES):
            resp = await client.room_messages(room_id, start=start, end=since,
                                              direction=MessageDirection.back, limit=100)
            if not isinstance(resp, RoomMessagesResponse):
                raise error_for(resp)
            found.extend(resp.chunk)
            if not resp.chunk or not resp.end or resp.end == start:
                break
            start = resp.end
        else:
            log.warning("matrix: a room had more missed events than the catch-up limit")
        found.reverse()
        self.backfilled += len(found)
        return found

    async def _on_left_room(self, room_id: str, info: Any, initial: bool) -> None:
        self._joining.discard(room_id)
        if room_id in self._leaving:
            self._leaving.discard(room_id)
            self.state.forget_dm(room_id)
            return
        if initial:
            return
        user_id = self.state.user_of_room.get(room_id)
        self.state.forget_dm(room_id)
        if user_id is not None and user_id not in self.state.dm_of_user:
            # The participant removed the bot from their DM: as good as blocked.
            marker = f"left:{room_id}"
            for ev in info.timeline.events:
                if _membership(ev)[0] == self.user_id:
                    marker = getattr(ev, "event_id", None) or marker
            if not self.state.seen(marker):
                await self._emit(room_id, user_id, None, Kind.BLOCKED, marker)

    async def _leave(self, room_id: str) -> None:
        self._leaving.add(room_id)
        self.state.forget_dm(room_id)
        try:
            await self.client.room_leave(room_id)
            await self.client.room_forget(room_id)
        except NETWORK_ERRORS as exc:
            log.warning("matrix: leaving a room failed (%s)", exc.__class__.__name__)

    async def _leave_shared(self, room_id: str) -> None:
        """A room with 3+ members would show them to each other: explain and leave."""
        log.info("matrix: leaving a room with more than one other member")
        text = self.i18n.t(self.language, "matrix.shared_room")
        try:
            await self._send_event(room_id, text_content(Rendered(text=text)), dm_only=False)
        except SendError as exc:
            log.info("matrix: could not explain before leaving (%s)", exc.__class__.__name__)
        await self._leave(room_id)

    # ------------------------------------------------------------- events
    async def _on_event(self, room_id: str, ev: Any) -> None:
        src = getattr(ev, "source", None) or {}
        event_id = src.get("event_id") or getattr(ev, "event_id", None)
        sender = src.get("sender") or getattr(ev, "sender", None)
        if not event_id or not sender or sender == self.user_id or self.state.seen(event_id):
            return
        if isinstance(ev, MegolmEvent):
            self._keep_pending(room_id, ev)
            return
        if src.get("type") == "m.room.member":
            target, membership = _membership(ev)
            if membership in ("leave", "ban") and target and target != self.user_id:
                if self.state.user_of_room.get(room_id) == target:
                    self.state.forget_dm(room_id)
                    if target not in self.state.dm_of_user:
                        await self._emit(room_id, target, None, Kind.BLOCKED, event_id)
            return
        parsed = parse_incoming(src)
        others = self._others(room_id)
        if parsed is None or others not in ([], [sender]):
            return                                       # not for us, or not a 1:1 DM
        # (no other member left: the sender wrote and then left within this batch)
        self.state.remember_dm(sender, room_id)
        await self._emit(room_id, sender, parsed, parsed.kind, event_id)

    async def _emit(self, room_id: str, sender: str, parsed: Any, kind: Kind, event_id: str) -> None:
        room = self.client.rooms.get(room_id) if self.client else None
        member = room.users.get(sender) if room is not None else None
        user = PlatformUser(platform="matrix", user_id=sender, address=room_id, username=None,
                            display_name=(member.display_name or None) if member is not None else None)
        if parsed is None:
            event = IncomingEvent(user=user, kind=kind)
        else:
            event = IncomingEvent(user=user, kind=kind, text=parsed.text,
                                  platform_message_id=parsed.message_id or event_id,
                                  reply_to_message_id=parsed.reply_to, media_kind=parsed.media_kind)
        if self._dispatch is None:
            return
        await self._dispatch(event)
        self.state.mark(event_id)
        self.dispatched += 1
        log.info("matrix: dispatched a %s event", kind.value)

    # ------------------------------------------------------ undecryptable
    def _keep_pending(self, room_id: str, ev: MegolmEvent) -> None:
        event_id = ev.event_id
        if any(p["event"].get("event_id") == event_id for p in self.state.pending):
            return
        raw = dict(ev.source)
        self.state.pending.append({"event": raw, "room_id": room_id, "since": time.time(), "requested": False})
        log.info("matrix: an event could not be decrypted yet; it is kept and retried when keys arrive")
        while len(self.state.pending) > PENDING_KEEP:
            self.state.pending.pop(0)
            log.info("matrix: gave up on an undecryptable event (too many waiting)")

    async def _retry_pending(self) -> None:
        client = self.client
        if not self.state.pending or client is None or client.olm is None:
            return
        now = time.time()
        for item in list(self.state.pending):
            room_id = item["room_id"]
            ev = Event.parse_event(dict(item["event"]))
            if not isinstance(ev, MegolmEvent):
                self.state.pending.remove(item)
                continue
            ev.room_id = room_id
            try:
                decrypted = client.decrypt_event(ev)
            except EncryptionError:
                decrypted = None
            if decrypted is not None and not isinstance(decrypted, MegolmEvent) and hasattr(decrypted, "source"):
                self.state.pending.remove(item)
                log.info("matrix: a waiting event was decrypted")
                if room_id in client.rooms:
                    await self._on_event(room_id, decrypted)
                continue
            if now - item["since"] > PENDING_MAX_AGE:
                self.state.pending.remove(item)
                log.info("matrix: gave up on an undecryptable event after %d days", PENDING_MAX_AGE // 86400)
            elif not item["requested"] and now - item["since"] > KEY_REQUEST_AFTER:
                item["requested"] = True
                try:
                    await client.request_room_key(ev)
                    log.info("matrix: requested a missing room key")
                except (LocalProtocolError, *NETWORK_ERRORS):
                    pass

    # ------------------------------------------------------------ sending
    async def _room_for(self, address: str) -> tuple[str, bool]:
        """The room to use for an address, and whether it was redirected to a newer DM."""
        client = self.client
        if client is None or self._stopping or not self._ready.is_set():
            raise TransientError("matrix is not running or not synced yet")
        if address in client.rooms and address not in self._leaving:
            return address, False
        user_id = self.state.user_of_room.get(address)
        newer = self.state.dm_of_user.get(user_id) if user_id else None
        if newer and newer in client.rooms and newer not in self._leaving:
            return newer, True
        if address not in self._leaving:
            # Joined a moment ago, but not synced yet? Ask the server before giving up on it.
            try:
                resp = await client.joined_members(address)
            except NETWORK_ERRORS as exc:
                raise TransientError(exc.__class__.__name__) from None
            if isinstance(resp, JoinedMembersResponse):
                raise TransientError("the room is not synced yet")
        raise Unreachable("the bot is not in this room")

    async def _prepare_room(self, room_id: str, dm_only: bool) -> None:
        client = self.client
        assert client is not None
        room = client.rooms.get(room_id)
        if room is None:
            raise Unreachable("the bot is not in this room")
        if dm_only and len(self._others(room_id)) != 1:
            raise Unreachable("not a 1:1 room")          # never write into a shared room
        if not room.encrypted:
            return
        if not room.members_synced:
            resp = await client.joined_members(room_id)
            if not isinstance(resp, JoinedMembersResponse):
                raise error_for(resp)
            if dm_only and len(self._others(room_id)) != 1:
                raise Unreachable("not a 1:1 room")
        await self._query_keys()

    async def _send_event(self, room_id: str, content: dict[str, Any], *, dm_only: bool = True,
                          event_type: str = "m.room.message") -> str:
        client = self.client
        assert client is not None
        try:
            await self._prepare_room(room_id, dm_only)
            # Participants are anonymous and never verify devices: share keys with all of theirs.
            resp = await client.room_send(room_id, event_type, content, ignore_unverified_devices=True)
        except SendError:
            raise
        except NETWORK_ERRORS as exc:
            raise TransientError(exc.__class__.__name__) from None
        except LocalProtocolError as exc:       # SendRetryError, MembersSyncError, unknown room
            raise TransientError(exc.__class__.__name__) from None
        except RuntimeError as exc:
            if self._stopping:                  # the HTTP session was closed under us
                raise TransientError("stopping") from None
            raise
        if isinstance(resp, RoomSendResponse):
            return resp.event_id
        raise error_for(resp)

    async def send(self, address: str, message: Rendered) -> str:
        room_id, _ = await self._room_for(address)
        if message.document is None:
            return await self._send_event(room_id, text_content(message))
        first = None
        if message.text.strip() or message.buttons:
            first = await self._send_event(room_id, text_content(message))
        file_id = await self._send_file(room_id, *message.document)
        return first or file_id

    async def _send_file(self, room_id: str, name: str, data: bytes) -> str:
        client = self.client
        assert client is not None
        room = client.rooms.get(room_id)
        encrypted = bool(room is not None and room.encrypted)
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            resp, keys = await client.upload(io.BytesIO(data), content_type=mimetype, filename=name,
                                             encrypt=encrypted, filesize=len(data))
        except NETWORK_ERRORS as exc:
            raise TransientError(exc.__class__.__name__) from None
        if not isinstance(resp, UploadResponse):
            raise error_for(resp)
        content: dict[str, Any] = {"msgtype": "m.file", "body": name, "filename": name,
                                   "info": {"mimetype": mimetype, "size": len(data)}}
        if encrypted and keys:
            content["file"] = {"url": resp.content_uri, **keys}
        else:
            content["url"] = resp.content_uri
        return await self._send_event(room_id, content)

    async def _check_target(self, address: str, event_id: str) -> str:
        """The room of a message we sent, checked to still exist; MessageGone if it does not."""
        try:
            room_id, redirected = await self._room_for(address)
        except Unreachable:
            if self.state.user_of_room.get(address) in self.state.dm_of_user:
                raise MessageGone("the message is in a room the bot has left") from None
            raise
        if redirected:
            raise MessageGone("the message is in a room the bot has left")
        try:
            resp = await self.client.room_get_event(room_id, event_id)
        except NETWORK_ERRORS as exc:
            raise TransientError(exc.__class__.__name__) from None
        if not isinstance(resp, RoomGetEventResponse):
            raise error_for(resp, target_event=True)
        ev = resp.event
        unsigned = (getattr(ev, "source", None) or {}).get("unsigned") or {}
        if isinstance(ev, RedactedEvent) or "redacted_because" in unsigned:
            raise MessageGone("already redacted")
        return room_id

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        room_id = await self._check_target(address, message_id)
        await self._send_event(room_id, edit_content(message_id, message))

    async def delete(self, address: str, message_id: str) -> None:
        room_id = await self._check_target(address, message_id)
        try:
            resp = await self.client.room_redact(room_id, message_id)
        except NETWORK_ERRORS as exc:
            raise TransientError(exc.__class__.__name__) from None
        if not isinstance(resp, RoomRedactResponse):
            raise error_for(resp, target_event=True)
