"""The poll's hot statements store and find exactly what SQLAlchemy's own statements do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from monitor.store.bulk import insert_returning, listed, one_of
from monitor.store.models import Mention, table_of

MENTION = table_of(Mention)
AMSTERDAM_SUMMER = timezone(timedelta(hours=2))


def rows(prefix: str, count: int) -> list[dict[str, Any]]:
    """Mention rows with every kind of column: text, None, float, int, bool, datetimes."""
    start = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)
    return [
        dict(
            platform="reddit" if i % 2 else "trustpilot",
            feed="f",
            external_id=f"{prefix}{i}",
            url=None if i % 3 else f"https://example.com/{i}",
            author="ann",
            title=None,
            text=f"text {i} & <b>",
            rating=None if i % 2 else 1.5,
            score=i,
            # aware datetimes in another zone must be stored as UTC
            created_at=(start + timedelta(seconds=i)).astimezone(AMSTERDAM_SUMMER),
            fetched_at=start,
            sla_due_at=None if i % 4 else start + timedelta(hours=4),
            sentiment="negative",
            edited_after_reply=bool(i % 5 == 0),
        )
        for i in range(count)
    ]


def stored(engine: Engine, prefix: str) -> list[tuple[Any, ...]]:
    """Every column as the database holds it (SQLite: the stored text), minus the id."""
    columns = [c for c in MENTION.columns if c.name != "id"]
    raw = ", ".join(c.name for c in columns)
    with engine.connect() as conn:
        result = conn.execute(
            sa.text(f"SELECT {raw} FROM mention WHERE external_id LIKE :p ORDER BY score"),
            {"p": f"{prefix}%"},
        )
        return [tuple(row) for row in result]


def test_insert_returning_stores_what_sqlalchemys_insert_stores(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(sa.insert(MENTION), rows("core-", 30))
        returned = insert_returning(
            session, MENTION, rows("fast-", 30), ("id", "platform", "external_id")
        )
        session.commit()
    core, fast = stored(engine, "core-"), stored(engine, "fast-")
    external_id = [c.name for c in MENTION.columns if c.name != "id"].index("external_id")
    for row in (*core, *fast):
        assert row[external_id].startswith(("core-", "fast-"))
    strip = [tuple(v for i, v in enumerate(r) if i != external_id) for r in (*core, *fast)]
    assert strip[:30] == strip[30:]
    assert len(fast) == 30
    # defaults filled in (status "open", created_is_modified False), as SQLAlchemy fills them
    with Session(engine) as session:
        mentions = session.exec(select(Mention).where(Mention.external_id == "fast-0")).all()
        assert [(m.status, m.created_is_modified) for m in mentions] == [("open", False)]
        assert mentions[0].created_at == datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)
    # RETURNING gives each row's own id
    with Session(engine) as session:
        for id_, platform, external_id_value in returned:
            mention = session.get_one(Mention, id_)
            assert (mention.platform, mention.external_id) == (platform, external_id_value)


def test_insert_returning_splits_past_sqlites_parameter_limit(sqlite_engine: Engine) -> None:
    many = rows("many-", 1_600)  # 1,600 rows x 22 columns: more than 32,766 parameters
    with Session(sqlite_engine) as session:
        returned = insert_returning(session, MENTION, many, ("external_id",))
        session.commit()
    assert sorted(r[0] for r in returned) == sorted(r["external_id"] for r in many)
    assert len(stored(sqlite_engine, "many-")) == 1_600


def test_a_duplicate_raises_sqlalchemys_integrity_error(engine: Engine) -> None:
    # the pipeline retries a poll on sqlalchemy.exc.IntegrityError, not on sqlite3's own
    with Session(engine) as session:
        insert_returning(session, MENTION, rows("dup-", 2), ("id",))
        with pytest.raises(IntegrityError):
            insert_returning(session, MENTION, rows("dup-", 1), ("id",))


def test_one_of_finds_what_in_finds_using_the_unique_index(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(sa.insert(MENTION), rows("find-", 40))
        session.commit()
    wanted = [f"find-{i}" for i in range(0, 40, 3)] + ["find-missing", 'it\'s "quoted"']
    dialect = engine.dialect.name
    by_key = select(MENTION.c.id).where(
        MENTION.c.platform == sa.bindparam("platform"),
        one_of(dialect, MENTION.c.external_id, "ids"),
    )
    by_id = select(MENTION.c.id).where(one_of(dialect, MENTION.c.id, "ids"))
    with Session(engine) as session:
        for platform in ("reddit", "trustpilot"):
            # one statement, executed again with other values (as the pipeline does)
            fast = session.execute(
                by_key, {"platform": platform, "ids": listed(dialect, wanted)}
            ).scalars()
            plain = session.exec(
                select(MENTION.c.id).where(
                    MENTION.c.platform == platform, MENTION.c.external_id.in_(wanted)
                )
            ).all()
            assert sorted(fast) == sorted(plain) and plain
        ids = session.exec(select(MENTION.c.id)).all()[:5]
        found = session.execute(by_id, {"ids": listed(dialect, ids)}).scalars().all()
        assert sorted(found) == sorted(ids)
        assert session.execute(by_id, {"ids": listed(dialect, [])}).scalars().all() == []
    if dialect == "sqlite":
        with engine.connect() as conn:
            plan = conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {by_key.compile(engine)}",
                ("reddit", listed(dialect, wanted)),
            )
            details = " ".join(str(row[-1]) for row in plan)
        assert "SEARCH mention USING COVERING INDEX sqlite_autoindex_mention_1" in details, details
