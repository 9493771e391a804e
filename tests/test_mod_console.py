"""The issue's scenario end to end on the console transport, with an injected clock:
three participants and a consultant; report, queue, unanswered, ack, hide, escalation,
mute with drafts and `tell consultant`, linked accounts, ban after a fresh start, the log."""
from __future__ import annotations

import io

from bot.clock import FakeClock
from bot.lifecycle import build_runtime
from bot.transports.base import MemoryTransport
from bot.transports.console import ConsoleTransport
from tests.conftest import DATA_KEY, test_config
from tests.test_console import messages_for

PARTICIPANTS = ("annaxq", "borisxq", "cathxq")


async def test_consultant_scenario_on_the_console(tmp_path) -> None:
    config = test_config(f"sqlite:///{tmp_path / 'console.db'}")
    out = io.StringIO()
    console = ConsoleTransport(out=out, err=io.StringIO())
    phone = MemoryTransport("other")          # ann's second account, on another platform
    clock = FakeClock()
    rt = build_runtime(config, DATA_KEY, {"console": console, "other": phone}, clock=clock)
    await rt.start(scheduler=False)

    async def say(user: str, text: str) -> list[str]:
        mark = len(out.getvalue())
        await console._emit(user, text)
        await rt.worker.drain()
        return messages_for(out.getvalue()[mark:], user)

    try:
        for user, name in (("annaxq", "Birch"), ("borisxq", "Willow"), ("cathxq", "Rowan"),
                           ("lillian", "Lillian")):
            for line in ("/start", "/agree", "/join WELCOME", f"/name {name}"):
                await say(user, line)
        await say("annaxq", "/new Evenings\nEvenings are the hardest part.")          # p1
        await say("borisxq", "/report p1 I am worried about Birch")
        clock.advance(hours=3)
        [queue] = await say("lillian", "/mod queue")
        assert "q1 · report · 3 hours ago · p1 by Birch" in queue and "Willow" not in queue

        clock.advance(hours=22)                         # 25 hours: past bot.unanswered_hours (24)
        [listing] = await say("lillian", "/mod unanswered")
        assert "p1 in #1 · 25 hours ago · Birch" in listing
        await say("lillian", "/mod ack p1 Thank you for writing this, Birch.")
        [listing] = await say("lillian", "/mod unanswered")
        assert "Every post older than 24 hours has an answer." in listing

        await say("annaxq", "/new Work\nMy boss at the shop is called Hansen.")       # p3
        mark = len(out.getvalue())
        await say("lillian", "/mod hide p3 a name could identify you")
        shown = out.getvalue()[mark:]
        for user in ("borisxq", "cathxq"):
            assert any(m.startswith("Updated: #2 Work · p3") and "[hidden by the consultant]" in m
                       for m in messages_for(shown, user))
        assert any("a name could identify you" in m and "Hansen" in m for m in messages_for(shown, "annaxq"))

        await say("lillian", "/mod warn Rowan please keep it kind")
        [notice] = messages_for(out.getvalue(), "cathxq")[-1:]
        assert "This is a warning" in notice
        await say("lillian", "/mod warn Rowan again")
        assert "warning 2" in messages_for(out.getvalue(), "cathxq")[-1]
        [kept] = await say("cathxq", "/reply 1 I am still here")
        assert "kept as a draft" in kept
        assert not any("I am still here" in m for m in messages_for(out.getvalue(), "borisxq"))
        [sent] = await say("cathxq", "/tell consultant I am sorry about that")
        assert "with the consultant" in sent
        assert "from Rowan: “I am sorry about that”" in messages_for(out.getvalue(), "lillian")[-1]
        clock.advance(minutes=61)                       # the 1-hour cool-down is over
        await say("cathxq", "/send")
        assert any("I am still here" in m for m in messages_for(out.getvalue(), "borisxq"))

        [code_msg] = await say("annaxq", "/link")
        code = code_msg.split("link code is ")[1].split(".")[0]
        from bot.events import IncomingEvent, Kind, PlatformUser
        ann_phone = PlatformUser(platform="other", user_id="ann-phone", address="ann-phone")
        await rt.app.handle(IncomingEvent(user=ann_phone, kind=Kind.TEXT, text=f"/link {code}"))
        await rt.worker.drain()
        assert "Linked." in phone.texts("ann-phone")[-1]
        before_console = len(messages_for(out.getvalue(), "annaxq"))
        await say("borisxq", "/reply 1 One post, one copy for Birch.")
        copies = [m for m in messages_for(out.getvalue(), "annaxq")[before_console:] + phone.texts("ann-phone")
                  if "One post, one copy" in m]
        assert len(copies) == 1

        await say("annaxq", "/name --fresh Hazel")
        await say("lillian", "/mod ban Hazel repeated threats")
        assert "closed ReConnect to you" in phone.texts("ann-phone")[-1] or \
            "closed ReConnect to you" in messages_for(out.getvalue(), "annaxq")[-1]
        await rt.app.handle(IncomingEvent(user=ann_phone, kind=Kind.TEXT, text="/join WELCOME"))
        await rt.worker.drain()
        assert "You cannot join this group again" in phone.texts("ann-phone")[-1]
        [rejoin] = await say("annaxq", "/join WELCOME")
        assert "You cannot join this group again" in rejoin

        [log] = await say("lillian", "/mod log")
        assert "hid a post · p3 · by Lillian · a name could identify you" in log
        assert "warning · Rowan · by Lillian · level 1: please keep it kind" in log
        assert "ban · Hazel · by Lillian · repeated threats" in log
        for ident in (*PARTICIPANTS, "ann-phone", "console:", "other:"):
            assert ident not in log
    finally:
        await rt.stop()
    printed = out.getvalue()
    for user in PARTICIPANTS:
        for message in messages_for(printed, user):
            assert all(other not in message for other in PARTICIPANTS if other != user)
