"""The contract of a live stream feed: events as they arrive, and a cursor to resume from.

A stream connector (`StreamConnector`) is a Connector whose feed is read live instead of on
an interval. `stream(cursor, stop)` connects, resumes after `cursor`, and yields one
`StreamEvent` per event read, matched or not (so the cursor and the counts move), until
`stop` is set or the connection ends; first, once connected, one with `alive` set (a quiet
stream is connected too). The runner in monitor/ingest/stream.py batches the
events into small transactions, reconnects with backoff, and shows the stream's state.

- A lost connection, a server that hangs up mid-message or stops sending (past
  `idle_timeout`): raise TransientError; the runner reconnects from the last cursor it stored.
- A cursor the server can no longer resume from (older than it keeps), or a server that
  cannot resume at all: raise StreamGap (before yielding anything); the runner fills the gap
  once with `poll` (the platform's search over the same match) and streams from now.
- Garbage (a line that is not JSON, an event of an unknown shape): skipped and counted in the
  event's `skipped`, never a failure of the stream.
- The gap is filled by the polled feed the stream feed names in its `fill_feed` option (a
  `bluesky` or `mastodon` search over the same words), polled once by the runner.
- `poll` reads the stream for `sample_seconds` and returns what matched: `monitor poll FEED
  --dry-run` on a stream feed shows a few seconds of it.

Connectors never touch the database or Slack, here as everywhere.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, TypeVar

import httpx

from connectors.base import (
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.errors import ConnectorError

OptionsT = TypeVar("OptionsT", bound=ConnectorOptions)


@dataclass
class StreamEvent:
    """One event read from a stream.

    `found`: the mention or the brand's reply it made, None for an event that does not match
    (a like, a post about something else, a heartbeat). `deleted`: the external id of a post
    its author deleted (the runner closes a stored open mention of that id). `cursor`: where
    to resume after this event (None: the stream has no resume point). `at`: the platform's
    time of the event, for the cursor's lag. `skipped`: undecodable messages read before it.
    `alive`: not an event but a sign the connection is up (yielded once it is opened): the
    runner shows the stream connected even when no event comes for hours, and counts it as
    nothing. Its `cursor`, if any, is where to resume as for an event.
    """

    cursor: str | None
    at: datetime | None
    found: MentionRecord | BrandReply | None = None
    deleted: str | None = None
    skipped: int = 0
    alive: bool = False


class StreamGap(ConnectorError):
    """The stream cannot resume from the saved cursor: what happened between is not in it."""


class StreamConnector(Connector[OptionsT]):
    """A feed read live. Subclasses implement `stream`, and `poll` as the gap filler."""

    streaming: ClassVar[bool] = True
    # no event (a heartbeat counts) for this long: the connection is taken as dead
    idle_timeout: ClassVar[float] = 60.0

    # how long `poll` (a dry run, a test) reads the stream
    sample_seconds: ClassVar[float] = 5.0

    @abstractmethod
    def stream(self, cursor: str | None, stop: threading.Event) -> Iterator[StreamEvent]:
        """Events after `cursor` (None: from now) until `stop` is set or the connection ends.

        Returns within about a second of `stop` being set, even on a silent connection."""

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        """`sample_seconds` of the stream from `state`'s cursor: a look at what it matches."""
        stop = threading.Event()
        timer = threading.Timer(self.sample_seconds, stop.set)
        timer.daemon = True
        timer.start()
        result = PollResult(state=FeedCursor(cursor=state.cursor))
        try:
            for event in self.stream(state.cursor, stop):
                result.add(event.found)
                if event.cursor is not None:
                    result.state = FeedCursor(cursor=event.cursor)
                if stop.is_set():
                    break
        finally:
            timer.cancel()
            stop.set()
        return result
