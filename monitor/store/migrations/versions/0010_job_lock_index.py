"""job queue: an index on the jobs' lock, so taking a job reads one job however many are due

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# procrastinate's job fetch (procrastinate_fetch_job_v2) skips a job whose lock another job
# holds, looking the lock up for each candidate; its own indexes have the lock second (id,
# lock) or for running jobs only, so each lookup read the whole index, and on a job table
# without fresh statistics PostgreSQL checked every due job before taking one: about 500
# index scans a job with 1,000 due, 150-190 ms a fetch with 4,000 (bench/worker_bench.py,
# bench/README.md). With this index a lookup reads one entry, and the planner takes the
# first due job, statistics or not.
INDEX = "monitor_procrastinate_jobs_lock_idx"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite has no job queue
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON procrastinate_jobs (lock)"
        " WHERE status IN ('todo', 'doing')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
