"""login_token: access tokens shared by the workers that log in as one account

With several worker processes, each keeping its tokens in memory logged in once per process
(Bluesky allows 300 logins a day per handle). The row keeps one token per account for all of
them; `account` is built from the connector's key, which names the account (platform, server,
handle), never a secret.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_token",
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("expires_at", monitor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )


def downgrade() -> None:
    op.drop_table("login_token")
