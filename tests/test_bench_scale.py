"""bench.scale at a small size: the drain stays linear (database work per delivery, counted in
SQLite VM steps, not time) and every queued copy arrives exactly once."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale import run, two_processes


async def test_small_scale_run_drains_linearly_and_exactly_once(tmp_path: Path) -> None:
    r = await run(members=60, posts=300, threads=10, url=f"sqlite:///{tmp_path / 'scale.db'}", rounds=2,
                  lock_seconds=1.0)
    per1, work1, sent1 = r["drain1"]
    per10, work10, sent10 = r["drain10"]
    assert sent1 >= 59 and sent10 == 10 * sent1           # each copy once, none lost, none twice
    # The old claim re-checked every pending row: ten queued posts cost ~10x per delivery.
    assert work10 <= 2.0 * work1
    assert r["rows_after"] == (0, 0)                       # retention removes what it may
    # /help from people while a post is drained and while another process holds the write
    # lock: everyone gets an answer (the help, or "send it again" with their text), and the
    # loop stalls far less than the lock was held.
    for name in ("help_fanout", "help_locked"):
        assert r[name]["p99_ms"] < 10000 and r[name]["stall_ms"] < 500


@pytest.mark.postgres
def test_the_two_process_drain_figure_checks_every_row_once(pg_cluster) -> None:
    two = two_processes(pg_cluster, members=40, backlog_posts=2)
    # 39 copies, twice (the author's confirmations are sent by the handler itself)
    assert two[1]["queued"] == two[2]["queued"] == 2 * 39
    assert two["exactly_once"] and two[2]["twice"] == 0 and two["ratio"] > 0
