"""A process killed between accepting a message and delivering it loses nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from datetime import datetime, timedelta, timezone

from bot.clock import FakeClock
from sqlalchemy import func, select

from bot.transports.base import MemoryTransport
from storage.models import Delivery, OutboxItem

ROOT = Path(__file__).resolve().parents[1]


def run_child_until(url: str, mode: str, marker: str) -> None:
    child = subprocess.Popen([sys.executable, "-m", "tests.crash_child", url, mode], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if line.strip() == marker:
                break
        else:
            raise AssertionError(f"child ended before {marker}")
    finally:
        os.kill(child.pid, signal.SIGKILL)     # no clean shutdown: a crash
        child.wait(timeout=30)


@pytest.mark.parametrize("mode, marker", [("queued", "ACCEPTED"), ("in-flight", "SENDING")])
async def test_killed_process_delivers_exactly_once_after_restart(make_runtime, db_url: str, mode: str,
                                                                  marker: str) -> None:
    run_child_until(db_url, mode, marker)
    # The child ran on the real clock; the restarted bot continues from "now".
    rt = make_runtime(url=db_url, clock=FakeClock(datetime.now(timezone.utc) + timedelta(seconds=1)))
    rt.worker.recover()
    await rt.worker.drain()
    mem: MemoryTransport = rt.transports["memory"]
    texts = mem.texts("ann")
    # /start gives the welcome and the house rules, /help the overview: each exactly once.
    assert sum(t.startswith("Welcome to") for t in texts) == 1
    assert sum(t.startswith("House rules") for t in texts) == 1
    assert sum(t.startswith("What you can do") for t in texts) == 1
    assert len(texts) == 3
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(OutboxItem)) == 3
        # Direct answers leave no delivery record once sent (issue 8, item 6).
        assert uow.session.scalar(select(func.count()).select_from(Delivery)) == 0
        statuses = set(uow.session.scalars(select(OutboxItem.status)))
    assert statuses == {"done"}
