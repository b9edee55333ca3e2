"""The worker jobs (monitor/cluster/jobs.py) on a real procrastinate queue in PostgreSQL, run in
this process: which job a worker takes first, what a stopping worker leaves locked, what the
planner does when the config changed under queued jobs."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa
from procrastinate import App, JobContext
from procrastinate.worker import Worker
from sqlalchemy.engine import Engine

from monitor.cluster.jobs import DELIVER, PLAN, POLL, REAP, SWEEP, _locks, build_app
from monitor.config import parse_config
from monitor.store.models import FeedState, table_of

pytest.importorskip("procrastinate")


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


class _Presence:
    """What the jobs ask of a worker's presence: counts only."""

    stalled_after = 30.0

    def __init__(self) -> None:
        self.done = 0

    def job_done(self, failure: str | None = None) -> None:
        self.done += 1


def _jobs(engine: Engine, task: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, status, scheduled_at FROM procrastinate_jobs"
                " WHERE task_name = :task ORDER BY id"
            ),
            {"task": task},
        ).mappings()
        return [dict(row) for row in rows]


def test_a_worker_takes_deliveries_reaps_plans_and_sweeps_before_a_backlog_of_polls(
    postgres_engine: Engine,
) -> None:
    """Jobs of equal priority are taken in id order, and a poll chain's next job is deferred
    long before the tick's delivery or reap: with more polls due than a worker runs at once
    (a first cycle over new feeds, a slow platform), alerts wait for Slack, a dead worker's
    jobs wait for the reaper, and a sweep still queued at the next minute makes that tick's
    deferral fail on its queueing lock (the tick, and the digest due in it, are lost)."""

    async def first_taken() -> list[str]:
        app = build_app(_url(postgres_engine), pool_size=2)
        async with app.open_async():
            for n in range(30):  # polls due now, deferred before the ticks below
                feed = f"f{n}"
                await (
                    app.tasks[POLL].configure(**_locks(POLL, {"feed": feed})).defer_async(feed=feed)
                )
            await app.tasks[DELIVER].defer_async()
            for task in (REAP, PLAN, SWEEP):
                await app.tasks[task].defer_async(timestamp=0)
            worker_id = await app.job_manager.register_worker()
            taken = []
            for _ in range(4):
                job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
                assert job is not None
                taken.append(job.task_name)
            return taken

    assert sorted(asyncio.run(first_taken())) == sorted([DELIVER, REAP, PLAN, SWEEP])


class _SlowDelivery:
    """A runtime whose delivery blocks (a Slack post in flight) until released."""

    def __init__(self) -> None:
        self.presence = _Presence()
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    def deliver(self) -> bool:
        self.started.set()
        self.release.wait(30)
        self.finished.set()
        return False


def test_a_stopping_worker_keeps_the_slack_lock_while_its_delivery_thread_still_runs(
    postgres_engine: Engine,
) -> None:
    """SIGTERM, then `stop_timeout` passes with a delivery in flight (a backlog takes up to
    60 s of rounds): procrastinate cancels the job's asyncio task and deletes the job, but
    the thread under `asyncio.to_thread` goes on posting. The `slack` lock must not be free
    for another worker's delivery until that thread is done, or two workers post to one
    channel at once (each alert claimed by both: a duplicate; the shared pace read before the
    other's post is recorded: two messages within a second)."""
    runtime = _SlowDelivery()

    async def scenario() -> tuple[bool, bool]:
        app = build_app(_url(postgres_engine), pool_size=4)
        other = build_app(_url(postgres_engine), pool_size=2)
        async with app.open_async(), other.open_async():
            worker = Worker(
                app,
                concurrency=2,
                listen_notify=False,
                fetch_job_polling_interval=0.1,
                shutdown_graceful_timeout=0.3,
                delete_jobs="always",
                install_signal_handlers=False,
                additional_context={"runtime": runtime},
            )
            await app.tasks[DELIVER].defer_async()
            running = asyncio.create_task(worker.run())
            await asyncio.to_thread(runtime.started.wait, 10)
            assert runtime.started.is_set()
            worker.stop()  # SIGTERM
            await asyncio.sleep(1.5)  # past the graceful timeout: the job is aborted
            still_sending = not runtime.finished.is_set()
            # another worker, with the tick's delivery job deferred
            await other.tasks[DELIVER].defer_async()
            other_id = await other.job_manager.register_worker()
            taken = []  # the periodic plan and reap the worker deferred come too
            while (job := await other.job_manager.fetch_job(None, other_id)) is not None:
                taken.append(job.task_name)
            runtime.release.set()
            await asyncio.wait_for(running, 30)
            return still_sending, DELIVER in taken

    still_sending, other_took_delivery = asyncio.run(scenario())
    assert still_sending  # the scenario: the first delivery's thread was still in flight
    assert not other_took_delivery, "a second delivery ran while the first still posted"


class _Planner:
    """A runtime for the planner: a real config, the store, no re-checks."""

    def __init__(self, engine: Engine, interval: str) -> None:
        self.config = parse_config(
            {
                "storage": {"url": _url(engine)},
                "slack": {"default_channel": "#support"},
                "scheduler": {"jitter": 0},
                "feeds": [
                    {
                        "name": "f0",
                        "type": "rss",
                        "url": "http://127.0.0.1:9/f0.rss",
                        "interval": interval,
                    }
                ],
            }
        )
        self.engine = engine
        self.presence = _Presence()
        self.pipeline = SimpleNamespace(needs_recheck=lambda feed: False)


def _run_plan(app: App, runtime: object) -> str:
    async def plan() -> str:
        async with app.open_async():
            task = app.tasks[PLAN]
            job = task.configure().job.evolve(task_kwargs={"timestamp": 0})
            context = JobContext(
                app=app,
                job=job,
                start_timestamp=time.time(),
                additional_context={"runtime": runtime},
                abort_reason=lambda: None,
            )
            return cast(str, await task.func(context, timestamp=0))

    return asyncio.run(plan())


def test_a_shorter_interval_in_the_config_applies_to_a_poll_already_queued(
    postgres_engine: Engine,
) -> None:
    """A feed polled a minute ago on a 1 h interval has its next poll queued for in 59 min.
    The operator sets `interval = "5m"` and restarts the workers: the feed should be polled
    in 4 min, not in 59 (the planner sees the queued job and leaves it)."""
    polled_at = datetime.now(UTC) - timedelta(minutes=1)
    with postgres_engine.begin() as conn:
        conn.execute(
            sa.insert(table_of(FeedState)),
            {"feed": "f0", "last_poll_at": polled_at, "consecutive_failures": 0},
        )
    app = build_app(_url(postgres_engine), pool_size=2)

    async def queue_old_chain() -> None:
        async with app.open_async():
            await (
                app.tasks[POLL]
                .configure(
                    schedule_at=polled_at + timedelta(hours=1), **_locks(POLL, {"feed": "f0"})
                )
                .defer_async(feed="f0")
            )

    asyncio.run(queue_old_chain())
    _run_plan(app, _Planner(postgres_engine, "5m"))
    due = [job["scheduled_at"] for job in _jobs(postgres_engine, POLL) if job["status"] == "todo"]
    assert len(due) == 1
    assert due[0] <= polled_at + timedelta(minutes=5, seconds=1)


@pytest.mark.parametrize("task", [SWEEP, PLAN])
def test_a_tick_job_does_not_run_beside_the_previous_tick_of_its_kind(
    postgres_engine: Engine, task: str
) -> None:
    """A sweep slower than its minute (a big store) had the next tick's sweep start on
    another worker beside it: both find the same mention crossing its SLA and insert its
    alert, and the loser fails on the outbox's unique key (the weekly digest likewise). One
    at a time, as the single process runs them (`max_instances=1`)."""

    async def second_taken() -> str | None:
        app = build_app(_url(postgres_engine), pool_size=2)
        async with app.open_async():
            worker_id = await app.job_manager.register_worker()
            await app.tasks[task].defer_async(timestamp=0)
            first = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
            assert first is not None and first.task_name == task
            await app.tasks[task].defer_async(timestamp=60)  # the next tick, while it runs
            second = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
            return None if second is None else second.task_name

    assert asyncio.run(second_taken()) is None


def test_two_reapers_taking_over_the_same_jobs_both_finish_their_lists(
    postgres_engine: Engine,
) -> None:
    """Reaps are not locked (a reap stalled on a dead worker must not hold back the next), so
    two may find the same stalled jobs: the one that comes second must skip a job already
    taken over, not fail on it and leave the rest of its list (a delivery among them)."""
    runtime = SimpleNamespace(presence=_Presence(), engine=postgres_engine)

    async def reap_twice() -> tuple[Any, ...]:
        app = build_app(_url(postgres_engine), pool_size=4)
        async with app.open_async():
            dead = await app.job_manager.register_worker()
            for n in range(20):
                feed = f"f{n}"
                await (
                    app.tasks[POLL].configure(**_locks(POLL, {"feed": feed})).defer_async(feed=feed)
                )
                assert await app.job_manager.fetch_job(queues=None, worker_id=dead) is not None
            await app.job_manager.prune_stalled_workers(-1)  # its heartbeat row is gone
            task = app.tasks[REAP]

            def context() -> JobContext:
                job = task.configure().job.evolve(task_kwargs={"timestamp": 0})
                return JobContext(
                    app=app,
                    job=job,
                    start_timestamp=time.time(),
                    additional_context={"runtime": runtime},
                    abort_reason=lambda: None,
                )

            return await asyncio.gather(
                task.func(context(), timestamp=0),
                task.func(context(), timestamp=5),
                return_exceptions=True,
            )

    outcomes = asyncio.run(reap_twice())
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert _jobs(postgres_engine, POLL) == []


def test_a_reap_stalled_on_a_dead_worker_does_not_lock_out_the_next_reap(
    postgres_engine: Engine,
) -> None:
    """A worker killed (or cut off) while it reaps leaves its reap job 'doing'. Only a reap
    takes a stalled job over: with a `lock` on reaps, that dead reap held the lock and no reap
    could run again, so no dead worker's jobs (a delivery among them) were ever taken over
    and no silent worker's sessions closed."""

    async def next_reap_taken() -> bool:
        app = build_app(_url(postgres_engine), pool_size=2)
        async with app.open_async():
            dead = await app.job_manager.register_worker()
            await app.tasks[REAP].defer_async(timestamp=0)
            stalled = await app.job_manager.fetch_job(queues=None, worker_id=dead)
            assert stalled is not None and stalled.task_name == REAP
            await app.job_manager.prune_stalled_workers(-1)  # the worker is gone
            await app.tasks[REAP].defer_async(timestamp=5)
            alive = await app.job_manager.register_worker()
            taken = await app.job_manager.fetch_job(queues=None, worker_id=alive)
            return taken is not None and taken.task_name == REAP

    assert asyncio.run(next_reap_taken())
