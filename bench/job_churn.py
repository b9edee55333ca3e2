"""The row versions one procrastinate job leaves behind, finished jobs deleted: what vacuums.

    python bench/job_churn.py --postgres postgresql://postgres@127.0.0.1/postgres
    python bench/job_churn.py --postgres ... --jobs 2000 --concurrency 8

Creates a scratch database beside the one named (dropped at the end), applies procrastinate's
schema, turns autovacuum off on the two job tables so nothing is reclaimed while counting,
defers `--jobs` jobs of a task that does nothing and runs one worker until the queue is empty
with `delete_jobs="always"`, as `monitor worker` does. Printed per table: inserts, updates
(in place or not) and deletes per job from `pg_stat_user_tables`, the dead rows left, and the
table's size with its indexes per job. docs/deployment.md ("Autovacuum on the job table")
quotes these figures. Needs the `distributed` extra (procrastinate with psycopg).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import procrastinate
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

TABLES = ("procrastinate_jobs", "procrastinate_events")
STATS = """
SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, n_dead_tup,
       pg_total_relation_size(relid)
FROM pg_stat_user_tables WHERE relname = ANY(%s)
"""


def counters(conninfo: str) -> dict[str, tuple[int, ...]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(STATS, (list(TABLES),)).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


async def churn(conninfo: str, jobs: int, concurrency: int) -> None:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task(name="noop")
    async def noop(i: int) -> None:
        return None

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for table in TABLES:
                conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        time.sleep(1.0)  # the server publishes table counters about once a second
        before = counters(conninfo)
        for i in range(jobs):
            await noop.defer_async(i=i)
        await app.run_worker_async(
            wait=False, concurrency=concurrency, delete_jobs="always", install_signal_handlers=False
        )
    time.sleep(1.5)
    after = counters(conninfo)
    for table in TABLES:
        was = before.get(table, (0,) * 6)
        ins, upd, hot, dele = (after[table][k] - was[k] for k in range(4))
        dead, size = after[table][4], after[table][5]
        print(
            f"{table}: per job {ins / jobs:.2f} inserts, {upd / jobs:.2f} updates "
            f"({hot / jobs:.2f} in place), {dele / jobs:.2f} deletes; {dead} dead rows left; "
            f"{size / 1024:.0f} kB with indexes, {size / jobs:.0f} bytes a job"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="a server URL to create a database on")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    name = f"job_churn_{uuid.uuid4().hex[:8]}"
    server = conninfo_to_dict(args.postgres)
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        asyncio.run(churn(make_conninfo(**{**server, "dbname": name}), args.jobs, args.concurrency))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
