"""The health of every feed and of the outbox, for `monitor status` and the demo.

Read through `db.reader`: on SQLite a status read takes no write lock, so `monitor status`
(or `/monitor status` in Slack) during a backfill neither waits for a poll nor holds one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from connectors.durations import format_duration
from connectors.redact import redact_urls
from monitor.alerting.feed_health import human_error, quiet_deadline
from monitor.config import Config
from monitor.ingest.feed_state import due_at
from monitor.leadership.heartbeat import is_stale, last_beat
from monitor.states import AlertState, MentionStatus
from monitor.store.db import reader
from monitor.store.db import session as open_session
from monitor.store.models import (
    Alert,
    FeedState,
    Mention,
    SchedulerBeat,
    StreamState,
    WorkerRow,
    utcnow,
)


@dataclass
class FeedStatus:
    name: str
    type: str
    enabled: bool
    kind: str  # ok | failing | quiet | warning | never polled | disabled
    health: str  # the kind with its detail: "failing x3", "quiet 4d 2h"
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    items_seen: int
    next_poll_at: datetime | None
    items_checked: int = 0  # new mentions its filters judged
    items_filtered: int = 0  # of those, dropped

    @property
    def needs_attention(self) -> bool:
        """Failing, quiet past its `expect_activity_within`, its last good poll warned (a
        malformed document), or not polled yet."""
        return self.kind in _ATTENTION_ORDER


# a feed whose filters dropped every one of at least this many new mentions is shown as a
# warning: a filter that drops everything looks like a quiet feed otherwise
FILTER_WARN_AFTER = 20

# Listed first where there is no room for every feed: the worst first.
_ATTENTION_ORDER = {"failing": 0, "quiet": 1, "warning": 2, "never polled": 3}


@dataclass
class OutboxStatus:
    pending: int
    failed: int
    sent: int
    problems: list[tuple[str, str, int]]  # (channel, last error, count)


def feed_statuses(config: Config, engine: Engine, now: datetime | None = None) -> list[FeedStatus]:
    """Every configured feed, in config order; `now` decides which feeds are quiet."""
    now = now or utcnow()
    with open_session(reader(engine)) as session:
        states = {s.feed: s for s in session.exec(select(FeedState))}
    rows = []
    for feed in config.feeds:
        state = states.get(feed.name)
        quiet_since = quiet_deadline(state, feed) if state else None
        if not feed.enabled:
            kind = health = "disabled"
        elif state is None or state.last_poll_at is None:
            kind = health = "never polled"
        elif state.consecutive_failures:
            kind, health = "failing", f"failing x{state.consecutive_failures}"
        elif quiet_since and now > quiet_since and state.last_item_at:
            # it answers, but nothing new for longer than the operator expects
            silent = format_duration((now - state.last_item_at).total_seconds())
            kind, health = "quiet", f"quiet {silent}"
        elif _warned(state):
            kind = health = "warning"
        elif (
            state.items_checked >= FILTER_WARN_AFTER and state.items_filtered == state.items_checked
        ):
            kind, health = "warning", "filter drops all"
        else:
            kind = health = "ok"
        next_poll = (
            due_at(feed.effective_interval, state.last_poll_at, state.next_poll_after)
            if state and not feed.streaming  # a stream is read live, never polled
            else None
        )
        rows.append(
            FeedStatus(
                name=feed.name,
                type=feed.type,
                enabled=feed.enabled,
                kind=kind,
                health=health,
                last_success_at=state.last_success_at if state else None,
                last_error=human_error(state.last_error)
                if state and state.consecutive_failures
                else (state.last_warning if state and kind == "warning" else None),
                consecutive_failures=state.consecutive_failures if state else 0,
                items_seen=state.items_seen if state else 0,
                next_poll_at=next_poll,
                items_checked=state.items_checked if state else 0,
                items_filtered=state.items_filtered if state else 0,
            )
        )
    return rows


def _warned(state: FeedState) -> bool:
    """The last good poll warned (feed_state.py `record_warnings`); a later one clears it."""
    return (
        state.last_warning_at is not None
        and state.last_success_at is not None
        and state.last_warning_at >= state.last_success_at
    )


def summary_line(rows: list[FeedStatus]) -> str:
    """ "feeds: 1000 (994 ok, 3 failing, 2 quiet, 1 never polled)": the count of each health."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.kind] = counts.get(row.kind, 0) + 1
    order = ("ok", "failing", "quiet", "warning", "never polled", "disabled")
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    return f"feeds: {len(rows)} ({', '.join(parts)})" if parts else "feeds: none configured"


def attention_first(rows: list[FeedStatus]) -> list[FeedStatus]:
    """The feeds that need a look, failing first (most failures first), then quiet, then
    never polled; config order within each."""
    needy = [r for r in rows if r.needs_attention]
    return sorted(needy, key=lambda r: (_ATTENTION_ORDER[r.kind], -r.consecutive_failures))


def outbox_status(engine: Engine) -> OutboxStatus:
    with open_session(reader(engine)) as session:
        counts = dict(
            session.exec(select(Alert.state, func.count()).group_by(col(Alert.state))).all()
        )
        problems = session.exec(
            select(Alert.channel, Alert.last_error, func.count())
            .where(col(Alert.state) != AlertState.SENT, col(Alert.last_error).is_not(None))
            .group_by(col(Alert.channel), col(Alert.last_error))
        ).all()
    return OutboxStatus(
        pending=counts.get(AlertState.PENDING, 0),
        failed=counts.get(AlertState.FAILED, 0),
        sent=counts.get(AlertState.SENT, 0),
        problems=[(c, e or "", n) for c, e, n in problems],
    )


def health_summary(config: Config, engine: Engine, now: datetime) -> dict[str, object]:
    """What /healthz reports besides liveness (the single process and each worker): failing
    and quiet feeds, undelivered alerts."""
    feeds = feed_statuses(config, engine, now)
    outbox = outbox_status(engine)
    return {
        "feeds": len(feeds),
        "feeds_failing": [f.name for f in feeds if f.kind == "failing"],
        "feeds_quiet": [f.name for f in feeds if f.kind == "quiet"],
        "alerts_pending": outbox.pending,
        "alerts_failing": outbox.failed,
    }


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    delta = (now - when).total_seconds()
    return f"{format_duration(delta)} ago" if delta >= 0 else f"in {format_duration(-delta)}"


def scheduler_line(beat: SchedulerBeat | None, now: datetime) -> str:
    """Is `monitor run` alive? Its minute sweep writes a row (monitor/leadership/heartbeat.py)."""
    if beat is None:
        return "scheduler: not running (`monitor run` never ran against this database)"
    where = f"{beat.host} pid {beat.pid}" if beat.host else f"pid {beat.pid}"
    if is_stale(beat, now):
        return (
            f"scheduler: NOT RUNNING since {beat.beat_at:%Y-%m-%d %H:%M} UTC "
            f"(last heartbeat {_ago(beat.beat_at, now)}, {where})"
        )
    return f"scheduler: running, last heartbeat {_ago(beat.beat_at, now)} ({where})"


# a worker proves itself every second (monitor/leadership/presence.py): silent this long, it
# is shown as such (its jobs are taken over after `[workers] stalled_after`)
WORKER_SILENT_AFTER = 15.0
STOPPED_SHOWN_FOR = timedelta(hours=1)
# a poll runs within seconds of its time when workers keep up; a minute late, they do not
OVERDUE_AFTER = 60.0


def worker_rows(engine: Engine, now: datetime) -> list[WorkerRow]:
    """The workers running, silent, or stopped within the last hour (PostgreSQL only)."""
    with open_session(reader(engine)) as session:
        return list(
            session.exec(
                select(WorkerRow)
                .where(
                    or_(
                        col(WorkerRow.stopped_at).is_(None),
                        col(WorkerRow.stopped_at) > now - STOPPED_SHOWN_FOR,
                    ),
                    col(WorkerRow.beat_at) > now - timedelta(days=1),
                )
                .order_by(col(WorkerRow.host), col(WorkerRow.pid))
            ).all()
        )


def is_alive(worker: WorkerRow, now: datetime) -> bool:
    """Not stopped, and its last proof of presence within `WORKER_SILENT_AFTER`."""
    return (
        worker.stopped_at is None and (now - worker.beat_at).total_seconds() < WORKER_SILENT_AFTER
    )


def worker_lines(workers: list[WorkerRow], now: datetime) -> list[str]:
    """Each worker (host, pid, last heartbeat, polls and re-checks done, jobs failed), alive
    ones first."""
    alive = [w for w in workers if is_alive(w, now)]
    if not alive:
        head = "workers: NONE RUNNING (start `monitor worker` or `monitor run`)"
    else:
        head = f"workers: {len(alive)} running"
    lines = [head]
    for w in sorted(workers, key=lambda w: (not is_alive(w, now), w.host, w.pid)):
        if is_alive(w, now):
            state = f"heartbeat {_ago(w.beat_at, now)}"
        elif w.stopped_at is not None:
            state = f"stopped {_ago(w.stopped_at, now)}"
        else:
            state = f"SILENT since {_ago(w.beat_at, now)}"
        line = (
            f"  {w.host} pid {w.pid}: {state}, up since {_ago(w.started_at, now)}, "
            f"polls and re-checks done {w.jobs_done}, jobs failed {w.failures}"
        )
        if w.last_failure:
            line += f" (last: {redact_urls(w.last_failure)[:80]})"
        lines.append(line)
    return lines


def schedule_line(rows: list[FeedStatus], now: datetime) -> str:
    """How far behind schedule the polls are: the oldest overdue poll."""
    late = [
        ((now - row.next_poll_at).total_seconds(), row.name)
        for row in rows
        if row.enabled and row.next_poll_at is not None and row.next_poll_at < now
    ]
    behind = [(seconds, name) for seconds, name in late if seconds >= OVERDUE_AFTER]
    if not behind:
        return "schedule: polls on time"
    seconds, name = max(behind)
    return (
        f"schedule: BEHIND, the oldest overdue poll is {format_duration(seconds)} late "
        f"({name}); {len(behind)} feed(s) over {OVERDUE_AFTER:.0f} s late"
    )


# a stream whose row has not moved for this long has no reader (its process stopped or hung)
STREAM_SILENT_AFTER = 30.0
# reconnecting for longer than this is a problem for `--problems`
STREAM_DOWN_AFTER = 120.0


def stream_lines(config: Config, engine: Engine, now: datetime) -> tuple[list[str], bool]:
    """Each enabled stream feed's connection, pace and cursor lag; True when one needs a look
    (no reader, or reconnecting for more than STREAM_DOWN_AFTER)."""
    feeds = [f for f in config.feeds if f.enabled and f.streaming]
    if not feeds:
        return [], False
    with open_session(reader(engine)) as session:
        rows = {r.feed: r for r in session.exec(select(StreamState))}
    lines = [f"streams: {len(feeds)}"]
    trouble = False
    for feed in feeds:
        row = rows.get(feed.name)
        if row is None:
            lines.append(f"  {feed.name}: NOT STARTED (is `monitor run` or a worker running?)")
            trouble = True
            continue
        silent = (now - row.updated_at).total_seconds()
        if row.state != "stopped" and silent > STREAM_SILENT_AFTER:
            state = f"NO READER (its row stopped {_ago(row.updated_at, now)})"
            trouble = True
        else:
            since = format_duration(max(0.0, (now - row.since).total_seconds()))
            state = f"{row.state} for {since}"
        if row.state == "reconnecting":
            state += f", {row.attempts} attempt(s)"
            if row.last_error:
                state += f": {redact_urls(row.last_error)[:120]}"
            trouble = trouble or (now - row.since).total_seconds() > STREAM_DOWN_AFTER
        elif row.state == "connected" and row.last_error:
            # connected, but what it reads cannot be stored (monitor/ingest/stream.py)
            state += f", NOT STORING: {redact_urls(row.last_error)[:120]}"
            trouble = True
        pace = (
            f"{row.seen_per_second:.1f} events/s seen, {row.matched_per_second:.2f} matched"
            f" ({row.events_matched} of {row.events_seen} since start)"
        )
        lag = (
            f"cursor {format_duration(max(0.0, (now - row.cursor_at).total_seconds()))} behind"
            if row.cursor_at
            else "no cursor yet"
        )
        by = f" [{row.owner}]" if row.owner else ""
        lines.append(f"  {feed.name}: {state}; {pace}; {lag}{by}")
        if row.gap:
            lines.append(f"    last gap: {redact_urls(row.gap)[:200]}")
    return lines, trouble


# `monitor status --problems` exit codes, for cron and monitoring scripts (docs/operations.md)
EXIT_OK, EXIT_PROBLEMS = 0, 1


def render_status(
    config: Config, engine: Engine, now: datetime, *, problems_only: bool = False
) -> str:
    """`monitor status`: a table of the feeds (only those needing a look with
    `problems_only`, worst first), then the count of each health, the outbox and claims."""
    return status_report(config, engine, now, problems_only=problems_only)[0]


def status_report(
    config: Config, engine: Engine, now: datetime, *, problems_only: bool = False
) -> tuple[str, int]:
    """The text of `monitor status` and its exit code with `--problems`: EXIT_PROBLEMS when
    a feed needs a look, the scheduler is not running, or alerts cannot be delivered."""
    rows = feed_statuses(config, engine, now)
    listed = attention_first(rows) if problems_only else rows
    header = ("FEED", "TYPE", "HEALTH", "LAST SUCCESS", "ITEMS", "NEXT POLL", "LAST ERROR")
    table = [header]
    for row in listed:
        items = str(row.items_seen)
        if row.items_checked:  # "12 (130 filtered)": what its filters dropped besides
            items += f" ({row.items_filtered} filtered)"
        table.append(
            (
                row.name,
                row.type,
                row.health,
                _ago(row.last_success_at, now),
                items,
                _ago(row.next_poll_at, now) if row.enabled else "-",
                redact_urls(row.last_error or "")[:80],  # rows stored before redaction
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    ]
    if problems_only and not listed:
        lines = ["no feed needs attention"]
    outbox = outbox_status(engine)
    beat = last_beat(engine)
    lines.append("")
    # at the end, where a terminal leaves the eye after 1,000 rows
    workers = worker_rows(engine, now)
    if workers or engine.dialect.name == "postgresql":
        lines.extend(worker_lines(workers, now))
    else:
        lines.append(scheduler_line(beat, now))
    lines.append(schedule_line(rows, now))
    streams, streams_trouble = stream_lines(config, engine, now)
    lines.extend(streams)
    lines.append(summary_line(rows))
    lines.append(f"alerts: {outbox.sent} sent, {outbox.pending} pending, {outbox.failed} failing")
    for channel, error, count in outbox.problems:
        lines.append(f"  {count} alert(s) to {channel} not delivered: {redact_urls(error)}")
    lines.extend(claim_lines(engine, now))
    trouble = bool(listed if problems_only else attention_first(rows))
    if workers or engine.dialect.name == "postgresql":
        trouble = trouble or not any(is_alive(w, now) for w in workers)
    else:
        trouble = trouble or is_stale(beat, now)
    trouble = trouble or outbox.failed > 0 or streams_trouble
    return "\n".join(lines), EXIT_PROBLEMS if trouble else EXIT_OK


@dataclass
class Claim:
    mention_id: int
    platform: str
    feed: str
    claimed_by: str
    claimed_at: datetime | None
    snoozed_until: datetime | None


def open_claims(engine: Engine, limit: int = 20) -> tuple[int, list[Claim]]:
    """Open mentions someone claimed from Slack (monitor/slack/actions.py): total and the oldest."""
    claimed = (Mention.status == MentionStatus.OPEN, col(Mention.claimed_by).is_not(None))
    with open_session(reader(engine)) as session:
        total = session.exec(select(func.count()).select_from(Mention).where(*claimed)).one()
        rows = session.exec(
            select(Mention).where(*claimed).order_by(col(Mention.claimed_at)).limit(limit)
        ).all()
    claims = [
        Claim(m.id or 0, m.platform, m.feed, m.claimed_by or "", m.claimed_at, m.snoozed_until)
        for m in rows
    ]
    return total, claims


def claim_lines(engine: Engine, now: datetime) -> list[str]:
    total, claims = open_claims(engine)
    if not total:
        return []
    lines = ["", f"claimed, still open: {total}"]
    for claim in claims:
        line = (
            f"  #{claim.mention_id} {claim.platform} ({claim.feed}) claimed by @{claim.claimed_by}"
        )
        line += f" {_ago(claim.claimed_at, now)}"
        if claim.snoozed_until and claim.snoozed_until > now:
            line += f", snoozed until {claim.snoozed_until:%Y-%m-%d %H:%M} UTC"
        lines.append(line)
    if total > len(claims):
        lines.append(f"  ... and {total - len(claims)} more")
    return lines
