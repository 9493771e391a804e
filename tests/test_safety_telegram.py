"""Safety on Telegram, against the test Bot API server: the disclosure question with its three
buttons (send anyway / edit / cancel), and a crisis post's answer, alert and hold."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from bot.clock import SystemClock
from bot.lifecycle import build_runtime
from bot.transports.telegram import TelegramTransport
from tests.conftest import DATA_KEY
from tests.fakes.botapi_server import FakeBotApi
from tests.telegram_support import TOKEN, Person, TgWorld, t, telegram_config

ANN = Person(731000401, "Solvei", "Brattmark", "solvei_tg")
BEN = Person(731000402, "Bertrand", "Oakhollow", "bertrand_tg")
LIL = Person(731000403, "Lillian", "Moderata", "lillian_consultant")
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2.*retry_after:DeprecationWarning")
PHONE = "Ring me on 912 34 567 if you want to talk"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN, per_chat_per_second=50, global_per_second=1000) as s:
        yield s


async def start(server: FakeBotApi, tmp_path: Path, **safety) -> TgWorld:  # type: ignore[no-untyped-def]
    transport = TelegramTransport(TOKEN, base_url=server.base_url, poll_timeout=1,
                                  messages_per_second=500, per_chat_interval=0.03)
    config = telegram_config(f"sqlite:///{tmp_path / 'bot.db'}")
    config.groups[0] = config.groups[0].model_copy(update={"consultants": [f"telegram:{LIL.uid}"]})
    for key, value in safety.items():
        setattr(config.safety, key, value)
    rt = build_runtime(config, DATA_KEY, {"telegram": transport}, clock=SystemClock())
    w = TgWorld(server, transport, rt)
    await rt.start(scheduler=False)
    for person, pseudonym in ((ANN, "Birch"), (BEN, "Rowan"), (LIL, "Lillian")):
        w.add(person)
        await w.onboard(person.uid, pseudonym)
    await w.say(ANN.uid, "/new Evenings\nHello all")
    return w


def question(w: TgWorld):  # type: ignore[no-untyped-def]
    found = w.find(ANN.uid, "912 34 567")
    labels = [b["text"] for b in found.reply_markup["inline_keyboard"][0]]
    assert labels == [t("safety.btn_anyway"), t("safety.btn_fix"), t("safety.btn_cancel")]
    return found, {b["text"]: b["callback_data"] for b in found.reply_markup["inline_keyboard"][0]}


def ben_posts(w: TgWorld) -> list[str]:
    return [m.text or "" for m in w.bot_messages(BEN.uid) if " · p" in (m.text or "").split("\n")[0]]


async def test_disclosure_question_and_its_three_buttons(server: FakeBotApi, tmp_path: Path) -> None:
    w = await start(server, tmp_path)
    try:
        await w.say(ANN.uid, PHONE)
        message, buttons = question(w)
        assert not any("912" in p for p in ben_posts(w)) and not any("912" in x for x in w.texts(LIL.uid))
        await w.press(ANN.uid, message.message_id, buttons[t("safety.btn_cancel")])
        assert not any("912" in p for p in ben_posts(w))
        await w.say(ANN.uid, PHONE)
        message, buttons = question(w)
        await w.press(ANN.uid, message.message_id, buttons[t("safety.btn_fix")])
        await w.say(ANN.uid, "Write to me here if you want to talk")
        assert any("Write to me here" in p for p in ben_posts(w)) and not any("912" in p for p in ben_posts(w))
        await w.say(ANN.uid, PHONE)
        message, buttons = question(w)
        await w.press(ANN.uid, message.message_id, buttons[t("safety.btn_anyway")])
        assert any("912 34 567" in p for p in ben_posts(w))
        # the author's own Telegram surname is asked about, and nobody else is shown it
        await w.say(ANN.uid, "greetings from the Brattmark family")
        assert "Brattmark" in w.texts(ANN.uid)[-1] and not any("Brattmark" in p for p in ben_posts(w))
        await w.say(ANN.uid, "/cancel")
    finally:
        await w.rt.stop()
    w.assert_no_leaks()


async def test_crisis_answer_comes_first_and_hold_keeps_it_from_the_group(server: FakeBotApi, tmp_path: Path) -> None:
    w = await start(server, tmp_path, crisis_action="hold")
    try:
        before = len(ben_posts(w))
        await w.say(ANN.uid, "I can't do this anymore, I want to kill myself tonight")
        answer = w.find(ANN.uid, "116 123")
        assert "waits with the consultant" in answer.text
        alert = [m for m in w.bot_messages(LIL.uid) if m.reply_markup and "/open" in str(m.reply_markup)]
        assert len(alert) == 1
        assert len(ben_posts(w)) == before
        opener = next(b["callback_data"] for row in alert[0].reply_markup["inline_keyboard"] for b in row
                      if b["callback_data"].startswith("/open"))
        await w.press(LIL.uid, alert[0].message_id, opener)
        assert any("kill myself" in x for x in w.texts(LIL.uid))
    finally:
        await w.rt.stop()
    w.assert_no_leaks()


async def test_crisis_answer_arrives_before_the_fan_out(server: FakeBotApi, tmp_path: Path) -> None:
    w = await start(server, tmp_path)
    try:
        await w.say(ANN.uid, "jeg orker ikke mer, jeg vil ta livet mitt")
        answer = w.find(ANN.uid, "116 123")
        assert any("ta livet mitt" in (m.text or "") for m in w.bot_messages(BEN.uid))
        sends = [r for r in w.server.requests if r["method"].lower() == "sendmessage"]
        order = [str(r["params"].get("chat_id")) for r in sends if "116 123" in str(r["params"].get("text"))
                 or "ta livet mitt" in str(r["params"].get("text"))]
        assert order[0] == str(ANN.uid), order
        assert any(m.reply_markup and "/open" in str(m.reply_markup) for m in w.bot_messages(LIL.uid))
    finally:
        await w.rt.stop()
    w.assert_no_leaks()


async def test_a_title_and_an_edited_waiting_message_are_asked_about_on_telegram(server: FakeBotApi, tmp_path: Path) -> None:
    """/new with a phone number in the title waits like a post; editing the waiting message in
    Telegram is the correction, checked again before anyone sees it."""
    w = await start(server, tmp_path)
    try:
        await w.say(ANN.uid, "/new Ring 912 34 567\nHar noen lyst å prate?")
        message, buttons = question(w)
        await w.say(BEN.uid, "/threads")
        assert "912" not in w.texts(BEN.uid)[-1]
        await w.press(ANN.uid, message.message_id, buttons[t("safety.btn_anyway")])
        await w.say(BEN.uid, "/threads")
        assert "Ring 912 34 567" in w.texts(BEN.uid)[-1]
        sent = await w.say(ANN.uid, PHONE)
        assert "912 34 567" in w.texts(ANN.uid)[-1]
        server.user_edits(ANN.uid, sent["message_id"], "Write to me here in the thread instead")
        await w.settle()
        assert any("Write to me here" in p for p in ben_posts(w))
        assert not any("912 34 567" in p and "Ring me" in p for p in ben_posts(w))
    finally:
        await w.rt.stop()
    w.assert_no_leaks()
