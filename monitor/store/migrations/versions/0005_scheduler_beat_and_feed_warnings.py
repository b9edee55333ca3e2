"""scheduler beat and feed warnings: is `monitor run` running; what a good poll warned about

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import monitor.store.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduler_beat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("beat_at", monitor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_warning", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_warning_at", monitor.store.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        batch_op.drop_column("last_warning_at")
        batch_op.drop_column("last_warning")
    op.drop_table("scheduler_beat")
