"""Crisis language in the publishing path: the author's answer, the consultants' alert, hold."""
from __future__ import annotations

import logging

import pytest

from bot.transports.base import MemoryTransport
from tests.conftest import test_config
from tests.harness import Harness
from tests.test_threads import posts_in


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


def open_button(message) -> str:
    return next(b.command for row in message.buttons for b in row if b.command.startswith("/open "))


def sent(h: Harness, name: str):
    return h.transport().sent.get(name, [])


async def test_first_person_crisis_gets_contacts_first_and_alerts_the_consultant(group, caplog) -> None:
    rt, h = await group()
    caplog.set_level(logging.INFO)
    await h.say("ann", "I can't do this anymore, I want to kill myself tonight")
    answer = next(m for m in sent(h, "ann") if "116 123" in m.text)
    assert "weekdays 9–15" in answer.text and "detected" not in answer.text
    fanout = [m for m in sent(h, "bob") if "kill myself" in m.text]
    assert len(fanout) == 1 and int(answer.message_id) < int(fanout[0].message_id)
    alert = [m for m in sent(h, "lillian") if m.buttons]
    assert len(alert) == 1 and "Birch" in alert[0].text
    await h.say("lillian", open_button(alert[0]))
    assert "kill myself" in h.last("lillian")
    assert "kill myself" not in caplog.text and "check fired: crisis" in caplog.text


async def test_hold_keeps_the_post_from_everyone_but_the_consultant(group) -> None:
    rt, h = await group(crisis_action="hold")
    await h.say("ann", "jeg orker ikke mer, jeg vil ta livet mitt")
    assert any("116 123" in t and "waits with the consultant" in t for t in h.inbox("ann"))
    assert not posts_in(h.inbox("bob"))
    alert = [m for m in sent(h, "lillian") if m.buttons]
    assert len(alert) == 1
    await h.say("lillian", open_button(alert[0]))
    assert "ta livet mitt" in h.last("lillian")
    await h.say("bob", "/open p2")
    assert "ta livet mitt" not in h.last("bob")


@pytest.mark.parametrize("text", [
    "I'm dying laughing at this thread", "I would never kill myself, don't worry",
    "Five years ago I tried to kill myself, and now I'm doing much better",
    "The news about the singer's suicide made me sad", "She is a skilled painter",
])
async def test_mentions_get_no_answer_and_are_published(group, text: str) -> None:
    rt, h = await group()
    await h.say("ann", text)
    assert not any("116 123" in t for t in h.inbox("ann"))
    assert not [m for m in sent(h, "lillian") if m.buttons]
    assert len(posts_in(h.inbox("bob"))) == 1


async def test_crisis_language_in_a_thread_title_is_answered_once(group) -> None:
    rt, h = await group()
    await h.say("ann", "/new I want to end my life")
    assert sum("116 123" in t for t in h.inbox("ann")) == 1
    assert len([m for m in sent(h, "lillian") if m.buttons]) == 1
    await h.say("ann", "/new I want to die\nI want to die tonight")
    assert sum("116 123" in t for t in h.inbox("ann")) == 2


async def test_crisis_text_kept_as_a_draft_is_answered_at_once(group) -> None:
    """Text kept back instead of published (no thread chosen yet, over the flood limit, too
    long) is not screened until it is sent, which may be never: the answer and the alert go now."""
    rt, h = await group(posts_per_minute=1)
    await h.say("bob", "I want to kill myself tonight")          # bob has not opened a thread
    answer = [t for t in h.inbox("bob") if "116 123" in t]
    assert len(answer) == 1 and "nobody else in the group has seen it" in answer[0]
    assert any("Which thread" in t for t in h.inbox("bob"))
    alert = [m for m in sent(h, "lillian") if "kill myself" in m.text or m.buttons]
    assert alert and not any("kill myself" in t for t in h.inbox("ann"))
    h.clear()
    await h.say("ann", "thanks all")
    await h.say("ann", "jeg orker ikke mer, jeg vil ta livet mitt i kveld")     # over the flood limit
    answers = [t for t in h.inbox("ann") if "116 123" in t]
    assert len(answers) == 1 and "shared with the group" not in answers[0]
    assert any("kept as draft" in t for t in h.inbox("ann"))
    assert [m for m in sent(h, "lillian") if m.buttons or "livet mitt" in m.text]
    assert not any("livet mitt" in t for t in h.inbox("bob"))
    h.clear()
    await h.say("ann", "/reply 1 " + "a long day. " * 400 + "I am going to end my life tonight")
    assert any("116 123" in t for t in h.inbox("ann"))
    assert [m for m in sent(h, "lillian") if m.buttons or "end my life" in m.text]


async def test_an_ordinary_text_kept_as_a_draft_gets_no_crisis_answer(group) -> None:
    rt, h = await group()
    await h.say("bob", "hi all, how is everyone tonight?")
    assert not any("116 123" in t for t in h.inbox("bob"))
    assert not sent(h, "lillian")
