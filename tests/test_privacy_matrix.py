"""On Matrix (a real Synapse, encrypted DMs): mydata arrives as an encrypted file only its owner
can open, and forget edits the copy another member received to "[removed]"."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from nio.crypto.attachments import decrypt_attachment

from tests.fakes.synapse_server import SynapseServer, synapse_session
from tests.matrix_support import BotUnderTest, Participant, assert_no_leaks, gather, post_id


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory):
    with synapse_session(tmp_path_factory.mktemp("synapse")) as server:
        yield server


async def _file_content(p: Participant, event_id: str) -> bytes:
    message = p.user.message(p.room_id, event_id)
    assert message is not None and message.msgtype == "m.file"
    info = message.content["file"]
    response = await p.user.client.download(mxc=info["url"])
    return decrypt_attachment(response.body, info["key"]["k"], info["hashes"]["sha256"], info["iv"])


@pytest.mark.synapse
async def test_mydata_file_and_forget_on_matrix(synapse: SynapseServer, tmp_path: Path) -> None:
    bot = BotUnderTest(synapse, tmp_path)
    await bot.start()
    people: list[Participant] = []
    try:
        people = await gather(*(Participant.create(synapse, tmp_path, n, bot.user_id)
                                for n in ("Ingrid Saltvik", "Jostein Brekke")))
        ingrid, jostein = people
        await gather(*(p.open_dm(True) for p in people))
        await gather(ingrid.onboard("Birch"), jostein.onboard("Willow"))

        await ingrid.say("!new Evenings\nThe evenings are the hardest part")
        first = post_id((await ingrid.expect("Posted as")).body)
        copy = await jostein.expect("The evenings are the hardest part")
        await jostein.say("!reply 1 Mine too, you are not alone")
        await ingrid.expect("Mine too, you are not alone")

        await ingrid.say("!mydata")
        document = await ingrid.expect(lambda m: m.msgtype == "m.file")
        assert document.encrypted and "url" not in document.content      # an encrypted attachment
        data = json.loads(await _file_content(ingrid, document.event_id))
        text = json.dumps(data, ensure_ascii=False)
        assert "The evenings are the hardest part" in text and ingrid.user_id in text
        assert jostein.user_id not in text and "Mine too" not in text

        await ingrid.say("!forget")
        await ingrid.expect("forget confirm")
        await ingrid.say("!forget confirm")
        await ingrid.expect("Everything about you is erased")
        edited = await jostein.user.wait_for_message(jostein.room_id,
                                                     lambda m: m.event_id == copy.event_id and m.edited)
        assert "[removed]" in edited.body and "hardest part" not in edited.body and "Birch" not in edited.body
        assert f"p{first}" in edited.body
        edit_event = jostein.user.event(jostein.room_id, edited.edit_event_ids[-1])
        assert edit_event.raw["type"] == "m.room.encrypted"
        # Jostein's own reply stays where it was.
        assert any("Mine too, you are not alone" in (m.body or "") for m in jostein.from_bot() + ingrid.from_bot())
        assert_no_leaks(people)
    finally:
        await gather(*(p.close() for p in people))
        await bot.stop()
