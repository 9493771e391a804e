"""Incoming Telegram updates: neutral events, and receiving each update exactly when handled.

PTB's updater confirms a polled batch (the next getUpdates offset) as soon as it has *queued*
the updates, and its webhook answers 200 as soon as an update is queued: a crash before the
bot handled them would lose them. Two small pieces change that without replacing PTB's
updater:

* :class:`AckQueue` - the update queue PTB's Updater and Application share; its ``put`` of
  an update returns only after the update was handled. The webhook's 200 and the updater's
  next getUpdates therefore come after handling.
* :class:`OffsetRequest` - the HTTP client for getUpdates, remembering the highest offset the
  server confirmed. Before the next update of the same batch is handled, the transport
  confirms the previous one (a ``getUpdates`` with ``timeout=0``), so a crash replays at most
  the one update being handled, not the rest of the batch.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from telegram import Chat, Message, Update, User
from telegram.request import HTTPXRequest, RequestData

from bot.events import IncomingEvent, Kind, PlatformUser

# Checked in this order: an animation is also a document, a venue also a location.
MEDIA_KINDS = ("animation", "video_note", "video", "voice", "audio", "photo", "sticker", "document", "venue",
               "location", "contact", "poll", "dice", "story", "game", "paid_media", "invoice", "checklist")


class AckQueue(asyncio.Queue):
    """``put(update)`` returns once :meth:`handled` was called for it; other items pass as usual."""

    def __init__(self, before_put: Callable[[Update], Awaitable[None]] | None = None) -> None:
        super().__init__()
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._before_put = before_put

    async def put(self, item: Any) -> None:
        if not isinstance(item, Update):
            await super().put(item)
            return
        if self._before_put is not None:
            await self._before_put(item)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[id(item)] = done
        try:
            await super().put(item)
            await done
        finally:
            self._waiting.pop(id(item), None)

    def handled(self, update: Update) -> None:
        done = self._waiting.get(id(update))
        if done is not None and not done.done():
            done.set_result(None)


class OffsetRequest(HTTPXRequest):
    """The getUpdates client; ``confirmed`` is the highest offset the server accepted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.confirmed = 0

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        result = await super().do_request(url, method, request_data, *args, **kwargs)
        if request_data is not None and result[0] == 200:
            offset = request_data.parameters.get("offset")
            if isinstance(offset, int) and offset > self.confirmed:
                self.confirmed = offset
        return result


def language(code: str | None) -> str | None:
    """Telegram's IETF tag reduced to its primary language ("no"/"nn" count as Bokmål)."""
    if not code:
        return None
    primary = code.replace("_", "-").split("-", 1)[0].lower()
    return "nb" if primary in ("nb", "no", "nn") else primary


def platform_user(user: User, chat: Chat) -> PlatformUser:
    name = " ".join(part for part in (user.first_name, user.last_name) if part) or None
    return PlatformUser(platform="telegram", user_id=str(user.id), address=str(chat.id),
                        username=user.username or None, display_name=name, language=language(user.language_code))


def media_kind(message: Message) -> str | None:
    for kind in MEDIA_KINDS:
        if getattr(message, kind, None):
            return kind
    return None


def message_event(message: Message, person: PlatformUser, edited: bool,
                  reply_id: Callable[[int, int], str]) -> IncomingEvent | None:
    """The neutral event for a private-chat message (None for service messages)."""
    message_id = str(message.message_id)
    if edited:      # an edited caption belongs to media that was never relayed: nothing to do
        if message.text is None:
            return None
        return IncomingEvent(person, Kind.EDIT, text=message.text, platform_message_id=message_id)
    if message.forward_origin is not None:
        return IncomingEvent(person, Kind.FORWARD, platform_message_id=message_id)
    if message.text is not None:
        reply_to = None
        if message.reply_to_message is not None:
            reply_to = reply_id(message.chat.id, message.reply_to_message.message_id)
        return IncomingEvent(person, Kind.TEXT, text=message.text, platform_message_id=message_id,
                             reply_to_message_id=reply_to)
    kind = media_kind(message)
    if kind is not None:
        return IncomingEvent(person, Kind.MEDIA, platform_message_id=message_id, media_kind=kind)
    return None     # e.g. a "pinned message" notice: nothing the person typed
