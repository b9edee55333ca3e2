"""What one worker process holds (pipeline, dispatcher, sweeper, presence) and the blocking
part of each job, run on the worker's threads."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from monitor.alerting.outbox import Dispatcher
from monitor.alerting.queue import is_queued
from monitor.alerting.sweeper import Sweeper
from monitor.cluster import planner
from monitor.config import Config
from monitor.ingest.pipeline import Pipeline
from monitor.ingest.stream import StreamRunner
from monitor.leadership.leader_sink import ProofLost
from monitor.leadership.presence import WorkerPresence
from monitor.leadership.session_names import process_tag
from monitor.reports.digest import digest_key, digest_trigger, queue_digest
from monitor.store.db import session as open_session
from monitor.store.models import utcnow

log = logging.getLogger(__name__)

DELIVERY_ROUNDS_FOR = 60.0  # a delivery job hands over after this long; the next one goes on
RECHECK_JITTER = 30.0
DIGEST_GRACE = timedelta(hours=1)  # as the single process's misfire grace for the digest


class NotPresent(Exception):
    """This worker cannot prove it may act (monitor/leadership/presence.py): the job is left
    to another worker."""


@dataclass
class Next:
    """What a job leaves for the next one: when to run it again (None: not again), and
    whether alerts were queued (a delivery job is wanted)."""

    at: datetime | None
    alerts: bool = False
    did: str = ""


@dataclass
class Runtime:
    """One worker process's objects, kept for its life; each job's blocking part is a
    method, run on a worker thread (monitor/cluster/jobs.py)."""

    config: Config
    engine: Engine
    pipeline: Pipeline
    dispatcher: Dispatcher
    sweeper: Sweeper
    presence: WorkerPresence
    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic

    def await_presence(self) -> None:
        """Wait (up to a proof window) for a proof; a worker just started has none yet."""
        deadline = self.monotonic() + self.presence.proof_window
        while not self.presence.holds():
            if self.presence.lost.is_set() or self.monotonic() > deadline:
                raise NotPresent("this worker cannot prove it may act: the job is left")
            time.sleep(0.1)

    # -- polls and re-checks ---------------------------------------------------------------

    def poll(self, name: str) -> Next:
        """One feed's poll, unless a poll ran less than half an interval ago; the next."""
        feed = self.config.find_feed(name)
        if feed is None or not feed.enabled:
            return Next(None, did="feed no longer configured: not polled, not planned")
        self.await_presence()
        now = self.clock()
        seen = planner.polled(self.engine, [name]).get(name)
        jitter = self.config.scheduler.jitter
        if planner.polled_recently(feed, seen, now):
            return Next(planner.next_poll(feed, seen, now, jitter), did="polled recently: skipped")
        report = self.pipeline.poll_due(name, now=now)
        after = planner.polled(self.engine, [name]).get(name)
        if report is None:
            did = "backing off"
        elif not report.ok:
            did = f"failed: {report.error}"
        else:
            did = f"{len(report.new_mentions)} new, {len(report.answered)} answered"
        return Next(
            planner.next_poll(feed, after, self.clock(), jitter),
            alerts=bool(report and report.alerts),
            did=did,
        )

    def recheck(self, name: str) -> Next:
        """One feed's re-check of its open mentions' threads; the next."""
        feed = self.config.find_feed(name)
        if feed is None or not feed.enabled or not self.pipeline.needs_recheck(feed):
            return Next(None, did="no re-check for this feed")
        self.await_presence()
        report = self.pipeline.recheck(name, now=self.clock())
        return Next(
            self.first_recheck(),
            alerts=bool(report and report.alerts),
            did="re-checked" if report is None or report.ok else f"failed: {report.error}",
        )

    def first_recheck(self, spread: bool = False) -> datetime:
        """The next re-check: an interval on (with a little jitter), or for a feed never
        re-checked anywhere in the first interval, so that they do not all start at once."""
        interval = self.config.sla.recheck_interval
        delay = random.uniform(0, interval) if spread else interval
        return self.clock() + timedelta(seconds=delay + random.uniform(0, RECHECK_JITTER))

    # -- streams ---------------------------------------------------------------------------

    def stream(self, name: str, on_alerts: Callable[[], None] | None = None) -> Next:
        """Read one stream feed until this worker stops or loses its proof (the job holds the
        feed's lock meanwhile; the planner defers a new one when it is gone, on any worker)."""
        feed = self.config.find_feed(name)
        if feed is None or not feed.enabled or not feed.streaming:
            return Next(None, did="not a configured stream feed: not read")
        self.await_presence()
        stop = threading.Event()
        presence = self.presence

        def watch() -> None:
            # the reader stops when the worker does, or when its jobs may have been taken
            # over (no proof: another worker may read this stream already)
            while not stop.wait(0.2):
                if presence.stopping.is_set() or presence.lost.is_set():
                    stop.set()

        watcher = threading.Thread(target=watch, name=f"stream-watch:{name}", daemon=True)
        watcher.start()
        runner = StreamRunner(
            self.pipeline,
            feed,
            stop=stop,
            owner=process_tag(),
            clock=self.clock,
            may_act=presence.holds,
            on_alerts=on_alerts,
        )
        try:
            runner.run()
        finally:
            stop.set()
            watcher.join()
        if presence.stopping.is_set() or presence.lost.is_set():
            return Next(None, did="stopped with the worker: another one takes it")
        # the reader gave up without a stop (no proof at a reconnect): read again, here or
        # on another worker, once a proof is back
        return Next(self.clock() + timedelta(seconds=1), did="reader ended; deferred again")

    # -- deliveries, sweeps ----------------------------------------------------------------

    def deliver(self) -> bool:
        """Delivery rounds until one sends nothing or `DELIVERY_ROUNDS_FOR` passed; True when
        alerts may still be due (another delivery job should follow at once)."""
        started = self.monotonic()
        while True:
            self.await_presence()
            try:
                report = self.dispatcher.run_once()
            except ProofLost:
                raise NotPresent("lost the proof mid-delivery: the rest is left") from None
            if report.sent + report.failed + report.reconciled == 0:
                return False
            if self.monotonic() - started > DELIVERY_ROUNDS_FOR:
                return True

    def sweep(self, tick: datetime) -> bool:
        """The minute's SLA sweep and, when its minute came, the weekly digest; True when
        alerts were queued."""
        self.await_presence()
        now = self.clock()
        report = self.sweeper.run_once(now)
        queued = bool(report.at_risk or report.breached or report.feed_alerts)
        if (
            self.config.reports.digest.enabled
            and digest_due(self.config, tick)
            and not self._digest_queued(now)
        ):
            queued = queue_digest(self.config, self.engine, now) is not None or queued
        return queued

    def _digest_queued(self, now: datetime) -> bool:
        with open_session(self.engine) as session:
            return is_queued(session, digest_key(self.config, now))


def digest_due(config: Config, tick: datetime, late: timedelta = DIGEST_GRACE) -> bool:
    """Whether the digest's cron fired within `late` before `tick` (a sweep tick): a cluster
    down at 9:00 sends Monday's digest when it is back, within the hour, as one process
    does; the digest's outbox key keeps it to once a week."""
    start = tick - late
    fire = digest_trigger(config).get_next_fire_time(None, start.astimezone(UTC))
    return fire is not None and start < fire <= tick
