"""Property: across random conversations on the console and a second (in-memory) platform, nobody ever receives another
member's platform identity, and every accepted post reaches every member exactly once."""
from __future__ import annotations

import asyncio
import io
import re
from collections import Counter

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from bot.clock import FakeClock
from bot.events import IncomingEvent, Kind, PlatformUser
from bot.lifecycle import build_runtime
from bot.events import Rendered
from bot.transports.base import MemoryTransport, SentMessage
from bot.transports.console import ConsoleTransport
from storage.models import Post
from tests.conftest import DATA_KEY, test_config

# (platform, user id, display name): identities that must never reach anyone else.
PEOPLE = [("console", "alice_4821", None), ("console", "bob_9313", None),
          ("other", "mx_cara_77", "Cara Legalname"), ("other", "mx_dan_55", "Dan Passport"),
          ("console", "lillian", None)]
TREES = ["Birch", "Willow", "Aspen", "Rowan", "Alder", "Hazel", "Juniper", "Linden", "Maple", "Spruce"]
words = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=30)

action = st.one_of(
    st.tuples(st.just("onboard"), st.integers(0, 4), st.sampled_from(TREES)),
    st.tuples(st.just("new"), st.integers(0, 4), words),
    st.tuples(st.just("reply"), st.integers(0, 4), words),
    st.tuples(st.just("platform_reply"), st.integers(0, 4), words),
    st.tuples(st.just("edit"), st.integers(0, 4), words),
    st.tuples(st.just("delete"), st.integers(0, 4), st.just("")),
    st.tuples(st.just("rename"), st.integers(0, 4), st.sampled_from(TREES)),
    st.tuples(st.just("fresh"), st.integers(0, 4), st.sampled_from(TREES)),
)
HEADER = re.compile(r"^#\d+ .* · p(\d+) · ")


class RecordingConsole(ConsoleTransport):
    """The console transport, printing to a buffer, remembering what it sent under which id
    (the property needs ids to reply to, and edits to check)."""

    def __init__(self) -> None:
        super().__init__(out=io.StringIO(), err=io.StringIO())
        self.sent: dict[str, list[SentMessage]] = {}
        self._by_id: dict[str, SentMessage] = {}

    async def send(self, address: str, message: Rendered) -> str:
        message_id = await super().send(address, message)
        sent = SentMessage(message_id, address, message.text)
        self.sent.setdefault(address, []).append(sent)
        self._by_id[message_id] = sent
        return message_id

    async def edit(self, address: str, message_id: str, message: Rendered) -> None:
        await super().edit(address, message_id, message)
        sent = self._by_id[message_id]
        sent.edits.append(sent.text)
        sent.text = message.text

    async def delete(self, address: str, message_id: str) -> None:
        await super().delete(address, message_id)
        self._by_id[message_id].deleted = True


def identity_strings(i: int) -> list[str]:
    platform, uid, display = PEOPLE[i]
    return [uid, *([display, *display.split()] if display else [])]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(first=st.lists(st.integers(0, 4), min_size=2, max_size=5, unique=True),
       names=st.permutations(TREES),
       script=st.lists(action, min_size=3, max_size=24))
def test_no_identity_leaks_and_exactly_once_delivery(tmp_path_factory, first, names, script) -> None:
    # Most conversations start with a few members and a thread; the rest is random.
    script = ([("onboard", i, names[n]) for n, i in enumerate(first)] + [("new", first[0], "opening")]
              + script)
    config = test_config(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'bot.db'}")
    config.safety.posts_per_minute = 120
    console = RecordingConsole()
    transports = {"console": console, "other": MemoryTransport("other")}
    rt = build_runtime(config, DATA_KEY, transports, clock=FakeClock())
    onboarded: set[int] = set()
    expected: Counter = Counter()        # (person index, post id) -> copies expected

    def user(i: int) -> PlatformUser:
        platform, uid, display = PEOPLE[i]
        return PlatformUser(platform=platform, user_id=uid, address=uid, username=uid, display_name=display)

    async def say(i: int, text: str, reply_to: str | None = None) -> None:
        await rt.app.handle(IncomingEvent(user=user(i), kind=Kind.TEXT, text=text, reply_to_message_id=reply_to))
        await rt.worker.drain()

    def inbox(i: int):
        platform, uid, _ = PEOPLE[i]
        return transports[platform].sent.get(uid, [])

    def post_ids() -> set[int]:
        with rt.db.uow() as uow:
            return set(uow.session.scalars(select(Post.id)))

    async def play() -> None:
        for kind, i, arg in script:
            before = post_ids()
            if kind == "onboard":
                for line in ("/start", "/agree", "/join WELCOME", f"/name {arg}"):
                    await say(i, line)
                with rt.db.uow() as uow:
                    acc = uow.accounts.find(user(i).platform, user(i).user_id)
                    member = uow.members.in_group(acc.person_id, 1)
                    if member is not None and member.pseudonym:
                        onboarded.add(i)
            elif kind == "new":
                await say(i, f"/new {arg}\n{arg}")
            elif kind == "reply":
                await say(i, f"/reply 1 {arg}")
            elif kind == "platform_reply":
                copies = [m for m in inbox(i) if HEADER.match(m.text)]
                if copies:
                    await say(i, arg, reply_to=copies[-1].message_id)
            elif kind == "edit":
                await say(i, f"/edit p{max(post_ids() or {1})} {arg}")
            elif kind == "delete":
                await say(i, f"/delete p{max(post_ids() or {1})}")
            elif kind == "rename":
                await say(i, f"/name {arg}")
            elif kind == "fresh":
                await say(i, f"/name --fresh {arg}")
            if kind in ("onboard", "rename", "fresh"):
                # a member whose onboarding name was taken finishes onboarding with /name
                with rt.db.uow() as uow:
                    acc = uow.accounts.find(user(i).platform, user(i).user_id)
                    member = uow.members.in_group(acc.person_id, 1) if acc else None
                    if member is not None and member.pseudonym:
                        onboarded.add(i)
            for new_id in post_ids() - before:
                for j in onboarded:
                    if j != i:
                        expected[(j, new_id)] += 1

    try:
        asyncio.run(play())
    finally:
        rt.db.engine.dispose()
    assert rt.app.errors == 0
    printed = console.out.getvalue()
    for i, (platform, uid, _) in enumerate(PEOPLE):
        if platform == "console":      # what the console really printed to each person
            for block in re.split(r"\n(?=\[)", printed):
                if block.startswith(f"[{uid}]"):
                    for other in range(len(PEOPLE)):
                        if other != i:
                            assert all(ident not in block for ident in identity_strings(other))
    received: Counter = Counter()
    for j in range(len(PEOPLE)):
        for message in inbox(j):
            texts = [message.text, *message.edits]
            for other in range(len(PEOPLE)):
                if other != j:
                    for ident in identity_strings(other):
                        assert all(ident not in t for t in texts), (ident, texts)
            m = HEADER.match(message.edits[0] if message.edits else message.text)
            if m:
                received[(j, int(m.group(1)))] += 1
    # the script never uses /read, so every copy of a post is a fan-out copy
    assert received == expected
