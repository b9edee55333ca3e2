"""The single process on SQLite: one APScheduler job per feed plus the dispatcher, stopped on a
signal. (On PostgreSQL the same work runs as jobs shared by workers: monitor/cluster/.)"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.alerting.outbox import Dispatcher
from monitor.alerting.sweeper import Sweeper
from monitor.config import Config, FeedConfig
from monitor.ingest.pipeline import Pipeline, PollReport
from monitor.ingest.stream import StreamRunner
from monitor.leadership.heartbeat import Heartbeat
from monitor.reports.digest import schedule_digest
from monitor.store.models import utcnow

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 60
POLLS = "polls"


class Service:
    """Schedules polls and deliveries; the jobs call `poll_feed(name, now)` so tests never sleep."""

    def __init__(
        self,
        config: Config,
        pipeline: Pipeline,
        dispatcher: Dispatcher,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self.clock = clock
        self.sweeper = Sweeper(config, pipeline.engine, clock=clock)
        self.heartbeat = Heartbeat(config.heartbeat, self.health)
        self.scheduler = BackgroundScheduler(
            # polls get their own pool (its size is the configured concurrency), so slow
            # platforms can never starve the sweep or the delivery of alerts
            executors={
                POLLS: ThreadPoolExecutor(max_workers=config.scheduler.concurrency),
                "default": ThreadPoolExecutor(max_workers=3),
            },
            timezone="UTC",
        )
        # A wake sets the event; the dispatcher loop runs again right after its current
        # round, so a wake during a delivery is never lost and never collides with a
        # running instance (moving an interval job's next run while it ran made APScheduler
        # skip it with "maximum number of running instances reached" under load).
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dispatch_thread: threading.Thread | None = None
        # live stream feeds: one reader thread each (monitor/ingest/stream.py), not polled
        self._streams_stop = threading.Event()
        self._streams: list[threading.Thread] = []

    def poll_feed(self, name: str, now: datetime | None = None) -> PollReport | None:
        """One scheduled poll; skipped while the feed is backing off after failures."""
        now = now or self.clock()
        try:
            report = self.pipeline.poll_due(name, now=now)
        except Exception:
            # a bug, not a platform failure: keep the other feeds running, log loudly
            log.exception("feed %s: internal error while polling", name)
            return None
        if report is None:
            return None  # backing off
        if report.ok and (report.new_mentions or report.answered):
            log.info(
                "feed %s: %d new, %d answered, %d alerts",
                name,
                len(report.new_mentions),
                len(report.answered),
                len(report.alerts),
            )
        if report.alerts:
            self.wake_dispatcher()
        return report

    def sweep(self, now: datetime | None = None) -> None:
        try:
            report = self.sweeper.run_once(now or self.clock())
        except Exception:
            log.exception("sweeper: internal error")
            return
        self.heartbeat.beat()
        if report.at_risk or report.breached or report.feed_alerts:
            self.wake_dispatcher()

    def recheck_feed(self, name: str, now: datetime | None = None) -> None:
        try:
            report = self.pipeline.recheck(name, now=now or self.clock())
        except Exception:
            log.exception("feed %s: internal error while re-checking", name)
            return
        if report and report.alerts:
            self.wake_dispatcher()

    def dispatch(self) -> None:
        try:
            self.dispatcher.run_once()
        except Exception:
            log.exception("dispatcher: internal error")

    def dispatch_loop(self) -> None:
        """Deliver on every wake, and every `dispatch_interval` for retries, until stopped."""
        interval = self.config.alerts.dispatch_interval
        while not self._stopping.is_set():
            # clear before the round: a wake that arrives while it runs triggers the next
            self._wake.clear()
            self.dispatch()
            self._wake.wait(interval)

    def wake_dispatcher(self) -> None:
        """Deliver new alerts now instead of at the next dispatcher tick."""
        self._wake.set()

    def health(self) -> dict[str, object]:
        """What /healthz reports besides liveness: failing feeds and undelivered alerts."""
        from monitor.reports.status import health_summary

        return health_summary(self.config, self.pipeline.engine, self.clock())

    def start(self) -> None:
        rerouted = self.dispatcher.reroute_unsent()
        if rerouted:
            log.info("%d undelivered alerts follow the current routes", rerouted)
        self.heartbeat.start()
        sched = self.config.scheduler
        first = datetime.now().astimezone()
        on_host: dict[str, int] = {}
        for feed in (f for f in self.config.feeds if f.enabled and f.streaming):
            self._start_stream(feed)
        for feed in (f for f in self.config.feeds if f.enabled and not f.streaming):
            # Stagger the first polls per host: `per_host` of a platform's feeds start
            # together, the next ones 0.2 s later, so a restart does not hit one platform
            # with all of its feeds at once; other hosts start at the same time. (One global
            # 0.2 s step made 1,000 feeds take 30 s to start: bench/poll_bench.py.)
            host = self.pipeline.connector(feed).host()
            index = on_host[host] = on_host.get(host, -1) + 1
            delay = min(index // sched.per_host * 0.2, 30)
            self.scheduler.add_job(
                self.poll_feed,
                IntervalTrigger(seconds=feed.effective_interval, jitter=sched.jitter or None),
                args=[feed.name],
                executor=POLLS,
                id=f"feed:{feed.name}",
                name=f"poll {feed.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(sched.misfire_grace),
                next_run_time=first + timedelta(seconds=delay),
            )
        for feed in self.config.feeds:
            if feed.enabled and self.pipeline.needs_recheck(feed):
                self.scheduler.add_job(
                    self.recheck_feed,
                    IntervalTrigger(seconds=self.config.sla.recheck_interval, jitter=30),
                    args=[feed.name],
                    executor=POLLS,
                    id=f"recheck:{feed.name}",
                    name=f"re-check {feed.name}",
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=int(sched.misfire_grace),
                )
        self.scheduler.add_job(
            self.sweep,
            IntervalTrigger(seconds=SWEEP_INTERVAL),
            id="sweep",
            name="SLA sweep",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
            next_run_time=first,  # its heartbeat row tells `monitor status` we run, at once
        )
        # the weekly manager digest (monitor/reports/digest.py), when enabled
        schedule_digest(
            self.scheduler, self.config, self.pipeline.engine, self.clock, self.wake_dispatcher
        )
        self.scheduler.start()
        if self.scheduler.running:
            # its own thread, not a scheduler job: it waits on the wake event between rounds
            self._stopping.clear()
            self.dispatcher.stopping.clear()
            self._dispatch_thread = threading.Thread(
                target=self.dispatch_loop, name="dispatcher", daemon=True
            )
            self._dispatch_thread.start()
        log.info("monitoring %d feeds", len([f for f in self.config.feeds if f.enabled]))

    def _start_stream(self, feed: FeedConfig) -> None:
        runner = StreamRunner(
            self.pipeline,
            feed,
            stop=self._streams_stop,
            clock=self.clock,
            on_alerts=self.wake_dispatcher,
        )
        thread = threading.Thread(target=runner.run, name=f"stream:{feed.name}", daemon=True)
        thread.start()
        self._streams.append(thread)

    def stop(self) -> None:
        self._streams_stop.set()
        for thread in self._streams:
            thread.join(timeout=10)  # a reader returns within a second of the stop
        self._streams.clear()
        self._stopping.set()
        self._wake.set()
        # the round ends after the alert in flight: 100 due alerts to one channel at 1/s
        # would otherwise hold a SIGTERM for 100 s (bench/alert_bench.py)
        self.dispatcher.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self._dispatch_thread is not None:
            self._dispatch_thread.join()
            self._dispatch_thread = None
        self.heartbeat.stop()
