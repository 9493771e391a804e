"""Assembles a running bot from a config: storage, services, transports, worker, scheduler."""
from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import IO

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App, Directory
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.dbthread import DbThread, freeze_startup_objects
from bot.delivery import OutboxWorker
from bot.i18n import I18n
from bot.render import Renderer
from bot.scheduler import build_scheduler, register_runtime, unregister_runtime
from bot.transports.base import Transport
from bot.unicode_text import compact_skeleton
from moderation.preload import load_tables
from moderation.roles import sync_config_roles
from handlers import build_router, feature_services, job_builders, register_renderers
from storage.crypto import IdentityVault
from storage.db import LeaderLock, make_engine, migrate
from storage.repo import Database

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    db: Database
    app: App
    worker: OutboxWorker
    renderer: Renderer
    i18n: I18n
    clock: Clock
    transports: dict[str, Transport]
    dbt: DbThread        # the one thread for database work (bot.dbthread), shared by app, worker, jobs
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    scheduler: AsyncIOScheduler | None = None
    _worker_task: asyncio.Task | None = None
    _leader: LeaderLock | None = None

    async def start(self, *, scheduler: bool = True, worker: bool = True) -> None:
        register_runtime(self.key, self)
        await self.dbt.retrying(self.worker.recover)
        freeze_startup_objects(lambda: load_lazy_tables(self.config))
        for transport in self.transports.values():
            await transport.start(self.app.handle)
        if worker:
            self._worker_task = asyncio.create_task(self.worker.run(), name="outbox")
        if scheduler:
            self._leader = LeaderLock(self.db.engine)
            if self._leader.acquire():
                self.scheduler = build_scheduler(self, self.key, job_builders())
                self.scheduler.start()
            else:
                log.info("another process runs the scheduler; this one only handles messages")

    async def finish_jobs(self, timeout: float = 30.0) -> None:
        """Let scheduler jobs that are running finish (stopping cancels them): a console
        session ends right after its script, and its retention run should not be cut short."""
        executor = self.scheduler._lookup_executor("default") if self.scheduler is not None else None
        running = [f for f in getattr(executor, "_pending_futures", ()) if not f.done()]
        if running:
            await asyncio.wait(running, timeout=timeout)

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self._leader is not None:
            self._leader.release()
            self._leader = None
        for transport in self.transports.values():
            await transport.stop()
        self.worker.stop()
        try:      # answers already on their way are recorded before the process ends
            await asyncio.wait_for(self.worker.settle_inflight(), timeout=10)
        except TimeoutError:
            log.warning("some answers were still being sent at the stop; they are sent again at the next start")
        if self._worker_task is not None:
            await self._worker_task
            self._worker_task = None
        self.worker.release()
        unregister_runtime(self.key)
        # The database thread is not shut down: a stopped runtime may be started again (tests);
        # it holds no connection once the engine is disposed, and ends with the runtime.
        self.db.engine.dispose()


def load_lazy_tables(config: Config) -> None:
    """What the first post or pseudonym would otherwise load while a person waits (and leave
    in the collector's view): loaded at start, it is frozen with the modules."""
    load_tables(config)
    compact_skeleton("Peerhaven")          # the Unicode confusables table (6,300 entries)


def build_runtime(config: Config, data_key: str, transports: dict[str, Transport],
                  clock: Clock | None = None, concurrency: int = 32) -> Runtime:
    clock = clock or SystemClock()
    vault = IdentityVault(data_key)
    engine = make_engine(config.storage.url, echo=config.storage.echo)
    migrate(engine)
    keys_engine = make_engine(config.storage.keys_url) if config.storage.keys_url else None
    db = Database(engine, vault, clock, keys_engine)
    directory = Directory(config, vault)
    with db.uow() as uow:
        uow.accounts.check_key()      # a wrong data key stops the start, not the first message
        uow.accounts.bind_legacy()    # identities sealed before they were bound to their account id
        directory.sync(uow)
        sync_config_roles(uow, config)     # consultants named in the config (operator grants kept)
    vault.accept_unbound = False      # every stored identity is bound now: an unbound one is a copy
    i18n = I18n()
    renderer = Renderer(i18n, config)
    register_renderers(renderer)
    dbt = DbThread(db)
    worker = OutboxWorker(db, transports, renderer, clock, concurrency=concurrency, dbt=dbt)
    for transport in transports.values():     # transports that keep state get the key and a status line
        bind = getattr(transport, "bind_runtime", None)
        if bind is not None:
            # called on the loop (Matrix's status line): written in the database thread, not awaited
            bind(data_key, lambda key, value: dbt.submit(_set_state, db, key, value))
    services = {"directory": directory, "i18n": i18n, **feature_services()}
    app = App(config, db, build_router(), i18n, clock, worker, services, dbt=dbt)
    return Runtime(config=config, db=db, app=app, worker=worker, renderer=renderer, i18n=i18n,
                   clock=clock, transports=transports, dbt=dbt)


def _set_state(db: Database, key: str, value: str) -> None:
    with db.uow() as uow:
        uow.state.set(key, value)


async def run_console(rt: Runtime, stream: IO[str] | None = None) -> None:
    """Read the whole script, then deliver everything pending and stop (PRODUCT §7)."""
    from bot.transports.console import ConsoleTransport

    console = rt.transports["console"]
    assert isinstance(console, ConsoleTransport)

    def label(address: str, key: str) -> str:
        """A console marker ("Updated:", "Removed: …") in that console user's language."""
        with rt.db.uow() as uow:
            account = uow.accounts.find("console", address)
            person = uow.people.get(account.person_id) if account is not None else None
        lang = (person.language if person is not None else None) or rt.config.bot.default_language
        return rt.i18n.t(lang, key)

    console.label = label
    # The scheduler runs too: a session that stays open gets its café reminders on time.
    await rt.start(scheduler=True, worker=True)
    try:
        await console.read(stream, after_each=rt.worker.drain)
        await rt.worker.drain()
        await rt.finish_jobs()        # e.g. the retention run that began at the start
    finally:
        await rt.stop()


async def run_forever(rt: Runtime, stop: asyncio.Event) -> None:
    await rt.start()
    log.info("peerhaven running with transports: %s", ", ".join(rt.transports) or "none")
    try:
        await stop.wait()
    finally:
        await rt.stop()
