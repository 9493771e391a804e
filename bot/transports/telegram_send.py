"""Outgoing Telegram messages: send, edit and delete under the flood limits.

The transport (``bot/transports/telegram.py``) delegates its ``send``/``edit``/``delete`` here.
Formatting rules are in :mod:`bot.transports.telegram_format`, the limits in
:mod:`bot.transports.telegram_limits`.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any, Awaitable, Callable

from telegram import Bot, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import RetryAfter as TgRetryAfter, TelegramError

from bot.events import Rendered
from bot.transports.base import MessageGone, PermanentError, RetryAfter
from bot.transports.telegram_format import (CAPTION_LIMIT, ELLIPSIS, NotModified, Part, escape, join_ids, keyboard,
                                            parse_ids, retry_seconds, split_text, translate, u16len)
from bot.transports.telegram_limits import ChatGate, GlobalWindow

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
REMOVED_MARK = "🗑"           # shown where Telegram refuses to delete a message (no words: no language)
_REMEMBERED_SPLITS = 10_000


def chat_id_of(address: str) -> int:
    try:
        return int(address)
    except (TypeError, ValueError):
        raise PermanentError("not a Telegram chat id") from None


class Outgoing:
    def __init__(self, bot: Callable[[], Bot], bucket: GlobalWindow, gate: ChatGate) -> None:
        self._bot = bot                 # raises TransientError while Telegram is not connected
        self.bucket = bucket
        self.gate = gate
        # part id -> the whole message's id, for replies to a part of a split message
        self.splits: OrderedDict[tuple[int, int], str] = OrderedDict()

    def reply_id(self, chat_id: int, message_id: int) -> str:
        """A reply to any part of a split message refers to the whole message."""
        return self.splits.get((chat_id, message_id), str(message_id))

    async def call(self, method: Callable[..., Awaitable[Any]], /, *, urgent: bool = False, **params: Any) -> Any:
        """One Bot API call under the global limit, with errors turned into the port's errors.

        Direct answers (``Rendered.urgent``) and anything for a chat that wrote to the bot a
        moment ago go before bulk fan-out in the global queue."""
        chat_id = params["chat_id"]
        await self.bucket.acquire(priority=urgent or self.gate.interactive(chat_id))
        try:
            return await method(**params)
        except TgRetryAfter as exc:
            seconds = retry_seconds(exc)
            self.gate.penalise(chat_id, seconds)
            raise RetryAfter(seconds) from None
        except TelegramError as exc:
            raise translate(exc) from None
        finally:
            self.bucket.release()           # the slot frees one window after the answer

    async def send(self, address: str, message: Rendered) -> str:
        """Send; a text over 4,096 characters goes as several messages split at line breaks.

        Returns the Telegram message id, or for a split message the ids of all its parts joined
        with "+" (e.g. "41+42"), so that a later edit or delete reaches every part.
        """
        bot = self._bot()
        chat_id = chat_id_of(address)
        texts = split_text(message.text)
        caption = None
        if message.document is not None and len(texts) == 1 and u16len(texts[0]) <= CAPTION_LIMIT:
            caption, texts = texts[0], []
        if not texts and message.document is None:
            raise PermanentError("empty message")
        common: dict[str, Any] = {"chat_id": chat_id, "parse_mode": ParseMode.HTML,
                                  "disable_notification": message.silent or None,
                                  "urgent": message.urgent}
        markup = keyboard(message.buttons)
        reply = None
        if message.reply_to:
            reply = ReplyParameters(parse_ids(message.reply_to)[0][0], allow_sending_without_reply=True)
        self.gate.claim(chat_id)                   # RetryAfter at once if this chat must wait
        sent: list[Part] = []
        penalty = 0.0
        try:
            for i, text in enumerate(texts):
                if sent:
                    await asyncio.sleep(self.gate.interval)
                last = i == len(texts) - 1 and message.document is None
                msg = await self.call(bot.send_message, text=escape(text), link_preview_options=NO_PREVIEW,
                                       reply_markup=markup if last else None,
                                       reply_parameters=reply if not sent else None, **common)
                sent.append((msg.message_id, False))
            if message.document is not None:
                if sent:
                    await asyncio.sleep(self.gate.interval)
                name, content = message.document
                msg = await self.call(bot.send_document, document=content, filename=name,
                                       caption=escape(caption) if caption else None, reply_markup=markup,
                                       reply_parameters=reply if not sent else None, **common)
                sent.append((msg.message_id, True))
        except RetryAfter as exc:
            penalty = exc.seconds
            await self._roll_back(bot, chat_id, sent)
            raise
        except Exception:
            await self._roll_back(bot, chat_id, sent)
            raise
        finally:
            self.gate.release(chat_id, penalty)
        message_id = join_ids(sent)
        if len(sent) > 1:                          # a reply to any part means the whole message
            for mid, _ in sent:
                self.splits[(chat_id, mid)] = message_id
            while len(self.splits) > _REMEMBERED_SPLITS:
                self.splits.popitem(last=False)
        return message_id

    async def _roll_back(self, bot, chat_id: int, sent: list[Part]) -> None:  # type: ignore[no-untyped-def]
        """A split message failed half-way: remove the parts that went out (it is sent again whole)."""
        for mid, _ in sent:
            try:
                await self.call(bot.delete_message, chat_id=chat_id, message_id=mid)
            except Exception:
                log.info("telegram: a part of a failed split message could not be removed")

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        bot = self._bot()
        chat_id = chat_id_of(address)
        self._check_penalty(chat_id)
        parts = parse_ids(message_id)
        text_ids = [mid for mid, doc in parts if not doc]
        markup = keyboard(message.buttons)
        if not text_ids:                           # a document: its caption is the text
            caption = split_text(message.text, CAPTION_LIMIT, 1)
            try:
                await self.call(bot.edit_message_caption, chat_id=chat_id, message_id=parts[0][0],
                                 caption=escape(caption[0]) if caption else None, parse_mode=ParseMode.HTML,
                                 reply_markup=markup)
            except NotModified:
                pass
            return
        # The new text is fitted into as many messages as there were: shorter leaves parts over
        # (deleted), longer is cut with an ellipsis (Telegram cannot insert a message in between).
        texts = split_text(message.text, max_parts=len(text_ids)) or [ELLIPSIS]
        for i, mid in enumerate(text_ids):
            try:
                if i < len(texts):
                    await self.call(bot.edit_message_text, chat_id=chat_id, message_id=mid,
                                     text=escape(texts[i]), parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
                                     reply_markup=markup if i == len(texts) - 1 else None)
                else:
                    await self.call(bot.delete_message, chat_id=chat_id, message_id=mid)
            except NotModified:
                pass
            except (MessageGone, PermanentError):
                if i == 0:
                    raise
                # a later part already gone (or refused): the first part carries the message

    async def delete(self, address: str, message_id: str) -> None:
        bot = self._bot()
        chat_id = chat_id_of(address)
        self._check_penalty(chat_id)
        parts = parse_ids(message_id)
        gone = 0
        for mid, doc in parts:
            try:
                await self.call(bot.delete_message, chat_id=chat_id, message_id=mid)
            except MessageGone as exc:
                if "can't be deleted" in str(exc).lower() and not doc and await self._blank(bot, chat_id, mid):
                    continue
                gone += 1
        if gone == len(parts):
            raise MessageGone(message_id)

    async def _blank(self, bot, chat_id: int, mid: int) -> bool:  # type: ignore[no-untyped-def]
        """Telegram refused to delete: at least remove the content."""
        try:
            await self.call(bot.edit_message_text, chat_id=chat_id, message_id=mid, text=REMOVED_MARK)
            return True
        except NotModified:
            return True
        except Exception:
            return False

    def _check_penalty(self, chat_id: int) -> None:
        """Edits and deletes are not paced per chat, but a server's retry_after holds them too."""
        wait = self.gate.penalty_left(chat_id)
        if wait > 0:
            raise RetryAfter(wait)
