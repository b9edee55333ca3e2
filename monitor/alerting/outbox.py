"""The outbox dispatcher: sends due alerts, records the ts, retries with backoff, paces channels."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from alerts.base import AlertMessage, LookupFailed, SendResult, Sink
from monitor.alerting.messages import THREAD_KINDS, mention_message, plain_message, thread_message
from monitor.alerting.roots import root_alert
from monitor.alerting.routing import Router, mention_subject, quiet_until
from monitor.alerting.shared_pace import SharedPace
from monitor.alerting.storms import fold_storms
from monitor.states import AlertKind, AlertState
from monitor.store.db import reader
from monitor.store.db import session as open_session
from monitor.store.models import Alert, Mention, UTCDateTime, table_of, utcnow

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 900.0  # the longest Retry-After honoured
PROBE_DELAY = 8.0  # a failing channel is tried again within this (with jitter)
LOOKUP_DELAY = 3.0  # an unanswered lookup is asked again after about this long
PERMANENT_RETRY_DELAY = 600.0
ROOT_WAIT = 5.0  # a thread reply waits this long for its first message to be posted
# Channels sent to at once. Each keeps Slack's pace of one message a second; four channels
# at once stay far below chat.postMessage's workspace-wide limit (several hundred a minute).
MAX_LANES = 4


_A = table_of(Alert).c
# One alert's outcome, and what it moves, each one statement built once (bench/dispatch_bench.py)
_SENT = (
    update(table_of(Alert))
    .where(_A.id == bindparam("alert_id"))
    .values(
        state=AlertState.SENT,
        slack_ts=bindparam("ts"),
        sent_at=bindparam("at", type_=UTCDateTime()),
        thread_ts=bindparam("thread"),
        last_error=None,
    )
)
_NOT_SENT = (
    update(table_of(Alert))
    .where(_A.id == bindparam("alert_id"))
    .values(
        state=bindparam("outcome"),
        last_error=bindparam("error"),
        next_attempt_at=bindparam("retry_at", type_=UTCDateTime()),
    )
)
_DRAIN = (
    update(table_of(Alert))
    .where(
        _A.channel == bindparam("lane"),
        _A.state == AlertState.PENDING,
        _A.next_attempt_at > bindparam("at", type_=UTCDateTime()),
        _A.attempts > 0,
        _A.id != bindparam("alert_id"),
    )
    .values(next_attempt_at=bindparam("at", type_=UTCDateTime()))
)
# the alert to claim and its mention (None for alerts about no mention), in one statement
_WITH_MENTION = (
    select(Alert, Mention)
    .outerjoin(Mention, col(Mention.id) == col(Alert.mention_id))
    .where(col(Alert.id) == bindparam("alert_id"))
)
# a digest's folded alerts become sent with it
_FOLDED_SENT = (
    update(table_of(Alert))
    .where(_A.digest_id == bindparam("digest"))
    .values(
        state=AlertState.SENT,
        slack_ts=bindparam("ts"),
        sent_at=bindparam("at", type_=UTCDateTime()),
    )
)


@dataclass(frozen=True, slots=True)
class _Claimed:
    """An alert whose attempt is counted: what to send, where, and what to record."""

    alert_id: int
    key: str
    kind: str
    channel: str
    attempts: int
    message: AlertMessage
    oldest: datetime  # a lookup of an earlier attempt reads from here
    look_up: bool  # an earlier attempt may have reached Slack: look before sending
    root_id: int | None  # the first message to redraw before the reply
    root_channel: str | None
    root_ts: str | None


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0
    reconciled: int = 0


class ChannelPacer:
    """At most one message per `interval` seconds per channel (Slack's documented pace).

    The interval runs from the end of the previous call, not its start: slack_sdk retries a
    429 inside one call, so a call's last request can leave a second after it began, and a
    next call timed from the start would follow it at once (seen in tests/test_crash_loop.py:
    two messages 7 ms apart)."""

    def __init__(
        self,
        interval: float,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        shared: SharedPace | None = None,
    ) -> None:
        self.interval = interval
        self.sleep = sleep
        self.monotonic = monotonic
        # workers: the last post to a channel may have been another worker's
        self.shared = shared
        self._last: dict[str, float] = {}
        self._busy: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            last = self._last.get(channel)
            now = self.monotonic()
            delay = 0.0 if last is None else last + self.interval - now
            self._last[channel] = max(now, now + delay)
        if delay > 0:
            self.sleep(delay)

    def done(self, channel: str) -> None:
        """The call to `channel` has returned: the next one waits a full interval from now."""
        if self.interval <= 0:
            return
        with self._lock:
            self._last[channel] = max(self._last.get(channel, 0.0), self.monotonic())

    @contextmanager
    def turn(self, channel: str) -> Iterator[None]:
        """Wait for the channel's turn, make the call, and start its interval when it ends.

        One call to a channel at a time, whichever lane makes it: a thread reply goes to its
        first message's channel and a quiet-hours fallback moves an alert to another channel,
        so two lanes can meet on one channel, and the second must wait for the first to end."""
        with self._lock:
            busy = self._busy.setdefault(channel, threading.Lock())
        with busy:
            if self.shared is not None and self.interval > 0:
                since = self.shared.seconds_since(channel)
                if since is not None and 0 <= since < self.interval:
                    self.sleep(self.interval - since)
            self.wait(channel)
            try:
                yield
            finally:
                self.done(channel)
                if self.shared is not None and self.interval > 0:
                    self.shared.record(channel)


def retry_delay(attempts: int, result: SendResult) -> float:
    """Retry-After when Slack gives one; otherwise a short backoff with jitter, capped at a
    few seconds: the retry is the probe that finds Slack back, and the channel waits on it."""
    if result.retry_after is not None:
        return min(result.retry_after, MAX_RETRY_DELAY)
    if result.permanent:
        return PERMANENT_RETRY_DELAY
    base = min(2.0 ** min(attempts, 10), PROBE_DELAY)
    return base * random.uniform(0.5, 1.0)


class Dispatcher:
    """Delivers pending outbox rows; each row's outcome is committed right after its send."""

    def __init__(
        self,
        engine: Engine,
        sink: Sink,
        *,
        pace: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        router: Router | None = None,
        replyable: frozenset[str] = frozenset(),
        lanes: int = MAX_LANES,
        shared_pace: SharedPace | None = None,
    ) -> None:
        self.engine = engine
        self._reader = reader(engine)
        self.lanes = lanes
        self.sink = sink
        self.clock = clock
        self.batch = batch
        self.pacer = ChannelPacer(pace, sleep, monotonic, shared_pace)
        self.router = router
        # feeds whose alerts carry a Reply button (monitor/replying/writers.reply_feeds)
        self.replyable = replyable
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self.stopping = threading.Event()  # set by the service on shutdown

    def run_once(self, now: datetime | None = None) -> DispatchReport:
        """Send every alert due now; safe to call from several threads (one runs at a time)."""
        report = DispatchReport()
        now = now or self.clock()
        with self._lock:
            with open_session(self.engine) as session:
                if self.router is not None:
                    fold_storms(session, self.router, now)
                    session.commit()
                due = session.exec(
                    select(Alert.id, Alert.channel)
                    .where(
                        col(Alert.state).in_((AlertState.PENDING, AlertState.FAILED)),
                        Alert.next_attempt_at <= now,
                        col(Alert.digest_id).is_(None),
                    )
                    .order_by(col(Alert.id))
                    .limit(self.batch)
                ).all()
                # Order per channel: an alert waiting out a retry holds back later ones to
                # the same channel, so people read them in the order they happened.
                waiting: dict[str, int] = dict(
                    session.exec(  # type: ignore[arg-type]
                        select(Alert.channel, func.min(Alert.id))
                        .where(
                            Alert.state == AlertState.PENDING,
                            Alert.next_attempt_at > now,
                            col(Alert.digest_id).is_(None),
                            col(Alert.attempts) > 0,
                        )
                        .group_by(col(Alert.channel))
                    ).all()
                )
            lanes: dict[str, list[int]] = {}
            for alert_id, channel in due:
                if alert_id is not None:
                    lanes.setdefault(channel, []).append(alert_id)
            for lane in self._send_lanes([(ids, waiting.get(c)) for c, ids in lanes.items()]):
                report.sent += lane.sent
                report.failed += lane.failed
                report.reconciled += lane.reconciled
        return report

    def _send_lanes(self, work: list[tuple[list[int], int | None]]) -> list[DispatchReport]:
        """One lane per channel, each in id order: a channel waits out its own pace and its own
        failures, never another's. (One thread sending everything in turn drained a backlog
        over three channels at one message a second in all: bench/crash_loop.py.)"""
        abort = threading.Event()
        if len(work) <= 1 or self.lanes <= 1:
            return [self._deliver_lane(ids, held, abort) for ids, held in work]
        with ThreadPoolExecutor(
            max_workers=min(self.lanes, len(work)), thread_name_prefix="outbox-lane"
        ) as pool:
            futures = [pool.submit(self._deliver_lane, ids, held, abort) for ids, held in work]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(future.exception() is not None for future in done):
                abort.set()  # ProofLost above all: the other lanes stop before their next send
            wait(futures)
        return [future.result() for future in futures]  # re-raises a lane's exception

    def _deliver_lane(
        self, ids: list[int], held_from: int | None, abort: threading.Event
    ) -> DispatchReport:
        """One channel's due alerts in order; an alert that must wait holds back the rest.

        Two transactions frame each send: the claim (the attempt counted, committed before
        anything goes to Slack, so a crash is looked up, never resent blindly) and the record
        of its outcome. The record of one alert and the claim of the next are one commit:
        the claim still precedes its send, and one transaction an alert is half the cost
        (bench/dispatch_bench.py)."""
        report = DispatchReport()
        waiting = deque(ids)
        with open_session(self.engine) as session:
            claimed = self._claim_next(session, waiting, held_from, abort)
            session.commit()
        while claimed is not None:
            result, reconciled = self._send(claimed)
            with open_session(self.engine) as session:
                self._record(session, claimed, result, report, reconciled)
                done, claimed = claimed, None
                if result.ok or result.permanent:  # otherwise it waits, and holds the rest
                    try:
                        claimed = self._claim_next(session, waiting, held_from, abort)
                    except Exception:
                        # the outcome stands without the claim: left pending, a posted alert
                        # would be looked up every round and its thread wait for it
                        session.rollback()
                        self._record_alone(done, result, reconciled)
                        raise
                session.commit()
        return report

    def _record_alone(self, claimed: _Claimed, result: SendResult, reconciled: bool) -> None:
        """Commit one alert's outcome in its own transaction (the next claim failed)."""
        with open_session(self.engine) as session:
            self._record(session, claimed, result, DispatchReport(), reconciled)
            session.commit()

    def _claim_next(
        self,
        session: Session,
        waiting: deque[int],
        held_from: int | None,
        abort: threading.Event,
    ) -> _Claimed | None:
        """The lane's next alert to send, its attempt counted (the caller commits); None when
        the lane ends here. Alerts with nothing to send (sent already, held for quiet hours,
        waiting for their first message) are dealt with on the way."""
        while waiting:
            if self.stopping.is_set() or abort.is_set():
                return None  # the rest stays pending for the next start
            if held_from is not None and held_from < waiting[0]:
                return None  # an earlier alert to this channel is waiting out a retry
            claimed = self._claim(session, waiting.popleft(), self.clock())
            if claimed is not None:
                return claimed
        return None

    def _claim(self, session: Session, alert_id: int, now: datetime) -> _Claimed | None:
        """Count an attempt at one alert and draw its message; None when there is nothing to
        send now. Writes go into `session`, which the caller commits before any send."""
        found = session.exec(_WITH_MENTION, params={"alert_id": alert_id}).first()
        if found is None:
            return None
        alert, mention = found
        if alert.state == AlertState.SENT or self._held_for_quiet_hours(alert, now):
            return None
        root = (
            root_alert(session, alert.mention_id, before=alert.id)
            if alert.kind in THREAD_KINDS
            else None
        )
        if root is not None and root.slack_ts is None:
            if alert.kind == AlertKind.ANSWERED_UPDATE:
                # the first message is not out yet; it will show the answer when it goes
                alert.state, alert.sent_at = AlertState.SENT, now
                alert.last_error = "first message not posted yet; it carries the answer"
            else:
                alert.next_attempt_at = now + timedelta(seconds=ROOT_WAIT)
            session.add(alert)
            return None
        # Any earlier attempt may have reached Slack (a crash, a reset after Slack took
        # it, a missed deadline): it is looked up before anything is sent again.
        look_up = alert.attempts > 0 and alert.slack_ts is None
        # Count the attempt before sending: after a crash we then know to reconcile.
        alert.attempts += 1
        session.add(alert)
        if mention is None:
            message = plain_message(alert)
        elif root is None:
            message = mention_message(alert, mention, now, can_reply=mention.feed in self.replyable)
        else:
            message = thread_message(alert, mention, now)
        # a root folded into a storm digest is the digest: reply under it, never rewrite it
        refresh = root is not None and mention is not None and root.digest_id is None
        if root is not None and root.digest_id is None and alert.kind == AlertKind.SLA_BREACHED:
            message.ping = self._group_for(root.route)
        return _Claimed(
            alert_id=alert_id,
            key=alert.key,
            kind=alert.kind,
            channel=alert.channel,
            attempts=alert.attempts,
            message=message,
            oldest=_aware(alert.created_at) - timedelta(minutes=5),
            look_up=look_up,
            root_id=root.id if refresh and root else None,
            root_channel=root.channel if root else None,
            root_ts=root.slack_ts if root else None,
        )

    def _send(self, claimed: _Claimed) -> tuple[SendResult, bool]:
        """Send one claimed alert (no transaction open): the result, and whether it was found
        in Slack rather than sent."""
        root_channel, root_ts = claimed.root_channel, claimed.root_ts
        if not (root_channel and root_ts):
            return self._send_once(
                claimed.channel, claimed.message, claimed.key, claimed.oldest, claimed.look_up, None
            )
        result = SendResult(ok=True)
        if claimed.root_id is not None:
            # refresh the first message in place first: it is idempotent, the reply is not
            with self.pacer.turn(root_channel):
                root_message = self._fresh_root_message(claimed.root_id)
                if root_message is not None:
                    result = self.sink.update(root_channel, root_ts, root_message)
        if not result.ok:
            return result, False
        return self._send_once(
            root_channel, claimed.message, claimed.key, claimed.oldest, claimed.look_up, root_ts
        )

    def _send_once(
        self,
        channel: str,
        message: AlertMessage,
        key: str,
        oldest: datetime,
        look_up: bool,
        thread_ts: str | None,
    ) -> tuple[SendResult, bool]:
        """Post, unless an earlier attempt must be looked up first and was found (or the
        lookup could not tell); the result, and whether it was found rather than sent."""
        found = self._look_up(channel, key, oldest, thread_ts) if look_up else None
        if found is not None:
            return found, found.ok
        with self.pacer.turn(channel):
            return self.sink.post(channel, message, thread_ts=thread_ts), False

    def _look_up(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None
    ) -> SendResult | None:
        """None when the alert is proven absent from Slack (send it); otherwise what to
        record: found (ok, its ts), or unknown (wait a few seconds and look again)."""
        try:
            ts = self.sink.find_posted(channel, key, oldest, thread_ts=thread_ts)
        except LookupFailed as exc:
            if exc.permanent:  # waits for the operator, as a permanent send error does
                return SendResult(ok=False, error=exc.error, permanent=True, unknown=True)
            return SendResult(
                ok=False,
                error=f"outcome unknown, lookup failed: {exc}"[:500],
                retry_after=LOOKUP_DELAY * random.uniform(0.7, 1.3),
                unknown=True,
            )
        return SendResult(ok=True, ts=ts, channel=channel) if ts else None

    def _fresh_root_message(self, root_id: int) -> AlertMessage | None:
        """Drawn right before chat.update, after the pacer's wait: a button clicked meanwhile
        (a claim, a snooze) must not be painted over by an older picture of the mention."""
        # a read-only transaction: on SQLite it takes no write lock from the pipeline
        with open_session(self._reader) as session:
            found = session.exec(_WITH_MENTION, params={"alert_id": root_id}).first()
        if found is None or found[1] is None:
            return None
        root, mention = found
        return mention_message(
            root, mention, self.clock(), can_reply=mention.feed in self.replyable
        )

    def _held_for_quiet_hours(self, alert: Alert, now: datetime) -> bool:
        """Inside a route's quiet hours: move to its fallback route, or hold until they end."""
        route = self.router.get(alert.route) if self.router else None
        if route is None or route.quiet_hours is None:
            return False
        until = quiet_until(route.quiet_hours, now)
        if until is None:
            return False
        fallback = self.router.get(route.quiet_hours.fallback) if self.router else None
        if fallback is not None and alert.kind not in THREAD_KINDS:
            alert.route, alert.channel = fallback.name, fallback.channel
            return False
        alert.next_attempt_at = until.astimezone(UTC)
        return True

    def _group_for(self, route_name: str | None) -> str | None:
        route = self.router.get(route_name) if self.router else None
        return route.mention_group if route else None

    def reroute_unsent(self) -> int:
        """After a restart with a fixed config: unsent first messages follow the new routes,
        and alerts that failed permanently are tried again at once."""
        if self.router is None:
            return 0
        now = self.clock()
        changed = 0
        with open_session(self.engine) as session:
            rows = session.exec(
                select(Alert).where(
                    col(Alert.state).in_((AlertState.PENDING, AlertState.FAILED)),
                    col(Alert.kind).not_in(THREAD_KINDS),
                    col(Alert.digest_id).is_(None),
                )
            ).all()
            for alert in rows:
                mention = session.get(Mention, alert.mention_id) if alert.mention_id else None
                destination = self.router.route(
                    kind=alert.kind,
                    feed=alert.feed,
                    platform=mention.platform if mention else None,
                    sentiment=mention.sentiment if mention else None,
                    rating=mention.rating if mention else None,
                    language=mention.language if mention else None,
                    subject=mention_subject(mention) if mention else None,
                )
                if alert.kind != AlertKind.DIGEST and destination.channel != alert.channel:
                    alert.channel, alert.route = destination.channel, destination.route
                    changed += 1
                if alert.state == AlertState.FAILED:
                    alert.state, alert.next_attempt_at = AlertState.PENDING, now
                session.add(alert)
            session.commit()
        return changed

    def _record(
        self,
        session: Session,
        claimed: _Claimed,
        result: SendResult,
        report: DispatchReport,
        reconciled: bool,
    ) -> None:
        """Write one alert's outcome into `session` (the caller commits), in Core: the claim
        drew the row already, nothing of it is read again."""
        now = self.clock()
        if result.ok:
            session.execute(
                _SENT,
                {
                    "alert_id": claimed.alert_id,
                    "ts": result.ts,
                    "at": now,
                    "thread": claimed.root_ts,
                },
            )
            if reconciled:
                report.reconciled += 1  # found in Slack, not sent again
            else:
                report.sent += 1
            # the call to the channel went through: its alerts waiting out a backoff go now,
            # in order and at the channel's pace, instead of each waiting out its own delay
            session.execute(
                _DRAIN, {"lane": claimed.channel, "alert_id": claimed.alert_id, "at": now}
            )
            if claimed.kind == AlertKind.DIGEST:
                session.execute(
                    _FOLDED_SENT, {"digest": claimed.alert_id, "ts": result.ts, "at": now}
                )
            return
        error = result.error or "unknown error"
        if result.unknown and not result.permanent and not error.startswith("outcome"):
            error = f"outcome unknown (looked up before any resend): {error}"
        session.execute(
            _NOT_SENT,
            {
                "alert_id": claimed.alert_id,
                "outcome": AlertState.FAILED if result.permanent else AlertState.PENDING,
                "error": error[:500],
                "retry_at": now + timedelta(seconds=retry_delay(claimed.attempts, result)),
            },
        )
        report.failed += 1
        self._log_failure(claimed.key, claimed.channel, result)

    def _log_failure(self, key: str, channel: str, result: SendResult) -> None:
        signature = f"{channel}:{result.error}"
        if result.permanent and signature not in self._warned:
            self._warned.add(signature)  # once per cause; `monitor status` keeps the detail
            log.error(
                "alerts to %s cannot be delivered: %s (kept, will retry)", channel, result.error
            )
        else:
            log.info("alert %s to %s not sent yet: %s", key, channel, result.error)


def _aware(moment: datetime) -> datetime:
    """Rows read back from SQLite are naive UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
