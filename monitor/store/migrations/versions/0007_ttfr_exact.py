"""ttfr_exact: a TTFR measured from a thread not read in full is marked as an upper bound

`mention.ttfr_exact` is False when the walk that found the first brand reply stopped early
(a page bound, an unexpanded Reddit stub), True once a walk read the whole thread, and NULL
while unanswered. Rows answered before this migration stay NULL: nobody recorded whether
their thread was read in full, and claiming either would be a guess (reports count only
False as "not exact"). `brand_reply.earlier_unseen` carries the connector's flag; NULL for
the replies stored before. The column joins ix_mention_report so the report's count pass
still reads the index alone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
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
    "sla_state",
]


def upgrade() -> None:
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ttfr_exact", sa.Boolean(), nullable=True))
    with op.batch_alter_table("brand_reply", schema=None) as batch_op:
        batch_op.add_column(sa.Column("earlier_unseen", sa.Boolean(), nullable=True))
    op.drop_index("ix_mention_report", table_name="mention")
    op.create_index("ix_mention_report", "mention", [*BEFORE, "ttfr_exact"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mention_report", table_name="mention")
    op.create_index("ix_mention_report", "mention", BEFORE, unique=False)
    with op.batch_alter_table("brand_reply", schema=None) as batch_op:
        batch_op.drop_column("earlier_unseen")
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.drop_column("ttfr_exact")
