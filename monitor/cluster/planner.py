"""When each feed's next poll and re-check are due, read from the feed rows all workers share."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from monitor.config import Config, FeedConfig
from monitor.ingest.feed_state import due_at
from monitor.store.db import reader
from monitor.store.models import FeedState, table_of

_F = table_of(FeedState).c


@dataclass(frozen=True)
class Polled:
    """What the feed row says of a feed's last poll and its backoff."""

    last_poll_at: datetime | None
    next_poll_after: datetime | None


def polled(engine: Engine, names: Iterable[str] | None = None) -> dict[str, Polled]:
    """Each feed's last poll and backoff (all feeds with a row, or those named)."""
    query = select(_F.feed, _F.last_poll_at, _F.next_poll_after)
    if names is not None:
        query = query.where(_F.feed.in_(list(names)))
    with reader(engine).connect() as conn:
        return {feed: Polled(last, after) for feed, last, after in conn.execute(query)}


def next_poll(feed: FeedConfig, seen: Polled | None, now: datetime, jitter: float) -> datetime:
    """When the feed is due: an interval after its last poll, not before its backoff ends;
    now for a feed never polled. `jitter` seconds at most are added at random, so feeds
    that started together drift apart."""
    row_due = (
        due_at(feed.effective_interval, seen.last_poll_at, seen.next_poll_after) if seen else None
    )
    due = now if row_due is None else row_due
    if seen is None or seen.last_poll_at is None:
        due = max(due, now)  # never polled: now, or when its wait ends
    if jitter > 0:
        due += timedelta(seconds=random.uniform(0, jitter))
    return due


def polled_recently(feed: FeedConfig, seen: Polled | None, now: datetime) -> bool:
    """The guard of a poll job: jobs are delivered at least once, so a job that finds its
    feed polled less than half an interval ago (by a job that ran before it) does nothing."""
    if seen is None or seen.last_poll_at is None:
        return False
    return now - seen.last_poll_at < timedelta(seconds=feed.effective_interval / 2)


def enabled_feeds(config: Config) -> list[FeedConfig]:
    return [f for f in config.feeds if f.enabled]
