"""UTCDateTime on SQLite: aware datetimes stored as the text SQLAlchemy's DATETIME writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from monitor.store.models import Mention

AMSTERDAM_SUMMER = timezone(timedelta(hours=2))


def test_sqlite_stores_datetimes_as_sqlalchemys_datetime_text(sqlite_engine: Engine) -> None:
    # The fast bind must write the exact text SQLite's DATETIME type writes: reports compare
    # these columns as text, and rows written before the change must sort with rows after.
    reference = sqlite.DATETIME().bind_processor(sqlite_engine.dialect)
    assert reference is not None
    when = [
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=AMSTERDAM_SUMMER),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    ]
    with Session(sqlite_engine) as session:
        for i, moment in enumerate(when):
            session.add(
                Mention(
                    platform="p",
                    feed="f",
                    external_id=f"t{i}",
                    created_at=moment,
                    fetched_at=moment,
                )
            )
        session.commit()
    with sqlite_engine.connect() as conn:
        texts = [r[0] for r in conn.exec_driver_sql("SELECT created_at FROM mention ORDER BY id")]
    assert texts == [reference(m.astimezone(UTC).replace(tzinfo=None)) for m in when]
    assert texts[0] == "2026-11-23 09:00:00.000000"
    with Session(sqlite_engine) as session, pytest.raises(sa.exc.StatementError, match="naive"):
        session.add(
            Mention(
                platform="p",
                feed="f",
                external_id="naive",
                created_at=datetime(2026, 1, 1),
                fetched_at=when[0],
            )
        )
        session.commit()


def test_datetimes_read_back_aware_and_compare_in_sql(sqlite_engine: Engine) -> None:
    moment = datetime(2026, 3, 29, 3, 30, tzinfo=AMSTERDAM_SUMMER)  # 01:30 UTC
    with Session(sqlite_engine) as session:
        session.add(
            Mention(platform="p", feed="f", external_id="x", created_at=moment, fetched_at=moment)
        )
        session.commit()
        later = session.exec(
            select(Mention).where(Mention.created_at > datetime(2026, 3, 29, 1, 29, tzinfo=UTC))
        ).all()
        earlier = session.exec(
            select(Mention).where(Mention.created_at > datetime(2026, 3, 29, 1, 31, tzinfo=UTC))
        ).all()
    assert [m.created_at for m in later] == [datetime(2026, 3, 29, 1, 30, tzinfo=UTC)]
    assert earlier == []
