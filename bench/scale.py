"""Scale benchmark (issue 15): many members, many posts, a backlog, and (with --postgres) two
processes draining one backlog.

Run: .venv/bin/python -m bench.scale [--members 10000] [--posts 100000] [--threads 2000]
     [--postgres]   (a throw-away PostgreSQL cluster, as in the tests)

Figures: start-to-ready time and RSS (a fresh process on the seeded database); /help, /threads,
/read, /me handler latency (median, p99); fan-out of one post to all members (deliveries/s);
drain of 1, 5 and 10 queued posts (time per delivery and its 10:1 ratio, plus the ratio of
database work per delivery, counted in SQLite VM steps, which does not depend on load);
edit and delete of a post with all its copies (handler time, propagation rate); /help from
other people, answered (sent by the running worker) while a post to everyone is drained, and
(SQLite) while another process holds the write lock for 3 s, with how many got the "send it
again" answer instead; the longest event-loop stall (a 10 ms heartbeat) over all of it, and
per scenario; the full garbage collections (count, longest); rows and file size before and
after retention; and on PostgreSQL one vs two processes draining the same backlog (each row
exactly once).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, func, insert, select, update

from bot.clock import SystemClock
from bot.config import CommunityConfig, Config, GroupConfig
from bot.dbthread import freeze_startup_objects
from bot.events import IncomingEvent, Kind, PlatformUser
from bot.lifecycle import Runtime, build_runtime, load_lazy_tables
from bench.lean_transport import LeanTransport
from storage.models import Delivery, Member, OutboxItem, Post, Thread
from storage.seed import seed_members
from storage.repo import DIRECT

DATA_KEY = "benchmark-data-key-0123456789-abcdefghijkl"


class Steps:
    """SQLite VM instructions executed (in thousands): database work independent of load."""

    def __init__(self) -> None:
        self.k = 0

    def attach(self, engine) -> None:  # type: ignore[no-untyped-def]
        if engine.dialect.name != "sqlite":
            return

        @event.listens_for(engine, "connect")
        def _count(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.set_progress_handler(self._tick, 1000)

        engine.dispose()

    def _tick(self) -> int:
        self.k += 1
        return 0


def make_runtime(url: str, id_prefix: str = "") -> Runtime:
    group = GroupConfig(slug="bench", name="Bench", invite_codes=["BENCH"],
                        communities=[CommunityConfig(slug="here", name="Here")])
    config = Config(groups=[group])
    config.storage.url = url
    config.safety.posts_per_minute = 100000
    return build_runtime(config, DATA_KEY, {"memory": LeanTransport(id_prefix=id_prefix)}, clock=SystemClock())


def user(i: int) -> PlatformUser:
    return PlatformUser(platform="memory", user_id=f"u{i}", address=f"u{i}")


def seed(rt: Runtime, members: int, posts: int, threads: int) -> None:
    seed_members(rt.db, "bench", [user(i) for i in range(members)])
    rnd = random.Random(15)
    now = rt.clock.now()
    with rt.db.uow() as uow:
        group = uow.groups.by_slug("bench")
        ids = list(uow.session.scalars(select(Member.id).where(Member.group_id == group.id).order_by(Member.id)))
        uow.session.execute(insert(Thread), [
            {"group_id": group.id, "title": f"Thread {t}", "creator_member_id": rnd.choice(ids),
             "created_at": now - timedelta(days=30), "last_activity_at": now - timedelta(minutes=threads - t),
             "locked": False, "pinned": False, "closed": False} for t in range(threads)])
        thread_ids = list(uow.session.scalars(select(Thread.id).where(Thread.group_id == group.id)))
        for start in range(0, posts, 10000):
            uow.session.execute(insert(Post), [
                {"thread_id": thread_ids[(start + n) % len(thread_ids)], "author_member_id": rnd.choice(ids),
                 "body_plain": f"seeded post {start + n}", "status": "published", "created_at": now}
                for n in range(min(10000, posts - start))])
        # As if everyone joined after the seeded posts: none was delivered to them, so all are
        # unread (the most work for /threads' unread counts).
        uow.session.execute(update(Member).where(Member.group_id == group.id)
                            .values(unread_from=select(func.max(Post.id)).scalar_subquery()))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Heartbeat:
    """The longest lateness of a 10 ms timer: how long the event loop was blocked."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.phases: dict[str, float] = {}      # the longest stall of each phase (mark())
        self._phase = 0.0
        self._task: asyncio.Task | None = None

    def mark(self, name: str) -> None:
        """The phase called ``name`` ends now: keep its longest stall and start the next."""
        self.phases[name] = self._phase * 1000
        self._phase = 0.0

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            late = loop.time() - due
            self.worst = max(self.worst, late)
            self._phase = max(self._phase, late)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._beat())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


class Collections:
    """Full (generation 2) garbage collections during the run: how many, the longest, and
    how many objects the collector tracks at the end. A full collection holds the GIL, so on any
    thread it stalls the loop; this tells a stall made of them from one made of our code."""

    def __init__(self) -> None:
        self.full = 0
        self.longest = 0.0
        self.tracked = 0
        self._started = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.full += 1
        self.longest = max(self.longest, time.perf_counter() - self._started)

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)
        self.tracked = len(gc.get_objects())


async def say(rt: Runtime, i: int, text: str) -> float:
    started = time.perf_counter()
    await rt.app.handle(IncomingEvent(user=user(i), kind=Kind.TEXT, text=text))
    return time.perf_counter() - started


async def latencies(rt: Runtime, rounds: int) -> dict[str, tuple[float, float]]:
    out = {}
    for name, text in (("/help", "/help"), ("/threads", "/threads"), ("/read", "/read 1"), ("/me", "/me")):
        times = []
        for n in range(rounds):
            times.append(await say(rt, 1 + n % 50, text))
            await rt.worker.drain()
        out[name] = (statistics.median(times) * 1000, pct(times, 0.99) * 1000)
    return out


async def answered(rt: Runtime, i: int, text: str) -> float:
    """Seconds from the message to the bot's first answer sent (the worker runs meanwhile)."""
    mem: LeanTransport = rt.transports["memory"]
    before = mem.count_to(f"u{i}")
    started = time.perf_counter()
    await rt.app.handle(IncomingEvent(user=user(i), kind=Kind.TEXT, text=text))
    while mem.count_to(f"u{i}") == before and time.perf_counter() - started < 30:
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


async def help_under_load(rt: Runtime, start, people: int = 40, every: float = 0.05) -> dict:  # type: ignore[no-untyped-def]
    """People (new ones, not members) send /help, one every ``every`` seconds, once ``start()``
    has set the load going (it returns what to wait for at the end), with the outbox worker
    running as in production: the time until each got an answer."""
    worker = asyncio.ensure_future(rt.worker.run())
    beat = Heartbeat()
    beat.start()
    busy0 = rt.app.busy
    try:
        job = await start()
        asks = []
        for n in range(people):
            asks.append(asyncio.ensure_future(answered(rt, 1_000_000 + n, "/help")))
            await asyncio.sleep(every)
        times = await asyncio.gather(*asks)
        await job
    finally:
        beat.stop()
        rt.worker.stop()
        await worker
        rt.worker._stopping = False
    return {"median_ms": statistics.median(times) * 1000, "p99_ms": pct(times, 0.99) * 1000,
            "stall_ms": beat.worst * 1000, "busy": rt.app.busy - busy0, "asked": people}


def fanout_drained(rt: Runtime):  # type: ignore[no-untyped-def]
    async def start():  # type: ignore[no-untyped-def]
        await say(rt, 0, "/reply 1 another post to everyone")      # queued; the worker drains it
        return rt.worker.drain()
    return start


def write_lock_held(url: str, seconds: float):  # type: ignore[no-untyped-def]
    """Another process takes SQLite's write lock and keeps it for ``seconds``."""
    async def start():  # type: ignore[no-untyped-def]
        code = ("import sqlite3,sys,time;c=sqlite3.connect(sys.argv[1],isolation_level=None);"
                "c.execute('BEGIN IMMEDIATE');print('held',flush=True);time.sleep(float(sys.argv[2]));"
                "c.rollback()")
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, url.split("///", 1)[1],
                                                    str(seconds), stdout=asyncio.subprocess.PIPE)
        await proc.stdout.readline()
        return proc.wait()
    return start


async def answers_out(rt: Runtime) -> None:
    """Send the author's confirmations (the handler sends its own answers, or the direct lane
    when an earlier one was still on its way), so that what is then drained is the copies."""
    await rt.worker.settle_inflight()
    while await rt.worker.process_lane(DIRECT):
        pass


async def queued_drain(rt: Runtime, steps: Steps, posts: int) -> tuple[float, float, int]:
    """Queue ``posts`` posts to everyone (no worker running), then drain: seconds and VM
    steps per delivery."""
    mem: LeanTransport = rt.transports["memory"]
    for n in range(posts):
        await say(rt, 0, f"/reply 1 queued post {n}")
    await answers_out(rt)
    before, k = mem.sends, steps.k
    started = time.perf_counter()
    await rt.worker.drain()
    elapsed = time.perf_counter() - started
    sent = mem.sends - before
    return elapsed / max(sent, 1), (steps.k - k) / max(sent, 1), sent


def db_size(rt: Runtime, url: str) -> int:
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with rt.db.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())


def counts(rt: Runtime) -> tuple[int, int]:
    with rt.db.uow() as uow:
        return (uow.session.scalar(select(func.count()).select_from(Delivery)) or 0,
                uow.session.scalar(select(func.count()).select_from(OutboxItem)) or 0)


def start_to_ready(url: str) -> tuple[float, float]:
    """A fresh process opens the seeded database and starts (no transports connect)."""
    code = ("import time,resource,asyncio;t=time.perf_counter();"
            "from bench.scale import make_runtime;rt=make_runtime(%r);"
            "asyncio.run(rt.start(scheduler=False, worker=False));"
            "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)") % url
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.split()
    return float(out[-2]), float(out[-1])


async def run(members: int, posts: int, threads: int, url: str, rounds: int = 20,
              lock_seconds: float = 3.0) -> dict:
    rt = make_runtime(url)
    steps = Steps()
    steps.attach(rt.db.engine)
    seed(rt, members, posts, threads)
    freeze_startup_objects(lambda: load_lazy_tables(rt.config))   # as Runtime.start does
    r: dict = {"members": members, "posts": posts}
    r["start_s"], r["rss_mib"] = start_to_ready(url) if members >= 1000 else (0.0, 0.0)
    beat, collections = Heartbeat(), Collections()
    beat.start()
    collections.start()
    r["latency_ms"] = await latencies(rt, rounds)
    beat.mark("latencies")
    mem: LeanTransport = rt.transports["memory"]
    before = mem.sends
    started = time.perf_counter()
    await say(rt, 0, "/reply 1 one post to everyone")
    await rt.worker.drain()
    r["fanout_per_s"] = (mem.sends - before) / (time.perf_counter() - started)
    beat.mark("fan-out")
    for k in (1, 5, 10):
        r[f"drain{k}"] = await queued_drain(rt, steps, k)
        beat.mark(f"drain {k}")
    r["drain_ratio"] = r["drain10"][0] / r["drain1"][0]
    r["work_ratio"] = r["drain10"][1] / r["drain1"][1] if r["drain1"][1] else None
    with rt.db.uow() as uow:
        last = uow.session.scalar(select(func.max(Post.id)))
    for op in ("edit", "delete"):
        text = f"/edit p{last} changed text" if op == "edit" else f"/delete p{last}"
        handler = await say(rt, 0, text)
        started = time.perf_counter()
        await rt.worker.drain()
        r[op] = (handler * 1000, (mem.sends - before) and members / (time.perf_counter() - started))
        beat.mark(op)
    r["help_fanout"] = await help_under_load(rt, fanout_drained(rt))
    if url.startswith("sqlite") and lock_seconds:
        r["help_locked"] = await help_under_load(rt, write_lock_held(url, lock_seconds),
                                                 people=max(1, int(lock_seconds / 0.1)), every=0.1)
        r["help_locked"]["seconds"] = lock_seconds
    r["sends"], r["deliveries_rows"] = mem.sends, counts(rt)[0]
    beat.mark("/help under load")
    beat.stop()
    collections.stop()
    r["collections"] = (collections.full, collections.longest * 1000, collections.tracked)
    r["stall_phases"] = beat.phases
    r["stall_ms"] = max(beat.worst * 1000, *(r[k]["stall_ms"] for k in ("help_fanout", "help_locked") if k in r))
    r["rows_before"], r["size_before"] = counts(rt), db_size(rt, url)
    with rt.db.uow() as uow:
        cutoff = rt.clock.now() + timedelta(seconds=1)       # as if the retention time had passed
        uow.deliveries.purge_older_than(cutoff)
        uow.outbox.purge_older_than(cutoff)
    with rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM")
    r["rows_after"], r["size_after"] = counts(rt), db_size(rt, url)
    rt.db.engine.dispose()
    return r


# -- several processes on PostgreSQL -------------------------------------------------------
def drain_worker(url: str, tag: str, go: str) -> None:
    """One process: wait for the start signal, drain whatever it can claim, print what it sent
    (address and text of each copy) and how long it took."""
    rt = make_runtime(url, id_prefix=f"{tag}-")           # message ids unique across processes
    mem: LeanTransport = rt.transports["memory"]
    rt.worker.recover()
    print("READY", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)
    started = time.perf_counter()
    asyncio.run(rt.worker.drain())
    seconds, cpu = time.perf_counter() - started, time.process_time()
    sent = mem.pairs()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "sent": sent}))
    rt.worker.release()


def queue_backlog(url: str, members: int, posts: int) -> tuple[int, int]:
    rt = make_runtime(url)

    async def go() -> None:
        for n in range(posts):
            await say(rt, 0, f"/reply 1 backlog post {n}")
        await answers_out(rt)
    asyncio.run(go())
    with rt.db.uow() as uow:
        pending = select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending")
        count = uow.session.scalar(pending) or 0
        copies = uow.session.scalar(pending.where(OutboxItem.post_id.is_not(None))) or 0
    rt.db.engine.dispose()
    return count, copies     # the copies of the posts (the confirmations were sent by the handler)


def parallel_drain(url: str, processes: int) -> tuple[float, list[list]]:
    """Drain in ``processes`` processes started together (their start-up is not timed): the
    seconds until the last one is done, and what each sent."""
    with tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        procs = [subprocess.Popen([sys.executable, "-m", "bench.scale", "--drain-worker", url, f"p{n}", str(go)],
                                  stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
                 for n in range(processes)]
        for p in procs:
            assert p.stdout.readline().strip() == "READY"
        started = time.perf_counter()
        go.touch()
        outs = [p.communicate()[0] for p in procs]
        elapsed = time.perf_counter() - started
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    print("  (per process: " + ", ".join(f"{r['seconds']:.2f} s, {r['cpu']:.2f} s CPU" for r in results) + ")")
    return elapsed, [r["sent"] for r in results]


def exactly_once(url: str) -> tuple[int, int, int]:
    """(deliveries recorded, distinct outbox rows delivered, rows still unfinished)."""
    rt = make_runtime(url)
    with rt.db.uow() as uow:
        d = uow.session.scalar(select(func.count()).select_from(Delivery)) or 0
        distinct = uow.session.scalar(select(func.count(func.distinct(Delivery.outbox_id)))) or 0
        left = uow.session.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.status.in_(("pending", "sending")))) or 0
    rt.db.engine.dispose()
    return d, distinct, left


def two_processes(cluster, members: int, backlog_posts: int) -> dict:  # type: ignore[no-untyped-def]
    """The same backlog drained by one process and by two: seconds, and whether every copy
    was sent exactly once (by the transports' records and by the deliveries recorded)."""
    out = {}
    for processes in (1, 2):
        name = f"bench_drain_{processes}"
        cluster.execute(f"CREATE DATABASE {name}")
        url = cluster.url(name)
        rt = make_runtime(url)
        seed(rt, members, 10, 2)
        rt.db.engine.dispose()
        queued, copies = queue_backlog(url, members, backlog_posts)
        elapsed, sent = parallel_drain(url, processes)
        seen = [{tuple(c) for c in s} for s in sent]
        both = set.intersection(*seen) if processes > 1 else set()
        d, distinct, left = exactly_once(url)
        out[processes] = {"queued": queued, "copies": copies, "seconds": elapsed, "sent": sum(len(s) for s in sent),
                          "per_process": [len(s) for s in sent], "distinct_sent": len(set().union(*seen)),
                          "twice": len(both), "deliveries": d, "distinct": distinct, "left": left}
    out["ratio"] = out[1]["seconds"] / out[2]["seconds"]
    out["exactly_once"] = all(x["sent"] == x["distinct_sent"] == x["queued"] and x["twice"] == x["left"] == 0
                              and x["deliveries"] == x["distinct"] == x["copies"] for x in (out[1], out[2]))
    return out


def report_processes(two: dict) -> None:
    for n in (1, 2):
        t = two[n]
        print(f"{n} process(es) drain   {t['queued']} rows in {t['seconds']:.2f} s "
              f"({t['queued'] / t['seconds']:.0f}/s); sent {t['sent']} {t['per_process']}, "
              f"{t['twice']} by both, recorded {t['deliveries']} ({t['distinct']} distinct), left {t['left']}")
    print(f"two processes vs one  {two['ratio']:.2f} x (target >= 1.3); every row exactly once: "
          f"{'yes' if two['exactly_once'] else 'NO'}")


def report(r: dict, backend: str) -> None:
    print(f"# bench.scale on {backend}: {r['members']} members, {r['posts']} posts")
    print(f"start-to-ready        {r['start_s']:.2f} s, RSS {r['rss_mib']:.0f} MiB")
    for name, (med, p99) in r["latency_ms"].items():
        print(f"{name:<21} median {med:.1f} ms, p99 {p99:.1f} ms")
    print(f"fan-out               {r['fanout_per_s']:.0f} deliveries/s")
    for k in (1, 5, 10):
        per, work, sent = r[f"drain{k}"]
        print(f"drain {k:>2} queued posts  {per * 1e6:.0f} µs/delivery ({sent} deliveries, {work:.2f}k VM steps each)")
    work = f"{r['work_ratio']:.2f}" if r["work_ratio"] is not None else "n/a"
    print(f"drain ratio 5:1       time {r['drain5'][0] / r['drain1'][0]:.2f}")
    print(f"drain ratio 10:1      time {r['drain_ratio']:.2f}, database work {work} (target <= 1.2)")
    for op in ("edit", "delete"):
        print(f"{op:<21} handler {r[op][0]:.1f} ms, propagation {r[op][1]:.0f} copies/s")
    scenarios = [("help_fanout", "while a post to all is drained")]
    if "help_locked" in r:
        scenarios.append(("help_locked", f"while another process holds the write lock "
                                         f"{r['help_locked']['seconds']:.0f} s"))
    for name, what in scenarios:
        h = r[name]
        print(f"/help answered        median {h['median_ms']:.0f} ms, p99 {h['p99_ms']:.0f} ms {what} "
              f"(loop stall {h['stall_ms']:.0f} ms; {h['busy']} of {h['asked']} told to send it again)")
    print(f"longest loop stall    {r['stall_ms']:.0f} ms (10 ms heartbeat, whole run; target <= 50); by phase: "
          + ", ".join(f"{name} {ms:.0f}" for name, ms in r["stall_phases"].items()))
    full, longest, tracked = r["collections"]
    print(f"full collections      {full}, longest {longest:.0f} ms ({tracked} objects tracked "
          f"outside the start-up freeze at the end)")
    print(f"deliveries/outbox rows {r['rows_before']} -> {r['rows_after']} after retention; "
          f"database {r['size_before'] / 2**20:.1f} MiB -> {r['size_after'] / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10000)
    parser.add_argument("--posts", type=int, default=100000)
    parser.add_argument("--threads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lock-seconds", type=float, default=3.0,
                        help="how long another process holds the SQLite write lock (0: skip)")
    parser.add_argument("--postgres", action="store_true", help="a throw-away PostgreSQL cluster")
    parser.add_argument("--backlog-posts", type=int, default=5, help="posts queued for the two-process drain")
    parser.add_argument("--drain-worker", nargs=3, metavar=("URL", "TAG", "GO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain_worker:
        drain_worker(*args.drain_worker)
        return
    if not args.postgres:
        with tempfile.TemporaryDirectory() as tmp:
            r = asyncio.run(run(args.members, args.posts, args.threads, f"sqlite:///{Path(tmp) / 'scale.db'}",
                                args.rounds, args.lock_seconds))
            report(r, "SQLite")
        return
    from tests.pg import PostgresCluster
    cluster = PostgresCluster().start()
    try:
        cluster.execute("CREATE DATABASE bench_scale")
        r = asyncio.run(run(args.members, args.posts, args.threads, cluster.url("bench_scale"), args.rounds))
        report(r, "PostgreSQL")
        two = two_processes(cluster, args.members, args.backlog_posts)
        report_processes(two)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
