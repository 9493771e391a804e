"""The consultant on Telegram (against the test Bot API server): a report arrives as an alert
with inline buttons, a button dismisses it, and hiding a post edits every delivered copy."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from bot.config import Config
from tests.telegram_support import Person, TgWorld, fast_world

ANN = Person(731000301, "Annika", "Quillfeather", "ann_private_handle")
BEN = Person(731000302, "Bertrand", "Oakhollow", "bertrand_tg")
LIL = Person(731000303, "Lillian", "Moderata", "lillian_consultant")
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2.*retry_after:DeprecationWarning")


def _lillian_consults(config: Config) -> Config:
    config.groups[0] = config.groups[0].model_copy(update={"consultants": [f"telegram:{LIL.uid}"]})
    return config


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[TgWorld]:
    async with fast_world(tmp_path, _lillian_consults) as w:
        yield w


async def test_report_alert_buttons_and_hide_on_telegram(world: TgWorld) -> None:
    for person, pseudonym in ((ANN, "Birch"), (BEN, "Rowan"), (LIL, "Lillian")):
        world.add(person)
        await world.onboard(person.uid, pseudonym)
    await world.say(ANN.uid, "/new Evenings\nMy phone number is in this post")
    [copy] = world.posts(BEN.uid, 1)
    await world.say(BEN.uid, "/report p1 it has a phone number")
    alert = world.find(LIL.uid, "New in your queue")
    assert "p1 by Birch" in alert.text and "Rowan" not in alert.text
    buttons = alert.reply_markup["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["/mod hide p1", "/mod ack p1", "/mod dismiss 1"]
    await world.say(LIL.uid, "/mod hide p1 a phone number could identify you")
    [copy] = world.posts(BEN.uid, 1)
    assert copy.text.endswith("[hidden by the consultant]")
    assert "My phone number" in copy.history[0]["text"]
    notice = world.find(ANN.uid, "hidden your post p1")
    assert "a phone number could identify you" in notice.text and "Rowan" not in notice.text
    await world.say(BEN.uid, "/report p1 again")
    alert = world.find(LIL.uid, "New in your queue: q2")
    await world.press(LIL.uid, alert.message_id, "/mod dismiss 2")
    assert "q2 is closed" in world.texts(LIL.uid)[-1]
    await world.say(LIL.uid, "/mod log")
    log = world.texts(LIL.uid)[-1]
    assert "hid a post · p1 · by Lillian · a phone number could identify you" in log
    assert str(ANN.uid) not in log and "Annika" not in log
