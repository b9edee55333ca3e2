"""The feed-state row on the poll hot path: one read before a poll, one write after it.

A feed recovering from failures is written through the ORM instead
(`Pipeline._save_state_through_orm`): it resets the streak and may say "recovered", once in
a long while."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from connectors import FeedCursor
from monitor.models import FeedState, UTCDateTime, table_of

_T = table_of(FeedState).c

# Built once: constructing a statement costs more CPU than running it on SQLite, and these
# run for every feed every cycle (bench/poll_bench.py: 1,000 feeds, mostly 304s).
_READ = select(_T.cursor, _T.etag, _T.last_modified, _T.next_poll_after).where(
    _T.feed == bindparam("feed_name")
)

_HEALTH = select(_T.consecutive_failures, _T.last_item_at).where(_T.feed == bindparam("feed_name"))

# A good poll on a healthy feed (no failures to reset, so no "recovered" to say); a failing
# feed matches no row and takes the ORM path. `last_item_at` is the silence clock: set by
# new items (:item_at), else started at the first good poll.
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

# The first good poll of a feed: the row the ORM would have made from the model's defaults.
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


class Health(NamedTuple):
    """What decides how a good poll is saved."""

    consecutive_failures: int
    last_item_at: datetime | None  # None: never polled well


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


def read_health(conn: Connection, feed: str) -> Health | None:
    """The feed's failure streak and silence clock; None for a feed with no row yet."""
    row = conn.execute(_HEALTH, {"feed_name": feed}).first()
    return None if row is None else Health(*row)


def record_success(
    conn: Connection, feed: str, state: FeedCursor, now: datetime, new: int = 0
) -> bool:
    """Save a good poll of a healthy feed that brought `new` items (a 304 brings 0), in one
    UPDATE.

    False when the row is missing or the feed was failing: the caller then takes the full
    path (create the row, reset the failures, say "recovered")."""
    result = conn.execute(
        _SUCCESS, {**_written(feed, state, now, new), "item_at": now if new else None}
    )
    return result.rowcount == 1


def record_first(conn: Connection, feed: str, state: FeedCursor, now: datetime, new: int) -> None:
    """Save the first good poll of a feed that has no row yet, in one INSERT."""
    conn.execute(_FIRST, _written(feed, state, now, new))


def _written(feed: str, state: FeedCursor, now: datetime, new: int) -> dict[str, object]:
    return {
        "feed_name": feed,
        "cursor": state.cursor,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "now": now,
        "new": new,
    }
