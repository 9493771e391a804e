"""Outgoing Telegram messages: escaping, splitting, inline keyboards, message ids; error mapping.

Everything the bot sends is sent with ``parse_mode=HTML`` and *all* text escaped, so nothing
a participant typed (a post, a title, a pseudonym) can become formatting, a link or a mention.
"""
from __future__ import annotations

import datetime as dtm
import html
import warnings

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError,
                            RetryAfter as TgRetryAfter, TelegramError)

from bot.events import Button
from bot.transports.base import MessageGone, PermanentError, TransientError, Unreachable

TEXT_LIMIT = 4096           # characters of a message after entity parsing
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64         # bytes of callback_data
MAX_PARTS = 20              # a split message never has more parts (keeps the id under 255 chars)
ELLIPSIS = "…"
_GONE = ("message to edit not found", "message to delete not found", "message can't be deleted",
         "message_id_invalid")
_NOT_MODIFIED = "message is not modified"


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def u16len(text: str) -> int:
    """Telegram counts UTF-16 code units; characters outside the BMP count twice."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fit(text: str, limit: int) -> int:
    """The longest prefix (in code points) that is at most ``limit`` UTF-16 units long."""
    if len(text) <= limit // 2 or u16len(text) <= limit:
        return len(text)
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def split_text(text: str, limit: int = TEXT_LIMIT, max_parts: int = MAX_PARTS) -> list[str]:
    """Split at line breaks (else at a space, else anywhere) into parts of at most ``limit``.

    Telegram trims whitespace around a message, so parts are trimmed and blank parts dropped.
    With more text than ``max_parts`` can hold, the last part ends with an ellipsis.
    """
    parts: list[str] = []
    rest = text.strip()
    while rest:
        cut = _fit(rest, limit)
        if cut >= len(rest):
            parts.append(rest)
            break
        if len(parts) == max(1, max_parts) - 1:
            parts.append(rest[:_fit(rest, limit - 1)].rstrip() + ELLIPSIS)
            break
        window = rest[:cut + 1]            # a break right after the limit still counts
        newline, space = window.rfind("\n", 0, cut + 1), window.rfind(" ", 0, cut + 1)
        if newline >= cut // 2:
            at = newline
        elif space >= cut // 2:
            at = space
        elif newline > 0:
            at = newline
        else:
            at = cut
        head, rest = rest[:at].rstrip(), rest[at:].strip()
        if head:
            parts.append(head)
    return parts


def keyboard(buttons: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """An inline keyboard whose callback data is the typed command. A command longer than
    Telegram's 64 bytes gets no button: the message text always names the command anyway."""
    rows = []
    for row in buttons:
        kept = [InlineKeyboardButton(b.label, callback_data=b.command) for b in row
                if b.label.strip() and 1 <= len(b.command.encode("utf-8")) <= CALLBACK_LIMIT]
        if kept:
            rows.append(kept)
    return InlineKeyboardMarkup(rows) if rows else None


# A message the bot sent as several Telegram messages is recorded as one id: "12+13+d14"
# (parts in order; "d" marks a document). A single message is just "12".
Part = tuple[int, bool]    # (Telegram message id, is a document)


def join_ids(parts: list[Part]) -> str:
    return "+".join(("d" if doc else "") + str(mid) for mid, doc in parts)


def parse_ids(message_id: str) -> list[Part]:
    parts: list[Part] = []
    for token in str(message_id).split("+"):
        doc = token.startswith("d")
        digits = token[1:] if doc else token
        if not digits.isdigit():
            raise PermanentError("not a Telegram message id")
        parts.append((int(digits), doc))
    return parts


def retry_seconds(exc: TgRetryAfter) -> float:
    with warnings.catch_warnings():      # PTB 22 warns about the int form; both forms are handled
        warnings.simplefilter("ignore", DeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


class NotModified(Exception):
    """An edit that changed nothing: Telegram refuses it, for us it is a success."""


def translate(exc: TelegramError) -> Exception:
    """The port's error for a PTB error (RetryAfter is handled by the caller, per chat)."""
    if isinstance(exc, Forbidden):
        return Unreachable("blocked or not started")
    if isinstance(exc, BadRequest):       # (a subclass of NetworkError: check it first)
        description = exc.message.lower()
        if _NOT_MODIFIED in description:
            return NotModified()
        if any(g in description for g in _GONE):
            return MessageGone(exc.message[:80])
        return PermanentError(exc.message[:80])
    if isinstance(exc, ChatMigrated):
        return PermanentError("chat migrated")
    if isinstance(exc, (NetworkError, InvalidToken)):   # TimedOut is a NetworkError; 5xx too
        return TransientError(exc.__class__.__name__)
    return TransientError(exc.__class__.__name__)        # Conflict, unknown codes: try again later
