"""The Matrix transport end to end: the whole bot on a real Synapse, participants as nio
clients with end-to-end encryption (tests/fakes). Every Synapse test ends by checking that
no participant received another participant's Matrix identity.

The pure content/error helpers are tested at the top without a server.
"""
from __future__ import annotations

import asyncio
import logging
import re
import shutil
import types
from pathlib import Path

import pytest

from bot.events import Button, Kind, Rendered
from bot.transports.base import MessageGone, PermanentError, RetryAfter, TransientError, Unreachable
from bot.transports import matrix_inbound
from bot.transports.matrix import MatrixTransport
from bot.transports.matrix_format import (
    edit_content, error_for, parse_incoming, strip_reply_fallback, text_content,
)
from bot.transports.matrix_state import MatrixState
from tests.conftest import DATA_KEY
from tests.fakes.synapse_server import SynapseServer, synapse_session
from tests.matrix_support import (
    BotUnderTest, Participant, assert_no_leaks, fragment, gather, post_id, send_with_late_key, t,
)


# ----------------------------------------------------------- without a server
def test_outgoing_content_is_escaped_with_buttons_as_commands() -> None:
    message = Rendered(text="<b>Birch</b> & co\nline two",
                       buttons=((Button("I agree", "/agree"), Button("Help <me>", "/help")),))
    content = text_content(message)
    assert content["msgtype"] == "m.text" and content["format"] == "org.matrix.custom.html"
    assert content["body"] == "<b>Birch</b> & co\nline two\n▸ I agree: !agree\n▸ Help <me>: !help"
    html = content["formatted_body"]
    assert "<b>" not in html and "&lt;b&gt;Birch&lt;/b&gt; &amp; co<br>line two" in html
    assert "Help &lt;me&gt;: <code>!help</code>" in html
    edit = edit_content("$orig", Rendered(text="new <i>text</i>"))
    assert edit["body"] == "* new <i>text</i>" and edit["m.new_content"]["body"] == "new <i>text</i>"
    assert edit["m.new_content"]["formatted_body"] == "new &lt;i&gt;text&lt;/i&gt;"
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$orig"}
    reply = text_content(Rendered(text="x", reply_to="$p", silent=True))
    assert reply["m.relates_to"] == {"m.in_reply_to": {"event_id": "$p"}} and reply["msgtype"] == "m.notice"


def test_incoming_events_are_classified() -> None:
    def ev(content: dict, etype: str = "m.room.message", **extra) -> dict:
        return {"type": etype, "event_id": "$e", "sender": "@a:x", "content": content, **extra}

    text = parse_incoming(ev({"msgtype": "m.text", "body": "!start"}))
    assert text.kind is Kind.TEXT and text.text == "!start" and text.reply_to is None
    for msgtype in ("m.notice", "m.emote"):
        assert parse_incoming(ev({"msgtype": msgtype, "body": "hi"})).kind is Kind.TEXT
    reply = parse_incoming(ev({"msgtype": "m.text", "body": "> <@bot:x> #1 Walks\n> more\n\nme too",
                               "m.relates_to": {"m.in_reply_to": {"event_id": "$post"}}}))
    assert reply.kind is Kind.TEXT and reply.text == "me too" and reply.reply_to == "$post"
    thread = parse_incoming(ev({"msgtype": "m.text", "body": "in a thread", "m.relates_to": {
        "rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$last"}}}))
    assert thread.reply_to is None and thread.text == "in a thread"
    edit = parse_incoming(ev({"msgtype": "m.text", "body": "* fixed", "m.new_content": {
        "msgtype": "m.text", "body": "fixed"}, "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}}))
    assert edit.kind is Kind.EDIT and edit.text == "fixed" and edit.message_id == "$orig"
    for msgtype, kind in (("m.image", "photo"), ("m.file", "file"), ("m.audio", "audio"),
                          ("m.video", "video"), ("m.location", "location")):
        media = parse_incoming(ev({"msgtype": msgtype, "body": "x.bin"}))
        assert media.kind is Kind.MEDIA and media.media_kind == kind
    assert parse_incoming(ev({"body": "s", "url": "mxc://x/y"}, "m.sticker")).kind is Kind.MEDIA
    assert parse_incoming(ev({"membership": "join"}, "m.room.member", state_key="@a:x")) is None
    assert parse_incoming(ev({"msgtype": "m.key.verification.request", "body": "verify"})) is None
    assert parse_incoming(ev({}, "m.room.message")) is None          # redacted
    assert parse_incoming(ev({"key": "👍"}, "m.reaction")) is None
    assert strip_reply_fallback("no quote") == "no quote"


def test_error_responses_map_to_port_errors() -> None:
    def resp(status: int | None, code: str | None, retry_ms: int | None = None):
        transport = types.SimpleNamespace(status=status) if status else None
        return types.SimpleNamespace(transport_response=transport, status_code=code, retry_after_ms=retry_ms)

    limited = error_for(resp(429, "M_LIMIT_EXCEEDED", 2500))
    assert isinstance(limited, RetryAfter) and limited.seconds == 2.5
    assert isinstance(error_for(resp(403, "M_FORBIDDEN")), Unreachable)
    assert isinstance(error_for(resp(404, "M_NOT_FOUND")), Unreachable)
    assert isinstance(error_for(resp(404, "M_NOT_FOUND"), target_event=True), MessageGone)
    assert isinstance(error_for(resp(502, None)), TransientError)
    assert isinstance(error_for(resp(None, None)), TransientError)
    assert isinstance(error_for(resp(401, "M_UNKNOWN_TOKEN")), TransientError)
    assert isinstance(error_for(resp(413, "M_TOO_LARGE")), PermanentError)
    assert isinstance(error_for(resp(400, "M_BAD_JSON")), PermanentError)


def test_state_survives_restarts_and_bounds_handled_ids(tmp_path: Path) -> None:
    state = MatrixState(tmp_path / "store", b"k" * 32)
    state.prepare()
    state.load()
    assert state.next_batch is None and not state.seen("$a")
    state.mark("$a")
    state.remember_dm("@p:x", "!room")
    state.next_batch = "s1"
    state.save()
    again = MatrixState(tmp_path / "store", b"k" * 32)
    again.load()
    raw = (tmp_path / "store" / "sync.json").read_text()
    assert "@p:x" not in raw and "!room" not in raw          # issue 8.8a: sealed with the data key
    with pytest.raises(RuntimeError):
        MatrixState(tmp_path / "store", b"w" * 32).load()
    assert again.seen("$a") and again.next_batch == "s1" and again.dm_of_user == {"@p:x": "!room"}
    for i in range(12_000):
        again._remember(f"${i}")
    assert not again.seen("$0") and again.seen("$11999")
    assert (tmp_path / "store").stat().st_mode & 0o777 == 0o700


async def test_unreachable_homeserver_does_not_stop_the_bot(tmp_path: Path) -> None:
    """Start with the homeserver down: the transport starts, keeps trying, and sends wait."""
    transport = MatrixTransport("http://127.0.0.1:9", "@cafe:localhost", str(tmp_path / "store"),
                                password="pw", data_key=DATA_KEY)

    async def dispatch(event) -> None:  # type: ignore[no-untyped-def]
        raise AssertionError("nothing can arrive")

    await transport.start(dispatch)
    try:
        with pytest.raises(TransientError):
            await transport.send("!room:localhost", Rendered(text="x"))
    finally:
        await transport.stop()
    assert not (tmp_path / "store" / "session.json").exists()


# ---------------------------------------------------------------- with Synapse
@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory):
    with synapse_session(tmp_path_factory.mktemp("synapse")) as server:
        yield server


MATRIX_ID = re.compile(r"[@!$#][^\s:\"']+:localhost")


def assert_logs_clean(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    """Logs at INFO and above carry no Matrix ids and no message text."""
    for record in caplog.records:
        if record.levelno < logging.INFO:
            continue
        line = record.getMessage()
        assert not MATRIX_ID.search(line), (record.name, line)
        for text in texts:
            assert text not in line, (record.name, line)


@pytest.fixture
async def bot(synapse: SynapseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    bot = BotUnderTest(synapse, tmp_path)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
    assert_logs_clean(caplog, "Walking in the", "How do you sleep", "Birch", "Aspen")


@pytest.fixture
async def people(synapse: SynapseServer, tmp_path: Path, bot: BotUnderTest):
    made: list[Participant] = []

    async def make(*names: str, encrypted: bool = True) -> list[Participant]:
        new = await gather(*(Participant.create(synapse, tmp_path, n, bot.user_id) for n in names))
        made.extend(new)
        await gather(*(p.open_dm(encrypted) for p in new))
        rooms = bot.transport.client.rooms
        await new[0].user.wait_for(lambda: all(p.room_id in rooms for p in new), 20, "the bot to sync the DMs")
        return new

    try:
        yield make
    finally:
        await gather(*(p.close() for p in made))


def _is_post(text: str):  # type: ignore[no-untyped-def]
    return lambda m: text in (m.body or "")


@pytest.mark.synapse
async def test_encrypted_thread_with_replies_edits_deletes_and_media(bot: BotUnderTest, people) -> None:
    astrid, bjarne, cecilie = await people("Astrid Quillfeather", "Bjarne Oddvik", "Cecilie Marsk")
    assert bot.transport.client.rooms[astrid.room_id].encrypted
    await gather(astrid.onboard("Birch"), bjarne.onboard("Willow"), cecilie.onboard("Rowan"))
    rules = astrid.from_bot()[1]
    assert rules.body.startswith("House rules") and "!agree" in rules.body       # a button as a command
    assert astrid.user.raw_event(rules.event_id)["type"] == "m.room.encrypted"   # answered encrypted

    # A thread, published to the others; text is escaped in the HTML part.
    await astrid.say("!new Evening walks\nI walk at <dusk> & it helps")
    published = await astrid.expect("Posted as")
    first = post_id(published.body)
    copies = await gather(bjarne.expect(_is_post("I walk at <dusk> & it helps")),
                          cecilie.expect(_is_post("I walk at <dusk> & it helps")))
    for copy in copies:
        assert "Birch" in copy.body and "&lt;dusk&gt; &amp; it helps" in copy.formatted_body
        assert "<dusk>" not in copy.formatted_body

    # Bjarne replies with the platform's reply feature (with the quoted fallback).
    await bjarne.say("Me too, mornings", reply_to=copies[0].event_id)
    await bjarne.expect("Posted as")
    reply_copies = await gather(astrid.expect(_is_post("Me too, mornings")),
                                cecilie.expect(_is_post("Me too, mornings")))
    for copy in reply_copies:
        assert t("post.in_reply_to", post=first, author="Birch") in copy.body
        assert "> <" not in copy.body and "Willow" in copy.body
    second = post_id(reply_copies[0].body.split("\n")[0])

    # Astrid edits her own plain-text post with Matrix's edit feature: every copy changes.
    source = await astrid.say("Walking in the rain today")
    third = post_id((await astrid.expect("Posted as")).body)
    rain = await gather(bjarne.expect(_is_post("Walking in the rain today")),
                        cecilie.expect(_is_post("Walking in the rain today")))
    await astrid.user.edit(astrid.room_id, source, "Walking in the snow today")
    await astrid.expect(t("post.edited_done", post=third, copies=2))
    for person, copy in zip((bjarne, cecilie), rain):
        edited = await person.user.wait_for_message(
            person.room_id, lambda m, e=copy.event_id: m.event_id == e and m.edited)
        assert "Walking in the snow today" in edited.body and t("post.edited") in edited.body
        edit_event = person.user.event(person.room_id, edited.edit_event_ids[-1])
        assert edit_event.raw["type"] == "m.room.encrypted"
        assert edit_event.relates_to == {"rel_type": "m.replace", "event_id": copy.event_id}

    # /edit by command reaches every delivered copy of Bjarne's reply.
    await bjarne.say(f"/edit p{second} Me too, evenings now")
    await bjarne.expect(t("post.edited_done", post=second, copies=2))
    for person, copy in zip((astrid, cecilie), reply_copies):
        await person.user.wait_for_message(
            person.room_id, lambda m, e=copy.event_id: m.event_id == e and "evenings now" in (m.body or ""))

    # !delete: every copy of the first post is redacted.
    await astrid.say(f"!delete p{first}")
    await astrid.expect(t("post.deleted_done", post=first, copies=2))
    for person, copy in zip((bjarne, cecilie), copies):
        await person.user.wait_for(
            lambda p=person, e=copy.event_id: (m := p.user.message(p.room_id, e)) is not None and m.redacted,
            20, "the copy to be redacted")

    # Deleting an edited post redacts its edits too: they hold the edited text (issue 8.8b).
    edits = {}
    for person, copy in zip((bjarne, cecilie), rain):
        edits[person.display] = person.user.message(person.room_id, copy.event_id).edit_event_ids
    await astrid.say(f"!delete p{third}")
    await astrid.expect(t("post.deleted_done", post=third, copies=2))
    for person, copy in zip((bjarne, cecilie), rain):
        await person.user.wait_for(
            lambda p=person, e=copy.event_id: (m := p.user.message(p.room_id, e)) is not None and m.redacted,
            20, "the edited copy to be redacted")
        for edit_id in edits[person.display]:
            raw = await person.user.fetch_raw_event(person.room_id, edit_id)
            assert raw.get("content") == {} and "redacted_because" in raw.get("unsigned", {}), raw

    # Media is never relayed: an explanation instead.
    await cecilie.user.send_image(cecilie.room_id)
    await cecilie.expect(fragment("input.media"))
    assert not any("tiny.png" in (m.body or "") for p in (astrid, bjarne) for m in p.from_bot())

    # Matrix's own view of each participant: a clean, decryptable history.
    for person in (astrid, bjarne, cecilie):
        assert not [m for m in person.from_bot() if m.undecryptable]
    assert_no_leaks([astrid, bjarne, cecilie])


@pytest.mark.synapse
async def test_shared_room_is_left_with_an_explanation(synapse: SynapseServer, bot: BotUnderTest, people,
                                                       tmp_path: Path) -> None:
    dagny, = await people("Dagny Fjellstue", encrypted=False)
    erling = await Participant.create(synapse, tmp_path, "Erling Tvedtheim", bot.user_id)
    try:
        # An unencrypted DM works as well.
        await dagny.say("!start")
        welcome = await dagny.expect(t("onboarding.welcome", bot_name="Café")[:30])
        assert dagny.user.raw_event(welcome.event_id)["type"] == "m.room.message"

        shared = await dagny.user.create_room([bot.user_id, erling.user_id], encrypted=True)
        await dagny.user.wait_for_membership(shared, bot.user_id, "leave", timeout=30)
        said = dagny.from_bot(shared)
        assert [m.body for m in said] == [t("matrix.shared_room")]
        await dagny.user.send_text(shared, "!start")              # nobody answers here any more
        await asyncio.sleep(1.0)
        assert len(dagny.from_bot(shared)) == 1
        assert shared not in bot.transport.client.rooms
        erling.room_id = shared
        assert_no_leaks([dagny, erling])
    finally:
        await erling.close()


@pytest.mark.synapse
async def test_leaving_blocks_and_a_new_dm_gets_everything(bot: BotUnderTest, people) -> None:
    frida, gunnar = await people("Frida Lauvstad", "Gunnar Haugsrud")
    await gather(frida.onboard("Aspen"), gunnar.onboard("Hazel"))
    await gunnar.say("!new Sleep\nHow do you sleep?")
    await gunnar.expect("Posted as")
    await frida.expect(_is_post("How do you sleep?"))

    old_room = frida.room_id
    await frida.user.leave(old_room)
    await frida.user.wait_for(lambda: not bot.account(frida.user_id)["reachable"], 20, "frida blocked")
    await gunnar.say("Badly, since spring")                        # held for frida while she is away
    await gunnar.expect("Posted as")

    frida.room_id = await frida.user.open_encrypted_dm(bot.user_id, timeout=30)
    await frida.say("!me")
    await frida.expect("Aspen")
    held = await frida.expect(_is_post("Badly, since spring"))
    assert held.room_id == frida.room_id != old_room
    account = bot.account(frida.user_id)
    assert account["reachable"] and account["address"] == frida.room_id
    assert_no_leaks([frida, gunnar])


@pytest.mark.synapse
async def test_restart_handles_missed_messages_exactly_once(synapse: SynapseServer, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # A small timeline limit: what was missed comes in a gappy timeline, filled from /messages.
    monkeypatch.setitem(matrix_inbound.SYNC_FILTER["room"]["timeline"], "limit", 2)
    bot = BotUnderTest(synapse, tmp_path)
    await bot.start()
    helga = await Participant.create(synapse, tmp_path, "Helga Brekkestad", bot.user_id)
    ivar = await Participant.create(synapse, tmp_path, "Ivar Sundsbakken", bot.user_id)
    try:
        await gather(helga.open_dm(), ivar.open_dm())
        await gather(helga.onboard("Juniper"), ivar.onboard("Linden"))
        await helga.say("!new Mornings\nCoffee first")
        await helga.expect("Posted as")
        await ivar.expect(_is_post("Coffee first"))
        device = bot.transport.device_id
        await bot.stop()
        before_down = (bot.store_path / "sync.json").read_text()

        # While the bot is down: a post, a command and a reply (more than one sync batch's worth).
        await helga.say("Written while the bot was away")
        await ivar.say("!threads")
        for _ in range(3):
            await ivar.say("!help edit")

        rt = await bot.start()
        assert bot.transport.device_id == device                    # one device for life
        await helga.expect("Posted as")
        await ivar.expect(_is_post("Written while the bot was away"))   # decrypted after the restart
        await ivar.expect("Mornings")
        for _ in range(3):
            await ivar.expect(t("help.cmd.edit")[:20])
        await asyncio.sleep(1.0)
        assert rt.app.handled == 5 and bot.transport.backfilled > 0
        assert len([m for m in ivar.from_bot() if "Written while" in (m.body or "")]) == 1
        assert len([m for m in helga.from_bot() if (m.body or "").startswith("Posted as")]) == 2
        await bot.stop()

        # A crash before the sync token was saved: the batch comes again, nothing is handled twice.
        (bot.store_path / "sync.json").write_text(before_down)
        rt = await bot.start()
        await asyncio.sleep(2.0)
        assert rt.app.handled == 0
        assert len([m for m in helga.from_bot() if (m.body or "").startswith("Posted as")]) == 2
        await bot.stop()

        # A brand-new device (fresh store, fresh database) does not replay history.
        fresh = tmp_path / "fresh-store"
        rt = await bot.start(store_path=fresh, db_url=f"sqlite:///{tmp_path / 'fresh.db'}")
        assert bot.transport.device_id != device
        await asyncio.sleep(2.0)
        assert rt.app.handled == 0
        assert_no_leaks([helga, ivar])
        assert_logs_clean(caplog, "Written while", "Coffee first", "Juniper")
    finally:
        await bot.stop()
        await gather(helga.close(), ivar.close())
        shutil.rmtree(tmp_path / "fresh-store", ignore_errors=True)


@pytest.mark.synapse
async def test_transport_errors_map_to_the_port(synapse: SynapseServer, bot: BotUnderTest, people) -> None:
    kari, = await people("Kari Vindheim")
    transport = bot.transport
    sent = await transport.send(kari.room_id, Rendered(text="hello"))
    assert sent.startswith("$") and kari.room_id not in sent     # the room is only a keyed tag
    await kari.user.wait_for_message(kari.room_id, lambda m: m.event_id == sent.partition("|")[0])
    await transport.delete(kari.room_id, sent)
    with pytest.raises(MessageGone):
        await transport.delete(kari.room_id, sent)                 # already redacted
    with pytest.raises(MessageGone):
        await transport.edit(kari.room_id, sent, Rendered(text="x"))
    with pytest.raises(MessageGone):
        await transport.delete(kari.room_id, "$doesnotexist:localhost")
    other = await kari.user.create_room([], encrypted=False)
    with pytest.raises(Unreachable):                               # a room the bot is not in
        await transport.send(other, Rendered(text="x"))

    # A document goes out as an encrypted m.file attachment.
    doc_id = await transport.send(kari.room_id, Rendered(text="", document=("mydata.json", b'{"a": 1}')))
    doc = await kari.user.wait_for_message(kari.room_id, lambda m: m.event_id == doc_id.partition("|")[0])
    assert doc.msgtype == "m.file" and doc.content["file"]["url"].startswith("mxc://")
    assert "url" not in doc.content

    # Synapse's rate limit becomes RetryAfter (the outbox delays only this room).
    _, admin_token, _ = await synapse.aregister_user(f"admin{kari.localpart}", "pw-admin", admin=True)
    await asyncio.to_thread(synapse.override_ratelimit, bot.user_id, admin_token, 1, 1)
    try:
        with pytest.raises(RetryAfter) as limited:
            for i in range(10):
                await transport.send(kari.room_id, Rendered(text=f"burst {i}"))
        assert 0 < limited.value.seconds < 30
    finally:
        await asyncio.to_thread(synapse.override_ratelimit, bot.user_id, admin_token, 0, 0)
    assert_no_leaks([kari])


@pytest.mark.synapse
async def test_undecryptable_event_waits_for_its_key_across_a_restart(
        synapse: SynapseServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    bot = BotUnderTest(synapse, tmp_path)
    await bot.start()
    lise = await Participant.create(synapse, tmp_path, "Lise Kvernmo", bot.user_id)
    try:
        await lise.open_dm()
        await lise.say("!start")
        await lise.expect(t("onboarding.welcome", bot_name="Café")[:30])
        await lise.expect("House rules")
        answers = len(lise.from_bot())

        event_id, deliver_key = await send_with_late_key(lise, "!help edit")
        await lise.user.wait_for(lambda: bot.transport.state.pending, 20, "the event to wait for its key")
        assert bot.transport.state.pending[0]["event"]["event_id"] == event_id
        assert any("could not be decrypted yet" in r.getMessage() for r in caplog.records)
        await asyncio.sleep(1.0)
        assert len(lise.from_bot()) == answers                     # nothing handled without the key
        await bot.stop()
        assert event_id not in (bot.store_path / "sync.json").read_text()      # sealed (issue 8.8a)
        bot.transport.state.load()
        assert bot.transport.state.pending[0]["event"]["event_id"] == event_id

        await deliver_key()                                        # arrives while the bot is down
        rt = await bot.start()
        await lise.expect(t("help.cmd.edit")[:20])
        assert not bot.transport.state.pending and rt.app.handled == 1
        assert_no_leaks([lise])
        assert_logs_clean(caplog, "!help edit")
    finally:
        await bot.stop()
        await lise.close()


@pytest.mark.synapse
async def test_invites_only_from_allowed_homeservers(synapse: SynapseServer, tmp_path: Path) -> None:
    bot = BotUnderTest(synapse, tmp_path, allowed_homeservers=["example.org"])
    await bot.start()
    mona = await Participant.create(synapse, tmp_path, "Mona Rypdal", bot.user_id)
    try:
        room = await mona.user.create_room([bot.user_id], is_direct=True, encrypted=True)
        await mona.user.wait_for_membership(room, bot.user_id, "leave", timeout=30)
        assert not mona.from_bot(room)
        assert_no_leaks([mona])
    finally:
        await bot.stop()
        await mona.close()
