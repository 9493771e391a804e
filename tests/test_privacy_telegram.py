"""mydata arrives as a Telegram document; forget edits every delivered copy to "[removed]"."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from tests.telegram_support import Person, TgWorld, fast_world

ANN = Person(731000201, "Annika", "Quillfeather", "ann_private_handle")
BEN = Person(731000202, "Bertrand", "Oakhollow", "bertrand_tg")
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2.*retry_after:DeprecationWarning")


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[TgWorld]:
    async with fast_world(tmp_path) as w:
        yield w


def _post_id(text: str) -> int:
    match = re.search(r"\bp(\d+)\b", text)
    assert match, text
    return int(match.group(1))


async def test_mydata_document_and_forget_on_telegram(world: TgWorld) -> None:
    for person, pseudonym in ((ANN, "Birch"), (BEN, "Rowan")):
        world.add(person)
        await world.onboard(person.uid, pseudonym)
    await world.say(ANN.uid, "/new Evenings\nThe evenings are the hardest part")
    p1 = _post_id(world.find(ANN.uid, "Posted as").text)
    [copy] = world.posts(BEN.uid, p1)
    assert "The evenings are the hardest part" in copy.text

    await world.say(ANN.uid, "/mydata")
    docs = [m for m in world.bot_messages(ANN.uid) if "document" in m.data]
    assert docs, "mydata sent no document"
    name, content, _mime = world.server.files[docs[-1].data["document"]["file_id"]]
    data = json.loads(content)
    assert name.endswith(".json")
    assert "The evenings are the hardest part" in json.dumps(data, ensure_ascii=False)
    assert str(ANN.uid) in json.dumps(data)            # her own identity, to her only
    assert str(BEN.uid) not in json.dumps(data)

    await world.say(ANN.uid, "/forget")
    await world.say(ANN.uid, "/forget confirm")
    [copy] = world.posts(BEN.uid, p1)
    assert "[removed]" in copy.text and "hardest part" not in copy.text and "Birch" not in copy.text
