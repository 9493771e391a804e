"""Child process for the several-processes test: one OutboxWorker draining a shared outbox,
with an in-memory transport that records when it sent what.

Usage: python -m tests.drain_child URL TAG GO_FILE OUT_FILE
Prints READY once built, drains when GO_FILE exists, writes its record to OUT_FILE."""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from bot.clock import SystemClock
from bot.lifecycle import build_runtime
from bot.transports.base import MemoryTransport
from tests.conftest import DATA_KEY, test_config


class Recording(MemoryTransport):
    """Keeps (wall-clock ns, address, text) of every send: the clock is shared by the
    processes of one machine, so their records can be merged in the order things were sent."""

    def __init__(self, tag: str) -> None:
        super().__init__("memory", id_prefix=f"{tag}-")
        self.record: list[tuple[int, str, str]] = []

    async def send(self, address, message):  # type: ignore[no-untyped-def]
        message_id = await super().send(address, message)
        self.record.append((time.time_ns(), address, message.text))
        return message_id


def main(url: str, tag: str, go: str, out: str) -> None:
    transport = Recording(tag)
    rt = build_runtime(test_config(url), DATA_KEY, {"memory": transport}, clock=SystemClock())
    rt.worker.recover()
    print("READY", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)
    started = time.perf_counter()
    asyncio.run(rt.worker.drain())
    seconds = time.perf_counter() - started
    rt.worker.release()
    Path(out).write_text(json.dumps({"sent": transport.record, "seconds": seconds}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
