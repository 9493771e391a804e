"""Telegram fan-out benchmark: the whole bot (outbox worker + TelegramTransport over
python-telegram-bot) against the fake Bot API server running in a separate process.

(a) limits off: Peerhaven's deliveries per second for one post fanned out to N members, against
    a bare PTB loop (``bot.send_message`` for the same N messages, HTML-escaped, with the same
    number of concurrent sends as the outbox worker) in the same run. Target: ratio >= 0.5.
(b) strict limits on (the server enforces 30 messages in any sliding second, and per chat a
    burst of 3 then 1/s): Peerhaven's achieved rate as a share of the allowed 30/s, and the
    number of 429 answers it provoked. Target: >= 0.95 and 0 429s.
(c) the same strict server: 30 people onboard at once (/start, /agree, /join, /name) and one
    of them posts to the other 29. Target: 0 429s.

Run: .venv/bin/python -m bench.telegram_fanout [--members 1000] [--limited-members 300]
"""
from __future__ import annotations

import argparse
import asyncio
import html
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.request import HTTPXRequest

from bot.clock import SystemClock
from bot.config import CommunityConfig, Config, GroupConfig
from bot.events import IncomingEvent, Kind, PlatformUser
from bot.lifecycle import Runtime, build_runtime
from bot.transports.telegram import TelegramTransport
from storage.seed import seed_members

TOKEN = "123456:BENCH-token_abcdefghijklmnopqrstuvwxyz"
DATA_KEY = "benchmark-data-key-0123456789-abcdefghijkl"
BASE_ID = 880_000_000
TELEGRAM_GLOBAL = 30.0
TEXT = "#1 Bench thread · p1 · Tree0\nHello everyone, this is the post being fanned out."


# ------------------------------------------------------------------ the server process
async def serve(users: int, limits: bool, strict: bool = False) -> None:
    """Run FakeBotApi with ``users`` started private chats; print the port; on end of stdin
    print the server's counters as JSON and stop."""
    from tests.fakes.botapi_server import FakeBotApi

    async with FakeBotApi(TOKEN, enforce_limits=limits, strict_limits=strict) as server:
        for i in range(users):
            server.add_user(BASE_ID + i, f"User{i}")
        print(f"PORT {server.port}", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        times = [r.time for r in server.sent_log]
        print(json.dumps({"sent": len(server.sent_log), "rejected_429": server.rejected_429,
                          "span": (max(times) - min(times)) if times else 0.0}), flush=True)


class ServerProcess:
    def __init__(self, users: int, limits: bool, strict: bool = False) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.telegram_fanout", "--serve", str(users)]
                                     + (["--limits"] if limits else []) + (["--strict"] if strict else []),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=Path(__file__).resolve().parents[1])
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError("the fake server did not start")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}/bot"

    def finish(self) -> dict:
        out, _ = self.proc.communicate("", timeout=60)
        return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------ Peerhaven
def make_runtime(url: str, transport: TelegramTransport) -> Runtime:
    group = GroupConfig(slug="bench", name="Bench", invite_codes=["BENCH"],
                        communities=[CommunityConfig(slug="here", name="Here")])
    config = Config(groups=[group])
    config.storage.url = url
    config.safety.posts_per_minute = 120
    config.bot.anonymity_reminder_days = 0
    return build_runtime(config, DATA_KEY, {"telegram": transport}, clock=SystemClock())


def populate(rt: Runtime, members: int) -> None:
    seed_members(rt.db, "bench", [PlatformUser("telegram", str(BASE_ID + i), str(BASE_ID + i))
                                  for i in range(members)])


async def peerhaven_fanout(members: int, limits: bool) -> tuple[int, float, dict]:
    server = ServerProcess(members, limits, strict=limits)
    with tempfile.TemporaryDirectory() as tmp:
        if limits:
            transport = TelegramTransport(TOKEN, base_url=server.base_url, poll_timeout=1)
        else:        # our own limits off too: this measures the machinery, not the pacing
            transport = TelegramTransport(TOKEN, base_url=server.base_url, poll_timeout=1,
                                          messages_per_second=1e6, burst=1e6, per_chat_interval=0)
        rt = make_runtime(f"sqlite:///{Path(tmp) / 'bench.db'}", transport)
        populate(rt, members)
        await rt.start(scheduler=False, worker=False)
        try:
            author = PlatformUser("telegram", str(BASE_ID), str(BASE_ID))
            before = rt.worker.sent
            started = time.perf_counter()
            await rt.app.handle(IncomingEvent(author, Kind.TEXT, text="/new Bench thread\nHello everyone"))
            await rt.worker.drain()
            elapsed = time.perf_counter() - started
            sent = rt.worker.sent - before
        finally:
            await rt.stop()
    stats = server.finish()
    return sent, elapsed, stats


async def onboarding_and_fanout(people: int) -> tuple[int, float, dict]:
    """(c): everyone onboards at the same moment, then one posts to all the others."""
    server = ServerProcess(people, True, strict=True)
    with tempfile.TemporaryDirectory() as tmp:
        transport = TelegramTransport(TOKEN, base_url=server.base_url, poll_timeout=1)
        rt = make_runtime(f"sqlite:///{Path(tmp) / 'bench.db'}", transport)
        await rt.start(scheduler=False, worker=True)
        try:
            users = [PlatformUser("telegram", str(BASE_ID + i), str(BASE_ID + i)) for i in range(people)]
            started = time.perf_counter()
            for line in ("/start", "/agree", "/join BENCH"):
                for user in users:
                    await rt.app.handle(IncomingEvent(user, Kind.TEXT, text=line))
            for i, user in enumerate(users):
                await rt.app.handle(IncomingEvent(user, Kind.TEXT, text=f"/name Tree{i}"))
            await rt.app.handle(IncomingEvent(users[0], Kind.TEXT, text="/new Bench thread\nHello everyone"))
            while True:             # drain() stops at rows a chat's pacing has put off: wait for them
                await rt.worker.drain()
                with rt.db.uow() as uow:
                    if uow.outbox.pending_count(due_only=False) == 0:
                        break
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - started
            sent = rt.worker.sent
        finally:
            await rt.stop()
    stats = server.finish()
    return sent, elapsed, stats


async def bare_ptb(count: int, concurrency: int) -> tuple[int, float]:
    server = ServerProcess(count, False)
    request = HTTPXRequest(connection_pool_size=64, read_timeout=20, write_timeout=30, pool_timeout=10)
    async with Bot(TOKEN, base_url=server.base_url, request=request) as bot:
        gate = asyncio.Semaphore(concurrency)
        preview = LinkPreviewOptions(is_disabled=True)

        async def one(i: int) -> None:
            async with gate:
                await bot.send_message(BASE_ID + i, html.escape(TEXT, quote=False), parse_mode=ParseMode.HTML,
                                       link_preview_options=preview)
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.perf_counter() - started
    server.finish()
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1000, help="members for (a), limits off")
    parser.add_argument("--limited-members", type=int, default=300, help="members for (b), limits on")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--limits", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only-limited", action="store_true", help="skip (a)")
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.limits, args.strict))
        return
    if not args.only_limited:
        run_unlimited(args.members)
    run_limited(args.limited_members)


def run_unlimited(members: int) -> None:
    sent, elapsed, _ = asyncio.run(peerhaven_fanout(members, limits=False))
    concurrency = make_concurrency()
    bare_sent, bare_elapsed = asyncio.run(bare_ptb(sent, concurrency))
    ours, bare = sent / elapsed, bare_sent / bare_elapsed
    print(f"(a) limits off, {members} members, {concurrency} concurrent sends")
    print(f"    peerhaven: {sent} deliveries in {elapsed:.2f}s = {ours:.0f}/s")
    print(f"    bare PTB:  {bare_sent} send_message in {bare_elapsed:.2f}s = {bare:.0f}/s")
    print(f"    ratio {ours / bare:.2f} (target >= 0.5)")



def run_limited(members: int) -> None:
    sent, elapsed, stats = asyncio.run(peerhaven_fanout(members, limits=True))
    rate = sent / elapsed
    print(f"(b) strict limits on (30 in any sliding second; per chat 3, then 1/s), {members} members")
    print(f"    peerhaven: {sent} deliveries in {elapsed:.2f}s = {rate:.1f}/s; "
          f"429s provoked: {stats['rejected_429']} (target 0)")
    print(f"    share of Telegram's 30/s: {rate / TELEGRAM_GLOBAL:.2f} (target >= 0.95)")
    sent, elapsed, stats = asyncio.run(onboarding_and_fanout(30))
    print("(c) strict limits: 30 people onboard at once, then a post to the other 29")
    print(f"    peerhaven: {sent} messages in {elapsed:.2f}s = {sent / elapsed:.1f}/s; "
          f"429s provoked: {stats['rejected_429']} (target 0)")


def make_concurrency() -> int:
    """The outbox worker's number of concurrent sends (the bare loop uses the same)."""
    from bot.delivery import OutboxWorker
    import inspect
    return int(inspect.signature(OutboxWorker.__init__).parameters["concurrency"].default)


if __name__ == "__main__":
    main()
