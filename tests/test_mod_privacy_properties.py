"""Property: across random sequences of participant and consultant commands (reports, the
queue, hide, warnings, mutes, acknowledgements), no message to a participant names who
reported, and no participant ever receives another's platform identity."""
from __future__ import annotations

import asyncio
import re

from hypothesis import HealthCheck, given, settings, strategies as st

from bot.clock import FakeClock
from bot.events import IncomingEvent, Kind, PlatformUser
from bot.lifecycle import build_runtime
from bot.transports.base import MemoryTransport
from tests.conftest import DATA_KEY, test_config

# (platform, user id, display name, pseudonym); the last one is the consultant (memory:lillian)
PEOPLE = [("memory", "alice_4821", "Alice Realname", "Quillon"), ("other", "bob_9313", "Bob Passport", "Marrowby"),
          ("memory", "cara_77", None, "Tessaly"), ("other", "dan_55", "Dan Legal", "Dornveck"),
          ("memory", "lillian", None, "Lillian")]
CONSULTANT = 4
words = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=20)
participant = st.integers(0, 3)
action = st.one_of(
    st.tuples(st.just("new"), participant, words),
    st.tuples(st.just("reply"), participant, words),
    st.tuples(st.just("report"), participant, words),
    st.tuples(st.just("tell"), participant, words),
    st.tuples(st.just("appeal"), participant, words),
    st.tuples(st.just("mod"), st.sampled_from(["queue", "log", "unanswered", "stats"]), st.just("")),
    st.tuples(st.just("hide"), st.just(0), words),
    st.tuples(st.just("ack"), st.just(0), words),
    st.tuples(st.just("warn"), participant, words),
    st.tuples(st.just("mute"), participant, words),
    st.tuples(st.just("unmute"), participant, st.just("")),
    st.tuples(st.just("send"), participant, st.just("")),
    st.tuples(st.just("later"), st.integers(1, 48), st.just("")),
)
POST_HEADER = re.compile(r"^(\(edited\) )?#\d+ .* · p\d+ · ")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(script=st.lists(action, min_size=3, max_size=20))
def test_no_reporter_and_no_identity_reach_a_participant(tmp_path_factory, script) -> None:
    config = test_config(f"sqlite:///{tmp_path_factory.mktemp('modprop') / 'bot.db'}")
    config.safety.posts_per_minute = 120
    transports = {"memory": MemoryTransport("memory"), "other": MemoryTransport("other")}
    clock = FakeClock()
    rt = build_runtime(config, DATA_KEY, transports, clock=clock)
    reporters: set[int] = set()

    def user(i: int) -> PlatformUser:
        platform, uid, display, _ = PEOPLE[i]
        return PlatformUser(platform=platform, user_id=uid, address=uid, username=uid, display_name=display)

    async def say(i: int, text: str) -> None:
        await rt.app.handle(IncomingEvent(user=user(i), kind=Kind.TEXT, text=text))
        await rt.worker.drain()

    async def play() -> None:
        for i in range(len(PEOPLE)):
            for line in ("/start", "/agree", "/join WELCOME", f"/name {PEOPLE[i][3]}"):
                await say(i, line)
        await say(0, "/new opening\nfirst words")
        for kind, i, arg in script:
            if kind == "new":
                await say(i, f"/new {arg}\n{arg}")
            elif kind == "reply":
                await say(i, f"/reply 1 {arg}")
            elif kind == "report":
                reporters.add(i)
                await say(i, f"/report p1 {arg}")
            elif kind == "tell":
                await say(i, f"/tell consultant {arg}")
            elif kind == "appeal":
                await say(i, f"/appeal {arg}")
            elif kind == "mod":
                await say(CONSULTANT, f"/mod {i}")
            elif kind in ("hide", "ack"):
                await say(CONSULTANT, f"/mod {kind} p1 {arg}")
            elif kind == "warn":
                await say(CONSULTANT, f"/mod warn {PEOPLE[i][3]} {arg}")
            elif kind == "mute":
                await say(CONSULTANT, f"/mod mute {PEOPLE[i][3]} 2h {arg}")
            elif kind == "unmute":
                await say(CONSULTANT, f"/mod unmute {PEOPLE[i][3]}")
            elif kind == "send":
                await say(i, "/send")
            elif kind == "later":
                clock.advance(hours=i)

    try:
        asyncio.run(play())
    finally:
        rt.db.engine.dispose()
    assert rt.app.errors == 0
    for j, (platform, uid, _, own) in enumerate(PEOPLE):
        for message in transports[platform].sent.get(uid, []):
            for text in (message.text, *message.edits):
                for k, other in enumerate(PEOPLE):
                    if k == j:
                        continue
                    for ident in (other[1], *(other[2].split() if other[2] else [])):
                        assert ident not in text, (ident, text)
                    # Outside post copies (where authors show by pseudonym), nothing a
                    # participant receives names anyone else, so never a reporter either.
                    if j != CONSULTANT and k in reporters and not POST_HEADER.match(text):
                        assert other[3] not in text, (other[3], text)
