"""Alembic environment: runs against the engine the application hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import monitor.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from monitor.store.migrations.env_filter import include_name

engine = context.config.attributes.get("engine")
if engine is None:  # `alembic` run by hand: take the URL from alembic's own config
    from monitor.store.db import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()
