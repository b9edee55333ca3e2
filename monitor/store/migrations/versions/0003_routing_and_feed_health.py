"""routing and feed health: an alert's route and storm digest; a feed's failure streak and activity

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import monitor.store.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("route", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failing_since", monitor.store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_item_at", monitor.store.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        batch_op.drop_column("last_item_at")
        batch_op.drop_column("failing_since")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("digest_id")
        batch_op.drop_column("route")
