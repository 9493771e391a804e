"""Every `mod` command × who asks: only the consultant of this group succeeds; everyone else
gets the same refusal whether the target exists or not (and nothing changes)."""
from __future__ import annotations

import pytest

from bot.config import GroupConfig
from bot.transports.base import MemoryTransport
from tests.conftest import test_config
from tests.harness import Harness

# (command with a real target, the same with a target that does not exist)
COMMANDS = [
    ("queue", "queue"), ("dismiss 4", "dismiss 999"), ("unanswered", "unanswered 1"),
    ("ack p1 Thank you", "ack p999 Thank you"), ("hide p1 off topic", "hide p999 off topic"),
    ("unhide p1", "unhide p999"), ("lock 1", "lock 999"), ("unlock 1", "unlock 999"),
    ("pin 1", "pin 999"), ("unpin 1", "unpin 999"), ("approve p2", "approve p999"),
    ("reject p3 not now", "reject p999 not now"), ("warn Birch be kind", "warn Nobody be kind"),
    ("mute Birch 1h pause", "mute Nobody 1h pause"), ("unmute Birch", "unmute Nobody"),
    ("log", "log 5"), ("reason 1 context", "reason 9999 context"), ("stats", "stats 7"),
    ("alerts digest", "alerts on"), ("invite", "invite northtown"), ("topic Reflection", "topic Other"),
    ("announce Hello all", "announce Hello again"), ("remove Rowan leaving", "remove Nobody leaving"),
    ("ban Alder threats", "ban Nobody threats"),
]
TARGETED = {c for c, _ in COMMANDS if any(ch.isdigit() for ch in c) or "Birch" in c or "Rowan" in c
            or "Alder" in c}
REFUSAL = "That is for the group's consultant."
NO_TARGET = "Nothing with that number or name"


@pytest.fixture
async def world(make_runtime, tmp_path):
    config = test_config(f"sqlite:///{tmp_path / 'auth.db'}")
    other = GroupConfig(slug="other", name="Other", invite_codes=["OTHER"])
    config.groups.append(other.model_copy(update={"consultants": ["memory:otto"]}))
    config.moderation.premoderate_first_posts = 1
    rt = make_runtime(transports={"memory": MemoryTransport("memory")}, config=config)
    h = Harness(rt)
    for user, name in (("ann", "Birch"), ("cat", "Rowan"), ("dan", "Alder"), ("rem", "Spruce"),
                       ("bad", "Maple"), ("lillian", "Lillian")):
        await h.onboard(user, name)
    for line in ("/start", "/agree", "/join OTHER", "/name Otto"):
        await h.say("otto", line)
    await h.say("ann", "/new Thread one\nheld first post")
    await h.say("lillian", "/mod approve p1")
    await h.say("cat", "/reply 1 waiting post")          # p2, held
    await h.say("dan", "/reply 1 another waiting post")  # p3, held
    await h.say("ann", "/report p1 check")                # q: report
    await h.say("lillian", "/mod remove Spruce leaving")
    await h.say("lillian", "/mod ban Maple threats")
    h.clear()
    return rt, h


def answer(h: Harness, user: str) -> str:
    return h.last(user)


async def test_everyone_but_the_groups_consultant_is_refused_alike(world) -> None:
    rt, h = world
    for user in ("ann", "rem", "bad", "otto"):
        for real, fake in COMMANDS:
            h.clear()
            await h.say(user, f"/mod {fake}")
            refused_fake = h.inbox(user)
            h.clear()
            await h.say(user, f"/mod {real}")
            refused_real = h.inbox(user)
            if user != "otto" or real in TARGETED:   # otto acts on his own group's queue, log …
                assert refused_real == refused_fake, (user, real)
            if user == "otto":
                if real in TARGETED:
                    assert refused_real and NO_TARGET in refused_real[-1], (real, refused_real)
            else:
                assert refused_real == [h.rt.i18n.t("en", "mod.not_allowed")], (user, real, refused_real)
            assert not h.inbox("lillian") or all("New in your queue" in t for t in h.inbox("lillian"))
    # nothing the refused commands named was changed
    await h.say("bob", "/start")
    h.clear()
    await h.say("lillian", "/mod queue")
    assert "waiting for approval" in h.last("lillian") and "report" in h.last("lillian")


async def test_the_groups_consultant_succeeds_at_every_command(world) -> None:
    rt, h = world
    for real, _ in COMMANDS:
        h.clear()
        await h.say("lillian", f"/mod {real}")
        texts = h.inbox("lillian")
        assert texts, real
        assert all(REFUSAL not in t and NO_TARGET not in t for t in texts), (real, texts)
        assert all("Send /mod" not in t for t in texts), (real, texts)
