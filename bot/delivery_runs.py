"""Sending one batch of the outbox: each recipient's run of messages one after another, the
recipients concurrently, and the outcomes handed to the recorder as they come in."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Awaitable, Callable

from bot.events import Rendered
from bot.transports.base import (
    MessageGone, PermanentError, RetryAfter, SendError, Transport, TransientError, Unreachable,
)
from storage.repo import DIRECT, Claimed

log = logging.getLogger("bot.delivery")
# Outcomes after which a recipient's next message must wait: the row is still unfinished.
ENDS_RUN = ("rate", "unreachable", "retry")


@dataclass
class Job:
    item: Claimed
    platform: str
    address: str
    rendered: Rendered | None
    target: str | None          # platform message id to edit or delete
    prepared_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass
class Outcome:
    job: Job
    status: str                 # sent | rate | unreachable | gone | refused | retry | back (not tried)
    message_id: str | None = None
    delay: float = 0.0
    error: str = ""


async def send_runs(runs: list[list[Job]], send: Callable[[Job], Awaitable[Outcome]],
                    record: Callable[[list[Outcome]], Awaitable[None]], concurrency: int) -> None:
    """Send each run in order (a failure ends it: the rest comes back as 'back', not tried)
    and record outcomes as they come in, not once per batch: after a crash, every copy the
    platform confirmed must already be recorded, or it would be sent again. Whatever has
    arrived when the recorder gets its turn is one record, so a run of quick sends (a page
    of ``read``) costs one transaction and slow sends are recorded one by one.

    ``concurrency`` senders take the runs in turn, and each lets the loop run between two
    runs. A send that completes without waiting (the console, a platform answering from
    its buffer) would otherwise hand the loop a whole batch in one go: one task per run
    made 300 sends in one loop iteration, 30-70 ms in which no update was read and no
    timer fired (bench.scale's heartbeat). Now an iteration holds at most ``concurrency``
    runs (a fan-out's runs are one message each)."""
    waiting = deque(runs)
    arrived: list[Outcome] = []
    signal = asyncio.Event()

    async def sender() -> None:
        try:
            while waiting:
                run = waiting.popleft()
                for index, job in enumerate(run):
                    outcome = await send(job)
                    arrived.append(outcome)
                    signal.set()
                    if outcome.status in ENDS_RUN:      # what follows waits for this one
                        arrived.extend(Outcome(later, "back") for later in run[index + 1:])
                        break
                # the loop's turn between runs, not within one: a run (a page of ``read``)
                # is a few messages to one person and stays one record
                await asyncio.sleep(0)
        finally:
            signal.set()

    tasks = [asyncio.ensure_future(sender()) for _ in range(min(concurrency, len(runs)))]
    while True:
        if arrived:
            outcomes = arrived[:]
            arrived.clear()
            await record(outcomes)
            continue
        if all(task.done() for task in tasks):
            break
        signal.clear()
        await signal.wait()
    for task in tasks:
        task.result()


async def send_one(transports: dict[str, Transport], job: Job) -> Outcome:
    transport = transports.get(job.platform)
    if transport is None:
        return Outcome(job, "rate", delay=60.0, error="transport-offline")
    item = job.item
    rendered = job.rendered
    if rendered is not None and item.op == "send" and item.lane == DIRECT:
        rendered = replace(rendered, urgent=True)
    try:
        if item.op == "send":
            return Outcome(job, "sent", message_id=await transport.send(job.address, rendered))
        if item.op == "edit":
            await transport.edit(job.address, job.target, rendered)
        else:
            await transport.delete(job.address, job.target)
        return Outcome(job, "sent")
    except RetryAfter as exc:
        return Outcome(job, "rate", delay=exc.seconds, error="rate-limited")
    except Unreachable:
        return Outcome(job, "unreachable")
    except MessageGone:
        return Outcome(job, "gone")
    except PermanentError as exc:
        return Outcome(job, "refused", error=f"refused:{str(exc)[:50]}")
    except (TransientError, SendError, OSError, asyncio.TimeoutError) as exc:
        return Outcome(job, "retry", error=exc.__class__.__name__)
    except Exception as exc:   # a transport bug: keep the row and retry later
        log.exception("transport %s failed unexpectedly", job.platform)
        return Outcome(job, "retry", error=exc.__class__.__name__)
