"""The feed-state row, its one writer: read before a poll, written after it (good or failed).

Every write is Core. The hot ones (a 304 or a page on a healthy feed, a feed's first poll) are
one statement each; a failure and a recovery read the whole row, let
`monitor/alerting/feed_health.py` decide its alerts on it as a plain `FeedState` value, and
write the row back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from connectors import FeedCursor
from connectors.errors import RateLimited, TransientError
from connectors.redact import redact_urls
from monitor.alerting import feed_health as health
from monitor.alerting.routing import Router
from monitor.config import Config, FeedConfig
from monitor.store.models import FeedState, UTCDateTime, table_of

log = logging.getLogger(__name__)

MAX_BACKOFF = 3600.0

_TABLE = table_of(FeedState)
_T = _TABLE.c

# Built once: constructing a statement costs more CPU than running it on SQLite, and these
# run for every feed every cycle (bench/poll_bench.py: 1,000 feeds, mostly 304s).
_READ = select(_T.cursor, _T.etag, _T.last_modified, _T.next_poll_after).where(
    _T.feed == bindparam("feed_name")
)

_HEALTH = select(_T.consecutive_failures, _T.last_item_at).where(_T.feed == bindparam("feed_name"))

# A good answer asked the connector to wait (connectors/base.py `not_before`): the next poll
# waits too, whichever process makes it. A later wait already stored is kept.
_HOLD = (
    update(FeedState)
    .where(
        _T.feed == bindparam("feed_name"),
        or_(_T.next_poll_after.is_(None), _T.next_poll_after < bindparam("until")),
    )
    .values(next_poll_after=bindparam("until", type_=UTCDateTime()))
)

# The whole row, for the rare writes that let health.py read and change it.
_ROW = select(_TABLE).where(_T.feed == bindparam("feed_name"))

# A good poll on a healthy feed (no failures to reset, so no "recovered" to say); a failing
# feed matches no row and takes `record_recovery`. `last_item_at` is the silence clock: set
# by new items (:item_at), else started at the first good poll.
_SUCCESS = (
    update(FeedState)
    .where(_T.feed == bindparam("feed_name"), _T.consecutive_failures == 0)
    .values(
        cursor=bindparam("cursor"),
        etag=bindparam("etag"),
        last_modified=bindparam("last_modified"),
        last_poll_at=bindparam("now", type_=UTCDateTime()),
        last_success_at=bindparam("now", type_=UTCDateTime()),
        next_poll_after=None,
        last_item_at=func.coalesce(
            bindparam("item_at", type_=UTCDateTime()),
            _T.last_item_at,
            bindparam("now", type_=UTCDateTime()),
        ),
        items_seen=_T.items_seen + bindparam("new", type_=Integer()),
    )
)

# The first good poll of a feed: the row the model's defaults make.
_FIRST = insert(FeedState).values(
    feed=bindparam("feed_name"),
    cursor=bindparam("cursor"),
    etag=bindparam("etag"),
    last_modified=bindparam("last_modified"),
    last_poll_at=bindparam("now", type_=UTCDateTime()),
    last_success_at=bindparam("now", type_=UTCDateTime()),
    last_item_at=bindparam("now", type_=UTCDateTime()),
    consecutive_failures=0,
    items_seen=bindparam("new", type_=Integer()),
)


# A good poll that warned: `monitor status` shows it while `last_warning_at` is the time of
# the last success (a later good poll without warnings leaves it behind).
_WARNED = (
    update(FeedState)
    .where(_T.feed == bindparam("feed_name"))
    .values(
        last_warning=bindparam("warning"),
        last_warning_at=bindparam("now", type_=UTCDateTime()),
    )
)


class Health(NamedTuple):
    """What decides how a good poll is saved."""

    consecutive_failures: int
    last_item_at: datetime | None  # None: never polled well


@dataclass(frozen=True)
class SavedState:
    """What a poll needs from the store: the connector's cursor and the backoff deadline."""

    cursor: FeedCursor
    next_poll_after: datetime | None = None


def due_at(
    interval: float, last_poll_at: datetime | None, next_poll_after: datetime | None
) -> datetime | None:
    """When a feed's next poll is due by its row: an interval after its last poll, not before
    a backoff or rate-limit wait ends; None for a feed never polled and not waiting."""
    dues = [next_poll_after] if next_poll_after is not None else []
    if last_poll_at is not None:
        dues.append(last_poll_at + timedelta(seconds=interval))
    return max(dues) if dues else None


def record_warnings(conn: Connection, feed: str, warnings: list[str], now: datetime) -> None:
    """A good poll that warned (a malformed document, skipped entries), its URLs redacted."""
    text = redact_urls("; ".join(warnings))[:2000]
    conn.execute(_WARNED, {"feed_name": feed, "warning": text, "now": now})


def record_hold(conn: Connection, feed: str, until: datetime) -> None:
    """No poll of the feed before `until` (a rate limit a good poll used up), without
    counting a failure: `Pipeline.poll_due` skips it meanwhile, in every process."""
    conn.execute(_HOLD, {"feed_name": feed, "until": until})


def read(conn: Connection, feed: str) -> SavedState:
    """The feed's saved cursor and backoff; empty for a feed never polled."""
    row = conn.execute(_READ, {"feed_name": feed}).first()
    if row is None:
        return SavedState(FeedCursor())
    cursor, etag, last_modified, next_poll_after = row
    return SavedState(FeedCursor(cursor, etag, last_modified), next_poll_after)


def read_health(conn: Connection, feed: str) -> Health | None:
    """The feed's failure streak and silence clock; None for a feed with no row yet."""
    row = conn.execute(_HEALTH, {"feed_name": feed}).first()
    return None if row is None else Health(*row)


def record_healthy(
    conn: Connection, feed: str, state: FeedCursor, now: datetime, new: int = 0
) -> bool:
    """Save a good poll of a healthy feed that brought `new` items (a 304 brings 0), in one
    UPDATE.

    False when the row is missing or the feed was failing: the caller then takes the full
    path (`record_success`: create the row, reset the failures, say "recovered")."""
    result = conn.execute(
        _SUCCESS, {**_written(feed, state, now, new), "item_at": now if new else None}
    )
    return result.rowcount == 1


def record_first(conn: Connection, feed: str, state: FeedCursor, now: datetime, new: int) -> None:
    """Save the first good poll of a feed that has no row yet, in one INSERT."""
    conn.execute(_FIRST, _written(feed, state, now, new))


def record_success(
    session: Session, router: Router, feed: str, state: FeedCursor, now: datetime, new: int
) -> None:
    """The feed's row after a good poll that brought `new` items: one UPDATE when nothing was
    new, else one SELECT and one UPDATE or INSERT; a failing feed goes to `record_recovery`.

    Through the ORM, this was 12 % of the CPU of a first poll cycle (py-spy on
    bench/poll_bench.py)."""
    conn = session.connection()
    if not new and record_healthy(conn, feed, state, now):
        # known items only (an API without ETags answers so every poll) on a healthy feed:
        # the 304's one UPDATE, which needs nothing read first
        return
    before = read_health(conn, feed)
    if before is None:
        record_first(conn, feed, state, now, new)
        return
    if not before.consecutive_failures:
        if new and before.last_item_at is not None:
            health.after_new_items(session, router, feed, before.last_item_at, now)
        if record_healthy(conn, feed, state, now, new):
            return
    record_recovery(session, router, feed, state, now, new)


def record_recovery(
    session: Session, router: Router, feed: str, state: FeedCursor, now: datetime, new: int
) -> None:
    """Every case of a good poll in one place, the row read whole: the path of a feed
    recovering from failures, and what the fast paths above match
    (tests/test_unchanged_poll.py)."""
    row, stored = _load(session, feed)
    if row.consecutive_failures:
        log.info("feed %s recovered after %d failures", feed, row.consecutive_failures)
    health.after_success(session, router, row, new, now)
    row.cursor = state.cursor
    row.etag = state.etag
    row.last_modified = state.last_modified
    row.last_poll_at = now
    row.last_success_at = now
    row.consecutive_failures = 0
    row.next_poll_after = None
    row.items_seen += new
    _store(session, row, stored)


def record_failure(
    session: Session,
    config: Config,
    router: Router,
    feed: FeedConfig,
    exc: Exception,
    error: str,
    now: datetime,
) -> FeedState:
    """Count a failed poll: its `error` (already cleaned of secrets) kept, the next poll
    backed off, the failing alert raised at the threshold. Returns the row as written."""
    row, stored = _load(session, feed.name)
    row.consecutive_failures += 1
    row.last_error = error[:2000]
    row.last_error_at = now
    row.last_poll_at = now
    wait = _backoff(feed, row.consecutive_failures)
    if isinstance(exc, TransientError) and exc.retry_after is not None:
        wait = max(min(exc.retry_after, MAX_BACKOFF), 0.0)
    elif not isinstance(exc, TransientError | RateLimited):
        wait = max(wait, feed.effective_interval)
    row.next_poll_after = now + timedelta(seconds=wait)
    health.after_failure(session, config, router, row, now)
    _store(session, row, stored)
    return row


def _load(session: Session, feed: str) -> tuple[FeedState, bool]:
    """The feed's row as a plain value (never added to the session), and whether it is
    stored; a new row with the model's defaults when it is not."""
    found = session.connection().execute(_ROW, {"feed_name": feed}).mappings().first()
    if found is None:
        return FeedState(feed=feed, consecutive_failures=0, items_seen=0), False
    return FeedState(**found), True


def _store(session: Session, row: FeedState, stored: bool) -> None:
    values: dict[str, Any] = {c.name: getattr(row, c.name) for c in _TABLE.columns}
    conn = session.connection()
    if stored:
        del values["feed"]
        conn.execute(update(_TABLE).where(_T.feed == row.feed).values(values))
    else:
        conn.execute(insert(_TABLE).values(values))


def _backoff(feed: FeedConfig, failures: int) -> float:
    """Exponential from the feed's interval, capped at an hour."""
    return float(min(feed.effective_interval * 2 ** (failures - 1), MAX_BACKOFF))


def _written(feed: str, state: FeedCursor, now: datetime, new: int) -> dict[str, object]:
    return {
        "feed_name": feed,
        "cursor": state.cursor,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "now": now,
        "new": new,
    }


def record_filtered(conn: Connection, feed: str, checked: int, filtered: int) -> None:
    """Count what the feed's filters judged and dropped (`monitor status` shows a filter
    that drops everything); no row yet, nothing counted: the poll's own write made it."""
    conn.execute(
        update(_TABLE)
        .where(_T.feed == feed)
        .values(
            items_checked=_T.items_checked + checked,
            items_filtered=_T.items_filtered + filtered,
        )
    )
