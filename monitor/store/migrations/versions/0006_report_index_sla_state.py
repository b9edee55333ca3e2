"""report index: sla_state joins ix_mention_report (backfilled history has no SLA clock)

Reports leave mentions with `sla_state = 'backfill'` out of every SLA figure; with the column
in the covering index the count pass still reads the index alone, never the table rows.

Revision ID: 0006
Revises: 0005 on this branch; main's 0005 (scheduler beat) comes first once both are merged
Create Date: 2026-12-04 22:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = [
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
    op.drop_index("ix_mention_report", table_name="mention")
    op.create_index("ix_mention_report", "mention", [*BEFORE, "sla_state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mention_report", table_name="mention")
    op.create_index("ix_mention_report", "mention", BEFORE, unique=False)
