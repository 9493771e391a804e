"""The global limiter never lets a sliding one-second window of the server see more than the
limit, however long requests take, and still sends close to the limit."""
from __future__ import annotations

import asyncio
import random
import time

from bot.transports.telegram_limits import GlobalWindow


async def _send_many(window: GlobalWindow, count: int, latency: float, arrivals: list[float],
                     concurrency: int = 32) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await window.acquire()
            try:
                # the server sees the request somewhere between leaving and the answer
                await asyncio.sleep(random.uniform(0, latency))
                arrivals.append(time.monotonic())
                await asyncio.sleep(random.uniform(0, latency))
            finally:
                window.release()

    await asyncio.gather(*(one() for _ in range(count)))


async def test_no_one_second_window_holds_more_than_the_limit() -> None:
    random.seed(7)
    window = GlobalWindow(30)
    arrivals: list[float] = []
    started = time.monotonic()
    await _send_many(window, 95, latency=0.02, arrivals=arrivals)
    elapsed = time.monotonic() - started
    arrivals.sort()
    worst = max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals)
    assert worst <= 30
    # 95 sends: three full windows plus a few; the limit is not paid for with a big slowdown
    assert elapsed < 3.0 + 4 * 0.05 + 0.5


async def test_priority_waiters_go_first() -> None:
    window = GlobalWindow(1, window=0.05)
    order: list[str] = []
    await window.acquire()

    async def waiter(name: str, priority: bool) -> None:
        await window.acquire(priority=priority)
        order.append(name)
        window.release()

    tasks = [asyncio.create_task(waiter("bulk", False)), asyncio.create_task(waiter("answer", True))]
    await asyncio.sleep(0.01)
    window.release()
    await asyncio.gather(*tasks)
    assert order == ["answer", "bulk"]
