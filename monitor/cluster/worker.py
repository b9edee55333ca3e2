"""`monitor worker`: one process taking jobs from the queue until SIGTERM, or until it can no
longer prove it may act (then it exits 1 and its supervisor starts a fresh one)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from procrastinate import App
from procrastinate.worker import Worker
from sqlalchemy.engine import Engine

from alerts.base import Sink
from alerts.slack import call_deadline
from connectors.http import make_client
from monitor.alerting.outbox import Dispatcher
from monitor.alerting.routing import Router
from monitor.alerting.shared_pace import SharedPace
from monitor.alerting.sweeper import Sweeper
from monitor.cluster.jobs import build_app
from monitor.cluster.runtime import Runtime
from monitor.config import Config, ConfigError
from monitor.ingest.pipeline import Pipeline
from monitor.leadership.heartbeat import Heartbeat
from monitor.leadership.host_slots import ClusterHostSlots
from monitor.leadership.leader_sink import LeaderOnlySink
from monitor.leadership.presence import (
    HEARTBEAT_EVERY,
    WorkerPresence,
    cluster_stalled_after,
    shortest_stalled_after,
)
from monitor.leadership.session_names import process_tag
from monitor.leadership.shared_logins import SharedLogins
from monitor.replying.writers import reply_feeds
from monitor.reports.status import health_summary

log = logging.getLogger(__name__)

# Beside the jobs, a worker's pool serves procrastinate's own connections: the job fetcher,
# the LISTEN connection, the heartbeat and the periodic deferrer.
OWN_CONNECTIONS = 4
EXIT_MARGIN = 5.0  # after `stop_timeout`, the stop gets this long before a hard exit
BEAT_EVERY = 10.0  # the heartbeat file and /healthz (stale after 180 s)


async def _beat(heartbeat: Heartbeat, presence: WorkerPresence) -> None:
    """The heartbeat file and /healthz say alive while this worker holds its proof."""
    while True:
        if presence.holds():
            await asyncio.to_thread(heartbeat.beat)
        await asyncio.sleep(BEAT_EVERY)


def _health(runtime: Runtime) -> dict[str, object]:
    """What /healthz reports besides liveness: this worker, then what the single process
    reports (failing and quiet feeds, the outbox)."""
    presence = runtime.presence
    return {
        "worker": {"proved": presence.holds(), "polls": presence.counts.jobs_done},
        **health_summary(runtime.config, runtime.engine, runtime.clock()),
    }


def _exit_now() -> None:
    log.error("worker stop did not finish (database unreachable?): exiting now")
    logging.shutdown()
    os._exit(1)


def check_timing(config: Config) -> None:
    """`[workers] stalled_after` must leave a silent worker time to stop acting."""
    in_flight = call_deadline(config.slack.timeout)
    least = shortest_stalled_after(in_flight)
    if config.workers.stalled_after < least:
        raise ConfigError(
            [
                f"workers.stalled_after: {config.workers.stalled_after:g} s is too short: a "
                f"silent worker needs {least:g} s to stop acting before its jobs are taken "
                f"over (5 s proof window + {in_flight:g} s for a Slack call with "
                f"slack.timeout = {config.slack.timeout:g} s + margins)"
            ]
        )


def run_worker(config: Config, engine: Engine, sink: Sink, *, concurrency: int) -> int:
    """Take jobs until stopped; the exit status: 0 after SIGTERM or SIGINT, 1 when this
    worker lost its proof (its jobs may have been taken over) or its database."""
    check_timing(config)
    workers = config.workers
    in_flight = call_deadline(config.slack.timeout)
    presence = WorkerPresence(
        engine,
        stalled_after=workers.stalled_after,
        in_flight=in_flight,
        concurrency=concurrency,
    )
    stop = threading.Event()  # set on SIGTERM: platform requests in flight end at once
    with make_client(timeout=config.scheduler.http_timeout, cancel=stop) as client:
        # per_host and each account's login hold across all workers (monitor/leadership/)
        host_slots = ClusterHostSlots(engine, config.scheduler.per_host, connections=concurrency)
        logins = SharedLogins(engine)
        pipeline = Pipeline(
            config,
            engine,
            client,
            host_slots=host_slots,
            logins=logins,
            may_act=presence.holds,
        )
        pipeline.warm_up()
        dispatcher = Dispatcher(
            engine,
            LeaderOnlySink(sink, presence.holds),
            pace=1.0 if sink.name == "slack" else 0.0,
            router=Router(config),
            shared_pace=SharedPace(engine),
            replyable=reply_feeds(config),
        )
        rerouted = dispatcher.reroute_unsent()
        if rerouted:
            log.info("%d undelivered alerts follow the current routes", rerouted)
        runtime = Runtime(
            config=config,
            engine=engine,
            pipeline=pipeline,
            dispatcher=dispatcher,
            sweeper=Sweeper(config, engine),
            presence=presence,
        )
        app = build_app(
            engine.url.render_as_string(hide_password=False),
            pool_size=concurrency + OWN_CONNECTIONS,
            dispatch_interval=config.alerts.dispatch_interval,
        )
        try:
            return asyncio.run(_work(app, runtime, concurrency, stop))
        finally:
            host_slots.dispose()
            logins.dispose()


async def _work(app: App, runtime: Runtime, concurrency: int, stop: threading.Event) -> int:
    workers = runtime.config.workers
    presence = runtime.presence
    loop = asyncio.get_running_loop()
    # the jobs' blocking parts run on these threads (asyncio.to_thread): one per job at once,
    # and a few for the presence and procrastinate's own synchronous calls
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=concurrency + OWN_CONNECTIONS, thread_name_prefix="job")
    )
    lost: list[str] = []
    async with app.open_async():
        worker = Worker(
            app,
            name=process_tag(),
            concurrency=concurrency,
            listen_notify=workers.listen_notify,
            fetch_job_polling_interval=workers.fetch_every,
            update_heartbeat_interval=HEARTBEAT_EVERY,
            # procrastinate prunes workers silent this long when it starts: the cluster's
            # longest, as the reaper's (workers configured apart)
            stalled_worker_timeout=await asyncio.to_thread(
                cluster_stalled_after, runtime.engine, workers.stalled_after
            ),
            shutdown_graceful_timeout=workers.stop_timeout,
            delete_jobs="always",
            install_signal_handlers=False,
            additional_context={"runtime": runtime},
        )

        def _signal(signum: int) -> None:
            log.info("stopping (%s): jobs in flight end first", signal.Signals(signum).name)
            # As `monitor run` on SQLite: platform requests in flight end at once, and a
            # delivery after its alert in flight. procrastinate stops the heartbeats at the
            # start of a stop, so a long stop would lose the proof anyway; the jobs left
            # over are deferred again by whichever worker runs next.
            stop.set()
            presence.stopping.set()
            runtime.dispatcher.stopping.set()
            worker.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _signal, signum)

        def _lost(reason: str) -> None:
            lost.append(reason)
            runtime.dispatcher.stopping.set()  # the lanes end before their next send
            stop.set()  # platform requests in flight end
            loop.call_soon_threadsafe(worker.stop)
            # A cut network can hang the stop itself (jobs and procrastinate's own statements
            # wait on the database): exit anyway, so the supervisor starts a fresh worker.
            threading.Timer(workers.stop_timeout + EXIT_MARGIN, _exit_now).start()

        presence.on_lost(_lost)
        await asyncio.to_thread(presence.register)
        presence.start(lambda: worker.worker_id)
        heartbeat = Heartbeat(runtime.config.heartbeat, lambda: _health(runtime))
        heartbeat.start()
        beating = asyncio.create_task(_beat(heartbeat, presence))
        log.info(
            "worker %s taking jobs (concurrency %d, %d feeds configured)",
            worker.worker_name,
            concurrency,
            len([f for f in runtime.config.feeds if f.enabled]),
        )
        try:
            await worker.run()
        finally:
            beating.cancel()
            heartbeat.stop()
            await asyncio.to_thread(presence.stop)
    if lost:
        return 1
    if not stop.is_set():
        # procrastinate stopped on its own: a side task (heartbeat, listener) failed
        log.error("worker stopped: it lost its database connection (see above)")
        return 1
    return 0
