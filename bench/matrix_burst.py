"""Matrix burst benchmark on a real (loopback) Synapse (issue 16).

N new participants (nio clients, 50 by default) open end-to-end encrypted DMs with a freshly
started bot at about the same time and each sends ``!start`` within a few seconds. Every
first message must be answered (the welcome), none may need the "please send it again"
request; prints the median and maximum answer time, how many one-time keys were claimed,
and the bot's undecryptable-event counters. The CI test
(tests/test_matrix_recovery.py) runs the same with 10 participants.

Run: .venv/bin/python -m bench.matrix_burst [--members 50]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tests.fakes.synapse_server import SynapseServer
from tests.matrix_support import BotUnderTest, Participant, gather, t


async def run(members: int, workdir: Path) -> int:
    server = SynapseServer(workdir / "synapse")
    await asyncio.to_thread(server.start)
    bot = BotUnderTest(server, workdir / "bot")
    (workdir / "bot").mkdir()
    crowd: list[Participant] = []
    try:
        await bot.start()
        crowd = await gather(*(Participant.create(server, workdir, f"Burst{i} Person", bot.user_id)
                               for i in range(members)))
        opened = time.monotonic()
        await gather(*(p.open_dm() for p in crowd))
        print(f"{members} encrypted DMs opened in {time.monotonic() - opened:.1f}s")

        async def first_message(p: Participant) -> float:
            start = time.monotonic()
            await p.say("!start")
            await p.expect(t("onboarding.welcome", bot_name="Café")[:30], timeout=300)
            return time.monotonic() - start

        times = await gather(*(first_message(p) for p in crowd))
        resend = t("matrix.undecryptable")[:30]
        asked = sum(1 for p in crowd for m in p.from_bot() if (m.body or "").startswith(resend))
        print(f"answered {len(times)}/{members} first messages: median {statistics.median(times):.2f}s, "
              f"max {max(times):.2f}s, asked to resend {asked}")
        print(f"bot undecryptable counters: {bot.transport.decryption_counts()}")
        return 0 if len(times) == members and asked == 0 else 1
    finally:
        await gather(*(p.close() for p in crowd))
        await bot.stop()
        await asyncio.to_thread(server.stop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="peerhaven-burst-") as tmp:
        return asyncio.run(run(args.members, Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
