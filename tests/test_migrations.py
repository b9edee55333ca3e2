"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

import monitor.store.models  # noqa: F401  (registers the tables)
from monitor.store.db import upgrade
from monitor.store.migrations.env_filter import include_name


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": include_name}
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_upgrading_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)


def test_postgresql_gets_the_job_queue_schema_and_sqlite_does_not(engine: Engine) -> None:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            found = connection.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')")
            assert found.scalar() == "procrastinate_jobs"
            functions = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_proc WHERE proname = 'procrastinate_fetch_job_v2'"
            )
            assert functions.scalar() == 1
        else:
            names = connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
            assert not [n for n in names if n.startswith("procrastinate")]


def _candidate_query(connection: Connection) -> str:
    """The query procrastinate's job fetch runs to pick a job (from the installed function,
    so the test follows the pinned release), for every queue."""
    source = str(
        connection.exec_driver_sql(
            "SELECT prosrc FROM pg_proc WHERE proname = 'procrastinate_fetch_job_v2'"
        ).scalar_one()
    )
    body = source.split("WITH candidate AS (", 1)[1].split("UPDATE procrastinate_jobs", 1)[0]
    query = body.rsplit(")", 1)[0]
    return query.replace("target_queue_names", "NULL::varchar[]")


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def test_taking_a_job_looks_each_lock_up_in_one_index_entry(postgres_engine: Engine) -> None:
    """1,000 poll jobs due, half of them taken while another transaction stays open (polls
    writing), on a job table never analyzed: the fetch's check of a candidate's lock reads an
    entry or two of an index, not a whole index (procrastinate's own have the lock second),
    so taking a job does not slow down with the number of jobs queued."""
    with postgres_engine.connect() as conn:
        conn.exec_driver_sql(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args)"
            " SELECT 'default', 'monitor.poll', 'monitor.poll:f' || i, 'monitor.poll:f' || i,"
            " jsonb_build_object('feed', 'f' || i) FROM generate_series(1, 1000) AS i"
        )
        worker = conn.exec_driver_sql(
            "INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id"
        ).scalar_one()
        conn.commit()
    with postgres_engine.connect() as holder, postgres_engine.connect() as conn:
        holder.exec_driver_sql("SELECT txid_current()")  # an open transaction with an xid
        for _ in range(500):
            job = conn.exec_driver_sql(
                f"SELECT id FROM procrastinate_fetch_job_v2(NULL, {int(worker)})"
            ).scalar_one()
            conn.exec_driver_sql(f"SELECT procrastinate_finish_job_v1({job}, 'succeeded', true)")
            conn.commit()
        explained = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {_candidate_query(conn)}"
        ).scalar_one()
        conn.rollback()
        holder.rollback()
    plan = explained[0]["Plan"]
    lookups = [n for n in _nodes(plan) if n.get("Alias") == "other_jobs"]
    assert lookups, plan
    for lookup in lookups:
        pages = lookup["Shared Hit Blocks"] + lookup["Shared Read Blocks"]
        assert pages / lookup["Actual Loops"] <= 3, lookup
