"""Fan-out benchmark: one post to groups of 10, 100 and 1,000 members through the in-memory
transport, measured against a bare loop that calls the same transport directly.

Run: .venv/bin/python -m bench.fanout [--sizes 10,100,1000] [--posts 3] [--postgres URL]
     [--compare-plain]   (also measure with post text stored unencrypted: the cost of the
                          per-member keys, as a ratio in the same run)
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import tracemalloc
from pathlib import Path

from bot.clock import SystemClock
from bot.config import CommunityConfig, Config, GroupConfig
from bot.events import IncomingEvent, Kind, PlatformUser, Rendered
from bot.lifecycle import Runtime, build_runtime
from bot.transports.base import MemoryTransport
from storage.seed import seed_members

DATA_KEY = "benchmark-data-key-0123456789-abcdefghijkl"
TELEGRAM_GLOBAL = 30.0


def make_runtime(url: str) -> Runtime:
    group = GroupConfig(slug="bench", name="Bench", invite_codes=["BENCH"],
                        communities=[CommunityConfig(slug="here", name="Here")])
    config = Config(groups=[group])
    config.storage.url = url
    config.safety.posts_per_minute = 1000
    return build_runtime(config, DATA_KEY, {"memory": MemoryTransport()}, clock=SystemClock())


def populate(rt: Runtime, members: int) -> None:
    seed_members(rt.db, "bench", [PlatformUser(platform="memory", user_id=f"u{i}", address=f"u{i}")
                                  for i in range(members)])


async def peerhaven_round(rt: Runtime, posts: int) -> int:
    author = PlatformUser(platform="memory", user_id="u0", address="u0")
    await rt.app.handle(IncomingEvent(user=author, kind=Kind.TEXT, text="/new Bench thread\nfirst"))
    await rt.worker.drain()
    mem: MemoryTransport = rt.transports["memory"]
    before = mem.sends
    for n in range(posts):
        await rt.app.handle(IncomingEvent(user=author, kind=Kind.TEXT, text=f"post number {n}"))
    await rt.worker.drain()
    return mem.sends - before


async def bare_round(count: int) -> int:
    mem = MemoryTransport()
    for i in range(count):
        await mem.send(f"u{i}", Rendered(text=f"#1 Bench thread · p{i} · Tree0\npost"))
    return mem.sends


def measure(size: int, posts: int, url: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = make_runtime(url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        populate(rt, size)
        wall, cpu = time.perf_counter(), time.process_time()
        sent = asyncio.run(peerhaven_round(rt, posts))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with rt.db.engine.connect() as conn:     # which kind of run this was, for --compare-plain
            sealed_rows = conn.exec_driver_sql("SELECT count(*) FROM posts WHERE body_enc IS NOT NULL").scalar()
        rt.db.engine.dispose()
        tracemalloc.start()
        rt2 = make_runtime(f"sqlite:///{Path(tmp) / 'mem.db'}")
        populate(rt2, size)
        tracemalloc.reset_peak()
        asyncio.run(peerhaven_round(rt2, 1))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rt2.db.engine.dispose()
    bare_wall = time.perf_counter()
    asyncio.run(bare_round(sent))
    bare_wall = time.perf_counter() - bare_wall
    return {"members": size, "deliveries": sent, "per_s": sent / wall, "cpu_per_1000": cpu / sent * 1000,
            "peak_mb": peak / 2**20, "bare_per_s": sent / bare_wall, "sealed_rows": sealed_rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--posts", type=int, default=3)
    parser.add_argument("--url", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--compare-plain", action="store_true",
                        help="also run with post text unencrypted and print the ratio")
    args = parser.parse_args()
    if args.compare_plain:
        compare_plain(args)
        return
    print(f"{'members':>8} {'deliveries':>10} {'deliv/s':>9} {'x TG 30/s':>9} {'CPU s/1000':>10} "
          f"{'peak MiB':>8} {'bare deliv/s':>12} {'vs bare':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        r = measure(size, args.posts, args.url)
        print(f"{r['members']:>8} {r['deliveries']:>10} {r['per_s']:>9.0f} {r['per_s'] / TELEGRAM_GLOBAL:>9.1f} "
              f"{r['cpu_per_1000']:>10.3f} {r['peak_mb']:>8.1f} {r['bare_per_s']:>12.0f} "
              f"{r['per_s'] / r['bare_per_s']:>8.4f}")
    print("target: deliveries/s >= 20 x Telegram's global limit (600/s) on one core")


def compare_plain(args: argparse.Namespace) -> None:
    """Encrypted vs plain text, alternating so that load on the machine hits both alike."""
    import storage.sealed as sealed_text

    real = sealed_text.ring_of        # where sealed columns find the unit of work's key ring

    def plain_ring(session):  # type: ignore[no-untyped-def]
        return None                   # no key ring: text is kept in plain form

    print(f"{'members':>8} {'sealed deliv/s':>14} {'plain deliv/s':>13} {'sealed CPU/1000':>15} "
          f"{'plain CPU/1000':>14} {'CPU cost':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        sealed, plain = [], []
        for _ in range(3):
            sealed_text.ring_of = real
            sealed.append(measure(size, args.posts, args.url))
            sealed_text.ring_of = plain_ring
            plain.append(measure(size, args.posts, args.url))
            if sealed[-1]["sealed_rows"] == 0 or plain[-1]["sealed_rows"] != 0:
                raise SystemExit("--compare-plain: the switch between sealed and plain text did not take")
        sealed_text.ring_of = real
        best = lambda runs, key: min(r[key] for r in runs)  # noqa: E731 - the least disturbed run
        s_cpu, p_cpu = best(sealed, "cpu_per_1000"), best(plain, "cpu_per_1000")
        print(f"{size:>8} {max(r['per_s'] for r in sealed):>14.0f} {max(r['per_s'] for r in plain):>13.0f} "
              f"{s_cpu:>15.3f} {p_cpu:>14.3f} {s_cpu / p_cpu - 1:>+8.1%}")
    print("target: the per-member keys cost under 15 % of the fan-out")


if __name__ == "__main__":
    main()
