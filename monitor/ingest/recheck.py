"""`monitor recheck`: walk every unanswered mention of a feed in a range for the brand's replies."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from connectors import Connector
from connectors.errors import ConnectorError, RateLimited, TransientError
from connectors.http import parse_retry_after
from monitor.config import FeedConfig
from monitor.ingest.pipeline import Pipeline
from monitor.states import MentionStatus
from monitor.store.db import reader
from monitor.store.models import Mention, table_of, utcnow

# A platform that names no wait gets this long: a rate-limit window is usually a minute or more.
DEFAULT_WAIT = 60.0
# Rate-limit waits in a row before the walk gives up (a platform that keeps answering 429
# with short waits), and tries of a batch that fails otherwise (5xx, timeouts).
MAX_WAITS = 5
MAX_TRIES = 3


BOUND_OPTIONS = ("max_rechecks", "recheck_limit")  # the connectors' names for it


def bound_option(connector: Connector[Any]) -> str | None:
    """The option of the connector that bounds one `recheck` call, if it has one."""
    return next((n for n in BOUND_OPTIONS if hasattr(connector.options, n)), None)


def batch_size(connector: Connector[Any]) -> int:
    """Mentions one `recheck` call walks: the connector's own per-call bound.

    Connectors cut the list they are given to that bound and drop the rest unseen, so a
    batch must never be larger. A connector without a known bound gets batches of one: one
    walk per call, which is what every connector without such an option does anyway."""
    name = bound_option(connector)
    return int(getattr(connector.options, name)) if name else 1


@dataclass
class Progress:
    """What the walk has done so far; handed to the display after every step."""

    total: int  # unanswered mentions in the range when the walk started
    checked: int = 0
    answered: int = 0  # mentions a found reply answered (or answered earlier than known)
    waiting: float = 0.0  # seconds left of a rate-limit wait; 0 while walking
    reason: str = ""  # the platform's words for the wait


@dataclass
class Outcome:
    """How the walk ended. `stopped` is None when every mention in the range was walked."""

    progress: Progress
    stopped: str | None = None
    retry_at: datetime | None = None  # when the platform's long rate limit ends
    resume_until: datetime | None = None  # run again with --until this to continue
    rate_before: float | None = None
    rate_after: float | None = None
    answered_before: int = 0
    answered_after: int = 0
    alerts: int = 0


@dataclass
class HistoryRecheck:
    """Newest first, one connector call per batch, each batch's replies stored before the next.

    Newest first: recent weeks are what reports and managers look at, so if a daily quota stops
    the walk, what is done is what matters most; the rest continues with `--until`. A crash or
    Ctrl-C loses at most the batch in flight, and a re-run skips what was answered (it is no
    longer open); walked mentions that stayed unanswered are walked again unless `--until`
    says where the walk stopped."""

    pipeline: Pipeline
    feed: FeedConfig
    since: datetime
    until: datetime
    pace: float = 2.0  # seconds per mention walked, measured from the start of each call
    max_wait: float = 900.0  # longer rate limits stop the walk instead of waiting
    on_progress: Callable[[Progress], None] = lambda _progress: None
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    clock: Callable[[], datetime] = utcnow
    # the newest creation time not yet walked for sure (--until to continue after a Ctrl-C)
    place: datetime | None = field(default=None, init=False)
    _before: dict[str, int] | None = field(default=None, init=False)

    def unanswered(self) -> int:
        """Open and expired mentions in the range now, and answered ones whose TTFR is an
        upper bound (a walk may find an earlier reply): the length of the walk."""
        if self._before is None:
            self._before = status_counts(
                self.pipeline.engine, self.feed.name, self.since, self.until
            )
        counts = self._before
        return (
            counts.get(MentionStatus.OPEN, 0)
            + counts.get(MentionStatus.EXPIRED, 0)
            + counts.get(NOT_EXACT, 0)
        )

    def run(self) -> Outcome:
        pipeline, feed = self.pipeline, self.feed
        size = batch_size(pipeline.connector(feed))
        progress = Progress(total=self.unanswered())
        assert self._before is not None
        before_counts = self._before
        outcome = Outcome(progress)
        self.on_progress(progress)
        watch = AnswerWatch()
        hooks = pipeline.client.event_hooks
        pipeline.client.event_hooks = {**hooks, "response": [*hooks["response"], watch]}
        try:
            self._walk(size, progress, outcome, watch)
        finally:
            pipeline.client.event_hooks = hooks
        after_counts = status_counts(pipeline.engine, feed.name, self.since, self.until)
        outcome.rate_before = reply_rate(before_counts)
        outcome.rate_after = reply_rate(after_counts)
        outcome.answered_before = before_counts.get(MentionStatus.ANSWERED, 0)
        outcome.answered_after = after_counts.get(MentionStatus.ANSWERED, 0)
        if outcome.stopped is None:
            progress.checked = progress.total
            self.on_progress(progress)
        return outcome

    def _walk(self, size: int, progress: Progress, outcome: Outcome, watch: AnswerWatch) -> None:
        # The walk's place: strictly older than `after` (created_at, id). `redo` is where the
        # previous batch started: a connector may pause inside a walk without a sign on the
        # wire (Stack Exchange's `backoff` in a body) and raise RateLimited at the start of
        # the next call, so after that the previous batch's still-unanswered mentions are
        # walked again.
        after: tuple[datetime, int] | None = None
        redo: tuple[datetime, int] | None = None
        retries = _Retries(self.max_wait)
        redo_from: tuple[datetime, int] | None = None  # where a step back restarted the walk
        next_call = self.monotonic()
        while batch := self.pipeline.recheck_candidates(
            self.feed.name, since=self.since, until=self.until, limit=size, before=after
        ):
            # pace: the platform's quota is shared with `monitor run`, so no burst
            self.sleep(max(0.0, next_call - self.monotonic()))
            started, now = self.monotonic(), self.clock()
            try:
                failure = self._call(batch, now, progress, outcome, watch)
            except ConnectorError as exc:
                # a token, a permission, a body we cannot read: waiting does not fix these
                outcome.stopped, outcome.resume_until = str(exc), batch[0].created_at
                return
            if failure is not None:
                retry_from = (redo or after) if failure.step_back else after
                wait = retries.wait(failure)
                if wait is None:
                    outcome.stopped = failure.text + retries.told(failure)
                    if failure.rate_limited:
                        outcome.retry_at = now + timedelta(seconds=failure.wait or DEFAULT_WAIT)
                    outcome.resume_until = retry_from[0] if retry_from else batch[0].created_at
                    return
                self._wait(progress, wait, failure.text)
                after, redo, next_call = retry_from, None, self.monotonic()
                redo_from = after if failure.step_back else None
                continue
            if after is None or after != redo_from:
                # a batch walked again after a step back does not clear the count: a platform
                # that pauses inside every walk would otherwise send it back for ever
                retries.reset()
            first, last = batch[0], batch[-1]
            assert first.id is not None and last.id is not None
            redo = (first.created_at, first.id + 1)  # the batch again, its first included
            after = (last.created_at, last.id)
            self.place = last.created_at
            progress.checked = min(progress.checked + len(batch), progress.total)
            self.on_progress(progress)
            next_call = started + self.pace * len(batch)

    def _call(
        self,
        batch: list[Mention],
        now: datetime,
        progress: Progress,
        outcome: Outcome,
        watch: AnswerWatch,
    ) -> _Failure | None:
        """One connector call over the batch, its replies stored; None when it went through.

        Raises the connector's errors that waiting does not fix."""
        # a month of history must not flood Slack: only mentions young enough to have been
        # alerted get their message marked answered
        updates_since = now - timedelta(seconds=self.pipeline.config.alerts.max_age)
        watch.seen.clear()
        try:
            report = self.pipeline.recheck_mentions(
                self.feed, batch, now, updates_since=updates_since
            )
        except TransientError as exc:
            limited = isinstance(exc, RateLimited)
            return _Failure(limited, exc.retry_after, str(exc), step_back=limited)
        except IntegrityError:
            # `monitor run` stored the same reply between our read and our write
            # (PostgreSQL): the batch again, which then finds it stored
            return _Failure(False, 0.0, "the same reply was stored by another process")
        progress.answered += len(report.answered)
        outcome.alerts += len(report.alerts)
        # a connector that met a 429 or a 5xx after its first request returns what it found
        # so far (Mastodon, Bluesky): this batch again, after the wait
        return watch.cut_short()

    def _wait(self, progress: Progress, seconds: float, reason: str) -> None:
        """Wait out the platform's limit in one-second steps, so the display counts down."""
        end = self.monotonic() + seconds
        progress.reason = reason
        while (left := end - self.monotonic()) > 0:
            progress.waiting = left
            self.on_progress(progress)
            self.sleep(min(1.0, left))
        progress.waiting, progress.reason = 0.0, ""
        self.on_progress(progress)


@dataclass(frozen=True)
class _Failure:
    rate_limited: bool
    wait: float | None  # what the platform asked for, if it said
    text: str
    step_back: bool = False  # a rate limit raised by a call: walk the previous batch again


@dataclass
class _Retries:
    """How long to wait after a failed call, or None to give up: a rate limit longer than
    `max_wait`, too many rate limits in a row, or too many other failures in a row."""

    max_wait: float
    waits: int = 0
    tries: int = 0

    def wait(self, failure: _Failure) -> float | None:
        if failure.rate_limited:
            self.waits += 1
            wait = failure.wait if failure.wait is not None else DEFAULT_WAIT
            return None if wait > self.max_wait or self.waits > MAX_WAITS else wait
        self.tries += 1
        wait = failure.wait if failure.wait is not None else 10.0 * self.tries
        return None if self.tries >= MAX_TRIES else min(wait, self.max_wait)

    def told(self, failure: _Failure) -> str:
        return "" if failure.rate_limited else f" ({self.tries} tries)"

    def reset(self) -> None:
        self.waits = self.tries = 0


class AnswerWatch:
    """Sees every platform answer of the walk's HTTP client.

    A connector that meets a 429 or a 5xx after the first request of a call ends its walk
    and returns what it found (the scheduled re-check asks again later); the history walk
    would otherwise pass the rest of that batch by without knowing."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float | None]] = []

    def __call__(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            self.seen.append((status, parse_retry_after(response.headers.get("Retry-After"))))
        elif _nearly_used(response.headers.get("X-RateLimit-Remaining")):
            # Mastodon ends a walk here, with a 200, and says nothing; the next call's 429
            # names the wait
            self.seen.append((status, None))

    def cut_short(self) -> _Failure | None:
        if not self.seen:
            return None
        status, wait = self.seen[-1]
        if status < 400:
            return _Failure(True, None, "the platform's quota is nearly used up")
        limited = status == 429
        what = "rate limited (429)" if limited else f"the platform failed ({status})"
        return _Failure(limited, wait, f"{what} in the middle of a batch")


def _nearly_used(remaining: str | None) -> bool:
    try:
        return remaining is not None and float(remaining) <= 1
    except ValueError:
        return False


_MENTION = table_of(Mention)
NOT_EXACT = "answered, not exact"  # a count beside the statuses: answered from a partial read


def status_counts(engine: Engine, feed: str, since: datetime, until: datetime) -> dict[str, int]:
    """The feed's mentions in the range by status; survey answers expect no reply, left out."""
    table = _MENTION
    # answered from a partial read: counted in the same pass (only "answered" rows have it)
    partial = sa.func.count().filter(table.c.ttfr_exact.is_(False))
    query = (
        sa.select(table.c.status, sa.func.count(), partial)
        .where(
            table.c.feed == feed,
            table.c.created_at >= since,
            table.c.created_at <= until,
            table.c.score.is_(None),
        )
        .group_by(table.c.status)
    )
    counts = {NOT_EXACT: 0}
    with reader(engine).connect() as conn:  # SQLite: beside a running poll, no write lock
        for status, count, not_exact in conn.execute(query):
            counts[status] = count
            if status == MentionStatus.ANSWERED:
                counts[NOT_EXACT] = not_exact
    return counts


def reply_rate(counts: dict[str, int]) -> float | None:
    """answered / mentions that expect a reply, as the reports count it (monitor/reports)."""
    expecting = sum(
        counts.get(s, 0)
        for s in (MentionStatus.ANSWERED, MentionStatus.OPEN, MentionStatus.EXPIRED)
    )
    return counts.get(MentionStatus.ANSWERED, 0) / expecting if expecting else None


def summary(feed: str, outcome: Outcome) -> str:
    """The last line: what was checked, what it found, and what it did to the reply rate."""
    progress = outcome.progress
    found = outcome.answered_after - outcome.answered_before
    line = f"{feed}: checked {progress.checked:,} of {progress.total:,} unanswered mention(s), "
    line += f"{found:,} newly answered"
    if outcome.rate_before is not None and outcome.rate_after is not None:
        line += f"; reply rate {outcome.rate_before:.1%} -> {outcome.rate_after:.1%}"
    if outcome.alerts:
        line += f"; {outcome.alerts:,} Slack message(s) to mark answered"
    return line
