"""The jobs workers share, as procrastinate tasks: poll, re-check, deliver, plan, sweep, reap.

Each feed has one poll job at a time: a poll job defers the feed's next one for when it is
due (the `queueing_lock` lets one wait in the queue, the `lock` lets one run); re-checks
likewise. The planner, every few seconds on whichever worker
takes it, defers the jobs that are missing: feeds new in the config, and chains broken by a
worker that died mid-job (the reaper fails its jobs once its heartbeat is `stalled_after`
old). Deliveries run one at a time cluster-wide (`lock` slack), so the outbox's order per
channel and its one message a second per channel hold across workers (the pace is kept in
the database, monitor/alerting/shared_pace.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Status

from monitor.cluster.planner import enabled_feeds, next_poll, polled
from monitor.cluster.runtime import Next, NotPresent, Runtime
from monitor.leadership.presence import cluster_stalled_after, cut_off_silent
from monitor.store.models import utcnow

log = logging.getLogger(__name__)

POLL = "monitor.poll"
RECHECK = "monitor.recheck"
STREAM = "monitor.stream"
DELIVER = "monitor.deliver"
PLAN = "monitor.plan"
SWEEP = "monitor.sweep"
REAP = "monitor.reap"
PLAN_CRON = "* * * * * */5"  # every 5 s: a new feed or a broken chain waits at most this
REAP_CRON = "* * * * * */5"
SWEEP_CRON = "* * * * *"  # every minute, as in the single process
# Taken before any poll or re-check due (procrastinate takes jobs by priority, then by id, and
# a chain defers its next poll long before the tick's jobs exist): a backlog of due polls must
# not hold back alerts, the takeover of a dead worker's jobs, or a sweep, whose next tick would
# otherwise find it still queued and be dropped on its queueing lock.
TICK_PRIORITY = 10
LATE_MARGIN = 1.0  # seconds a queued poll may be later than its feed is due before it moves
# the poll and re-check jobs waiting or running, by their queueing locks (one per feed), with
# what the planner needs to move a waiting poll (its id, when it is due, its feed)
QUEUED = (
    "SELECT id, task_name, queueing_lock, status::text AS status, scheduled_at,"
    " args->>'feed' AS feed FROM procrastinate_jobs"
    " WHERE status IN ('todo', 'doing')"
    " AND task_name IN ('monitor.poll', 'monitor.recheck', 'monitor.stream')"
)


def conninfo(url: str) -> str:
    """The libpq URL psycopg takes, from the store's SQLAlchemy URL."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def delivery_cron(seconds: float) -> str:
    """A cron for the delivery tick (retries and quiet-hours releases): every N seconds
    below a minute, else every minute (new alerts wake a delivery at once anyway)."""
    step = max(1, round(seconds))
    return f"* * * * * */{step}" if step < 60 else "* * * * *"


def _runtime(context: JobContext) -> Runtime:
    runtime: Runtime = context.additional_context["runtime"]
    return runtime


Job = Callable[..., Awaitable[str]]
T = TypeVar("T")


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    """`asyncio.to_thread`, but a cancelled job (a stop past `stop_timeout`) still waits for
    its thread: procrastinate deletes the job, and so frees its lock, once this returns, and
    a thread cannot be cancelled. A delivery still posting, or a poll still storing, must
    keep the `slack` lock or its feed's lock until it is really over."""
    work = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


def _counted(body: Job) -> Job:
    """Count the job, or its failure, in the worker's row (`monitor status` shows them)."""
    return _counting(body, housekeeping=False)


def _housekeeping(body: Job) -> Job:
    """The periodic jobs (plan, reap, sweep, delivery ticks) count only when they fail: a
    count of them would grow by thousands a day and say nothing."""
    return _counting(body, housekeeping=True)


def _counting(body: Job, *, housekeeping: bool) -> Job:
    @functools.wraps(body)
    async def counted(context: JobContext, **kwargs: Any) -> str:
        presence = _runtime(context).presence
        try:
            did = await body(context, **kwargs)
        except NotPresent as exc:
            # not a failure of the job: another worker does it (the planner defers it again,
            # or the next tick does), and a traceback would only alarm
            log.warning("%s left to another worker: %s", context.job.call_string, exc)
            return "left"
        except Exception as exc:
            presence.job_done(failure=f"{context.job.task_name}: {exc.__class__.__name__}: {exc}")
            raise
        if not housekeeping:
            presence.job_done()
        return did

    return counted


def build_app(url: str, *, pool_size: int, dispatch_interval: float = 5.0) -> App:
    """The procrastinate app with our tasks; opened by the worker (or by a test)."""
    app = App(
        connector=PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=pool_size),
        # a worker that was down for a while defers one plan, sweep... not one per tick missed
        periodic_defaults={"max_delay": 30},
    )

    async def defer(task: str, *, at: datetime | None = None, **kwargs: Any) -> None:
        """Defer one job; one already waiting with the same queueing lock is enough."""
        deferrer = app.tasks[task].configure(schedule_at=at, **_locks(task, kwargs))
        with contextlib.suppress(AlreadyEnqueued):
            await deferrer.defer_async(**kwargs)

    async def follow(task: str, feed: str, after: Next) -> None:
        if after.at is not None:
            await defer(task, at=after.at, feed=feed)
        if after.alerts:
            await defer(DELIVER)

    @app.task(name=POLL, pass_context=True)
    @_counted
    async def poll(context: JobContext, feed: str) -> str:
        after = await _in_thread(_runtime(context).poll, feed)
        await follow(POLL, feed, after)
        return after.did

    @app.task(name=RECHECK, pass_context=True)
    @_counted
    async def recheck(context: JobContext, feed: str) -> str:
        after = await _in_thread(_runtime(context).recheck, feed)
        await follow(RECHECK, feed, after)
        return after.did

    @app.task(name=STREAM, pass_context=True)
    @_counted
    async def stream(context: JobContext, feed: str) -> str:
        # a long-running job: it holds one of the worker's `concurrency` slots while it reads
        loop = asyncio.get_running_loop()

        def alerted() -> None:  # from the reader's writer thread: a delivery now
            asyncio.run_coroutine_threadsafe(defer(DELIVER), loop)

        after = await _in_thread(_runtime(context).stream, feed, alerted)
        await follow(STREAM, feed, after)
        return after.did

    @app.periodic(cron=delivery_cron(dispatch_interval))
    @app.task(
        name=DELIVER,
        pass_context=True,
        lock="slack",
        queueing_lock="slack",
        priority=TICK_PRIORITY,
    )
    @_housekeeping
    async def deliver(context: JobContext, timestamp: int | None = None) -> str:
        more = await _in_thread(_runtime(context).deliver)
        if more:
            await defer(DELIVER)
        return "more due" if more else "nothing more due"

    @app.periodic(cron=SWEEP_CRON)
    @app.task(
        name=SWEEP, pass_context=True, lock=SWEEP, queueing_lock=SWEEP, priority=TICK_PRIORITY
    )
    @_housekeeping
    async def sweep(context: JobContext, timestamp: int) -> str:
        tick = datetime.fromtimestamp(timestamp, UTC)
        if await _in_thread(_runtime(context).sweep, tick):
            await defer(DELIVER)
        return "swept"

    @app.periodic(cron=PLAN_CRON)
    @app.task(name=PLAN, pass_context=True, lock=PLAN, queueing_lock=PLAN, priority=TICK_PRIORITY)
    @_housekeeping
    async def plan(context: JobContext, timestamp: int) -> str:
        runtime = _runtime(context)
        # one narrow read of the queue's table (list_jobs would read every job's whole row:
        # 100,000 of them every 5 s at 50,000 feeds)
        rows = await app.connector.execute_query_all_async(QUEUED)
        queued = {(row["task_name"], row["queueing_lock"]) for row in rows}
        waiting = [row for row in rows if row["task_name"] == POLL and row["status"] == "todo"]
        late, missing = await asyncio.to_thread(_missing, runtime, queued, waiting)
        for job_id, feed, due in late:
            # queued for later than its feed is due now (the interval was shortened): the
            # poll moves to when it is due, unless it started meanwhile
            if await app.job_manager.cancel_job_by_id_async(job_id, delete_job=True):
                missing.append((POLL, feed, due))
        jobs = [
            app.tasks[task]
            .configure(schedule_at=at, **_locks(task, {"feed": feed}))
            .make_new_job(feed=feed)
            for task, feed, at in missing
        ]
        if jobs:
            try:
                await app.job_manager.batch_defer_jobs_async(jobs)
            except AlreadyEnqueued:
                # a poll job deferred meanwhile by its own chain: one at a time instead
                for task, feed, at in missing:
                    await defer(task, at=at, feed=feed)
            log.info("planned %d jobs (new feeds, or chains a stopped worker broke)", len(jobs))
        return f"{len(jobs)} planned"

    @app.periodic(cron=REAP_CRON)
    # not locked: a reap stalled on a dead worker would hold the lock, and only a reap can
    # take a stalled job over (no reap would ever run again); two at once are harmless
    @app.task(name=REAP, pass_context=True, queueing_lock=REAP, priority=TICK_PRIORITY)
    @_housekeeping
    async def reap(context: JobContext, timestamp: int) -> str:
        runtime = _runtime(context)
        silent_for = await asyncio.to_thread(
            cluster_stalled_after, runtime.engine, runtime.presence.stalled_after
        )
        stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=silent_for)
        taken = 0
        for job in stalled:
            # failed, not retried: the planner defers a fresh poll for when the feed is due
            # (a retried job would keep its old queueing lock beside the planner's)
            try:
                await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=True)
            except ConnectorException as exc:
                # finished meanwhile, by its worker or by another reaper (reaps are not
                # locked: a reap stalled on a dead worker would hold back every other)
                if "was not found" in str(exc.__cause__):
                    continue
                raise
            log.warning(
                "job %s of a silent worker (%s) is taken over", job.call_string, job.worker_id
            )
            taken += 1
            if job.task_name == DELIVER:
                await defer(DELIVER)
        for host, pid, sessions in await asyncio.to_thread(
            cut_off_silent, runtime.engine, silent_for
        ):
            log.warning(
                "worker %s pid %s is silent: its %d database sessions are closed",
                host,
                pid,
                sessions,
            )
        return f"{taken} taken over"

    _ = (
        poll,
        recheck,
        stream,
        deliver,
        sweep,
        plan,
        reap,
    )  # registered on the app by the decorators
    return app


def _locks(task: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """One waiting and one running job per feed and task.

    Not one lock for a feed's polls and re-checks: procrastinate runs the jobs of a lock in
    the order they were deferred, so a re-check deferred for in ten minutes would hold back
    every poll deferred after it. A poll and a re-check of one feed may run at once on two
    workers, as they may on two threads of one process."""
    feed = kwargs.get("feed")
    if feed is None:
        return {}
    return {"lock": f"{task}:{feed}", "queueing_lock": f"{task}:{feed}"}


def _missing(
    runtime: Runtime, queued: set[tuple[str, str | None]], waiting: list[dict[str, Any]]
) -> tuple[list[tuple[int, str, datetime]], list[tuple[str, str, Any]]]:
    """(task, feed, when) for every enabled feed with no poll job, or no re-check job where
    it needs one, waiting or running; and the poll jobs `waiting` for later than their feed
    is due (with the time it is due), whose feed is left out of the first list."""
    now = utcnow()
    feeds = enabled_feeds(runtime.config)
    seen = polled(runtime.engine)
    jitter = runtime.config.scheduler.jitter
    by_name = {feed.name: feed for feed in feeds}
    late: list[tuple[int, str, datetime]] = []
    for job in waiting:
        feed = by_name.get(str(job["feed"]))
        if feed is None or feed.streaming or job["scheduled_at"] is None:
            continue  # a feed gone from the config ends its chain itself
        due = next_poll(feed, seen.get(feed.name), now, 0)
        if job["scheduled_at"] > due + timedelta(seconds=jitter + LATE_MARGIN):
            late.append((job["id"], feed.name, next_poll(feed, seen.get(feed.name), now, jitter)))
    moving = {f"{POLL}:{feed}" for _, feed, _ in late}
    missing: list[tuple[str, str, Any]] = []
    for feed in feeds:
        if feed.streaming:  # read live by one long job, never polled
            if (STREAM, f"{STREAM}:{feed.name}") not in queued:
                missing.append((STREAM, feed.name, now))
            continue
        lock = f"{POLL}:{feed.name}"
        if (POLL, lock) not in queued and lock not in moving:
            missing.append((POLL, feed.name, next_poll(feed, seen.get(feed.name), now, jitter)))
        wants_recheck = runtime.pipeline.needs_recheck(feed)
        if wants_recheck and (RECHECK, f"{RECHECK}:{feed.name}") not in queued:
            missing.append((RECHECK, feed.name, runtime.first_recheck(spread=True)))
    return late, missing
