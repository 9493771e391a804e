"""Child process for the crash test: accepts messages, then hangs so the parent can kill it.

mode "queued":    outbox rows are committed, the worker never runs.
mode "in-flight": the worker has claimed a row and is inside the platform call.
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

    async def start(self, dispatch) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, address, message) -> str:
        print("SENDING", flush=True)
        await asyncio.sleep(3600)
        return "never"

    async def edit(self, address, message_id, message) -> None: ...

    async def delete(self, address, message_id) -> None: ...


async def main(url: str, mode: str) -> None:
    rt = build_runtime(test_config(url), DATA_KEY, {"memory": HangingTransport()}, clock=SystemClock())
    for line in ("/start", "/help"):
        user = PlatformUser(platform="memory", user_id="ann", address="ann")
        await rt.app.handle(IncomingEvent(user=user, kind=Kind.TEXT, text=line))
    print("ACCEPTED", flush=True)
    if mode == "in-flight":
        await rt.worker.process_due()
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
