"""report index: one covering index whose prefix is the reports' GROUP BY

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "status",
    "platform",
    "feed",
    "sentiment",
    "language",
    "created_at",
    "ttfr_seconds",
    "ttfr_business_seconds",
    "sla_met",
    "sla_due_at",
    "rating",
    "score",
]


def upgrade() -> None:
    op.create_index("ix_mention_report", "mention", COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_mention_report", table_name="mention")
