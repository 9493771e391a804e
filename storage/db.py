"""Engine creation and schema migration."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

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

        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call at every start."""
    command.upgrade(alembic_config(engine), revision)



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
