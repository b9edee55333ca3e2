"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
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
