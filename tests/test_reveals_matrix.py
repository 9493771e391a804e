"""A mutual reveal on Matrix in encrypted DMs: the partner's copies show the first name, a third
member's copies do not, and unreveal edits the partner's copy back (an encrypted m.replace)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakes.synapse_server import SynapseServer, synapse_session
from tests.matrix_support import BotUnderTest, Participant, assert_no_leaks, gather, post_id


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory):
    with synapse_session(tmp_path_factory.mktemp("synapse")) as server:
        yield server


@pytest.mark.synapse
async def test_mutual_reveal_in_encrypted_dms(synapse: SynapseServer, tmp_path: Path) -> None:
    bot = BotUnderTest(synapse, tmp_path)
    await bot.start()
    people: list[Participant] = []
    try:
        people = await gather(*(Participant.create(synapse, tmp_path, n, bot.user_id)
                                for n in ("Astrid Quillfeather", "Bjarne Oddvik", "Cecilie Marsk")))
        astrid, bjarne, cecilie = people
        await gather(*(p.open_dm(True) for p in people))
        rooms = bot.transport.client.rooms
        await astrid.user.wait_for(lambda: all(p.room_id in rooms for p in people), 20, "the bot to sync the DMs")
        assert all(rooms[p.room_id].encrypted for p in people)
        await gather(astrid.onboard("Birch"), bjarne.onboard("Willow"), cecilie.onboard("Moss"))
        for p, first in ((astrid, "Anna"), (bjarne, "Bo"), (cecilie, "Cyrus")):
            await p.say(f"!card name {first}")
            await p.expect("Saved. Your card")

        await astrid.say("!reveal to Willow")
        request = await bjarne.expect("would like to exchange cards")
        assert "Anna" not in request.body and bjarne.user.raw_event(request.event_id)["type"] == "m.room.encrypted"
        number = re.search(r"request r(\d+)", request.body).group(1)
        await bjarne.say(f"!accept {number}")
        await bjarne.expect("You and Birch (Anna) now see each other's cards")
        await astrid.expect("You and Willow (Bo) now see each other's cards")

        await astrid.say("!new Evenings\nThe evenings are long")
        first = post_id((await astrid.expect("Posted as")).body)
        b_copy, c_copy = await gather(bjarne.expect("The evenings are long"), cecilie.expect("The evenings are long"))
        assert b_copy.body.split("\n")[0].endswith(f"p{first} · Birch (Anna)")
        assert c_copy.body.split("\n")[0].endswith(f"p{first} · Birch") and "Anna" not in c_copy.body
        await bjarne.say("!reply 1 Mine too")
        a_copy = await astrid.expect("Mine too")
        assert "Willow (Bo)" in a_copy.body

        await astrid.say("!unreveal Willow")
        await astrid.expect("cannot be taken back")
        edited = await bjarne.user.wait_for_message(
            bjarne.room_id, lambda m: m.event_id == b_copy.event_id and m.edited)
        assert edited.body.split("\n")[0].endswith(f"p{first} · Birch") and "Anna" not in edited.body
        edit_event = bjarne.user.event(bjarne.room_id, edited.edit_event_ids[-1])
        assert edit_event.raw["type"] == "m.room.encrypted"
        assert_no_leaks(people)
    finally:
        await gather(*(p.close() for p in people))
        await bot.stop()
