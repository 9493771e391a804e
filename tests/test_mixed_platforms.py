"""One group, two platforms: a Telegram participant (through the test Bot API server) and two
Matrix participants (nio clients in encrypted DMs on a real Synapse) talk in one thread."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.config import MatrixSection
from bot.lifecycle import build_runtime
from bot.transports.matrix import MatrixTransport
from bot.transports.telegram import TelegramTransport
from tests.conftest import DATA_KEY
from tests.fakes.botapi_server import FakeBotApi
from tests.fakes.synapse_server import synapse_session
from tests.matrix_support import BotUnderTest, Participant, assert_no_leaks, gather
from tests.telegram_support import TOKEN, Person, TgWorld, telegram_config

pytestmark = pytest.mark.synapse


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory):
    with synapse_session(tmp_path_factory.mktemp("synapse-mixed")) as server:
        yield server


async def test_telegram_and_matrix_members_share_a_thread(synapse, tmp_path: Path) -> None:
    matrix_bot = BotUnderTest(synapse, tmp_path)      # registers the bot account on Synapse
    await matrix_bot.register()
    async with FakeBotApi(TOKEN, per_chat_per_second=50, global_per_second=1000) as server:
        config = telegram_config(f"sqlite:///{tmp_path / 'bot.db'}")
        config.matrix = MatrixSection(enabled=True, homeserver=synapse.base_url, user_id=matrix_bot.user_id,
                                      password=matrix_bot.password, store_path=str(tmp_path / "mx-store"))
        telegram = TelegramTransport(TOKEN, base_url=server.base_url, poll_timeout=1,
                                     messages_per_second=500, per_chat_interval=0.03)
        matrix = MatrixTransport.from_config(config.matrix, env={}, sync_timeout_ms=5_000)
        rt = build_runtime(config, DATA_KEY, {"telegram": telegram, "matrix": matrix}, clock=SystemClock())
        world = TgWorld(server, telegram, rt)
        await rt.start(scheduler=False)
        mx: list[Participant] = []
        try:
            tg = world.add(Person(uid=70111222, first="Tuva", last="Telegramsen", username="tuva_tg"))
            for display in ("Mari Matrixdottir", "Nils Nioson"):
                p = await Participant.create(synapse, tmp_path, display, matrix_bot.user_id)
                await p.open_dm()
                mx.append(p)
            await world.onboard(tg.uid, "Heather")
            await gather(mx[0].onboard("Fern"), mx[1].onboard("Moss"))

            await world.say(tg.uid, "/new Mixed company\nHello from Telegram")
            for p in mx:
                await p.expect("#1 Mixed company · p1 · Heather\nHello from Telegram")
            await mx[0].say("Hello from Matrix", reply_to=[
                m.event_id for m in mx[0].from_bot() if "· p1 ·" in (m.body or "")][0])
            await mx[1].expect("· p2 · Fern\n↪ replying to p1 (Heather)\nHello from Matrix")
            await world.server.wait_for(
                lambda: any("· p2 · Fern" in (m.text or "") for m in world.bot_messages(tg.uid)), 20)
            await mx[1].say("!reply 1 And from another Matrix member")
            await mx[0].expect("· p3 · Moss\nAnd from another Matrix member")
            await world.server.wait_for(
                lambda: any("· p3 · Moss" in (m.text or "") for m in world.bot_messages(tg.uid)), 20)

            # Nobody on either platform ever received anyone else's platform identity.
            world.assert_no_leaks()
            assert_no_leaks(mx)
            tg_seen = "\n".join(m.text or "" for m in world.bot_messages(tg.uid))
            for p in mx:
                assert all(name not in tg_seen for name in p.names())
            for p in mx:
                seen = "\n".join(m.body or "" for m in p.from_bot())
                assert all(ident not in seen for ident in tg.identifiers())
        finally:
            for p in mx:
                await p.close()
            await rt.stop()
