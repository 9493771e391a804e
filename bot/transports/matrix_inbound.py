"""The receiving half of the Matrix transport: the sync loop and what arrives through it.

A mixin of :class:`bot.transports.matrix.MatrixTransport` (it uses the transport's client,
state and dispatch). Per sync batch: invites are answered, every joined room is checked to
still be a 1:1 DM (else left with an explanation), its timeline (filled in from
``/messages`` when gappy) is turned into neutral events and dispatched in order, keys are
looked after, waiting undecryptable events are retried, and only then the sync token is
saved. Each dispatched event id is recorded before the next one is handled.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from nio import Api, Event, MegolmEvent, MessageDirection, RoomKeyRequestResponse, RoomMessagesResponse, SyncResponse
from nio.exceptions import EncryptionError, LocalProtocolError

from bot.transports.matrix_keys import MatrixKeys

from bot.events import IncomingEvent, Kind, PlatformUser, Rendered
from bot.transports.base import (
    MessageGone, PermanentError, RetryAfter, SendError, TransientError, Unreachable,
)
from bot.transports.matrix_format import NETWORK_ERRORS, error_for, parse_incoming, text_content
from bot.transports.matrix_state import PENDING_KEEP

if TYPE_CHECKING:
    from nio import AsyncClient

    from bot.i18n import I18n
    from bot.transports.base import Dispatch
    from bot.transports.matrix_state import MatrixState

log = logging.getLogger("bot.transports.matrix")

PENDING_MAX_AGE = 7 * 24 * 3600      # seconds an undecryptable event is retried
TELL_AFTER = 10.0                    # seconds before the sender is asked to send it again
PENDING_POLL_MS = 1000               # long-poll while an event waits (the timers above must run)
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


def _membership(ev: Any) -> tuple[str | None, str | None]:
    """(state_key, membership) of a member event (nio drops ``content`` from invite state)."""
    src = getattr(ev, "source", None) or {}
    if src.get("type") != "m.room.member":
        return None, None
    membership = getattr(ev, "membership", None) or (src.get("content") or {}).get("membership")
    return src.get("state_key"), membership


def _server_of(user_id: str) -> str:
    return user_id.partition(":")[2].lower()


class MatrixInbound(MatrixKeys):
    user_id: str
    client: "AsyncClient | None"
    state: "MatrixState"
    i18n: "I18n"
    language: str
    allowed_homeservers: set[str]
    sync_timeout_ms: int
    dispatched: int
    backfilled: int
    _dispatch: "Dispatch | None"
    _poll: "asyncio.Future | None"
    _stopping: bool
    _ready: asyncio.Event
    _key_lock: asyncio.Lock
    _leaving: set[str]
    _joining: set[str]
    _join_retry: dict[str, float]
    _join_tries: dict[str, int]
    _logged_in: bool

    async def _send_event(self, room_id: str, content: dict[str, Any], *, dm_only: bool = True,
                          event_type: str = "m.room.message") -> str:
        raise NotImplementedError

    async def _connect(self) -> None:
        raise NotImplementedError

    def message_id(self, room_id: str, event_id: str) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------- sync
    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                if not self._logged_in:
                    await self._connect()
                else:
                    await self._sync_once(timeout_ms=self._poll_timeout())
                failures = 0
            except asyncio.CancelledError:
                if self._stopping:
                    break
                raise
            except (SendError, *NETWORK_ERRORS) as exc:
                failures += 1
                delay = min(2.0 ** failures, 15.0)      # back soon after a homeserver restart
                log.warning("matrix: sync failed (%s); retrying in %.0fs", exc.__class__.__name__, delay)
                await self._sleep(delay)
            except Exception as exc:             # a bug: keep syncing; details only at DEBUG
                failures += 1
                log.error("matrix: sync round failed (%s)", exc.__class__.__name__,
                          exc_info=log.isEnabledFor(logging.DEBUG))
                await self._sleep(min(2.0 ** failures, 60.0))

    def _poll_timeout(self) -> int:
        """Short polls while an undecryptable event waits for its timers (key request, telling
        the sender); a key arriving wakes a long poll anyway."""
        if any(not item.get("told") for item in self.state.pending):
            return min(self.sync_timeout_ms, PENDING_POLL_MS)
        return self.sync_timeout_ms

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
        self._note_key_counts(resp)
        await self._handle_sync(resp, since, initial=first_ever)
        await self._housekeeping()
        await self._retry_pending()
        self._report_counts()
        await self._retry_joins()
        self.state.next_batch = resp.next_batch
        self.state.save()
        self._ready.set()

    async def _housekeeping(self) -> None:
        """What nio's sync_forever does between syncs: keys and to-device messages."""
        client = self.client
        assert client is not None
        try:
            await self._top_up_keys()
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
                    pass     # nothing to query any more (another task did it); the next sync re-checks

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
        await self._join(room_id)

    async def _join(self, room_id: str) -> None:
        client = self.client
        assert client is not None
        self._joining.add(room_id)
        self._join_retry.pop(room_id, None)
        try:
            resp = await client.join(room_id)
        except NETWORK_ERRORS:
            resp = None
        if resp is not None and not hasattr(resp, "status_code"):
            log.info("matrix: accepted an invite")
            return
        self._joining.discard(room_id)
        error = error_for(resp) if resp is not None else None
        if error is None or isinstance(error, (TransientError, RetryAfter)):
            tries = self._join_tries.get(room_id, 0) + 1
            self._join_tries[room_id] = tries
            if tries <= 10:                            # an invite is reported once: remember it
                self._join_retry[room_id] = time.monotonic() + min(2.0 ** tries, 300.0)
        log.warning("matrix: joining an invited room failed (%s)", getattr(resp, "status_code", "network"))

    async def _retry_joins(self) -> None:
        now = time.monotonic()
        for room_id, when in list(self._join_retry.items()):
            if when <= now and room_id not in (self.client.rooms if self.client else {}):
                await self._join(room_id)

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
        """The bot is no longer in the room: it left (on purpose) or was kicked or banned."""
        self._joining.discard(room_id)
        self._leaving.discard(room_id)
        user_id = self.state.user_of_room.get(room_id)
        self.state.forget_dm(room_id)
        if initial or user_id is None or user_id in self.state.dm_of_user:
            return
        for ev in info.timeline.events:
            target, membership = _membership(ev)
            if target == self.user_id and membership in ("leave", "ban") and ev.sender != self.user_id:
                # The participant removed the bot from their DM: as good as blocked.
                if not self.state.seen(ev.event_id):
                    await self._emit(room_id, user_id, None, Kind.BLOCKED, ev.event_id)
                return

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
                        before = getattr(ev, "prev_content", None) or {}
                        await self._emit(room_id, target, None, Kind.BLOCKED, event_id,
                                         display_name=before.get("displayname"))
            return
        parsed = parse_incoming(src)
        others = self._others(room_id)
        if parsed is None or others not in ([], [sender]):
            return                                       # not for us, or not a 1:1 DM
        # (no other member left: the sender wrote and then left within this batch)
        self.state.remember_dm(sender, room_id)
        await self._emit(room_id, sender, parsed, parsed.kind, event_id)

    async def _emit(self, room_id: str, sender: str, parsed: Any, kind: Kind, event_id: str,
                    display_name: str | None = None) -> None:
        room = self.client.rooms.get(room_id) if self.client else None
        member = room.users.get(sender) if room is not None else None
        if member is not None and member.display_name:
            display_name = member.display_name
        user = PlatformUser(platform="matrix", user_id=sender, address=room_id, username=None,
                            display_name=display_name or None)
        if parsed is None:
            event = IncomingEvent(user=user, kind=kind)
        else:
            # A reply names one of the bot's copies: as recorded, with the tag of its room.
            reply_to = self.message_id(room_id, parsed.reply_to) if parsed.reply_to else None
            event = IncomingEvent(user=user, kind=kind, text=parsed.text,
                                  platform_message_id=parsed.message_id or event_id,
                                  reply_to_message_id=reply_to, media_kind=parsed.media_kind)
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
        self.state.pending.append({"event": raw, "room_id": room_id, "since": time.time(),
                                   "requested": False, "told": False})
        log.info("matrix: an event could not be decrypted yet; it is kept and retried when keys arrive")
        while len(self.state.pending) > PENDING_KEEP:
            self.state.pending.pop(0)
            self.state.counters["given_up"] += 1
            log.info("matrix: gave up on an undecryptable event (too many waiting)")

    async def _retry_pending(self) -> None:
        """Decrypt what waits; ask for missing keys at once; tell the sender after a while."""
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
                self.state.counters["recovered"] += 1
                log.info("matrix: a waiting event was decrypted")
                if room_id in client.rooms:
                    await self._on_event(room_id, decrypted)   # handled once; nothing more is said
                continue
            if now - item["since"] > PENDING_MAX_AGE:
                self.state.pending.remove(item)
                self.state.counters["given_up"] += 1
                log.info("matrix: gave up on an undecryptable event after %d days", PENDING_MAX_AGE // 86400)
                continue
            if not item["requested"]:
                item["requested"] = await self._recover_key(ev)
            if not item.get("told") and now - item["since"] >= TELL_AFTER:
                item["told"] = await self._tell_unreadable(room_id)

    async def _recover_key(self, ev: MegolmEvent) -> bool:
        """Ask the sender's devices for the room key, and start a fresh Olm session with the
        sending device when we have none (its key could not reach us): an ``m.dummy``."""
        client = self.client
        assert client is not None and client.olm is not None
        self._unwedge(ev)
        message = ev.as_key_request(ev.sender, client.device_id)
        method, path, data = Api.to_device(client.access_token, message.type, message.as_dict(),
                                           f"keyreq{ev.session_id[:16]}{int(time.time())}")
        try:
            await client._send(RoomKeyRequestResponse, method, path, data,
                               (ev.session_id, ev.session_id, ev.room_id, ev.algorithm))
            await self._claim_for_wedged()
            if client.outgoing_to_device_messages:
                await client.send_to_device_messages()
        except (LocalProtocolError, *NETWORK_ERRORS) as exc:
            log.info("matrix: asking for a missing room key failed for now (%s)", exc.__class__.__name__)
            return False
        log.info("matrix: requested a missing room key")
        return True

    async def _tell_unreadable(self, room_id: str) -> bool:
        """Never silent: say kindly that the message could not be read and ask to resend."""
        if self.client is None or room_id not in self.client.rooms or room_id in self._leaving:
            return True                                  # nobody to tell any more
        text = self.i18n.t(self.language, "matrix.undecryptable")
        try:
            await self._send_event(room_id, text_content(Rendered(text=text)))
        except SendError as exc:
            log.info("matrix: could not ask to resend an unreadable message yet (%s)", exc.__class__.__name__)
            return False
        self.state.counters["asked_to_resend"] += 1
        log.info("matrix: asked a participant to send an unreadable message again")
        return True
