"""Child process for the crash test: accepts messages, then hangs so the parent can kill it.

mode "queued":    outbox rows are committed, nothing is sent (the rows a handler claims for
                  its own answers stay claimed, as if the process died before the send).
mode "in-flight": a row is claimed and inside the platform call.
"""
from __future__ import annotations

import asyncio
import sys

from bot.clock import SystemClock
from bot.events import IncomingEvent, Kind, PlatformUser
from bot.lifecycle import build_runtime
from tests.conftest import DATA_KEY, test_config


class HangingTransport:
    name = "memory"
    calls = 0

    async def start(self, dispatch) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, address, message) -> str:
        self.calls += 1
        await asyncio.sleep(3600)
        return "never"

    async def edit(self, address, message_id, message) -> None: ...

    async def delete(self, address, message_id) -> None: ...


async def main(url: str, mode: str) -> None:
    transport = HangingTransport()
    rt = build_runtime(test_config(url), DATA_KEY, {"memory": transport}, clock=SystemClock())
    if mode == "queued":
        rt.worker.start_prepared = lambda runs: None     # the answers stay queued: no send at all
    for line in ("/start", "/help"):
        user = PlatformUser(platform="memory", user_id="ann", address="ann")
        await rt.app.handle(IncomingEvent(user=user, kind=Kind.TEXT, text=line))
    print("ACCEPTED", flush=True)
    if mode == "in-flight":
        # The handler sends its own answers (bot.app): the first is inside the platform call
        # now, the rest wait behind it; the worker has nothing else to claim.
        asyncio.ensure_future(rt.worker.process_due())
        while transport.calls == 0:
            await asyncio.sleep(0.01)
        print("SENDING", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
