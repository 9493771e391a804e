"""Tests of the fake Bot API server, driven by a real python-telegram-bot 22 ``Bot``."""
from __future__ import annotations

import asyncio
import datetime as dtm
import html
import time
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from telegram import (Bot, BotCommand, BotCommandScopeAllPrivateChats, InlineKeyboardButton,
                      InlineKeyboardMarkup, ReplyParameters, Update)
from telegram.error import (BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter,
                            TelegramError, TimedOut)
from telegram.ext import Application, CommandHandler, ContextTypes

from tests.fakes.botapi_server import FakeBotApi

TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxy"
ALICE, BOB, CAROL, DAVE = 1001, 1002, 1003, 1004
GROUP = -500


class ManualClock:
    """Deterministic clock for the flood-limit buckets: tests advance it explicitly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def seconds(retry_after: int | dtm.timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else float(retry_after)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest_asyncio.fixture
async def server(clock: ManualClock) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN, clock=clock) as srv:
        srv.add_user(ALICE, "Alice", username="alice")
        srv.add_user(BOB, "Bob", language_code="de")
        yield srv


@pytest_asyncio.fixture
async def bot(server: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.file_base_url) as b:
        yield b


@pytest.mark.asyncio
async def test_get_me_and_token_check(server: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "peerhaven_bot" and me.id == 123456
    with pytest.raises(InvalidToken):  # well-formed but wrong token: 401 Unauthorized
        async with Bot("123456:wrong-token", base_url=server.base_url):  # initialize() calls getMe
            pass
    assert server.requests[-1]["status"] == 401
    assert await bot.log_out() is True and await bot.close() is True


@pytest.mark.asyncio
async def test_get_and_json_requests(server: FakeBotApi) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.base_url}{TOKEN}/getMe") as r:
            assert (await r.json())["result"]["username"] == "peerhaven_bot"
        async with http.post(f"{server.base_url}{TOKEN}/sendMessage",
                             json={"chat_id": ALICE, "text": "<i>hi</i>", "parse_mode": "HTML"}) as r:
            body = await r.json()
        assert body["ok"] and body["result"]["entities"] == [{"type": "italic", "offset": 0, "length": 2}]
        async with http.get(f"{server.base_url}{TOKEN}/noSuchMethod") as r:
            assert r.status == 404 and (await r.json())["description"] == "Not Found"


@pytest.mark.asyncio
async def test_html_escaping_and_entities(server: FakeBotApi, bot: Bot, clock: ManualClock) -> None:
    typed = 'Use <b> & "quotes" > here'
    msg = await bot.send_message(ALICE, html.escape(typed), parse_mode="HTML")
    assert msg.text == typed and msg.entities == ()
    assert server.messages(ALICE)[-1].text == typed
    assert server.messages(ALICE)[-1].raw["text"] == html.escape(typed)

    clock.advance(1)
    msg = await bot.send_message(ALICE, "😀 <b>bold <i>both</i></b> <a href='https://x.org'>link</a>",
                                 parse_mode="HTML")
    assert msg.text == "😀 bold both link"
    ents = [(e.type, e.offset, e.length) for e in msg.entities]
    assert ents == [("bold", 3, 9), ("italic", 8, 4), ("text_link", 13, 4)]  # UTF-16 offsets
    assert msg.entities[2].url == "https://x.org"

    for bad_html in ["<b>unclosed", "<foo>x</foo>", "a & b", "<b><i>x</b></i>", "<span>x</span>"]:
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(ALICE, bad_html, parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(ALICE, "  <b></b> ", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(ALICE, "<b>" + "x" * 4097 + "</b>", parse_mode="HTML")
    # 4096 characters after entity parsing is fine even if the HTML source is longer.
    clock.advance(1)
    assert len((await bot.send_message(ALICE, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")).text) == 4096


@pytest.mark.asyncio
async def test_auto_detected_entities_and_pre_language(bot: Bot) -> None:
    msg = await bot.send_message(ALICE, "See https://example.org/a and /help, ask @support_team #faq")
    assert [e.type for e in msg.entities] == ["url", "bot_command", "mention", "hashtag"]
    msg = await bot.send_message(BOB, '<pre><code class="language-python">x = 1</code></pre>', parse_mode="HTML")
    assert [(e.type, e.language) for e in msg.entities] == [("pre", "python")]


@pytest.mark.asyncio
async def test_reply_and_message_ids(server: FakeBotApi, bot: Bot) -> None:
    question = server.user_sends(ALICE, "question?")
    msg = await bot.send_message(ALICE, "answer", reply_parameters=ReplyParameters(question["message_id"]))
    assert msg.message_id == question["message_id"] + 1
    assert msg.reply_to_message.text == "question?" and msg.chat.type == "private"
    assert msg.from_user.id == 123456 and msg.chat.first_name == "Alice"
    with pytest.raises(BadRequest, match="(?i)message to be replied not found"):
        await bot.send_message(BOB, "x", reply_to_message_id=999)


@pytest.mark.asyncio
async def test_edit_and_delete(server: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
    msg = await bot.send_message(ALICE, "draft", reply_markup=keyboard)
    assert server.messages(ALICE)[0].reply_markup == keyboard.to_dict()
    edited = await bot.edit_message_text("final <b>text</b>", ALICE, msg.message_id, parse_mode="HTML",
                                         reply_markup=keyboard)
    assert edited.text == "final text" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("final <b>text</b>", ALICE, msg.message_id, parse_mode="HTML",
                                    reply_markup=keyboard)
    await bot.edit_message_text("final text", ALICE, msg.message_id)  # drops bold and the keyboard
    [stored] = server.messages(ALICE)
    assert stored.text == "final text" and stored.entities == [] and stored.reply_markup is None
    assert [h["text"] for h in stored.history] == ["draft", "final text"]

    assert await bot.delete_message(ALICE, msg.message_id) is True
    assert server.messages(ALICE) == []
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await bot.delete_message(ALICE, msg.message_id)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("again", ALICE, msg.message_id)
    user_msg = server.user_sends(ALICE, "mine")
    with pytest.raises(BadRequest, match="(?i)message can't be edited"):
        await bot.edit_message_text("hacked", ALICE, user_msg["message_id"])


@pytest.mark.asyncio
async def test_get_updates_offsets_and_long_poll(server: FakeBotApi, bot: Bot) -> None:
    server.user_sends(ALICE, "/start")
    server.user_sends(ALICE, "hello")
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first] == ["/start", "hello"]
    assert first[0].message.entities[0].type == "bot_command" and first[0].message.entities[0].length == 6
    assert len(await bot.get_updates(timeout=0)) == 2  # nothing confirmed yet
    rest = await bot.get_updates(offset=first[0].update_id + 1, timeout=0)
    assert [u.message.text for u in rest] == ["hello"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()

    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=rest[-1].update_id + 1, timeout=5))
    await server.wait_for(lambda: server.requests[-1]["method"] == "getUpdates"
                          and server.requests[-1]["status"] == 0 and server.requests[-1]["params"])
    server.user_sends(BOB, "late")
    got = await poll
    assert [u.message.text for u in got] == ["late"] and time.monotonic() - started < 3


@pytest.mark.asyncio
async def test_second_long_poll_terminates_first(server: FakeBotApi, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await server.wait_for(lambda: server.requests[-1]["method"] == "getUpdates" and server.requests[-1]["params"])
    async with Bot(TOKEN, base_url=server.base_url) as second_instance:  # a second bot process
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await first


@pytest.mark.asyncio
async def test_application_polling_end_to_end(server: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        name = html.escape(update.effective_user.first_name)
        await update.effective_message.reply_html(f"Welcome, <b>{name}</b>!")

    app = Application.builder().token(TOKEN).base_url(server.base_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        server.user_sends(ALICE, "/start")
        await server.wait_for(lambda: server.messages(ALICE, from_bot=True))
        await app.updater.stop()
        await app.stop()
    reply = server.messages(ALICE, from_bot=True)[0]
    assert reply.text == "Welcome, Alice!" and reply.entities[0]["type"] == "bold"


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_per_chat_limit_real_time() -> None:
    async with FakeBotApi(TOKEN) as srv, Bot(TOKEN, base_url=srv.base_url) as bot:
        srv.add_user(ALICE, "Alice")
        srv.add_user(BOB, "Bob")
        await bot.send_message(ALICE, "one")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(ALICE, "two")
        wait = seconds(caught.value.retry_after)
        assert wait >= 1 and srv.rejected_429 == 1
        await bot.send_message(BOB, "other chat is not affected")
        await bot.edit_message_text("edits are not counted", ALICE, 1)
        await asyncio.sleep(wait)
        await bot.send_message(ALICE, "two, later")
        times = [r.time for r in srv.sent_log if r.chat_id == ALICE]
        assert len(times) == 2 and times[1] - times[0] >= 1.0
        assert [m.text for m in srv.messages(ALICE)] == ["edits are not counted", "two, later"]


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_global_limit_and_burst(clock: ManualClock) -> None:
    async with FakeBotApi(TOKEN, clock=clock, global_per_second=3, per_chat_burst=2) as srv, \
            Bot(TOKEN, base_url=srv.base_url) as bot:
        for uid in (ALICE, BOB, CAROL, DAVE):
            srv.add_user(uid, f"U{uid}")
        await bot.send_message(ALICE, "a1")
        await bot.send_message(ALICE, "a2")  # burst of 2 per chat
        await bot.send_message(BOB, "b1")
        with pytest.raises(RetryAfter) as caught:  # global bucket (3) is empty
            await bot.send_message(CAROL, "c1")
        assert seconds(caught.value.retry_after) == 1
        clock.advance(1 / 3)
        await bot.send_message(CAROL, "c1")
        with pytest.raises(RetryAfter):
            await bot.send_message(DAVE, "d1")
        assert srv.rejected_429 == 2 and len(srv.sent_log) == 4


@pytest.mark.asyncio
async def test_blocked_user_and_unstarted_user(server: FakeBotApi, bot: Bot) -> None:
    server.user_blocks_bot(ALICE)
    [update] = await bot.get_updates(timeout=0)
    assert update.my_chat_member.new_chat_member.status == "kicked"
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "are you there?")
    with pytest.raises(RuntimeError):
        server.user_sends(ALICE, "cannot write while blocked")
    server.user_unblocks_bot(ALICE)
    assert (await bot.send_message(ALICE, "welcome back")).text == "welcome back"

    server.add_user(CAROL, "Carol", started=False)
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(CAROL, "hi")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(424242, "hi")


@pytest.mark.asyncio
async def test_callback_query_answer_recorded(server: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="vote:yes"),
                                      InlineKeyboardButton("Site", url="https://example.org")]])
    msg = await bot.send_message(ALICE, "Vote?", reply_markup=keyboard)
    query_id = server.user_presses_button(ALICE, msg.message_id, "vote:yes")
    [update] = await bot.get_updates(timeout=0)
    assert update.callback_query.data == "vote:yes" and update.callback_query.message.message_id == msg.message_id
    assert not server.callbacks[query_id].answered
    assert await update.callback_query.answer("Thanks!") is True
    assert server.callbacks[query_id].answered and server.callbacks[query_id].answer["text"] == "Thanks!"
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(KeyError):
        server.user_presses_button(ALICE, msg.message_id, "vote:no")
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(BOB, "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("big", callback_data="x" * 65)]]))


@pytest.mark.asyncio
async def test_set_my_commands_per_language_and_scope(server: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await bot.set_my_commands([BotCommand("start", "Starten")], language_code="de")
    await bot.set_my_commands([BotCommand("leave", "Leave chat")], scope=BotCommandScopeAllPrivateChats())
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.description for c in await bot.get_my_commands(language_code="de")] == ["Starten"]
    assert await bot.get_my_commands(language_code="fr") == ()
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats())] == ["leave"]
    assert server.my_commands("de") == [{"command": "start", "description": "Starten"}]
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad-Command", "nope")])


@pytest.mark.asyncio
async def test_send_document_multipart_and_download(server: FakeBotApi, bot: Bot) -> None:
    msg = await bot.send_document(ALICE, document=b"hello world", filename="notes.txt",
                                  caption="<b>Notes</b> &amp; more", parse_mode="HTML")
    assert msg.document.file_name == "notes.txt" and msg.document.file_size == 11
    assert msg.caption == "Notes & more" and msg.caption_entities[0].type == "bold"
    assert "notes.txt" in server.requests[-1]["params"]["document"]
    file = await bot.get_file(msg.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"hello world"
    with pytest.raises(BadRequest, match="(?i)there is no text in the message to edit"):
        await bot.edit_message_text("x", ALICE, msg.message_id)


@pytest.mark.asyncio
async def test_user_media_forward_and_edit_are_valid_updates(server: FakeBotApi, bot: Bot) -> None:
    for kind in ("photo", "voice", "video", "sticker", "document", "location", "contact"):
        server.user_sends_media(ALICE, kind)
    server.user_forwards(ALICE, "forwarded text")
    server.user_forwards(ALICE, "from bob", origin_user_id=BOB)
    sent = server.user_sends(ALICE, "typo")
    server.user_edits(ALICE, sent["message_id"], "fixed")
    updates = await bot.get_updates(timeout=0)  # PTB parses every one into a real Update object
    msgs = [u.message or u.edited_message for u in updates]
    assert msgs[0].photo and msgs[1].voice and msgs[2].video and msgs[3].sticker
    assert msgs[4].document and msgs[5].location and msgs[6].contact
    assert msgs[7].forward_origin.type == "hidden_user" and msgs[8].forward_origin.sender_user.id == BOB
    assert updates[-1].edited_message.text == "fixed" and updates[-1].edited_message.message_id == sent["message_id"]
    assert server.messages(ALICE)[-1].history == [{"text": "typo", "entities": []}]


@pytest.mark.asyncio
async def test_group_privacy_and_leave(server: FakeBotApi, bot: Bot) -> None:
    server.add_bot_to_group(GROUP, "Peers", by_user_id=ALICE)
    server.user_sends(ALICE, "chatter the bot must not see", chat_id=GROUP)
    server.user_sends(ALICE, "/help", chat_id=GROUP)
    updates = await bot.get_updates(timeout=0)
    assert updates[0].my_chat_member.chat.type == "group" and updates[0].my_chat_member.new_chat_member.status == "member"
    assert updates[1].message.new_chat_members[0].id == 123456
    assert [u.message.text for u in updates[2:]] == ["/help"]
    assert (await bot.get_chat(GROUP)).title == "Peers"
    await bot.send_chat_action(GROUP, "typing")
    await bot.send_message(GROUP, "hello group")
    assert await bot.leave_chat(GROUP) is True
    assert server.left_chats == [GROUP]
    with pytest.raises(Forbidden):
        await bot.send_message(GROUP, "still here?")


@pytest.mark.asyncio
async def test_webhook_mode(server: FakeBotApi, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def receive(request: web.Request) -> web.Response:
        update = await request.json()
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), update))
        if update["message"]["text"] == "ping":  # Telegram accepts a method call as webhook reply
            return web.json_response({"method": "sendMessage", "chat_id": ALICE, "text": "pong"})
        return web.Response()

    receiver = web.AppRunner(web.Application(), handle_signals=False)
    receiver.app.router.add_post("/hook", receive)
    await receiver.setup()
    site = web.TCPSite(receiver, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{receiver.addresses[0][1]}/hook"
        assert await bot.set_webhook(url, secret_token="s3cr3t_token") is True
        server.user_sends(ALICE, "ping")
        await server.wait_for(lambda: server.messages(ALICE, from_bot=True))
        assert received[0][0] == "s3cr3t_token" and received[0][1]["message"]["text"] == "ping"
        assert server.messages(ALICE, from_bot=True)[0].text == "pong"
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)
        await bot.delete_webhook()
        server.user_sends(ALICE, "polling again")
        assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["polling again"]
    finally:
        await receiver.cleanup()


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_fault_injection(server: FakeBotApi, bot: Bot) -> None:
    server.inject_fault("sendMessage", "5xx")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(ALICE, "lost")
    assert server.messages(ALICE) == [] and server.requests[-1]["status"] == 502

    server.inject_fault("sendMessage", "timeout", hold=0)  # connection dropped without an answer
    with pytest.raises(NetworkError):
        await bot.send_message(ALICE, "dropped")
    server.inject_fault("sendMessage", "timeout", hold=5, process=True)  # delivered, answer lost
    with pytest.raises(TimedOut):
        await bot.send_message(ALICE, "delivered but timed out", read_timeout=0.3)
    assert [m.text for m in server.messages(ALICE)] == ["delivered but timed out"]

    server.inject_fault("sendMessage", "429", retry_after=7, chat_id=BOB)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(BOB, "flood")
    assert seconds(caught.value.retry_after) == 7
    server.inject_fault("sendMessage", "403", chat_id=BOB)
    with pytest.raises(Forbidden):
        await bot.send_message(BOB, "blocked?")
    server.inject_fault("editMessageText", "400_gone")
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", ALICE, 1)
    assert isinstance((await bot.send_message(BOB, "faults are used up")).text, str)
    assert issubclass(NetworkError, TelegramError)


@pytest.mark.asyncio
async def test_allowed_updates_filter(server: FakeBotApi, bot: Bot) -> None:
    assert await bot.get_updates(timeout=0, allowed_updates=["message"]) == ()
    msg = await bot.send_message(ALICE, "Pick", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("A", callback_data="a")]]))
    server.user_presses_button(ALICE, msg.message_id, "a")  # callback_query not allowed: never created
    server.user_sends(ALICE, "text")
    assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["text"]


@pytest.mark.asyncio
async def test_unreachable_webhook_keeps_updates_pending(server: FakeBotApi, bot: Bot) -> None:
    runner = web.AppRunner(web.Application())  # find a port nobody listens on
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    dead_port = runner.addresses[0][1]
    await runner.cleanup()
    await bot.set_webhook(f"http://127.0.0.1:{dead_port}/hook")
    server.user_sends(ALICE, "nobody home")
    await server.wait_for(lambda: server.webhook_error)
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1 and info.last_error_message
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == ()


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_strict_limits_sliding_window_and_per_chat_burst(clock: ManualClock) -> None:
    async with FakeBotApi(TOKEN, clock=clock, global_per_second=4, strict_limits=True) as srv, \
            Bot(TOKEN, base_url=srv.base_url) as bot:
        for uid in (ALICE, BOB, CAROL, DAVE):
            srv.add_user(uid, f"U{uid}")
        for text in ("a1", "a2", "a3"):          # a burst of 3 in one chat
            await bot.send_message(ALICE, text)
        with pytest.raises(RetryAfter):          # then one per second
            await bot.send_message(ALICE, "a4")
        clock.advance(0.9)
        await bot.send_message(BOB, "b1")        # the 4th in the window
        clock.advance(0.05)
        with pytest.raises(RetryAfter) as caught:  # a bucket would have refilled; the window has not
            await bot.send_message(CAROL, "c1")
        assert seconds(caught.value.retry_after) == 1
        clock.advance(0.06)                      # the first three left the window
        await bot.send_message(CAROL, "c1")
        assert srv.rejected_429 == 2
