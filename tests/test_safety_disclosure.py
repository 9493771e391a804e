"""The disclosure guard in the publishing path: asked first, then send anyway / edit / cancel."""
from __future__ import annotations

import logging

import pytest

from bot.events import Kind
from bot.transports.base import MemoryTransport
from tests.conftest import test_config
from tests.harness import Harness
from tests.test_threads import posts_in

PHONE = "Call me on 912 34 567 if you want to talk"


@pytest.fixture
def group(make_runtime, tmp_path):
    async def build(**safety):
        config = test_config(f"sqlite:///{tmp_path / 'bot.db'}")
        for key, value in safety.items():
            setattr(config.safety, key, value)
        rt = make_runtime(config=config, transports={"memory": MemoryTransport("memory")})
        h = Harness(rt)
        await h.onboard("ann", "Birch")
        await h.onboard("bob", "Willow")
        await h.onboard("lillian", "Lillian")
        await h.say("ann", "/new Evenings\nHello all")
        h.clear()
        return rt, h
    return build


def buttons(h: Harness, name: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for message in h.transport().sent.get(name, []):
        for row in message.buttons:
            for b in row:
                found[b.label] = b.command
    return found


def everyone_else(h: Harness) -> list[str]:
    return posts_in(h.inbox("bob")) + posts_in(h.inbox("lillian"))


async def test_phone_number_is_asked_about_and_reaches_nobody(group, caplog) -> None:
    rt, h = await group()
    caplog.set_level(logging.INFO)
    await h.say("ann", PHONE)
    question = h.last("ann")
    assert "912 34 567" in question and "Nothing is shared" in question
    assert "detected" not in question
    assert set(buttons(h, "ann")) == {"Send anyway", "Edit", "Cancel"}
    assert not everyone_else(h)
    assert "check fired: disclosure" in caplog.text and "912" not in caplog.text
    await h.say("ann", "/drafts")
    assert "waiting" in h.last("ann").lower() or "d" in h.last("ann")


async def test_send_anyway_publishes_the_text_as_written(group) -> None:
    rt, h = await group()
    await h.say("ann", PHONE)
    await h.say("ann", buttons(h, "ann")["Send anyway"])
    assert [p for p in posts_in(h.inbox("bob")) if "912 34 567" in p]
    await h.say("ann", "/drafts")
    assert "912" not in h.last("ann")


async def test_edit_publishes_only_the_corrected_text(group) -> None:
    rt, h = await group()
    await h.say("ann", PHONE)
    await h.say("ann", buttons(h, "ann")["Edit"])
    assert not everyone_else(h)
    await h.say("ann", "Write to me here if you want to talk")
    bob = posts_in(h.inbox("bob"))
    assert len(bob) == 1 and "Write to me here" in bob[0] and "912" not in bob[0]


async def test_edit_in_one_go_is_screened_again(group) -> None:
    rt, h = await group()
    await h.say("ann", PHONE)
    draft = buttons(h, "ann")["Edit"].split()[1]
    await h.say("ann", f"/fix {draft} mail me at zed@example.org instead")
    assert "zed@example.org" in h.last("ann") and not everyone_else(h)
    await h.say("ann", "/cancel")
    assert not everyone_else(h)


async def test_cancel_publishes_nothing_and_keeps_nothing(group) -> None:
    rt, h = await group()
    await h.say("ann", PHONE)
    await h.say("ann", buttons(h, "ann")["Cancel"])
    assert "Nothing was shared" in h.last("ann")
    await h.say("ann", "/drafts")
    assert "912" not in h.last("ann")
    assert not everyone_else(h)


async def test_a_new_post_while_one_waits_is_handled_normally(group) -> None:
    rt, h = await group()
    await h.say("ann", PHONE)
    await h.say("ann", "Anyway, how was everyone's weekend?")
    bob = posts_in(h.inbox("bob"))
    assert len(bob) == 1 and "weekend" in bob[0]
    await h.say("ann", "/drafts")
    assert "912 34 567" in h.last("ann")


async def test_an_edit_adding_a_phone_number_is_asked_before_any_copy_changes(group) -> None:
    rt, h = await group()
    await h.say("ann", "Hope you all sleep well")
    post = posts_in(h.inbox("bob"))[0].split(" · p")[1].split()[0]
    await h.say("ann", f"/edit p{post} Hope you all sleep well, text me on 912 34 567")
    assert "912 34 567" in h.last("ann")
    assert not any("912" in t for t in h.inbox("bob"))
    await h.say("ann", buttons(h, "ann")["Send anyway"])
    assert any("912 34 567" in t for t in h.inbox("bob"))


async def test_the_authors_own_platform_name_is_asked_about(group) -> None:
    rt, h = await group()
    await h.say("ann", "Greetings from Annabel Fjeldstad", display="Annabel Fjeldstad")
    assert "Annabel Fjeldstad" in h.last("ann") and not everyone_else(h)


@pytest.mark.parametrize("text", [
    "See you kl 21:30 in room 214", "It cost 12 500 kr and took 3 hours", "Meet @ the café at 5",
    "I re-read Harry Potter this weekend 😊", "Born in 1985, I still remember the winter of 1994",
])
async def test_ordinary_text_is_published_without_a_question(group, text: str) -> None:
    rt, h = await group()
    await h.say("ann", text)
    assert len(posts_in(h.inbox("bob"))) == 1
    assert not buttons(h, "ann")


async def test_a_local_place_alone_is_fine_but_not_with_a_workplace(group) -> None:
    rt, h = await group(local_place_names=["Fjordvik"])
    await h.say("ann", "Det er kaldt i Fjordvik i dag")
    assert len(posts_in(h.inbox("bob"))) == 1
    await h.say("ann", "Jeg jobber på Kiwi Fjordvik")
    assert "Kiwi Fjordvik" in h.last("ann") and len(posts_in(h.inbox("bob"))) == 1


async def test_mentioning_someone_by_pseudonym_is_not_asked_about(group) -> None:
    rt, h = await group()
    await h.say("ann", "@Willow thank you for yesterday, and hi @Lillian")
    assert len(posts_in(h.inbox("bob"))) == 1 and not buttons(h, "ann")


@pytest.mark.parametrize("typed, outcome", [
    ("cancel", "cancelled"), ("Avbryt.", "cancelled"), ("send anyway", "sent"), ("Send likevel!", "sent"),
    ("edit", "edit"), ("rediger", "edit"),
])
async def test_a_choice_typed_as_a_plain_word_answers_the_question(group, typed: str, outcome: str) -> None:
    """Someone reading "send it as it is, write it again, or cancel" may just type the word: it
    answers the question and is never published as a post."""
    rt, h = await group()
    await h.say("ann", PHONE)
    await h.say("ann", typed)
    shared = everyone_else(h)
    assert not [p for p in shared if p.endswith("\n" + typed)]
    if outcome == "cancelled":
        assert not shared and ("Nothing was shared" in h.last("ann") or "Ingenting ble delt" in h.last("ann"))
    elif outcome == "sent":
        assert [p for p in posts_in(h.inbox("bob")) if "912 34 567" in p]
    else:
        assert not shared
        await h.say("ann", "Write to me here if you want to talk")
        assert [p for p in posts_in(h.inbox("bob")) if "Write to me here" in p]


async def test_the_plain_word_is_an_ordinary_post_when_nothing_waits(group) -> None:
    rt, h = await group()
    await h.say("ann", "cancel")
    assert [p for p in posts_in(h.inbox("bob")) if p.endswith("\ncancel")]
