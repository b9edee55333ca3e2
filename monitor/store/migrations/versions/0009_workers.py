"""workers: the job queue's schema (procrastinate, PostgreSQL only), worker rows, channel pace

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import monitor.store.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEEDS_PROCRASTINATE = (
    "PostgreSQL runs the monitor as workers on a job queue: pip install "
    "'social-response-monitor[distributed]' (procrastinate), then `monitor db upgrade` again"
)


def upgrade() -> None:
    op.create_table(
        "monitor_worker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("started_at", monitor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", monitor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", monitor.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("queue_worker_id", sa.Integer(), nullable=True),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("stalled_after", sa.Float(), nullable=False),
        sa.Column("jobs_done", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "channel_pace",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("last_post_at", monitor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite is one process with APScheduler: no job queue
    if bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is not None:
        return  # the queue's schema is there already (applied by hand with procrastinate)
    try:
        from procrastinate.schema import SchemaManager
    except ImportError:
        raise RuntimeError(NEEDS_PROCRASTINATE) from None
    # The schema of the procrastinate release installed (pinned in pyproject.toml: a newer
    # release brings its own SQL migrations, applied by a migration of ours with the bump).
    # The raw psycopg connection: the schema holds `%` and `:` that SQLAlchemy would parse.
    raw = bind.connection.driver_connection
    assert raw is not None
    raw.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.drop_table("channel_pace")
    op.drop_table("monitor_worker")
    # the queue's schema stays: it may hold jobs, and `procrastinate schema` manages it
