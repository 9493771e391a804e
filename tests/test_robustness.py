"""Bad input never stops the bot and always gets an answer (property tests)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from bot.clock import FakeClock
from bot.events import IncomingEvent, Kind
from bot.lifecycle import build_runtime
from bot.transports.base import MemoryTransport
from tests.conftest import DATA_KEY, test_config
from tests.harness import Harness

USERS = ["zed_one", "yan.two", "xia-3"]
COMMANDS = ["/start", "/agree", "/join WELCOME", "/join nope", "/name", "/name x", "/name Oak Tree",
            "/me", "/help", "/help name", "/language nb", "/language xx", "/community northtown",
            "/community mars", "!HELP", "/frobnicate", "/", "!", "/name zed_one", "/name --fresh Pine"]

inputs = st.one_of(
    st.sampled_from(COMMANDS),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x3000), max_size=200),
    st.builds(lambda n, c: c * n, st.integers(9_000, 10_000), st.sampled_from(["a", "€", "\x00"])),
    st.sampled_from(["", " ", "\n\n", "\x00\x01\x07", "\u202e/start", "/start\x00", "\ud7ff"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.tuples(st.sampled_from(USERS), inputs), min_size=1, max_size=25),
       kinds=st.lists(st.sampled_from([Kind.TEXT, Kind.TEXT, Kind.TEXT, Kind.MEDIA, Kind.FORWARD, Kind.EDIT]),
                      min_size=25, max_size=25))
def test_random_input_never_stops_the_bot(tmp_path_factory, script, kinds) -> None:
    path = tmp_path_factory.mktemp("rob") / "bot.db"
    rt = build_runtime(test_config(f"sqlite:///{path}"), DATA_KEY, {"memory": MemoryTransport()},
                       clock=FakeClock())
    h = Harness(rt)

    async def play() -> None:
        for (user, text), kind in zip(script, kinds):
            before = len(h.inbox(user))
            event = IncomingEvent(user=h.user(user), kind=kind, text=text)
            await rt.app.handle(event)
            await rt.worker.drain()
            # every input gets at least one answer
            assert len(h.inbox(user)) > before, (kind, text[:50])

    try:
        asyncio.run(play())
    finally:
        rt.db.engine.dispose()
    assert rt.app.errors == 0
    for user in USERS:
        for text in h.inbox(user):
            for other in USERS:
                if other != user:
                    assert other not in text


async def test_a_crashing_handler_answers_and_the_next_message_works(make_runtime, monkeypatch) -> None:
    rt = make_runtime()
    h = Harness(rt)

    def boom(ctx) -> None:
        raise RuntimeError("bug")

    spec = rt.app.router.commands["me"]
    monkeypatch.setitem(rt.app.router.commands, "me", type(spec)("me", boom, False, False))
    await h.onboard("ann", "Birch")
    await h.say("ann", "/me")
    assert "something went wrong" in h.last("ann")
    await h.say("ann", "/help")
    assert "What you can do" in h.last("ann")


async def test_commands_before_agree_get_pointed_to_the_rules(make_runtime) -> None:
    rt = make_runtime()
    h = Harness(rt)
    await h.say("ann", "/join WELCOME")
    assert "send /agree" in h.last("ann")
    await h.say("ann", "hello there")
    assert "/start" in h.last("ann")
    await h.say("ann", "/help")
    assert "Emergency: 113" in h.last("ann")     # help always shows the emergency contacts


async def test_info_logs_carry_no_text_or_identity(make_runtime, caplog) -> None:
    rt = make_runtime()
    h = Harness(rt)
    caplog.set_level(logging.DEBUG)
    await h.onboard("secret_handle_77", "Juniper")
    await h.say("secret_handle_77", "my private words")
    await h.say("secret_handle_77", "/nosuchcommand private")
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            line = record.getMessage()
            assert "secret_handle_77" not in line and "private" not in line and "Juniper" not in line


def test_database_file_holds_no_platform_identity(tmp_path: Path) -> None:
    """Scan the raw SQLite file (and its WAL) for the identities used."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    rt = build_runtime(test_config(url), DATA_KEY, {"memory": MemoryTransport()}, clock=FakeClock())
    h = Harness(rt)
    names = ["tg_user_918273", "Margaret Holmsen", "@margaret:example.org", "margaret_h"]

    async def play() -> None:
        for i, name in enumerate(names):
            await rt.app.handle(IncomingEvent(user=h.user(name, display="Margaret Real Name"), kind=Kind.TEXT,
                                              text="/start"))
            await h.say(name, "/agree")
            await h.say(name, "/join WELCOME")
            await h.say(name, f"/name Tree{i}")
        await rt.worker.drain()

    asyncio.run(play())
    rt.db.engine.dispose()
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("bot.db"))
    assert b"Tree0" in blob          # the scan does see stored text
    for name in names + ["Margaret Real Name"]:
        assert name.encode() not in blob
        assert name.encode("utf-16-le") not in blob
