"""Matrix event content in and out, and nio error responses mapped to the port's errors.

Pure functions (no network), so they are easy to test on their own.
"""
from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError

from bot.events import Kind, Rendered
from bot.transports.base import (
    MessageGone, PermanentError, RetryAfter, SendError, TransientError, Unreachable,
)

TEXT_TYPES = ("m.text", "m.notice", "m.emote")
MEDIA_TYPES = {"m.image": "photo", "m.file": "file", "m.audio": "audio", "m.video": "video",
               "m.location": "location"}
POLL_TYPES = ("m.poll.start", "org.matrix.msc3381.poll.start")
HTML_FORMAT = "org.matrix.custom.html"
NETWORK_ERRORS = (ClientError, asyncio.TimeoutError, TimeoutError, OSError)


@dataclass(frozen=True)
class Incoming:
    kind: Kind
    text: str = ""
    message_id: str | None = None        # for EDIT: the original event id
    reply_to: str | None = None
    media_kind: str | None = None


# ------------------------------------------------------------------ outgoing
def matrix_command(command: str) -> str:
    """``/agree`` -> ``!agree``: Element treats a leading ``/`` as its own command."""
    return "!" + command[1:] if command.startswith("/") else command


def _button_lines(message: Rendered) -> tuple[list[str], list[str]]:
    plain: list[str] = []
    rich: list[str] = []
    for row in message.buttons:
        for button in row:
            command = matrix_command(button.command)
            plain.append(f"▸ {button.label}: {command}")
            rich.append(f"▸ {html.escape(button.label)}: <code>{html.escape(command)}</code>")
    return plain, rich


def text_parts(message: Rendered) -> tuple[str, str]:
    """(plain body, HTML body): every piece of text escaped, newlines as ``<br>``."""
    plain_buttons, rich_buttons = _button_lines(message)
    body = "\n".join([message.text, *plain_buttons]) if plain_buttons else message.text
    rich_text = html.escape(message.text).replace("\n", "<br>")
    formatted = "<br>".join([rich_text, *rich_buttons]) if rich_buttons else rich_text
    return body, formatted


def text_content(message: Rendered) -> dict[str, Any]:
    body, formatted = text_parts(message)
    content: dict[str, Any] = {
        "msgtype": "m.notice" if message.silent else "m.text",
        "body": body,
        "format": HTML_FORMAT,
        "formatted_body": formatted,
        "m.mentions": {},            # nobody is mentioned: no highlight from words in a post
    }
    if message.reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.reply_to}}
    return content


def edit_content(original_event_id: str, message: Rendered) -> dict[str, Any]:
    body, formatted = text_parts(message)
    msgtype = "m.notice" if message.silent else "m.text"
    return {
        "msgtype": msgtype,
        "body": "* " + body,
        "format": HTML_FORMAT,
        "formatted_body": "* " + formatted,
        "m.mentions": {},
        "m.new_content": {"msgtype": msgtype, "body": body, "format": HTML_FORMAT, "formatted_body": formatted,
                          "m.mentions": {}},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original_event_id},
    }


# ------------------------------------------------------------------ incoming
def strip_reply_fallback(body: str) -> str:
    """Drop the ``> <@user:server> quoted text`` block clients put before a reply."""
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index == 0:
        return body
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def parse_incoming(source: dict[str, Any]) -> Incoming | None:
    """A (decrypted) room event as the app should see it, or None to ignore it."""
    if "state_key" in source:
        return None
    etype = source.get("type")
    content = source.get("content")
    if not isinstance(content, dict) or not content:
        return None                                     # redacted or empty
    if etype == "m.sticker":
        return Incoming(Kind.MEDIA, media_kind="sticker")
    if etype in POLL_TYPES:
        return Incoming(Kind.MEDIA, media_kind="poll")
    if etype != "m.room.message":
        return None
    relation = content.get("m.relates_to")
    relation = relation if isinstance(relation, dict) else {}
    msgtype = content.get("msgtype")
    if relation.get("rel_type") == "m.replace":
        new = content.get("m.new_content")
        original = relation.get("event_id")
        if (isinstance(new, dict) and new.get("msgtype", msgtype) in TEXT_TYPES
                and isinstance(new.get("body"), str) and isinstance(original, str)):
            return Incoming(Kind.EDIT, text=new["body"], message_id=original)
        return None                                     # an edited caption or the like
    if msgtype in TEXT_TYPES:
        body = content.get("body")
        if not isinstance(body, str):
            return None
        reply = relation.get("m.in_reply_to")
        reply_to = reply.get("event_id") if isinstance(reply, dict) else None
        if relation.get("is_falling_back"):
            reply_to = None                             # a thread message, not a reply
        if reply_to:
            body = strip_reply_fallback(body)
        return Incoming(Kind.TEXT, text=body, reply_to=reply_to if isinstance(reply_to, str) else None)
    if msgtype in MEDIA_TYPES:
        return Incoming(Kind.MEDIA, media_kind=MEDIA_TYPES[msgtype])
    return None                                         # verification requests, unknown types


# -------------------------------------------------------------------- errors
def _status(resp: Any) -> int | None:
    transport = getattr(resp, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


def error_for(resp: Any, *, target_event: bool = False) -> SendError:
    """The port error for a nio ``ErrorResponse``.

    ``target_event``: the request was about an existing event (fetch before an edit or a
    redaction), so "not found" means the message is gone, not that the room is.
    """
    status = _status(resp)
    code = getattr(resp, "status_code", None)
    if code in ("M_LIMIT_EXCEEDED", 429) or status == 429:
        retry_ms = getattr(resp, "retry_after_ms", None) or 5000
        return RetryAfter(max(float(retry_ms), 0.0) / 1000.0)
    if code == "M_NOT_FOUND" or status == 404:
        return MessageGone("event not found") if target_event else Unreachable("room not found")
    if code == "M_FORBIDDEN" or status == 403:
        return Unreachable("forbidden")
    if code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN") or status == 401:
        return TransientError("the bot's access token was refused")
    if status is None or status >= 500:
        return TransientError(f"server error {status or code or ''}".strip())
    return PermanentError(str(code or status))
