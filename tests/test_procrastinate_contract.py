"""What monitor/cluster/ and the presence proof read of procrastinate beyond its documented API:
its Worker class and `worker_id`, and two columns of its tables. pyproject.toml bounds
procrastinate to the release these were read against; this fails first when they move."""

from __future__ import annotations

import asyncio
import inspect

import sqlalchemy as sa
from procrastinate.worker import Worker
from sqlalchemy.engine import Engine

from monitor.cluster.jobs import QUEUED, build_app

# the keyword arguments monitor/cluster/worker.py passes to Worker
WORKER_OPTIONS = {
    "name",
    "concurrency",
    "listen_notify",
    "fetch_job_polling_interval",
    "update_heartbeat_interval",
    "stalled_worker_timeout",
    "shutdown_graceful_timeout",
    "delete_jobs",
    "install_signal_handlers",
    "additional_context",
}


def test_the_worker_takes_the_options_we_pass() -> None:
    assert set(inspect.signature(Worker.__init__).parameters) >= WORKER_OPTIONS


def test_the_tables_have_the_columns_we_read(postgres_engine: Engine) -> None:
    columns = {
        (table, column["name"])
        for table in ("procrastinate_workers", "procrastinate_jobs")
        for column in sa.inspect(postgres_engine).get_columns(table)
    }
    assert {
        ("procrastinate_workers", "id"),
        ("procrastinate_workers", "last_heartbeat"),
        ("procrastinate_jobs", "task_name"),
        ("procrastinate_jobs", "queueing_lock"),
        ("procrastinate_jobs", "status"),
    } <= columns
    with postgres_engine.connect() as conn:
        assert conn.exec_driver_sql(QUEUED).all() == []


def test_a_running_worker_shows_its_id_and_heartbeat_row(postgres_engine: Engine) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    app = build_app(url, pool_size=4)

    async def run() -> tuple[int | None, float | None]:
        async with app.open_async():
            worker = Worker(app, install_signal_handlers=False, update_heartbeat_interval=1)
            task = asyncio.create_task(worker.run())
            for _ in range(100):
                if worker.worker_id is not None:
                    break
                await asyncio.sleep(0.05)
            seen = worker.worker_id
            with postgres_engine.connect() as conn:
                age = conn.execute(
                    sa.text(
                        "SELECT EXTRACT(EPOCH FROM now() - last_heartbeat)"
                        " FROM procrastinate_workers WHERE id = :id"
                    ),
                    {"id": seen},
                ).scalar()
            worker.stop()
            await task
            return seen, None if age is None else float(age)

    worker_id, age = asyncio.run(run())
    assert worker_id is not None
    assert age is not None and 0 <= age < 5
