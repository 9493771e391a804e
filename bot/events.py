"""Neutral event and message types shared by transports and handlers.

Transports translate platform updates into these and never pass platform payloads on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    TEXT = "text"
    EDIT = "edit"            # the person edited a message they sent earlier
    BUTTON = "button"        # a button press; ``text`` holds the typed-command equivalent
    MEDIA = "media"          # photo, voice, file, sticker, location...: never relayed
    FORWARD = "forward"      # a forwarded message: never relayed (forward headers identify people)
    BLOCKED = "blocked"      # the person blocked the bot / left the DM
    UNBLOCKED = "unblocked"


@dataclass(frozen=True)
class PlatformUser:
    """Who sent an event, as the platform knows them. Never leaves the bot."""

    platform: str
    user_id: str
    address: str                       # where direct messages to them go (chat id, room id)
    username: str | None = None
    display_name: str | None = None
    language: str | None = None

    def names(self) -> list[str]:
        """Every string that identifies the person on their platform."""
        found = [self.user_id, self.username, self.display_name]
        if self.platform == "matrix" and self.user_id.startswith("@"):
            found.append(self.user_id[1:].split(":", 1)[0])
        return [n for n in found if n]


@dataclass(frozen=True)
class IncomingEvent:
    user: PlatformUser
    kind: Kind
    text: str = ""
    platform_message_id: str | None = None
    reply_to_message_id: str | None = None   # the platform id of the message replied to
    media_kind: str | None = None


@dataclass(frozen=True)
class Button:
    label: str
    command: str                              # the typed-command equivalent


@dataclass(frozen=True)
class Rendered:
    """One outgoing message, already rendered for its recipient."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    document: tuple[str, bytes] | None = None     # (file name, content)
    # Spans of user-written text: transports escape them and never format them.
    silent: bool = False
    reply_to: str | None = None               # platform message id to reply to, if any
    shows_post: bool = False                  # the full content of a post (counts as read)
    urgent: bool = False                      # a direct answer: transports send it before bulk
    extra: dict[str, str] = field(default_factory=dict)
