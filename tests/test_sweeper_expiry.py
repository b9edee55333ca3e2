"""The sweeper expires open mentions past `sla.expire_after` in one UPDATE, and only those."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor.alerting.sweeper import Sweeper
from monitor.config import parse_config
from monitor.store.db import session
from monitor.store.models import Mention

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def add(engine: Engine, external_id: str, age: timedelta, status: str = "open") -> None:
    with session(engine) as s:
        s.add(
            Mention(
                platform="reddit",
                feed="f1",
                external_id=external_id,
                text="where is my order",
                created_at=NOW - age,
                fetched_at=NOW,
                sentiment="neutral",
                status=status,
                sla_state="backfill",
            )
        )
        s.commit()


def test_open_mentions_older_than_expire_after_expire_and_others_stay(
    sqlite_engine: Engine,
) -> None:
    config = parse_config({"sla": {"expire_after": "7d"}, "feeds": []})
    add(sqlite_engine, "old-open", timedelta(days=8))
    add(sqlite_engine, "old-open-2", timedelta(days=30))
    add(sqlite_engine, "young-open", timedelta(days=6, hours=23))
    add(sqlite_engine, "old-answered", timedelta(days=9), status="answered")
    report = Sweeper(config, sqlite_engine, clock=lambda: NOW).run_once(NOW)
    assert report.expired == 2
    with session(sqlite_engine) as s:
        rows = s.exec(select(Mention).order_by(col(Mention.external_id))).all()
        statuses = {m.external_id: m.status for m in rows}
    assert statuses == {
        "old-answered": "answered",
        "old-open": "expired",
        "old-open-2": "expired",
        "young-open": "open",
    }
    # a second sweep finds nothing more to expire
    assert Sweeper(config, sqlite_engine, clock=lambda: NOW).run_once(NOW).expired == 0
