"""A mutual reveal on Telegram: the request arrives with buttons, the accept button exchanges
cards, the partner's copies show the first name and a third member's copies do not; unreveal
edits the delivered copy back."""
from __future__ import annotations

import re
from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from tests.telegram_support import Person, TgWorld, fast_world

ANN = Person(731000301, "Annika", "Quillfeather", "ann_private_handle")
BEN = Person(731000302, "Bertrand", "Oakhollow", "bertrand_tg")
CY = Person(731000303, "Cyrilla", "Marshwood", "cy_tg")
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2.*retry_after:DeprecationWarning")


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[TgWorld]:
    async with fast_world(tmp_path) as w:
        yield w


async def test_mutual_reveal_on_telegram(world: TgWorld) -> None:
    for person, pseudonym, first in ((ANN, "Birch", "Anna"), (BEN, "Willow", "Bjarne"), (CY, "Moss", "Cyrus")):
        world.add(person)
        await world.onboard(person.uid, pseudonym)
        await world.say(person.uid, f"/card name {first}")
    await world.say(ANN.uid, "/reveal to Willow")
    request = world.find(BEN.uid, "would like to exchange cards")
    assert "Anna" not in request.text
    number = re.search(r"request r(\d+)", request.text).group(1)
    buttons = request.reply_markup["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == [f"/accept {number}", f"/decline {number}"]
    await world.press(BEN.uid, request.message_id, f"/accept {number}")
    assert "You and Birch (Anna) now see each other's cards" in world.texts(BEN.uid)[-1]
    assert "You and Willow (Bjarne) now see each other's cards" in world.texts(ANN.uid)[-1]

    await world.say(ANN.uid, "/new Evenings\nThe evenings are long")
    p1 = int(re.search(r"\bp(\d+)\b", world.find(ANN.uid, "Posted as").text).group(1))
    [ben_copy] = world.posts(BEN.uid, p1)
    [cy_copy] = world.posts(CY.uid, p1)
    assert ben_copy.text.split("\n")[0].endswith("· Birch (Anna)")
    assert cy_copy.text.split("\n")[0].endswith("· Birch") and "Anna" not in cy_copy.text

    await world.say(ANN.uid, "/unreveal Willow")
    assert "cannot be taken back" in world.texts(ANN.uid)[-1]
    [ben_copy] = world.posts(BEN.uid, p1)
    assert ben_copy.text.split("\n")[0].endswith("· Birch") and "Anna" not in ben_copy.text
    assert any("Birch (Anna)" in (h.get("text") or "") for h in ben_copy.history)
