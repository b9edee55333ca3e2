"""The feed-state row on the poll hot path: one read before a poll, one UPDATE after a 304."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from connectors import FeedCursor
from monitor.models import FeedState, UTCDateTime, table_of

_T = table_of(FeedState).c

# Built once: constructing a statement costs more CPU than running it on SQLite, and these
# run for every feed every cycle (bench/poll_bench.py: 1,000 feeds, mostly 304s).
_READ = select(_T.cursor, _T.etag, _T.last_modified, _T.next_poll_after).where(
    _T.feed == bindparam("feed_name")
)

# What Pipeline._save_state writes for a poll that stored nothing on a healthy feed
# (no failures to reset, so no health alert to check; `last_item_at` starts the silence
# clock at the first good poll). A failing feed matches no row and takes the full path.
_UNCHANGED = (
    update(FeedState)
    .where(_T.feed == bindparam("feed_name"), _T.consecutive_failures == 0)
    .values(
        cursor=bindparam("cursor"),
        etag=bindparam("etag"),
        last_modified=bindparam("last_modified"),
        last_poll_at=bindparam("now", type_=UTCDateTime()),
        last_success_at=bindparam("now", type_=UTCDateTime()),
        next_poll_after=None,
        last_item_at=func.coalesce(_T.last_item_at, bindparam("now", type_=UTCDateTime())),
    )
)


@dataclass(frozen=True)
class SavedState:
    """What a poll needs from the store: the connector's cursor and the backoff deadline."""

    cursor: FeedCursor
    next_poll_after: datetime | None = None


def read(conn: Connection, feed: str) -> SavedState:
    """The feed's saved cursor and backoff; empty for a feed never polled."""
    row = conn.execute(_READ, {"feed_name": feed}).first()
    if row is None:
        return SavedState(FeedCursor())
    cursor, etag, last_modified, next_poll_after = row
    return SavedState(FeedCursor(cursor, etag, last_modified), next_poll_after)


def record_unchanged(conn: Connection, feed: str, state: FeedCursor, now: datetime) -> bool:
    """Save a successful poll that brought nothing, in one UPDATE.

    False when the row is missing or the feed was failing: the caller then takes the full
    path (create the row, reset the failures, say "recovered")."""
    result = conn.execute(
        _UNCHANGED,
        {
            "feed_name": feed,
            "cursor": state.cursor,
            "etag": state.etag,
            "last_modified": state.last_modified,
            "now": now,
        },
    )
    return result.rowcount == 1
