"""A live stream feed read until stopped: events batched into small transactions, the
connection kept up, its state shown.

Two threads per stream. The reader takes events from the connector (connectors/streams.py)
and keeps the matched ones, the deletions and the newest cursor in memory; the writer stores
them every `FLUSH_SECONDS` (or at once past `FLUSH_EVENTS`) in one transaction, with the
cursor of the last event they follow, so a crash replays at most one batch and loses none.
The reader never waits on the database unless `MAX_BUFFERED` events are waiting to be stored.

- A lost connection: the reader reconnects from the last cursor stored, after 1, 2, 4 ... 60
  seconds (and a jitter); each failure is the feed's (its health, as a failing poll), each
  good batch its recovery.
- A cursor the server cannot resume from (StreamGap): the feed's `fill_feed` (a polled feed
  of the same network) is polled once, the gap is written on the stream's row, and the
  stream goes on from now.
- `stream_state` holds the state (connected / reconnecting / stopped, since when, attempts),
  events seen and matched per second, and the cursor's time: `monitor status` shows them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from connectors import BrandReply, ConnectorError, FeedCursor, MentionRecord, PollResult
from connectors.streams import StreamConnector, StreamEvent, StreamGap
from connectors.text import storable
from monitor.config import FeedConfig
from monitor.ingest.pipeline import Pipeline, PollFailed
from monitor.redaction import safe_error
from monitor.store.models import StreamState, utcnow

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
FLUSH_EVENTS = 100
MAX_BUFFERED = 10_000  # matched events waiting for the writer: the reader waits beyond this
CURSOR_EVERY = 1.0  # a cursor that moved with nothing matched is stored this often
STATE_EVERY = 2.0  # the stream_state row is refreshed this often (and on every change)
# a connection up this long without an event (a quiet stream) has proven itself: the backoff
# starts over and the feed has recovered. Not at once: one that a server or proxy accepts
# and closes again would reset the backoff and the feed's failures on every connect
PROVEN_AFTER = 30.0
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
STORE_RETRY_MAX = 10.0  # a failing store is tried again after 1, 2, 4 ... this many seconds
APART_PROBES = 3  # records tried alone, none stored: the database fails, not one record


class StreamStates:
    """The three states a stream is shown in."""

    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


@dataclass
class _Batch:
    """What the reader hands the writer: matched items, deletions, the newest cursor."""

    mentions: list[MentionRecord] = field(default_factory=list)
    replies: list[BrandReply] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    cursor: str | None = None
    cursor_at: datetime | None = None
    moved: bool = False  # the cursor moved since the last store

    def size(self) -> int:
        return len(self.mentions) + len(self.replies) + len(self.deleted)


class StreamRunner:
    """Reads `feed` until `stop` is set (`run` blocks; start it in a thread)."""

    def __init__(
        self,
        pipeline: Pipeline,
        feed: FeedConfig,
        *,
        stop: threading.Event,
        owner: str = "",
        clock: Callable[[], datetime] = utcnow,
        may_act: Callable[[], bool] | None = None,
        on_alerts: Callable[[], None] | None = None,
    ) -> None:
        connector = pipeline.connector(feed)
        if not isinstance(connector, StreamConnector):
            raise TypeError(f"feed {feed.name} ({feed.type}) is not a stream")
        self.pipeline = pipeline
        self.feed = feed
        self.connector: StreamConnector = connector  # type: ignore[type-arg]
        self.stop = stop
        self.owner = owner[:60]
        self.clock = clock
        self.may_act = may_act
        self.on_alerts = on_alerts
        self._lock = threading.Lock()
        self._batch = _Batch()
        self._room = threading.Condition(self._lock)  # the reader waits here when full
        self._full = threading.Event()  # wakes the writer early
        # matched items the writer is storing: they come back to the batch if the store
        # fails, so they count against MAX_BUFFERED until it succeeded
        self._in_flight = 0
        self._store_failures = 0  # failed stores in a row
        self._seen = 0
        self._matched = 0
        self._state = StreamStates.RECONNECTING
        self._since = clock()
        self._attempts = 0
        self._up_at: float | None = None  # when this connection said it was up (monotonic)
        self._error: str | None = None
        self._gap: str | None = None
        self._state_changed = True
        self._stored_cursor_at: datetime | None = None  # the time of the cursor stored last
        self._last_state_write = 0.0
        self._last_counts = (0, 0, 0.0)  # seen, matched, when: for the rates
        self._flushing = threading.Lock()  # one store at a time: cursors never go back

    # -- the reader ---------------------------------------------------------------------------

    def run(self) -> None:
        """Read, reconnect, fill gaps, until stopped; the writer runs beside it."""
        writer = threading.Thread(target=self._write_loop, name=f"stream-write:{self.feed.name}")
        writer.daemon = True
        writer.start()
        try:
            self._read_loop()
        finally:
            self.stop.set()
            writer.join()
            self._set_state(StreamStates.STOPPED, None)
            self._write_state(force=True)

    def _read_loop(self) -> None:
        cursor: str | None = None
        resumed = False  # the saved cursor was read
        # a gap filled, and no connection up since: while connecting from "now" fails, what
        # is posted meanwhile is a gap too, filled again before the next try (Mastodon fills
        # as every reconnect begins: a server down for minutes left those minutes unfilled)
        gap_open: StreamGap | None = None
        fill_again = False
        while not self.stop.is_set():
            if self.may_act is not None and not self.may_act():
                log.info("stream %s: this process may not act; stopping it", self.feed.name)
                return
            # everything in here is retried, database reads and the fill included: `monitor
            # run` starts a reader once, and one that ended on a blink of the database was
            # gone until a restart (its row said "stopped", not a problem)
            try:
                if not resumed:
                    cursor, resumed = self.pipeline.saved_cursor(self.feed.name), True
                if fill_again and gap_open is not None:
                    fill_again = False
                    self._fill(gap_open)
                try:
                    for event in self.connector.stream(cursor, self.stop):
                        gap_open = None  # connected: from here the stream has it all
                        self._take(event)
                        if event.cursor is not None:
                            cursor = event.cursor
                        if self.stop.is_set():
                            return
                    if self.stop.is_set():
                        return
                    raise _Closed("the server ended the stream")
                except StreamGap as gap:
                    self._fill(gap)
                    cursor = None  # the stream goes on from now; the fill covered the gap
                    gap_open = gap
            except Exception as exc:
                self._failed(exc)
                cursor = self._last_cursor(cursor)
                fill_again = gap_open is not None and cursor is None

    def _take(self, event: StreamEvent) -> None:
        with self._room:
            batch = self._batch
            if self._state != StreamStates.CONNECTED:
                self._set_state(StreamStates.CONNECTED, None)
                self._up_at = time.monotonic()
            if event.alive:  # the connection is up: no event, nothing counted
                if event.cursor is not None:
                    batch.cursor, batch.moved = event.cursor, True
                return
            self._attempts = 0  # an event came: the connection works
            self._seen += 1 + event.skipped
            if event.found is not None:
                self._matched += 1
                if isinstance(event.found, BrandReply):
                    batch.replies.append(event.found)
                else:
                    batch.mentions.append(event.found)
            if event.deleted is not None:
                # as records are: a NUL or a lone surrogate in an id built from what a stream
                # sent failed the close, and with it every store after it, for good
                batch.deleted.append(storable(event.deleted))
            if event.cursor is not None:
                batch.cursor, batch.moved = event.cursor, True
                batch.cursor_at = event.at or batch.cursor_at
            if batch.size() >= FLUSH_EVENTS:
                self._full.set()
            # the database is slower than the stream: wait for it. `self._batch`, not
            # `batch`: the writer swaps in a new one, and the one taken never shrinks
            while self._batch.size() + self._in_flight >= MAX_BUFFERED and not self.stop.is_set():
                self._room.wait(0.5)

    def _last_cursor(self, fallback: str | None) -> str | None:
        """Where to reconnect from: the newest cursor read (stored or about to be)."""
        with self._lock:
            return self._batch.cursor or fallback

    def _failed(self, exc: Exception) -> None:
        self._attempts += 1
        self._up_at = None
        error = safe_error(f"{type(exc).__name__}: {exc}", self.feed)
        if not isinstance(exc, ConnectorError | _Closed):
            log.exception("stream %s: internal error", self.feed.name)
        else:
            log.warning("stream %s: %s (attempt %d)", self.feed.name, error, self._attempts)
        with self._lock:
            self._set_state(StreamStates.RECONNECTING, error)
        self._flush()  # what was read before the failure is kept
        try:
            failure = exc if isinstance(exc, ConnectorError) else ConnectorError(str(exc))
            self.pipeline.record_failure(self.feed, failure, self.clock())
        except Exception:
            log.exception("stream %s: recording the failure failed", self.feed.name)
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self._attempts - 1))
        self.stop.wait(delay * random.uniform(0.8, 1.2))

    def _fill(self, gap: StreamGap) -> None:
        """Poll the feed's `fill_feed` once for what the stream can no longer give."""
        self._flush()
        fill = getattr(self.connector.options, "fill_feed", None)
        now = self.clock()
        if not fill:
            note = f"{now:%Y-%m-%d %H:%M} UTC: {gap}; no fill_feed set, the gap stays"
        else:
            report = self.pipeline.poll(fill, now=now)
            if report.ok:
                note = (
                    f"{now:%Y-%m-%d %H:%M} UTC: {gap}; filled by {fill} "
                    f"({len(report.new_mentions)} new)"
                )
                if report.alerts:
                    self._wake()
            else:
                note = f"{now:%Y-%m-%d %H:%M} UTC: {gap}; the fill by {fill} failed: {report.error}"
        log.warning("stream %s: %s", self.feed.name, note)
        with self._lock:
            self._gap = safe_error(note, self.feed)[:500]
            self._batch.cursor, self._batch.moved = None, False
            self._state_changed = True

    # -- the writer ---------------------------------------------------------------------------

    def _write_loop(self) -> None:
        last_cursor = time.monotonic()
        while True:
            stopping = self.stop.is_set()
            self._full.wait(FLUSH_SECONDS)
            self._full.clear()
            with self._lock:
                self._check_proven()
                has_items = self._batch.size() > 0
                moved = self._batch.moved
            if (
                has_items
                or (moved and time.monotonic() - last_cursor >= CURSOR_EVERY)
                or (moved and stopping)
            ):
                self._flush()
                last_cursor = time.monotonic()
            self._write_state()
            if stopping:
                return

    def _check_proven(self) -> None:
        """Called with the lock held: a quiet connection up PROVEN_AFTER after failures is
        a good one. The backoff starts over, and a store (of the cursor held, if nothing
        else) records the feed's recovery, which otherwise waited for an event."""
        if not self._attempts or self._up_at is None or self._state != StreamStates.CONNECTED:
            return
        if time.monotonic() - self._up_at < PROVEN_AFTER:
            return
        self._attempts = 0
        self._state_changed = True
        if self._batch.cursor is not None:
            self._batch.moved = True

    def _flush(self) -> None:
        """Store what the reader kept, with the newest cursor, in one transaction."""
        with self._flushing:
            self._store_batch()

    def _store_batch(self) -> None:
        with self._room:
            batch, self._batch = self._batch, _Batch(cursor=self._batch.cursor)
            self._batch.cursor_at = batch.cursor_at
            self._in_flight = batch.size()
        if not batch.size() and not batch.moved:
            return
        now = self.clock()
        # deletions first, in their own transaction: closed after the batch's cursor was
        # committed, a crash or a failed close between the two left the cursor past a delete
        # never applied (Mastodon cannot replay it). A post deleted in the batch that brought
        # it is not stored at all: nothing to answer, no alert for it
        gone = set(batch.deleted)
        result = PollResult(
            mentions=[m for m in batch.mentions if m.external_id not in gone],
            brand_replies=batch.replies,
            state=FeedCursor(cursor=batch.cursor),
        )
        try:
            self._close_deleted(batch, now)
            report = self.pipeline.store(self.feed, result, now=now)
            alerts = bool(report.alerts)
        except Exception as exc:
            if not (self._store_failures and (batch.mentions or batch.replies)):
                self._store_failed(batch, exc, now)
                return
            try:  # the second failure in a row: is it the data?
                alerts = self._store_apart(batch, now)
            except Exception:
                self._store_failed(batch, exc, now)
                return
        with self._room:
            self._stored_cursor_at = batch.cursor_at
            self._in_flight = 0
            self._room.notify_all()
            if self._store_failures:
                self._store_failures = 0
                if self._state == StreamStates.CONNECTED:
                    self._error = None  # the line no longer says the store fails
                self._state_changed = True
        if alerts:
            self._wake()

    def _store_apart(self, batch: _Batch, now: datetime) -> bool:
        """Each record of a batch that failed twice stored alone, then the cursor: one
        record the database refuses (a field of another type or length than it keeps, from
        a platform's odd answer) failed the batch on every try, and every later batch was
        added to it, so the stream stored nothing more. What the database refuses alone,
        while others are stored, is dropped (logged); when none is stored (the newest
        first, up to APART_PROBES) the database is the matter: this raises and all is kept.
        True when alerts were queued."""
        self._close_deleted(batch, now)
        gone = set(batch.deleted)
        mentions = [m for m in batch.mentions if m.external_id not in gone]
        records: list[MentionRecord | BrandReply] = [*mentions, *batch.replies]
        refused: list[tuple[str, Exception]] = []
        stored = alerts = 0
        for record in reversed(records):  # the newest first: a record just read is likely good
            try:
                if isinstance(record, BrandReply):
                    report = self.pipeline.store_replies(self.feed, [record], now)
                else:
                    report = self.pipeline.store_pushed(self.feed, [record], now)
            except Exception as exc:
                refused.append((record.external_id, exc))
                if not stored and len(refused) >= APART_PROBES:
                    raise
                continue
            stored += 1
            alerts += len(report.alerts)
        if not stored:
            raise RuntimeError("no record of the batch could be stored")
        # the cursor and the feed's health, as for a batch stored whole
        self.pipeline.store(self.feed, PollResult(state=FeedCursor(cursor=batch.cursor)), now=now)
        for external_id, why in refused:
            error = safe_error(str(PollFailed.of(self.feed, "store", why)), self.feed)
            log.error(
                "stream %s: dropped %s, which the database refuses: %s",
                self.feed.name,
                external_id,
                error,
            )
        return alerts > 0

    def _close_deleted(self, batch: _Batch, now: datetime) -> None:
        if batch.deleted:
            self.pipeline.close_deleted(self.feed, self.connector.platform, batch.deleted, now)

    def _store_failed(self, batch: _Batch, exc: Exception, now: datetime) -> None:
        """The batch is kept for the next flush: nothing read is dropped because the store
        failed. The failure is the feed's, as a poll's failed store is: a database that
        refuses for long marks it failing (and its alert), and the stream's line says so,
        where it said "connected" while its cursor fell behind."""
        # the driver's words without the statement and its parameters (mention texts)
        failure = PollFailed.of(self.feed, "store", exc)
        error = safe_error(str(failure), self.feed)
        with self._room:
            self._batch.mentions[:0] = batch.mentions
            self._batch.replies[:0] = batch.replies
            self._batch.deleted[:0] = batch.deleted
            self._batch.moved = True
            self._in_flight = 0
            self._store_failures += 1
            failures = self._store_failures
            self._error = error
            self._state_changed = True
        if failures == 1:
            log.exception("stream %s: storing a batch failed; trying again", self.feed.name)
        else:
            log.warning("stream %s: %s (%d in a row)", self.feed.name, error, failures)
        try:
            self.pipeline.record_failure(self.feed, failure, now)
        except Exception:
            log.warning("stream %s: recording the store's failure failed too", self.feed.name)
        self.stop.wait(min(STORE_RETRY_MAX, BACKOFF_FIRST * 2 ** (failures - 1)))

    def _wake(self) -> None:
        """A delivery now. It may fail (worker mode: the event loop is closing): the alerts
        are in the outbox for the next delivery, and the writer, which calls this, goes on;
        one that died here stored nothing more while its stream read on."""
        if self.on_alerts is None:
            return
        try:
            self.on_alerts()
        except Exception:
            log.exception("stream %s: waking a delivery failed", self.feed.name)

    # -- the state row ------------------------------------------------------------------------

    def _set_state(self, state: str, error: str | None) -> None:
        """Called with the lock held."""
        if state != self._state:
            self._state, self._since = state, self.clock()
        if error is not None or state == StreamStates.CONNECTED:
            self._error = error
        self._state_changed = True

    def _write_state(self, *, force: bool = False) -> None:
        now_mono = time.monotonic()
        with self._lock:
            if not (
                force or self._state_changed or now_mono - self._last_state_write >= STATE_EVERY
            ):
                return
            seen, matched = self._seen, self._matched
            before_seen, before_matched, before_at = self._last_counts
            elapsed = now_mono - before_at if before_at else 0.0
            row = StreamState(
                feed=self.feed.name,
                state=self._state,
                since=self._since,
                attempts=self._attempts,
                last_error=self._error[:500] if self._error else None,
                seen_per_second=(seen - before_seen) / elapsed if elapsed > 0 else 0.0,
                matched_per_second=(matched - before_matched) / elapsed if elapsed > 0 else 0.0,
                events_seen=seen,
                events_matched=matched,
                cursor_at=self._stored_cursor_at,
                gap=self._gap,
                owner=self.owner,
                updated_at=self.clock(),
            )
            self._state_changed = False
            self._last_state_write = now_mono
            self._last_counts = (seen, matched, now_mono)
        try:
            self.pipeline.save_stream_state(row)
        except Exception:
            log.exception("stream %s: writing its state failed", self.feed.name)


class _Closed(Exception):
    """The server ended the stream without an error: reconnect, as after a lost connection."""
