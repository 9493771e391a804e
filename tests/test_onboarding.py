"""Onboarding: each step tells the next one, pseudonym rules, communities, language, help."""
from __future__ import annotations

import pytest

from bot.config import CommunityConfig
from tests.conftest import test_config
from tests.harness import Harness


@pytest.fixture
def h(make_runtime) -> Harness:
    return Harness(make_runtime())


async def test_each_step_names_the_next(h: Harness) -> None:
    await h.say("ann", "/start")
    assert "send /agree" in h.last("ann") and "Emergency: 113" in h.last("ann")
    await h.say("ann", "/AGREE")                     # commands are case-insensitive
    assert "send /join" in h.last("ann")
    await h.say("ann", "!join welcome")              # both prefixes; codes are not case-sensitive
    assert "choose a pseudonym" in h.last("ann")
    await h.say("ann", "/name Birch")
    assert h.last("ann").startswith("You're all set, Birch")
    await h.say("ann", "/me")
    assert "ReConnect: you are Birch (participant); community: Northtown" in h.last("ann")


@pytest.mark.parametrize("name, problem", [
    ("B", "2 to 32 characters"),
    ("x" * 33, "2 to 32 characters"),
    ("/start", "must not start with"),
    ("#12", "must not start with"),
    ("me@example.org", "can't contain @"),
    ("see https://x.y", "can't contain @ or links"),
    ("...", "at least one letter"),
    ("ann", "too close to your own name"),
    ("Ann_x", "too close to your own name"),
    ("The Consultant", "role words"),
])
async def test_pseudonym_rules(h: Harness, name: str, problem: str) -> None:
    for line in ("/start", "/agree", "/join WELCOME"):
        await h.say("ann_x", line)
    await h.say("ann_x", f"/name {name}")
    assert problem in h.last("ann_x")


async def test_pseudonyms_are_unique_and_may_hold_any_printable_text(h: Harness) -> None:
    await h.onboard("ann", "<b>Tea</b> & Toast")
    assert "<b>Tea</b> & Toast" in h.last("ann")
    for line in ("/start", "/agree", "/join WELCOME"):
        await h.say("bob", line)
    await h.say("bob", "/name <B>TEA</B> &  toast")
    assert "already uses that pseudonym" in h.last("bob")


async def test_real_looking_name_gets_a_warning_not_a_refusal(h: Harness) -> None:
    await h.onboard("zed", "Kari Nordmann")
    assert any("looks like it could be a real name" in t for t in h.inbox("zed"))


async def test_several_communities_ask_for_a_choice(make_runtime) -> None:
    config = test_config("sqlite:///:memory:", communities=[
        CommunityConfig(slug="northtown", name="Northtown"), CommunityConfig(slug="southby", name="Southby")])
    h = Harness(make_runtime(config=config))
    await h.onboard("ann", "Birch")
    assert "Choices: northtown, southby" in h.last("ann")
    await h.say("ann", "/community atlantis")
    assert "Unknown community" in h.last("ann")
    await h.say("ann", "/community southby")
    assert any("Your community is now Southby" in t for t in h.inbox("ann"))
    assert h.last("ann").startswith("You're all set")


async def test_language_switch_and_help_topics(h: Harness) -> None:
    await h.say("ann", "/language nb")
    assert h.last("ann") == "Jeg skriver til deg på norsk fra nå av."
    await h.say("ann", "/start")
    assert "Husregler" in h.last("ann")
    await h.say("ann", "/help name")
    assert "kallenavn" in h.last("ann") and "113" in h.last("ann")
    await h.say("ann", "/help nonsense")
    assert "nonsense" in h.last("ann") and "113" in h.last("ann")


async def test_bad_invite_and_resumed_onboarding(h: Harness) -> None:
    await h.say("ann", "/start")
    await h.say("ann", "/agree")
    await h.say("ann", "/join WRONG")
    assert "not valid" in h.last("ann")
    await h.say("ann", "/start")                     # resuming shows the next step, not the rules
    assert "send /join" in h.last("ann") and "House rules" not in h.last("ann")
