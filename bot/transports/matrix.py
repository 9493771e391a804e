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
import hashlib
import hmac
import io
import json
import logging
import mimetypes
import os
import time
import uuid
from dataclasses import replace
from typing import Any, Callable

from nio import (
    Api, AsyncClient, AsyncClientConfig, JoinedMembersResponse, LoginResponse, RedactedEvent,
    RoomGetEventResponse, RoomRedactResponse, RoomSendResponse, UploadResponse, WhoamiResponse,
)
from nio.api import RelationshipType
from nio.exceptions import LocalProtocolError
from nio.responses import RoomEventRelationsResponse

from bot.events import Rendered
from bot.i18n import I18n
from bot.transports.base import Dispatch, MessageGone, RetryAfter, SendError, TransientError, Unreachable
from bot.transports.matrix_format import NETWORK_ERRORS, edit_content, error_for, text_content
from bot.transports.matrix_inbound import MatrixInbound
from bot.transports.matrix_state import MatrixState
from storage.crypto import derive_key

log = logging.getLogger(__name__)


def _quiet_nio() -> None:
    """nio logs user, device and room ids at INFO and WARNING: keep it quiet unless debugging."""
    if logging.getLogger("nio").getEffectiveLevel() <= logging.DEBUG:
        return
    for name in ("nio.client", "nio.crypto", "nio.rooms", "nio.responses", "nio.events", "nio.store",
                 "nio.http", "nio.api"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class MatrixTransport(MatrixInbound):
    name = "matrix"

    def __init__(self, homeserver: str, user_id: str, store_path: str, *, password: str | None = None,
                 access_token: str | None = None, allowed_homeservers: list[str] | tuple[str, ...] = (),
                 language: str = "en", display_name: str | None = None,
                 device_name: str = "Peerhaven", sync_timeout_ms: int = 30_000,
                 data_key: str | None = None) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.password = password
        self.access_token = access_token
        self.allowed_homeservers = {h.lower() for h in allowed_homeservers}
        self.language = language
        self.display_name = display_name
        self.device_name = device_name
        self.sync_timeout_ms = sync_timeout_ms
        self.store_path = store_path
        self.state = MatrixState(store_path)
        self._tag_key = b""
        if data_key is not None:
            self.use_data_key(data_key)
        self.publish_status: Callable[[str, str], None] | None = None
        self._paused_until = 0.0              # Synapse limits the whole account: one pause for all
        self._retry_txn: dict[str, str] = {}  # content of a send that failed ambiguously -> its txn id
        self.i18n = I18n()
        self.client: AsyncClient | None = None
        self._dispatch: Dispatch | None = None
        self._task: asyncio.Task | None = None
        self._poll: asyncio.Future | None = None
        self._stopping = False
        self._ready = asyncio.Event()
        self._key_lock = asyncio.Lock()
        self._logged_in = False
        self._leaving: set[str] = set()       # rooms we leave on purpose
        self._joining: set[str] = set()
        self._join_retry: dict[str, float] = {}   # invites whose join failed for now -> next try
        self._join_tries: dict[str, int] = {}
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

    def use_data_key(self, data_key: str) -> None:
        """sync.json names participants: it is sealed with a key derived from the data key."""
        self.state = MatrixState(self.store_path, derive_key(data_key, "matrix-state"))
        self._tag_key = derive_key(data_key, "matrix-room-tag")

    def bind_runtime(self, data_key: str, publish_status: Callable[[str, str], None]) -> None:
        """Called by ``build_runtime``: the data key, and where operator status lines go."""
        self.use_data_key(data_key)
        self.publish_status = publish_status

    @property
    def device_id(self) -> str | None:
        return self.client.device_id if self.client is not None else None

    # ------------------------------------------------------------- lifecycle
    async def start(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        self._stopping = False
        self._ready = asyncio.Event()
        if not self._tag_key:
            raise RuntimeError("matrix: no data key (sync.json names participants and is sealed with it)")
        self.state.prepare()
        self.state.load()
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False,
                                   max_limit_exceeded=0, max_timeouts=2, request_timeout=30)
        self.client = AsyncClient(self.homeserver, self.user_id, store_path=str(self.state.path), config=config)
        self._logged_in = False
        try:
            await self._connect()
        except NETWORK_ERRORS as exc:
            log.warning("matrix: the homeserver is not reachable (%s); connecting in the background",
                        exc.__class__.__name__)
        except BaseException:
            await self.client.close()           # refused credentials, a foreign store: stop here
            raise
        self._task = asyncio.create_task(self._run(), name="matrix-sync")
        log.info("matrix: started (%d DM rooms known)", len(self.state.dm_of_user))

    async def _connect(self) -> None:
        """Log in (or restore the session), upload keys, first sync. Network errors propagate."""
        assert self.client is not None
        await self._login()
        self._logged_in = True
        await self._top_up_keys()
        try:
            await self._sync_once(timeout_ms=0)
        except (SendError, *NETWORK_ERRORS) as exc:
            log.warning("matrix: first sync failed (%s); the sync loop keeps trying", exc.__class__.__name__)

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
            except Exception as exc:
                log.error("matrix: sync loop ended with an error (%s)", exc.__class__.__name__,
                          exc_info=log.isEnabledFor(logging.DEBUG))
            self._task = None
        if self.client is not None:
            await self.client.close()
        self._dispatch = None

    async def _login(self) -> None:
        client = self.client
        assert client is not None
        session = self.state.load_session()
        if session is not None and session.get("user_id") != self.user_id:
            raise RuntimeError("matrix: store_path holds the session of another account; "
                               "use a new store_path for a new matrix.user_id")
        if session is not None:
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

    # ---------------------------------------------------------- rate limits
    def _check_pause(self) -> None:
        """Synapse rate-limits the account, not a room: while paused, no request is made."""
        left = self._paused_until - time.monotonic()
        if left > 0:
            raise RetryAfter(left)

    def _fail(self, resp: Any, *, target_event: bool = False) -> SendError:
        error = error_for(resp, target_event=target_event)
        if isinstance(error, RetryAfter):
            until = time.monotonic() + error.seconds
            if until > self._paused_until:
                self._paused_until = until
                log.info("matrix: rate-limited by the homeserver; all sends pause for %.1fs", error.seconds)
        return error

    def _txn_key(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        raw = json.dumps([room_id, event_type, content], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()

    async def _send_event(self, room_id: str, content: dict[str, Any], *, dm_only: bool = True,
                          event_type: str = "m.room.message") -> str:
        client = self.client
        assert client is not None
        self._check_pause()
        # A send whose answer was lost (the homeserver went away mid-request) is repeated with
        # the same transaction id, so the homeserver keeps the first copy instead of a second.
        key = self._txn_key(room_id, event_type, content)
        txn = self._retry_txn.pop(key, None) or str(uuid.uuid4())
        try:
            await self._prepare_room(room_id, dm_only)
            # Participants are anonymous and never verify devices: share keys with all of theirs.
            resp = await client.room_send(room_id, event_type, content, tx_id=txn,
                                          ignore_unverified_devices=True)
        except SendError:
            raise
        except NETWORK_ERRORS as exc:
            self._remember_txn(key, txn)
            raise TransientError(exc.__class__.__name__) from None
        except LocalProtocolError as exc:       # SendRetryError, MembersSyncError, unknown room
            raise TransientError(exc.__class__.__name__) from None
        except RuntimeError:
            if self._stopping:                  # the HTTP session was closed under us
                self._remember_txn(key, txn)
                raise TransientError("stopping") from None
            raise
        if isinstance(resp, RoomSendResponse):
            return resp.event_id
        error = self._fail(resp)
        if isinstance(error, TransientError):
            self._remember_txn(key, txn)
        raise error

    def _remember_txn(self, key: str, txn: str) -> None:
        self._retry_txn[key] = txn
        while len(self._retry_txn) > 10_000:        # bounded; the oldest go first
            self._retry_txn.pop(next(iter(self._retry_txn)))

    # ------------------------------------------------- which room a copy is in
    def _tag(self, room_id: str) -> str:
        return hmac.new(self._tag_key, room_id.encode(), hashlib.sha256).hexdigest()[:16]

    def message_id(self, room_id: str, event_id: str) -> str:
        """The id the outbox records for a copy: the event id and a keyed tag of its room.

        The room is part of the id so that edits and deletions find copies in an older DM
        room of the same person; it is a keyed hash, so the database never holds the room id
        (which would name the participant's homeserver).
        """
        return f"{event_id}|{self._tag(room_id)}"

    def _room_of_tag(self, address: str, tag: str) -> str | None:
        client = self.client
        assert client is not None
        user_id = self.state.user_of_room.get(address)
        rooms = [r for r in client.rooms if r not in self._leaving]
        same = [r for r in rooms if r == address or (user_id and self.state.user_of_room.get(r) == user_id)]
        for room_id in same + rooms:
            if hmac.compare_digest(self._tag(room_id), tag):
                return room_id
        return None

    async def send(self, address: str, message: Rendered) -> str:
        room_id, _ = await self._room_for(address)
        if message.reply_to:
            message = replace(message, reply_to=message.reply_to.partition("|")[0])
        if message.document is None:
            return self.message_id(room_id, await self._send_event(room_id, text_content(message)))
        first = None
        if message.text.strip() or message.buttons:
            first = await self._send_event(room_id, text_content(message))
        file_id = await self._send_file(room_id, *message.document)
        return self.message_id(room_id, first or file_id)

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
            raise self._fail(resp)
        content: dict[str, Any] = {"msgtype": "m.file", "body": name, "filename": name,
                                   "info": {"mimetype": mimetype, "size": len(data)}}
        if encrypted and keys:
            content["file"] = {"url": resp.content_uri, **keys}
        else:
            content["url"] = resp.content_uri
        return await self._send_event(room_id, content)

    async def _target_room(self, address: str, event_id: str, tag: str) -> str:
        """The room a copy was sent to (from its tag; older ids without one: the address)."""
        if tag:
            client = self.client
            if client is None or self._stopping or not self._ready.is_set():
                raise TransientError("matrix is not running or not synced yet")
            room_id = self._room_of_tag(address, tag)
            if room_id is None:
                raise MessageGone("the message is in a room the bot has left")
            return room_id
        try:
            room_id, redirected = await self._room_for(address)
        except Unreachable:
            if self.state.user_of_room.get(address) in self.state.dm_of_user:
                raise MessageGone("the message is in a room the bot has left") from None
            raise
        if redirected:
            raise MessageGone("the message is in a room the bot has left")
        return room_id

    async def _check_target(self, address: str, message_id: str) -> tuple[str, str]:
        """(room, event) of a message we sent, checked to still exist; MessageGone if not."""
        event_id, _, tag = message_id.partition("|")
        room_id = await self._target_room(address, event_id, tag)
        self._check_pause()
        try:
            resp = await self.client.room_get_event(room_id, event_id)
        except NETWORK_ERRORS as exc:
            raise TransientError(exc.__class__.__name__) from None
        if not isinstance(resp, RoomGetEventResponse):
            raise self._fail(resp, target_event=True)
        ev = resp.event
        unsigned = (getattr(ev, "source", None) or {}).get("unsigned") or {}
        if isinstance(ev, RedactedEvent) or "redacted_because" in unsigned:
            raise MessageGone("already redacted")
        return room_id, event_id

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        room_id, event_id = await self._check_target(address, message_id)
        await self._send_event(room_id, edit_content(event_id, message))

    async def delete(self, address: str, message_id: str) -> None:
        room_id, event_id = await self._check_target(address, message_id)
        # The edits (m.replace events) carry the edited text: they go first, then the original.
        for edit_id in await self._own_edits(room_id, event_id):
            await self._redact(room_id, edit_id, target_event=False)
        await self._redact(room_id, event_id, target_event=True)

    async def _own_edits(self, room_id: str, event_id: str) -> list[str]:
        """Ids of the bot's own edits of an event (relations are visible unencrypted)."""
        client = self.client
        assert client is not None
        found: list[str] = []
        start: str | None = None
        for _ in range(20):                     # a copy is edited a handful of times at most
            method, path = Api.room_get_event_relations(client.access_token, room_id, event_id,
                                                        RelationshipType.replacement, paginate_from=start)
            try:
                resp = await client._send(RoomEventRelationsResponse, method, path,
                                          response_data=(room_id, event_id))
            except NETWORK_ERRORS as exc:
                raise TransientError(exc.__class__.__name__) from None
            if not isinstance(resp, RoomEventRelationsResponse):
                raise self._fail(resp, target_event=True)
            for ev in resp.events:
                src = getattr(ev, "source", None) or {}
                if src.get("sender") == self.user_id and "redacted_because" not in (src.get("unsigned") or {}):
                    found.append(src.get("event_id") or ev.event_id)
            start = resp.next_batch
            if not start:
                break
        return found

    async def _redact(self, room_id: str, event_id: str, *, target_event: bool) -> None:
        self._check_pause()
        try:
            resp = await self.client.room_redact(room_id, event_id)
        except NETWORK_ERRORS as exc:
            raise TransientError(exc.__class__.__name__) from None
        if not isinstance(resp, RoomRedactResponse):
            error = self._fail(resp, target_event=True)
            if isinstance(error, MessageGone) and not target_event:
                return                          # that edit is gone already
            raise error
