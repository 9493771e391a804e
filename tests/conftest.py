"""Shared fixtures. Unit tests run with the network blocked: only loopback is allowed."""
from __future__ import annotations

import itertools
import socket
from pathlib import Path
from typing import Callable, Iterator

import pytest

from bot.clock import FakeClock
from bot.config import Config, GroupConfig, CommunityConfig
from bot.lifecycle import Runtime, build_runtime
from bot.transports.base import MemoryTransport
from tests.pg import PostgresCluster

DATA_KEY = "test-data-key-0123456789-abcdefghijklmnop"
_real_connect = socket.socket.connect
_db_counter = itertools.count()


def _guarded_connect(self: socket.socket, address) -> None:  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise RuntimeError(f"test tried to reach the network ({host}); tests must stay on loopback")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def fresh_pg_url(cluster: PostgresCluster) -> str:
    name = f"t{next(_db_counter)}"
    cluster.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return fresh_pg_url(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    """A fresh PostgreSQL database (for tests that only make sense there)."""
    return fresh_pg_url(pg_cluster)


def test_config(url: str, **group_overrides) -> Config:  # noqa: PT004 - a helper, not a test
    group = GroupConfig(slug="reconnect", name="ReConnect", invite_codes=["WELCOME"],
                        consultants=["console:lillian"],
                        communities=[CommunityConfig(slug="northtown", name="Northtown")])
    # The in-memory test platforms are not valid in a real config file, hence no validation here.
    group = group.model_copy(update={"consultants": ["console:lillian", "memory:lillian", "other:lillian"],
                                     **group_overrides})
    config = Config(groups=[group])
    config.storage.url = url
    config.bot.anonymity_reminder_days = 0
    return config


test_config.__test__ = False  # type: ignore[attr-defined]

RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[RuntimeFactory]:
    made: list[Runtime] = []

    def factory(url: str | None = None, transports: dict | None = None, clock: FakeClock | None = None,
                config: Config | None = None, **kw) -> Runtime:
        url = url or f"sqlite:///{tmp_path / 'bot.db'}"
        config = config or test_config(url)
        rt = build_runtime(config, DATA_KEY, transports or {"memory": MemoryTransport("memory")},
                           clock=clock or FakeClock(), **kw)
        made.append(rt)
        return rt

    yield factory
    for rt in made:
        rt.db.engine.dispose()
