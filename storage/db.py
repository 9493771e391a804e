"""Engine creation and schema migration, and how long a transaction may wait for another.

Every wait is bounded (issue 15): a transaction that waits for another process's lock gives
up after about a second instead of holding the event loop's work hostage, and the caller
(bot.dbthread) runs it again a few times before it tells the person to try again.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, Integer, any_, bindparam, create_engine, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

MIGRATIONS = Path(__file__).with_name("migrations")
# SQLite: how long a writer waits for another writer's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 1.0
# PostgreSQL: a row or table lock is waited for about as long; a statement that runs longer
# than STATEMENT_TIMEOUT is a bug or a runaway plan, and is cancelled rather than left to
# hold its locks and a pool connection.
PG_LOCK_TIMEOUT_MS = 1000
PG_STATEMENT_TIMEOUT_MS = 30000

# The wait for a lock of the transactions a thread begins, when it sets one (lock_wait):
# the bot's one database thread waits only briefly and retries *on the loop* (bot.dbthread),
# so one transaction stuck behind another process's lock does not keep every other one queued
# behind it for the whole timeout. Other threads and processes keep the defaults above.
_waits = threading.local()


@contextmanager
def lock_wait(ms: int | None, *, read_only: bool = False) -> Iterator[None]:
    """Transactions begun in this thread inside the block wait at most ``ms`` for a lock
    (None: the engine's default); with ``read_only`` any write in them fails at once."""
    before = getattr(_waits, "setting", None)
    _waits.setting = (ms, read_only)
    try:
        yield
    finally:
        _waits.setting = before


def is_read_only_refusal(exc: BaseException) -> bool:
    """A write was tried inside a read_only lock_wait."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return "readonly" in str(orig).replace(" ", "").lower()
    return getattr(orig, "sqlstate", None) == "25006"       # read_only_sql_transaction


def _bounded_begin(conn) -> None:  # type: ignore[no-untyped-def]
    """At each transaction's start: this thread's lock wait and read-only setting."""
    ms, read_only = getattr(_waits, "setting", None) or (None, False)
    info = conn.connection.info
    if conn.dialect.name == "sqlite":
        want = (int(SQLITE_BUSY_TIMEOUT_S * 1000) if ms is None else ms, read_only)
        if info.get("bounded") != want:      # pragmas last for the connection: set on change only
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {want[0]:d}")
            conn.exec_driver_sql(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")
            info["bounded"] = want
        return
    # Set for the connection, and only when it changes: a SET LOCAL at every begin was one
    # more round trip per transaction (PostgreSQL here shares the cores with the bot: each
    # costs ~1 ms, a handler makes ~10). A rolled-back transaction undoes a SET made in it,
    # so a rollback forgets what was set (_forget_wait).
    want = PG_LOCK_TIMEOUT_MS if ms is None else ms
    if info.get("lock_timeout") != want:
        conn.exec_driver_sql(f"SET lock_timeout = '{want:d}ms'")
        info["lock_timeout"] = want
    if read_only:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def _forget_wait(conn) -> None:  # type: ignore[no-untyped-def]
    conn.connection.info.pop("lock_timeout", None)


# SQLSTATEs after which running the whole transaction again may succeed: lock_timeout
# (lock_not_available), serialization_failure, deadlock_detected.
_PG_RETRYABLE = {"55P03", "40001", "40P01"}
_PG_CANCELLED = "57014"          # query_canceled: statement_timeout gave up


def is_contention(exc: BaseException) -> bool:
    """The transaction failed only because another one held a lock it needed: it was rolled
    back whole and may simply be run again."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _PG_RETRYABLE:
        return True
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return "locked" in message or "busy" in message
    return False


def gave_up_waiting(exc: BaseException) -> bool:
    """A bounded wait ran out (a lock still held, or a statement past its time limit)."""
    return is_contention(exc) or (isinstance(exc, DBAPIError)
                                  and getattr(exc.orig, "sqlstate", None) == _PG_CANCELLED)


def make_engine(url: str, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict = {"timeout": SQLITE_BUSY_TIMEOUT_S}
        extra: dict = {}
        if not parsed.database or parsed.database == ":memory:":
            # A database in memory exists once per connection: the one database thread and the
            # loop (tests, the console's labels) must share the same connection to see it.
            connect_args["check_same_thread"] = False
            extra["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, connect_args=connect_args, **extra)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets readers run beside the single writer; foreign keys are off by default.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Deleted rows (erased posts, drafts) are overwritten with zeros, not just
            # unlinked, so their text does not linger in free pages of the file.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        event.listen(engine, "begin", _bounded_begin)
        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    options = f"-c lock_timeout={PG_LOCK_TIMEOUT_MS} -c statement_timeout={PG_STATEMENT_TIMEOUT_MS}"
    engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5,
                           connect_args={"options": options})
    event.listen(engine, "begin", _bounded_begin)
    event.listen(engine, "rollback", _forget_wait)
    return engine


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call at every start."""
    # A migration may rewrite a big table and must wait for other processes still running the
    # old version; it runs before this process answers anyone, so the limits do not apply.
    # (execution_options would not reach the connection Alembic opens; an event does.)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _unbounded)
    try:
        command.upgrade(alembic_config(engine), revision)
    finally:
        if engine.dialect.name == "postgresql":
            event.remove(engine, "begin", _unbounded)


def _unbounded(conn) -> None:  # type: ignore[no-untyped-def]
    # SET LOCAL ends with the transaction: the pooled connection keeps its bounded waits.
    conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")



class AdvisoryLock:
    """A PostgreSQL session-level advisory lock held on its own connection for as long as the
    process wants it; it vanishes with the process. With SQLite there is only ever one
    process, which always holds every lock and never sees another holder."""

    def __init__(self, engine: Engine, space: int, key: int) -> None:
        self.engine = engine
        self.key = {"a": space, "b": key}
        self._conn = None

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        if not self._postgres or self._conn is not None:
            return True
        conn = self.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), self.key).scalar())
        conn.commit()
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def release(self) -> None:
        if self._conn is not None:
            # Ending the database session releases the lock; a plain close() would only
            # return the connection (and the lock with it) to the pool.
            self._conn.invalidate()
            self._conn.close()
            self._conn = None


class LeaderLock(AdvisoryLock):
    """Only one process runs the scheduler when several share one PostgreSQL database."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, 0x5048, 0)


class OwnerLock(AdvisoryLock):
    """Held by each outbox worker under its own id while it lives."""

    SPACE = 0x5049

    def __init__(self, engine: Engine, owner: int) -> None:
        super().__init__(engine, self.SPACE, owner)

    def is_gone(self, other: int) -> bool:
        """True when no live process holds ``other``'s lock (its rows may be recovered)."""
        if not self._postgres:
            return True
        with self.engine.connect() as conn:
            key = {"a": self.SPACE, "b": other}
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), key).scalar())
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), key)
            conn.commit()
        return got


def ids_in(session: Session, column, ids) -> ColumnElement[bool]:  # type: ignore[no-untyped-def]
    """``column IN ids`` for an integer column. On PostgreSQL written ``column = ANY(array)``:
    the statement's text is then the same for every number of ids, so SQLAlchemy renders it
    once and psycopg prepares it once. An IN list is a new text for each batch size, rendered,
    parsed and planned again every time; in a fan-out step of 300 recipients that was a
    sixth of the database thread's time (py-spy), and the server's planning shares the cores."""
    values = list(ids)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(Integer)))
    return column.in_(values)
