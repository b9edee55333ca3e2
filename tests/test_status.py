"""`monitor status` reads without the write lock: it answers while a poll's transaction is open."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import parse_config
from monitor.reports.status import render_status
from monitor.store.db import open_store
from monitor.store.db import session as open_session
from monitor.store.models import Alert, FeedState

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_status_neither_waits_for_nor_blocks_a_polls_write_transaction(tmp_path: Path) -> None:
    config = parse_config(
        {"feeds": [{"name": "blog", "type": "rss", "url": "https://example.com/feed"}]}
    )
    engine = open_store(f"sqlite:///{tmp_path / 'busy.db'}")
    with open_session(engine) as session:
        session.add(
            FeedState(
                feed="blog",
                last_poll_at=NOW,
                last_success_at=NOW - timedelta(minutes=5),
                items_seen=12,
            )
        )
        session.add(
            Alert(key="k", kind="negative", channel="#c", next_attempt_at=NOW, created_at=NOW)
        )
        session.commit()
    poll = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    poll.execute("BEGIN IMMEDIATE")  # a poll's transaction holds the write lock
    poll.execute("UPDATE feed_state SET items_seen = 13")
    with ThreadPoolExecutor(1) as pool:
        # a status read taking the write lock too would wait here for busy_timeout (30 s)
        text = pool.submit(render_status, config, engine, NOW).result(timeout=10)
        # it sees the last committed state, not the poll's uncommitted write
        [row] = [line for line in text.splitlines() if line.startswith("blog")]
        assert row.split()[2:4] == ["ok", "5m"] and " 12 " in row
        assert "1 pending" in text
        poll.execute("COMMIT")  # and the poll can still commit while status reads
    poll.close()
    engine.dispose()
