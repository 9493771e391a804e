"""Several processes on one PostgreSQL (issue 15): two OS processes, each an OutboxWorker,
drain one backlog; every row reaches its recipient exactly once and in order."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from storage.models import OutboxItem
from storage.repo import BULK, DIRECT
from tests.harness import Harness

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS, PER_ACCOUNT = 250, 20          # 5,000 rows; two runs of ten per recipient and lane


def _queue_backlog(rt) -> set[str]:
    """Per account 20 rows, every fourth a direct answer; the command names the row."""
    expected = set()
    with rt.db.uow() as uow:
        accounts = [uow.accounts.find_or_create(Harness.user(f"m{i}"), uow.people, "en").id
                    for i in range(ACCOUNTS)]
    for n in range(PER_ACCOUNT):
        lane = DIRECT if n % 4 == 3 else BULK
        with rt.db.uow() as uow:
            uow.outbox.add_many([{"account_id": a, "lane": lane, "payload": {
                "key": "command.unknown", "params": {"command": f"L{lane}-m{i}-{n}"}}}
                for i, a in enumerate(accounts)])
        expected |= {f"L{lane}-m{i}-{n}" for i in range(ACCOUNTS)}
    return expected


def _drain_in_processes(url: str, tmp: Path, count: int) -> list[dict]:
    go = tmp / "go"
    children = [subprocess.Popen([sys.executable, "-m", "tests.drain_child", url, f"p{n}", str(go),
                                  str(tmp / f"out{n}.json")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
                for n in range(count)]
    try:
        for child in children:                  # both built and waiting: they start together
            assert child.stdout.readline().strip() == "READY"
        go.touch()
        for child in children:
            assert child.wait(timeout=120) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    return [json.loads((tmp / f"out{n}.json").read_text()) for n in range(count)]


@pytest.mark.postgres
async def test_two_processes_drain_one_backlog_exactly_once_and_in_order(make_runtime, pg_url,
                                                                         tmp_path: Path) -> None:
    rt = make_runtime(url=pg_url, clock=FakeClock(datetime.now(timezone.utc) - timedelta(minutes=1)))
    expected = _queue_backlog(rt)
    assert len(expected) == ACCOUNTS * PER_ACCOUNT
    records = _drain_in_processes(pg_url, tmp_path, 2)
    sent = [[re.search(r'"(L\d-m\d+-\d+)"', text).group(1) for _, _, text in r["sent"]] for r in records]
    assert all(sent), "both processes took part"
    assert set(sent[0]) | set(sent[1]) == expected             # every row delivered...
    assert not set(sent[0]) & set(sent[1])                      # ...by one process only...
    assert len(sent[0]) + len(sent[1]) == len(expected)         # ...once
    merged = sorted((at, address, name) for r, names in zip(records, sent)
                    for (at, address, _), name in zip(r["sent"], names))
    order: dict[tuple[str, str], list[int]] = {}
    for _, address, name in merged:
        lane, member, n = name.split("-")
        assert member == address
        order.setdefault((address, lane), []).append(int(n))
    for key, numbers in order.items():                          # in order per recipient and lane
        assert numbers == sorted(numbers), key
    with rt.db.uow() as uow:
        statuses = dict(uow.session.execute(select(OutboxItem.status, func.count())
                                            .group_by(OutboxItem.status)).all())
        heads = uow.session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.head.is_(True)))
    assert statuses == {"done": len(expected)} and heads == 0
