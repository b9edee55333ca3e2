"""slack_reply: replies posted from Slack; action.text: what the agent typed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.store.models import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_reply",
        sa.Column("mention_id", sa.Integer(), sa.ForeignKey("mention.id"), primary_key=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("user_name", sa.String(200), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("taken_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reply_id", sa.String(500), nullable=True),
        sa.Column("reply_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reply_url", sa.String(2000), nullable=True),
        sa.Column("reply_author", sa.String(200), nullable=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("channel_id", sa.String(40), nullable=True),
        sa.Column("message_ts", sa.String(40), nullable=True),
    )
    with op.batch_alter_table("action") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("action") as batch:
        batch.drop_column("text")
    op.drop_table("slack_reply")
