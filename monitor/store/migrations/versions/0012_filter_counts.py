"""feed_state: what each feed's filters judged and dropped, for `monitor status`

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_state") as batch:
        batch.add_column(
            sa.Column("items_checked", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("items_filtered", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_state") as batch:
        batch.drop_column("items_filtered")
        batch.drop_column("items_checked")
