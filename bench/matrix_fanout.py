"""Matrix fan-out benchmark on a real (loopback) Synapse.

50 members (nio clients, end-to-end encrypted DMs by default; ``--plain`` for unencrypted
ones) each have a direct room with the bot. Synapse runs with its default message rate
limit (0.2/s, burst 10) and the bot's account is exempted with the ``override_ratelimit``
admin API, as docs/matrix.md tells operators to do. Then, in one run and after a warm-up
that shares the bot's Megolm sessions with every room (both measurements are steady
state):

(a) a bare matrix-nio loop: the bot's own ``AsyncClient`` sends the same 50 messages to the
    same 50 rooms, one ``room_send`` after the other;
(b) Peerhaven: one post enters through the app and the outbox fans it out to the 50 rooms
    (render per recipient, send through the transport, record every delivery).

Prints messages/second of both and the ratio Peerhaven/bare (target >= 0.5), plus a bare
loop with the outbox's concurrency for reference. Afterwards every member's client is
checked to have received and decrypted the post.

Run: .venv/bin/python -m bench.matrix_fanout [--members 50] [--plain] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from bot.clock import SystemClock
from bot.config import CommunityConfig, Config, GroupConfig, MatrixSection
from bot.events import IncomingEvent, Kind, PlatformUser, Rendered
from bot.lifecycle import Runtime, build_runtime
from bot.transports.base import MemoryTransport
from bot.transports.matrix import MatrixTransport
from bot.transports.matrix_format import text_content
from tests.fakes.matrix_user import MatrixUser
from tests.fakes.synapse_server import SynapseServer
from storage.seed import seed_members

DATA_KEY = "benchmark-data-key-0123456789-abcdefghijkl"
SYNAPSE_DEFAULT_RC_MESSAGE = (0.2, 10)


def make_runtime(workdir: Path, server: SynapseServer, bot_id: str, password: str) -> Runtime:
    group = GroupConfig(slug="bench", name="Bench", invite_codes=["BENCH"],
                        communities=[CommunityConfig(slug="here", name="Here")])
    config = Config(groups=[group])
    config.storage.url = f"sqlite:///{workdir / 'bench.db'}"
    config.safety.posts_per_minute = 1000
    config.matrix = MatrixSection(enabled=True, homeserver=server.base_url, user_id=bot_id, password=password,
                                  store_path=str(workdir / "matrix-store"))
    transport = MatrixTransport.from_config(config.matrix, env={})
    return build_runtime(config, DATA_KEY, {"matrix": transport, "memory": MemoryTransport()},
                         clock=SystemClock())


def populate(rt: Runtime, members: list[tuple[MatrixUser, str]]) -> None:
    """The author writes from the in-memory transport, so only the fan-out goes to Matrix."""
    users = [PlatformUser(platform="memory", user_id="author", address="author")]
    users += [PlatformUser(platform="matrix", user_id=m.user_id, address=room) for m, room in members]
    seed_members(rt.db, "bench", users)


async def bare_loop(transport: MatrixTransport, rooms: list[str], text: str, concurrency: int = 1) -> float:
    client = transport.client
    assert client is not None
    content = text_content(Rendered(text=text))
    limit = asyncio.Semaphore(concurrency)

    async def one(room: str) -> None:
        async with limit:
            resp = await client.room_send(room, "m.room.message", dict(content), ignore_unverified_devices=True)
            assert hasattr(resp, "event_id"), resp

    t0 = time.perf_counter()
    if concurrency == 1:
        for room in rooms:
            await one(room)
    else:
        await asyncio.gather(*(one(r) for r in rooms))
    return time.perf_counter() - t0


async def peerhaven_post(rt: Runtime, text: str) -> float:
    author = PlatformUser(platform="memory", user_id="author", address="author")
    t0 = time.perf_counter()
    await rt.app.handle(IncomingEvent(user=author, kind=Kind.TEXT, text=text))
    await rt.worker.drain()
    return time.perf_counter() - t0


async def run(members: int, encrypted: bool, rounds: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="peerhaven-bench-") as tmp:
        workdir = Path(tmp)
        server = SynapseServer(workdir / "synapse", rc_message=SYNAPSE_DEFAULT_RC_MESSAGE)
        await asyncio.to_thread(server.start)
        users: list[MatrixUser] = []
        rt: Runtime | None = None
        try:
            t_setup = time.perf_counter()
            _, admin_token, _ = await server.aregister_user("benchadmin", "pw-admin", admin=True)
            bot_id, password = server.user_id("cafe"), "pw-cafe-bench"
            await server.aregister_user("cafe", password, displayname="Café", inhibit_login=True)
            await asyncio.to_thread(server.override_ratelimit, bot_id, admin_token)
            rt = make_runtime(workdir, server, bot_id, password)
            await rt.start(scheduler=False, worker=False)
            transport: MatrixTransport = rt.transports["matrix"]   # type: ignore[assignment]

            sem = asyncio.Semaphore(10)

            async def member(i: int) -> tuple[MatrixUser, str]:
                async with sem:
                    user = await MatrixUser.create(server, f"member{i}", f"Member {i}", workdir / f"m{i}")
                    users.append(user)
                    if encrypted:
                        room = await user.open_encrypted_dm(bot_id, timeout=120)
                    else:
                        room = await user.create_room([bot_id], is_direct=True)
                        await user.wait_for_membership(room, bot_id, "join", timeout=120)
                    return user, room

            pairs = await asyncio.gather(*(member(i) for i in range(members)))
            rooms = [room for _, room in pairs]
            while not all(r in transport.client.rooms for r in rooms):
                await asyncio.sleep(0.1)
            populate(rt, list(pairs))
            # Warm-up: share the bot's room keys with every member (both runs are steady state).
            await asyncio.gather(*(transport.send(r, Rendered(text="Welcome")) for r in rooms))
            setup = time.perf_counter() - t_setup

            bare, bare_c, ours = [], [], []
            for n in range(rounds):
                text = f"#1 Bench · p{n + 1} · Tree0\nA post for everyone, round {n}"
                bare.append(await bare_loop(transport, rooms, text))
                bare_c.append(await bare_loop(transport, rooms, text, concurrency=rt.worker.concurrency))
                ours.append(await peerhaven_post(rt, f"/new Bench {n}\nA post for everyone, round {n}"))

            # Every member received and decrypted the last post.
            needle = f"A post for everyone, round {rounds - 1}"

            def got(user: MatrixUser, room: str) -> bool:
                return any(m.sender == bot_id and needle in (m.body or "") and not m.undecryptable
                           for m in user.messages(room))

            await asyncio.gather(*(u.wait_for(lambda u=u, r=r: got(u, r), 60, "the post") for u, r in pairs))
            with rt.db.uow() as uow:
                pending = uow.outbox.pending_count(due_only=False)

            def rate(seconds: list[float]) -> float:
                return members / statistics.median(seconds)

            kind = "end-to-end encrypted" if encrypted else "unencrypted"
            print(f"Matrix fan-out to {members} members ({kind} DMs), Synapse on loopback, "
                  f"bot exempt from rc_message via override_ratelimit; median of {rounds} rounds")
            print(f"  setup (members, DMs, key sharing):   {setup:7.1f} s")
            print(f"  (a) bare matrix-nio loop:            {rate(bare):7.1f} msg/s")
            print(f"  (b) Peerhaven post -> outbox:        {rate(ours):7.1f} msg/s")
            print(f"  ratio Peerhaven/bare:                {rate(ours) / rate(bare):7.2f}  (target >= 0.5)")
            print(f"  for reference, bare with {rt.worker.concurrency} concurrent sends: {rate(bare_c):7.1f} msg/s "
                  f"(ratio {rate(ours) / rate(bare_c):.2f})")
            print(f"  all {members} members decrypted the post; outbox rows left: {pending}")
        finally:
            if rt is not None:
                await rt.stop()
            await asyncio.gather(*(u.close() for u in users), return_exceptions=True)
            await asyncio.to_thread(server.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--plain", action="store_true", help="unencrypted DMs instead of E2E ones")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.members, not args.plain, args.rounds))


if __name__ == "__main__":
    main()
