"""Command routing. Feature modules tag functions; the composition root registers them.

Handlers are synchronous functions that run inside one database transaction: they
read and change state through repositories and queue outgoing messages in the outbox.
The network is touched only by the outbox worker, after the transaction commits.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

from bot.clock import Clock
from bot.config import Config
from bot.unicode_text import lstrip_blank
from bot.events import IncomingEvent, PlatformUser
from storage.models import Account, Member, Person
from storage.repo import DIRECT, UnitOfWork

MAX_INPUT = 8000


@dataclass
class Context:
    uow: UnitOfWork
    account: Account
    person: Person
    user: PlatformUser
    event: IncomingEvent
    config: Config
    clock: Clock
    command: str = ""
    args: str = ""
    services: dict[str, Any] = field(default_factory=dict)
    # Set while answering without writing (bot.app): the answers are collected here and sent
    # straight away instead of being queued in the outbox.
    replies: list[dict] | None = None

    def usage(self) -> None:
        """Answer with the command's usage (``help.cmd.<name>``): a missing or unreadable
        argument gets the way to write it, never an error about a "?"."""
        self.reply("command.usage", text={"t": f"help.cmd.{self.command}"})

    def reply(self, key: str, *, buttons: list[list[tuple[str, str]]] | None = None, **params: Any) -> None:
        """Answer the sender on the account they wrote from (direct lane: goes first)."""
        if self.replies is not None:
            self.replies.append(message(key, buttons=buttons, **params))
            return
        self.uow.outbox.add(self.account.id, message(key, buttons=buttons, **params), lane=DIRECT)

    @property
    def member(self) -> Member | None:
        if self.person.current_member_id is None:
            return None
        member = self.uow.members.get(self.person.current_member_id)
        if member is None or member.status != "active" or member.person_id != self.person.id:
            return None
        return member

    @property
    def lang(self) -> str:
        return self.person.language or self.config.bot.default_language


def message(key: str, *, buttons: list[list[tuple[str, str]]] | None = None, **params: Any) -> dict:
    """An outbox payload: a catalogue key and parameters, rendered per recipient later."""
    payload: dict[str, Any] = {"key": key, "params": params}
    if buttons:
        payload["buttons"] = [[{"key": k, "command": c} for k, c in row] for row in buttons]
    return payload


Handler = Callable[[Context], None]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    func: Handler
    before_consent: bool = False     # usable before `agree` (start, help, language)
    needs_member: bool = False       # needs a group membership with a pseudonym
    aliases: tuple[str, ...] = ()
    # Which section of `help` lists it: start, threads, notifications, reveals, cafes,
    # privacy, consultant (consultant commands are listed to consultants only). The overview
    # shows the first line of the command's ``help.cmd.<name>`` entry (usage – what it does);
    # `help <name>` shows the whole entry (details and an example).
    group: str = ""
    needs_args: bool = False         # with no argument at all, answer with the usage
    # It only reads and answers: while another process holds the database's write lock it
    # is answered anyway, straight from a read-only transaction (bot.app). A write it does
    # after all is refused there, and it then waits its turn like any other command.
    read_only: bool = False


def command(name: str, *, before_consent: bool = False, needs_member: bool = False,
            aliases: tuple[str, ...] = (), group: str = "", needs_args: bool = False,
            read_only: bool = False) -> Callable[[Handler], Handler]:
    """Tag a handler; it is registered only when its module is included in a Router."""

    def tag(func: Handler) -> Handler:
        func.__peerhaven_command__ = CommandSpec(name, func, before_consent, needs_member, aliases,  # type: ignore[attr-defined]
                                                 group, needs_args, read_only)
        return func

    return tag


def on_text(func: Handler) -> Handler:
    """Tag the handler for plain text (not a command)."""
    func.__peerhaven_text__ = True  # type: ignore[attr-defined]
    return func


def on_reply(func: Handler) -> Handler:
    """Tag the handler for replies to a message the bot delivered."""
    func.__peerhaven_reply__ = True  # type: ignore[attr-defined]
    return func


def on_edit(func: Handler) -> Handler:
    """Tag the handler for edits of a message the person sent earlier."""
    func.__peerhaven_edit__ = True  # type: ignore[attr-defined]
    return func


class Router:
    def __init__(self) -> None:
        self.commands: dict[str, CommandSpec] = {}
        self.text_handler: Handler | None = None
        self.reply_handler: Handler | None = None
        self.edit_handler: Handler | None = None
        self.modules: list[str] = []

    def include(self, module: ModuleType) -> None:
        self.modules.append(module.__name__)
        for value in vars(module).values():
            spec = getattr(value, "__peerhaven_command__", None)
            if isinstance(spec, CommandSpec):
                for name in (spec.name, *spec.aliases):
                    if name in self.commands:
                        raise ValueError(f"command {name!r} registered twice")
                    self.commands[name] = spec
            if getattr(value, "__peerhaven_text__", False):
                self.text_handler = value
            if getattr(value, "__peerhaven_reply__", False):
                self.reply_handler = value
            if getattr(value, "__peerhaven_edit__", False):
                self.edit_handler = value

    def specs(self) -> list[CommandSpec]:
        """Every command once (aliases folded), in registration order."""
        seen: dict[str, CommandSpec] = {}
        for spec in self.commands.values():
            seen.setdefault(spec.name, spec)
        return list(seen.values())


def clean_text(text: str) -> str:
    """Drop control characters (except newlines and tabs) and normalise line ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C"
                   or unicodedata.category(ch) == "Cf" and ch in "\u200d")


_HEAD_RE = re.compile(r"(\S*)(.*)", re.DOTALL)


def looks_like_command(text: str) -> bool:
    """A message starting with ``/`` or ``!`` is meant for the bot, never for the group."""
    return lstrip_blank(text)[:1] in ("/", "!")


def parse_command(text: str) -> tuple[str, str] | None:
    """``/name args`` or ``!name args`` -> (name, args). Telegram's ``/name@Bot`` works too.

    Any Unicode whitespace (a tab, a no-break space from a phone keyboard) ends the name.
    """
    stripped = lstrip_blank(text)
    if len(stripped) < 2 or stripped[0] not in "/!":
        return None
    head, _, rest = stripped[1:].partition("\n")
    first, tail = _HEAD_RE.match(head).groups()  # type: ignore[union-attr]
    name = first.split("@", 1)[0].casefold()
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        return None
    args = tail.strip()
    if rest:
        args = f"{args}\n{rest}" if args else "\n" + rest
    return name, args
