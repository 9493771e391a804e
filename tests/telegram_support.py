"""Helpers for the Telegram end-to-end tests: the whole bot (``build_runtime`` + the real
``TelegramTransport`` over python-telegram-bot) against ``FakeBotApi`` on loopback.

``TgWorld`` plays participants through the fake server (``say``, ``reply``, ``press``...) and
reads what each one received there. ``assert_no_leaks`` checks the anonymity promise on every
request the bot made: nothing sent to one participant contains another one's Telegram id,
username, first or last name.
"""
from __future__ import annotations

import asyncio
import html
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from sqlalchemy import func, select

from bot.clock import SystemClock
from bot.config import Config
from bot.events import PlatformUser
from bot.i18n import I18n
from bot.lifecycle import Runtime, build_runtime
from bot.transports.telegram import TelegramTransport
from storage.models import OutboxItem
from tests.conftest import DATA_KEY, test_config
from tests.fakes.botapi_server import FakeBotApi, StoredMessage
from storage import seed as storage_seed

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxy"
ROOT = Path(__file__).resolve().parents[1]
I18N = I18n()
SEND_METHODS = {"sendmessage", "senddocument", "editmessagetext", "editmessagecaption"}


def t(key: str, lang: str = "en", **params: Any) -> str:
    return I18N.t(lang, key, **params)


def fragment(key: str, **params: Any) -> str:
    """The longest line of a catalogue text (what to look for in a message)."""
    return max(t(key, **params).split("\n"), key=len)


@dataclass
class Person:
    uid: int
    first: str
    last: str | None = None
    username: str | None = None
    language: str = "en"

    def identifiers(self) -> list[str]:
        found = [str(self.uid), self.first, self.last, self.username]
        found += [html.escape(self.first, quote=False)] + ([f"@{self.username}"] if self.username else [])
        return [x for x in found if x]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def telegram_config(url: str) -> Config:
    config = test_config(url)
    config.safety.posts_per_minute = 1000
    return config


@dataclass
class TgWorld:
    server: FakeBotApi
    transport: TelegramTransport
    rt: Runtime | None = None
    people: dict[int, Person] = field(default_factory=dict)

    # ------------------------------------------------------------- participants
    def add(self, person: Person, started: bool = True) -> Person:
        self.people[person.uid] = person
        self.server.add_user(person.uid, person.first, person.last, person.username, person.language, started)
        return person

    async def handled(self, timeout: float = 10.0) -> None:
        """Wait until the bot has handled every update the server holds for it."""
        pending = self.server.pending_updates
        if pending:
            last = pending[-1]["update_id"]
            await self.server.wait_for(lambda: self.transport.handled_update_id >= last, timeout)

    async def settle(self, timeout: float = 15.0) -> None:
        """Wait until every update is handled and the outbox has nothing left to send."""
        await self.handled(timeout)
        if self.rt is None:
            return
        rt = self.rt

        def idle() -> bool:
            with rt.db.uow() as uow:
                return uow.outbox.pending_count() == 0
        await self.server.wait_for(idle, timeout)

    async def say(self, uid: int, text: str, *, reply_to: int | None = None, settle: bool = True) -> dict:
        message = self.server.user_sends(uid, text, reply_to_message_id=reply_to)
        if settle:
            await self.settle()
        return message

    async def press(self, uid: int, message_id: int, data: str) -> str:
        query_id = self.server.user_presses_button(uid, message_id, data)
        await self.settle()
        return query_id

    async def onboard(self, uid: int, pseudonym: str) -> None:
        """/start, the consent *button*, /join, /name: as a participant would."""
        await self.say(uid, "/start")
        [rules] = [m for m in self.bot_messages(uid) if "/agree" in str(m.reply_markup)]
        assert rules.reply_markup == {"inline_keyboard": [[{"text": t("button.agree"), "callback_data": "/agree"}]]}
        query_id = await self.press(uid, rules.message_id, "/agree")
        assert self.server.callbacks[query_id].answered
        await self.say(uid, "/join WELCOME")
        await self.say(uid, f"/name {pseudonym}")
        assert self.texts(uid)[-1].startswith(t("onboarding.ready", pseudonym=pseudonym)[:20])

    # ------------------------------------------------------------- what people see
    def bot_messages(self, uid: int) -> list[StoredMessage]:
        return self.server.messages(uid, from_bot=True)

    def texts(self, uid: int) -> list[str]:
        return [m.text or "" for m in self.bot_messages(uid)]

    def find(self, uid: int, needle: str) -> StoredMessage:
        found = [m for m in self.bot_messages(uid) if needle in (m.text or "")]
        assert found, f"no message containing {needle!r} for {uid}: {self.texts(uid)}"
        return found[-1]

    def posts(self, uid: int, post_id: int) -> list[StoredMessage]:
        return [m for m in self.bot_messages(uid) if f" · p{post_id} · " in (m.text or "").split("\n")[0]]

    # ------------------------------------------------------------- the anonymity promise
    def assert_no_leaks(self) -> None:
        """No request the bot made towards one participant, and nothing any participant's chat
        shows (edit history included), contains another participant's Telegram identity."""
        people = list(self.people.values())
        for req in self.server.requests:
            if req["method"].lower() not in SEND_METHODS:
                continue
            chat = str(req["params"].get("chat_id", ""))
            shown = " ".join(str(req["params"].get(k, "")) for k in ("text", "caption", "reply_markup"))
            for other in people:
                if str(other.uid) == chat:
                    continue
                for ident in other.identifiers():
                    assert ident not in shown, f"{req['method']} to {chat} contains another participant's {ident!r}"
        for person in people:
            seen = []
            for m in self.server.messages(person.uid, from_bot=True):
                seen.append(m.text or "")
                seen.extend(h.get("text") or "" for h in m.history)
            for other in people:
                if other is person:
                    continue
                for ident in other.identifiers():
                    assert not any(ident in s for s in seen), f"{person.uid} was shown {ident!r}"


def seed_members(rt: Runtime, people: list[Person], prefix: str = "Tree") -> None:
    """Onboarding 200 people one command at a time at Telegram's 1 message/s per chat would
    measure nothing but the limit."""
    users = [PlatformUser(platform="telegram", user_id=str(p.uid), address=str(p.uid), username=p.username,
                          display_name=" ".join(x for x in (p.first, p.last) if x), language=p.language)
             for p in people]
    storage_seed.seed_members(rt.db, "reconnect", users, prefix, community_slug="northtown")


def outbox_counts(rt: Runtime) -> dict[str, int]:
    with rt.db.uow() as uow:
        rows = uow.session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))
        return {status: n for status, n in rows}


def fresh_runtime(url: str, transport: TelegramTransport) -> Runtime:
    return build_runtime(telegram_config(url), DATA_KEY, {"telegram": transport}, clock=SystemClock())


# ----------------------------------------------------------------- the bot in a child process
CHILD_CONFIG = """
[bot]
log_level = "INFO"
anonymity_reminder_days = 0

[storage]
url = "{url}"

[safety]
posts_per_minute = 120

[telegram]
enabled = true
token_env = "PEERHAVEN_TEST_TG_TOKEN"
base_url = "{base_url}"

[[groups]]
slug = "reconnect"
name = "ReConnect"
invite_codes = ["WELCOME"]
  [[groups.communities]]
  slug = "northtown"
  name = "Northtown"
"""


class ChildBot:
    """``run.py`` in a subprocess, configured for the fake server: the real composition root,
    ``TelegramTransport.from_config`` and all. ``kill()`` is a crash (SIGKILL), not a stop."""

    def __init__(self, workdir: Path, url: str, base_url: str) -> None:
        self.config = workdir / "config.toml"
        self.config.write_text(CHILD_CONFIG.format(url=url, base_url=base_url), encoding="utf-8")
        self.log = workdir / "child.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PEERHAVEN_DATA_KEY": DATA_KEY, "PEERHAVEN_TEST_TG_TOKEN": TOKEN}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(self.config)],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    async def stop(self, timeout: float = 30.0) -> int | None:
        """A clean stop (SIGTERM), as systemd would do it. Waits without blocking the event loop:
        the fake server the child talks to runs in this process."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.wait(timeout=30)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


async def wait_polling(server: FakeBotApi, child: ChildBot, since: int, timeout: float = 30.0) -> None:
    """Wait until a (new) bot process is long-polling the server."""
    def polling() -> bool:
        if not child.alive():
            raise AssertionError("the bot process ended:\n" + child.log.read_text(encoding="utf-8")[-3000:])
        return any(r["method"] == "getUpdates" for r in server.requests[since:])
    await server.wait_for(polling, timeout)


def monotonic() -> float:
    return time.monotonic()


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@asynccontextmanager
async def fast_world(tmp_path: Path, adjust: Callable[[Config], Config] | None = None,
                     check_errors: bool = False) -> AsyncIterator[TgWorld]:
    """The bot, started, against the test Bot API server with fast limits on both sides (the
    limit tests use Telegram's real ones). ``adjust`` may change the config (e.g. consultants)."""
    async with FakeBotApi(TOKEN, per_chat_per_second=50, global_per_second=1000) as server:
        transport = TelegramTransport(TOKEN, base_url=server.base_url, poll_timeout=1,
                                      messages_per_second=500, per_chat_interval=0.03)
        config = telegram_config(f"sqlite:///{tmp_path / 'bot.db'}")
        if adjust is not None:
            config = adjust(config)
        rt = build_runtime(config, DATA_KEY, {"telegram": transport}, clock=SystemClock())
        world = TgWorld(server, transport, rt)
        await rt.start(scheduler=False)
        try:
            yield world
        finally:
            await rt.stop()
        world.assert_no_leaks()
        if check_errors:
            assert transport.errors == 0

