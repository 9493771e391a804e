"""Helpers for the Matrix end-to-end tests: the bot on a real Synapse, and participants.

``BotUnderTest`` runs the whole bot (``build_runtime`` + ``MatrixTransport``) against the
test Synapse with its own account, store directory and SQLite database; it can be stopped
and started again on the same store and database. ``Participant`` is a nio client with E2E
(tests/fakes/matrix_user.py) that talks to the bot in a direct room.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bot.clock import SystemClock
from bot.config import MatrixSection
from bot.i18n import I18n
from bot.lifecycle import Runtime, build_runtime
from bot.transports.matrix import MatrixTransport
from tests.conftest import DATA_KEY, test_config
from tests.fakes.matrix_user import MatrixUser, Message
from tests.fakes.synapse_server import SynapseServer

I18N = I18n()
_counter = itertools.count(1)


def t(key: str, **params: Any) -> str:
    return I18N.t("en", key, **params)


def fragment(key: str, **params: Any) -> str:
    """The longest line of a catalogue text, to look for in a message."""
    return max(t(key, **params).split("\n"), key=len)


class BotUnderTest:
    def __init__(self, server: SynapseServer, workdir: Path, *, localpart: str | None = None,
                 password: str | None = None, allowed_homeservers: list[str] | None = None) -> None:
        self.allowed_homeservers = allowed_homeservers or []
        self.server = server
        self.workdir = workdir
        self.localpart = localpart or f"cafebot{next(_counter)}{secrets.token_hex(2)}"
        self.password = password or "pw-" + secrets.token_hex(8)
        self.user_id = server.user_id(self.localpart)
        self.store_path = workdir / "matrix-store"
        self.db_url = f"sqlite:///{workdir / 'bot.db'}"
        self.rt: Runtime | None = None
        self.transport: MatrixTransport | None = None
        self.registered = False

    async def register(self) -> None:
        if not self.registered:
            await self.server.aregister_user(self.localpart, self.password, displayname="Café",
                                             inhibit_login=True)
            self.registered = True

    def config(self):  # type: ignore[no-untyped-def]
        config = test_config(self.db_url)
        config.matrix = MatrixSection(enabled=True, homeserver=self.server.base_url, user_id=self.user_id,
                                      password=self.password, store_path=str(self.store_path),
                                      allowed_homeservers=self.allowed_homeservers)
        return config

    async def start(self, *, store_path: Path | None = None, db_url: str | None = None) -> Runtime:
        await self.register()
        if store_path is not None:
            self.store_path = store_path
        if db_url is not None:
            self.db_url = db_url
        config = self.config()
        self.transport = MatrixTransport.from_config(config.matrix, env={}, sync_timeout_ms=5_000)
        self.rt = build_runtime(config, DATA_KEY, {"matrix": self.transport}, clock=SystemClock())
        await self.rt.start(scheduler=False)
        return self.rt

    async def stop(self) -> None:
        if self.rt is not None:
            await self.rt.stop()
            self.rt = None

    def account(self, user_id: str):  # type: ignore[no-untyped-def]
        assert self.rt is not None
        with self.rt.db.uow() as uow:
            account = uow.accounts.find("matrix", user_id)
            if account is None:
                return None
            return {"id": account.id, "reachable": account.reachable,
                    "address": uow.accounts.identity(account)["address"]}


@dataclass
class Participant:
    user: MatrixUser
    display: str
    bot_id: str
    room_id: str = ""
    consumed: set[str] = field(default_factory=set)

    @classmethod
    async def create(cls, server: SynapseServer, workdir: Path, display: str, bot_id: str) -> "Participant":
        localpart = f"{display.split()[0].lower()}{secrets.token_hex(3)}"
        user = await MatrixUser.create(server, localpart, display, workdir / localpart)
        return cls(user=user, display=display, bot_id=bot_id)

    @property
    def user_id(self) -> str:
        return self.user.user_id

    @property
    def localpart(self) -> str:
        return self.user_id[1:].split(":", 1)[0]

    def names(self) -> list[str]:
        return [self.user_id, self.localpart, self.display]

    async def open_dm(self, encrypted: bool = True) -> str:
        if encrypted:
            self.room_id = await self.user.open_encrypted_dm(self.bot_id, timeout=30)
        else:
            self.room_id = await self.user.create_room([self.bot_id], is_direct=True)
            await self.user.wait_for_membership(self.room_id, self.bot_id, "join", timeout=30)
        return self.room_id

    async def say(self, text: str, reply_to: str | None = None) -> str:
        if reply_to is not None:
            quoted = self.user.message(self.room_id, reply_to)
            first = (quoted.body or "").split("\n")[0] if quoted else ""
            text = f"> <{self.bot_id}> {first}\n\n{text}"    # the reply fallback clients add
        return await self.user.send_text(self.room_id, text, reply_to_event_id=reply_to)

    def from_bot(self, room_id: str | None = None, **kw: Any) -> list[Message]:
        return [m for m in self.user.messages(room_id or self.room_id, **kw) if m.sender == self.bot_id]

    async def expect(self, match: str | Callable[[Message], bool], timeout: float = 30.0,
                     room_id: str | None = None) -> Message:
        """Wait for a message from the bot not seen by ``expect`` before, matching ``match``."""
        test = (lambda m: match in (m.body or "")) if isinstance(match, str) else match

        def find() -> Message | None:
            for msg in self.from_bot(room_id):
                if msg.event_id not in self.consumed and not msg.undecryptable and test(msg):
                    return msg
            return None

        try:
            msg = await self.user.wait_for(find, timeout, f"a bot message matching {match!r}")
        except TimeoutError:
            bodies = [(m.body or "")[:80] for m in self.from_bot(room_id, include_redacted=True)]
            raise TimeoutError(f"{self.display}: no bot message matching {match!r}; got {bodies}") from None
        self.consumed.add(msg.event_id)
        return msg

    async def onboard(self, pseudonym: str) -> None:
        await self.say("!start")
        await self.say("/agree")
        await self.say("!join WELCOME")
        await self.say(f"!name {pseudonym}")
        await self.expect(t("onboarding.ready", pseudonym=pseudonym))

    async def close(self) -> None:
        await self.user.close()


def received_texts(p: Participant) -> list[str]:
    """Everything the bot sent this participant, in every room: bodies, HTML, edits, files."""
    out: list[str] = []
    for room_id in list(p.user._events):            # every room the participant was in
        for ev in p.user.events(room_id):
            if ev.sender != p.bot_id:
                continue
            out.append(json.dumps(ev.content, ensure_ascii=False))
    return out


def assert_no_leaks(participants: list[Participant]) -> None:
    """No message one participant received names another participant on Matrix."""
    for receiver in participants:
        texts = "\n".join(received_texts(receiver)).casefold()
        for other in participants:
            if other is receiver:
                continue
            for name in other.names():
                assert name.casefold() not in texts, (
                    f"{receiver.display} received {other.display}'s identity ({name!r})")


POST_RE = re.compile(r"\bp(\d+)\b")
THREAD_RE = re.compile(r"#(\d+)")


def post_id(text: str) -> int:
    match = POST_RE.search(text)
    assert match, text
    return int(match.group(1))


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))


async def send_with_late_key(p: Participant, text: str) -> tuple[str, Callable[[], Any]]:
    """Send an encrypted message whose room key reaches the bot only later.

    Returns the event id and a coroutine function that delivers the key (as the first
    message index, so the event becomes decryptable) in an Olm-encrypted to-device message,
    as a client whose key sharing was delayed would.
    """
    import urllib.parse

    client = p.user.client
    olm = client.olm
    room = p.room_id
    olm.create_outbound_group_session(room)
    session = olm.outbound_group_sessions[room]
    key_content = {"algorithm": "m.megolm.v1.aes-sha2", "room_id": room, "session_id": session.id,
                   "session_key": session.session_key}
    session.shared = True
    payload = olm.group_encrypt(room, {"type": "m.room.message", "content": {"msgtype": "m.text", "body": text}})
    olm.outbound_group_sessions.pop(room)            # later messages share a fresh session as usual
    q = urllib.parse.quote
    sent = await p.user.http("PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.encrypted/"
                                    f"late{secrets.token_hex(4)}", payload)

    async def deliver_key() -> None:
        messages: dict[str, dict[str, Any]] = {}
        for device in olm.device_store.active_user_devices(p.bot_id):
            olm_session = olm.session_store.get(device.curve25519)
            assert olm_session is not None, "no Olm session with the bot's device"
            messages.setdefault(p.bot_id, {})[device.id] = olm._olm_encrypt(
                olm_session, device, "m.room_key", key_content)
        await p.user.http("PUT", f"/_matrix/client/v3/sendToDevice/m.room.encrypted/key{secrets.token_hex(4)}",
                          {"messages": messages})

    return sent["event_id"], deliver_key
